"""From a story to the issue's events and its snapshot: fast, and checked against the domain.

`exact()` is the truth: the domain's own `submit()`, then `decide()` + `evolve()` for every
step — every text validated, every deadline computed on the working-day calendar. It costs
~45 µs per issue and ~20 µs per event, too slow for a million issues (~160 s of one core).

`fast()` produces the same events and the same snapshot at a fraction of that: it builds
each event's payload the way `decide()` does (the deadlines with the same calendar and
policy, `Rules.deadlines.for_tags` + `WorkCalendar.add_working_days`), but skips the
validation of texts the vocabulary already guarantees, and it applies all the changes
`evolve()` would make to the `create()`d first snapshot in one `dataclasses.replace`.

`check()` keeps the two honest: on a sample of every generated chunk (and on every long
history) it compares the fast events and snapshot with the exact ones, field by field,
and runs `node.domain.identity.check_snapshot` on the result. A difference is a
`FoldMismatch`, which stops the generation: a domain change that the fast path does not
follow cannot produce a store that the node itself would not have written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bench.citystore.scripts import Story
from node.domain.identity import check_snapshot
from node.domain.issue import (
    Action,
    ActorKind,
    ContactMethod,
    Deadline,
    DeadlineKind,
    Event,
    Issue,
    Rating,
    RevisitResult,
    State,
)
from node.domain.lifecycle import (
    TRANSITIONS,
    Assign,
    Close,
    Escalate,
    LadderUp,
    Rate,
    Receive,
    Reject,
    Resolve,
    Return,
    ReviewRejection,
    Revisit,
    Rules,
    Start,
    Supervise,
    Triage,
    Urge,
    create,
    decide,
    evolve,
    submit,
)

_KEEP = object()
A = Action
_VALUE: dict[State | Action | DeadlineKind, str] = {
    m: m.value for enum in (State, Action, DeadlineKind) for m in enum}


class FoldMismatch(Exception):
    """The fast fold disagrees with the domain: the generator must follow the domain."""


def exact(story: Story, rules: Rules) -> tuple[Issue, list[Event]]:
    """The domain's own submit / decide / evolve over the story."""
    issue, first = submit(story.submit, issue_id=story.issue_id, number=story.number,
                          node=story.origin, actor=story.submit_actor,
                          now=story.received_at, rules=rules)
    events = [first]
    for step in story.steps:
        event = decide(issue, step.command, actor=step.actor, now=step.at, rules=rules)
        issue = evolve(issue, event)
        events.append(event)
    return issue, events


def _ts(moment: datetime) -> str:
    return moment.isoformat()


_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_CST_OFFSET_S = 8 * 3600


class _Deadlines:
    """`lifecycle._new_deadline` without its checks: (payload, Deadline, warnings).

    A due moment depends only on the local (CST) day of the start and the number of working
    days, and the limits only on the tags: both are cached (a decade has ~3,650 days).
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._days: dict[tuple[str, ...], tuple[int, int, int]] = {}
        self._due: dict[tuple[int, int], tuple[datetime, str, tuple[str, ...]]] = {}

    def new(self, kind: DeadlineKind, tags: tuple[str, ...], now: datetime
            ) -> tuple[dict[str, str], Deadline, tuple[str, ...]]:
        days = self._days.get(tags)
        if days is None:
            d = self.rules.deadlines.for_tags(tags)
            days = self._days[tags] = (d.dispatch, d.resolve, d.review)
        n = days[0] if kind is DeadlineKind.DISPATCH else days[1] if (
            kind is DeadlineKind.RESOLVE) else days[2]
        day = (int(now.timestamp()) + _CST_OFFSET_S) // 86400 + _EPOCH_ORDINAL
        found = self._due.get((day, n))
        if found is None:
            computed = self.rules.calendar.add_working_days(now, n)
            found = self._due[(day, n)] = (computed.due, _ts(computed.due), computed.warnings)
        due, due_s, warnings = found
        payload = {"kind": _VALUE[kind], "start": _ts(now), "due": due_s}
        return payload, Deadline(kind=kind, start=now, due=due), warnings


class Fast:
    """`exact()`'s events and snapshot, built directly (one per process: it caches)."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.deadlines = _Deadlines(rules)

    def __call__(self, story: Story) -> tuple[Issue, list[Event]]:
        return _fast(story, self.rules, self.deadlines)


