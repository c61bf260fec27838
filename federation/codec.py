"""Translation between protobuf messages and the application's own types — the only
module that imports `federation_pb2`.

The adapters (federation/server.py, federation/sender.py, federation/client.py) hand the
transfer use cases `node.app.transfers` types (`Transfer`, `Directive`, `Accepted`,
`DirectiveAccepted`) and domain objects (`Issue`, `Event`); this module turns them into
wire messages and back, and names the generated service stubs they need.

Decoding is a boundary: every value coming from another node is validated as strictly as
input from a person (division codes, credit code check character, text lengths, enum
values, timestamps, JSON payload size, nesting and numbers), and a history must be the
complete, gapless event sequence of its issue (at most `MAX_HISTORY` events) whose fold
reproduces the snapshot exactly. Any problem raises `CodecError` (→ INVALID_ARGUMENT) naming
the field, so a malformed message changes nothing; nothing a message claims (a version, a
length) decides how much is allocated.

Envelopes (TransferBatch): the envelope's own fields are a boundary of the whole call (at
most `MAX_BATCH_ITEMS` items and `MAX_ENVELOPE_BYTES`, a batch id, the origin); each item is
decoded like a unary request, and an item that does not decode is refused alone
(`Envelope.items` holds its error in its place). The answer carries, per refused item, what
a unary call's status and trailing metadata would (federation/failures.py, `ItemError`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from federation.failures import error_fields, from_fields
from federation.wire.v1 import federation_pb2 as pb
from federation.wire.v1 import federation_pb2_grpc as pb_grpc
from node.app.transfers.types import (
    ATTACH,
    DIRECTIVE_KINDS,
    UP_KINDS,
    Accepted,
    Directive,
    DirectiveAccepted,
    Transfer,
)
from node.domain.attachments import SHA256_HEX, meta_of, payload_of
from node.domain.channels import check_channel_fields
from node.domain.errors import DomainError, ValidationError
from node.domain.issue import (
    Action,
    Actor,
    Channel,
    Deadline,
    DeadlineKind,
    Enterprise,
    Event,
    Issue,
    Rating,
    RevisitResult,
    State,
    SubjectKind,
)
from node.domain.jsonsafe import JSONError
from node.domain.jsonsafe import loads as json_loads
from node.domain.lifecycle import create, evolve
from node.domain.merging import MERGE_KINDS
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

MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: The longest history a transfer or a fetch may carry, and so the highest issue version a
#: snapshot may claim (an issue is urged, reopened, supervised a handful of times at most).
MAX_HISTORY = 5_000
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ID = 64
#: An envelope (TransferBatch) carries at most this many transfers and this many bytes;
#: each of its items is held to MAX_REQUEST_BYTES like a unary request. A sender packs
#: items up to MAX_REQUEST_BYTES in all (`pack_envelope`), so the bound leaves room.
MAX_BATCH_ITEMS = 500
MAX_ENVELOPE_BYTES = 2 * MAX_REQUEST_BYTES
EVENT_KINDS = frozenset({"submitted", *(a.value for a in Action), *MERGE_KINDS})  # 并单 too

# The generated code the adapters (and the tests that craft raw messages) use, by name, so
# that no other module imports it (the standard health service's included). Messages whose
# name is taken by an application or domain type are renamed: `DirectiveReply`,
# `EventMessage`.
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["Federation"].full_name
FederationStub = pb_grpc.FederationStub
FederationServicer = pb_grpc.FederationServicer
add_federation_servicer = pb_grpc.add_FederationServicer_to_server
EscalateRequest = pb.EscalateRequest
ReturnRequest = pb.ReturnRequest
TransferAccepted = pb.TransferAccepted
IssueSnapshot = pb.IssueSnapshot
EventMessage = pb.Event
DirectiveRequest = pb.DirectiveRequest
DirectiveReply = pb.DirectiveAccepted
FetchRequest = pb.FetchRequest
FetchResponse = pb.FetchResponse
AttachmentRequest = pb.AttachmentRequest
AttachmentChunk = pb.AttachmentChunk
WatermarkRequest = pb.WatermarkRequest
WatermarkResponse = pb.WatermarkResponse
TransferEnvelope = pb.TransferEnvelope
TransferItem = pb.TransferItem
TransferEnvelopeResult = pb.TransferEnvelopeResult
TransferOutcome = pb.TransferOutcome
ItemError = pb.ItemError
HEALTH_SERVING = health_pb2.HealthCheckResponse.SERVING
add_health_servicer = health_pb2_grpc.add_HealthServicer_to_server

E = TypeVar("E", bound=StrEnum)


class CodecError(ValidationError):
    """A message from another node that does not decode to valid domain objects."""


def _fail(field: str, problem: str) -> CodecError:
    return CodecError("federation_message_invalid", field=field, problem=problem)


# --------------------------------------------------------------------------- scalars


def ts_to_pb(moment: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(moment.astimezone(UTC))
    return out


def ts_from_pb(value: Timestamp, field: str) -> datetime:
    if value.seconds == 0 and value.nanos == 0:
        raise _fail(field, "missing timestamp")
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise _fail(field, f"bad timestamp ({exc})") from None


def _opt_ts(msg: Any, name: str) -> datetime | None:
    return ts_from_pb(getattr(msg, name), name) if msg.HasField(name) else None


def check_identifier(value: str, field: str) -> str:
    if not value or len(value) > MAX_ID or not value.isascii() or not value.isprintable():
        raise _fail(field, "missing or malformed identifier")
    return value


def _enum(cls: type[E], value: str, field: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise _fail(field, f"unknown value {value[:40]!r}") from None


def _text(field: str, value: str, max_len: int) -> str:
    result = check_text(field, value, max_len=max_len)
    assert result is not None
    return result


def _opt_text(msg: Any, name: str, max_len: int) -> str | None:
    return check_text(name, getattr(msg, name), max_len=max_len) if msg.HasField(name) else None


# --------------------------------------------------------------------------- events


def event_to_pb(event: Event, node: str) -> pb.Event:
    return pb.Event(
        issue_id=event.issue_id,
        version=event.version,
        kind=event.kind,
        actor=event.actor.label(),
        at=ts_to_pb(event.at),
        payload_json=json.dumps(dict(event.payload), ensure_ascii=False, sort_keys=True),
        node=node,
    )


def event_from_pb(msg: pb.Event, field: str = "event") -> tuple[Event, str]:
    """(event, writing node)."""
    if msg.kind not in EVENT_KINDS:
        raise _fail(f"{field}.kind", f"unknown event kind {msg.kind[:40]!r}")
    if len(msg.payload_json) > MAX_PAYLOAD_BYTES:
        raise _fail(f"{field}.payload_json", "payload too large")
    try:
        payload = json_loads(msg.payload_json)  # bounded nesting and numbers
    except JSONError as exc:
        raise _fail(f"{field}.payload_json", f"does not parse ({exc})") from None
    try:
        actor = Actor.parse(msg.actor)
    except (ValueError, TypeError):
        raise _fail(f"{field}.actor", "does not parse") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state"), str):
        raise _fail(f"{field}.payload_json", "payload must be an object with a state")
    if len(actor.id) > MAX_ID:
        raise _fail(f"{field}.actor", "actor too long")
    if msg.version < 1:
        raise _fail(f"{field}.version", "versions start at 1")
    event = Event(
        issue_id=check_identifier(msg.issue_id, f"{field}.issue_id"),
        version=msg.version,
        kind=msg.kind,
        actor=actor,
        at=ts_from_pb(msg.at, f"{field}.at"),
        payload=payload,
    )
    return event, validate_division_code(msg.node)


# --------------------------------------------------------------------------- issues


def issue_to_pb(issue: Issue) -> pb.IssueSnapshot:
    msg = pb.IssueSnapshot(
        id=issue.id,
        number=issue.number,
        origin=issue.origin,
        owner=issue.owner,
        state=issue.state.value,
        version=issue.version,
        enterprise=pb.Enterprise(
            name=issue.enterprise.name,
            credit_code=issue.enterprise.credit_code,
            contact_phone=issue.enterprise.contact_phone,
        ),
        channel=issue.channel.value,
        title=issue.title,
        content=issue.content,
        tags=list(issue.tags),
        ladder_step=issue.ladder_step,
        urge_count=issue.urge_count,
        reopen_count=issue.reopen_count,
        supervision_count=issue.supervision_count,
        received_at=ts_to_pb(issue.received_at),
        updated_at=ts_to_pb(issue.updated_at),
    )
    for name in ("board", "department", "reply", "rejection_reason", "rating_comment",
                 "outcome", "came_from", "rejected_by", "ladder_unit"):
        value = getattr(issue, name)
        if value is not None:
            setattr(msg, name, value)
    if issue.rating is not None:
        msg.rating = issue.rating.value
    if issue.revisit_result is not None:
        msg.revisit_result = issue.revisit_result.value
    if issue.is_common:  # 共性问题 (node/domain/channels.py: intake)
        msg.subject_kind = issue.subject_kind.value
    msg.channel_fields.update(dict(issue.channel_fields))
    for name in ("resolve_due", "last_enterprise_urge_at", "resolved_at", "closed_at"):
        value = getattr(issue, name)
        if value is not None:
            getattr(msg, name).CopyFrom(ts_to_pb(value))
    if issue.deadline is not None:
        msg.deadline.CopyFrom(pb.Deadline(kind=issue.deadline.kind.value,
                                          start=ts_to_pb(issue.deadline.start),
                                          due=ts_to_pb(issue.deadline.due)))
    return msg


def issue_from_pb(msg: pb.IssueSnapshot) -> Issue:
    deadline = None
    if msg.HasField("deadline"):
        deadline = Deadline(
            kind=_enum(DeadlineKind, msg.deadline.kind, "deadline.kind"),
            start=ts_from_pb(msg.deadline.start, "deadline.start"),
            due=ts_from_pb(msg.deadline.due, "deadline.due"),
        )
    ent = msg.enterprise
    subject = (_enum(SubjectKind, msg.subject_kind, "issue.subject_kind")
               if msg.HasField("subject_kind") else SubjectKind.ENTERPRISE)
    common = subject is not SubjectKind.ENTERPRISE  # no credit code, no phone
    return Issue(
        id=check_identifier(msg.id, "issue.id"),
        number=check_identifier(msg.number, "issue.number"),
        origin=validate_division_code(msg.origin),
        owner=validate_division_code(msg.owner),
        state=_enum(State, msg.state, "issue.state"),
        version=msg.version,
        enterprise=Enterprise(
            name=_text("enterprise.name", ent.name, MAX_NAME),
            credit_code="" if common else validate_credit_code(ent.credit_code),
            contact_phone="" if common else validate_phone(ent.contact_phone,
                                                           "enterprise.contact_phone"),
        ),
        subject_kind=subject,
        channel_fields=check_channel_fields(dict(msg.channel_fields)),
        channel=_enum(Channel, msg.channel, "issue.channel"),
        title=_text("issue.title", msg.title, MAX_TITLE),
        content=_text("issue.content", msg.content, MAX_CONTENT),
        tags=validate_tags(list(msg.tags)),
        board=_opt_text(msg, "board", MAX_ORG_UNIT),
        department=_opt_text(msg, "department", MAX_ORG_UNIT),
        ladder_step=msg.ladder_step,
        ladder_unit=_opt_text(msg, "ladder_unit", MAX_ORG_UNIT),
        deadline=deadline,
        resolve_due=_opt_ts(msg, "resolve_due"),
        urge_count=msg.urge_count,
        last_enterprise_urge_at=_opt_ts(msg, "last_enterprise_urge_at"),
        reply=_opt_text(msg, "reply", MAX_REPLY),
        rejection_reason=_opt_text(msg, "rejection_reason", MAX_REASON),
        rejected_by=_opt_text(msg, "rejected_by", MAX_ID),
        rating=_enum(Rating, msg.rating, "issue.rating") if msg.HasField("rating") else None,
        rating_comment=_opt_text(msg, "rating_comment", MAX_COMMENT),
        reopen_count=msg.reopen_count,
        resolved_at=_opt_ts(msg, "resolved_at"),
        closed_at=_opt_ts(msg, "closed_at"),
        outcome=msg.outcome if msg.HasField("outcome") else None,
        revisit_result=_enum(RevisitResult, msg.revisit_result, "issue.revisit_result")
        if msg.HasField("revisit_result") else None,
        came_from=validate_division_code(msg.came_from) if msg.HasField("came_from") else None,
        supervision_count=msg.supervision_count,
        received_at=ts_from_pb(msg.received_at, "issue.received_at"),
        updated_at=ts_from_pb(msg.updated_at, "issue.updated_at"),
    )


# --------------------------------------------------------------------------- transfers


def transfer_to_pb(t: Transfer) -> pb.EscalateRequest | pb.ReturnRequest:
    """An EscalateRequest for an escalation, a ReturnRequest for a return or dispatch."""
    cls = pb.EscalateRequest if t.kind is Action.ESCALATE else pb.ReturnRequest
    return cls(
        transfer_id=t.transfer_id,
        origin_node=t.origin_node,
        issue=issue_to_pb(t.issue),
        history=[event_to_pb(e, n) for e, n in t.history],
        transfer=event_to_pb(t.transfer, t.transfer_node),
    )


def transfer_from_pb(msg: pb.EscalateRequest | pb.ReturnRequest, *, kind: Action) -> Transfer:
    if msg.ByteSize() > MAX_REQUEST_BYTES:
        raise _fail("request", f"larger than {MAX_REQUEST_BYTES} bytes")
    if not msg.HasField("issue") or not msg.HasField("transfer"):
        raise _fail("request", "issue and transfer are required")
    _check_history_length(msg.history)
    issue = issue_from_pb(msg.issue)
    history = tuple(event_from_pb(e, f"history[{i}]") for i, e in enumerate(msg.history))
    transfer, transfer_node = event_from_pb(msg.transfer, "transfer")
    origin = validate_division_code(msg.origin_node)
    check_history(issue, [e for e, _ in history])
    if transfer.kind != kind.value or transfer.issue_id != issue.id:
        raise _fail("transfer", f"must be a {kind.value} event of issue {issue.id}")
    if transfer.version != issue.version + 1:
        raise _fail("transfer.version", "must follow the snapshot's version")
    if transfer_node != origin:
        raise _fail("transfer.node", "the transfer must be written by the calling node")
    return Transfer(
        transfer_id=check_identifier(msg.transfer_id, "transfer_id"),
        origin_node=origin,
        issue=issue,
        history=history,
        transfer=transfer,
        transfer_node=transfer_node,
    )


def _check_history_length(history: Sequence[object]) -> None:
    if len(history) > MAX_HISTORY:
        raise _fail("history", f"more than {MAX_HISTORY} events")


def check_history(issue: Issue, history: Sequence[Event]) -> None:
    """The history must be versions 1..n of this issue and fold to the snapshot exactly.

    The snapshot's version is only a claim: it is compared with the history actually sent
    (at most `MAX_HISTORY` events), never used to size anything."""
    if issue.version < 1:
        raise _fail("issue.version", "versions start at 1")
    if issue.version > MAX_HISTORY:
        raise _fail("issue.version", f"more than {MAX_HISTORY} events")
    _check_history_length(history)
    if len(history) != issue.version or any(
            e.version != n for n, e in enumerate(history, start=1)):
        raise _fail("history", "must be the complete, ordered event sequence 1..version")
    if any(e.issue_id != issue.id for e in history):
        raise _fail("history", "contains events of another issue")
    try:
        folded = create(history[0])
        for event in history[1:]:
            folded = evolve(folded, event)
    except (KeyError, ValueError, TypeError) as exc:
        raise _fail("history", f"does not apply ({exc.__class__.__name__}: {exc})") from None
    if folded != issue:
        raise _fail("issue", "the snapshot differs from the fold of its history")


def accepted_to_pb(a: Accepted) -> pb.TransferAccepted:
    return pb.TransferAccepted(
        transfer_id=a.transfer_id,
        issue_id=a.issue_id,
        new_owner=a.new_owner,
        number=a.number,
        version=a.version,
        duplicate=a.duplicate,
        accepted_at=ts_to_pb(a.accepted_at),
    )


def accepted_from_pb(msg: pb.TransferAccepted) -> Accepted:
    """The receiver's answer, as the sender records it (not validated further: it only
    confirms what the sender shipped)."""
    return Accepted(
        transfer_id=msg.transfer_id,
        issue_id=msg.issue_id,
        new_owner=msg.new_owner,
        number=msg.number,
        version=msg.version,
        duplicate=msg.duplicate,
        accepted_at=ts_from_pb(msg.accepted_at, "accepted_at"),
    )


# --------------------------------------------------------------------------- envelopes


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    """A decoded TransferBatch: per item (in envelope order) its transfer, or the refusal
    its decoding raised (that item alone is refused); `transfer_ids` as the items claim
    them, for the answer."""

    batch_id: str
    origin_node: str
    items: tuple[Transfer | DomainError, ...]
    transfer_ids: tuple[str, ...]


def pack_envelope(batch_id: str, origin: str, transfers: Sequence[Transfer],
                  max_bytes: int = MAX_REQUEST_BYTES) -> tuple[pb.TransferEnvelope, int]:
    """The envelope of the first transfers, in order, that fit in `max_bytes` together
    (always at least one), and how many it holds; the rest wait for the next envelope."""
    items: list[pb.TransferItem] = []
    size = 0
    for t in transfers[:MAX_BATCH_ITEMS]:
        request = transfer_to_pb(t)
        item = (pb.TransferItem(escalate=request) if isinstance(request, pb.EscalateRequest)
                else pb.TransferItem(return_down=request))
        item_size = item.ByteSize() + 8  # the field tag and length of the repeated entry
        if items and size + item_size > max_bytes:
            break
        items.append(item)
        size += item_size
    return pb.TransferEnvelope(batch_id=batch_id, origin_node=origin, items=items), len(items)


def envelope_from_pb(msg: pb.TransferEnvelope) -> Envelope:
    """The envelope's own fields are checked for the whole call (CodecError: the call is
    refused); each item is decoded as strictly as a unary request, and a malformed item
    is refused alone."""
    if msg.ByteSize() > MAX_ENVELOPE_BYTES:
        raise _fail("envelope", f"larger than {MAX_ENVELOPE_BYTES} bytes")
    if not 1 <= len(msg.items) <= MAX_BATCH_ITEMS:
        raise _fail("items", f"an envelope carries 1 to {MAX_BATCH_ITEMS} transfers")
    batch_id = check_identifier(msg.batch_id, "batch_id")
    origin = validate_division_code(msg.origin_node)
    items: list[Transfer | DomainError] = []
    ids: list[str] = []
    for i, item in enumerate(msg.items):
        which = item.WhichOneof("request")
        request = item.escalate if which == "escalate" else item.return_down
        ids.append(request.transfer_id[:MAX_ID])
        try:
            if which is None:
                raise _fail(f"items[{i}]", "an item carries an escalation or a return")
            kind = Action.ESCALATE if which == "escalate" else Action.RETURN
            items.append(transfer_from_pb(request, kind=kind))
        except DomainError as exc:
            items.append(exc)
    return Envelope(batch_id=batch_id, origin_node=origin, items=tuple(items),
                    transfer_ids=tuple(ids))


def envelope_result_to_pb(batch_id: str,
                          outcomes: Sequence[tuple[str, Accepted | BaseException]]
                          ) -> pb.TransferEnvelopeResult:
    """Per item (transfer id, its acceptance or the refusal it raised): a refusal carries
    what a unary call's status and trailing metadata would (federation/failures.py)."""
    out = pb.TransferEnvelopeResult(batch_id=batch_id)
    for transfer_id, answer in outcomes:
        if isinstance(answer, Accepted):
            out.outcomes.add(transfer_id=transfer_id, accepted=accepted_to_pb(answer))
        else:
            status, details, code, params = error_fields(answer)
            out.outcomes.add(transfer_id=transfer_id, refused=pb.ItemError(
                code=code, params_json=params, status=status.name, details=details))
    return out


