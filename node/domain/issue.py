"""The enterprise issue (诉求) as the domain sees it: value types, states, actions, events.

An `Issue` is an immutable snapshot. It changes only by applying an `Event`
(`node.domain.lifecycle.evolve`), and every event is produced by a decision
(`node.domain.lifecycle.decide`). The snapshot is therefore always the fold of its event
log, which is what lets a replica at a higher tier rebuild it from the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    REVISIT = "revisit"  # a revisit (回访) that leaves the state as it is
    REVISIT_REOPEN = "revisit_reopen"  # a revisit answered unsatisfied: the issue reopens
    REVISIT_SAMPLED = "revisit_sampled"  # drawn into a revisit sample (node/domain/revisits.py)
    ESCALATE = "escalate"
    RETURN = "return"
    RECEIVE = "receive"  # the parent takes over an escalated issue (re-enters triage)
    SUPERVISE = "supervise"  # 督办 from a higher tier, recorded by the owner
    ATTACHMENT_ADDED = "attachment_added"  # a file recorded (node/domain/attachments.py)


class Channel(StrEnum):
    ONLINE = "online"  # 线上平台
    HOTLINE_12345 = "hotline_12345"  # 12345营商环境专线
    MEETING = "meeting"  # 政企恳谈会
    VOLUNTEER = "volunteer"  # 企小帮
    DEPARTMENT = "department"  # 部门自报
    FIELD_VISIT = "field_visit"  # 四下基层
    HIGHER_LEVEL = "higher_level"  # 上级交办
    ENTERPRISE_HOTLINE = "enterprise_hotline"  # 企业服务热线
    WINDOW = "window"  # 综合窗口
    BIG_DATA = "big_data"  # 大数据发现
    INSPECTION = "inspection"  # 督帮发现
    COUNTY_REPORT = "county_report"  # 区县中心上报


class SubjectKind(StrEnum):
    """Whom an issue concerns: one enterprise, or (共性问题) a whole industry, park or region;
    a common issue has no credit code or phone and no enterprise-only steps (urge, rating)."""

    ENTERPRISE = "enterprise"
    INDUSTRY = "industry"
    PARK = "park"
    REGION = "region"


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class RevisitResult(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_ok"  # 基本满意 (issues.revisit_result holds 12 chars)
    UNSATISFIED = "unsatisfied"  # 不满意: the issue reopens
    UNREACHABLE = "unreachable"  # 未联系上: recorded, the revisit stays to be done


class ContactMethod(StrEnum):
    """How a revisit reached the enterprise (回访方式)."""

    PHONE = "phone"
    VISIT = "visit"
    SMS = "sms"
    OTHER = "other"


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
    #: who rejected it (the reject event's actor label): never its reviewer (four eyes)
    rejected_by: str | None = None
    rating: Rating | None = None
    rating_comment: str | None = None
    reopen_count: int = 0
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None  # "resolved" | "rejected" once closed
    revisit_result: RevisitResult | None = None
    came_from: str | None = None  # the child node an escalated issue came from
    supervision_count: int = 0  # 督办 received from higher tiers
    #: an enterprise's issue, or a common one (then `enterprise.name` is the industry's,
    #: park's or region's name and its credit code and phone are empty)
    subject_kind: SubjectKind = SubjectKind.ENTERPRISE
    #: the intake channel's own fields (meeting and date, leader, ticket number, ...), sorted
    channel_fields: tuple[tuple[str, str], ...] = ()
    #: above ladder step 0: the unit whose queue holds the issue (node/domain/units.py)
    ladder_unit: str | None = None

    @property
    def is_common(self) -> bool:
        """共性问题: concerns no single enterprise."""
        return self.subject_kind is not SubjectKind.ENTERPRISE


_ISSUE_FIELDS = tuple(f.name for f in fields(Issue))
_ISSUE_FIELD_SET = frozenset(_ISSUE_FIELDS)
_set = object.__setattr__


def with_changes(issue: Issue, changes: Mapping[str, Any]) -> Issue:
    """`dataclasses.replace(issue, **changes)` at half its cost, for `lifecycle.evolve`
    (once per event everywhere: a fold, a replica's batch, an import's history). Issue has
    no `__post_init__` and no field outside `__init__`, so filling the fields of a new
    instance directly builds exactly what `replace` builds (tests/domain/test_issue.py)."""
    if not changes.keys() <= _ISSUE_FIELD_SET:
        unknown = sorted(changes.keys() - _ISSUE_FIELD_SET)
        raise TypeError(f"Issue has no field {', '.join(unknown)}")
    new = object.__new__(Issue)
    for name in _ISSUE_FIELDS:
        _set(new, name, changes[name] if name in changes else getattr(issue, name))
    return new
