"""The tag library over SQL: node.app.ports.TagStore and TagLibraryReads.

The whole library is read in one transaction (a few hundred to a few thousand rows: two
small tables and their aliases) and handed to the pure domain (node/domain/tags.py), which
decides every change; `save` writes what it decided — the entries upserted, a renamed
tag's former names and a merge's old id into `tag_aliases`, one `tag_changes` row per
change — in the same transaction. Nothing is ever deleted.

Every change is also kept in the audit trail (node/store/audit.py), in the same
transaction. `adopt` gives the entries a migration wrote under the placeholder origin (it
did not know the node's code) the node's code and their final ids; the node calls it at
start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Table, func, insert, select, update

from node.app.ports import TagChangeRow, TagProposal
from node.domain.audit import AuditRecord
from node.domain.tags import UNADOPTED, Category, Library, Outcome, Tag
from node.store.audit import record_in
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import (
    tag_aliases,
    tag_categories,
    tag_changes,
    tag_entries,
    tag_proposals,
)


def load_library(conn: Connection, node: str) -> Library:
    former: dict[str, list[str]] = {}
    for row in conn.execute(select(tag_aliases.c.tag_id, tag_aliases.c.alias)
                            .where(tag_aliases.c.kind == "name")
                            .order_by(tag_aliases.c.at, tag_aliases.c.alias)):
        former.setdefault(row.tag_id, []).append(row.alias)
    categories = {r.id: Category(id=r.id, name_zh=r.name_zh, name_en=r.name_en,
                                 active=bool(r.active), origin=r.origin)
                  for r in conn.execute(select(tag_categories))}
    tags = {}
    for r in conn.execute(select(tag_entries)):
        names = (r.name_zh, r.name_en)
        tags[r.id] = Tag(id=r.id, category=r.category, name_zh=r.name_zh, name_en=r.name_en,
                         active=bool(r.active), origin=r.origin, merged_into=r.merged_into,
                         former_names=tuple(n for n in former.get(r.id, ()) if n not in names))
    return Library(node=node, categories=categories, tags=tags)


def _upsert(conn: Connection, table: Table, row: dict[str, object]) -> None:
    done = conn.execute(update(table).where(table.c.id == row["id"]).values(
        **{k: v for k, v in row.items() if k != "id"}))
    if done.rowcount == 0:
        conn.execute(insert(table).values(**row))


def save(conn: Connection, outcome: Outcome, *, actor: str, at: datetime) -> None:
    for c in outcome.categories:
        _upsert(conn, tag_categories, {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en,
                                       "active": c.active, "origin": c.origin,
                                       "updated_at": at})
    known = {(r.tag_id, r.alias) for r in conn.execute(
        select(tag_aliases.c.tag_id, tag_aliases.c.alias).where(
            tag_aliases.c.tag_id.in_([t.id for t in outcome.tags] +
                                     [t.merged_into for t in outcome.tags if t.merged_into])))}
    for t in outcome.tags:
        _upsert(conn, tag_entries, {"id": t.id, "category": t.category, "name_zh": t.name_zh,
                                    "name_en": t.name_en, "active": t.active,
                                    "origin": t.origin, "merged_into": t.merged_into,
                                    "updated_at": at})
        aliases = [(t.id, n, "name") for n in t.former_names]
        if t.merged_into is not None:
            aliases.append((t.merged_into, t.id, "merge"))
        for tag_id, alias, kind in aliases:
            if (tag_id, alias) not in known:
                known.add((tag_id, alias))
                conn.execute(insert(tag_aliases).values(tag_id=tag_id, alias=alias,
                                                        kind=kind, at=at))
    if outcome.changes:
        conn.execute(insert(tag_changes), [
            {"at": at, "actor": actor[:80], "kind": ch.kind, "subject": ch.subject,
             "detail": dict(ch.detail)} for ch in outcome.changes])
    for ch in outcome.changes:  # last: the audit trail takes its counter's row lock
        record_in(conn, AuditRecord(at=at, actor=actor, action=f"tag.{ch.kind}",
                                    target_kind="tag", target_id=ch.subject,
                                    detail=dict(ch.detail)))


def adopt(conn: Connection, node: str) -> int:
    """Give the migration's placeholder entries this node's code; how many were adopted."""
    prefix_c, prefix_t = f"c.{UNADOPTED}.", f"t.{UNADOPTED}."
    n = 0
    for r in conn.execute(select(tag_categories.c.id).where(
            tag_categories.c.origin == UNADOPTED)).all():
        new = f"c.{node}." + r.id[len(prefix_c):]
        conn.execute(update(tag_categories).where(tag_categories.c.id == r.id)
                     .values(id=new, origin=node))
        conn.execute(update(tag_entries).where(tag_entries.c.category == r.id)
                     .values(category=new))
    for r in conn.execute(select(tag_entries.c.id).where(
            tag_entries.c.origin == UNADOPTED)).all():
        new = f"t.{node}." + r.id[len(prefix_t):]
        conn.execute(update(tag_entries).where(tag_entries.c.id == r.id)
                     .values(id=new, origin=node))
        n += 1
    return n


def _proposal(r: object) -> TagProposal:
    m = r._mapping  # type: ignore[attr-defined]
    return TagProposal(**{k: m[k] for k in (
        "id", "category", "name_zh", "name_en", "issue_id", "note", "state", "proposed_by",
        "proposed_at", "decided_by", "decided_at", "tag_id")})


class TagTransaction:
    """node.app.ports.TagUnit over one open connection."""

    def __init__(self, conn: Connection, node: str) -> None:
        self.conn = conn
        self.node = node

    def library(self) -> Library:
        return load_library(self.conn, self.node)

    def save(self, outcome: Outcome, *, actor: str, at: datetime) -> None:
        save(self.conn, outcome, actor=actor, at=at)

    def add_proposal(self, *, category: str, name_zh: str, name_en: str | None,
                     issue_id: str | None, note: str | None, by: str, at: datetime) -> int:
        done = self.conn.execute(insert(tag_proposals).values(
            category=category, name_zh=name_zh, name_en=name_en, issue_id=issue_id,
            note=note, state="pending", proposed_by=by, proposed_at=at))
        pk = done.inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def proposal(self, proposal_id: int, *, for_update: bool = False) -> TagProposal | None:
        stmt = select(tag_proposals).where(tag_proposals.c.id == proposal_id)
        if for_update and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return None if row is None else _proposal(row)

    def proposals(self, state: str | None, limit: int) -> list[TagProposal]:
        stmt = select(tag_proposals).order_by(tag_proposals.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(tag_proposals.c.state == state)
        return [_proposal(r) for r in self.conn.execute(stmt)]

    def decide_proposal(self, proposal_id: int, *, state: str, by: str, at: datetime,
                        tag_id: str | None) -> None:
        self.conn.execute(update(tag_proposals).where(tag_proposals.c.id == proposal_id)
                          .values(state=state, decided_by=by, decided_at=at, tag_id=tag_id))

    def changes(self, limit: int) -> list[TagChangeRow]:
        rows = self.conn.execute(select(tag_changes).order_by(tag_changes.c.id.desc())
                                 .limit(limit))
        return [TagChangeRow(id=r.id, at=r.at, actor=r.actor, kind=r.kind, subject=r.subject,
                             detail=dict(r.detail)) for r in rows]


class TagRecords:
    """node.app.ports.TagStore and TagLibraryReads over a node's `Store`."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    @contextmanager
    def write(self) -> Iterator[TagTransaction]:
        with _constraints_checked(self.store) as conn:
            yield TagTransaction(conn, self.node)

    @contextmanager
    def read(self) -> Iterator[TagTransaction]:
        with self.store.read() as conn:
            yield TagTransaction(conn, self.node)

    def library(self) -> Library:
        with self.store.read() as conn:
            return load_library(conn, self.node)

    def adopt(self) -> int:
        """See `adopt`; a no-op (one indexed count) when nothing waits."""
        with self.store.read() as conn:
            waiting = conn.execute(select(func.count()).select_from(tag_entries).where(
                tag_entries.c.origin == UNADOPTED)).scalar_one()
            waiting += conn.execute(select(func.count()).select_from(tag_categories).where(
                tag_categories.c.origin == UNADOPTED)).scalar_one()
        if not waiting:
            return 0
        with self.store.write() as conn:
            return adopt(conn, self.node)
