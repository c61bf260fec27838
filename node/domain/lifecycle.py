"""The issue lifecycle: one transitions table, `decide` (command → event) and `evolve`.

How it works:

* `TRANSITIONS` maps every allowed (state, action) pair to the resulting state. Nothing
  else decides legality: an action missing from the table for the current state raises
  `IllegalTransition`, which names both. Actions that do not move the state (urge, ladder,
  revisit) map a state to itself, so the table is also the list of where they are allowed.
* `decide(issue, command, ...)` validates the command, looks the pair up, applies the
  business rules (urge interval, ladder length, deadlines on the working-day calendar) and
  returns exactly one `Event` carrying everything needed to apply it — including computed
  deadlines — so that applying never needs the calendar or the configuration.
* `evolve(issue, event)` is the only way a snapshot changes. It is deterministic and total
  over the event kinds, so a replica at another tier can rebuild an issue from its events.

The module is pure: `now` is passed in, nothing is read from the clock or any store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from node.domain.calendar import WorkCalendar
from node.domain.channels import check_channel_fields
from node.domain.deadlines import DeadlinePolicy, Light, light
from node.domain.errors import IllegalTransition, RuleViolation
from node.domain.issue import (
    Action,
    Actor,
    ActorKind,
    Channel,
    ContactMethod,
    Deadline,
    DeadlineKind,
    Enterprise,
    Event,
    Issue,
    Rating,
    RevisitResult,
    State,
    SubjectKind,
    with_changes,
)
from node.domain.merging import MERGE_KINDS, merge_changes
from node.domain.validation import (
    MAX_COMMENT,
    MAX_CONTENT,
    MAX_NAME,
    MAX_ORG_UNIT,
    MAX_REASON,
    MAX_REPLY,
    MAX_TITLE,
    check_text,
    validate_credit_code,
    validate_division_code,
    validate_phone,
    validate_tags,
)

S = State
A = Action

_ACTIVE = (S.RECEIVED, S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS)

#: The whole lifecycle. (state, action) → next state; absent pairs are illegal.
TRANSITIONS: Mapping[tuple[State, Action], State] = {
    **{(s, A.TRIAGE): S.TRIAGED for s in (S.RECEIVED, S.TRIAGED, S.RETURNED, S.REOPENED)},
    **{(s, A.ASSIGN): S.ASSIGNED for s in (S.TRIAGED, S.ASSIGNED, S.REOPENED)},
    (S.ASSIGNED, A.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    **{(s, A.REJECT): S.REJECTED for s in (*_ACTIVE, S.RETURNED, S.REOPENED)},
    (S.REJECTED, A.CONFIRM_REJECTION): S.CLOSED,
    (S.REJECTED, A.OVERTURN_REJECTION): S.TRIAGED,
    (S.RESOLVED, A.ACCEPT): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    **{
        (s, A.URGE): s
        for s in (*_ACTIVE, S.RETURNED, S.REJECTED, S.REOPENED)
    },
    **{(s, A.LADDER_UP): s for s in (S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED)},
    **{(s, A.REVISIT): s for s in (S.RESOLVED, S.CLOSED)},
    **{(s, A.REVISIT_REOPEN): S.REOPENED for s in (S.RESOLVED, S.CLOSED)},
    **{(s, A.REVISIT_SAMPLED): s for s in (S.RESOLVED, S.CLOSED)},
    **{(s, A.ESCALATE): S.ESCALATED for s in (*_ACTIVE, S.RETURNED, S.REOPENED)},
    **{(s, A.RETURN): S.RETURNED for s in _ACTIVE},
    (S.ESCALATED, A.RECEIVE): S.RECEIVED,
    **{(s, A.SUPERVISE): s for s in (*_ACTIVE, S.RETURNED, S.REJECTED, S.REOPENED)},
    # a file on the issue (node/domain/attachments.py): wherever the owner holds it
    **{(s, A.ATTACHMENT_ADDED): s for s in S if s is not S.ESCALATED},
}

DEFAULT_LADDER: tuple[str, ...] = ("board", "service_centre", "catch_all_office", "joint_meeting")
URGE_INTERVAL = timedelta(hours=24)


def next_state(state: State, action: Action) -> State:
    """The state after `action`, or `IllegalTransition` naming the refused pair."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state.value, action.value) from None


