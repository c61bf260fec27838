"""The 有感指数's facts and external evaluations over SQL: node.app.ports.IndexStore.

`index_facts` is the report's read (node/store/reports.py `report_facts`, the same
columns and the same predicate: issues received, resolved or closed since an instant, or
running and red now) with each issue's revisit result, in one statement. Evaluations are
rows of `index_evaluations`, one per (unit, period, kind) under a unique index: a
correction updates the row in place, and the audit record of the old value commits in the
same transaction (node/store/audit.py `record_in`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, insert, or_, select, update

from node.app.ports import StoredEvaluation
from node.domain.audit import AuditRecord
from node.domain.index import IndexFact
from node.domain.reports import ReportFact
from node.store.audit import record_in
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import index_evaluations, issues

_E = index_evaluations


def _stored(row: Any) -> StoredEvaluation:
    m = row._mapping
    return StoredEvaluation(unit=m["unit"], period=m["period"], kind=m["kind"],
                            score=float(m["score"]), source=m["source"],
                            entered_by=m["entered_by"], entered_at=m["entered_at"])


class IndexTransaction:
    """node.app.ports.IndexUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def index_facts(self, *, since: datetime, now: datetime,
                    unit_of: Callable[[str], str]) -> list[IndexFact]:
        c = issues.c
        light = case((c.light_red_at.is_(None), "none"), (c.light_red_at <= now, "red"),
                     (c.light_yellow_at <= now, "yellow"), else_="green")
        stmt = select(c.origin, c.department, c.state, light, c.tags, c.received_at,
                      c.resolved_at, c.resolve_due, c.closed_at, c.rating, c.reopen_count,
                      c.outcome, c.credit_code, c.revisit_result).where(or_(
                          c.received_at >= since, c.resolved_at >= since, c.closed_at >= since,
                          c.light_red_at <= now))
        units: dict[str, str] = {}
        out: list[IndexFact] = []
        for (origin, department, state, lit, tags, received_at, resolved_at, resolve_due,
             closed_at, rating, reopen_count, outcome, credit_code,
             revisit) in self.conn.execute(stmt):
            unit = units.get(origin)
            if unit is None:
                unit = units[origin] = unit_of(origin)
            out.append(IndexFact(fact=ReportFact(
                origin=origin, unit=unit, department=department, state=state, light=lit,
                tags=tuple(tags or ()), received_at=received_at, resolved_at=resolved_at,
                resolve_due=resolve_due, closed_at=closed_at, rating=rating,
                reopen_count=reopen_count, rejected=outcome == "rejected",
                credit_code=credit_code or None), revisit=revisit or None))
        return out

    def evaluations(self, periods: Sequence[str]) -> list[StoredEvaluation]:
        if not periods:
            return []
        stmt = select(_E).where(_E.c.period.in_(list(periods))).order_by(
            _E.c.period, _E.c.unit, _E.c.kind)
        return [_stored(r) for r in self.conn.execute(stmt)]

    def put_evaluation(self, evaluation: StoredEvaluation) -> StoredEvaluation | None:
        e = evaluation
        key = (_E.c.unit == e.unit, _E.c.period == e.period, _E.c.kind == e.kind)
        row = self.conn.execute(select(_E).where(*key)).first()
        values = {"score": e.score, "source": e.source, "entered_by": e.entered_by,
                  "entered_at": e.entered_at}
        if row is None:
            self.conn.execute(insert(_E), {"unit": e.unit, "period": e.period,
                                           "kind": e.kind, **values})
            return None
        self.conn.execute(update(_E).where(*key).values(**values))
        return _stored(row)

    def audit(self, record: AuditRecord) -> None:
        record_in(self.conn, record)


class IndexRecords:
    """node.app.ports.IndexStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[IndexTransaction]:
        with _constraints_checked(self.store) as conn:
            yield IndexTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[IndexTransaction]:
        with self.store.read() as conn:
            yield IndexTransaction(conn)
