"""Request and response bodies of the JSON API (the OpenAPI document is built from these).

Shapes and coarse limits are checked here (title, content, tags and reply lengths are the
domain's own MAX_* limits, so the document cannot drift from them); the domain re-validates
every value with the precise rules (check characters, code point lengths, control
characters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from node.app.ports import StoredEvent, StoredSample
from node.domain.deadlines import Light
from node.domain.issue import (
    Channel,
    ContactMethod,
    Issue,
    Rating,
    RevisitResult,
    State,
    SubjectKind,
)
from node.domain.validation import MAX_CONTENT, MAX_REPLY, MAX_TAGS, MAX_TITLE

_STRICT = ConfigDict(extra="forbid")
#: an administrative unit's code (a node: 330522), as query parameters take it
NODE_CODE = r"^\d{6}$"
Note = Field(default=None, max_length=1000)


class LoginIn(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: str
    display_name: str


class MeOut(BaseModel):
    username: str
    role: str
    display_name: str
    credit_code: str | None
    department: str | None
    board: str | None
    node: str


class SubmitIn(BaseModel):
    model_config = _STRICT
    enterprise_name: str = Field(max_length=200)
    credit_code: str = Field(max_length=40)
    contact_phone: str = Field(max_length=40)
    channel: Channel = Channel.ONLINE
    title: str = Field(max_length=MAX_TITLE)
    content: str = Field(max_length=MAX_CONTENT)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class VersionedIn(BaseModel):
    model_config = _STRICT
    expected_version: int | None = Field(default=None, ge=1)


class TriageIn(VersionedIn):
    tags: list[str] = Field(max_length=MAX_TAGS)
    board: str | None = Field(default=None, max_length=200)
    note: str | None = Note


class AssignIn(VersionedIn):
    department: str = Field(max_length=200)
    board: str | None = Field(default=None, max_length=200)
    note: str | None = Note


class NoteIn(VersionedIn):
    note: str | None = Note


class ResolveIn(VersionedIn):
    reply: str = Field(max_length=MAX_REPLY)


class RejectIn(VersionedIn):
    reason: str = Field(max_length=4000)


class ReviewIn(VersionedIn):
    decision: Literal["confirm", "overturn"]
    comment: str | None = Note


class RateIn(VersionedIn):
    rating: Rating
    comment: str | None = Note


class EscalateIn(BaseModel):
    model_config = _STRICT
    reason: str = Field(max_length=4000)


class ReturnIn(BaseModel):
    model_config = _STRICT
    instructions: str = Field(max_length=4000)


class DirectiveIn(BaseModel):
    model_config = _STRICT
    kind: Literal["supervise", "urge"] = "supervise"
    note: str | None = Note


class DispatchIn(BaseModel):
    model_config = _STRICT
    to: str = Field(min_length=6, max_length=6, description="division code of a child unit")
    instructions: str = Field(max_length=4000)


class RevisitIn(VersionedIn):
    result: RevisitResult
    note: str | None = Note
    contact: ContactMethod | None = None  # how the enterprise was reached (回访方式)


class SampleIn(BaseModel):
    model_config = _STRICT
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="month, YYYY-MM (CST)")
    share: float | None = Field(default=None, gt=0, le=1)
    #: a leader's re-draw of a period already drawn names its reason (kept with the draw)
    reason: str | None = Field(default=None, max_length=1000)


class DeadlineOut(BaseModel):
    kind: str
    start: datetime
    due: datetime


class EnterpriseOut(BaseModel):
    name: str
    credit_code: str
    contact_phone: str


class SnippetOut(BaseModel):
    """A search hit's window of one field; `marks`: [start, end) spans of `text` that
    match the query (plain text: the screens escape it and mark the spans)."""

    field: str
    text: str
    marks: list[tuple[int, int]]


class IssueOut(BaseModel):
    id: str
    number: str
    origin: str
    owner: str
    state: State
    version: int
    channel: Channel
    title: str
    content: str
    enterprise: EnterpriseOut
    tags: list[str]
    board: str | None
    department: str | None
    ladder_step: int
    deadline: DeadlineOut | None
    light: Light | None
    urge_count: int
    supervision_count: int
    came_from: str | None
    reply: str | None
    rejection_reason: str | None
    rating: Rating | None
    rating_comment: str | None
    reopen_count: int
    revisit_result: RevisitResult | None
    received_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    allowed_actions: list[str]
    #: 共性问题: industry, park or region (then enterprise names it; no code, no phone)
    subject_kind: SubjectKind = SubjectKind.ENTERPRISE
    channel_fields: dict[str, str] = Field(default_factory=dict)  # the channel's own
    snippet: SnippetOut | None = None  # in a search's hits: where the words occur
    #: the unit whose queue holds the issue, and the units' names in the request's language
    #: (node/web/unitnames.py)
    queue_unit: str | None = None
    queue_name: str | None = None
    board_name: str | None = None
    department_name: str | None = None

    @staticmethod
    def of(issue: Issue, light: Light | None, actions: list[str]) -> IssueOut:
        d = issue.deadline
        return IssueOut(
            id=issue.id,
            number=issue.number,
            origin=issue.origin,
            owner=issue.owner,
            state=issue.state,
            version=issue.version,
            channel=issue.channel,
            title=issue.title,
            content=issue.content,
            enterprise=EnterpriseOut(
                name=issue.enterprise.name,
                credit_code=issue.enterprise.credit_code,
                contact_phone=issue.enterprise.contact_phone,
            ),
            tags=list(issue.tags),
            board=issue.board,
            department=issue.department,
            ladder_step=issue.ladder_step,
            deadline=DeadlineOut(kind=d.kind.value, start=d.start, due=d.due) if d else None,
            light=light,
            urge_count=issue.urge_count,
            supervision_count=issue.supervision_count,
            came_from=issue.came_from,
            reply=issue.reply,
            rejection_reason=issue.rejection_reason,
            rating=issue.rating,
            rating_comment=issue.rating_comment,
            reopen_count=issue.reopen_count,
            revisit_result=issue.revisit_result,
            received_at=issue.received_at,
            updated_at=issue.updated_at,
            resolved_at=issue.resolved_at,
            closed_at=issue.closed_at,
            outcome=issue.outcome,
            allowed_actions=actions,
            subject_kind=issue.subject_kind,
            channel_fields=dict(issue.channel_fields),
        )


#: What an enterprise sees of each step of its own issue (a parcel-tracker view).
PUBLIC_PAYLOAD_KEYS = frozenset(
    {"state", "number", "title", "channel", "deadline", "reply", "reason", "rating", "comment",
     "recorded_by_staff", "contact"}  # a rating staff recorded for it (node/app/staff_ratings.py)
)


class EventOut(BaseModel):
    seq: int
    event_id: str
    version: int
    kind: str
    actor: str
    at: datetime
    node: str
    payload: dict[str, Any]

    @staticmethod
    def of(stored: StoredEvent, *, public: bool = False) -> EventOut:
        """`public`: the enterprise's view — no staff names, no internal notes."""
        e = stored.event
        payload = dict(e.payload)
        actor = e.actor.label()
        if public:
            payload = {k: v for k, v in payload.items() if k in PUBLIC_PAYLOAD_KEYS}
            actor = e.actor.kind.value
        return EventOut(
            seq=stored.seq,
            event_id=stored.event_id,
            version=e.version,
            kind=e.kind,
            actor=actor,
            at=e.at,
            node=stored.node,
            payload=payload,
        )