#: The steps only an enterprise's own issue has: a common issue (共性问题) has nobody to
#: urge for it or to rate its answer, so these are refused on it in every state.
ENTERPRISE_ONLY: frozenset[Action] = frozenset({A.URGE, A.ACCEPT, A.REOPEN})


def allowed_actions(state: State,
                    subject_kind: SubjectKind = SubjectKind.ENTERPRISE) -> tuple[Action, ...]:
    common = subject_kind is not SubjectKind.ENTERPRISE
    return tuple(a for a in Action if (state, a) in TRANSITIONS
                 and not (common and a in ENTERPRISE_ONLY))


def check_subject(subject_kind: SubjectKind, action: Action) -> None:
    """Refuse an enterprise-only step on a common issue (`common_issue_enterprise_only`)."""
    if subject_kind is not SubjectKind.ENTERPRISE and action in ENTERPRISE_ONLY:
        raise RuleViolation("common_issue_enterprise_only", action=action.value,
                            subject_kind=subject_kind.value)


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, kw_only=True, slots=True)
class Rules:
    """The per-node configuration the decisions depend on."""

    calendar: WorkCalendar
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    ladder: tuple[str, ...] = DEFAULT_LADDER
    urge_interval: timedelta = URGE_INTERVAL


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, kw_only=True, slots=True)
class Submit:
    enterprise_name: str
    credit_code: str
    contact_phone: str
    channel: Channel
    title: str
    content: str
    tags: tuple[str, ...] = ()
    #: 共性问题: an industry, park or region; then `enterprise_name` is its name and the
    #: credit code and phone are not asked for (and ignored)
    subject_kind: SubjectKind = SubjectKind.ENTERPRISE
    #: the channel's own fields (checked against the node's channel spec by the caller)
    channel_fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Triage:
    tags: tuple[str, ...]
    board: str | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Assign:
    department: str
    board: str | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Start:
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolve:
    reply: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Reject:
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewRejection:
    confirm: bool
    comment: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Rate:
    rating: Rating
    comment: str | None = None
    #: a rating staff took from the enterprise (a phone revisit) and recorded for it: the
    #: event's actor is the staff member, its payload says `recorded_by_staff` and how
    #: (node/app/staff_ratings.py; the revisit permission)
    recorded_via: ContactMethod | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Close:
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Urge:
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LadderUp:
    note: str | None = None
    #: the unit of the next step's queue (node/domain/units.py `step_unit`), if known
    unit: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Revisit:
    result: RevisitResult
    note: str | None = None
    #: how the enterprise was reached, and the revisit task's sample (node/app/revisits.py)
    contact: ContactMethod | None = None
    sample: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkSampled:
    """Drawn into a revisit sample: `mark` names the draw (node/domain/revisits.py `Mark`)."""

    mark: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Escalate:
    to: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Return:
    to: str
    instructions: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Supervise:
    """督办: a higher tier presses the owner; recorded by the owner with the issuer."""

    issued_by: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Receive:
    """At the parent: take over an issue escalated by the child `came_from`."""

    came_from: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AddAttachment:
    """A file recorded on the issue: `attachment` is node/domain/attachments.payload_of's
    metadata (never the bytes)."""

    attachment: Mapping[str, Any]


Command = (
    Triage
    | Assign
    | Start
    | Resolve
    | Reject
    | ReviewRejection
    | Rate
    | Close
    | Urge
    | LadderUp
    | Revisit
    | MarkSampled
    | Escalate
    | Return
    | Receive
    | Supervise
    | AddAttachment
)


