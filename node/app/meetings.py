"""The joint meeting (联席会议): its next date, its agenda, and its decisions.

How it works: `agenda` reads the clock once, takes the meeting's date (given, or the first
working Monday of next month on the node's calendar, node/domain/meetings.py) and lists
every open issue this node owns at the ladder step the configuration names (default
`joint_meeting`), each with the decision already recorded for that meeting, if any.
`decide` records, in one transaction, the leader in charge, the decision and a deadline for
an issue that is on the agenda now; a second decision for the same meeting and issue is
refused (`meeting_decision_exists`), also when two arrive at once (the store's unique key).
`escalate` is "what the meeting cannot solve goes up in one step": the issue on the agenda
with its decision recorded is escalated to the next tier through the escalation use case
(node/app/forwarding.py), the decision — leader in charge, what, by when — as the reason,
so the decision travels with the issue to the city.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from node.app.forwarding import Outcome
from node.app.policy import JOINT_MEETING, VIEW_POOL, Principal, not_found, require
from node.app.ports import Clock, ConstraintViolation, MeetingStore
from node.domain.calendar import CST
from node.domain.errors import Conflict, RuleViolation
from node.domain.issue import Issue
from node.domain.lifecycle import Rules
from node.domain.meetings import DEFAULT_STEP, Decision, next_meeting, on_agenda


class Escalation(Protocol):
    """The escalation use case (node/app/forwarding.py Forwarding.escalate)."""

    def escalate(self, principal: Principal, key: str, reason: str) -> Outcome: ...


def escalation_reason(d: Decision) -> str:
    """The reason an escalation from the meeting carries: its decision."""
    return (f"联席会议（{d.meeting.isoformat()}）未能解决，提请上级协调。会议决定：{d.decision}"
            f"；牵头领导：{d.leader}；时限：{d.deadline.isoformat()}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Agenda:
    meeting: date
    step: str
    items: list[tuple[Issue, Decision | None]]


class MeetingService:
    def __init__(self, *, store: MeetingStore, node: str, rules: Rules, clock: Clock,
                 step: str = DEFAULT_STEP) -> None:
        self.store = store
        self.node = node
        self.rules = rules
        self.clock = clock
        self.step = step

    def _step_index(self) -> int:
        if self.step not in self.rules.ladder:
            raise RuleViolation("meeting_step_not_in_ladder", step=self.step)
        return self.rules.ladder.index(self.step)

    def agenda(self, principal: Principal, meeting: date | None = None) -> Agenda:
        require(principal, VIEW_POOL)
        step = self._step_index()
        if meeting is None:
            meeting = next_meeting(self.clock.now().astimezone(CST).date(),
                                   self.rules.calendar)
        with self.store.read() as unit:
            decided = {d.issue_id: d for d in unit.decisions(self.node, meeting)}
            items = sorted((i for i in unit.all_issues()
                            if on_agenda(i, node=self.node, step=step)),
                           key=lambda i: i.number)
        return Agenda(meeting=meeting, step=self.step,
                      items=[(i, decided.get(i.id)) for i in items])

    def decide(self, principal: Principal, meeting: date, key: str, *, leader: str,
               decision: str, deadline: date) -> Decision:
        require(principal, JOINT_MEETING)
        step = self._step_index()
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                issue = unit.load_issue(key)
                if issue is None:
                    raise not_found(key)
                if not on_agenda(issue, node=self.node, step=step):
                    raise RuleViolation("meeting_not_on_agenda", issue=issue.number)
                made = Decision.checked(meeting=meeting, issue_id=issue.id, leader=leader,
                                        decision=decision, deadline=deadline)
                if any(d.issue_id == issue.id for d in unit.decisions(self.node, meeting)):
                    raise Conflict("meeting_decision_exists", issue=issue.number)
                unit.add_decision(made, node=self.node, actor=principal.actor.label(), at=now)
        except ConstraintViolation:
            raise Conflict("meeting_decision_exists", issue=key) from None
        return made

    def escalate(self, principal: Principal, meeting: date, key: str, *,
                 via: Escalation) -> Outcome:
        """Escalate an issue the meeting decided on but cannot solve, its decision as the
        reason (the outcome of `via.escalate`). Only an issue on the agenda with a
        decision of that meeting: `meeting_not_on_agenda`, `meeting_no_decision`."""
        require(principal, JOINT_MEETING)
        step = self._step_index()
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            if not on_agenda(issue, node=self.node, step=step):
                raise RuleViolation("meeting_not_on_agenda", issue=issue.number)
            decision = next((d for d in unit.decisions(self.node, meeting)
                             if d.issue_id == issue.id), None)
        if decision is None:
            raise RuleViolation("meeting_no_decision", issue=issue.number,
                                meeting=meeting.isoformat())
        return via.escalate(principal, issue.id, escalation_reason(decision))
