"""并单 in the pure domain: a merge closes the follower and keeps what it was, the master's
answer reaches it, an unmerge gives it back, and the events alone rebuild every snapshot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from node.domain import merging
from node.domain.calendar import WorkCalendar
from node.domain.errors import Forbidden, RuleViolation, ValidationError
from node.domain.issue import Actor, ActorKind, Event, Issue, State
from node.domain.lifecycle import Assign, Resolve, Rules, Start, Triage, create, decide, evolve
from node.domain.lifecycle import submit as submit_issue
from tests.support.data import CODE_B, submit_cmd

RULES = Rules(calendar=WorkCalendar())
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")
NODE = "330522"


class Log:
    def __init__(self, n: int, code: str | None = None) -> None:
        cmd = submit_cmd(code) if code else submit_cmd()
        self.issue, first = submit_issue(cmd, issue_id=f"{NODE}-{n}",
                                         number=f"{NODE}-2026-{n:06d}", node=NODE,
                                         actor=STAFF, now=T0, rules=RULES)
        self.events: list[Event] = [first]

    def apply(self, event: Event) -> Issue:
        self.issue = evolve(self.issue, event)
        self.events.append(event)
        return self.issue

    def act(self, command: object, at: datetime = T0) -> Issue:
        return self.apply(decide(self.issue, command, actor=STAFF, now=at,  # type: ignore[arg-type]
                                 rules=RULES))

    def rebuilt(self) -> Issue:
        issue = create(self.events[0])
        for e in self.events[1:]:
            issue = evolve(issue, e)
        return issue


def test_merge_closes_the_follower_and_unmerge_restores_it() -> None:
    master, follower = Log(1), Log(2, CODE_B)
    follower.act(Triage(tags=("用电",)))
    before = follower.issue
    on_master, on_follower = merging.merge(master.issue, follower.issue, node=NODE,
                                           actor=STAFF, now=T0 + timedelta(hours=1))
    master.apply(on_master)
    closed = follower.apply(on_follower)
    assert master.issue.state is State.RECEIVED and master.issue.version == 2
    assert (closed.state, closed.outcome, closed.deadline) == (State.CLOSED, "merged", None)
    assert merging.is_merged_follower(closed)
    assert merging.active_followers(master.events) == [follower.issue.id]
    found = merging.master_of(follower.events)
    assert found is not None and found[0] == master.issue.id
    back_m, back_f = merging.unmerge(master.issue, closed, found[1], node=NODE,
                                     actor=STAFF, now=T0 + timedelta(hours=2))
    master.apply(back_m)
    restored = follower.apply(back_f)
    assert (restored.state, restored.deadline, restored.outcome, restored.closed_at) == (
        before.state, before.deadline, None, None)
    assert merging.active_followers(master.events) == []
    assert merging.master_of(follower.events) is None
    [link] = merging.links(master.events)
    assert link.unmerged_at == T0 + timedelta(hours=2) and link.unmerged_by == "staff:dispatcher"
    assert follower.rebuilt() == follower.issue and master.rebuilt() == master.issue


def test_the_masters_reply_reaches_a_merged_follower_once() -> None:
    master, follower = Log(1), Log(2, CODE_B)
    on_m, on_f = merging.merge(master.issue, follower.issue, node=NODE, actor=STAFF, now=T0)
    master.apply(on_m)
    follower.apply(on_f)
    for command in (Triage(tags=("用电",)), Assign(department="经信局"), Start()):
        event = decide(master.issue, command, actor=STAFF, now=T0, rules=RULES)
        assert merging.fan_out(event, evolve(master.issue, event), follower.issue,
                               now=T0) is None  # only the answer reaches it
        master.apply(event)
    resolve = decide(master.issue, Resolve(reply="已送电"), actor=STAFF, now=T0, rules=RULES)
    master.apply(resolve)
    caused = merging.fan_out(resolve, master.issue, follower.issue, now=T0)
    assert caused is not None and caused.kind == "merged_reply"
    answered = follower.apply(caused)
    assert (answered.state, answered.reply, answered.outcome) == (State.RESOLVED, "已送电",
                                                                   None)
    assert merging.fan_out(resolve, master.issue, answered, now=T0) is None
    assert follower.rebuilt() == answered
    with pytest.raises(RuleViolation):  # answered: no longer a merge to undo
        merging.unmerge(master.issue, answered, on_f.payload, node=NODE, actor=STAFF, now=T0)


def test_refusals() -> None:
    master, follower = Log(1), Log(2, CODE_B)
    with pytest.raises(ValidationError):
        merging.merge(master.issue, master.issue, node=NODE, actor=STAFF, now=T0)
    with pytest.raises(Forbidden):
        merging.merge(master.issue, replace(follower.issue, owner="330500"), node=NODE,
                      actor=STAFF, now=T0)
    for state in (State.RESOLVED, State.CLOSED, State.ESCALATED, State.REJECTED):
        with pytest.raises(RuleViolation):
            merging.merge(master.issue, replace(follower.issue, state=state), node=NODE,
                          actor=STAFF, now=T0)
        with pytest.raises(RuleViolation):
            merging.merge(replace(master.issue, state=state), follower.issue, node=NODE,
                          actor=STAFF, now=T0)


def test_unanswered_names_the_followers_an_answer_after_their_merge_must_reach() -> None:
    master, early, late, gone = Log(1), Log(2, CODE_B), Log(3, CODE_B), Log(4, CODE_B)
    for follower in (early, gone):
        on_m, on_f = merging.merge(master.issue, follower.issue, node=NODE, actor=STAFF,
                                   now=T0)
        master.apply(on_m)
        follower.apply(on_f)
    assert merging.unanswered(master.events) == []  # merged, not answered yet
    found = merging.master_of(gone.events)
    assert found is not None
    back_m, _ = merging.unmerge(master.issue, gone.issue, found[1], node=NODE, actor=STAFF,
                                now=T0)
    master.apply(back_m)
    for command in (Triage(tags=("用电",)), Assign(department="经信局"), Start()):
        master.act(command)
    resolve = decide(master.issue, Resolve(reply="已送电"), actor=STAFF, now=T0, rules=RULES)
    master.apply(resolve)
    # merged after the answer: it waits for the next one (merging needs an open master,
    # so build the event by hand as a replica would hold it)
    master.apply(Event(issue_id=master.issue.id, version=master.issue.version + 1,
                       kind=merging.MERGED, actor=STAFF, at=T0,
                       payload={"state": master.issue.state.value, "follower": late.issue.id,
                                "follower_number": late.issue.number, "note": None}))
    assert merging.unanswered(master.events) == [(early.issue.id, resolve)]
