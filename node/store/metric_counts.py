"""The handling metrics and the summaries' 重发复发率 without a scan of every issue.

How it works. `MetricsProjection` is registered on the Store (node/runtime.py), so every
write of an issues row — whichever use case, a county's replica at the city, an import —
also writes, in the same transaction:

* `metric_facts`, one row per issue: the group (origin, owner, board, department) and the
  counts (node/domain/metric_counts.py `fact_counts`) it last added, and what the
  recurrence reads of it (enterprise, tags, received and closed instants, eligibility);
* `metric_counts`, the sums per group: what the old row added is taken off, what the new
  one adds is put on. The changes of a unit of work are applied once, in key order, when it
  is done (repo's `_counting` calls `unit_done`), like issue_counts and summary_counts.

Recurrence. Whether a closed issue recurred depends only on the issues of its enterprise
(`recurrence_flags`), so when a write changes what the recurrence reads of an issue (a new
issue, a tag, a closure), the flags of that enterprise's issues are recomputed (one indexed
read of them) and stored; `metric_counts` counts `recurred` per group. The sample also holds
the closed issues whose window ended by `now` without a recurrence — a matter of the clock.
Those are counted up to a watermark T (store_meta `metric_matured`: `matured` per group, the
row's `matured` flag), and a read adds the rows whose window ended between T and now (an
index range of `(eligible, recurred, closed_at)`: the issues closed since T, not all of
them). `advance` moves T forward (node start); a read never depends on when it last ran.
On PostgreSQL, writers touching an enterprise take a transaction advisory lock on its code,
so two of them never decide its flags from each other's invisible rows, and `advance`
takes the watermark's row for update (writers take it for share).

`rebuild` recounts everything from the issues rows in one ordered pass (migration 0030, a
new COUNTS_VERSION, a changed `metrics.recurrence_days`: `ensure` at node start).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.domain.deadlines import Light
from node.domain.issue import OPEN_STATES, Event, Issue
from node.domain.metric_counts import (
    RECURRED,
    RECURRENCE_SAMPLE,
    GroupCounts,
    GroupKey,
    fact_counts,
    recurrence_eligible,
    recurrence_flags,
)
from node.domain.metrics import RECURRENCE_WINDOW, UNGROUPED, IssueFacts
from node.store import bulk
from node.store.schema import issues, metric_counts, metric_facts, store_meta

MATURED = "matured"
#: store_meta rows: the counts' version, the recurrence window (seconds) they were kept
#: for, and the recurrence watermark T (ISO instant).
COUNTS_META, WINDOW_META, MATURED_META = "metric_counts", "metric_window", "metric_matured"
COUNTS_VERSION = "1"
#: conn.info keys of the unit of work (repo's `_counting` drops every "zhitong_unit:" key)
_CHANGES, _DIRTY = "zhitong_unit:metric_changes", "zhitong_unit:metric_dirty"
_OPEN = sorted(s.value for s in OPEN_STATES)
_ROW_COLUMNS = ("id", "origin", "owner", "board", "department", "state", "outcome", "tags",
                "received_at", "resolved_at", "resolve_due", "rating", "reopen_count",
                "credit_code", "closed_at")


# --------------------------------------------------------------------------- facts


def facts_of_issue(issue: Issue) -> tuple[IssueFacts, str]:
    """(the metrics' facts of `issue` without its light, its origin)."""
    return IssueFacts(
        issue_id=issue.id, node=issue.owner, board=issue.board, department=issue.department,
        state=issue.state.value, light="none", tags=issue.tags, received_at=issue.received_at,
        resolved_at=issue.resolved_at, resolve_due=issue.resolve_due,
        rating=issue.rating.value if issue.rating else None, reopen_count=issue.reopen_count,
        rejected=issue.outcome == "rejected", credit_code=issue.enterprise.credit_code or None,
        closed_at=issue.closed_at), issue.origin


def facts_of_row(row: Mapping[Any, Any]) -> tuple[IssueFacts, str]:
    """The same from an issues row (`_ROW_COLUMNS`)."""
    from node.store.repo import split_tags

    return IssueFacts(
        issue_id=row["id"], node=row["owner"], board=row["board"],
        department=row["department"], state=row["state"], light="none",
        tags=split_tags(row["tags"])[0], received_at=row["received_at"],
        resolved_at=row["resolved_at"], resolve_due=row["resolve_due"], rating=row["rating"],
        reopen_count=row["reopen_count"], rejected=row["outcome"] == "rejected",
        credit_code=row["credit_code"] or None, closed_at=row["closed_at"]), row["origin"]


def _group(fact: IssueFacts, origin: str) -> GroupKey:
    return (origin, fact.node, fact.board or UNGROUPED, fact.department or UNGROUPED)


def _recurrence_view(fact: IssueFacts) -> tuple[Any, ...]:
    """What the recurrence reads of an issue."""
    return (fact.credit_code, tuple(dict.fromkeys(fact.tags)), fact.received_at,
            fact.closed_at, recurrence_eligible(fact))


def _facts_row(fact: IssueFacts, origin: str, counts: Mapping[str, int]) -> dict[str, Any]:
    o, owner, board, department = _group(fact, origin)
    return {"issue_id": fact.issue_id, "origin": o, "owner": owner, "board": board,
            "department": department, "counts": dict(sorted(counts.items())),
            "credit_code": fact.credit_code, "tags": list(dict.fromkeys(fact.tags)),
            "received_at": fact.received_at, "closed_at": fact.closed_at, "state": fact.state,
            "rejected": fact.rejected, "eligible": recurrence_eligible(fact),
            "recurred": False, "matured": False}


def _fact_of_stored(row: Any) -> IssueFacts:
    return IssueFacts(issue_id=row.issue_id, node=row.owner, board=row.board,
                      department=row.department, state=row.state, light="none",
                      tags=tuple(row.tags), received_at=row.received_at, resolved_at=None,
                      resolve_due=None, rating=None, reopen_count=0, rejected=row.rejected,
                      credit_code=row.credit_code, closed_at=row.closed_at)


def _stored_view(row: Any) -> tuple[Any, ...]:
    return (row.credit_code, tuple(row.tags), row.received_at, row.closed_at,
            bool(row.eligible))


# --------------------------------------------------------------------------- meta


def _meta(conn: Connection, name: str, *, lock: str | None = None) -> str | None:
    stmt = select(store_meta.c.value).where(store_meta.c.name == name)
    if lock is not None and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=lock == "share")
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else str(value)


