"""The attachments' metadata over SQL: node.app.attachments.AttachmentStore, and the
projection that keeps the `attachments` table.

`AttachmentProjection` is registered on the `Store` (node/store/repo.py, "Projections"):
every `attachment_added` event appended to the log — this node's own (an upload) or
another's (a replicated event, an escalation's history) — gets its row in the same
transaction, so a replica or a new owner knows every file of the issue (hash, size, type,
name, origin) without the bytes. An event whose row is already there (a re-sent history)
adds nothing. `AttachmentTransaction` is an `IssueTransaction` plus the reads of that table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, exists, insert, select

from node.app.transfers.types import ATTACH
from node.domain.attachments import ADDED, AttachmentMeta, meta_of
from node.domain.errors import ValidationError
from node.domain.issue import Event, Issue
from node.store.records import IssueTransaction, _constraints_checked
from node.store.repo import Store
from node.store.schema import attachments, transfers_out

_A = attachments


def _meta(row: Any) -> AttachmentMeta:
    m = row._mapping
    return AttachmentMeta(id=m["id"], issue_id=m["issue_id"], sha256=m["sha256"],
                          size=int(m["size"]), content_type=m["content_type"], name=m["name"],
                          origin=m["origin"], uploaded_by=m["uploaded_by"],
                          uploaded_at=m["uploaded_at"], ref=m["ref"], ref_kind=m["ref_kind"],
                          uploader_kind=m["uploader_kind"])


def add_row(conn: Connection, meta: AttachmentMeta) -> bool:
    """Insert the row unless it is there; whether it was inserted."""
    if conn.execute(select(exists().where(_A.c.id == meta.id))).scalar():
        return False
    conn.execute(insert(_A), {
        "id": meta.id, "issue_id": meta.issue_id, "ref": meta.ref, "ref_kind": meta.ref_kind,
        "sha256": meta.sha256, "size": meta.size, "content_type": meta.content_type,
        "name": meta.name, "uploaded_by": meta.uploaded_by,
        "uploader_kind": meta.uploader_kind, "uploaded_at": meta.uploaded_at,
        "origin": meta.origin})
    return True


class AttachmentProjection:
    """repo.Projection: the `attachments` row of every `attachment_added` event."""

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        """Nothing: the event carries the attachment."""

    def issues_written(self, conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
        """Nothing: see issue_written."""

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        if event.kind != ADDED:
            return
        add_row(conn, meta_of(event.issue_id, event.payload, actor_id=event.actor.id,
                              actor_kind=event.actor.kind.value, at=event.at))


class AttachmentTransaction(IssueTransaction):
    """node.app.attachments.AttachmentUnit over one open connection."""

    def attachments_of(self, issue_id: str) -> list[AttachmentMeta]:
        rows = self.conn.execute(select(_A).where(_A.c.issue_id == issue_id)
                                 .order_by(_A.c.uploaded_at, _A.c.id)).all()
        return [_meta(r) for r in rows]

    def attachment(self, attachment_id: str) -> AttachmentMeta | None:
        row = self.conn.execute(select(_A).where(_A.c.id == attachment_id)).first()
        return None if row is None else _meta(row)

    def attachment_of_sha(self, issue_id: str, sha256: str) -> AttachmentMeta | None:
        row = self.conn.execute(select(_A).where(_A.c.issue_id == issue_id,
                                                 _A.c.sha256 == sha256).limit(1)).first()
        return None if row is None else _meta(row)

    def sha_referenced(self, sha256: str) -> bool:
        if self.conn.execute(select(exists().where(_A.c.sha256 == sha256))).scalar():
            return True
        return any(m.sha256 == sha256 for m in self._forwarded(None))

    def forwarded_attachment(self, issue_id: str, sha256: str) -> AttachmentMeta | None:
        """An enterprise's file uploaded here for an issue owned above, as its forwarded
        transfer names it (before the owner's `attachment_added` event comes back down)."""
        return next((m for m in self._forwarded(issue_id) if m.sha256 == sha256), None)

    def _forwarded(self, issue_id: str | None) -> list[AttachmentMeta]:
        stmt = select(transfers_out.c.issue_id, transfers_out.c.event,
                      transfers_out.c.created_at).where(transfers_out.c.kind == ATTACH)
        if issue_id is not None:
            stmt = stmt.where(transfers_out.c.issue_id == issue_id)
        out = []
        for issue, event, at in self.conn.execute(stmt):
            try:
                out.append(meta_of(issue, event["attachment"],
                                   actor_id=event.get("credit_code") or "-",
                                   actor_kind="enterprise", at=at))
            except (KeyError, TypeError, ValidationError):
                continue  # not a file's transfer this release wrote
        return out


class AttachmentRecords:
    """node.app.attachments.AttachmentStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[AttachmentTransaction]:
        with _constraints_checked(self.store) as conn:
            yield AttachmentTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[AttachmentTransaction]:
        with self.store.read() as conn:
            yield AttachmentTransaction(conn)