def envelope_result_from_pb(msg: pb.TransferEnvelopeResult
                            ) -> list[tuple[str, Accepted | Exception]]:
    """Per item, in envelope order: (transfer id, the acceptance, or the typed error the
    peer refused it with — a DomainError, else a federation.failures.RemoteError)."""
    out: list[tuple[str, Accepted | Exception]] = []
    for outcome in msg.outcomes:
        if outcome.WhichOneof("outcome") == "accepted":
            out.append((outcome.transfer_id, accepted_from_pb(outcome.accepted)))
        else:
            e = outcome.refused
            out.append((outcome.transfer_id,
                        from_fields(e.status, e.details, e.code, e.params_json)))
    return out


# --------------------------------------------------------------------------- fetch


def fetch_request_to_pb(issue_id: str, after_version: int) -> pb.FetchRequest:
    return pb.FetchRequest(issue_id=issue_id, after_version=after_version)


def fetch_request_from_pb(msg: pb.FetchRequest) -> tuple[str, int]:
    """(issue id, after version)."""
    return check_identifier(msg.issue_id, "issue_id"), msg.after_version


def fetch_response_to_pb(issue: Issue, history: Sequence[tuple[Event, str]]) -> pb.FetchResponse:
    return pb.FetchResponse(issue=issue_to_pb(issue),
                            history=[event_to_pb(e, n) for e, n in history])


