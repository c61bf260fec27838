"""What the joint meeting (联席会议) cannot solve is escalated in one step: through the JSON
API, an issue on the agenda with the meeting's decision goes to the next tier by the
escalation use case with the decision — leader in charge, what, by when — as the reason
(the transfer the city receives carries it); without a decision, off the agenda or by a
role that does not lead, it is refused and nothing is queued."""

from __future__ import annotations

from sqlalchemy import select

from node.runtime import Node
from node.store.schema import transfers_out
from tests.support.api import Api, Json, assert_error
from tests.support.db import table_counts

NEXT = "2026-04-07"  # the clock stands on 2 March 2026 (tests/integration/test_meetings.py)


def _laddered(api: Api, steps: int, title: str) -> Json:
    issue = api.submit(title=title)
    api.triaged(issue["id"])
    for _ in range(steps):
        api.act("dispatcher", issue["id"], "ladder")
    return issue


def test_the_meeting_escalates_what_it_cannot_solve_with_its_decision(
        api: Api, api_node: Node) -> None:
    issue = _laddered(api, 3, "跨县用地指标协调")
    below = _laddered(api, 2, "兜底办办理中")
    url = f"/meetings/{NEXT}/escalations"
    before = table_counts(api_node.engine)
    assert_error(api.post("leader", url, {"issue": issue["id"]}), 409, "meeting_no_decision")
    assert_error(api.post("leader", url, {"issue": below["id"]}), 409, "meeting_not_on_agenda")
    assert table_counts(api_node.engine) == before

    decision = {"issue": issue["number"], "leader": "王副县长",
                "decision": "县内无法调剂，提请市级统筹用地指标", "deadline": "2026-04-21"}
    made = api.post("leader", f"/meetings/{NEXT}/decisions", decision)
    assert made.status_code == 201, made.text
    for who in ("dispatcher", "viewer"):
        assert_error(api.post(who, url, {"issue": issue["id"]}), 403, "forbidden")

    resp = api.post("leader", url, {"issue": issue["number"]})
    assert resp.status_code == 202, resp.text
    transfer_id = resp.headers["X-Transfer-Id"]
    with api_node.engine.connect() as conn:
        row = conn.execute(select(transfers_out).where(
            transfers_out.c.transfer_id == transfer_id)).one()
    assert (row.kind, row.destination, row.issue_id) == ("escalate", "330500", issue["id"])
    reason = row.event["payload"]["reason"]
    assert decision["decision"] in reason and "王副县长" in reason and "2026-04-21" in reason
    assert NEXT in reason
    # a second press while the first is on its way is refused by the transfer itself
    assert_error(api.post("leader", url, {"issue": issue["id"]}), 409, "transfer_pending")
