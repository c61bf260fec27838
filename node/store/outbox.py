"""Persistence of ownership transfers: the outbox, the inbox and per-destination backoff.

The SQL verbs take an open `Connection` inside the caller's transaction. `TransferRecords`
is what the transfer use cases get (node.app.ports.TransferStore): each `write()`/`read()`
is one transaction of `Store`, and the `TransferTransaction` it yields offers these verbs
plus the few issue and event verbs of node/store/repo.py, bound to that connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from node.app.transfers.types import (
    OWNERSHIP_KINDS,
    PENDING,
    REFUSED,
    DestinationState,
    OutboxRow,
)
from node.domain.chain import GENESIS, link
from node.domain.issue import Actor, Event, Issue, event_id_of
from node.store import bulk, repo
from node.store.repo import Store
from node.store.schema import (
    destinations,
    events,
    transfers_in,
    transfers_out,
)

TRANSFER_SEQ = "transfer_seq"


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


def pending_for_issue(conn: Connection, issue_id: str) -> OutboxRow | None:
    """A pending ownership transfer of the issue (directives do not freeze it)."""
    r = conn.execute(select(transfers_out).where(
        transfers_out.c.issue_id == issue_id, transfers_out.c.status == PENDING,
        transfers_out.c.kind.in_(OWNERSHIP_KINDS))).first()
    return _row(r) if r is not None else None


def last_forwarded_at(conn: Connection, issue_id: str, kind: str) -> datetime | None:
    """When the latest `kind` transfer of the issue that was not refused was queued."""
    at: datetime | None = conn.execute(select(func.max(transfers_out.c.created_at)).where(
        transfers_out.c.issue_id == issue_id, transfers_out.c.kind == kind,
        transfers_out.c.status != REFUSED)).scalar_one_or_none()
    return at


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


def count_attempt(conn: Connection, transfer_ids: Sequence[str], error: str) -> None:
    conn.execute(
        update(transfers_out)
        .where(transfers_out.c.transfer_id.in_(transfer_ids))
        .values(attempts=transfers_out.c.attempts + 1, last_error=error)
    )


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


# --------------------------------------------------------------------------- batches
#
# A batch of transfers (an envelope accepted at the receiver, its answers recorded at the
# sender) is one transaction whose reads and writes go by set: one query per kind of read
# (IN), one multi-row statement (executemany) per kind of write, one counter upsert per
# counter. The per-row bookkeeping of repo.py (issue counts, summary changes, projections)
# is kept exactly as insert_issue/update_issue/append_event keep it.


def histories(conn: Connection, ids: Sequence[str]) -> dict[str, list[tuple[Event, str]]]:
    """issue id → its events in version order with their writers, for every id."""
    out: dict[str, list[tuple[Event, str]]] = {i: [] for i in ids}
    for chunk in repo.chunked(sorted(set(ids))):
        rows = conn.execute(select(events).where(events.c.issue_id.in_(chunk))
                            .order_by(events.c.issue_id, events.c.version))
        for r in rows:
            m = r._mapping
            out[m["issue_id"]].append((Event(
                issue_id=m["issue_id"], version=m["version"], kind=m["kind"],
                actor=Actor.parse(m["actor"]), at=m["at"], payload=m["payload"]), m["node"]))
    return out


def append_events(conn: Connection, batch: Sequence[tuple[str, Event, bool]]) -> list[int]:
    """repo.append_event for several (writer, event, own) in order: their seqs (and the own
    ones' writer_seqs) reserved with one upsert each, one multi-row insert; the own ones
    linked into this node's hash chain in order, from the link of the event before them."""
    if not batch:
        return []
    first = repo.next_counter_range(conn, repo.EVENT_SEQ, len(batch))
    n_own = sum(1 for _, _, own in batch if own)
    writer_seq = repo.next_counter_range(conn, repo.WRITER_SEQ, n_own) if n_own else 0
    previous: str | None = None
    if n_own:
        [me] = {writer for writer, _, own in batch if own}  # own events: one writer, this node
        previous = GENESIS if writer_seq == 1 else repo.chain_of(conn, me, writer_seq - 1)
    rows: list[dict[str, Any]] = []
    for k, (writer, event, own) in enumerate(batch):
        chain = None
        if own and previous is not None:
            chain = previous = link(previous, repo.chained(writer, writer_seq, event))
        rows.append({
            "seq": first + k, "event_id": event_id_of(event.issue_id, event.version),
            "issue_id": event.issue_id, "version": event.version, "node": writer,
            "kind": event.kind, "actor": event.actor.label(), "at": event.at,
            "payload": dict(event.payload), "published": not own,
            "writer_seq": writer_seq if own else None, "chain": chain})
        if own:
            writer_seq += 1
    bulk.insert_rows(conn, events, rows)
    seqs = list(range(first, first + len(batch)))
    repo.events_projected(conn, [(writer, event, seq, own) for (writer, event, own), seq
                                 in zip(batch, seqs, strict=True)])
    return seqs


def find_incoming_many(conn: Connection, origin: str,
                       transfer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """transfer id → the stored answer, for those of `origin` already accepted."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in repo.chunked(sorted(set(transfer_ids))):
        for tid, response in conn.execute(
                select(transfers_in.c.transfer_id, transfers_in.c.response).where(
                    transfers_in.c.origin == origin, transfers_in.c.transfer_id.in_(chunk))):
            out[tid] = dict(response)
    return out


def add_incoming_many(conn: Connection, origin: str,
                      batch: Sequence[tuple[str, str, dict[str, Any]]], now: datetime) -> None:
    """Inbox rows (transfer id, issue id, answer) of `origin`, one multi-row insert."""
    if batch:
        conn.execute(insert(transfers_in), [
            {"origin": origin, "transfer_id": tid, "issue_id": issue_id, "response": response,
             "received_at": now} for tid, issue_id, response in batch])


def get_outgoing_many(conn: Connection, transfer_ids: Sequence[str]) -> dict[str, OutboxRow]:
    out: dict[str, OutboxRow] = {}
    for chunk in repo.chunked(sorted(set(transfer_ids))):
        for r in conn.execute(select(transfers_out).where(
                transfers_out.c.transfer_id.in_(chunk))):
            row = _row(r)
            out[row.transfer_id] = row
    return out


_FINISH = (
    update(transfers_out)
    .where(transfers_out.c.transfer_id == bindparam("_tid"), transfers_out.c.status == PENDING)
    .values(status=bindparam("_status"), finished_at=bindparam("_now"),
            response=bindparam("_response"), last_error=bindparam("_error"),
            attempts=transfers_out.c.attempts + 1)
)


def finish_outgoing_many(conn: Connection, batch: Sequence[tuple[str, str, dict[str, Any] | None,
                                                                 str | None]],
                         now: datetime) -> None:
    """finish_outgoing for several (transfer id, status, response, error): one executemany."""
    if batch:
        conn.execute(_FINISH, [{"_tid": tid, "_status": status, "_now": now,
                                "_response": response, "_error": error}
                               for tid, status, response, error in batch])


# --------------------------------------------------------------------------- the port


class TransferTransaction:
    """node.app.ports.TransferUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # batches (one statement per kind of read or write)

    def load_issues(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, Issue]:
        return repo.load_issues(self.conn, ids, for_update=for_update)

    def holders_of_numbers(self, numbers: Sequence[str]) -> dict[str, str]:
        return repo.holders_of_numbers(self.conn, numbers)

    def histories(self, ids: Sequence[str]) -> dict[str, list[tuple[Event, str]]]:
        return histories(self.conn, ids)

    def insert_issues(self, batch: Sequence[Issue]) -> None:
        repo.insert_issues(self.conn, batch)

    def update_issues(self, batch: Sequence[tuple[Issue, Issue]]) -> None:
        repo.update_issues(self.conn, batch)

    def append_events(self, batch: Sequence[tuple[str, Event, bool]]) -> None:
        append_events(self.conn, batch)

    def find_incoming_many(self, origin: str, transfer_ids: Sequence[str]
                           ) -> dict[str, dict[str, Any]]:
        return find_incoming_many(self.conn, origin, transfer_ids)

    def add_incoming_many(self, origin: str, batch: Sequence[tuple[str, str, dict[str, Any]]],
                          now: datetime) -> None:
        add_incoming_many(self.conn, origin, batch, now)

    def get_outgoing_many(self, transfer_ids: Sequence[str]) -> dict[str, OutboxRow]:
        return get_outgoing_many(self.conn, transfer_ids)

    def finish_outgoing_many(self, batch: Sequence[tuple[str, str, dict[str, Any] | None,
                                                         str | None]], now: datetime) -> None:
        finish_outgoing_many(self.conn, batch, now)

    # issues and events (node/store/repo.py)

    def load_issue(self, key: str, *, for_update: bool = False) -> Issue | None:
        return repo.load_issue(self.conn, key, for_update=for_update)

    def insert_issue(self, issue: Issue) -> None:
        repo.insert_issue(self.conn, issue)

    def update_issue(self, issue: Issue, *, expected_version: int) -> None:
        repo.update_issue(self.conn, issue, expected_version=expected_version)

    def append_event(self, writer: str, event: Event, *, own: bool) -> None:
        repo.append_event(self.conn, writer, event, own=own)

    def history(self, issue_id: str) -> list[tuple[Event, str]]:
        return [(s.event, s.node) for s in repo.events_of(self.conn, issue_id)]

    def holder_of_number(self, number: str) -> str | None:
        return repo.holder_of_number(self.conn, number)

    # outbox

    def next_transfer_seq(self) -> int:
        return repo.next_counter(self.conn, TRANSFER_SEQ)

    def add_outgoing(self, row: OutboxRow) -> None:
        add_outgoing(self.conn, row)

    def get_outgoing(self, transfer_id: str) -> OutboxRow | None:
        return get_outgoing(self.conn, transfer_id)

    def pending_for_issue(self, issue_id: str) -> OutboxRow | None:
        return pending_for_issue(self.conn, issue_id)

    def last_forwarded_at(self, issue_id: str, kind: str) -> datetime | None:
        return last_forwarded_at(self.conn, issue_id, kind)

    def pending_batch(self, destination: str, limit: int) -> list[OutboxRow]:
        return pending_batch(self.conn, destination, limit)

    def finish_outgoing(self, transfer_id: str, *, status: str, now: datetime,
                        response: dict[str, Any] | None = None,
                        error: str | None = None) -> bool:
        return finish_outgoing(self.conn, transfer_id, status=status, now=now,
                               response=response, error=error)

    def count_attempt(self, transfer_ids: Sequence[str], error: str) -> None:
        count_attempt(self.conn, transfer_ids, error)

    def outbox_summary(self) -> dict[str, tuple[int, datetime | None]]:
        return outbox_summary(self.conn)

    def refused(self, limit: int = 50) -> list[OutboxRow]:
        return refused(self.conn, limit)

    # inbox

    def find_incoming(self, origin: str, transfer_id: str) -> dict[str, Any] | None:
        return find_incoming(self.conn, origin, transfer_id)

    def add_incoming(self, *, origin: str, transfer_id: str, issue_id: str,
                     response: dict[str, Any], now: datetime) -> None:
        add_incoming(self.conn, origin=origin, transfer_id=transfer_id, issue_id=issue_id,
                     response=response, now=now)

    # destinations

    def destination_state(self, node: str) -> DestinationState:
        return destination_state(self.conn, node)

    def save_destination(self, state: DestinationState) -> None:
        save_destination(self.conn, state)


class TransferRecords:
    """node.app.ports.TransferStore over a node's `Store` (its write lock and commit
    listeners included)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[TransferTransaction]:
        with self.store.write() as conn:
            yield TransferTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[TransferTransaction]:
        with self.store.read() as conn:
            yield TransferTransaction(conn)
