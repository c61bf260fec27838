"""The SQL behind the event streams: outbox flags, the replica's writes, marks, dead letters.

Implements the replication ports of node/app/ports.py over a `Store`:

* `SqlEventOutbox` — the node's own events not yet acknowledged by the broker (`published`),
  and what reconciliation re-sends;
* `SqlReplicaRecorder` — one transaction per applied event or batch (`unit()`): the
  replica's issue rows and events, and the replication mark of each writer;
* `SqlDeadLetters` — messages parked because they do not apply (or not yet);
* `SqlIssueScan` — what the subtree summary reads: the summary counts kept per unit of
  origin and the running rows' lights and overdue list (node/store/repo.py summary_parts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from node.app.ports import StoredEvent
from node.domain.issue import Event, Issue
from node.domain.summary import OriginPart
from node.store import repo
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
    """The replica's verbs inside one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        through = self.conn.execute(select(replication_marks.c.through_seq).where(
            replication_marks.c.writer == writer)).scalar_one_or_none()
        return None if through is None else int(through)

    def set_mark(self, writer: str, through_seq: int, *, at: datetime) -> None:
        moved = self.conn.execute(
            update(replication_marks).where(replication_marks.c.writer == writer)
            .values(through_seq=through_seq, updated_at=at))
        if moved.rowcount == 0:
            self.conn.execute(insert(replication_marks).values(
                writer=writer, through_seq=through_seq, updated_at=at))


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
        return repo.chain_heads(self.conn)


class SqlIssueScan:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def read(self) -> Iterator[SqlSummaryReads]:
        with self.store.read() as conn:
            yield SqlSummaryReads(conn)
