"""The SQL behind the event streams: outbox flags, the replica's writes, marks, dead letters.

Implements the replication ports of node/app/ports.py over a `Store`:

* `SqlEventOutbox` — the node's own events not yet acknowledged by the broker (`published`),
  and what reconciliation re-sends;
* `SqlReplicaRecorder` — one transaction per applied event or batch (`unit()`): the
  replica's issue rows and events, and the replication mark of each writer, each read and
  written by set (one statement per kind for the whole batch);
* `SqlDeadLetters` — messages parked because they do not apply (or not yet);
* `SqlIssueScan` — what the subtree summary reads: the summary counts kept per unit of
  origin and the running rows' lights and overdue list (node/store/repo.py summary_parts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.app.ports import StoredEvent
from node.domain.issue import Event, Issue, event_id_of
from node.domain.summary import OriginPart
from node.store import audit, bulk, repo
from node.store.repo import Store
from node.store.schema import dead_letters, events, issues, replication_marks

# column sizes of dead_letters
MAX_SUBJECT = 200
MAX_ERROR = 2000


# --------------------------------------------------------------------------- outbox


class SqlEventOutbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, limit: int) -> list[tuple[StoredEvent, str]]:
        with self.store.read() as conn:
            found = repo.unpublished(conn, limit)
            origins = dict(conn.execute(
                select(issues.c.id, issues.c.origin)
                .where(issues.c.id.in_({s.event.issue_id for s in found}))).all())
        return [(s, origins[s.event.issue_id]) for s in found]

    def mark_published(self, seqs: Sequence[int]) -> None:
        with self.store.write() as conn:
            repo.mark_published(conn, list(seqs))

    def published_through(self, writer: str) -> int:
        with self.store.read() as conn:
            return int(conn.execute(
                select(func.max(events.c.writer_seq)).where(
                    events.c.node == writer, events.c.published.is_(True))
            ).scalar_one() or 0)

    def republish_after(self, writer: str, writer_seq: int) -> int:
        with self.store.write() as conn:
            return repo.mark_unpublished_from(conn, writer, writer_seq)


# --------------------------------------------------------------------------- replica


class SqlReplicaUnit:
    """The replica's verbs inside one open transaction, one at a time and by set (one
    statement per kind of read or write for a whole batch)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # one at a time

    def load_issue(self, issue_id: str) -> Issue | None:
        return repo.load_issue(self.conn, issue_id, for_update=True)

    def number_holder(self, number: str) -> str | None:
        return repo.holder_of_number(self.conn, number)

    def insert_issue(self, issue: Issue) -> None:
        repo.insert_issue(self.conn, issue)

    def update_issue(self, issue: Issue, *, expected_version: int) -> None:
        repo.update_issue(self.conn, issue, expected_version=expected_version)

    def record_event(self, writer: str, event: Event, *, writer_seq: int | None,
                     chain: str | None = None) -> None:
        repo.append_event(self.conn, writer, event, writer_seq=writer_seq, chain=chain)

    def chain_of(self, writer: str, writer_seq: int) -> str | None:
        return repo.chain_of(self.conn, writer, writer_seq)

    def mark(self, writer: str) -> int | None:
        return self.marks([writer]).get(writer)

    def set_mark(self, writer: str, through_seq: int, *, at: datetime) -> None:
        self.set_marks({writer: through_seq}, at=at)

    # by set (what ReplicaService uses)

    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]:
        return repo.load_issues(self.conn, ids, for_update=True)

    def number_holders(self, numbers: Sequence[str]) -> dict[str, str]:
        return repo.holders_of_numbers(self.conn, numbers) if numbers else {}

    def chains_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        by_writer: dict[str, set[int]] = {}
        for writer, writer_seq in keys:
            by_writer.setdefault(writer, set()).add(writer_seq)
        out: dict[tuple[str, int], str] = {}
        for writer, seqs in by_writer.items():
            for writer_seq, chain in self.conn.execute(_CHAINS, {
                    "node": writer, "seqs": sorted(seqs)}):
                if chain is not None:
                    out[(writer, int(writer_seq))] = str(chain)
        return out

    def marks(self, writers: Sequence[str]) -> dict[str, int]:
        if not writers:
            return {}
        return {str(w): int(t) for w, t in self.conn.execute(_MARKS, {"writers": sorted(
            set(writers))})}

    def insert_issues(self, batch: Sequence[Issue]) -> None:
        repo.insert_issues(self.conn, batch)

    def update_issues(self, batch: Sequence[tuple[Issue, Issue]]) -> None:
        repo.update_issues(self.conn, batch)

    def record_events(self, batch: Sequence[tuple[str, Event, int | None, str | None]]
                      ) -> None:
        """Their local seqs reserved with one counter upsert, one multi-row insert, then
        the projections told of the set in order (repo.events_projected)."""
        if not batch:
            return
        first = repo.next_counter_range(self.conn, repo.EVENT_SEQ, len(batch))
        bulk.insert_rows(self.conn, events, [{
            "seq": first + k, "event_id": event_id_of(event.issue_id, event.version),
            "issue_id": event.issue_id, "version": event.version, "node": writer,
            "kind": event.kind, "actor": event.actor.label(), "at": event.at,
            "payload": dict(event.payload), "published": True, "writer_seq": writer_seq,
            "chain": chain} for k, (writer, event, writer_seq, chain) in enumerate(batch)])
        repo.events_projected(self.conn, [(writer, event, first + k, False) for k, (
            writer, event, _, _) in enumerate(batch)])

    def set_marks(self, marks: dict[str, int], *, at: datetime) -> None:
        if marks:
            self.conn.execute(_MARK_UPSERT[self.conn.dialect.name], [
                {"writer": w, "through_seq": t, "updated_at": at}
                for w, t in sorted(marks.items())])


