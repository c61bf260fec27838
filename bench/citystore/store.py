"""Build a generated city store on SQLite or PostgreSQL, or reuse the one built before.

How it works:

1. `scripts.plan()` (this process) draws and numbers every issue's arrival;
2. chunks of the plan go to `--workers` processes (`chunks.make`), at most two per worker
   in flight so that finished rows never pile up in memory; results come back in order;
3. this process, the only writer, numbers the events (`seq` gapless in insert order,
   `writer_seq` gapless per writing unit) and inserts each chunk with one `executemany`
   per table (SQLite) or `COPY … FROM STDIN` (PostgreSQL), in transactions of ~100,000
   issues, with the secondary indexes dropped (and, on PostgreSQL, the unique and foreign
   keys) and rebuilt at the end — one sort instead of a million B-tree descents;
4. it then writes what the node's own counters and marks would say after that history:
   `event_seq`, the city's `writer_seq` and `number:<year>`, one replication mark per
   county (its stream applied through its last event), two bench accounts, and lets the
   store's own code derive what it derives from the rows (`repo.rebuild_counts`, the
   calendar fingerprint of `repo.refresh_lights`).

SQLite: the file is built under a scratch name with `journal_mode=OFF, synchronous=OFF`
(a crash just loses the scratch file), switched to WAL and renamed into place with a
JSON sidecar describing it; a later run with the same (n, seed, schema revision,
generator revision) finds it and reuses it. PostgreSQL: one database per key, described
by its `COMMENT`, reused as long as the cluster lives.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from bench.citystore import chunks, scripts
from bench.citystore.city import ACCOUNTS, PASSWORD
from bench.citystore.rows import (
    EVENT_COLUMNS,
    LOADER_EVENT_COLUMNS,
    dialect_of,
    insert_sql,
)
from bench.citystore.vocabulary import CITY, units
from bench.common.log import log
from bench.common.results import REPO
from node.app.auth import hash_password
from node.app.ports import Account
from node.store import migrate, repo, users
from node.store.db import make_engine
from node.store.schema import events, issue_tags, issues

GENERATOR_REV = 1  # bump when the generated content changes: cached stores are rebuilt
CACHE_DIR = REPO / "var" / "bench"  # git-ignored
BULK_TABLES = (issues, issue_tags, events)


DEFAULT_CHUNK = 10_000


def key(n: int, seed: int, chunk: int = DEFAULT_CHUNK) -> str:
    """What a generated store is reused by: its size, seed, schema and generator (and the
    chunk size, which seeds the stories, when it is not the default)."""
    tail = "" if chunk == DEFAULT_CHUNK else f"-c{chunk}"
    return f"citystore-{n}-{seed}-{migrate.HEAD}-g{GENERATOR_REV}{tail}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    n: int
    seed: int = 1
    workers: int = 0  # 0: os.cpu_count(); 1: in this process
    chunk: int = DEFAULT_CHUNK
    verify_every: int = 1_000  # every k-th issue is folded by the domain too (0: first only)
    long_histories: int = 5  # issues with a 200-event history
    fresh: bool = False  # rebuild even when a matching store exists


@dataclass(frozen=True, kw_only=True, slots=True)
class CityStore:
    """A generated store ready to open: its URL and what the generation recorded."""

    backend: str
    url: str
    key: str
    meta: dict[str, Any]
    reused: bool

    @property
    def long_ids(self) -> list[str]:
        return list(self.meta["long_history_ids"])


class _Writer(Protocol):
    def write(self, chunk: chunks.Chunk) -> None: ...
    def finish(self, facts: _Facts) -> dict[str, float]: ...


# --------------------------------------------------------------------------- generation


@dataclass(slots=True)
class _Facts:
    """What the loop learnt, for the counters and the description."""

    now: datetime
    issues: int = 0
    events: int = 0
    tags: int = 0
    per_writer: Counter[str] | None = None
    city_numbers: Counter[int] | None = None
    states: Counter[str] | None = None
    lights: Counter[str] | None = None
    long_ids: list[str] | None = None
    checked: int = 0
    text_chars: int = 0


def _chunks(spec: chunks.Spec, planned: list[scripts.Planned], opts: Options,
            workers: int) -> Iterator[chunks.Chunk]:
    jobs = [(i, planned[lo:lo + opts.chunk]) for i, lo in enumerate(range(0, opts.n,
                                                                          opts.chunk))]
    if workers <= 1:
        maker = chunks.Maker(spec)
        for job in jobs:
            yield maker.make(*job)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=chunks.init, initargs=(spec,)) as pool:
        pending: deque[Any] = deque()
        todo = iter(jobs)
        for job in todo:
            pending.append(pool.apply_async(chunks.make, (job,)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done = pending.popleft().get(timeout=600)
            following = next(todo, None)
            if following is not None:
                pending.append(pool.apply_async(chunks.make, (following,)))
            yield done


def generate(writer: _Writer, backend: str, opts: Options) -> dict[str, Any]:
    """Plan, tell, fold, map and write; returns the store's description."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    rules = chunks.city_rules()
    planned = scripts.plan(opts.n, opts.seed, now, rules.calendar,
                           long_histories=opts.long_histories, units=units())
    t_plan = time.perf_counter() - t0
    workers = opts.workers or os.cpu_count() or 1
    spec = chunks.Spec(n=opts.n, seed=opts.seed, now=now, backend=backend,
                       verify_every=opts.verify_every)
    facts = _Facts(now=now, per_writer=Counter(), city_numbers=Counter(), states=Counter(),
                   lights=Counter(), long_ids=[])
    assert facts.per_writer is not None and facts.city_numbers is not None
    assert facts.states is not None and facts.lights is not None and facts.long_ids is not None
    for p in planned:
        if p.origin == CITY:
            facts.city_numbers[int(p.number.split("-")[1])] += 1
    next_log = time.perf_counter() + 10
    t1 = time.perf_counter()
    for chunk in _chunks(spec, planned, opts, workers):
        writer.write(chunk)
        facts.issues += len(chunk.issues)
        facts.events += len(chunk.events)
        facts.tags += len(chunk.tags)
        facts.per_writer.update(r[chunks.WRITER] for r in chunk.events)
        facts.states.update(chunk.states)
        facts.lights.update(chunk.lights)
        facts.long_ids.extend(chunk.long_ids)
        facts.checked += chunk.checked
        facts.text_chars += chunk.text_chars
        if time.perf_counter() >= next_log:
            rate = facts.issues / (time.perf_counter() - t1)
            log(f"  {backend}: {facts.issues:,}/{opts.n:,} issues, {facts.events:,} events "
                f"({rate:,.0f} issues/s)")
            next_log = time.perf_counter() + 10
    t_load = time.perf_counter() - t1
    phases = writer.finish(facts)
    total = time.perf_counter() - t0
    rows = facts.issues + facts.events + facts.tags
    return {
        "key": key(opts.n, opts.seed, opts.chunk), "backend": backend, "n": opts.n,
        "seed": opts.seed,
        "schema": migrate.HEAD, "generator": GENERATOR_REV, "generated_at": now.isoformat(),
        "workers": workers, "chunk": opts.chunk,
        "issues": facts.issues, "events": facts.events, "tags": facts.tags,
        "events_per_issue": round(facts.events / max(1, facts.issues), 3),
        "text_chars_per_issue": round(facts.text_chars / max(1, facts.issues), 1),
        "states": dict(facts.states.most_common()),
        "lights_at_generation": dict(facts.lights.most_common()),
        "writers": dict(sorted(facts.per_writer.items())),
        "long_history_ids": facts.long_ids, "checked_against_domain": facts.checked,
        "seconds": {"plan": round(t_plan, 2), "generate_and_insert": round(t_load, 2),
                    **{k: round(v, 2) for k, v in phases.items()}, "total": round(total, 2)},
        "issues_per_s": round(facts.issues / total, 1),
        "rows_per_s": round(rows / total, 1),
    }


