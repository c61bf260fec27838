"""Persistence of ownership transfers: the outbox, the inbox and per-destination backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from node.store.schema import destinations, transfers_in, transfers_out

PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxRow:
    transfer_id: str
    seq: int
    issue_id: str
    kind: str
    destination: str
    event: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime


def _row(r: Any) -> OutboxRow:
    m = r._mapping
    return OutboxRow(
        transfer_id=m["transfer_id"], seq=m["seq"], issue_id=m["issue_id"], kind=m["kind"],
        destination=m["destination"], event=m["event"], status=m["status"],
        attempts=m["attempts"], last_error=m["last_error"], created_at=m["created_at"],
    )


def add_outgoing(conn: Connection, row: OutboxRow) -> None:
    conn.execute(insert(transfers_out).values(
        transfer_id=row.transfer_id, seq=row.seq, issue_id=row.issue_id, kind=row.kind,
        destination=row.destination, event=row.event, status=row.status,
        attempts=row.attempts, created_at=row.created_at,
    ))


OWNERSHIP_KINDS = ("escalate", "return")


def pending_for_issue(conn: Connection, issue_id: str) -> OutboxRow | None:
    """A pending ownership transfer of the issue (directives do not freeze it)."""
    r = conn.execute(select(transfers_out).where(
        transfers_out.c.issue_id == issue_id, transfers_out.c.status == PENDING,
        transfers_out.c.kind.in_(OWNERSHIP_KINDS))).first()
    return _row(r) if r is not None else None


def get_outgoing(conn: Connection, transfer_id: str) -> OutboxRow | None:
    r = conn.execute(
        select(transfers_out).where(transfers_out.c.transfer_id == transfer_id)).first()
    return _row(r) if r is not None else None


def pending_batch(conn: Connection, destination: str, limit: int) -> list[OutboxRow]:
    rows = conn.execute(
        select(transfers_out)
        .where(transfers_out.c.status == PENDING, transfers_out.c.destination == destination)
        .order_by(transfers_out.c.seq)
        .limit(limit)
    ).all()
    return [_row(r) for r in rows]


def finish_outgoing(conn: Connection, transfer_id: str, *, status: str, now: datetime,
                    response: dict[str, Any] | None = None, error: str | None = None) -> bool:
    result = conn.execute(
        update(transfers_out)
        .where(transfers_out.c.transfer_id == transfer_id, transfers_out.c.status == PENDING)
        .values(status=status, finished_at=now, response=response, last_error=error,
                attempts=transfers_out.c.attempts + 1)
    )
    return result.rowcount == 1


def count_attempt(conn: Connection, transfer_ids: list[str], error: str) -> None:
    conn.execute(
        update(transfers_out)
        .where(transfers_out.c.transfer_id.in_(transfer_ids))
        .values(attempts=transfers_out.c.attempts + 1, last_error=error)
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class DestinationState:
    node: str
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None


def destination_state(conn: Connection, node: str) -> DestinationState:
    r = conn.execute(select(destinations).where(destinations.c.node == node)).first()
    if r is None:
        return DestinationState(node=node)
    m = r._mapping
    return DestinationState(node=node, failures=m["failures"],
                            next_attempt_at=m["next_attempt_at"], last_error=m["last_error"],
                            last_attempt_at=m["last_attempt_at"],
                            last_success_at=m["last_success_at"])


def save_destination(conn: Connection, state: DestinationState) -> None:
    values = {"failures": state.failures, "next_attempt_at": state.next_attempt_at,
              "last_error": state.last_error, "last_attempt_at": state.last_attempt_at,
              "last_success_at": state.last_success_at}
    if conn.execute(update(destinations).where(destinations.c.node == state.node)
                    .values(**values)).rowcount == 0:
        conn.execute(insert(destinations).values(node=state.node, **values))


def outbox_summary(conn: Connection) -> dict[str, tuple[int, datetime | None]]:
    """destination → (pending depth, oldest pending created_at)."""
    rows = conn.execute(
        select(transfers_out.c.destination, func.count(), func.min(transfers_out.c.created_at))
        .where(transfers_out.c.status == PENDING)
        .group_by(transfers_out.c.destination)
    ).all()
    out: dict[str, tuple[int, datetime | None]] = {}
    for dest, depth, oldest in rows:  # MIN() keeps the column's type: aware UTC datetimes
        out[dest] = (int(depth), oldest)
    return out


def refused(conn: Connection, limit: int = 50) -> list[OutboxRow]:
    rows = conn.execute(select(transfers_out).where(transfers_out.c.status == REFUSED)
                        .order_by(transfers_out.c.seq.desc()).limit(limit)).all()
    return [_row(r) for r in rows]


def find_incoming(conn: Connection, origin: str, transfer_id: str) -> dict[str, Any] | None:
    r = conn.execute(select(transfers_in.c.response).where(
        transfers_in.c.origin == origin, transfers_in.c.transfer_id == transfer_id)).first()
    return dict(r[0]) if r is not None else None


def add_incoming(conn: Connection, *, origin: str, transfer_id: str, issue_id: str,
                 response: dict[str, Any], now: datetime) -> None:
    conn.execute(insert(transfers_in).values(origin=origin, transfer_id=transfer_id,
                                             issue_id=issue_id, response=response,
                                             received_at=now))