class IssueDetailOut(IssueOut):
    timeline: list[EventOut]


class IssuePageOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[IssueOut]
    next_cursor: str | None = None  # pass as `cursor` for the next page; None: last page
    #: False: `total` is a lower bound — a search with other filters counts to 1,000
    total_exact: bool = True


class SampleOut(BaseModel):
    """A revisit sample with everything needed to re-draw it and compare (audit)."""

    id: int
    period: str
    seed: str
    share: float
    share_exact: str  # the exact fraction the draw used, e.g. "1/5"
    method: str
    frame_size: int
    frame: list[str]
    selected: list[str]
    drawn_by: str
    drawn_at: datetime
    draw: int = 1  # 1: the period's draw; 2…: a leader's re-draws
    reason: str | None = None
    redraw_of: int | None = None

    @staticmethod
    def of(stored: StoredSample) -> SampleOut:
        s = stored.sample
        return SampleOut(
            id=stored.id,
            period=stored.period,
            seed=s.seed,
            share=float(s.share),
            share_exact=str(s.share),
            method=s.method,
            frame_size=len(s.frame),
            frame=list(s.frame),
            selected=list(s.selected),
            drawn_by=stored.actor,
            drawn_at=stored.created_at,
            draw=stored.draw,
            reason=stored.reason,
            redraw_of=stored.redraw_of,
        )


class ErrorInfo(BaseModel):
    code: str
    message: str
    message_en: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorInfo
