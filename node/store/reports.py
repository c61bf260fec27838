"""Periodic reports over SQL: node.app.ports.ReportStore.

`report_facts` reads the few columns a report's figures need (node/domain/reports.py) of
every issue received, resolved or closed since an instant — or running and red now (the
overdue backlog) — in one statement; the light at `now` comes from the stored light
instants like the cockpit's mix (node/store/stats.py). `resolved_at` and `closed_at` have
no index, so the statement scans the issues table: ~0.1 s per 10 000 issues on SQLite.

Reports are rows of `reports` with both files in the row; the unique index on
(node, kind, period) is what keeps one report per period when the schedule and a leader's
request, or two nodes' processes after a restart, race. A report's notice to the leaders
(`add_notice`) goes into the notifications outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from node.app.ports import ReportFiles, StoredReport
from node.domain.notifications import Notice
from node.domain.reports import ReportFact
from node.store.notifications import insert_notice
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import issues, reports

_R = reports
_LISTED = (_R.c.id, _R.c.node, _R.c.kind, _R.c.period, _R.c.version, _R.c.trigger,
           _R.c.actor, _R.c.as_of, _R.c.created_at, _R.c.content, _R.c.pdf_sha256,
           _R.c.xlsx_sha256, func.length(_R.c.pdf).label("pdf_size"),
           func.length(_R.c.xlsx).label("xlsx_size"))


def _stored(row: Any) -> StoredReport:
    m = row._mapping
    return StoredReport(id=m["id"], node=m["node"], kind=m["kind"], period=m["period"],
                        version=m["version"], trigger=m["trigger"], actor=m["actor"],
                        as_of=m["as_of"], created_at=m["created_at"], content=m["content"],
                        pdf_sha256=m["pdf_sha256"], xlsx_sha256=m["xlsx_sha256"],
                        pdf_size=int(m["pdf_size"]), xlsx_size=int(m["xlsx_size"]))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(files: ReportFiles) -> dict[str, Any]:
    return {"content": files.content, "as_of": files.as_of, "pdf": files.pdf,
            "pdf_sha256": sha256_hex(files.pdf), "xlsx": files.xlsx,
            "xlsx_sha256": sha256_hex(files.xlsx)}


class ReportTransaction:
    """node.app.ports.ReportUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def report_facts(self, *, since: datetime, now: datetime,
                     unit_of: Callable[[str], str]) -> list[ReportFact]:
        c = issues.c
        light = case((c.light_red_at.is_(None), "none"), (c.light_red_at <= now, "red"),
                     (c.light_yellow_at <= now, "yellow"), else_="green")
        stmt = select(c.origin, c.department, c.state, light, c.tags, c.received_at,
                      c.resolved_at, c.resolve_due, c.closed_at, c.rating, c.reopen_count,
                      c.outcome, c.credit_code).where(or_(
                          c.received_at >= since, c.resolved_at >= since, c.closed_at >= since,
                          c.light_red_at <= now))
        units: dict[str, str] = {}
        out: list[ReportFact] = []
        for (origin, department, state, lit, tags, received_at, resolved_at, resolve_due,
             closed_at, rating, reopen_count, outcome, credit_code) in self.conn.execute(stmt):
            unit = units.get(origin)
            if unit is None:
                unit = units[origin] = unit_of(origin)
            out.append(ReportFact(
                origin=origin, unit=unit, department=department, state=state, light=lit,
                tags=tuple(tags or ()), received_at=received_at, resolved_at=resolved_at,
                resolve_due=resolve_due, closed_at=closed_at, rating=rating,
                reopen_count=reopen_count, rejected=outcome == "rejected",
                credit_code=credit_code or None))
        return out

    def period_active(self, start: datetime, end: datetime) -> bool:
        c = issues.c
        found = self.conn.execute(select(c.id).where(or_(
            and_(c.received_at >= start, c.received_at < end),
            and_(c.resolved_at >= start, c.resolved_at < end),
            and_(c.closed_at >= start, c.closed_at < end))).limit(1)).first()
        return found is not None

    def report(self, node: str, kind: str, period: str) -> StoredReport | None:
        row = self.conn.execute(select(*_LISTED).where(
            _R.c.node == node, _R.c.kind == kind, _R.c.period == period)).first()
        return _stored(row) if row is not None else None

    def report_by_id(self, report_id: int) -> StoredReport | None:
        row = self.conn.execute(select(*_LISTED).where(_R.c.id == report_id)).first()
        return _stored(row) if row is not None else None

    def reports(self, node: str, *, kind: str | None, limit: int) -> list[StoredReport]:
        stmt = select(*_LISTED).where(_R.c.node == node)
        if kind is not None:
            stmt = stmt.where(_R.c.kind == kind)
        stmt = stmt.order_by(_R.c.id.desc()).limit(limit)
        return [_stored(r) for r in self.conn.execute(stmt)]

    def report_file(self, report_id: int, fmt: str) -> bytes | None:
        column = {"pdf": _R.c.pdf, "xlsx": _R.c.xlsx}[fmt]
        data = self.conn.execute(select(column).where(_R.c.id == report_id)).scalar()
        return bytes(data) if data is not None else None

    def add_report(self, *, node: str, kind: str, period: str, trigger: str, actor: str,
                   at: datetime, files: ReportFiles) -> int:
        row = self.conn.execute(insert(_R).returning(_R.c.id), {
            "node": node, "kind": kind, "period": period, "version": 1, "trigger": trigger,
            "actor": actor, "created_at": at, **_files(files)}).one()
        return int(row[0])

    def replace_report(self, report_id: int, *, trigger: str, actor: str, at: datetime,
                       files: ReportFiles) -> None:
        self.conn.execute(update(_R).where(_R.c.id == report_id).values(
            version=_R.c.version + 1, trigger=trigger, actor=actor, created_at=at,
            **_files(files)))

    def add_notice(self, notice: Notice) -> bool:
        return insert_notice(self.conn, notice)


class ReportRecords:
    """node.app.ports.ReportStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[ReportTransaction]:
        with _constraints_checked(self.store) as conn:
            yield ReportTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[ReportTransaction]:
        with self.store.read() as conn:
            yield ReportTransaction(conn)
