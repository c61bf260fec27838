"""Persistence of issues and their events: row ↔ domain mapping and the few SQL verbs.

`Store` opens the transactions. Every function takes an open `Connection` inside a
transaction that the caller owns — one of the units of work the use cases get
(node/store/records.py, outbox.py, eventlog.py) — so one use case = one transaction that
writes the snapshot row, its tag rows and its event together, or nothing.

Lights. An issues row also holds the instants at which its running deadline turns yellow
and red (node/domain/lights.py), so that the pool filters and the cockpit counts by light
in SQL. They depend on the node's working-day calendar, which `Store` carries and hands to
every connection it opens (the execution option CALENDAR): `insert_issue`/`update_issue`
compute them from it in the writing transaction, whichever use case writes (submit, an
action, a replicated event, a transfer). `refresh_lights`, run when the node starts,
recomputes the instants of every running row when the calendar configuration is not the
one they were computed with (its fingerprint is kept in `store_meta`); a store migrated to
revision 0006 has no fingerprint yet, so its first start fills them.

Counts. `issue_counts` holds how many issues there are per (origin, owner, state); every
insert and update of an issues row changes it in the same unit of work (`Store.write()`
collects the changes and applies them last, in key order: see "issue counts" below). With
the running rows' lights, one small aggregate, it gives the cockpit's counts; and it gives
the pool's total when only states and owner filter. Rows written around these verbs (a bulk
loader) need `rebuild_counts` afterwards.

The pool's order is (received_at, id) descending; `list_issues` pages it by offset or,
without scanning what it skips, from a position in that order (keyset: `IssueFilter.after`).
Filtered by a tag, it pages through issue_tags, which holds the same key.

Projections. Other tables that must never disagree with the issues rows or the event log
(a search index, a notification outbox, ...) register a `Projection` on the `Store`
(`Store.projections`); `insert_issue`/`update_issue` and `append_event` call every one of
them inside the same transaction, so the projection commits or rolls back with the write
that caused it — whichever use case writes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.app.ports import IssueFilter, LightCount, StoredEvent
from node.domain.calendar import WorkCalendar
from node.domain.chain import GENESIS, ChainedEvent, link
from node.domain.deadlines import Light
from node.domain.errors import Conflict
from node.domain.issue import (
    Actor,
    Channel,
    Deadline,
    DeadlineKind,
    Enterprise,
    Event,
    Issue,
    Rating,
    RevisitResult,
    State,
    SubjectKind,
    event_id_of,
)
from node.domain.lights import (
    RUNNING_STATES,
    calendar_fingerprint,
    light_times,
    running_light_times,
)
from node.domain.search import Term, query_terms
from node.domain.summary import (
    FINISHED,
    OVERDUE_LIST_MAX,
    SUM,
    IssueLine,
    OriginPart,
    OverdueLine,
    line_counts,
)
from node.domain.units import queue_of
from node.store import bulk, search
from node.store.db import READONLY
from node.store.schema import (
    counters,
    events,
    issue_counts,
    issue_search,
    issue_tags,
    issues,
    store_meta,
    summary_counts,
)

EVENT_SEQ = "event_seq"

#: Execution option of every connection `Store` opens: the node's WorkCalendar, which the
#: light instants of the issues rows written on that connection are computed with.
CALENDAR = "zhitong_calendar"
PROJECTIONS = "zhitong_projections"


class Projection(Protocol):
    """A table kept in step with the issues rows and the event log, in their transaction.
    A projection may also offer `issues_written(conn, [(issue, created), ...])` and
    `events_appended(conn, [(writer, event, seq, own), ...])`: the set writes (a replica's
    batch, an import, an envelope) then call them once per set."""

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        """`issue`'s row was inserted (`created`) or replaced by this snapshot."""

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        """`event` was appended to the log as local `seq`; `own`: this node wrote it."""


