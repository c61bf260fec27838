"""The units of work of the node's own use cases: issues and accounts, over SQL.

Implements node.app.ports.IssueStore and AccountStore over a node's `Store` (its SQLite
write lock and commit listeners included): each `write()`/`read()` is one transaction of
`Store`, and the `IssueTransaction` / `AccountTransaction` it yields binds the SQL verbs of
node/store/repo.py and node/store/users.py — plus the tables only these use cases touch
(idempotency keys of submissions, revisit samples) — to that connection.

A write that breaks a constraint (SQLAlchemy's `IntegrityError`, typically a unique key a
concurrent writer took first) leaves `write()` as `node.app.ports.ConstraintViolation`, after
the rollback, so that the use cases decide what it means without knowing SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from node.app.ports import (
    ConstraintViolation,
    IssueFilter,
    LightCount,
    StoredEvent,
)
from node.domain.issue import Event, Issue
from node.domain.metric_counts import GroupCounts, GroupKey
from node.domain.summary import OriginPart
from node.store import duplicates, metric_counts, outbox, repo, users
from node.store.repo import Store
from node.store.schema import submissions

# Statements are built once: SQLAlchemy then reuses their compiled form on every call.
_FIND_SUBMISSION = select(submissions.c.issue_id).where(
    submissions.c.principal == bindparam("principal"),
    submissions.c.idempotency_key == bindparam("idempotency_key"),
)
_INSERT_SUBMISSION = insert(submissions)


@contextmanager
def _constraints_checked(store: Store) -> Iterator[Connection]:
    """`store.write()`, with a broken constraint raised as ConstraintViolation."""
    try:
        with store.write() as conn:
            yield conn
    except IntegrityError as exc:
        raise ConstraintViolation(str(exc.orig)) from exc


# --------------------------------------------------------------------------- issues


class IssueTransaction:
    """node.app.ports.IssueUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # issues and events (node/store/repo.py)

    def load_issue(self, key: str, *, for_update: bool = False) -> Issue | None:
        return repo.load_issue(self.conn, key, for_update=for_update)

    def next_number(self, year: int) -> int:
        return repo.next_counter(self.conn, f"number:{year}")

    def insert_issue(self, issue: Issue) -> None:
        repo.insert_issue(self.conn, issue)

    def update_issue(self, issue: Issue, *, expected_version: int) -> None:
        repo.update_issue(self.conn, issue, expected_version=expected_version)

    def append_event(self, writer: str, event: Event, *, own: bool) -> None:
        repo.append_event(self.conn, writer, event, own=own)

    def events_of(self, issue_id: str) -> list[StoredEvent]:
        return repo.events_of(self.conn, issue_id)

    def list_issues(self, f: IssueFilter) -> tuple[list[Issue], int]:
        return repo.list_issues(self.conn, f)

    def masters_elsewhere(self, node: str) -> list[str]:
        return duplicates.masters_elsewhere(self.conn, node)

    def count_by_light(self, now: datetime) -> list[LightCount]:
        return repo.count_by_light(self.conn, now)

    def all_issues(self) -> Iterable[Issue]:
        return repo.all_issues(self.conn)

    def summary_parts(self, now: datetime) -> dict[str, OriginPart]:
        return repo.summary_parts(self.conn, now)

    def metric_groups(self, now: datetime) -> dict[GroupKey, GroupCounts]:
        return metric_counts.metric_groups(self.conn, now)

    # the outbox (node/store/outbox.py)

    def transfer_pending(self, issue_id: str) -> bool:
        return outbox.pending_for_issue(self.conn, issue_id) is not None

    # idempotency keys of submissions

    def submission(self, principal: str, idempotency_key: str) -> str | None:
        found = self.conn.execute(
            _FIND_SUBMISSION, {"principal": principal, "idempotency_key": idempotency_key}
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def add_submission(self, *, principal: str, idempotency_key: str, issue_id: str,
                       at: datetime) -> None:
        self.conn.execute(_INSERT_SUBMISSION, {
            "principal": principal, "idempotency_key": idempotency_key,
            "issue_id": issue_id, "created_at": at,
        })


class IssueRecords:
    """node.app.ports.IssueStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[IssueTransaction]:
        with _constraints_checked(self.store) as conn:
            yield IssueTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[IssueTransaction]:
        with self.store.read() as conn:
            yield IssueTransaction(conn)


# --------------------------------------------------------------------------- accounts
#
# node.app.ports.AccountStore lives with its SQL in node/store/users.py.

AccountRecords = users.AccountRecords
AccountTransaction = users.AccountTransaction
