"""Reviews and the case library, pure (node/domain/cases.py): the published form names no
enterprise without its consent — not even where a leader typed its name into a text —,
keeps the name (never the phone) with consent; drafts are editable until published; a
case from another node is re-checked; a summary carries a bounded set of cases."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from node.domain.cases import (
    CASES_PER_ORIGIN,
    MAX_CASE_TEXT,
    MAX_CASE_TITLE,
    MAX_MEASURE_TEXT,
    MAX_MEASURES,
    MAX_REFERENCE,
    SUMMARY_MAX_BYTES,
    CaseKind,
    Consent,
    Draft,
    Measure,
    MeasureKind,
    Party,
    Review,
    ReviewState,
    Subject,
    SubjectKind,
    bounded,
    decode_case,
    edit,
    open_review,
    publish,
    published_form,
)
from node.domain.errors import Conflict, RuleViolation, ValidationError
from node.domain.summary import Summary, decode, encode
from node.domain.validation import make_credit_code

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
NAME = "长兴甲电子科技有限公司"
CODE = make_credit_code("91330522MA2AAAAA1")
PHONE = "13905720001"
CASE_ID = "330522-" + "a" * 32


def subject(*, closed: bool = True) -> Subject:
    return Subject(kind=SubjectKind.ISSUE, id="330522-x", number="330522-2026-000001",
                   title=f"{NAME} 用电增容审批慢", closed=closed,
                   state="closed" if closed else "in_progress", origin="330522",
                   unit="330522.jingxin", enterprise_name=NAME, credit_code=CODE,
                   contact_phone=PHONE)


def draft(**over: object) -> Draft:
    base = Draft(
        title=f"{NAME} 用电增容：并联审批",
        root_cause=f"{NAME}（{CODE}）的增容申请在供电公司与发改局之间串联审批，"
                   f"联系人电话 {PHONE} 多次催问",
        gap="增容审批无并联办理规定",
        measures=(Measure(kind=MeasureKind.PROCEDURE, text="增容审批改为并联办理",
                          reference="长政办发〔2026〕12号"),),
        outcome="办理时限由 30 个工作日压缩到 10 个", tags=("用电", "审批"))
    return replace(base, **over)  # type: ignore[arg-type]


def published(consent: Consent | None = None, kind: CaseKind = CaseKind.EXEMPLARY) -> Review:
    review = open_review(id=CASE_ID, node="330522", subject=subject(), draft=draft(),
                         actor="staff:leader", now=NOW)
    return publish(review, kind=kind, tags=None, consent=consent, expected_version=1,
                   actor="staff:leader", now=NOW + timedelta(hours=1))


def test_the_published_form_names_no_enterprise_without_consent() -> None:
    form = published_form(published())
    text = json.dumps(form, ensure_ascii=False)
    for personal in (NAME, CODE, PHONE):
        assert personal not in text
    assert "enterprise" not in form and form["consented"] is False
    assert "某企业" in form["title"] and "某企业" in form["root_cause"]
    assert "staff:leader" not in text  # nor its authors
    assert form["kind"] == "exemplary" and form["origin"] == "330522"
    assert form["measures"] == [{"kind": "procedure", "text": "增容审批改为并联办理",
                                 "reference": "长政办发〔2026〕12号"}]
    assert form["subject"] == {"kind": "issue", "number": "330522-2026-000001"}
    assert form["unit"] == "330522.jingxin"  # the subject's unit by default


def test_consent_keeps_the_name_and_code_but_never_the_phone() -> None:
    consent = Consent(recorded_by="staff:leader", at=NOW, note="企业书面同意公开")
    review = published(consent)
    assert review.consent is not None and review.consent.recorded_by == "staff:leader"
    form = published_form(review)
    assert form["enterprise"] == {"name": NAME, "credit_code": CODE}
    assert form["consented"] is True
    assert NAME in form["root_cause"]
    assert PHONE not in json.dumps(form, ensure_ascii=False)


def test_a_review_needs_a_closed_subject() -> None:
    with pytest.raises(RuleViolation) as refused:
        open_review(id=CASE_ID, node="330522", subject=subject(closed=False), draft=draft(),
                    actor="staff:leader", now=NOW)
    assert refused.value.code == "case_subject_not_closed"


def test_edit_until_published_then_never() -> None:
    review = open_review(id=CASE_ID, node="330522", subject=subject(), draft=draft(),
                         actor="staff:leader", now=NOW)
    edited = edit(review, draft(outcome="已办结"), expected_version=1, actor="staff:admin",
                  now=NOW)
    assert edited.version == 2 and edited.draft.outcome == "已办结"
    with pytest.raises(Conflict):
        edit(edited, draft(), expected_version=1, actor="staff:leader", now=NOW)
    done = publish(edited, kind=CaseKind.NEGATIVE, tags=["用电"], consent=None,
                   expected_version=2, actor="staff:leader", now=NOW)
    assert done.state is ReviewState.PUBLISHED and done.draft.tags == ("用电",)
    with pytest.raises(RuleViolation) as refused:
        edit(done, draft(), expected_version=3, actor="staff:leader", now=NOW)
    assert refused.value.code == "case_already_published"


def test_publishing_needs_a_root_cause_and_an_outcome() -> None:
    review = open_review(id=CASE_ID, node="330522", subject=subject(),
                         draft=Draft(title="只有标题"), actor="staff:leader", now=NOW)
    with pytest.raises(ValidationError) as refused:
        publish(review, kind=CaseKind.EXEMPLARY, tags=None, consent=None,
                expected_version=1, actor="staff:leader", now=NOW)
    assert refused.value.code == "case_incomplete"
    assert refused.value.params["missing"] == "root_cause,outcome"


@pytest.mark.parametrize("bad", [
    {"origin": "330521"},  # the id says 330522
    {"id": "330100-" + "b" * 32, "origin": "330100"},  # outside the sender's subtree
    {"kind": "heroic"},
    {"title": "x" * 101},
    {"enterprise": {"name": "乙"}},  # named without consent
    {"published_at": "2026-12-03T08:00:00"},  # naive
    {"measures": "none"},
])
def test_a_case_from_below_is_rechecked(bad: dict[str, object]) -> None:
    good = published_form(published())
    assert decode_case(good, "330500") == good  # what a county sends its city passes
    with pytest.raises(ValidationError) as refused:
        decode_case({**good, **bad}, "330500")
    assert refused.value.code == "case_malformed"


def test_a_summary_carries_the_newest_cases_per_unit_bounded() -> None:
    base = published_form(published())
    forms = [{**base, "id": f"330522-{i:032x}",
              "published_at": (NOW + timedelta(minutes=i)).isoformat()}
             for i in range(CASES_PER_ORIGIN + 5)]
    other = {**base, "id": "330521-" + "c" * 32, "origin": "330521",
             "published_at": (NOW - timedelta(days=1)).isoformat()}
    kept = bounded([*forms, other])
    assert len([f for f in kept if f["origin"] == "330522"]) == CASES_PER_ORIGIN
    assert other in kept
    assert kept[0]["id"] == forms[-1]["id"]  # newest first
    assert bounded(forms, budget_bytes=1) == []
    # through a summary's encoding and back, checked, unchanged
    summary = Summary(node="330500", as_of=NOW, cases=tuple(kept))
    assert list(decode(encode(summary)).cases) == kept
    # a malformed case is dropped, not the summary
    raw = json.loads(encode(summary))
    raw["cases"][0]["kind"] = "heroic"
    again = decode(json.dumps(raw).encode())
    assert len(again.cases) == len(kept) - 1


# ---------------------------------------------------------- the summary's size (review)


def maximal_form(origin: str, i: int) -> dict[str, object]:
    """A published case with every text at its limit (CJK: 3 bytes a character)."""
    form = {
        "id": f"{origin}-{i:032x}", "origin": origin, "kind": "exemplary",
        "title": "题" * MAX_CASE_TITLE,
        "subject": {"kind": "issue", "number": f"{origin}-2026-{i:06d}"},
        "root_cause": "因" * MAX_CASE_TEXT, "gap": "缺" * MAX_CASE_TEXT,
        "measures": [{"kind": "rule", "text": "措" * MAX_MEASURE_TEXT,
                      "reference": "号" * MAX_REFERENCE}] * MAX_MEASURES,
        "outcome": "果" * MAX_CASE_TEXT, "tags": ["用电"], "unit": "单" * 60,
        "published_at": (NOW + timedelta(minutes=i)).isoformat(), "consented": False}
    assert decode_case(form, origin) == form  # a case a child could really send
    return form


COUNTIES = [f"3305{n:02d}" for n in range(1, 14)]


def test_a_citys_summary_with_13_counties_of_20_maximal_cases_fits_one_message() -> None:
    children = {c: Summary(node=c, as_of=NOW, total=1,
                           cases=tuple(maximal_form(c, i) for i in range(CASES_PER_ORIGIN)))
                for c in COUNTIES}
    every = [f for k in children.values() for f in k.cases]
    city = Summary(node="330500", as_of=NOW, total=13, children=children,
                   cases=tuple(bounded(every)))  # what node/app/cases.py `published` gives
    raw = encode(city)
    assert len(raw) < 1024 * 1024
    data = json.loads(raw)
    assert all("cases" not in child for child in data["children"].values())
    assert [c["id"] for c in data["cases"]] == [c["id"] for c in city.cases]
    back = decode(raw)
    assert list(back.cases) == list(city.cases) and back.total == 13
    assert all(not k.cases for k in back.children.values())


def test_a_summary_over_the_limit_drops_its_oldest_cases_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    forms = [maximal_form(c, i) for c in COUNTIES[:3] for i in range(CASES_PER_ORIGIN)]
    big = Summary(node="330500", as_of=NOW, total=7, cases=tuple(forms))
    assert len(json.dumps(big.to_dict(depth=1, with_cases=True), ensure_ascii=False)
               .encode()) > SUMMARY_MAX_BYTES
    with caplog.at_level(logging.WARNING):
        raw = encode(big)
    assert len(raw) <= SUMMARY_MAX_BYTES
    back = decode(raw)
    assert back.total == 7  # the counts always get through
    kept = {c["id"] for c in back.cases}
    assert 0 < len(kept) < len(forms)
    newest_dropped = max(str(f["published_at"]) for f in forms if f["id"] not in kept)
    oldest_kept = min(str(f["published_at"]) for f in forms if f["id"] in kept)
    assert newest_dropped <= oldest_kept  # the oldest gave way first
    assert any("330500" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    # within the limit nothing is dropped and nothing said
    caplog.clear()
    small = replace(big, cases=tuple(forms[:2]))
    with caplog.at_level(logging.WARNING):
        assert len(decode(encode(small)).cases) == 2
    assert not caplog.records


# ------------------------------------------------------------- redaction (review)


def test_the_unit_and_a_phone_written_with_separators_are_scrubbed() -> None:
    typed = open_review(id=CASE_ID, node="330522", subject=replace(
        subject(), contact_phone="139-0572-0001"), draft=draft(
        unit=f"{NAME}专班",
        root_cause="电话 13905720001、139 0572 0001、+86 139-0572-0001 均无人接",
        outcome=f"代码 {CODE.lower()} 已核"), actor="staff:leader", now=NOW)
    form = published_form(publish(typed, kind=CaseKind.EXEMPLARY, tags=None, consent=None,
                                  expected_version=1, actor="staff:leader", now=NOW))
    text = json.dumps(form, ensure_ascii=False)
    assert NAME not in text and form["unit"] == "某企业专班"
    for written in ("13905720001", "139 0572 0001", "139-0572-0001", "0572"):
        assert written not in text, written
    assert CODE.lower() not in text
    assert "均无人接" in form["root_cause"]
    assert "长政办发〔2026〕12号" in text  # an ordinary number stays


def test_every_member_enterprise_of_a_cluster_is_scrubbed_even_with_consent() -> None:
    other_code = make_credit_code("91330521MA2BBBBB1")
    members = (Party(name="乙机械有限公司", credit_code=other_code, contact_phone="0572-6012345"),
               Party(name="丙纺织有限公司", credit_code=None, contact_phone="13800000002"))
    cluster = replace(subject(), kind=SubjectKind.CLUSTER, id="c-1",
                      enterprise_name="湖州市共性问题", credit_code=None, contact_phone=None,
                      members=members)
    texts = draft(root_cause=f"乙机械有限公司（{other_code}，05726012345）与丙纺织有限公司"
                             "（138 0000 0002）都反映增容慢",
                  gap="湖州市共性问题：缺少并联办理规定")
    for consent in (None, Consent(recorded_by="staff:leader", at=NOW, note="书面同意")):
        review = open_review(id=CASE_ID, node="330500", subject=cluster, draft=texts,
                             actor="staff:leader", now=NOW)
        form = published_form(publish(review, kind=CaseKind.EXEMPLARY, tags=None,
                                      consent=consent, expected_version=1,
                                      actor="staff:leader", now=NOW))
        text = json.dumps(form, ensure_ascii=False)
        for personal in ("乙机械有限公司", "丙纺织有限公司", other_code, "6012345",
                         "0000 0002", "13800000002"):
            assert personal not in text, (consent, personal)
        assert form["root_cause"].count("某企业") == 2
        # the subject's own name goes only without consent
        assert ("湖州市共性问题" in text) is (consent is not None)