def fetch_response_from_pb(msg: pb.FetchResponse) -> tuple[Issue, list[tuple[Event, str]]]:
    _check_history_length(msg.history)
    history = [event_from_pb(e, f"history[{i}]") for i, e in enumerate(msg.history)]
    return issue_from_pb(msg.issue), history


# --------------------------------------------------------------------------- attachments

#: the bytes of one AttachmentChunk (well under the transport's message limit)
ATTACHMENT_CHUNK_BYTES = 256 * 1024


def attachment_request_to_pb(sha256: str, issue_key: str, requester: str
                             ) -> pb.AttachmentRequest:
    return pb.AttachmentRequest(sha256=sha256, issue_key=issue_key, requester=requester)


def attachment_request_from_pb(msg: pb.AttachmentRequest) -> tuple[str, str, str]:
    """(sha256, issue key, requester), checked."""
    if not SHA256_HEX.fullmatch(msg.sha256):
        raise _fail("sha256", "not a SHA-256 hex digest")
    return msg.sha256, check_identifier(msg.issue_key, "issue_key"), msg.requester[:6]


def attachment_chunk_to_pb(data: bytes, *, size: int = 0, content_type: str = ""
                           ) -> pb.AttachmentChunk:
    return pb.AttachmentChunk(data=data, size=size, content_type=content_type)