# --------------------------------------------------------------------------- shared SQL


def _numbered(rows: Sequence[tuple[Any, ...]], seq: list[int],
              per_writer: Counter[str]) -> Iterator[tuple[Any, ...]]:
    """Append (seq, writer_seq) to each event row; `seq` is a one-item cell."""
    s = seq[0]
    for r in rows:
        s += 1
        w = r[chunks.WRITER]
        per_writer[w] += 1
        yield (*r, s, per_writer[w])
    seq[0] = s


def _droppable(backend: str) -> tuple[list[Any], list[Any]]:
    """(drop statements, create statements) for what the bulk load does without."""
    drops: list[Any] = []
    creates: list[Any] = []
    for table in BULK_TABLES:
        for ix in sorted(table.indexes, key=lambda i: str(i.name)):
            drops.append(DropIndex(ix))
            creates.append(CreateIndex(ix))
        if backend == "postgres":
            for c in sorted(table.constraints, key=lambda c: str(c.name)):
                if isinstance(c, UniqueConstraint | ForeignKeyConstraint):
                    drops.insert(0, DropConstraint(c))  # foreign keys before unique keys
                    # isolate_from_table=False: do not mark the shared metadata's
                    # constraint as "added later" (the next create_all would skip it)
                    creates.append(AddConstraint(c, isolate_from_table=False))
    creates.sort(key=lambda s: isinstance(s, AddConstraint) and isinstance(
        s.element, ForeignKeyConstraint))  # foreign keys last, after the unique keys
    return drops, creates