def action_of(command: Command) -> Action:
    match command:
        case Triage():
            return A.TRIAGE
        case Assign():
            return A.ASSIGN
        case Start():
            return A.START
        case Resolve():
            return A.RESOLVE
        case Reject():
            return A.REJECT
        case ReviewRejection(confirm=confirm):
            return A.CONFIRM_REJECTION if confirm else A.OVERTURN_REJECTION
        case Rate(rating=rating):
            return A.REOPEN if rating is Rating.UNSATISFIED else A.ACCEPT
        case Close():
            return A.CLOSE
        case Urge():
            return A.URGE
        case LadderUp():
            return A.LADDER_UP
        case Revisit(result=result):
            return A.REVISIT_REOPEN if result is RevisitResult.UNSATISFIED else A.REVISIT
        case MarkSampled():
            return A.REVISIT_SAMPLED
        case Escalate():
            return A.ESCALATE
        case Return():
            return A.RETURN
        case Receive():
            return A.RECEIVE
        case Supervise():
            return A.SUPERVISE
        case AddAttachment():
            return A.ATTACHMENT_ADDED
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover


# --------------------------------------------------------------------------- helpers


def ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.isoformat()


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _deadline_payload(deadline: Deadline | None) -> dict[str, str] | None:
    if deadline is None:
        return None
    return {"kind": deadline.kind.value, "start": ts(deadline.start), "due": ts(deadline.due)}


def _deadline_from(payload: Mapping[str, str] | None) -> Deadline | None:
    if payload is None:
        return None
    return Deadline(
        kind=DeadlineKind(payload["kind"]),
        start=parse_ts(payload["start"]),
        due=parse_ts(payload["due"]),
    )


def _new_deadline(
    kind: DeadlineKind, tags: tuple[str, ...], now: datetime, rules: Rules,
    channel: str | None = None,
) -> tuple[Deadline, tuple[str, ...]]:
    days = rules.deadlines.for_tags(tags, channel)
    n = {
        DeadlineKind.DISPATCH: days.dispatch,
        DeadlineKind.RESOLVE: days.resolve,
        DeadlineKind.REVIEW: days.review,
    }[kind]
    computed = rules.calendar.add_working_days(now, n)
    return Deadline(kind=kind, start=now, due=computed.due), computed.warnings


def _note(value: str | None, field_name: str = "note") -> str | None:
    return check_text(field_name, value, max_len=MAX_COMMENT, required=False)


# --------------------------------------------------------------------------- creation


def submit(
    command: Submit,
    *,
    issue_id: str,
    number: str,
    node: str,
    actor: Actor,
    now: datetime,
    rules: Rules,
) -> tuple[Issue, Event]:
    """Validate a new issue and produce its first event (version 1).

    A common issue (`subject_kind` other than enterprise) carries its subject's name in
    `enterprise.name` and no credit code or phone; the event names its kind. Both new keys
    are written only when they say something, so an enterprise's event is as before."""
    subject = SubjectKind(command.subject_kind)
    if subject is SubjectKind.ENTERPRISE:
        enterprise = Enterprise(
            name=_req(check_text("enterprise_name", command.enterprise_name, max_len=MAX_NAME)),
            credit_code=validate_credit_code(command.credit_code),
            contact_phone=validate_phone(command.contact_phone, "contact_phone"),
        )
    else:
        enterprise = Enterprise(
            name=_req(check_text("subject_name", command.enterprise_name, max_len=MAX_NAME)),
            credit_code="", contact_phone="")
    channel_fields = check_channel_fields(command.channel_fields)
    title = _req(check_text("title", command.title, max_len=MAX_TITLE))
    content = _req(check_text("content", command.content, max_len=MAX_CONTENT))
    tags = validate_tags(command.tags)
    validate_division_code(node)
    deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, tags, now, rules,
                                       command.channel)
    payload: dict[str, Any] = {
        "number": number,
        "origin": node,
        "owner": node,
        "state": S.RECEIVED.value,
        "enterprise": {
            "name": enterprise.name,
            "credit_code": enterprise.credit_code,
            "contact_phone": enterprise.contact_phone,
        },
        "channel": command.channel.value,
        "title": title,
        "content": content,
        "tags": list(tags),
        "deadline": _deadline_payload(deadline),
    }
    if subject is not SubjectKind.ENTERPRISE:
        payload["subject_kind"] = subject.value
    if channel_fields:
        payload["channel_fields"] = dict(channel_fields)
    if warnings:
        payload["calendar_warnings"] = list(warnings)
    event = Event(issue_id=issue_id, version=1, kind="submitted", actor=actor, at=now,
                  payload=payload)
    return create(event), event


