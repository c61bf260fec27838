"""The hash chain of a writer's event log: tamper evidence without trusting the store.

Every event a node writes carries `chain`, the SHA-256 of the previous link of the same
writer and of the event's canonical form (writer, writer_seq, event id, issue, version,
kind, actor, instant in UTC, payload as sorted JSON). The first link of a writer starts
from `GENESIS`. A row edited afterwards with plain SQL no longer hashes to its link, and a
link recomputed by whoever edited it no longer matches the next one — so `verify` finds
the first break, and a replica that holds the writer's previous link checks each event it
applies (node/app/replica.py). The chain heads travel in the summaries, so a parent can see
that a child's history was rewritten without seeing its data. Pure: no I/O.

The audit log (node/domain/audit.py) is chained the same way, per writer: `audit_link`
hashes the previous audit link and the record's canonical form (writer, seq, instant in
UTC, actor, role, address, action, target, outcome, detail as sorted JSON), and
`verify_audit` finds the first break of a writer's complete audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from node.domain.audit import AuditRecord

GENESIS = "0" * 64
LINK_LENGTH = 64  # hex digits of SHA-256


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainedEvent:
    """What a link covers: one event of the writer's log, at its place in that log."""

    writer: str
    writer_seq: int
    event_id: str
    issue_id: str
    version: int
    kind: str
    actor: str
    at: datetime
    payload: Mapping[str, Any]


#: sorted keys, no ASCII escaping, no spaces: what `json.dumps(..., sort_keys=True,
#: ensure_ascii=False, separators=(",", ":"))` writes, without building the encoder anew
#: for every link (the form is the chain's contract: never change it)
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical(e: ChainedEvent) -> bytes:
    return _CANONICAL.encode(
        {"writer": e.writer, "writer_seq": e.writer_seq, "event_id": e.event_id,
         "issue_id": e.issue_id, "version": e.version, "kind": e.kind, "actor": e.actor,
         "at": e.at.astimezone(UTC).isoformat(timespec="microseconds"),
         "payload": e.payload}).encode()


def link(previous: str, e: ChainedEvent) -> str:
    """The link of `e` after the writer's `previous` link (GENESIS for its first event)."""
    return _link(previous, canonical(e))


def _link(previous: str, body: bytes) -> str:
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def is_link(value: object) -> bool:
    return (isinstance(value, str) and len(value) == LINK_LENGTH
            and all(c in "0123456789abcdef" for c in value))


@dataclass(frozen=True, kw_only=True, slots=True)
class Break:
    """Where a writer's chain breaks, and why."""

    writer: str
    writer_seq: int
    event_id: str
    problem: str


def verify(rows: Iterable[tuple[ChainedEvent, str | None]], *,
           complete: bool) -> Break | None:
    """The first break in one writer's events, given in writer_seq order with their stored
    links. `complete`: the writer's whole log is expected (this node's own log: gapless from
    1, every event linked); otherwise (a replica) links are checked where the previous event
    is held, and events without a link are skipped."""
    previous: tuple[int, str] | None = None
    for e, stored in rows:
        if stored is None:
            if complete:
                return Break(writer=e.writer, writer_seq=e.writer_seq, event_id=e.event_id,
                             problem="no link stored")
            previous = None
            continue
        if e.writer_seq == 1:
            before: str | None = GENESIS
        elif previous is not None and previous[0] == e.writer_seq - 1:
            before = previous[1]
        else:
            if complete:
                return Break(writer=e.writer, writer_seq=e.writer_seq, event_id=e.event_id,
                             problem=f"event {e.writer_seq - 1} of the writer is missing")
            before = None
        if before is not None and link(before, e) != stored:
            return Break(writer=e.writer, writer_seq=e.writer_seq, event_id=e.event_id,
                         problem="the event does not hash to its stored link")
        previous = (e.writer_seq, stored)
    return None


# --------------------------------------------------------------------------- the audit log


def canonical_audit(writer: str, seq: int, r: AuditRecord) -> bytes:
    return json.dumps(
        {"writer": writer, "seq": seq,
         "at": r.at.astimezone(UTC).isoformat(timespec="microseconds"),
         "actor": r.actor, "actor_role": r.actor_role, "address": r.address,
         "action": r.action, "target_kind": r.target_kind, "target_id": r.target_id,
         "outcome": r.outcome.value, "detail": r.detail},
        sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def audit_link(previous: str, writer: str, seq: int, r: AuditRecord) -> str:
    """The link of audit record `seq` of `writer` after its `previous` link (GENESIS for
    the first)."""
    return _link(previous, canonical_audit(writer, seq, r))


def verify_audit(writer: str, rows: Iterable[tuple[int, AuditRecord, str]]) -> Break | None:
    """The first break in `writer`'s audit log, given as (seq, record, stored link) in seq
    order: the log must be gapless from 1 and every record must hash to its link after the
    one before. (`Break.event_id` names the record: "audit:<seq>".)"""
    previous, expected = GENESIS, 1
    for seq, record, stored in rows:
        name = f"audit:{seq}"
        if seq != expected:
            return Break(writer=writer, writer_seq=expected, event_id=f"audit:{expected}",
                         problem=f"audit record {expected} of the writer is missing")
        if audit_link(previous, writer, seq, record) != stored:
            return Break(writer=writer, writer_seq=seq, event_id=name,
                         problem="the audit record does not hash to its stored link")
        previous, expected = stored, seq + 1
    return None