def _counter_rows(facts: _Facts) -> list[tuple[str, int]]:
    assert facts.per_writer is not None and facts.city_numbers is not None
    rows = [("event_seq", facts.events), ("writer_seq", facts.per_writer.get(CITY, 0))]
    rows += [(f"number:{year}", count) for year, count in sorted(facts.city_numbers.items())]
    return [r for r in rows if r[1] > 0]


def _mark_rows(facts: _Facts) -> list[tuple[str, int]]:
    assert facts.per_writer is not None
    return [(w, c) for w, c in sorted(facts.per_writer.items()) if w != CITY]


def _add_accounts(url: str, now: datetime) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for username, role, name in ACCOUNTS:
                users.add_user(conn, Account(username=username, role=role, display_name=name),
                               password_hash=hash_password(PASSWORD), now=now)
    finally:
        engine.dispose()


def _derive(url: str, phases: dict[str, float]) -> None:
    """What the store's own code derives from the rows, by that code: the counts per
    (origin, owner, state) and the fingerprint of the calendar of the light instants (the
    instants themselves came with the rows; refresh_lights recomputes the running ones with
    the city's calendar — a no-op change — and records the fingerprint)."""
    engine = make_engine(url)
    try:
        t = time.perf_counter()
        with engine.begin() as conn:
            repo.rebuild_counts(conn)
        phases["issue_counts"] = time.perf_counter() - t
        t = time.perf_counter()
        repo.refresh_lights(repo.Store(engine, chunks.city_rules().calendar))
        phases["lights_fingerprint"] = time.perf_counter() - t
    finally:
        engine.dispose()


def _timed(phases: dict[str, float], name: str, fn: Callable[[], None]) -> None:
    t = time.perf_counter()
    fn()
    phases[name] = time.perf_counter() - t


# --------------------------------------------------------------------------- SQLite


class _SqliteWriter:
    COMMIT_EVERY = 100_000  # issues per transaction

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        engine = make_engine(self.url)
        migrate.ensure_schema(engine)
        engine.dispose()
        self.con = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000",
                       "temp_store=MEMORY", "foreign_keys=OFF"):
            self.con.execute(f"PRAGMA {pragma}")
        dialect = dialect_of("sqlite")
        drops, self._creates = _droppable("sqlite")
        self._creates = [str(c.compile(dialect=dialect)) for c in self._creates]
        for d in drops:
            self.con.execute(str(d.compile(dialect=dialect)))
        self._issue_sql = ""
        self._tag_sql = ""
        self._event_sql = insert_sql("events", EVENT_COLUMNS + LOADER_EVENT_COLUMNS, "sqlite")
        self._seq = [0]
        self._writers: Counter[str] = Counter()
        self._since_commit = 0
        self.con.execute("BEGIN")

    def write(self, chunk: chunks.Chunk) -> None:
        if not self._issue_sql:
            self._issue_sql = insert_sql("issues", chunk.issue_columns, "sqlite")
        if not self._tag_sql and chunk.tag_columns:
            self._tag_sql = insert_sql("issue_tags", chunk.tag_columns, "sqlite")
        self.con.executemany(self._issue_sql, chunk.issues)
        if chunk.tags:
            self.con.executemany(self._tag_sql, chunk.tags)
        self.con.executemany(self._event_sql, _numbered(chunk.events, self._seq,
                                                        self._writers))
        self._since_commit += len(chunk.issues)
        if self._since_commit >= self.COMMIT_EVERY:
            self.con.execute("COMMIT")
            self.con.execute("BEGIN")
            self._since_commit = 0

    def finish(self, facts: _Facts) -> dict[str, float]:
        phases: dict[str, float] = {}
        con = self.con
        con.execute("COMMIT")

        def indexes() -> None:
            for stmt in self._creates:
                con.execute(stmt)

        _timed(phases, "indexes", indexes)
        con.execute("BEGIN")
        con.executemany("INSERT INTO counters (name, value) VALUES (?, ?)",
                        _counter_rows(facts))
        at = facts.now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        con.executemany("INSERT INTO replication_marks (writer, through_seq, updated_at) "
                        "VALUES (?, ?, ?)", [(w, c, at) for w, c in _mark_rows(facts)])
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
        _derive(self.url, phases)
        _add_accounts(self.url, facts.now)
        return phases