def _req(value: str | None) -> str:
    assert value is not None  # check_text(required=True) never returns None
    return value


def create(event: Event) -> Issue:
    """Build the first snapshot from a `submitted` event."""
    if event.kind != "submitted" or event.version != 1:
        raise ValueError(f"cannot create an issue from {event.kind} v{event.version}")
    p = event.payload
    ent = p["enterprise"]
    return Issue(
        id=event.issue_id,
        number=p["number"],
        origin=p["origin"],
        owner=p["owner"],
        state=State(p["state"]),
        version=1,
        enterprise=Enterprise(
            name=ent["name"], credit_code=ent["credit_code"], contact_phone=ent["contact_phone"]
        ),
        channel=Channel(p["channel"]),
        title=p["title"],
        content=p["content"],
        tags=tuple(p["tags"]),
        deadline=_deadline_from(p["deadline"]),
        received_at=event.at,
        updated_at=event.at,
        subject_kind=SubjectKind(p.get("subject_kind", SubjectKind.ENTERPRISE.value)),
        channel_fields=tuple(sorted(p.get("channel_fields", {}).items())),
    )


# --------------------------------------------------------------------------- decide


def decide(
    issue: Issue, command: Command, *, actor: Actor, now: datetime, rules: Rules
) -> Event:
    """Check `command` against the table and the rules; return the one event it causes."""
    action = action_of(command)
    check_subject(issue.subject_kind, action)
    target = next_state(issue.state, action)
    payload: dict[str, Any] = {"state": target.value}
    deadline: Deadline | str | None = "keep"
    warnings: tuple[str, ...] = ()

    match command:
        case Triage(tags=tags, board=board, note=note):
            payload["tags"] = list(validate_tags(tags))
            payload["board"] = check_text("board", board, max_len=MAX_ORG_UNIT, required=False)
            payload["note"] = _note(note)
            if issue.state in (S.RETURNED, S.REOPENED) or issue.deadline is None:
                deadline, warnings = _new_deadline(
                    DeadlineKind.DISPATCH, tuple(payload["tags"]), now, rules, issue.channel
                )
        case Assign(department=department, board=board, note=note):
            payload["department"] = check_text("department", department, max_len=MAX_ORG_UNIT)
            payload["board"] = check_text(
                "board", board, max_len=MAX_ORG_UNIT, required=False
            ) or issue.board
            payload["note"] = _note(note)
            if issue.deadline is None or issue.deadline.kind is not DeadlineKind.RESOLVE:
                deadline, warnings = _new_deadline(DeadlineKind.RESOLVE, issue.tags, now, rules,
                                               issue.channel)
        case Start(note=note):
            payload["note"] = _note(note)
        case Resolve(reply=reply):
            payload["reply"] = check_text("reply", reply, max_len=MAX_REPLY)
            deadline = None
        case Reject(reason=reason):
            payload["reason"] = check_text("reason", reason, max_len=MAX_REASON)
            deadline, warnings = _new_deadline(DeadlineKind.REVIEW, issue.tags, now, rules,
                                               issue.channel)
        case ReviewRejection(comment=comment):
            payload["comment"] = _note(comment, "comment")
            if command.confirm:
                deadline = None
            else:
                deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, issue.tags, now, rules,
                                               issue.channel)
        case Rate(rating=rating, comment=comment, recorded_via=via):
            payload["rating"] = rating.value
            payload["comment"] = _note(comment, "comment")
            if via is not None and actor.kind is not ActorKind.ENTERPRISE:
                payload["recorded_by_staff"] = True
                payload["contact"] = ContactMethod(via).value
            if rating is Rating.UNSATISFIED:
                deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, issue.tags, now, rules,
                                               issue.channel)
            else:
                deadline = None
        case Close(note=note):
            payload["note"] = _note(note)
            deadline = None
        case Urge(note=note):
            payload["note"] = _note(note)
            if actor.kind is ActorKind.ENTERPRISE:
                last = issue.last_enterprise_urge_at
                if last is not None and now - last < rules.urge_interval:
                    allowed_at = last + rules.urge_interval
                    raise RuleViolation("urge_too_soon", next_allowed_at=allowed_at.isoformat())
        case LadderUp(note=note, unit=step_unit):
            payload["note"] = _note(note)
            if step_unit is not None:
                payload["unit"] = step_unit
            nxt = issue.ladder_step + 1
            if nxt >= len(rules.ladder):
                raise RuleViolation(
                    "ladder_exhausted",
                    step=rules.ladder[issue.ladder_step] if rules.ladder else None,
                )
            payload["from_step"] = issue.ladder_step
            payload["to_step"] = nxt
            payload["step_name"] = rules.ladder[nxt]
            if issue.deadline is not None:  # the step's holder gets its own time
                deadline, warnings = _new_deadline(issue.deadline.kind, issue.tags, now, rules,
                                                   issue.channel)
        case Revisit(result=result, note=note, contact=contact, sample=sample):
            payload["result"] = result.value
            payload["note"] = _note(note)
            if contact is not None:
                payload["contact"] = ContactMethod(contact).value
            if sample is not None:
                payload["sample"] = sample
            if result is RevisitResult.UNSATISFIED:  # reopened: handled again from triage
                deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, issue.tags, now, rules,
                                               issue.channel)
        case MarkSampled(mark=mark):
            payload.update({k: v for k, v in mark.items() if k != "state"})
        case Escalate(to=to, reason=reason):
            payload["to"] = validate_division_code(to)
            payload["reason"] = check_text("reason", reason, max_len=MAX_REASON)
            deadline = None
        case Return(to=to, instructions=instructions):
            payload["to"] = validate_division_code(to)
            payload["instructions"] = check_text(
                "instructions", instructions, max_len=MAX_REASON
            )
            deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, issue.tags, now, rules,
                                               issue.channel)
        case Supervise(issued_by=issued_by, note=note):
            payload["issued_by"] = validate_division_code(issued_by)
            payload["note"] = _note(note)
        case AddAttachment(attachment=attachment):
            payload.update({k: v for k, v in attachment.items() if k != "state"})
        case Receive(came_from=came_from):
            payload["came_from"] = validate_division_code(came_from)
            # a new tier, a new clock; the ladder starts again at this node's first step
            deadline, warnings = _new_deadline(DeadlineKind.DISPATCH, issue.tags, now, rules,
                                               issue.channel)

    if deadline != "keep":
        assert not isinstance(deadline, str)
        payload["deadline"] = _deadline_payload(deadline)
    if warnings:
        payload["calendar_warnings"] = list(warnings)
    return Event(
        issue_id=issue.id,
        version=issue.version + 1,
        kind=action.value,
        actor=actor,
        at=now,
        payload=payload,
    )


