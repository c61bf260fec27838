"""The cockpit's aggregates in SQL (node.app.ports.StatsSource): counts per week, never rows.

Every figure is a GROUP BY that the database computes; Python only receives the cells
(a few thousand at most: weeks × units × departments × a handful of keys). A week is a
bucket of 604 800 seconds counted from `start` (a Monday 00:00 China Standard Time, which
has no daylight saving): `(epoch(t) - epoch(start)) // 604800`, the same integer division
on SQLite (`strftime('%s', …)` of the stored UTC text) and PostgreSQL (`extract(epoch …)`).

- received: issues by the week of `received_at`, origin, department and their light mix at
  `now` (done = resolved or closed; red / yellow / green of the running deadline; none =
  no deadline runs: rejected, escalated, not yet triaged), read through the
  (received_at, id) index;
- resolved: by the week of `resolved_at` (the last resolution), on time when it came by the
  resolve deadline (as the summary's on-time rate counts it); closed: by `closed_at`;
- for the issues received since `recent`: channels, the commonest tags (issue_tags and its
  received_at), and the stages reached — issues with a triage, assign, start or resolve
  event in the log (replicated events included; an EXISTS probe per issue of the window),
  closed ones by `closed_at`.

`resolved_at` and `closed_at` are read through partial indexes (0031) that hold what those
two aggregates group by: the resolved, or closed, rows of the window only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from node.app.ports import Tally
from node.store.repo import Store
from node.store.schema import events, issue_tags, issues

WEEK_S = 7 * 24 * 3600
STAGE_EVENTS = ("triage", "assign", "start", "resolve")


def _epoch(conn: Connection, column: Any) -> ColumnElement[int]:
    if conn.dialect.name == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _week(conn: Connection, column: Any, start: datetime) -> ColumnElement[int]:
    origin = literal(int(start.timestamp()), BigInteger)
    return (_epoch(conn, column) - origin) // literal(WEEK_S, BigInteger)


def _mix(now: datetime) -> ColumnElement[str]:
    c = issues.c
    return case(
        (c.state.in_(("resolved", "closed")), "done"),
        (c.light_red_at.is_(None), "none"),
        (c.light_red_at <= now, "red"),
        (c.light_yellow_at <= now, "yellow"),
        else_="green",
    )


def tallies(conn: Connection, *, start: datetime, weeks: int, recent: datetime,
            now: datetime, top_tags: int) -> list[Tally]:
    c = issues.c
    dept = func.coalesce(c.department, "")
    out: list[Tally] = []

    def weekly(measure: str, column: Any, key: ColumnElement[str] | None = None,
               department: ColumnElement[str] | None = None) -> None:
        week = _week(conn, column, start).label("week")
        groups: list[ColumnElement[Any]] = [week, c.origin]
        groups += [e for e in (department, key) if e is not None]
        stmt = (select(*groups, func.count().label("n"))
                .where(column >= start).group_by(*groups))
        for row in conn.execute(stmt):
            w, origin, n = int(row[0]), row[1], int(row[-1])
            d = row[2] if department is not None else ""
            k = row[-2] if key is not None else ""
            if 0 <= w < weeks:
                out.append(Tally(measure=measure, week=w, origin=origin, department=d,
                                 key=k, count=n))

    on_time = case((or_(c.resolve_due.is_(None), c.resolved_at <= c.resolve_due), "on_time"),
                   else_="late")
    weekly("received", c.received_at, _mix(now), dept)
    weekly("resolved", c.resolved_at, on_time, dept)
    weekly("closed", c.closed_at)

    fresh = c.received_at >= recent
    for origin, channel, n in conn.execute(
            select(c.origin, c.channel, func.count()).where(fresh)
            .group_by(c.origin, c.channel)):
        out.append(Tally(measure="channel", week=-1, origin=origin, department="",
                         key=channel, count=int(n)))
    n_tag = func.count().label("n")
    for tag, n in conn.execute(
            select(issue_tags.c.tag, n_tag).where(issue_tags.c.received_at >= recent)
            .group_by(issue_tags.c.tag).order_by(n_tag.desc(), issue_tags.c.tag)
            .limit(top_tags)):
        out.append(Tally(measure="tag", week=-1, origin="", department="", key=tag,
                         count=int(n)))
    # per issue of the window, an index probe of its own events (events(issue_id, version)):
    # a join of the whole log would read every event of ten years
    reached = [func.sum(case((exists().where(and_(events.c.issue_id == c.id,
                                                  events.c.kind == kind)), 1), else_=0))
               for kind in STAGE_EVENTS]
    closed = func.sum(case((c.closed_at.is_not(None), 1), else_=0))
    counts = conn.execute(select(*reached, closed).where(fresh)).one()
    for kind, n in zip((*STAGE_EVENTS, "close"), counts, strict=True):
        out.append(Tally(measure="stage", week=-1, origin="", department="", key=kind,
                         count=int(n or 0)))
    return out


class SqlStats:
    """node.app.ports.StatsSource over a node's `Store` (one read transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def tallies(self, *, start: datetime, weeks: int, recent: datetime, now: datetime,
                top_tags: int) -> list[Tally]:
        with self.store.read() as conn:
            return tallies(conn, start=start, weeks=weeks, recent=recent, now=now,
                           top_tags=top_tags)