def _set_meta(conn: Connection, name: str, value: str) -> None:
    ins: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(store_meta).values(name=name, value=value).on_conflict_do_update(
        index_elements=[store_meta.c.name], set_={"value": value}))


def _watermark(conn: Connection, *, lock: str | None = None) -> datetime | None:
    raw = _meta(conn, MATURED_META, lock=lock)
    return datetime.fromisoformat(raw) if raw else None


def window_of(conn: Connection) -> timedelta:
    """The recurrence window the counts were kept for (the default before `ensure` ran)."""
    raw = _meta(conn, WINDOW_META)
    return timedelta(seconds=int(raw)) if raw else RECURRENCE_WINDOW


# --------------------------------------------------------------------------- writes


def _upsert(ins: Any) -> Any:
    stmt = ins(metric_counts).values(
        origin=bindparam("origin"), owner=bindparam("owner"), board=bindparam("board"),
        department=bindparam("department"), key=bindparam("key"), n=bindparam("n"))
    c = metric_counts.c
    return stmt.on_conflict_do_update(
        index_elements=[c.origin, c.owner, c.board, c.department, c.key],
        set_={"n": c.n + stmt.excluded.n})


_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}
_OLD = select(metric_facts).where(metric_facts.c.issue_id == bindparam("id"))
_UPDATE_FACTS = (update(metric_facts).where(metric_facts.c.issue_id == bindparam("_id"))
                 .values({c.name: bindparam(c.name) for c in metric_facts.columns
                          if c.name != "issue_id"}))
_SET_FLAGS = (update(metric_facts).where(metric_facts.c.issue_id == bindparam("_id"))
              .values(recurred=bindparam("recurred"), matured=bindparam("matured")))