def issues_projected(conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
    """Tell every projection that the (issue, created) rows of a set write were written:
    in one call when the projection takes sets (`issues_written`), else one per issue."""
    for projection in projections_of(conn):
        many = getattr(projection, "issues_written", None)
        if many is not None:
            many(conn, batch)
        else:
            for issue, created in batch:
                projection.issue_written(conn, issue, created=created)


def events_projected(conn: Connection, batch: Sequence[tuple[str, Event, int, bool]]) -> None:
    """Tell every projection that the (writer, event, seq, own) rows of a set write were
    appended, in their order: in one call when the projection takes sets
    (`events_appended`), else one per event."""
    if not batch:
        return
    for projection in projections_of(conn):
        many = getattr(projection, "events_appended", None)
        if many is not None:
            many(conn, batch)
        else:
            for writer, event, seq, own in batch:
                projection.event_appended(conn, writer, event, seq=seq, own=own)


#: store_meta row: the fingerprint of the calendar the stored light instants are from.
LIGHTS_CALENDAR = "lights_calendar"
#: conn.info key: the changes of issue_counts the open write transaction has made so far.
_COUNT_CHANGES = "zhitong_count_changes"
#: conn.info key: the same for summary_counts, per (origin, key).
_SUMMARY_CHANGES = "zhitong_summary_changes"
#: conn.info keys starting so are a projection's state of the unit of work: dropped after it.
UNIT_STATE = "zhitong_unit:"

CountKey = tuple[str, str, str]  # (origin, owner, state)


class Store:
    """Transactions over one node's database: `write()` and `read()` yield the open
    `Connection` the verbs below take. `calendar` is the node's working-day calendar (the
    light instants are computed with it); without one, the official calendar."""

    def __init__(self, engine: Engine, calendar: WorkCalendar | None = None) -> None:
        self.engine = engine
        self.calendar = calendar if calendar is not None else WorkCalendar()
        # SQLite has one writer at a time. Queueing writers on a lock in the process is
        # fairer and cheaper than SQLite's busy handler, which polls with growing sleeps
        # and starves unlucky writers (p99 of 8 concurrent writers: 549 ms without it).
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        #: Called (from the writing thread) after every committed write: wakes the
        #: publisher and the summary task without polling.
        self.after_commit: list[Callable[[], None]] = []
        #: Kept in the writing transaction (see "Projections" above).
        self.projections: list[Projection] = []

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self._connect() as conn, conn.begin(), _counting(conn):
                yield conn
        else:
            with self._write_lock, self._connect() as conn, conn.begin(), _counting(conn):
                yield conn
        for listener in self.after_commit:
            listener()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._connect(**{READONLY: True}) as conn, conn.begin():
            yield conn

    def _connect(self, **options: Any) -> Connection:
        return self.engine.connect().execution_options(
            **{CALENDAR: self.calendar, PROJECTIONS: self.projections}, **options)


def calendar_of(conn: Connection) -> WorkCalendar:
    """The calendar the connection's `Store` carries."""
    calendar = conn.get_execution_options().get(CALENDAR)
    if not isinstance(calendar, WorkCalendar):
        raise RuntimeError("issues are written through Store.write(): it carries the calendar "
                           "their light instants are computed with")
    return calendar


# --------------------------------------------------------------------------- issue counts
#
# issue_counts changes with every issues row written, but the rows are updated only when
# the unit of work is done, in key order: on PostgreSQL a count row stays locked until the
# commit, and a unit that took count rows while it still had events to append (a replica
# batch) could otherwise wait for a writer that waits for it.


def _summary_changes(conn: Connection) -> Counter[tuple[str, str]]:
    changes = conn.info.get(_SUMMARY_CHANGES)
    if not isinstance(changes, Counter):
        raise RuntimeError("issues are written through Store.write(): it keeps their counts")
    return changes


def line_of_row(row: Mapping[Any, Any]) -> IssueLine:
    """The summary line (light left out: it changes with time) of an issues row."""
    return IssueLine(
        number=row["number"], title=row["title"], origin=row["origin"], state=row["state"],
        light=None, tags=split_tags(row["tags"])[0], received_at=row["received_at"],
        resolved_at=row["resolved_at"], resolve_due=row["resolve_due"],
        due=row["deadline_due"], rating=row["rating"], reopen_count=row["reopen_count"],
        rejected=row["outcome"] == "rejected")


def _summary_add(conn: Connection, row: Mapping[Any, Any], sign: int) -> None:
    changes = _summary_changes(conn)
    origin = row["origin"]
    for key, n in line_counts(line_of_row(row)).items():
        changes[(origin, key)] += sign * n


def _count_changes(conn: Connection) -> Counter[CountKey]:
    changes = conn.info.get(_COUNT_CHANGES)
    if not isinstance(changes, Counter):
        raise RuntimeError("issues are written through Store.write(): it keeps their counts")
    return changes


def _summary_upsert(ins: Any) -> Any:
    stmt = ins(summary_counts).values(origin=bindparam("origin"), key=bindparam("key"),
                                      n=bindparam("n"))
    return stmt.on_conflict_do_update(
        index_elements=[summary_counts.c.origin, summary_counts.c.key],
        set_={"n": summary_counts.c.n + stmt.excluded.n})


_SUMMARY_UPSERT = {"postgresql": _summary_upsert(pg_insert),
                   "sqlite": _summary_upsert(sqlite_insert)}


def _count_upsert(ins: Any) -> Any:
    stmt = ins(issue_counts).values(origin=bindparam("origin"), owner=bindparam("owner"),
                                    state=bindparam("state"), n=bindparam("n"))
    return stmt.on_conflict_do_update(
        index_elements=[issue_counts.c.origin, issue_counts.c.owner, issue_counts.c.state],
        set_={"n": issue_counts.c.n + stmt.excluded.n})


_COUNT_UPSERT = {"postgresql": _count_upsert(pg_insert), "sqlite": _count_upsert(sqlite_insert)}


@contextmanager
def _counting(conn: Connection) -> Iterator[None]:
    """Collect the count changes of the unit of work; apply them when it is done."""
    changes: Counter[CountKey] = Counter()
    summary: Counter[tuple[str, str]] = Counter()
    conn.info[_COUNT_CHANGES] = changes
    conn.info[_SUMMARY_CHANGES] = summary
    try:
        yield
        for projection in projections_of(conn):  # e.g. node/store/metric_counts.py
            done = getattr(projection, "unit_done", None)
            if done is not None:
                done(conn)
        for (origin, owner, state), n in sorted(changes.items()):
            if n:
                conn.execute(_COUNT_UPSERT[conn.dialect.name],
                             {"origin": origin, "owner": owner, "state": state, "n": n})
        rows = [{"origin": o, "key": k, "n": n} for (o, k), n in sorted(summary.items()) if n]
        if rows:
            conn.execute(_SUMMARY_UPSERT[conn.dialect.name], rows)
    finally:
        del conn.info[_COUNT_CHANGES]
        del conn.info[_SUMMARY_CHANGES]
        for key in [k for k in conn.info if isinstance(k, str) and k.startswith(UNIT_STATE)]:
            del conn.info[key]  # a projection's state of this unit of work


def rebuild_counts(conn: Connection, *, batch: int = 5000) -> None:
    """Recount issue_counts and summary_counts from the issues rows (after rows were loaded
    around the verbs below, e.g. by a bulk loader; `ensure_summary_counts` after the
    migration that adds summary_counts). One pass over the rows, in batches."""
    conn.execute(delete(issue_counts))
    conn.execute(insert(issue_counts).from_select(
        ["origin", "owner", "state", "n"],
        select(issues.c.origin, issues.c.owner, issues.c.state, func.count())
        .group_by(issues.c.origin, issues.c.owner, issues.c.state)))
    conn.execute(delete(summary_counts))
    totals: Counter[tuple[str, str]] = Counter()
    result = conn.execute(select(*(issues.c[name] for name in _SUMMARY_COLUMNS))
                          .execution_options(yield_per=batch))
    for row in result:
        line = line_of_row(row._mapping)
        for key, n in line_counts(line).items():
            totals[(line.origin, key)] += n
    rows = [{"origin": o, "key": k, "n": n} for (o, k), n in sorted(totals.items()) if n]
    for start in range(0, len(rows), batch):
        conn.execute(insert(summary_counts), rows[start:start + batch])
    _set_meta(conn, SUMMARY_COUNTS, SUMMARY_COUNTS_VERSION)


SUMMARY_COUNTS = "summary_counts"
#: Raised when line_counts changes what it counts: the node's next start recounts.
SUMMARY_COUNTS_VERSION = "1"


def _set_meta(conn: Connection, name: str, value: str) -> None:
    ins: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(store_meta).values(name=name, value=value).on_conflict_do_update(
        index_elements=[store_meta.c.name], set_={"value": value}))


def ensure_summary_counts(store: Store) -> bool:
    """Recount once when summary_counts was never filled for this version of the counts
    (a store migrated to 0012, or counted by an older line_counts); True when it did.
    Run at node start; on PostgreSQL the meta row's lock keeps starting processes apart."""
    with store.write() as conn:
        stmt = select(store_meta.c.value).where(store_meta.c.name == SUMMARY_COUNTS)
        if conn.dialect.name == "postgresql":
            conn.execute(pg_insert(store_meta).values(name=SUMMARY_COUNTS, value="")
                         .on_conflict_do_nothing())
            stmt = stmt.with_for_update()
        if conn.execute(stmt).scalar_one_or_none() == SUMMARY_COUNTS_VERSION:
            return False
        rebuild_counts(conn)
    return True