def _mark_upsert(ins: Any) -> Any:
    stmt = ins(replication_marks).values(writer=bindparam("writer"),
                                         through_seq=bindparam("through_seq"),
                                         updated_at=bindparam("updated_at"))
    return stmt.on_conflict_do_update(
        index_elements=[replication_marks.c.writer],
        set_={"through_seq": stmt.excluded.through_seq, "updated_at": stmt.excluded.updated_at})


_MARK_UPSERT = {"postgresql": _mark_upsert(pg_insert), "sqlite": _mark_upsert(sqlite_insert)}
_CHAINS = select(events.c.writer_seq, events.c.chain).where(
    events.c.node == bindparam("node"), events.c.writer_seq.in_(bindparam("seqs", expanding=True)))
_MARKS = select(replication_marks.c.writer, replication_marks.c.through_seq).where(
    replication_marks.c.writer.in_(bindparam("writers", expanding=True)))


class SqlReplicaRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def unit(self) -> Iterator[SqlReplicaUnit]:
        with self.store.write() as conn:
            yield SqlReplicaUnit(conn)

    def version_of(self, issue_id: str) -> int:
        with self.store.read() as conn:
            issue = repo.load_issue(conn, issue_id)
        return issue.version if issue else 0

    def watermark(self, writer: str) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(replication_marks.c.through_seq).where(
                replication_marks.c.writer == writer)).scalar_one_or_none() or 0)


# --------------------------------------------------------------------------- dead letters


class SqlDeadLetters:
    def __init__(self, store: Store) -> None:
        self.store = store

    def park(self, *, stream: str, stream_seq: int, subject: str, error: str, data: str,
             at: datetime) -> None:
        with self.store.write() as conn:
            exists = conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.stream == stream,
                dead_letters.c.stream_seq == stream_seq)).scalar_one()
            if not exists:
                conn.execute(insert(dead_letters).values(
                    stream=stream, stream_seq=stream_seq, subject=subject[:MAX_SUBJECT],
                    error=error[:MAX_ERROR], data=data, at=at))

    def waiting(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.resolved_at.is_(None))).scalar_one())

    def waiting_with(self, reason: str) -> int:
        """Unresolved parked messages whose error starts with `reason`."""
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.resolved_at.is_(None),
                dead_letters.c.error.startswith(reason, autoescape=True))).scalar_one())

    def parked(self, reason: str, limit: int) -> list[tuple[int, str, str]]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(dead_letters.c.id, dead_letters.c.subject, dead_letters.c.data)
                .where(dead_letters.c.resolved_at.is_(None),
                       dead_letters.c.error.startswith(reason, autoescape=True))
                .order_by(dead_letters.c.id).limit(limit)).all()
        return [(int(r.id), str(r.subject), str(r.data)) for r in rows]

    def resolve(self, letter_id: int, *, at: datetime) -> None:
        with self.store.write() as conn:
            conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id)
                         .values(resolved_at=at))

    def refuse(self, letter_id: int, error: str) -> None:
        with self.store.write() as conn:
            conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id)
                         .values(error=error[:MAX_ERROR]))


# --------------------------------------------------------------------------- summaries


class SqlSummaryReads:
    """The summary's reads inside one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def summary_parts(self, now: datetime) -> dict[str, OriginPart]:
        return repo.summary_parts(self.conn, now)

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        heads = repo.chain_heads(self.conn)
        heads.update(audit.heads(self.conn))  # "audit:<writer>": the audit logs' heads
        return heads


class SqlIssueScan:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def read(self) -> Iterator[SqlSummaryReads]:
        with self.store.read() as conn:
            yield SqlSummaryReads(conn)