def _fast(story: Story, rules: Rules, deadlines: _Deadlines) -> tuple[Issue, list[Event]]:
    cmd = story.submit
    tags = tuple(dict.fromkeys(cmd.tags))
    now = story.received_at
    dl_payload, _, warnings = deadlines.new(DeadlineKind.DISPATCH, tags, now)
    payload: dict[str, Any] = {
        "number": story.number, "origin": story.origin, "owner": story.origin,
        "state": State.RECEIVED.value,
        "enterprise": {"name": cmd.enterprise_name, "credit_code": cmd.credit_code,
                       "contact_phone": cmd.contact_phone},
        "channel": cmd.channel.value, "title": cmd.title, "content": cmd.content,
        "tags": list(tags), "deadline": dl_payload,
    }
    if warnings:
        payload["calendar_warnings"] = list(warnings)
    first = Event(issue_id=story.issue_id, version=1, kind="submitted",
                  actor=story.submit_actor, at=now, payload=payload)
    base = create(first)
    events = [first]
    # What the snapshot looks like so far (only what the decisions read), and the changes.
    ch: dict[str, Any] = {"state": base.state, "deadline": base.deadline, "tags": base.tags,
                          "board": None, "ladder_step": 0, "urge_count": 0,
                          "reopen_count": 0, "supervision_count": 0}
    version = 1
    for step in story.steps:
        command, actor, now = step.command, step.actor, step.at
        state: State = ch["state"]
        p: dict[str, Any] = {}
        new: Any = _KEEP  # the new deadline: _KEEP, None or a DeadlineKind
        current: Deadline | None = ch["deadline"]
        tags = ch["tags"]
        match command:
            case Triage():
                action = A.TRIAGE
                tags = tuple(dict.fromkeys(command.tags))
                p["tags"] = list(tags)
                p["board"] = command.board
                p["note"] = command.note
                if state in (State.RETURNED, State.REOPENED) or current is None:
                    new = DeadlineKind.DISPATCH
                ch["tags"] = tags
                if command.board is not None:
                    ch["board"] = command.board
            case Assign():
                action = A.ASSIGN
                p["department"] = command.department
                p["board"] = command.board or ch["board"]
                p["note"] = command.note
                if current is None or current.kind is not DeadlineKind.RESOLVE:
                    new = DeadlineKind.RESOLVE
                ch["department"] = command.department
                ch["board"] = p["board"]
            case Start():
                action = A.START
                p["note"] = command.note
            case Resolve():
                action = A.RESOLVE
                p["reply"] = command.reply
                new = None
                ch["reply"] = command.reply
                ch["resolved_at"] = now
            case Reject():
                action = A.REJECT
                p["reason"] = command.reason
                new = DeadlineKind.REVIEW
                ch["rejection_reason"] = command.reason
                ch["rejected_by"] = actor.label()  # who may not review it (lifecycle.py)
            case ReviewRejection():
                p["comment"] = command.comment
                if command.confirm:
                    action = A.CONFIRM_REJECTION
                    new = None
                    ch["closed_at"] = now
                    ch["outcome"] = "rejected"
                else:
                    action = A.OVERTURN_REJECTION
                    new = DeadlineKind.DISPATCH
                    ch["rejection_reason"] = None
                    ch["rejected_by"] = None
            case Rate():
                p["rating"] = command.rating.value
                p["comment"] = command.comment
                ch["rating"] = command.rating
                ch["rating_comment"] = command.comment
                if command.rating is Rating.UNSATISFIED:
                    action = A.REOPEN
                    new = DeadlineKind.DISPATCH
                    ch["reopen_count"] += 1
                else:
                    action = A.ACCEPT
                    new = None
                    ch["closed_at"] = now
                    ch["outcome"] = "resolved"
            case Close():
                action = A.CLOSE
                p["note"] = command.note
                new = None
                ch["closed_at"] = now
                ch["outcome"] = "resolved"
            case Urge():
                action = A.URGE
                p["note"] = command.note
                ch["urge_count"] += 1
                if actor.kind is ActorKind.ENTERPRISE:
                    ch["last_enterprise_urge_at"] = now
            case LadderUp():
                action = A.LADDER_UP
                nxt = ch["ladder_step"] + 1
                p["note"] = command.note
                if command.unit is not None:
                    p["unit"] = command.unit
                ch["ladder_unit"] = command.unit  # as evolve: the step's unit, or none
                p["from_step"] = ch["ladder_step"]
                p["to_step"] = nxt
                p["step_name"] = rules.ladder[nxt]
                ch["ladder_step"] = nxt
                if current is not None:  # the step's holder gets its own time
                    new = current.kind
            case Revisit():
                p["result"] = command.result.value
                p["note"] = command.note
                if command.contact is not None:
                    p["contact"] = ContactMethod(command.contact).value
                if command.sample is not None:
                    p["sample"] = command.sample
                ch["revisit_result"] = command.result
                if command.result is RevisitResult.UNSATISFIED:  # reopened: from triage again
                    action = A.REVISIT_REOPEN
                    new = DeadlineKind.DISPATCH
                    ch["reopen_count"] += 1
                    ch["closed_at"] = None
                    ch["outcome"] = None
                else:
                    action = A.REVISIT
            case Escalate():
                action = A.ESCALATE
                p["to"] = command.to
                p["reason"] = command.reason
                new = None
                ch["owner"] = command.to
            case Return():
                action = A.RETURN
                p["to"] = command.to
                p["instructions"] = command.instructions
                new = DeadlineKind.DISPATCH
                ch["owner"] = command.to
            case Supervise():
                action = A.SUPERVISE
                p["issued_by"] = command.issued_by
                p["note"] = command.note
                ch["supervision_count"] += 1
            case Receive():
                action = A.RECEIVE
                p["came_from"] = command.came_from
                new = DeadlineKind.DISPATCH
                ch["came_from"] = command.came_from
                ch["ladder_step"] = 0
            case _:  # pragma: no cover - every command of the lifecycle is above
                raise FoldMismatch(f"no fast fold for {command!r}")
        target = TRANSITIONS[(state, action)]
        p["state"] = _VALUE[target]
        if new is not _KEEP:
            if new is None:
                p["deadline"] = None
                ch["deadline"] = None
            else:
                dl_payload, deadline, warnings = deadlines.new(new, tags, now)
                p["deadline"] = dl_payload
                ch["deadline"] = deadline
                if new is DeadlineKind.RESOLVE:
                    ch["resolve_due"] = deadline.due
                if warnings:
                    p["calendar_warnings"] = list(warnings)
        version += 1
        ch["state"] = target
        events.append(Event(issue_id=story.issue_id, version=version, kind=_VALUE[action],
                            actor=actor, at=now, payload=p))
    ch["version"] = version
    ch["updated_at"] = events[-1].at
    return replace(base, **ch), events


def check(story: Story, rules: Rules, issue: Issue, events: list[Event]) -> None:
    """Raise FoldMismatch unless `fast()` gave what the domain gives."""
    want_issue, want_events = exact(story, rules)
    if len(want_events) != len(events):
        raise FoldMismatch(f"{story.issue_id}: {len(events)} events, the domain made "
                           f"{len(want_events)}")
    for got, want in zip(events, want_events, strict=True):
        if got != want:
            diff = sorted(k for k in set(got.payload) | set(want.payload)
                          if got.payload.get(k) != want.payload.get(k))
            raise FoldMismatch(f"{story.issue_id} v{want.version} {want.kind}: event differs "
                               f"(payload keys {diff})")
    if issue != want_issue:
        fields = [f for f in Issue.__slots__
                  if getattr(issue, f) != getattr(want_issue, f)]
        raise FoldMismatch(f"{story.issue_id}: snapshot differs in {fields}")
    check_snapshot(issue)