def summary_parts(conn: Connection, now: datetime) -> dict[str, OriginPart]:
    """Every unit of origin's part of the summary at `now`: the kept counts, and from the
    running rows (the partial index of rows with a light) the lights and the first
    OVERDUE_LIST_MAX overdue issues by due time. No scan of every issue."""
    counts: dict[str, dict[str, int]] = {}
    for origin, key, n in conn.execute(select(summary_counts)):
        if n:
            counts.setdefault(origin, {})[key] = int(n)
    unfinished = and_(issues.c.light_red_at.is_not(None), issues.c.state.not_in(FINISHED))
    lights: dict[str, dict[str, int]] = {}
    by_light = select(issues.c.origin, *(func.sum(case((light_condition(light, now), 1),
                                                       else_=0)) for light in Light)
                      ).where(unfinished).group_by(issues.c.origin)
    for origin, *ns in conn.execute(by_light):
        lights[origin] = {light.value: int(n) for light, n in zip(Light, ns, strict=True) if n}
    rank = func.row_number().over(partition_by=issues.c.origin,
                                  order_by=(issues.c.deadline_due, issues.c.number)).label("rank")
    late = (select(issues.c.origin, issues.c.number, issues.c.title, issues.c.deadline_due,
                   rank)
            .where(unfinished, issues.c.light_red_at <= now, issues.c.deadline_due.is_not(None))
            .subquery())
    overdue: dict[str, list[OverdueLine]] = {}
    for origin, number, title, due, _ in conn.execute(
            select(late).where(late.c.rank <= OVERDUE_LIST_MAX)
            .order_by(late.c.origin, late.c.rank)):
        overdue.setdefault(origin, []).append(
            OverdueLine(due=due, number=number, title=title, origin=origin))
    from node.store.metric_counts import recurrence_sums  # 重发复发率 (0030)

    for origin, sums in recurrence_sums(conn, now).items():
        counts.setdefault(origin, {}).update({SUM + k: n for k, n in sums.items()})
    return {o: OriginPart(counts=counts.get(o, {}), lights=lights.get(o, {}),
                          overdue=tuple(overdue.get(o, ())))
            for o in sorted(set(counts) | set(lights))}


# --------------------------------------------------------------------------- counters


def _counter_upsert(ins: Any) -> Any:
    stmt = ins(counters).values(name=bindparam("name"), value=1)
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + 1}
    ).returning(counters.c.value)


# Statements are built once: SQLAlchemy then reuses their compiled form on every call.
_COUNTER_UPSERT = {
    "postgresql": _counter_upsert(pg_insert),
    "sqlite": _counter_upsert(sqlite_insert),
}


def next_counter(conn: Connection, name: str) -> int:
    """Increment and return a named counter inside the caller's transaction.

    One upsert with RETURNING. The row lock it takes serialises concurrent writers on
    PostgreSQL, so the values are gapless and commit in the order they were handed out.
    """
    value = conn.execute(_COUNTER_UPSERT[conn.dialect.name], {"name": name}).scalar_one()
    return int(value)


def _counter_reserve(ins: Any) -> Any:
    stmt = ins(counters).values(name=bindparam("name"), value=bindparam("k"))
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + stmt.excluded.value}
    ).returning(counters.c.value)


_COUNTER_RESERVE = {"postgresql": _counter_reserve(pg_insert),
                    "sqlite": _counter_reserve(sqlite_insert)}


def next_counter_range(conn: Connection, name: str, k: int) -> int:
    """`next_counter` for `k` (≥ 1) values at once, with one upsert: the first of them (the
    rest follow it without a gap)."""
    last = conn.execute(_COUNTER_RESERVE[conn.dialect.name], {"name": name, "k": k}
                        ).scalar_one()
    return int(last) - k + 1


# --------------------------------------------------------------------------- mapping


def tags_value(issue: Issue) -> list[Any]:
    """The `tags` JSON column: the tags, then — only for an issue that has them — one object
    with the intake's facts (`subject_kind` of a common issue, `channel_fields`), so that
    they live in the row without a column of their own and older rows read as before."""
    extras: dict[str, Any] = {}
    if issue.is_common:
        extras["subject_kind"] = issue.subject_kind.value
    if issue.channel_fields:
        extras["channel_fields"] = dict(issue.channel_fields)
    return [*issue.tags, extras] if extras else list(issue.tags)