def attachment_chunk_from_pb(msg: pb.AttachmentChunk) -> bytes:
    if len(msg.data) > 2 * ATTACHMENT_CHUNK_BYTES:
        raise _fail("data", "chunk too large")
    return bytes(msg.data)


# --------------------------------------------------------------------------- directives


def directive_to_pb(d: Directive) -> pb.DirectiveRequest:
    return pb.DirectiveRequest(transfer_id=d.transfer_id, origin_node=d.origin_node,
                               issue_id=d.issue_key, kind=d.kind, note=d.note or "",
                               issued_by=d.issued_by, rating=d.rating or "",
                               credit_code=d.credit_code or "",
                               attachment_json=json.dumps(dict(d.attachment))
                               if d.attachment is not None else "")


#: the attachment_json of a directive: one file's metadata, a few hundred bytes
MAX_ATTACHMENT_JSON = 4096
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _directive_attachment(msg: pb.DirectiveRequest) -> dict[str, Any] | None:
    """An enterprise_attach directive's metadata, checked as an attachment_added event's
    payload is (and rebuilt from what was checked: nothing else travels on); an
    enterprise's file never refers to an event."""
    if msg.kind != ATTACH:
        if msg.attachment_json:
            raise _fail("attachment_json", "only an enterprise_attach carries a file")
        return None
    if len(msg.attachment_json) > MAX_ATTACHMENT_JSON:
        raise _fail("attachment_json", "too large")
    try:
        payload = json_loads(msg.attachment_json)
    except JSONError:
        raise _fail("attachment_json", "does not parse") from None
    if not isinstance(payload, dict):
        raise _fail("attachment_json", "must be an object")
    try:
        meta = meta_of(msg.issue_id[:MAX_ID], payload, actor_id=msg.credit_code[:18] or "-",
                       actor_kind="enterprise", at=_NO_TIME)
    except ValidationError:
        raise _fail("attachment_json", "not an attachment's metadata") from None
    if meta.ref is not None:
        raise _fail("attachment_json", "an enterprise's file refers to no event")
    return payload_of(meta)


