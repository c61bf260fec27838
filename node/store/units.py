"""The organisation units over SQL: node.app.ports.UnitStore.

`units` holds one row per unit (this node's, and those its children published under their
codes); `unit_events` is the append-only change log of this node's units, one row per
change written in the transaction that writes the unit. A unit's row is updated in place:
issues hold unit ids, so a rename touches one row and no issue.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from node.app.ports import StoredUnitEvent
from node.domain.audit import AuditRecord
from node.domain.units import Unit, UnitEvent, UnitKind, as_record
from node.store.audit import record_in
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import unit_events as _E
from node.store.schema import units as _U

_INSERT = insert(_U)
_UPDATE = (update(_U).where(_U.c.id == bindparam("_id"))
           .values({c.name: bindparam(c.name) for c in _U.columns if c.name != "id"}))
_INSERT_EVENT = insert(_E)


def _unit(row: Any) -> Unit:
    return Unit(id=row.id, node=row.node, kind=UnitKind(row.kind), name_zh=row.name_zh,
                name_en=row.name_en, parent_id=row.parent_id, active=bool(row.active),
                external_code=row.external_code)


def _row(unit: Unit, at: datetime) -> dict[str, Any]:
    return {**{k: v for k, v in as_record(unit).items()}, "updated_at": at}


def load_units(conn: Connection, node: str | None = None) -> list[Unit]:
    stmt = select(_U).order_by(_U.c.id)
    if node is not None:
        stmt = stmt.where(_U.c.node == node)
    return [_unit(r) for r in conn.execute(stmt)]


class UnitTransaction:
    """node.app.ports.UnitUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def units(self, node: str | None = None) -> list[Unit]:
        return load_units(self.conn, node)

    def unit(self, unit_id: str) -> Unit | None:
        row = self.conn.execute(select(_U).where(_U.c.id == unit_id)).first()
        return None if row is None else _unit(row)

    def insert_unit(self, unit: Unit, *, at: datetime) -> None:
        self.conn.execute(_INSERT, _row(unit, at))

    def update_unit(self, unit: Unit, *, at: datetime) -> None:
        values = _row(unit, at)
        values["_id"] = values.pop("id")
        self.conn.execute(_UPDATE, values)

    def append_unit_event(self, event: UnitEvent) -> None:
        self.conn.execute(_INSERT_EVENT, {
            "unit_id": event.unit_id, "kind": event.kind, "actor": event.actor.label(),
            "at": event.at, "before": dict(event.before) if event.before else None,
            "after": dict(event.after)})
        # last: the audit trail takes its counter's row lock (node/store/audit.py)
        record_in(self.conn, AuditRecord(
            at=event.at, actor=event.actor.label(), action=f"unit.{event.kind}",
            target_kind="unit", target_id=event.unit_id,
            detail={"before": dict(event.before) if event.before else None,
                    "after": dict(event.after)}))

    def unit_events(self, unit_id: str | None = None, *, limit: int = 200
                    ) -> list[StoredUnitEvent]:
        stmt = select(_E).order_by(_E.c.id.desc()).limit(limit)
        if unit_id is not None:
            stmt = stmt.where(_E.c.unit_id == unit_id)
        return [StoredUnitEvent(id=r.id, unit_id=r.unit_id, kind=r.kind, actor=r.actor,
                                at=r.at, before=r.before, after=r.after)
                for r in self.conn.execute(stmt)]

    def count_units(self, node: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(_U)
                                     .where(_U.c.node == node)).scalar_one())

    def replace_units_of(self, node: str, found: Sequence[Unit], *, at: datetime) -> None:
        """The catalogue another node (a child) published: its rows, replaced as a whole."""
        self.conn.execute(delete(_U).where(_U.c.node == node))
        if found:
            self.conn.execute(_INSERT, [_row(u, at) for u in found])


class UnitRecords:
    """node.app.ports.UnitStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[UnitTransaction]:
        with _constraints_checked(self.store) as conn:
            yield UnitTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[UnitTransaction]:
        with self.store.read() as conn:
            yield UnitTransaction(conn)
