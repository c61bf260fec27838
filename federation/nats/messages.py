"""The event message on the streams: JSON, one event, with the writer's sequence and
the event's link in the writer's hash chain (node/domain/chain.py; optional on decode).

`encode` writes an event of the local log; `decode` gives the replica service's
`IncomingEvent` (node/app/replica.py).

Decoding is a boundary like any other: the message must be a JSON object of bounded size,
nesting and numbers (node/domain/jsonsafe.py) with the expected fields and types, a known
event kind, division codes that validate and an event id that matches issue and version;
anything else raises `MessageError` (never RecursionError, OverflowError or another
ValueError) and the message goes to the dead-letter table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from federation.codec import EVENT_KINDS, MAX_ID, MAX_PAYLOAD_BYTES
from node.app.ports import LoggedEvent
from node.app.replica import IncomingEvent
from node.domain.chain import is_link
from node.domain.errors import ValidationError
from node.domain.issue import Actor, Event, event_id_of
from node.domain.jsonsafe import JSONError, loads
from node.domain.lifecycle import ts
from node.domain.validation import validate_division_code
from node.i18n import operator_text

MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES + 4096
MAX_VERSION = 2**32 - 1  # as on the wire (uint32 in federation.proto)
MAX_WRITER_SEQ = 2**63 - 1  # a signed 64-bit column in the store


class MessageError(ValueError):
    pass


def encode(stored: LoggedEvent, origin: str) -> bytes:
    e = stored.event
    return json.dumps({
        "event_id": stored.event_id, "issue_id": e.issue_id, "version": e.version,
        "kind": e.kind, "actor": e.actor.label(), "at": ts(e.at), "payload": dict(e.payload),
        "writer": stored.node, "writer_seq": stored.writer_seq, "origin": origin,
        "chain": stored.chain,
    }, ensure_ascii=False, separators=(",", ":")).encode()


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise MessageError(f"field {name!r} missing or not {kind.__name__}")
    return value


def decode(raw: bytes) -> IncomingEvent:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = loads(raw)  # bounded nesting and numbers: never RecursionError or the like
    except JSONError as exc:
        raise MessageError(str(exc)) from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    issue_id = _field(data, "issue_id", str)
    version = _field(data, "version", int)
    kind = _field(data, "kind", str)
    payload = _field(data, "payload", dict)
    writer_seq = _field(data, "writer_seq", int)
    if (len(issue_id) > MAX_ID or not issue_id.isascii() or not 1 <= version <= MAX_VERSION
            or not 1 <= writer_seq <= MAX_WRITER_SEQ):
        raise MessageError("bad issue id, version or writer_seq")
    if kind not in EVENT_KINDS or not isinstance(payload.get("state"), str):
        raise MessageError(f"unknown event kind {kind[:30]!r} or payload without state")
    if _field(data, "event_id", str) != event_id_of(issue_id, version):
        raise MessageError("event_id does not match issue and version")
    try:
        writer = validate_division_code(_field(data, "writer", str))
        origin = validate_division_code(_field(data, "origin", str))
        actor = Actor.parse(_field(data, "actor", str))
        at = datetime.fromisoformat(_field(data, "at", str))
    except (ValidationError, ValueError) as exc:
        raise MessageError(f"bad writer, origin, actor or time: {operator_text(exc)}") from None
    if at.tzinfo is None:
        raise MessageError("naive timestamp")
    chain = data.get("chain")
    if chain is not None and not is_link(chain):
        raise MessageError("chain is not a SHA-256 link (64 lower-case hex digits)")
    event = Event(issue_id=issue_id, version=version, kind=kind, actor=actor, at=at,
                  payload=payload)
    return IncomingEvent(event=event, writer=writer, writer_seq=writer_seq, origin=origin,
                         chain=chain)
