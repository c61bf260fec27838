"""The enterprise issue (诉求) as the domain sees it: value types, states, actions, events.

An `Issue` is an immutable snapshot. It changes only by applying an `Event`
(`node.domain.lifecycle.evolve`), and every event is produced by a decision
(`node.domain.lifecycle.decide`). The snapshot is therefore always the fold of its event
log, which is what lets a replica at a higher tier rebuild it from the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    ESCALATED = "escalated"
    RETURNED = "returned"
    REJECTED = "rejected"
    REOPENED = "reopened"


class Action(StrEnum):
    TRIAGE = "triage"
    ASSIGN = "assign"
    START = "start"
    RESOLVE = "resolve"
    REJECT = "reject"
    CONFIRM_REJECTION = "confirm_rejection"
    OVERTURN_REJECTION = "overturn_rejection"
    ACCEPT = "accept"  # rated satisfied / basically satisfied
    REOPEN = "reopen"  # rated unsatisfied
    CLOSE = "close"
    URGE = "urge"
    LADDER_UP = "ladder_up"
    REVISIT = "revisit"
    ESCALATE = "escalate"
    RETURN = "return"
    RECEIVE = "receive"  # the parent takes over an escalated issue (re-enters triage)
    SUPERVISE = "supervise"  # 督办 from a higher tier, recorded by the owner


class Channel(StrEnum):
    ONLINE = "online"  # 线上平台
    HOTLINE_12345 = "hotline_12345"  # 12345营商环境专线
    MEETING = "meeting"  # 政企恳谈会
    VOLUNTEER = "volunteer"  # 企小帮
    DEPARTMENT = "department"  # 部门自报
    FIELD_VISIT = "field_visit"  # 四下基层
    HIGHER_LEVEL = "higher_level"  # 上级交办


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class RevisitResult(StrEnum):
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"
    UNREACHABLE = "unreachable"


class DeadlineKind(StrEnum):
    DISPATCH = "dispatch"
    RESOLVE = "resolve"
    REVIEW = "review"


class ActorKind(StrEnum):
    ENTERPRISE = "enterprise"
    STAFF = "staff"
    SYSTEM = "system"
    NODE = "node"


OPEN_STATES: frozenset[State] = frozenset(
    {
        State.RECEIVED,
        State.TRIAGED,
        State.ASSIGNED,
        State.IN_PROGRESS,
        State.RETURNED,
        State.REJECTED,
        State.REOPENED,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Actor:
    kind: ActorKind
    id: str  # username, credit code, node code or "system"

    def label(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @staticmethod
    def parse(label: str) -> Actor:
        kind, _, ident = label.partition(":")
        return Actor(kind=ActorKind(kind), id=ident)


@dataclass(frozen=True, kw_only=True, slots=True)
class Enterprise:
    name: str
    credit_code: str
    contact_phone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Deadline:
    kind: DeadlineKind
    start: datetime
    due: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One change of one issue. `version` is the issue's version after the change."""

    issue_id: str
    version: int
    kind: str
    actor: Actor
    at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


def event_id_of(issue_id: str, version: int) -> str:
    """The one stable id of an event everywhere (outbox, Nats-Msg-Id, inbox)."""
    return f"{issue_id}@{version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Issue:
    id: str
    number: str
    origin: str
    owner: str
    state: State
    version: int
    enterprise: Enterprise
    channel: Channel
    title: str
    content: str
    received_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()
    board: str | None = None
    department: str | None = None
    ladder_step: int = 0
    deadline: Deadline | None = None
    resolve_due: datetime | None = None
    urge_count: int = 0
    last_enterprise_urge_at: datetime | None = None
    reply: str | None = None
    rejection_reason: str | None = None
    rating: Rating | None = None
    rating_comment: str | None = None
    reopen_count: int = 0
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None  # "resolved" | "rejected" once closed
    revisit_result: RevisitResult | None = None
    came_from: str | None = None  # the child node an escalated issue came from
    supervision_count: int = 0  # 督办 received from higher tiers
