"""The joint meeting (联席会议) through the JSON API and the store: the next meeting's date on
the real calendar, an agenda holding exactly the issues at the joint-meeting step, the
decisions it records (leader in charge, decision, deadline) and the refusals."""

from __future__ import annotations

from datetime import date

import pytest

from node.domain.errors import Conflict
from node.domain.lifecycle import LadderUp, Triage
from node.runtime import Node
from tests.support.api import Api, Json, assert_error, error_fields
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.db import table_counts

# the clock stands on Monday 2 March 2026: the next meeting is in April, whose first
# Monday (6 April) is the 清明 holiday, so the meeting sits on Tuesday 7 April
NEXT = "2026-04-07"


def _laddered(api: Api, steps: int, title: str) -> Json:
    issue = api.submit(title=title)
    api.triaged(issue["id"])
    for _ in range(steps):
        api.act("dispatcher", issue["id"], "ladder")
    return issue


def _agenda(api: Api, who: str = "leader", **params: object) -> Json:
    resp = api.get(who, "/meetings/next", **params)
    assert resp.status_code == 200, resp.text
    out: Json = resp.json()
    return out


def test_the_agenda_holds_exactly_the_issues_at_the_joint_meeting_step(api: Api) -> None:
    at_meeting = _laddered(api, 3, "跨部门用地协调")
    also = _laddered(api, 3, "园区道路移交")
    _laddered(api, 2, "兜底办办理中")  # one step below
    api.submit(title="刚受理")
    resolved = _laddered(api, 3, "已在会前解决")
    api.act("dispatcher", resolved["id"], "assign", department="经信局")
    api.act("handler", resolved["id"], "start")
    api.act("handler", resolved["id"], "resolve", reply="会前已协调解决")
    agenda = _agenda(api, "dispatcher")
    assert (agenda["meeting"], agenda["step"]) == (NEXT, "joint_meeting")
    assert [i["number"] for i in agenda["items"]] == sorted(
        [at_meeting["number"], also["number"]])
    assert {i["decision"] for i in agenda["items"]} == {None}
    assert _agenda(api, date="2026-05-11")["meeting"] == "2026-05-11"


def test_the_meeting_records_leader_decision_and_deadline(api: Api, api_node: Node) -> None:
    issue = _laddered(api, 3, "跨部门用地协调")
    body = {"issue": issue["number"], "leader": "王副县长",
            "decision": "自然资源局牵头，两周内完成指标调剂", "deadline": "2026-04-21"}
    resp = api.post("leader", f"/meetings/{NEXT}/decisions", body)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"meeting": NEXT, "issue_id": issue["id"], "leader": "王副县长",
                           "decision": body["decision"], "deadline": "2026-04-21"}
    (item,) = _agenda(api)["items"]
    assert item["decision"]["leader"] == "王副县长"
    before = table_counts(api_node.engine)
    assert_error(api.post("leader", f"/meetings/{NEXT}/decisions", body), 409, "conflict")
    assert table_counts(api_node.engine) == before


def test_decision_refusals_write_nothing(api: Api, api_node: Node) -> None:
    issue = _laddered(api, 3, "跨部门用地协调")
    below = _laddered(api, 1, "服务中心办理中")
    ok = {"issue": issue["id"], "leader": "王副县长", "decision": "牵头协调",
          "deadline": "2026-04-21"}
    before = table_counts(api_node.engine)
    url = f"/meetings/{NEXT}/decisions"
    for who in ("dispatcher", "handler", "viewer", "ent_a"):
        assert_error(api.post(who, url, ok), 403, "forbidden")
    details = assert_error(api.post("leader", url, {**ok, "issue": below["id"]}), 409,
                           "meeting_not_on_agenda")
    assert details == {"issue": below["number"]}
    details = assert_error(api.post("leader", url, {**ok, "deadline": "2026-04-06"}), 422,
                           "invalid_input")
    assert details["field"] == "deadline"
    assert_error(api.post("leader", url, {**ok, "issue": "330522-2026-999999"}), 404,
                 "not_found")
    for bad, field in (({**ok, "leader": " "}, "leader"), ({**ok, "decision": ""}, "decision"),
                       ({**ok, "deadline": "soon"}, "deadline"), ({"issue": issue["id"]},
                                                                  "leader")):
        assert field in error_fields(assert_error(api.post("leader", url, bad), 422,
                                                  "invalid_input"))
    assert_error(api.post("leader", "/meetings/April/decisions", ok), 422, "invalid_input")
    assert_error(api.get("leader", "/meetings/next", date="2026-02-30"), 422, "invalid_input")
    assert_error(api.get("ent_a", "/meetings/next"), 403, "forbidden")
    assert table_counts(api_node.engine) == before


def test_the_store_keeps_one_decision_per_meeting_and_issue(node: Node,
                                                            clock: FakeClock) -> None:
    """On SQLite and PostgreSQL."""
    issues = node.services.issues
    issue, _ = issues.submit(LEADER, submit_cmd())
    issues.act(LEADER, issue.id, Triage(tags=("用地",)))
    for _ in range(3):
        issues.act(LEADER, issue.id, LadderUp())
    meetings = node.services.meetings
    assert meetings is not None
    made = meetings.decide(LEADER, date(2026, 4, 7), issue.id, leader="王副县长",
                           decision="牵头协调", deadline=date(2026, 4, 21))
    assert meetings.agenda(LEADER).items == [(issues.get(LEADER, issue.id).issue, made)]
    with pytest.raises(Conflict):
        meetings.decide(LEADER, date(2026, 4, 7), issue.id, leader="李局长",
                        decision="另议", deadline=date(2026, 4, 30))
    other = meetings.decide(LEADER, date(2026, 5, 11), issue.id, leader="李局长",
                            decision="继续协调", deadline=date(2026, 5, 25))
    assert meetings.agenda(LEADER, date(2026, 5, 11)).items[0][1] == other
