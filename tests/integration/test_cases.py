"""Reviews (问题复盘) and the case library (案例库) through the JSON API on a real node store:
a leader opens a review of a closed issue, edits it, publishes it as 典型案例 or 负面案例;
the library lists and filters by kind, tag, unit and text; refusals (403, 404, 409, 422)
change nothing; the published case names no enterprise unless it consented."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from node.app.cases import CaseService
from node.app.policy import Membership, Principal, Role
from node.domain.cases import Draft
from node.domain.errors import NotFound, RuleViolation
from node.domain.lifecycle import Assign, Close, Resolve, Start, Triage
from node.runtime import Node
from node.store.clusters import ClusterRecords
from tests.support.api import Api, Json, assert_error
from tests.support.clock import FakeClock
from tests.support.data import CODE_B, LEADER, submit_cmd
from tests.support.db import table_counts

NAME = "甲企业有限公司"  # tests/support/data.py submit_body
PHONE = "13905720001"


def _closed(api: Api, title: str = "用电增容审批慢") -> Json:
    issue = api.submit(title=title, content="增容申请两个月无进展。")
    api.resolved(issue["id"])
    api.act("dispatcher", issue["id"], "close")
    return issue


def _review_body(subject: str, **over: Any) -> Json:
    body: Json = {
        "subject": subject, "title": f"{NAME}用电增容：串联审批改并联",
        "root_cause": f"{NAME}的增容申请在两个部门间串联审批",
        "gap": "增容审批没有并联办理的规定",
        "measures": [{"kind": "procedure", "text": "增容审批改为并联办理",
                      "reference": "长政办发〔2026〕12号"}],
        "outcome": "办理时限由 30 个工作日压缩到 10 个", "tags": ["用电"]}
    body.update(over)
    return body


def _edit_body(version: int, **over: Any) -> Json:
    body = _review_body("", **over)
    del body["subject"]
    return {**body, "version": version}


def _open(api: Api, subject: str, who: str = "leader", **over: Any) -> Json:
    resp = api.post(who, "/case-reviews", _review_body(subject, **over))
    assert resp.status_code == 201, resp.text
    out: Json = resp.json()
    return out


def _publish(api: Api, review: Json, kind: str = "exemplary", who: str = "leader",
             **over: Any) -> Json:
    resp = api.post(who, f"/case-reviews/{review['id']}/publish",
                    {"version": review["version"], "kind": kind, **over})
    assert resp.status_code == 200, resp.text
    out: Json = resp.json()
    return out


def _cases(api: Api, who: str = "leader", **params: Any) -> Json:
    resp = api.get(who, "/cases", **params)
    assert resp.status_code == 200, resp.text
    out: Json = resp.json()
    return out


def _counts(node: Node) -> dict[str, int]:
    counts = table_counts(node.engine)
    return {t: counts[t] for t in ("case_reviews", "cases")}


def test_open_edit_publish_and_the_published_case_is_minimised(api: Api) -> None:
    issue = _closed(api)
    review = _open(api, issue["number"])
    assert review["state"] == "draft" and review["version"] == 1
    assert review["subject"]["id"] == issue["id"]
    assert _cases(api)["total"] == 0  # a draft is not in the library
    resp = api.send("PATCH", f"/case-reviews/{review['id']}",
                    _edit_body(1, outcome="时限压缩到 8 个工作日"),
                    headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    edited = resp.json()
    assert edited["version"] == 2 and edited["outcome"] == "时限压缩到 8 个工作日"
    done = _publish(api, edited, tags=["用电", "审批"])
    assert done["review"]["state"] == "published" and done["review"]["kind"] == "exemplary"
    case = done["case"]
    text = json.dumps(case, ensure_ascii=False)
    assert NAME not in text and issue["enterprise"]["credit_code"] not in text
    assert PHONE not in text and "enterprise" not in case
    assert case["outcome"] == "时限压缩到 8 个工作日" and case["tags"] == ["用电", "审批"]
    listed = _cases(api)
    assert listed["total"] == 1 and listed["items"] == [case]
    assert api.get("viewer", f"/cases/{case['id']}").json() == case  # a viewer reads it
    assert [r["id"] for r in api.get("leader", "/case-reviews",
                                     subject=issue["id"]).json()] == [review["id"]]


def test_consent_names_the_enterprise_with_who_and_when(api: Api) -> None:
    issue = _closed(api)
    done = _publish(api, _open(api, issue["id"]), consent="企业负责人书面同意公开")
    assert done["case"]["enterprise"]["name"] == NAME
    assert done["case"]["consented"] is True
    consent = done["review"]["consent"]
    assert consent["recorded_by"] == "staff:leader" and consent["at"]
    assert PHONE not in json.dumps(done["case"], ensure_ascii=False)


def test_the_library_filters_by_kind_tag_unit_and_text(api: Api, api_node: Node,
                                                        clock: FakeClock) -> None:
    red = _publish(api, _open(api, _closed(api)["id"], tags=["用电"]))["case"]
    clock.advance(timedelta(minutes=5))
    black = _publish(api, _open(api, _closed(api)["id"], title="税费退付拖延",
                                tags=["税费"], root_cause="退税材料反复退回", gap="材料清单未公开",
                                measures=[{"kind": "rule", "text": "退税材料一次告知",
                                           "reference": "长税发〔2026〕3号"}],
                                outcome="已退付并通报"), kind="negative")["case"]

    def ids(**params: Any) -> list[str]:
        return [c["id"] for c in _cases(api, **params)["items"]]

    assert ids() == [black["id"], red["id"]]  # newest first
    assert ids(kind="exemplary") == [red["id"]]
    assert ids(kind="negative") == [black["id"]]
    assert ids(tag="税费") == [black["id"]]
    assert ids(tag="税") == []  # a tag matches whole
    assert ids(q="退税") == [black["id"]]
    assert ids(q="并联") == [red["id"]]
    assert ids(unit=api_node.config.node.code) == [black["id"], red["id"]]
    assert ids(unit="330521") == []
    assert ids(unit="330522.jingxin") == []  # no unit of that id handled them
    assert ids(q="长税发") == [black["id"]]  # a measure's reference is searched too
    assert _cases(api, limit=1)["total"] == 2
    assert_error(api.get("leader", "/cases", kind="heroic"), 422, "invalid_input")


def test_refusals_change_nothing(api: Api, api_node: Node) -> None:
    closed = _closed(api)
    open_issue = api.submit(title="尚在办理")
    before = _counts(api_node)
    # only leaders and admins write reviews
    for who in ("dispatcher", "handler", "viewer", "ent_a"):
        assert api.post(who, "/case-reviews",
                        _review_body(closed["id"])).status_code in (403, 404)
    assert_error(api.post("dispatcher", "/case-reviews", _review_body(closed["id"])),
                 403, "forbidden")
    # a subject still open, an unknown one, bad input
    assert_error(api.post("leader", "/case-reviews", _review_body(open_issue["id"])),
                 409, "case_subject_not_closed")
    assert_error(api.post("leader", "/case-reviews", _review_body("330522-2026-999999")),
                 404, "not_found")
    assert_error(api.post("leader", "/case-reviews", _review_body(closed["id"], title="")),
                 422, "invalid_input")
    assert_error(api.post("leader", "/case-reviews",
                          _review_body(closed["id"], measures=[
                              {"kind": "rule", "text": "改了", "reference": ""}])),
                 422, "invalid_input")
    assert _counts(api_node) == before
    review = _open(api, closed["id"])
    before = _counts(api_node)
    url = f"/case-reviews/{review['id']}/publish"
    assert_error(api.post("dispatcher", url, {"version": 1, "kind": "exemplary"}),
                 403, "forbidden")
    assert_error(api.post("leader", url, {"version": 1, "kind": "heroic"}),
                 422, "invalid_input")
    assert_error(api.post("leader", url, {"version": 7, "kind": "exemplary"}), 409, "conflict")
    assert_error(api.post("leader", "/case-reviews/330522-nope/publish",
                          {"version": 1, "kind": "exemplary"}), 404, "not_found")
    assert _counts(api_node) == before
    assert api.get("leader", f"/case-reviews/{review['id']}").json() == review
    # published: never edited or published again
    done = _publish(api, review)
    again = api.send("PATCH", f"/case-reviews/{review['id']}",
                     _edit_body(done["review"]["version"]), headers=api.headers("leader"))
    assert_error(again, 409, "case_already_published")
    assert_error(api.post("leader", url, {"version": done["review"]["version"],
                                          "kind": "negative"}), 409, "case_already_published")
    assert _cases(api)["items"] == [done["case"]]
    # an enterprise never reads the library
    assert api.get("ent_a", "/cases").status_code == 403


# ------------------------------------------------------- the store, on both backends


def _closed_here(node: Node) -> str:
    issues = node.services.issues
    issue, _ = issues.submit(LEADER, submit_cmd(title="用电增容审批慢"))
    for cmd in (Triage(tags=("用电",)), Assign(department="经信局"), Start(),
                Resolve(reply="已办结。"), Close()):
        issue = issues.act(LEADER, issue.id, cmd)
    return issue.id


def test_the_library_and_what_children_send_on_each_backend(node: Node) -> None:
    service = node.services.cases
    assert service is not None
    review = service.open_review(LEADER, subject_kind="issue", subject=_closed_here(node),
                                 draft=Draft(title="100%_并联", root_cause="串联审批",
                                             outcome="压缩时限", tags=("用电", "a_b%")))
    _, own = service.publish(LEADER, review.id, kind="exemplary", tags=None,
                             consent_note=None, expected_version=1)
    assert service.get_review(LEADER, review.id).state.value == "published"
    # LIKE's wildcards in a filter are plain characters
    assert [c["id"] for c in service.list(LEADER, tag="a_b%").items] == [own["id"]]
    assert service.list(LEADER, tag="a%").items == []
    assert [c["id"] for c in service.list(LEADER, q="100%_").items] == [own["id"]]
    assert service.list(LEADER, q="100%x").items == []
    # what a child's summary carries is kept, replaced as a whole; a malformed case, or
    # one from outside the child's subtree, is skipped (adopt does not ask whether the
    # sender is a child: the rollup calls it for configured children only)
    child = "330500"
    sent = {**own, "id": f"330521-{'d' * 32}", "origin": "330521", "kind": "negative"}
    stray = {**own, "id": f"330100-{'e' * 32}", "origin": "330100"}
    assert service.adopt(child, [sent, stray, {"id": "junk"}]) == 1
    assert service.adopt(child, [sent]) == 0  # unchanged: nothing written
    assert [c["id"] for c in service.list(LEADER, kind="negative").items] == [sent["id"]]
    assert [c["id"] for c in service.list(LEADER, unit="330521").items] == [sent["id"]]
    assert stray["id"] not in {c["id"] for c in service.list(LEADER).items}
    assert {f["id"] for f in service.published()} == {own["id"], sent["id"]}
    # a case the child's summary no longer carries (newer ones pushed it out of its bound)
    # stays: a published case is final, nothing is withdrawn
    newer = {**sent, "id": f"330521-{'f' * 32}", "published_at": "2026-12-31T08:00:00+00:00"}
    assert service.adopt(child, [newer]) == 1
    assert service.adopt(child, []) == 0
    assert {c["id"] for c in service.list(LEADER).items} == {own["id"], sent["id"],
                                                             newer["id"]}
    assert {f["id"] for f in service.published()} == {own["id"], sent["id"], newer["id"]}
    # the same case again, as another child sends it, is written over (never doubled)
    assert service.adopt("330100", [{**newer, "id": f"330100-{'f' * 32}",
                                     "origin": "330100"}]) == 1
    assert service.adopt("330521", [newer]) == 1
    assert service.list(LEADER).total == 4


@dataclass(frozen=True)
class _Cluster:
    id: str
    common_issue_id: str
    members: tuple[tuple[str, str, str], ...] = ()


class _Clusters:
    """Stands in for node/app/clusters.py ClusterService.get (a city's clusters); its
    member issues are read from the node's store, as ClusterService's are."""

    def __init__(self, node: Node, *known: _Cluster) -> None:
        self.known = {c.id: c for c in known}
        cases = node.services.cases
        assert cases is not None
        self.store = ClusterRecords(cases.store.store)  # type: ignore[attr-defined]

    def get(self, principal: Principal, cluster_id: str) -> _Cluster:
        if cluster_id not in self.known:
            raise NotFound("cluster_not_found", cluster=cluster_id)
        return self.known[cluster_id]


def test_a_cluster_is_reviewed_through_its_common_issue(node: Node) -> None:
    closed, still_open = _closed_here(node), node.services.issues.submit(
        LEADER, submit_cmd(title="共性问题未办结"))[0].id
    other = node.services.issues.submit(LEADER, replace(
        submit_cmd(CODE_B, title="乙机械增容慢"), enterprise_name="乙机械有限公司",
        contact_phone="0572-6012345"))[0]
    cases = node.services.cases
    assert cases is not None
    members = ((other.id, other.number, other.origin), ("330522-gone", "x", "330522"))
    service = CaseService(store=cases.store,
                          issues=node.services.issues, node=node.config.node.code,
                          clock=node.services.issues.clock,
                          clusters=_Clusters(node, _Cluster("c-1", closed, members),
                                             _Cluster("c-2", still_open)))
    review = service.open_review(LEADER, subject_kind="cluster", subject="c-1",
                                 draft=Draft(title="两县同类问题", root_cause="政策口径不一：乙机械"
                                             f"有限公司（{CODE_B}，0572 6012345）等反映",
                                             outcome="统一口径"))
    assert (review.subject.kind.value, review.subject.id) == ("cluster", "c-1")
    assert [m.name for m in review.subject.members] == ["乙机械有限公司"]  # one not held: none
    assert [r.id for r in service.reviews_of(LEADER, "c-1", "cluster")] == [review.id]
    assert service.reviews_of(LEADER, closed) == []  # not a review of the issue itself
    assert service.get_review(LEADER, review.id).subject.members == review.subject.members
    _, form = service.publish(LEADER, review.id, kind="exemplary", tags=None,
                              consent_note="书面同意", expected_version=1)
    assert form["subject"]["kind"] == "cluster"
    text = json.dumps(form, ensure_ascii=False)
    for personal in ("乙机械有限公司", CODE_B, "6012345"):
        assert personal not in text, personal  # every member's, even with the consent
    assert "某企业（＊＊＊，＊＊＊）等反映" in form["root_cause"]
    with pytest.raises(RuleViolation) as refused:
        service.open_review(LEADER, subject_kind="cluster", subject="c-2",
                            draft=Draft(title="未办结"))
    assert refused.value.code == "case_subject_not_closed"
    with pytest.raises(NotFound):
        service.open_review(LEADER, subject_kind="cluster", subject="c-3",
                            draft=Draft(title="不存在"))
    with pytest.raises(RuleViolation) as unsupported:  # a node without clusters' service
        CaseService(store=cases.store,
                    issues=node.services.issues, node=node.config.node.code,
                    clock=node.services.issues.clock).open_review(
            LEADER, subject_kind="cluster", subject="c-1", draft=Draft(title="x"))
    assert unsupported.value.code == "case_subject_unsupported"


def test_a_review_is_only_for_whom_may_see_its_subject(node: Node,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader bound to one unit's queue (were leaders queue-bound) reads, edits and
    publishes no review of another unit's issue: 404, as for an unknown id."""
    from node.app import policy

    service = node.services.cases
    assert service is not None
    review = service.open_review(LEADER, subject_kind="issue", subject=_closed_here(node),
                                 draft=Draft(title="并联审批", root_cause="串联审批",
                                             outcome="压缩时限"))
    monkeypatch.setattr(policy, "QUEUE_BOUND", frozenset({Role.HANDLER, Role.LEADER}))
    bound = Principal(username="bound", role=Role.LEADER, display_name="王",
                      memberships=(Membership(unit="330522.other", role=Role.LEADER),))
    refusals: list[Callable[[], object]] = [
        lambda: service.get_review(bound, review.id),
        lambda: service.edit(bound, review.id, Draft(title="改"), expected_version=1),
        lambda: service.publish(bound, review.id, kind="negative", tags=None,
                                consent_note=None, expected_version=1)]
    for refused in refusals:
        with pytest.raises(NotFound) as answer:
            refused()
        assert answer.value.code == "case_not_found"
    with pytest.raises(NotFound) as unknown:
        service.get_review(bound, "330522-" + "0" * 32)
    assert (unknown.value.code, set(unknown.value.params)) == (
        answer.value.code, set(answer.value.params))  # the same answer as an unknown id
    again = service.get_review(LEADER, review.id)  # nothing changed
    assert (again.version, again.state.value, again.draft.title) == (1, "draft", "并联审批")
    assert service.list(LEADER).total == 0
    # who may see it still may
    done, _ = service.publish(LEADER, review.id, kind="exemplary", tags=None,
                              consent_note=None, expected_version=1)
    assert done.state.value == "published"