def sqlite_store(opts: Options, *, cache_dir: Path = CACHE_DIR) -> CityStore:
    """The generated store of `opts` as a SQLite file under `cache_dir` (built if needed)."""
    name = key(opts.n, opts.seed, opts.chunk)
    path = cache_dir / f"{name}.sqlite"
    sidecar = cache_dir / f"{name}.json"
    if not opts.fresh and path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text("utf-8"))
        return CityStore(backend="sqlite", url=f"sqlite:///{path}", key=name, meta=meta,
                         reused=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = cache_dir / f"{name}.partial-{os.getpid()}.sqlite"
    for stale in (path, sidecar, scratch, *[Path(f"{p}-wal") for p in (path, scratch)],
                  *[Path(f"{p}-shm") for p in (path, scratch)]):
        stale.unlink(missing_ok=True)
    log(f"generating {name} (sqlite) …")
    meta = generate(_SqliteWriter(scratch), "sqlite", opts)
    scratch.rename(path)
    meta["bytes"] = path.stat().st_size
    sidecar.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", "utf-8")
    log(f"  {name}: {meta['seconds']['total']:.1f} s, {meta['rows_per_s']:,.0f} rows/s, "
        f"{meta['bytes'] / 2**20:,.0f} MiB")
    return CityStore(backend="sqlite", url=f"sqlite:///{path}", key=name, meta=meta,
                     reused=False)


# --------------------------------------------------------------------------- PostgreSQL


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _PostgresWriter:
    COMMIT_EVERY = 100_000

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        engine = make_engine(url)
        migrate.ensure_schema(engine)
        engine.dispose()
        self.con = psycopg.connect(_libpq(url))
        dialect = dialect_of("postgres")
        drops, creates = _droppable("postgres")
        self._creates = [str(c.compile(dialect=dialect)) for c in creates]
        with self.con.cursor() as cur:
            for d in drops:
                cur.execute(str(d.compile(dialect=dialect)))
        self.con.commit()
        self._issue_copy = ""
        self._seq = [0]
        self._writers: Counter[str] = Counter()
        self._since_commit = 0

    def _copy(self, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]] |
              Sequence[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cur, cur.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)

    def write(self, chunk: chunks.Chunk) -> None:
        self._copy("issues", chunk.issue_columns, chunk.issues)
        if chunk.tags:
            self._copy("issue_tags", chunk.tag_columns, chunk.tags)
        self._copy("events", EVENT_COLUMNS + LOADER_EVENT_COLUMNS,
                   _numbered(chunk.events, self._seq, self._writers))
        self._since_commit += len(chunk.issues)
        if self._since_commit >= self.COMMIT_EVERY:
            self.con.commit()
            self._since_commit = 0

    def finish(self, facts: _Facts) -> dict[str, float]:
        phases: dict[str, float] = {}
        con = self.con
        con.commit()

        def indexes() -> None:
            with con.cursor() as cur:
                cur.execute("SET maintenance_work_mem = '512MB'")
                for stmt in self._creates:
                    cur.execute(stmt)
            con.commit()

        _timed(phases, "indexes", indexes)
        with con.cursor() as cur:
            cur.executemany("INSERT INTO counters (name, value) VALUES (%s, %s)",
                            _counter_rows(facts))
            cur.executemany("INSERT INTO replication_marks (writer, through_seq, updated_at) "
                            "VALUES (%s, %s, %s)",
                            [(w, c, facts.now) for w, c in _mark_rows(facts)])
        con.commit()
        con.autocommit = True

        def vacuum() -> None:  # what autovacuum would have done over ten years
            con.execute("VACUUM (ANALYZE)")

        _derive(self.url, phases)
        _timed(phases, "vacuum_analyze", vacuum)
        con.close()
        _add_accounts(self.url, facts.now)
        return phases


def postgres_store(admin_url: str, opts: Options) -> CityStore:
    """The generated store of `opts` as a database of the cluster at `admin_url`."""
    name = key(opts.n, opts.seed, opts.chunk).replace("-", "_")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            comment = conn.execute(text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = :name"), {"name": name}).first()
            if comment is not None and comment[0] and not opts.fresh:
                return CityStore(backend="postgres", url=url, key=name,
                                 meta=json.loads(comment[0]), reused=True)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        log(f"generating {name} (postgres) …")
        meta = generate(_PostgresWriter(url), "postgres", opts)
        with admin.connect() as conn:
            meta["bytes"] = int(conn.execute(text("SELECT pg_database_size(:name)"),
                                             {"name": name}).scalar_one())
            body = json.dumps(meta, ensure_ascii=False).replace("'", "''")
            conn.exec_driver_sql(f"COMMENT ON DATABASE \"{name}\" IS '{body}'")
    finally:
        admin.dispose()
    log(f"  {name}: {meta['seconds']['total']:.1f} s, {meta['rows_per_s']:,.0f} rows/s, "
        f"{meta['bytes'] / 2**20:,.0f} MiB")
    return CityStore(backend="postgres", url=url, key=name, meta=meta, reused=False)