def _apply(conn: Connection, changes: Counter[tuple[GroupKey, str]]) -> None:
    rows = [{"origin": g[0], "owner": g[1], "board": g[2], "department": g[3], "key": k,
             "n": n} for (g, k), n in sorted(changes.items()) if n]
    if rows:
        conn.execute(_UPSERT[conn.dialect.name], rows)


def _lock_enterprises(conn: Connection, codes: Iterable[str]) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite: one writer
    for code in sorted(set(codes)):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": 0x7A540000_00000000 ^ zlib.crc32(code.encode())})


def chunked(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class MetricsProjection:
    """Keeps metric_facts and metric_counts in step with the issues rows (repo.Projection),
    for the recurrence window `window` (the node's metrics.recurrence_days)."""

    def __init__(self, window: timedelta = RECURRENCE_WINDOW) -> None:
        self.window = window

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        fact, origin = facts_of_issue(issue)
        self.fact_written(conn, fact, origin, created=created)

    def issues_written(self, conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
        """A set write (a replica's batch, an import, an envelope): the old rows read in one
        statement per 500, the new ones written with one executemany each, instead of three
        statements per issue. An issue twice in the set goes one by one (its second write
        reads the first)."""
        items = [(facts_of_issue(issue), created) for issue, created in batch]
        ids = [fact.issue_id for (fact, _), _ in items]
        if len(items) < 2 or len(set(ids)) < len(ids):
            for (fact, origin), created in items:
                self.fact_written(conn, fact, origin, created=created)
            return
        olds: dict[str, Any] = {}
        for chunk in chunked([i for ((_, _), created), i in zip(items, ids, strict=True)
                              if not created]):
            for r in conn.execute(select(metric_facts)
                                  .where(metric_facts.c.issue_id.in_(chunk))):
                olds[r.issue_id] = r
        codes = {fact.credit_code for (fact, _), _ in items if fact.credit_code}
        codes |= {r.credit_code for r in olds.values() if r.credit_code}
        _lock_enterprises(conn, codes)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (fact, origin), _ in items:
            self._change(conn, fact, origin, olds.get(fact.issue_id), inserts, updates)
        bulk.insert_rows(conn, metric_facts, inserts)
        bulk.update_rows(conn, metric_facts, updates, match={"_id": "issue_id"})

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        """Events change no count: the snapshot write does."""

    def fact_written(self, conn: Connection, fact: IssueFacts, origin: str, *,
                     created: bool) -> None:
        if fact.credit_code:
            _lock_enterprises(conn, [fact.credit_code])
        old = None if created else conn.execute(_OLD, {"id": fact.issue_id}).first()
        if old is not None and old.credit_code and old.credit_code != fact.credit_code:
            _lock_enterprises(conn, [old.credit_code])  # its flags are recomputed too
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        self._change(conn, fact, origin, old, inserts, updates)
        if inserts:
            conn.execute(insert(metric_facts), inserts[0])
        if updates:
            conn.execute(_UPDATE_FACTS, updates[0])

    @staticmethod
    def _change(conn: Connection, fact: IssueFacts, origin: str, old: Any,
                inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
        """What writing `fact` over its stored row `old` (None: none yet) does: the count
        changes and touched enterprises of the unit of work, and the row to insert or
        update (appended to `inserts` / `updates`; the enterprises are locked already)."""
        changes: Counter[tuple[GroupKey, str]] = conn.info.setdefault(_CHANGES, Counter())
        #: enterprise → the instants (received, closed) of its changed issues, old and new
        dirty: dict[str, list[datetime]] = conn.info.setdefault(_DIRTY, {})
        counts = fact_counts(fact)
        row = _facts_row(fact, origin, counts)
        group = _group(fact, origin)
        for key, n in counts.items():
            changes[(group, key)] += n
        if old is None:
            inserts.append(row)
            if fact.credit_code:
                _touch(dirty, fact.credit_code, fact.received_at, fact.closed_at)
            return
        old_group: GroupKey = (old.origin, old.owner, old.board, old.department)
        same_view = _stored_view(old) == _recurrence_view(fact)
        if (same_view and old_group == group and old.counts == row["counts"]
                and (old.state, bool(old.rejected)) == (fact.state, fact.rejected)):
            for key, n in counts.items():  # nothing it adds changed (an urge, a note...)
                changes[(group, key)] -= n
            return
        for key, n in old.counts.items():
            changes[(old_group, key)] -= int(n)
        if same_view:  # its flags stand; its recurrence counts follow its group
            row["recurred"], row["matured"] = bool(old.recurred), bool(old.matured)
            if old_group != group:
                for key, flag in ((RECURRED, row["recurred"]), (MATURED, row["matured"])):
                    changes[(old_group, key)] -= flag
                    changes[(group, key)] += flag
        else:  # its recurrence contribution is recomputed with its enterprise's
            changes[(old_group, RECURRED)] -= bool(old.recurred)
            changes[(old_group, MATURED)] -= bool(old.matured)
            if old.credit_code:
                _touch(dirty, old.credit_code, old.received_at, old.closed_at)
            if fact.credit_code:
                _touch(dirty, fact.credit_code, fact.received_at, fact.closed_at)
        row["_id"] = row.pop("issue_id")
        updates.append(row)

    def unit_done(self, conn: Connection) -> None:
        """The unit of work is done: recompute the touched enterprises' recurrence flags,
        then apply the count changes in key order."""
        changes: Counter[tuple[GroupKey, str]] | None = conn.info.get(_CHANGES)
        dirty: dict[str, list[datetime]] | None = conn.info.get(_DIRTY)
        if changes is None:
            return
        if dirty:
            watermark = _watermark(conn, lock="share")
            refresh_flags(conn, dirty, self.window, watermark, changes)
        _apply(conn, changes)


def _touch(dirty: dict[str, list[datetime]], code: str, *instants: datetime | None) -> None:
    dirty.setdefault(code, []).extend(t for t in instants if t is not None)


def refresh_flags(conn: Connection, dirty: Mapping[str, Sequence[datetime]],
                  window: timedelta, watermark: datetime | None,
                  changes: Counter[tuple[GroupKey, str]]) -> None:
    """Recompute the stored recurrence flags the changed issues can affect, adding the
    changes of their counts to `changes`. `dirty`: enterprise → the received and closed
    instants of its changed issues (before and after the change), spanning [lo, hi].

    Only issues closed in [lo - window, hi] can change: the changed issues themselves, and
    those a changed issue follows within the window (closed before it was received, by
    less than the window). Those are read first (none, for a new open issue of an
    enterprise without recent closures: nothing more is read); then the issues received
    within the window after their closures, which decide their flags exactly. Before, every
    write of an enterprise read and folded all its issues. Enterprises are read in chunks
    with the chunk's widest span (a wider read is still exact)."""
    for chunk in chunked(sorted(dirty)):
        instants = [t for code in chunk for t in dirty[code]]
        lo, hi = min(instants) - window, max(instants)
        mine = metric_facts.c.credit_code.in_(chunk)
        affected = list(conn.execute(select(metric_facts).where(
            mine, metric_facts.c.closed_at.between(lo, hi))))
        if not affected:
            continue
        first = min(r.closed_at for r in affected)
        last = max(r.closed_at for r in affected) + window
        rows = {r.issue_id: r for r in conn.execute(select(metric_facts).where(
            mine, metric_facts.c.received_at.between(first, last)))}
        rows.update((r.issue_id, r) for r in affected)
        flags = recurrence_flags((_fact_of_stored(r) for r in rows.values()), window)
        updates = []
        for r in affected:
            recurred = flags.get(r.issue_id, False)
            matured = bool(r.eligible and not recurred and watermark is not None
                           and r.closed_at <= watermark)
            if (recurred, matured) == (bool(r.recurred), bool(r.matured)):
                continue
            group: GroupKey = (r.origin, r.owner, r.board, r.department)
            changes[(group, RECURRED)] += recurred - bool(r.recurred)
            changes[(group, MATURED)] += matured - bool(r.matured)
            updates.append({"_id": r.issue_id, "recurred": recurred, "matured": matured})
        if updates:
            conn.execute(_SET_FLAGS, updates)


# --------------------------------------------------------------------------- watermark


def _pending(watermark: datetime | None, cutoff: datetime) -> tuple[Any, int]:
    """The rows whose counting in the sample differs between the watermark and `cutoff`,
    and the sign they take: +1 (window ended after T, by the cutoff) or -1."""
    c = metric_facts.c
    if watermark is None:
        return and_(c.eligible.is_(True), c.recurred.is_(False), c.closed_at <= cutoff), 1
    if cutoff >= watermark:
        return and_(c.eligible.is_(True), c.recurred.is_(False), c.closed_at > watermark,
                    c.closed_at <= cutoff), 1
    return and_(c.eligible.is_(True), c.recurred.is_(False), c.matured.is_(True),
                c.closed_at > cutoff), -1


def advance(conn: Connection, now: datetime) -> int:
    """Move the recurrence watermark to `now` − window (in a write transaction): count the
    rows whose window ended meanwhile as matured. Returns how many rows changed."""
    window = window_of(conn)
    _set_meta(conn, MATURED_META, _meta(conn, MATURED_META) or "")  # the row exists
    watermark = _watermark(conn, lock="update")
    cutoff = now - window
    if watermark == cutoff:
        return 0
    where, sign = _pending(watermark, cutoff)
    c = metric_facts.c
    changes: Counter[tuple[GroupKey, str]] = Counter()
    moved = 0
    for origin, owner, board, department, n in conn.execute(
            select(c.origin, c.owner, c.board, c.department, func.count())
            .where(where).group_by(c.origin, c.owner, c.board, c.department)):
        changes[((origin, owner, board, department), MATURED)] += sign * int(n)
        moved += int(n)
    conn.execute(update(metric_facts).where(where).values(matured=sign > 0))
    _set_meta(conn, MATURED_META, cutoff.isoformat())
    _apply(conn, changes)
    return moved


# --------------------------------------------------------------------------- reads


def _sample_delta(conn: Connection, now: datetime,
                  by: Sequence[Any]) -> Iterator[tuple[tuple[Any, ...], int]]:
    where, sign = _pending(_watermark(conn), now - window_of(conn))
    for *key, n in conn.execute(select(*by, func.count()).where(where).group_by(*by)):
        yield tuple(key), sign * int(n)


def metric_groups(conn: Connection, now: datetime) -> dict[GroupKey, GroupCounts]:
    """Every group's kept counts, with its recurrence sample and its open issues' lights at
    `now` (the running rows: an aggregate of the partial index's rows)."""
    counts: dict[GroupKey, Counter[str]] = {}
    c = metric_counts.c
    for origin, owner, board, department, key, n in conn.execute(
            select(c.origin, c.owner, c.board, c.department, c.key, c.n).where(c.n != 0)
    ).all():
        group = (origin, owner, board, department)
        found = counts.get(group)
        if found is None:
            found = counts[group] = Counter()
        found[key] = int(n)  # one row per (group, key)
    f = metric_facts.c
    delta = dict(_sample_delta(conn, now, (f.origin, f.owner, f.board, f.department)))
    for group in set(counts) | set(delta):
        found = counts.get(group)
        if found is None:
            found = counts[group] = Counter()
        found[RECURRENCE_SAMPLE] = (found[RECURRED] + found.pop(MATURED, 0)
                                    + delta.get(group, 0))
    from node.store.repo import light_condition

    i = issues.c
    board, department = func.coalesce(i.board, UNGROUPED), func.coalesce(i.department,
                                                                         UNGROUPED)
    lights: dict[GroupKey, dict[str, int]] = {}
    for origin, owner, b, d, *ns in conn.execute(
            select(i.origin, i.owner, board, department,
                   *(func.sum(case((light_condition(light, now), 1), else_=0))
                     for light in Light))
            .where(i.light_red_at.is_not(None), i.state.in_(_OPEN))
            .group_by(i.origin, i.owner, board, department)):
        lights[(origin, owner, b, d)] = {light.value: int(n)
                                         for light, n in zip(Light, ns, strict=True) if n}
    empty: Counter[str] = Counter()
    return {g: GroupCounts(counts=counts.get(g, empty),
                           lights=lights.get(g, {}))
            for g in sorted(set(counts) | set(lights))}


def recurrence_sums(conn: Connection, now: datetime) -> dict[str, dict[str, int]]:
    """Per unit of origin, the summary's `recurrence_num` and `recurrence_den` at `now`."""
    c = metric_counts.c
    out: dict[str, dict[str, int]] = {}
    for origin, key, n in conn.execute(
            select(c.origin, c.key, func.sum(c.n)).where(c.key.in_((RECURRED, MATURED)))
            .group_by(c.origin, c.key)):
        sums = out.setdefault(origin, {"recurrence_num": 0, "recurrence_den": 0})
        sums["recurrence_den"] += int(n)
        if key == RECURRED:
            sums["recurrence_num"] += int(n)
    for (origin,), n in _sample_delta(conn, now, (metric_facts.c.origin,)):
        out.setdefault(origin, {"recurrence_num": 0, "recurrence_den": 0})[
            "recurrence_den"] += n
    return {o: {k: n for k, n in sums.items() if n} for o, sums in out.items()
            if any(sums.values())}


# --------------------------------------------------------------------------- recount


def rebuild(conn: Connection, *, window: timedelta, now: datetime | None,
            batch: int = 5000) -> None:
    """Recount metric_facts and metric_counts from the issues rows, for `window`, with the
    watermark at `now` − window (none without `now`: the migration, which has no clock; the
    next start sets it): one pass over the rows in enterprise order."""
    conn.execute(delete(metric_counts))
    conn.execute(delete(metric_facts))
    _set_meta(conn, WINDOW_META, str(int(window.total_seconds())))
    watermark = None if now is None else now - window
    changes: Counter[tuple[GroupKey, str]] = Counter()
    rows: list[dict[str, Any]] = []
    enterprise: list[tuple[IssueFacts, dict[str, Any]]] = []
    code: str | None = None

    def close_enterprise() -> None:
        flags = recurrence_flags((f for f, _ in enterprise), window)
        for f, row in enterprise:
            recurred = flags.get(f.issue_id, False)
            row["recurred"] = recurred
            row["matured"] = bool(row["eligible"] and not recurred and watermark is not None
                                  and row["closed_at"] <= watermark)
            group: GroupKey = (row["origin"], row["owner"], row["board"], row["department"])
            changes[(group, RECURRED)] += row["recurred"]
            changes[(group, MATURED)] += row["matured"]
        enterprise.clear()

    def flush() -> None:
        if rows:
            conn.execute(insert(metric_facts), rows)
            rows.clear()

    result = conn.execute(select(*(issues.c[n] for n in _ROW_COLUMNS))
                          .order_by(issues.c.credit_code, issues.c.received_at, issues.c.id)
                          .execution_options(yield_per=batch))
    for raw in result:
        fact, origin = facts_of_row(raw._mapping)
        if fact.credit_code != code:
            close_enterprise()
            if len(rows) >= batch:
                flush()
            code = fact.credit_code
        counts = fact_counts(fact)
        for key, n in counts.items():
            changes[(_group(fact, origin), key)] += n
        row = _facts_row(fact, origin, counts)
        rows.append(row)
        if fact.credit_code:
            enterprise.append((fact, row))
    close_enterprise()
    flush()
    _apply(conn, changes)
    _set_meta(conn, MATURED_META, "" if watermark is None else watermark.isoformat())
    _set_meta(conn, COUNTS_META, COUNTS_VERSION)


def ensure(store: Any, window: timedelta, now: datetime) -> bool:
    """At node start: recount when the counts are missing, of another version or kept for
    another window (True when it did); else move the watermark to `now` − window."""
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(pg_insert(store_meta).values(name=COUNTS_META, value="")
                         .on_conflict_do_nothing())
        version = _meta(conn, COUNTS_META, lock="update")
        if version == COUNTS_VERSION and window_of(conn) == window \
                and _meta(conn, WINDOW_META) is not None:
            advance(conn, now)
            return False
        rebuild(conn, window=window, now=now)
    return True


__all__ = ["MetricsProjection", "advance", "ensure", "facts_of_issue", "facts_of_row",
           "metric_groups", "rebuild", "recurrence_sums"]