def directive_from_pb(msg: pb.DirectiveRequest) -> Directive:
    if msg.kind not in DIRECTIVE_KINDS:
        raise _fail("kind", f"must be one of {DIRECTIVE_KINDS}")
    return Directive(
        transfer_id=check_identifier(msg.transfer_id, "transfer_id"),
        origin_node=validate_division_code(msg.origin_node),
        issue_key=check_identifier(msg.issue_id, "issue_id"),
        kind=msg.kind,
        note=check_text("note", msg.note, max_len=MAX_COMMENT, required=False),
        issued_by=validate_division_code(msg.issued_by),
        rating=_enum(Rating, msg.rating, "rating").value if msg.kind == "rate" else None,
        credit_code=validate_credit_code(msg.credit_code) if msg.kind in UP_KINDS else None,
        attachment=_directive_attachment(msg),
    )


def directive_accepted_to_pb(a: DirectiveAccepted) -> pb.DirectiveAccepted:
    return pb.DirectiveAccepted(transfer_id=a.transfer_id, handled_by=a.handled_by,
                                forwarded=a.forwarded, duplicate=a.duplicate)


def directive_accepted_from_pb(msg: pb.DirectiveAccepted) -> DirectiveAccepted:
    return DirectiveAccepted(transfer_id=msg.transfer_id, handled_by=msg.handled_by,
                             forwarded=msg.forwarded, duplicate=msg.duplicate)


# --------------------------------------------------------------------------- watermark


def watermark_request_to_pb() -> pb.WatermarkRequest:
    return pb.WatermarkRequest()


def watermark_to_pb(through: int) -> pb.WatermarkResponse:
    return pb.WatermarkResponse(through=through)


def watermark_from_pb(msg: pb.WatermarkResponse) -> int:
    """How far (writer_seq) the parent has applied the calling child's own events."""
    return int(msg.through)
