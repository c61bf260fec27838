"""Revisit acceptance (回访验收) through the JSON API and the store: one sample per period, a
leader's re-draw with its reason next to the first, the supervision office's tasks with
deadlines on the real calendar, results as revisit events (不满意 reopens), overdue tasks,
the audit of a draw from the issue events, and the refusals (nothing written)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from node.app.ports import ConstraintViolation
from node.domain.errors import RuleViolation
from node.domain.issue import ContactMethod, RevisitResult
from node.domain.lifecycle import Assign, Resolve, Start, Triage
from node.runtime import Node
from tests.support.api import Api, Json, assert_error, error_fields
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.db import table_counts

#: Wednesday 1 April 2026, 10:00 CST: the March sample is drawn the day after the month.
DRAW_AT = datetime.fromisoformat("2026-04-01T10:00:00+08:00")
#: five working days later, not counting the draw's own day: Thu 2, Fri 3, (Sat 4, Sun 5
#: and Mon 6 April are the 清明 holiday), Tue 7, Wed 8, Thu 9 → 24:00 CST on Thursday 9 April
DUE = datetime.fromisoformat("2026-04-10T00:00:00+08:00")


def _resolved(api: Api, n: int) -> list[str]:
    keys = []
    for i in range(n):
        key = api.submit(title=f"回访诉求{i}")["id"]
        api.resolved(key)
        keys.append(key)
    return keys


def _draw(api: Api, who: str = "leader", **body: object) -> Json:
    resp = api.post(who, "/revisit-samples", {"period": "2026-03", **body})
    assert resp.status_code == 201, resp.text
    out: Json = resp.json()
    return out


def _tasks(api: Api, **params: object) -> Json:
    resp = api.get("leader", "/revisit-tasks", **params)
    assert resp.status_code == 200, resp.text
    out: Json = resp.json()
    return out


def _record(api: Api, task: int, result: str, contact: str = "phone",
            note: str | None = None, who: str = "leader") -> Json:
    body: Json = {"result": result, "contact": contact}
    if note is not None:
        body["note"] = note
    resp = api.post(who, f"/revisit-tasks/{task}/result", body)
    assert resp.status_code == 200, resp.text
    out: Json = resp.json()
    return out


# --------------------------------------------------------------------------- one per period


def test_a_second_draw_is_refused_and_writes_nothing(api: Api, api_node: Node,
                                                     clock: FakeClock) -> None:
    _resolved(api, 5)
    clock.set(DRAW_AT)
    first = _draw(api, share=0.4)
    assert (first["draw"], first["reason"], len(first["selected"])) == (1, None, 2)
    before = table_counts(api_node.engine)
    for who in ("leader", "admin"):
        details = assert_error(api.post(who, "/revisit-samples", {"period": "2026-03"}),
                               409, "sample_already_drawn")
        assert details == {"period": "2026-03", "sample_id": first["id"]}
    assert table_counts(api_node.engine) == before
    listed = api.get("viewer", "/revisit-samples", period="2026-03").json()
    assert [d["id"] for d in listed["draws"]] == [first["id"]]


def test_a_leaders_redraw_with_a_reason_is_kept_next_to_the_first(api: Api,
                                                                   clock: FakeClock) -> None:
    keys = _resolved(api, 5)
    clock.set(DRAW_AT)
    first = _draw(api, share=0.4)
    done = _tasks(api, sample=first["id"])["items"][0]
    _record(api, done["id"], "satisfied")
    assert_error(api.post("dispatcher", "/revisit-samples",
                          {"period": "2026-03", "reason": "抽样框有误"}), 403, "forbidden")
    second = _draw(api, share=0.4, reason="首次抽样遗漏了月末办结的诉求，经领导批准重新抽样")
    assert (second["draw"], second["redraw_of"]) == (2, first["id"])
    assert second["reason"] == "首次抽样遗漏了月末办结的诉求，经领导批准重新抽样"
    assert second["seed"] != first["seed"] and sorted(second["frame"]) == sorted(keys)

    listed = api.get("leader", "/revisit-samples", period="2026-03").json()["draws"]
    assert [(d["id"], d["draw"], d["reason"]) for d in listed] == [
        (first["id"], 1, None), (second["id"], 2, second["reason"])]
    assert listed[0]["selected"] == first["selected"]  # the first draw is kept as it was
    # the first draw's open task is superseded; its done task stays done
    assert listed[0]["progress"] == {"total": 2, "done": 1, "open": 0, "overdue": 0,
                                     "superseded": 1}
    assert listed[1]["progress"]["open"] == len(second["selected"]) == 2
    # a third draw still needs a reason, and a blank one is none
    for body in ({"period": "2026-03"}, {"period": "2026-03", "reason": "  "}):
        assert_error(api.post("leader", "/revisit-samples", body), 409, "sample_already_drawn")


def test_a_reason_for_a_first_draw_is_refused(api: Api, api_node: Node) -> None:
    before = table_counts(api_node.engine)
    assert_error(api.post("leader", "/revisit-samples",
                          {"period": "2026-03", "reason": "重抽"}), 409, "redraw_without_sample")
    details = assert_error(api.post("leader", "/revisit-samples",
                                    {"period": "2026-03", "reason": "理" * 1001}), 422,
                           "invalid_input")
    assert "reason" in error_fields(details)
    assert table_counts(api_node.engine) == before


def test_periods_are_independent(api: Api, clock: FakeClock) -> None:
    _resolved(api, 1)
    clock.set(DRAW_AT)
    _draw(api)
    other = api.post("leader", "/revisit-samples", {"period": "2026-04"})
    assert other.status_code == 201, other.text
    assert other.json()["draw"] == 1


# --------------------------------------------------------------------------- tasks


def test_each_sampled_issue_is_a_task_due_in_five_working_days(api: Api,
                                                               clock: FakeClock) -> None:
    _resolved(api, 3)
    clock.set(DRAW_AT)
    drawn = _draw(api, share=1)
    tasks = _tasks(api, sample=drawn["id"])
    assert sorted(t["issue_id"] for t in tasks["items"]) == sorted(drawn["selected"])
    assert {datetime.fromisoformat(t["due"]) for t in tasks["items"]} == {DUE}
    assert {(t["state"], t["overdue"]) for t in tasks["items"]} == {("open", False)}
    assert tasks["counts"] == {"total": 3, "done": 0, "open": 3, "overdue": 0,
                               "superseded": 0}
    # each sampled issue carries the draw on its timeline (what replicates to the city)
    issue = api.issue(drawn["selected"][0])
    mark = issue["timeline"][-1]
    assert mark["kind"] == "revisit_sampled" and issue["state"] == "resolved"
    assert (mark["payload"]["sample"], mark["payload"]["seed"], mark["payload"]["period"]) == (
        drawn["id"], drawn["seed"], "2026-03")


def test_an_overdue_task_is_visible(api: Api, clock: FakeClock) -> None:
    _resolved(api, 2)
    clock.set(DRAW_AT)
    drawn = _draw(api, share=1)
    first, second = _tasks(api, sample=drawn["id"])["items"]
    _record(api, first["id"], "basically_ok", contact="visit")
    clock.set(DUE - timedelta(seconds=1))
    assert _tasks(api, sample=drawn["id"])["counts"]["overdue"] == 0
    clock.set(DUE)
    tasks = _tasks(api, period="2026-03")
    late = {t["id"]: t["overdue"] for t in tasks["items"]}
    assert late == {first["id"]: False, second["id"]: True}
    assert tasks["counts"] == {"total": 2, "done": 1, "open": 1, "overdue": 1,
                               "superseded": 0}


def test_results_are_revisit_events_and_unsatisfied_reopens(api: Api,
                                                             clock: FakeClock) -> None:
    _resolved(api, 3)
    clock.set(DRAW_AT)
    drawn = _draw(api, share=1)
    a, b, c = _tasks(api, sample=drawn["id"])["items"]

    done = _record(api, a["id"], "satisfied", contact="phone", note="企业表示问题已解决")
    assert (done["state"], done["result"], done["contact"], done["attempts"]) == (
        "done", "satisfied", "phone", 1)
    event = api.issue(a["issue_id"])["timeline"][-1]
    assert (event["kind"], event["payload"]["result"], event["payload"]["contact"],
            event["payload"]["note"], event["payload"]["sample"]) == (
        "revisit", "satisfied", "phone", "企业表示问题已解决", drawn["id"])
    assert api.issue(a["issue_id"])["state"] == "resolved"

    reopened = _record(api, b["id"], "unsatisfied", contact="sms", note="用地指标仍未下达")
    assert (reopened["state"], reopened["issue_state"]) == ("done", "reopened")
    issue = api.issue(b["issue_id"])
    assert (issue["state"], issue["revisit_result"]) == ("reopened", "unsatisfied")
    assert issue["timeline"][-1]["kind"] == "revisit_reopen"
    assert issue["deadline"]["kind"] == "dispatch"  # handled again, on a new clock
    api.triaged(b["issue_id"])  # and it can be handled again

    attempt = _record(api, c["id"], "unreachable", contact="phone")
    assert (attempt["state"], attempt["attempts"], attempt["result"]) == ("open", 1,
                                                                           "unreachable")
    again = _record(api, c["id"], "satisfied", contact="visit")
    assert (again["state"], again["attempts"]) == ("done", 2)

    audit = api.get("viewer", "/revisit-audit", node="330522", period="2026-03").json()
    (only,) = audit["draws"]
    assert only["problems"] == [] and only["verified"], only
    assert (only["done"], only["results"]) == (3, {a["issue_id"]: "satisfied",
                                                   b["issue_id"]: "unsatisfied",
                                                   c["issue_id"]: "satisfied"})


def test_a_closed_issue_reopens_on_an_unsatisfied_revisit(api: Api, clock: FakeClock) -> None:
    key = _resolved(api, 1)[0]
    api.act("dispatcher", key, "close")
    clock.set(DRAW_AT)
    drawn = _draw(api, share=1)
    assert drawn["selected"] == [key]
    (task,) = _tasks(api, sample=drawn["id"])["items"]
    _record(api, task["id"], "unsatisfied")
    issue = api.issue(key)
    assert (issue["state"], issue["closed_at"]) == ("reopened", None)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("body", "field"),
    [({"result": "great", "contact": "phone"}, "result"),
     ({"result": "satisfied", "contact": "telepathy"}, "contact"),
     ({"result": "satisfied"}, "contact"),
     ({"contact": "phone"}, "result"),
     ({"result": "satisfied", "contact": "phone", "note": "x" * 2001}, "note"),
     ({"result": "satisfied", "contact": "phone", "extra": 1}, "extra")],
    ids=["result", "contact", "no-contact", "no-result", "note-too-long", "unknown-field"],
)
def test_a_bad_result_is_422_and_changes_nothing(api: Api, api_node: Node, clock: FakeClock,
                                                 body: Json, field: str) -> None:
    _resolved(api, 1)
    clock.set(DRAW_AT)
    (task,) = _tasks(api, sample=_draw(api, share=1)["id"])["items"]
    before = table_counts(api_node.engine)
    details = assert_error(api.post("leader", f"/revisit-tasks/{task['id']}/result", body),
                           422, "invalid_input")
    assert field in error_fields(details)
    assert table_counts(api_node.engine) == before


def test_task_refusals(api: Api, api_node: Node, clock: FakeClock) -> None:
    key = _resolved(api, 1)[0]
    clock.set(DRAW_AT)
    (task,) = _tasks(api, sample=_draw(api, share=1)["id"])["items"]
    ok = {"result": "satisfied", "contact": "phone"}
    before = table_counts(api_node.engine), api.snapshot(key)
    for who in ("dispatcher", "handler", "viewer", "ent_a"):
        assert_error(api.post(who, f"/revisit-tasks/{task['id']}/result", ok), 403,
                     "forbidden")
    assert_error(api.post("leader", "/revisit-tasks/999/result", ok), 404, "not_found")
    assert_error(api.post("leader", "/revisit-tasks/0/result", ok), 422, "invalid_input")
    assert_error(api.get("leader", "/revisit-tasks", sample=999), 404, "not_found")
    assert_error(api.get("ent_a", "/revisit-tasks"), 403, "forbidden")
    assert_error(api.get("viewer", "/revisit-tasks"), 403, "forbidden")
    for params in ({"period": "2026-13"}, {"period": "March"}, {}):
        assert_error(api.get("leader", "/revisit-samples", **params), 422, "invalid_input")
    assert_error(api.get("leader", "/revisit-audit", node="33052", period="2026-03"), 422,
                 "invalid_input")
    assert (table_counts(api_node.engine), api.snapshot(key)) == before
    _record(api, task["id"], "satisfied")
    details = assert_error(api.post("leader", f"/revisit-tasks/{task['id']}/result", ok), 409,
                           "revisit_task_closed")
    assert details == {"task": task["id"], "state": "done"}


# --------------------------------------------------------------------------- store (both)


def test_the_store_keeps_one_first_draw_per_period(node: Node, clock: FakeClock) -> None:
    """On SQLite and PostgreSQL: the draws, the tasks and the unique (node, period, draw)."""
    issues = node.services.issues
    keys = []
    for i in range(4):
        issue, _ = issues.submit(LEADER, submit_cmd(title=f"诉求{i}"))
        for command in (Triage(tags=("用地",)), Assign(department="经信局"), Start(),
                        Resolve(reply="已办结")):
            issues.act(LEADER, issue.id, command)
        keys.append(issue.id)
    clock.set(DRAW_AT)
    revisits = node.services.revisits
    assert revisits is not None
    first = revisits.draw(LEADER, period="2026-03", share=0.5, salt="a")
    with pytest.raises(RuleViolation) as info:
        revisits.draw(LEADER, period="2026-03", share=0.5, salt="b")
    assert info.value.code == "sample_already_drawn"
    second = revisits.draw(LEADER, period="2026-03", share=0.5, salt="c", reason="重抽")
    assert [d.id for d, _ in revisits.draws(LEADER, "2026-03")] == [first.id, second.id]
    tasks = revisits.tasks(LEADER, period="2026-03")
    assert sorted((t.sample_id, t.state) for t in tasks) == sorted(
        [(first.id, "superseded")] * 2 + [(second.id, "open")] * 2)
    done = revisits.record(LEADER, next(t.id for t in tasks if t.state == "open"),
                           result=RevisitResult.UNSATISFIED, contact=ContactMethod.VISIT)
    assert (done.state, done.issue_state.value) == ("done", "reopened")
    # two first draws at once: the store's unique key lets only one in
    with pytest.raises(ConstraintViolation), revisits.store.write() as unit:
        unit.add_draw(node="330522", period="2026-05", sample=first.sample, actor="x",
                      at=DRAW_AT, draw=1, reason=None, redraw_of=None)
        unit.add_draw(node="330522", period="2026-05", sample=first.sample, actor="x",
                      at=DRAW_AT, draw=1, reason=None, redraw_of=None)
    assert revisits.draws(LEADER, "2026-05") == []
    (audit,) = [a for a in revisits.audit(LEADER, node="330522", period="2026-03")
                if a.mark.sample == second.id]
    assert audit.verified and len(audit.done) == 1

