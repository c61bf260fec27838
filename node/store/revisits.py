"""Revisit draws and tasks over SQL: node.app.ports.RevisitStore.

A `RevisitTransaction` is an `IssueTransaction` (node/store/records.py: issues, events,
outbox) plus the verbs of `revisit_samples` and `revisit_tasks`, so a draw, its issues'
`revisit_sampled` events and its tasks — or a revisit event and its task's outcome —
commit together. The unique index on (node, period, draw) is what turns two concurrent
first draws into one draw and a ConstraintViolation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update

from node.app.ports import RevisitTask, StoredSample
from node.domain.issue import Actor, Event, State
from node.domain.revisits import Logged
from node.domain.sampling import RevisitSample
from node.store.records import IssueTransaction, _constraints_checked
from node.store.repo import Store
from node.store.schema import events, issues, revisit_samples, revisit_tasks

_S, _T = revisit_samples, revisit_tasks
_INSERT_DRAW = insert(_S).returning(_S.c.id)
_INSERT_TASK = insert(_T).returning(_T.c.id)
_TASKS = (
    select(_T, issues.c.number, issues.c.title, issues.c.state.label("issue_state"))
    .join(issues, issues.c.id == _T.c.issue_id)
    .join(_S, _S.c.id == _T.c.sample_id)
)


def _draw(row: Any) -> StoredSample:
    m = row._mapping
    return StoredSample(
        id=m["id"], period=m["period"], actor=m["actor"], created_at=m["created_at"],
        sample=RevisitSample(seed=m["seed"], share=Fraction(m["share"]),
                             frame=tuple(m["frame"]), selected=tuple(m["selected"])),
        draw=m["draw"], reason=m["reason"], redraw_of=m["redraw_of"],
    )


def _task(row: Any) -> RevisitTask:
    m = row._mapping
    return RevisitTask(
        id=m["id"], sample_id=m["sample_id"], issue_id=m["issue_id"], number=m["number"],
        title=m["title"], issue_state=State(m["issue_state"]), state=m["state"],
        due=m["due"], created_at=m["created_at"], attempts=m["attempts"],
        result=m["result"], contact=m["contact"], note=m["note"], done_at=m["done_at"],
        done_by=m["done_by"],
    )


class RevisitTransaction(IssueTransaction):
    """node.app.ports.RevisitUnit over one open connection."""

    def draws_of(self, node: str, period: str) -> list[StoredSample]:
        rows = self.conn.execute(
            select(_S).where(_S.c.node == node, _S.c.period == period).order_by(_S.c.draw)
        ).all()
        return [_draw(r) for r in rows]

    def draw(self, sample_id: int) -> StoredSample | None:
        row = self.conn.execute(select(_S).where(_S.c.id == sample_id)).first()
        return None if row is None else _draw(row)

    def add_draw(self, *, node: str, period: str, sample: RevisitSample, actor: str,
                 at: datetime, draw: int, reason: str | None, redraw_of: int | None) -> int:
        return int(self.conn.execute(_INSERT_DRAW, {
            "node": node, "period": period, "seed": sample.seed, "share": str(sample.share),
            "frame": list(sample.frame), "selected": list(sample.selected), "actor": actor,
            "created_at": at, "draw": draw, "reason": reason, "redraw_of": redraw_of,
        }).scalar_one())

    def supersede_tasks(self, *, node: str, period: str, at: datetime) -> int:
        ids = select(_S.c.id).where(_S.c.node == node, _S.c.period == period)
        result = self.conn.execute(
            update(_T).where(_T.c.state == "open", _T.c.sample_id.in_(ids))
            .values(state="superseded", done_at=at)
        )
        return int(result.rowcount)

    def add_task(self, *, sample_id: int, issue_id: str, due: datetime, at: datetime) -> int:
        return int(self.conn.execute(_INSERT_TASK, {
            "sample_id": sample_id, "issue_id": issue_id, "state": "open", "due": due,
            "created_at": at, "attempts": 0,
        }).scalar_one())

    def task(self, task_id: int, *, for_update: bool = False) -> RevisitTask | None:
        stmt = _TASKS.where(_T.c.id == task_id)
        if for_update and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=_T)
        row = self.conn.execute(stmt).first()
        return None if row is None else _task(row)

    def tasks(self, *, node: str, sample_id: int | None = None,
              period: str | None = None) -> list[RevisitTask]:
        stmt = _TASKS.where(_S.c.node == node)
        if sample_id is not None:
            stmt = stmt.where(_T.c.sample_id == sample_id)
        if period is not None:
            stmt = stmt.where(_S.c.period == period)
        rows = self.conn.execute(stmt.order_by(_T.c.due, _T.c.id)).all()
        return [_task(r) for r in rows]

    def record_attempt(self, task_id: int, *, state: str, result: str, contact: str | None,
                       note: str | None, at: datetime, by: str) -> None:
        self.conn.execute(
            update(_T).where(_T.c.id == task_id).values(
                state=state, result=result, contact=contact, note=note,
                attempts=_T.c.attempts + 1, done_at=at if state == "done" else None,
                done_by=by)
        )

    def histories(self, *, resolved_since: datetime) -> dict[str, list[Logged]]:
        wanted = select(issues.c.id).where(issues.c.resolved_at >= bindparam("since"))
        rows = self.conn.execute(
            select(events.c.issue_id, events.c.version, events.c.kind, events.c.actor,
                   events.c.at, events.c.payload, events.c.node, events.c.writer_seq)
            .where(and_(events.c.issue_id.in_(wanted)))
            .order_by(events.c.issue_id, events.c.version),
            {"since": resolved_since},
        ).all()
        out: dict[str, list[Logged]] = {}
        for r in rows:
            m = r._mapping
            out.setdefault(m["issue_id"], []).append(Logged(
                event=Event(issue_id=m["issue_id"], version=m["version"], kind=m["kind"],
                            actor=Actor.parse(m["actor"]), at=m["at"], payload=m["payload"]),
                writer=m["node"], writer_seq=m["writer_seq"]))
        return out


class RevisitRecords:
    """node.app.ports.RevisitStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[RevisitTransaction]:
        with _constraints_checked(self.store) as conn:
            yield RevisitTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[RevisitTransaction]:
        with self.store.read() as conn:
            yield RevisitTransaction(conn)
