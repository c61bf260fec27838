"""The store side of importing and exporting issues (node/app/imports.py, exports.py).

`ImportRecords.write()` is one `Store.write()` transaction whose unit writes a batch of
imported issues with the set verbs of node/store/outbox.py (one multi-row insert of the
issues rows, of their tags, of their events; the issue counts, summary counts and the
projections kept exactly as `repo.insert_issue` / `append_event` keep them), the numbers
reserved per year with one counter upsert, and the rows of `import_keys` (external id →
issue, original number) in the same transaction: an issue and the key that makes a second
import skip it commit together or not at all. The events are written as this node's own
(`own=True`): unpublished, so the publisher ships them to the city like any other event.

`ExportLog` keeps the rows of `export_log` (and, for an export with personal data, its
audit record in the same transaction: node/store/audit.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from node.app.ports import ConstraintViolation
from node.domain.audit import EXPORT_PERSONAL, AuditRecord
from node.domain.issue import Event, Issue
from node.store import audit, bulk, outbox, repo
from node.store.repo import Store
from node.store.schema import export_log, import_keys

_CHUNK = 500


class ImportTransaction:
    """node.app.imports.ImportUnit over one open connection."""

    def __init__(self, conn: Connection, node: str) -> None:
        self.conn = conn
        self.node = node

    def known_external_ids(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            for ext, issue_id in self.conn.execute(
                    select(import_keys.c.external_id, import_keys.c.issue_id)
                    .where(import_keys.c.external_id.in_(chunk))):
                out[str(ext)] = str(issue_id)
        return out

    def reserve_numbers(self, year: int, k: int) -> int:
        return repo.next_counter_range(self.conn, f"number:{year}", k)

    def write_imported(self, batch: Sequence[tuple[Issue, list[Event], str, str | None]],
                       *, actor: str, at: datetime) -> None:
        if not batch:
            return
        repo.insert_issues(self.conn, [issue for issue, _, _, _ in batch])
        outbox.append_events(self.conn, [(self.node, e, True)
                                         for _, evs, _, _ in batch for e in evs])
        bulk.insert_rows(self.conn, import_keys, [
            {"external_id": ext, "issue_id": issue.id, "original_number": original,
             "actor": actor, "imported_at": at}
            for issue, _, ext, original in batch])
        # one audit record per batch (the imported history itself is no act of today)
        audit.record_in(self.conn, AuditRecord(
            at=at, actor=actor, action="import.issues", target_kind="import",
            target_id=f"{batch[0][0].number}..{batch[-1][0].number}",
            detail={"issues": len(batch), "external_ids": [b[2] for b in batch[:20]]}))


class ImportRecords:
    """node.app.imports.ImportStore over a node's `Store`."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    @contextmanager
    def write(self) -> Iterator[ImportTransaction]:
        try:
            with self.store.write() as conn:
                yield ImportTransaction(conn, self.node)
        except IntegrityError as exc:
            raise ConstraintViolation(str(exc.orig)) from exc

    @contextmanager
    def read(self) -> Iterator[ImportTransaction]:
        with self.store.read() as conn:
            yield ImportTransaction(conn, self.node)


class ExportLog:
    """node.app.exports.ExportRecorder: one row per export of personal data."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, *, actor: str, at: datetime, format: str, filter: dict[str, Any],
               rows: int, personal: bool) -> None:
        with self.store.write() as conn:
            conn.execute(insert(export_log), {"actor": actor, "at": at, "format": format,
                                              "filter": filter, "rows": rows,
                                              "personal": personal})
            if personal:  # and in the audit trail, in the same transaction
                audit.record_in(conn, AuditRecord(
                    at=at, actor=actor, action=EXPORT_PERSONAL, target_kind="export",
                    target_id=format, detail={"filter": filter, "rows": rows}))

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(export_log).order_by(export_log.c.id.desc())
                                .limit(limit))
            return [dict(r._mapping) for r in rows]
