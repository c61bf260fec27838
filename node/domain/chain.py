"""The hash chain of a writer's event log: tamper evidence without trusting the store.

Every event a node writes carries `chain`, the SHA-256 of the previous link of the same
writer and of the event's canonical form (writer, writer_seq, event id, issue, version,
kind, actor, instant in UTC, payload as sorted JSON). The first link of a writer starts
from `GENESIS`. A row edited afterwards with plain SQL no longer hashes to its link, and a
link recomputed by whoever edited it no longer matches the next one — so `verify` finds
the first break, and a replica that holds the writer's previous link checks each event it
applies (node/app/replica.py). The chain heads travel in the summaries, so a parent can see
that a child's history was rewritten without seeing its data. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def canonical(e: ChainedEvent) -> bytes:
    return json.dumps(
        {"writer": e.writer, "writer_seq": e.writer_seq, "event_id": e.event_id,
         "issue_id": e.issue_id, "version": e.version, "kind": e.kind, "actor": e.actor,
         "at": e.at.astimezone(UTC).isoformat(timespec="microseconds"),
         "payload": e.payload},
        sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def link(previous: str, e: ChainedEvent) -> str:
    """The link of `e` after the writer's `previous` link (GENESIS for its first event)."""
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(e))
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