def split_tags(value: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(tags, intake facts) of a `tags` column value written by `tags_value`."""
    items = list(value)
    extras = items.pop() if items and isinstance(items[-1], dict) else {}
    return tuple(items), extras


def issue_row(issue: Issue, calendar: WorkCalendar) -> dict[str, Any]:
    """The values of the issues row of `issue`: its snapshot, and the light instants of its
    running deadline on `calendar` (the node's; None when no deadline runs)."""
    d = issue.deadline
    times = running_light_times(issue, calendar)
    return {
        "id": issue.id,
        "number": issue.number,
        "origin": issue.origin,
        "owner": issue.owner,
        "state": issue.state.value,
        "version": issue.version,
        "enterprise_name": issue.enterprise.name,
        "credit_code": issue.enterprise.credit_code,
        "contact_phone": issue.enterprise.contact_phone,
        "channel": issue.channel.value,
        "title": issue.title,
        "content": issue.content,
        "tags": tags_value(issue),
        "board": issue.board,
        "department": issue.department,
        "ladder_step": issue.ladder_step,
        "deadline_kind": d.kind.value if d else None,
        "deadline_start": d.start if d else None,
        "deadline_due": d.due if d else None,
        "resolve_due": issue.resolve_due,
        "urge_count": issue.urge_count,
        "last_enterprise_urge_at": issue.last_enterprise_urge_at,
        "reply": issue.reply,
        "rejection_reason": issue.rejection_reason,
        "rejected_by": issue.rejected_by,
        "rating": issue.rating.value if issue.rating else None,
        "rating_comment": issue.rating_comment,
        "reopen_count": issue.reopen_count,
        "resolved_at": issue.resolved_at,
        "closed_at": issue.closed_at,
        "outcome": issue.outcome,
        "revisit_result": issue.revisit_result.value if issue.revisit_result else None,
        "came_from": issue.came_from,
        "supervision_count": issue.supervision_count,
        "received_at": issue.received_at,
        "updated_at": issue.updated_at,
        "light_yellow_at": times.yellow_at if times else None,
        "light_red_at": times.red_at if times else None,
        "ladder_unit": issue.ladder_unit,
        "queue_unit": queue_of(issue),
    }


def tag_rows(issue: Issue) -> list[dict[str, Any]]:
    """The issue_tags rows of `issue`."""
    return [{"issue_id": issue.id, "tag": t, "received_at": issue.received_at}
            for t in issue.tags]


def count_key(issue: Issue) -> CountKey:
    """The issue_counts row an issue is counted in."""
    return (issue.origin, issue.owner, issue.state.value)


def issue_from_row(row: Any) -> Issue:
    """The Issue of a row read with the issues columns (by name)."""
    return _issue_of(row._mapping)


_ISSUE_COLUMNS = tuple(c.name for c in issues.columns)


def _issue_of(m: Mapping[str, Any]) -> Issue:
    """The Issue of the issues columns' values by name (a row's mapping, or a dict of
    bulk.select_in's row: a plain dict is read faster than SQLAlchemy's RowMapping)."""
    tags, extras = split_tags(m["tags"])
    deadline = None
    if m["deadline_kind"] is not None:
        deadline = Deadline(
            kind=DeadlineKind(m["deadline_kind"]), start=m["deadline_start"], due=m["deadline_due"]
        )
    return Issue(
        id=m["id"],
        number=m["number"],
        origin=m["origin"],
        owner=m["owner"],
        state=State(m["state"]),
        version=m["version"],
        enterprise=Enterprise(
            name=m["enterprise_name"],
            credit_code=m["credit_code"],
            contact_phone=m["contact_phone"],
        ),
        channel=Channel(m["channel"]),
        title=m["title"],
        content=m["content"],
        tags=tags,
        board=m["board"],
        department=m["department"],
        ladder_step=m["ladder_step"],
        deadline=deadline,
        resolve_due=m["resolve_due"],
        urge_count=m["urge_count"],
        last_enterprise_urge_at=m["last_enterprise_urge_at"],
        reply=m["reply"],
        rejection_reason=m["rejection_reason"],
        rejected_by=m["rejected_by"],
        rating=Rating(m["rating"]) if m["rating"] else None,
        rating_comment=m["rating_comment"],
        reopen_count=m["reopen_count"],
        resolved_at=m["resolved_at"],
        closed_at=m["closed_at"],
        outcome=m["outcome"],
        revisit_result=RevisitResult(m["revisit_result"]) if m["revisit_result"] else None,
        came_from=m["came_from"],
        supervision_count=m["supervision_count"],
        received_at=m["received_at"],
        updated_at=m["updated_at"],
        subject_kind=SubjectKind(extras.get("subject_kind", SubjectKind.ENTERPRISE.value)),
        channel_fields=tuple(sorted(extras.get("channel_fields", {}).items())),
        ladder_unit=m["ladder_unit"],
    )


# --------------------------------------------------------------------------- issues


_INSERT_ISSUE = insert(issues)
_UPDATE_ISSUE = (
    update(issues)
    .where(issues.c.id == bindparam("_id"), issues.c.version == bindparam("_expected"))
    .values({c.name: bindparam(c.name) for c in issues.columns if c.name != "id"})
)
_INSERT_TAG = insert(issue_tags)
_DELETE_TAGS = delete(issue_tags).where(issue_tags.c.issue_id == bindparam("issue_id"))


_SUMMARY_COLUMNS = ("number", "title", "origin", "state", "tags", "received_at", "resolved_at",
                    "resolve_due", "deadline_due", "rating", "reopen_count", "outcome")
_OLD_KEY = select(issues.c.owner, *(issues.c[name] for name in _SUMMARY_COLUMNS)).where(
    issues.c.id == bindparam("id"))


def projections_of(conn: Connection) -> list[Projection]:
    """The projections of the connection's `Store` (none for a bare connection)."""
    found: list[Projection] = conn.get_execution_options().get(PROJECTIONS, [])
    return found


def insert_issue(conn: Connection, issue: Issue) -> None:
    row = issue_row(issue, calendar_of(conn))
    conn.execute(_INSERT_ISSUE, row)
    if issue.tags:
        conn.execute(_INSERT_TAG, tag_rows(issue))
    _count_changes(conn)[count_key(issue)] += 1
    _summary_add(conn, row, +1)
    for projection in projections_of(conn):
        projection.issue_written(conn, issue, created=True)


def update_issue(conn: Connection, issue: Issue, *, expected_version: int) -> None:
    """Write the new snapshot if nobody else moved the version meanwhile."""
    changes = _count_changes(conn)
    old = conn.execute(_OLD_KEY, {"id": issue.id}).first()
    values = issue_row(issue, calendar_of(conn))
    if old is not None:
        _summary_add(conn, old._mapping, -1)
        _summary_add(conn, values, +1)
    values["_id"] = values.pop("id")
    values["_expected"] = expected_version
    result = conn.execute(_UPDATE_ISSUE, values)
    if result.rowcount != 1 or old is None:
        raise Conflict("concurrent_update", issue_id=issue.id,
                       expected_version=expected_version)
    conn.execute(_DELETE_TAGS, {"issue_id": issue.id})
    if issue.tags:
        conn.execute(_INSERT_TAG, tag_rows(issue))
    old_key: CountKey = (old.origin, old.owner, old.state)
    if old_key != count_key(issue):
        changes[old_key] -= 1
        changes[count_key(issue)] += 1
    for projection in projections_of(conn):
        projection.issue_written(conn, issue, created=False)


# Issues by set (a batch in one transaction: a replica's fetched batch): one statement per
# kind of read or write; counts, summary changes, tag rows, light instants and projections
# kept exactly as insert_issue / update_issue keep them.


def chunked(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def load_issues(conn: Connection, ids: Sequence[str], *,
                for_update: bool = False) -> dict[str, Issue]:
    """The issues of `ids` held, by id (locked on PostgreSQL with `for_update`)."""
    out: dict[str, Issue] = {}
    # bulk.select_in: on SQLite the DB-API's rows, converted by the columns' processors
    # without SQLAlchemy's per-row Result machinery; SQLAlchemy's select elsewhere
    for chunk in chunked(sorted(set(ids))):
        for values in bulk.select_in(conn, issues, "id", chunk, for_update=for_update):
            issue = _issue_of(dict(zip(_ISSUE_COLUMNS, values, strict=True)))
            out[issue.id] = issue
    return out


def holders_of_numbers(conn: Connection, numbers: Sequence[str]) -> dict[str, str]:
    """number → the id of the issue that holds it, for those held."""
    out: dict[str, str] = {}
    for chunk in chunked(sorted(set(numbers))):
        for number, issue_id in conn.execute(
                select(issues.c.number, issues.c.id).where(issues.c.number.in_(chunk))):
            out[str(number)] = str(issue_id)
    return out


def insert_issues(conn: Connection, batch: Sequence[Issue]) -> None:
    """insert_issue for several new issues: one multi-row insert of the rows, one of the
    tag rows."""
    if not batch:
        return
    calendar = calendar_of(conn)
    rows = [issue_row(issue, calendar) for issue in batch]
    bulk.insert_rows(conn, issues, rows)
    if tags := [t for issue in batch for t in tag_rows(issue)]:
        bulk.insert_rows(conn, issue_tags, tags)
    changes = _count_changes(conn)
    for issue, row in zip(batch, rows, strict=True):
        changes[count_key(issue)] += 1
        _summary_add(conn, row, +1)
    issues_projected(conn, [(issue, True) for issue in batch])


#: update_issues' rows find the row to update by `_id` and its stored version `_expected`
_UPDATE_MATCH = {"_id": "id", "_expected": "version"}
_OLD_KEYS = select(issues.c.id, issues.c.owner, *(issues.c[name] for name in _SUMMARY_COLUMNS)
                   ).where(issues.c.id.in_(bindparam("ids", expanding=True)))


def update_issues(conn: Connection, batch: Sequence[tuple[Issue, Issue]]) -> None:
    """update_issue for several (new snapshot, the stored one it replaces — read in this
    transaction) pairs: the stored rows' counted columns in one query, one executemany of
    the updates, each guarded by the stored version (Conflict if any moved), and the tag
    rows of the issues whose tags changed. The updates and tag rows go through bulk.py (the
    DB-API's executemany on SQLite; its summed rowcount is the guard's as SQLAlchemy's was)."""
    if not batch:
        return
    calendar = calendar_of(conn)
    stored: dict[str, Any] = {}
    for chunk in chunked([new.id for new, _ in batch]):
        stored.update((r.id, r._mapping) for r in conn.execute(_OLD_KEYS, {"ids": chunk}))
    values = []
    for new, old in batch:
        row = issue_row(new, calendar)
        if new.id in stored:
            _summary_add(conn, stored[new.id], -1)
            _summary_add(conn, row, +1)
        row["_id"] = row.pop("id")
        row["_expected"] = old.version
        values.append(row)
    if (bulk.update_rows(conn, issues, values, match=_UPDATE_MATCH) != len(batch)
            or len(stored) != len(batch)):
        new, old = batch[0]
        raise Conflict("concurrent_update", issue_id=new.id, expected_version=old.version)
    retagged = [new for new, old in batch
                if (new.tags, new.received_at) != (old.tags, old.received_at)]
    if retagged:
        conn.execute(_DELETE_TAGS, [{"issue_id": new.id} for new in retagged])
        if tags := [t for new in retagged for t in tag_rows(new)]:
            bulk.insert_rows(conn, issue_tags, tags)
    changes = _count_changes(conn)
    for new, _ in batch:
        old_row = stored[new.id]
        old_key: CountKey = (old_row["origin"], old_row["owner"], old_row["state"])
        if old_key != count_key(new):
            changes[old_key] -= 1
            changes[count_key(new)] += 1
    issues_projected(conn, [(new, False) for new, _ in batch])


def load_issue(conn: Connection, key: str, *, for_update: bool = False) -> Issue | None:
    """Load by global id or by human number."""
    stmt = select(issues).where(or_(issues.c.id == key, issues.c.number == key))
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return issue_from_row(row) if row is not None else None


def holder_of_number(conn: Connection, number: str) -> str | None:
    """The id of the issue that holds human number `number`, if any."""
    found = conn.execute(select(issues.c.id).where(issues.c.number == number)).scalar()
    return str(found) if found is not None else None


def light_condition(light: Light, now: datetime) -> ColumnElement[bool]:
    """Rows whose running deadline shows `light` at `now` (rows without one show none)."""
    yellow_at, red_at = issues.c.light_yellow_at, issues.c.light_red_at
    if light is Light.RED:
        return red_at <= now
    if light is Light.YELLOW:
        return and_(red_at > now, yellow_at <= now)
    # yellow_at <= red_at: the first term is implied, and it lets a planner take an index
    # of the running rows (light_red_at IS NOT NULL)
    return and_(red_at > now, yellow_at > now)


def pool_conditions(f: IssueFilter, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    """The WHERE terms of the filter on the issues table (tag and keyset position apart).

    `text` is a full-text search (node/store/search.py): here the issues holding every term
    of it, unless `ranked` (then `pool_query` joins the matches, to order by their score)."""
    conds: list[ColumnElement[bool]] = []
    if f.states:
        conds.append(issues.c.state.in_([s.value for s in f.states]))
    if f.owner:
        conds.append(issues.c.owner == f.owner)
    if f.origin:
        conds.append(issues.c.origin == f.origin)
    if f.board:
        conds.append(issues.c.board == f.board)
    if f.department:
        conds.append(issues.c.department == f.department)
    if f.credit_code:
        conds.append(issues.c.credit_code == f.credit_code)
    if f.queues is not None:  # node/domain/units.py queue_of: the unit holding it now
        conds.append(func.coalesce(issues.c.queue_unit, issues.c.department, issues.c.board)
                     .in_(f.queues))
    if f.unit:  # the unit's queue (node/domain/units.py queue_of), indexed
        conds.append(issues.c.queue_unit == f.unit)
    if f.ladder_step is not None:
        conds.append(issues.c.ladder_step == f.ladder_step)
    if f.overdue_at is not None:
        conds.append(light_condition(Light.RED, f.overdue_at))
    if f.light is not None:
        if f.now is None:
            raise ValueError("IssueFilter.light needs IssueFilter.now")
        conds.append(light_condition(f.light, f.now))
    if f.red_by is not None:
        if f.now is None:
            raise ValueError("IssueFilter.red_by needs IssueFilter.now")
        conds.append(and_(issues.c.light_red_at > f.now, issues.c.light_red_at <= f.red_by))
    if (terms := _search_terms(f)) and not f.ranked:
        conds.append(search.matching_ids(terms))
    elif f.text and not terms:  # nothing searchable in it (only punctuation): no issue
        conds.append(false())
    return conds


def _search_terms(f: IssueFilter) -> tuple[Term, ...]:
    """The full-text terms of `f.text` (none: `text` holds no word, and then no issue
    matches it)."""
    return query_terms(f.text) if f.text else ()


def _pool_source(f: IssueFilter, dialect: str = "sqlite"
                 ) -> tuple[Any, Any, Any, list[ColumnElement[bool]]]:
    """FROM, the two columns of the pool's order key, and the tag condition. Filtered by a
    tag, the pool pages through issue_tags' index (tag, received_at, issue_id), which holds
    the same key: only the issues of that tag are visited, already in order. A ranked
    search starts from the matches of the index (node/store/search.py) instead."""
    if f.ranked and (terms := _search_terms(f)):
        found = search.matches(dialect, terms).subquery("found")
        tag: list[ColumnElement[bool]] = (
            [issues.c.id.in_(select(issue_tags.c.issue_id).where(issue_tags.c.tag == f.tag))]
            if f.tag else [])
        return (found.join(issues, issues.c.id == found.c.issue_id), issues.c.received_at,
                issues.c.id, tag)
    if f.tag:
        return (issue_tags.join(issues, issues.c.id == issue_tags.c.issue_id),
                issue_tags.c.received_at, issue_tags.c.issue_id, [issue_tags.c.tag == f.tag])
    return issues, issues.c.received_at, issues.c.id, []


def pool_query(f: IssueFilter, dialect: str = "sqlite", *, columns: Any = None) -> Any:
    """The SELECT of one page of the pool (what list_issues runs; EXPLAIN tests read it).
    Ranked (a search with `ranked`): best match first, then the pool's order; paged by
    offset only (a score is no stable position to resume from). `columns`: what to select
    (the issues rows by default)."""
    source, received_at, issue_id, conds = _pool_source(f, dialect)
    conds = [*conds, *pool_conditions(f, dialect)]
    ranked = f.ranked and bool(_search_terms(f))
    if ranked and not conds:  # nothing but the words: the best page straight from the index
        top = (search.matches(dialect, _search_terms(f))
               .order_by(literal_column("score"), issue_search.c.issue_id.desc())
               .limit(f.limit).offset(f.offset or None).subquery("top"))
        return (select(*(columns if columns is not None else (issues,)))
                .select_from(top.join(issues, issues.c.id == top.c.issue_id))
                .order_by(top.c.score, issues.c.id.desc()))
    if f.after is not None and not ranked:
        conds.append(tuple_(received_at, issue_id)
                     < tuple_(literal(f.after.received_at, issues.c.received_at.type),
                              literal(f.after.id)))
    order: tuple[Any, ...] = (received_at.desc(), issue_id.desc())
    if ranked:
        order = (source.left.c.score, *order)
    stmt = (select(*(columns if columns is not None else (issues,))).select_from(source)
            .order_by(*order))
    if conds:
        stmt = stmt.where(and_(*conds))
    return stmt.limit(f.limit).offset(f.offset or None)


def count_query(f: IssueFilter, dialect: str = "sqlite") -> Any:
    """How many issues match the filter (keyset position and paging apart). A ranked
    search counts like a filtered one: no score is computed for the count."""
    if f.ranked:
        f = replace(f, ranked=False)
    source, _, _, conds = _pool_source(f, dialect)
    more = pool_conditions(f, dialect)
    if f.tag and not more and source is not issues and not f.ranked:
        source = issue_tags  # every tag row has its issue: count the tag's index entries
    stmt = select(func.count()).select_from(source)
    conds = [*conds, *more]
    return stmt.where(and_(*conds)) if conds else stmt


def _only_text(f: IssueFilter) -> bool:
    """Whether nothing but the words of a search filters."""
    return not (f.tag or f.states or f.owner or f.origin or f.board or f.department
                or f.credit_code or f.unit or f.ladder_step is not None
                or f.queues is not None or f.overdue_at is not None
                or f.light is not None or f.red_by is not None)


def _counted_by_state(f: IssueFilter) -> bool:
    """Whether issue_counts answers how many issues match: only states, owner and origin
    filter."""
    return not (f.tag or f.board or f.department or f.credit_code or f.text
                or f.unit or f.ladder_step is not None
                or f.queues is not None or f.overdue_at is not None
                or f.light is not None or f.red_by is not None)


def total_query(f: IssueFilter, dialect: str = "sqlite") -> Any:
    """How many issues match, as cheaply as exactly: from issue_counts when only states,
    owner and origin filter; else counted, up to `f.count_limit` rows when that is set.
    A ranked search is counted as a filter: the total needs no score."""
    f = replace(f, ranked=False)
    if _counted_by_state(f):
        stmt = select(func.coalesce(func.sum(issue_counts.c.n), 0))
        if f.states:
            stmt = stmt.where(issue_counts.c.state.in_([s.value for s in f.states]))
        if f.owner:
            stmt = stmt.where(issue_counts.c.owner == f.owner)
        if f.origin:
            stmt = stmt.where(issue_counts.c.origin == f.origin)
        return stmt
    terms = _search_terms(f)
    if terms and _only_text(f):  # the index counts its matches (every one is an issue)
        return search.count_matches(dialect, terms)
    if f.count_limit is None:
        return count_query(f, dialect)
    if terms and dialect == "sqlite":
        # the newest matches first (the index's rowids follow arrival): the open issues a
        # pool filters for are mostly recent, so the bound is met after few matches
        source, match, _ = search.ranked_from(terms)
        conds = [match, *pool_conditions(replace(f, ranked=True), dialect)]  # MATCH is here
        if f.tag:
            conds.append(issues.c.id.in_(select(issue_tags.c.issue_id)
                                         .where(issue_tags.c.tag == f.tag)))
        first = (select(literal(1)).select_from(source).where(and_(*conds))
                 .order_by(search.fts.c.rowid.desc()).limit(f.count_limit))
        return select(func.count()).select_from(first.subquery())
    source, _, _, conds = _pool_source(f, dialect)
    first = select(literal(1)).select_from(source)
    if conds := [*conds, *pool_conditions(f, dialect)]:
        first = first.where(and_(*conds))
    return select(func.count()).select_from(first.limit(f.count_limit).subquery())


def _ranked_page_sqlite(conn: Connection, f: IssueFilter, terms: Sequence[Term]) -> list[str]:
    """The ids of one page of a ranked search on SQLite: the newest RANK_WINDOW matches of
    the words that pass the other filters, best first (bm25, then newest), and after them
    the older matches that pass, newest first (node/store/search.py RANK_WINDOW). Each part
    is bounded: the first by the window, the second stops at the page (the index is read
    in rowid order). Words alone rank and page in the index before any issue row is read."""
    floor = conn.execute(search.window_floor(terms)).scalar_one_or_none() or 0
    source, match, score = search.ranked_from(terms)
    rowid = search.fts.c.rowid
    conds: list[ColumnElement[bool]] = list(pool_conditions(f, "sqlite"))
    if f.tag:
        conds.append(issues.c.id.in_(select(issue_tags.c.issue_id)
                                     .where(issue_tags.c.tag == f.tag)))
    if not conds:  # the window holds RANK_WINDOW matches exactly when `floor` is set
        window = (select(rowid.label("doc"), score).select_from(search.fts)
                  .where(match, rowid >= floor)
                  .order_by(literal_column("score"), rowid.desc())
                  .limit(f.limit).offset(f.offset or None).subquery("w"))
        page = list(conn.execute(
            select(issue_search.c.issue_id)
            .select_from(window.join(issue_search, issue_search.c.doc_id == window.c.doc))
            .order_by(window.c.score, window.c.doc.desc())).scalars())
        in_window = search.RANK_WINDOW if floor else len(page) + f.offset
    else:
        recent = list(conn.execute(
            select(issues.c.id, score).select_from(source).where(match, *conds, rowid >= floor)
            .order_by(literal_column("score"), rowid.desc())).scalars())
        page, in_window = recent[f.offset:f.offset + f.limit], len(recent)
    if len(page) < f.limit and floor:
        page += conn.execute(
            select(issues.c.id).select_from(source).where(match, *conds, rowid < floor)
            .order_by(rowid.desc()).limit(f.limit - len(page))
            .offset(max(0, f.offset - in_window) or None)).scalars()
    return page


#: A search whose other filters issue_counts counts (states, owner, origin) and that at
#: most this many issues pass starts from those issues (`_driven_docs`); when at most
#: DRIVEN_PAGE_MAX of them hold the words, its page is ordered from them too.
DRIVEN_COUNT_MAX = 50_000
DRIVEN_PAGE_MAX = 5_000


def _driven_docs(conn: Connection, f: IssueFilter, terms: Sequence[Term]) -> list[int] | None:
    """The index documents of the issues matching a search with a selective filter on
    SQLite, or None when the filter is not one issue_counts can size or more than
    DRIVEN_COUNT_MAX issues pass it.

    Counted the general way, a search joins every match to its issue (用电: 93,000 of
    1,000,000; ~150-300 ms), and a page of a rare state scans every match for the few that
    pass. Here the issues that pass the filter are read from their index (the open states:
    ~16,500) and each one's document is looked up in the list of the words' matches, which
    FTS5 gives as integers without reading a row (`+doc_id`: SQLite would otherwise drive
    the join from that list): 用电 with the open states ~30-80 ms. A broad filter is counted
    by `total_query` instead, bounded by `f.count_limit` (newest first)."""
    bare = replace(f, text=None, ranked=False)
    if not (bare.states or bare.owner or bare.origin) or not _counted_by_state(bare):
        return None
    if int(conn.execute(total_query(bare, "sqlite")).scalar_one()) > DRIVEN_COUNT_MAX:
        return None
    stmt = (select(issue_search.c.doc_id).select_from(
        issues.join(issue_search, issue_search.c.issue_id == issues.c.id))
        .where(*pool_conditions(bare, "sqlite"),
               literal_column(f"+{issue_search.name}.doc_id").in_(search.matched_docs(terms))))
    return list(conn.execute(stmt).scalars())


def _ranked_page_of_docs(conn: Connection, f: IssueFilter, terms: Sequence[Term],
                         docs: Sequence[int]) -> list[str]:
    """`_ranked_page_sqlite`'s page from the documents known to pass the filter: those in
    the window of the newest RANK_WINDOW matches by bm25 (one query of the window), then
    the older ones, newest first."""
    _, match, score = search.ranked_from(terms)
    rowid = search.fts.c.rowid
    scores: dict[int, float] = {doc: value for doc, value in conn.execute(  # one index pass
        select(rowid, score).select_from(search.fts).where(match)
        .order_by(rowid.desc()).limit(search.RANK_WINDOW))}
    order = (sorted((d for d in docs if d in scores), key=lambda d: (scores[d], -d))
             + sorted((d for d in docs if d not in scores), reverse=True))
    page = order[f.offset:f.offset + f.limit]
    ids: dict[int, str] = {doc: issue_id for doc, issue_id in conn.execute(
        select(issue_search.c.doc_id, issue_search.c.issue_id)
        .where(issue_search.c.doc_id.in_(page)))}
    return [ids[d] for d in page if d in ids]


def list_issues(conn: Connection, f: IssueFilter) -> tuple[list[Issue], int]:
    """A page of the pool in its order and, unless `f.count` is False, how many issues match
    the filter in all (-1 when not counted; at most `f.count_limit` when that is set)."""
    dialect = conn.dialect.name
    terms = _search_terms(f)
    docs = (_driven_docs(conn, f, terms) if dialect == "sqlite" and terms
            and (f.count or f.ranked) and not _only_text(f) else None)
    if not f.count:
        total = -1
    elif docs is not None:
        total = len(docs)
    else:
        total = int(conn.execute(total_query(f, dialect)).scalar_one())
    if f.ranked and terms and dialect == "sqlite":
        ids = (_ranked_page_of_docs(conn, f, terms, docs)
               if docs is not None and len(docs) <= DRIVEN_PAGE_MAX
               else _ranked_page_sqlite(conn, f, terms))
        found = {i.id: i for i in issues_by_ids(conn, ids)}
        return [found[i] for i in ids if i in found], total
    if f.ranked and terms:
        # the page's ids first (a narrow sort of the matches), then their rows
        ids = list(conn.execute(pool_query(f, dialect, columns=(issues.c.id,))).scalars())
        found = {i.id: i for i in issues_by_ids(conn, ids)}
        return [found[i] for i in ids if i in found], total
    rows = conn.execute(pool_query(f, dialect)).all()
    return [issue_from_row(r) for r in rows], total


def running_counts_query(now: datetime) -> Any:
    """Per (origin, owner, state) of the running rows: how many show each Light at `now`."""
    key = (issues.c.origin, issues.c.owner, issues.c.state)
    return (select(*key, *(func.sum(case((light_condition(light, now), 1), else_=0))
                           for light in Light))
            .where(issues.c.light_red_at.is_not(None)).group_by(*key))


def count_by_light(conn: Connection, now: datetime) -> list[LightCount]:
    """How many issues there are per (origin, owner, state, light at `now`).

    The totals per (origin, owner, state) are issue_counts; the lights, one aggregate of the
    running rows in the order of the partial index ix_issues_running_counts, which holds all
    it reads. What is left of a total shows no light."""
    out: list[LightCount] = []
    unlit: Counter[CountKey] = Counter()
    for origin, owner, state, n in conn.execute(select(issue_counts)):
        unlit[(origin, owner, state)] += int(n)
    for origin, owner, state, *by_light in conn.execute(running_counts_query(now)):
        for light, n in zip(Light, by_light, strict=True):
            if n:
                out.append(LightCount(origin=origin, owner=owner, state=State(state),
                                      light=light, count=int(n)))
                unlit[(origin, owner, state)] -= int(n)
    out.extend(LightCount(origin=o, owner=w, state=State(s), light=None, count=n)
               for (o, w, s), n in sorted(unlit.items()) if n)
    return out


# --------------------------------------------------------------------------- lights


_RUNNING = and_(issues.c.deadline_start.is_not(None),
                issues.c.state.in_(sorted(s.value for s in RUNNING_STATES)))
_SET_LIGHTS = (update(issues).where(issues.c.id == bindparam("_id"))
               .values(light_yellow_at=bindparam("yellow_at"), light_red_at=bindparam("red_at")))


def _fingerprint_row(conn: Connection) -> str | None:
    stmt = select(store_meta.c.value).where(store_meta.c.name == LIGHTS_CALENDAR)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else str(found)


def refresh_lights(store: Store, *, batch: int = 2000) -> int | None:
    """Recompute the light instants of every running row if they were computed with another
    calendar configuration than the store's (or nobody recorded which); one transaction.

    Returns how many rows were recomputed, None when the fingerprint matched. Run at node
    start, before anything writes: a concurrent writer computes with its own calendar."""
    fingerprint = calendar_fingerprint(store.calendar)
    with store.write() as conn:
        if conn.dialect.name == "postgresql":  # one starting process at a time
            conn.execute(pg_insert(store_meta).values(name=LIGHTS_CALENDAR, value="")
                         .on_conflict_do_nothing())
        stored = _fingerprint_row(conn)
        if stored == fingerprint:
            return None
        calendar = store.calendar
        # rows whose deadline no longer runs keep no instants (none should have any)
        conn.execute(update(issues).where(~_RUNNING, issues.c.light_red_at.is_not(None))
                     .values(light_yellow_at=None, light_red_at=None))
        rows = conn.execute(select(issues.c.id, issues.c.deadline_start, issues.c.deadline_due)
                            .where(_RUNNING).order_by(issues.c.id)).all()
        done = 0
        for lo in range(0, len(rows), batch):
            params = []
            for issue_id, start, due in rows[lo:lo + batch]:
                times = light_times(start=start, due=due, calendar=calendar)
                params.append({"_id": issue_id, "yellow_at": times.yellow_at,
                               "red_at": times.red_at})
            conn.execute(_SET_LIGHTS, params)
            done += len(params)
        if stored is None:
            conn.execute(insert(store_meta).values(name=LIGHTS_CALENDAR, value=fingerprint))
        else:
            conn.execute(update(store_meta).where(store_meta.c.name == LIGHTS_CALENDAR)
                         .values(value=fingerprint))
        return done


def issue_heads(conn: Connection) -> list[tuple[str, int, str]]:
    """(id, version, origin) of every issue: what a cache of derived data checks against."""
    return [(str(i), int(v), str(o)) for i, v, o in conn.execute(
        select(issues.c.id, issues.c.version, issues.c.origin))]


def issues_by_ids(conn: Connection, ids: Sequence[str], *, chunk: int = 500) -> list[Issue]:
    found: list[Issue] = []
    for lo in range(0, len(ids), chunk):
        found.extend(issue_from_row(r) for r in conn.execute(
            select(issues).where(issues.c.id.in_(ids[lo:lo + chunk]))))
    return found


def all_issues(conn: Connection) -> Iterable[Issue]:
    for row in conn.execute(select(issues)):
        yield issue_from_row(row)


# --------------------------------------------------------------------------- events


_INSERT_EVENT = insert(events)


WRITER_SEQ = "writer_seq"


def append_event(
    conn: Connection,
    writer: str,
    event: Event,
    *,
    writer_seq: int | None = None,
    own: bool = False,
    chain: str | None = None,
) -> int:
    """Append one event to the local log; returns its local `seq`.

    `own`: this node wrote it — it gets the next writer_seq, its link in this node's hash
    chain (node/domain/chain.py; the previous link is the row at writer_seq - 1, committed
    before the counter row let this transaction on) and waits to be published. Otherwise it
    is replicated from `writer` (with the writer's `writer_seq` and `chain` link when
    known) and is never published again by this node.
    """
    seq = next_counter(conn, EVENT_SEQ)
    if own:
        writer_seq = next_counter(conn, WRITER_SEQ)
        previous = GENESIS if writer_seq == 1 else chain_of(conn, writer, writer_seq - 1)
        chain = None if previous is None else link(previous, chained(writer, writer_seq, event))
    conn.execute(
        _INSERT_EVENT,
        {
            "seq": seq,
            "event_id": event_id_of(event.issue_id, event.version),
            "issue_id": event.issue_id,
            "version": event.version,
            "node": writer,
            "kind": event.kind,
            "actor": event.actor.label(),
            "at": event.at,
            "payload": dict(event.payload),
            "published": not own,
            "writer_seq": writer_seq,
            "chain": chain,
        },
    )
    for projection in projections_of(conn):
        projection.event_appended(conn, writer, event, seq=seq, own=own)
    return seq


def chained(writer: str, writer_seq: int, event: Event) -> ChainedEvent:
    return ChainedEvent(writer=writer, writer_seq=writer_seq,
                        event_id=event_id_of(event.issue_id, event.version),
                        issue_id=event.issue_id, version=event.version, kind=event.kind,
                        actor=event.actor.label(), at=event.at, payload=event.payload)


_CHAIN_OF = select(events.c.chain).where(events.c.node == bindparam("node"),
                                         events.c.writer_seq == bindparam("writer_seq"))


def chain_of(conn: Connection, writer: str, writer_seq: int) -> str | None:
    """The stored link of `writer`'s event `writer_seq` (None: not held, or not linked)."""
    found = conn.execute(_CHAIN_OF, {"node": writer, "writer_seq": writer_seq}
                         ).scalar_one_or_none()
    return None if found is None else str(found)


def chain_rows(conn: Connection, writer: str, *, batch: int = 5000
               ) -> Iterator[tuple[ChainedEvent, str | None]]:
    """`writer`'s events held here in writer_seq order, with their stored links."""
    stmt = (select(events).where(events.c.node == writer, events.c.writer_seq.is_not(None))
            .order_by(events.c.writer_seq).execution_options(yield_per=batch))
    for row in conn.execute(stmt):
        stored = _stored(row)
        assert stored.writer_seq is not None
        yield chained(stored.node, stored.writer_seq, stored.event), stored.chain


def chain_heads(conn: Connection) -> dict[str, tuple[int, str]]:
    """Each writer's latest linked event held here: writer → (writer_seq, link)."""
    last = (select(events.c.node, func.max(events.c.writer_seq).label("seq"))
            .where(events.c.chain.is_not(None)).group_by(events.c.node).subquery())
    rows = conn.execute(select(events.c.node, events.c.writer_seq, events.c.chain).join(
        last, and_(events.c.node == last.c.node, events.c.writer_seq == last.c.seq)))
    return {node: (int(seq), str(chain)) for node, seq, chain in rows}


def writers(conn: Connection) -> list[str]:
    return sorted(conn.execute(select(events.c.node).where(events.c.writer_seq.is_not(None))
                               .distinct()).scalars())


def ensure_event_chain(store: Store, writer: str, *, batch: int = 2000) -> int:
    """Link this node's own events that have no link yet (a store migrated to 0013), in
    writer_seq order, continuing from the last linked one; returns how many. Run at node
    start, before anything writes."""
    with store.write() as conn:
        rows = conn.execute(select(events.c.seq, events.c.writer_seq, events.c.chain)
                            .where(events.c.node == writer, events.c.writer_seq.is_not(None))
                            .order_by(events.c.writer_seq)).all()
        todo = [r for r in rows if r.chain is None]
        if not todo:
            return 0
        previous = GENESIS
        done = 0
        by_seq = {r.seq for r in todo}
        for lo in range(0, len(rows), batch):
            part = rows[lo:lo + batch]
            need = [r.seq for r in part if r.seq in by_seq]
            full = ({r.seq: _stored(r) for r in conn.execute(
                select(events).where(events.c.seq.in_(need)))} if need else {})
            updates = []
            for r in part:
                if r.chain is not None:
                    previous = r.chain
                    continue
                stored = full[r.seq]
                previous = link(previous, chained(writer, r.writer_seq, stored.event))
                updates.append({"_seq": r.seq, "chain": previous})
            if updates:
                conn.execute(update(events).where(events.c.seq == bindparam("_seq"))
                             .values(chain=bindparam("chain")), updates)
                done += len(updates)
        return done


def _stored(row: Any) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        seq=m["seq"],
        event_id=m["event_id"],
        node=m["node"],
        writer_seq=m["writer_seq"],
        chain=m["chain"],
        event=Event(
            issue_id=m["issue_id"],
            version=m["version"],
            kind=m["kind"],
            actor=Actor.parse(m["actor"]),
            at=m["at"],
            payload=m["payload"],
        ),
    )


def events_of(conn: Connection, issue_id: str) -> list[StoredEvent]:
    rows = conn.execute(
        select(events).where(events.c.issue_id == issue_id).order_by(events.c.version)
    ).all()
    return [_stored(r) for r in rows]


def events_after(conn: Connection, seq: int, limit: int) -> list[StoredEvent]:
    rows = conn.execute(
        select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    ).all()
    return [_stored(r) for r in rows]


def unpublished(conn: Connection, limit: int) -> list[StoredEvent]:
    """This node's own events not yet acknowledged by the broker, in writer order."""
    rows = conn.execute(
        select(events)
        .where(events.c.published.is_(False))
        .order_by(events.c.writer_seq)
        .limit(limit)
    ).all()
    return [_stored(r) for r in rows]


def mark_published(conn: Connection, seqs: list[int]) -> None:
    conn.execute(update(events).where(events.c.seq.in_(seqs)).values(published=True))


def mark_unpublished_from(conn: Connection, writer: str, writer_seq: int) -> int:
    """Re-send this node's events after `writer_seq` (reconciliation found them missing)."""
    result = conn.execute(
        update(events)
        .where(events.c.node == writer, events.c.writer_seq > writer_seq,
               events.c.published.is_(True))
        .values(published=False)
    )
    return int(result.rowcount)


def max_writer_seq(conn: Connection, writer: str) -> int:
    value = conn.execute(
        select(func.max(events.c.writer_seq)).where(events.c.node == writer)
    ).scalar_one()
    return int(value or 0)
