"""The policy library's pure rules (node/domain/policies.py): checking an entry, matching
it to an issue (tags, validity dates, size, industry and region conditions), ranking, and
the publication down the tree."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from node.domain import policies as P
from node.domain.errors import ValidationError
from node.domain.policies import Policy, PolicyFields, Size, Subject
from node.i18n import message

TODAY = date(2026, 6, 1)
CITY, COUNTY, OTHER_COUNTY = "330500", "330522", "330523"


def entry(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "关于支持小微企业用电的若干措施", "issuer": "湖州市人民政府办公室",
        "doc_number": "湖政办发〔2026〕3号", "valid_from": "2026-01-01",
        "valid_to": "2026-12-31", "tags": ["用电"], "summary": "小微企业用电增容费用减免。",
        "link": "https://www.huzhou.gov.cn/p/3"}
    values.update(overrides)
    return values


def policy(pid: str = "p.330500.aaaa", origin: str = CITY, *, active: bool = True,
           **overrides: Any) -> Policy:
    return Policy(id=pid, origin=origin, fields=P.check_policy(entry(**overrides), node=origin),
                  active=active)


def subject(**overrides: Any) -> Subject:
    values: dict[str, Any] = {"tags": ("用电",), "region": COUNTY}
    values.update(overrides)
    return Subject(**values)


# --------------------------------------------------------------------------- checking


def test_a_complete_entry_is_read_from_json_and_from_spreadsheet_cells() -> None:
    from_json = P.check_policy(entry(industries=["C", "制造业"], sizes=["small", "微"],
                                     regions=[COUNTY]), node=CITY)
    from_cells = P.check_policy(entry(tags="用电、要素保障", industries="农、林、牧、渔业;制造业",
                                      sizes="小、微", regions="330522", valid_from="2026/1/1",
                                      valid_to="2026年12月31日"), node=CITY)
    assert from_json.industries == ("C",)
    assert from_json.sizes == (Size.SMALL, Size.MICRO)
    assert from_json.regions == (COUNTY,)
    assert from_cells.tags == ("用电", "要素保障")
    assert from_cells.industries == ("A", "C")  # a name with 、 inside is read whole
    assert from_cells.valid_from == date(2026, 1, 1)
    assert from_cells.valid_to == date(2026, 12, 31)
    assert from_cells.doc_number == "湖政办发〔2026〕3号"


def test_every_problem_of_an_entry_is_reported_with_its_field_and_value() -> None:
    problems = P.parse_policy(entry(title="", valid_from="2026-13-40", tags=[],
                                    industries="制造业;造船业", sizes="巨型",
                                    regions=["330523", "12345"], link="ftp://x",
                                    summary="长" * 501), node=COUNTY)
    assert isinstance(problems, list)
    got = {(p.field, p.code) for p in problems}
    assert got == {("title", "text_required"), ("valid_from", "policy_date_invalid"),
                   ("tags", "policy_tags_required"),
                   ("industries", "policy_industry_unknown"), ("sizes", "policy_size_unknown"),
                   ("regions", "policy_region_outside"), ("regions", "division_length"),
                   ("link", "policy_link_invalid"), ("summary", "text_too_long")}
    outside = next(p for p in problems if p.code == "policy_region_outside")
    assert outside.value == "330523" and outside.params == {"region": "330523", "node": COUNTY}
    industry = next(p for p in problems if p.code == "policy_industry_unknown")
    assert industry.value == "造船业"
    # the reason reads in Chinese from the one catalogue
    assert message(outside.code, outside.params) == "地区 330523 不在本级（330522）辖区内"
    assert "微、小、中 或 大" in message("policy_size_unknown", {"size": "巨型"})


def test_the_end_date_may_not_precede_the_start() -> None:
    with pytest.raises(ValidationError) as refused:
        P.check_policy(entry(valid_from="2026-05-01", valid_to="2026-04-30"), node=CITY)
    assert refused.value.code == "policy_valid_to_before_from"
    assert refused.value.field == "valid_to"
    assert message(refused.value.code, refused.value.params) == "失效日期早于生效日期（2026-05-01）"


def test_a_region_of_the_node_itself_or_below_is_accepted() -> None:
    assert P.check_policy(entry(regions=[CITY, COUNTY]), node=CITY).regions == (CITY, COUNTY)
    with pytest.raises(ValidationError) as refused:
        P.check_policy(entry(regions=["330100"]), node=CITY)  # 杭州市: a neighbour
    assert refused.value.code == "policy_region_outside"


def test_a_profile_is_kept_only_with_consent() -> None:
    with pytest.raises(ValidationError) as refused:
        P.check_profile(industry="C", size="small", consent=False)
    assert refused.value.code == "policy_profile_needs_consent"
    assert P.check_profile(industry=None, size=None, consent=False) == P.Profile()
    assert P.check_profile(industry="制造业", size="小", consent=True) == P.Profile(
        industry="C", size=Size.SMALL)
    with pytest.raises(ValidationError):
        P.check_profile(industry="造船", size=None, consent=True)


# --------------------------------------------------------------------------- matching


def test_a_policy_in_force_with_a_shared_tag_is_suggested() -> None:
    found = P.match([policy()], subject(tags=("用电", "融资")), today=TODAY)
    assert [m.policy.id for m in found] == ["p.330500.aaaa"]
    assert found[0].shared_tags == ("用电",)
    assert P.match([policy()], subject(tags=("用地",)), today=TODAY) == []


@pytest.mark.parametrize(("today", "suggested"), [
    (date(2025, 12, 31), False), (date(2026, 1, 1), True), (date(2026, 12, 31), True),
    (date(2027, 1, 1), False)])
def test_validity_dates_bound_the_suggestion_both_ends_inclusive(today: date,
                                                                 suggested: bool) -> None:
    assert bool(P.match([policy()], subject(), today=today)) is suggested


def test_open_ended_dates_and_withdrawn_policies() -> None:
    open_ended = policy(valid_from="", valid_to="")
    assert P.match([open_ended], subject(), today=date(2040, 1, 1))
    assert P.match([policy(active=False)], subject(), today=TODAY) == []


def test_size_and_industry_conditions_exclude_known_mismatches_and_flag_unknowns() -> None:
    small = policy(sizes=["微", "小"], industries=["C"])
    assert P.match([small], subject(size=Size.LARGE, industry="C"), today=TODAY) == []
    assert P.match([small], subject(size=Size.SMALL, industry="F"), today=TODAY) == []
    met = P.match([small], subject(size=Size.MICRO, industry="C"), today=TODAY)
    assert len(met) == 1 and met[0].unknown == ()
    unknown = P.match([small], subject(), today=TODAY)  # no profile on record
    assert len(unknown) == 1 and unknown[0].unknown == ("industry", "size")


def test_region_conditions_and_the_default_scope_of_the_issuing_node() -> None:
    for_county = policy(regions=[COUNTY])
    assert P.match([for_county], subject(region=COUNTY), today=TODAY)
    assert P.match([for_county], subject(region=OTHER_COUNTY), today=TODAY) == []
    general = policy()  # no regions: the city's whole subtree
    assert P.match([general], subject(region=OTHER_COUNTY), today=TODAY)
    assert P.match([general], subject(region=CITY), today=TODAY)
    assert P.match([general], subject(region="330100"), today=TODAY) == []  # 杭州市


def test_ranking_tag_overlap_first_then_known_conditions_then_aim() -> None:
    one_tag = policy("p.330500.one1", title="甲")
    two_tags = policy("p.330500.two2", title="乙", tags=["用电", "要素保障"])
    unknown_size = policy("p.330500.size", title="丙", tags=["用电", "要素保障"], sizes=["小"])
    aimed = policy("p.330500.aim1", title="丁", regions=[COUNTY])
    found = P.match([one_tag, aimed, unknown_size, two_tags],
                    subject(tags=("用电", "要素保障")), today=TODAY)
    assert [m.policy.id for m in found] == ["p.330500.two2", "p.330500.size",
                                            "p.330500.aim1", "p.330500.one1"]


def test_tags_are_compared_through_the_canonical_map() -> None:
    renamed = {"用电保障": "t.330000.power", "用电": "t.330000.power"}
    found = P.match([policy(tags=["用电保障"])], subject(tags=("用电",)), today=TODAY,
                    canon=lambda t: renamed.get(t, t))
    assert len(found) == 1 and found[0].shared_tags == ("用电",)


def test_the_library_filters_by_tag_and_text() -> None:
    a = policy("p.330500.aaaa")
    b = policy("p.330500.bbbb", tags=["融资"], title="中小企业融资担保")
    assert P.filter_policies([a, b], tag="融资") == [b]
    assert P.filter_policies([a, b], query="担保") == [b]
    assert P.filter_policies([a, b], query="湖政办发") == [a, b]


# --------------------------------------------------------------------------- publication


def test_the_publication_carries_own_live_policies_and_reads_back() -> None:
    own = policy("p.330500.aaaa")
    expired = policy("p.330500.old1", valid_from="2020-01-01", valid_to="2020-12-31")
    withdrawn = policy("p.330500.gone", active=False)
    from_above = policy("p.330000.prov", origin="330000")
    body = P.publication([own, expired, withdrawn, from_above], node=CITY, today=TODAY)
    assert [p["id"] for p in body["policies"]] == ["p.330500.aaaa"]
    back = P.accept_publication(CITY, body)
    assert back == [own]


@pytest.mark.parametrize("body", [
    {"node": "330000", "policies": []},  # another issuer's
    {"node": CITY, "policies": "x"},
    {"node": CITY, "policies": [{**policy().as_json(), "id": "p.330000.aaaa"}]},
    {"node": CITY, "policies": [{**policy().as_json(), "summary": ""}]},
    {"node": CITY, "policies": [{**policy().as_json(), "regions": ["330100"]}]},
])
def test_a_malformed_publication_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        P.accept_publication(CITY, body)
    assert refused.value.code == "policy_publication_invalid"


def test_fields_round_trip_through_json() -> None:
    full = policy(industries=["C"], sizes=["微"], regions=[COUNTY])
    again = P.check_policy(full.as_json(), node=CITY)
    assert again == full.fields
    assert replace(again, title="x") != full.fields
    assert isinstance(full.fields, PolicyFields)


def test_a_full_publication_of_entries_at_every_limit_fits_one_envelope() -> None:
    from datetime import UTC, datetime

    from node.domain.publications import (
        MAX_PUBLICATION_BYTES,
        Publication,
        SignedPublication,
        encode,
    )
    from node.domain.validation import MAX_TAG

    counties = [f"3305{n:02d}" for n in range(1, 31)]
    widest = [Policy(id=f"p.330500.{n:012x}", origin=CITY, fields=P.check_policy(entry(
        title="政" * P.MAX_TITLE, issuer="府" * P.MAX_ISSUER, doc_number="号" * P.MAX_DOC_NUMBER,
        tags=[f"{i}" + "标" * (MAX_TAG - 1) for i in range(P.MAX_POLICY_TAGS)],
        industries=list(P.INDUSTRIES), sizes=[s.value for s in Size], regions=counties,
        summary="摘" * P.MAX_SUMMARY, link="https://x.cn/" + "a" * (P.MAX_LINK - 13)),
        node=CITY)) for n in range(P.MAX_PUBLISHED + 10)]
    body = P.publication(widest, node=CITY, today=TODAY)
    assert len(body["policies"]) == P.MAX_PUBLISHED
    doc = Publication(issuer=CITY, kind="policies", version=1,
                      issued_at=datetime(2026, 6, 1, tzinfo=UTC), body=body)
    envelope = encode(SignedPublication(doc=doc, signature=b"s" * 512, cert_pem="c" * 4000))
    assert len(envelope) < MAX_PUBLICATION_BYTES


@pytest.mark.parametrize(("cell", "day"), [
    (20260101.0, date(2026, 1, 1)), ("2026-1-5", date(2026, 1, 5)),
    ("2026-01-01T08:00", date(2026, 1, 1)), ("2026年3月4日", date(2026, 3, 4)),
    ("2026.03.04", date(2026, 3, 4)), ("", None)])
def test_dates_as_spreadsheets_and_people_write_them(cell: object, day: date | None) -> None:
    assert P.parse_date(cell) == day


def test_the_document_number_is_checked_as_it_is_stored_after_nfkc() -> None:
    """㍿ is one character and 株式会社 after NFKC: 60 of them are 240 characters, more than
    the column holds; refused as too long rather than failing in the store."""
    parsed = P.parse_policy(entry(doc_number="㍿" * P.MAX_DOC_NUMBER), node=CITY)
    assert isinstance(parsed, list)
    assert [(p.field, p.code, p.params.get("length")) for p in parsed] == [
        ("doc_number", "text_too_long", 4 * P.MAX_DOC_NUMBER)]
    fits = P.check_policy(entry(doc_number="㍿" * (P.MAX_DOC_NUMBER // 4)), node=CITY)
    assert fits.doc_number == "株式会社" * (P.MAX_DOC_NUMBER // 4)
    assert len(fits.doc_number) == P.MAX_DOC_NUMBER
    # full-width digits and spaces, as people type them, are still read as before
    assert P.check_policy(entry(doc_number="湖政办发〔２０２６〕 3号"), node=CITY
                          ).doc_number == "湖政办发〔2026〕3号"