# --------------------------------------------------------------------------- evolve


def evolve(issue: Issue, event: Event) -> Issue:
    """Apply one event. Refuses an event that is not exactly the next version."""
    if event.issue_id != issue.id:
        raise ValueError(f"event for {event.issue_id} applied to {issue.id}")
    if event.version != issue.version + 1:
        raise ValueError(f"event v{event.version} does not follow v{issue.version}")
    p = event.payload
    changes: dict[str, Any] = {
        "version": event.version,
        "updated_at": event.at,
        "state": State(p["state"]),
    }
    if "deadline" in p:
        new_deadline = _deadline_from(p["deadline"])
        changes["deadline"] = new_deadline
        if new_deadline is not None and new_deadline.kind is DeadlineKind.RESOLVE:
            changes["resolve_due"] = new_deadline.due

    if event.kind in MERGE_KINDS:  # 并单: events of no command (node/domain/merging.py)
        return with_changes(issue, {**changes, **merge_changes(issue, event)})
    kind = Action(event.kind)
    match kind:
        case A.TRIAGE:
            changes["tags"] = tuple(p["tags"])
            if p.get("board") is not None:
                changes["board"] = p["board"]
        case A.ASSIGN:
            changes["department"] = p["department"]
            changes["board"] = p.get("board")
        case A.RESOLVE:
            changes["reply"] = p["reply"]
            changes["resolved_at"] = event.at
        case A.REJECT:
            changes["rejection_reason"] = p["reason"]
            changes["rejected_by"] = event.actor.label()
        case A.CONFIRM_REJECTION:
            changes["closed_at"] = event.at
            changes["outcome"] = "rejected"
        case A.OVERTURN_REJECTION:
            changes["rejection_reason"] = None
            changes["rejected_by"] = None
        case A.ACCEPT:
            changes["rating"] = Rating(p["rating"])
            changes["rating_comment"] = p.get("comment")
            changes["closed_at"] = event.at
            changes["outcome"] = "resolved"
        case A.REOPEN:
            changes["rating"] = Rating(p["rating"])
            changes["rating_comment"] = p.get("comment")
            changes["reopen_count"] = issue.reopen_count + 1
        case A.CLOSE:
            changes["closed_at"] = event.at
            changes["outcome"] = "resolved"
        case A.URGE:
            changes["urge_count"] = issue.urge_count + 1
            if event.actor.kind is ActorKind.ENTERPRISE:
                changes["last_enterprise_urge_at"] = event.at
        case A.LADDER_UP:
            changes["ladder_step"] = p["to_step"]
            changes["ladder_unit"] = p.get("unit")
        case A.REVISIT:
            changes["revisit_result"] = RevisitResult(p["result"])
        case A.REVISIT_REOPEN:
            changes["revisit_result"] = RevisitResult(p["result"])
            changes["reopen_count"] = issue.reopen_count + 1
            changes["closed_at"] = None
            changes["outcome"] = None
        case A.REVISIT_SAMPLED:
            pass  # a mark on the timeline (which sample), for the tiers above to audit
        case A.ESCALATE:
            changes["owner"] = p["to"]
        case A.RETURN:
            changes["owner"] = p["to"]
        case A.RECEIVE:
            changes["came_from"] = p["came_from"]
            changes["ladder_step"] = 0
            changes["ladder_unit"] = None
        case A.SUPERVISE:
            changes["supervision_count"] = issue.supervision_count + 1
        case A.START | A.ATTACHMENT_ADDED:
            pass  # an attachment is a mark on the timeline; its row is a store projection
    return with_changes(issue, changes)


# --------------------------------------------------------------------------- reading


def deadline_runs(issue: Issue) -> bool:
    """Whether a deadline is running (the light then changes with time alone)."""
    return issue.deadline is not None and issue.state not in (S.RESOLVED, S.CLOSED,
                                                              S.ESCALATED)


def current_light(issue: Issue, now: datetime, calendar: WorkCalendar) -> Light | None:
    """The traffic light of the running deadline, or None when no deadline runs."""
    if issue.deadline is None or not deadline_runs(issue):
        return None
    return light(start=issue.deadline.start, due=issue.deadline.due, now=now, calendar=calendar)
