"""A city's store at ten years' size: the issue-16 read paths at 10k, 100k and 1M issues.

    .venv/bin/python -m bench.size [--sizes 10000,100000,1000000] [--backend both]
        [--clients 1,8] [--n 200] [--max-seconds 5] [--scan-max 100000]
        [--json bench/results/size.json]

For each backend and size, on a generated store of 湖州市 (bench/citystore/, built once and
reused: `python -m bench.generate`), through the node's own service layer
(`node.runtime.build` on that store) and, in the same run, the bare SQL of the same call:
the statements the service sent, captured on the node's engine and replayed through
the raw driver (sqlite3 / psycopg), every row fetched (bench/citystore/replay.py):

* pool pages (page of 50, the pool's order): no filter, state, light=red, tag, department,
  text search, and a deep page (page 21: keyset through the service's cursor when it has
  one, else offset 1000 — the row says which);
* the cockpit's counts by state × light × unit (`IssueService.counts`, when the service
  has it) and, up to `--scan-max` issues, the paths that read every issue (metrics,
  the local summary);
* the issue page of a 200-event history, and of a typical (~7-event) one;
* the store's size on disk, per 1,000 issues, with its largest tables.

Each path runs at each `--clients` (threads of this process sharing the node, as the
HTTP front's worker threads do; `bench.common.timing.concurrent_loop`), bounded by `--n`
operations and `--max-seconds`; a path whose single call takes more than half of
`--max-seconds` is not run concurrently. The goal column applies the issue's targets
(pool p99 ≤ 50 ms and ≥ 0.5× bare, counts p99 ≤ 100 ms, issue page p99 ≤ 20 ms).
No HTTP here (bench.intake covers submits over HTTP).
"""

from __future__ import annotations

import argparse
import inspect
import math
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.citystore.city import city_config
from bench.citystore.replay import Replayer, Statement, capture
from bench.citystore.store import CACHE_DIR, CityStore, Options, postgres_store, sqlite_store
from bench.common.log import log
from bench.common.results import (
    RESULTS,
    BenchFailure,
    code_line,
    exit_code,
    git_state,
    loadavg_1m,
    machine_meta,
    write_json,
)
from bench.common.rows import Row, compare
from bench.common.tables import Column, format_table, ratio
from bench.common.timing import Timing, concurrent_loop, timed_loop
from node.app.policy import Principal, Role
from node.app.service import IssueService
from node.app.stats import window_start
from node.domain.deadlines import Light
from node.domain.issue import State
from node.runtime import build
from node.store.db import make_engine
from node.store.repo import Store
from node.store.schema import issues
from node.store.stats import SqlStats
from tests.support.pg import find_bindir, postgres_cluster

DISPATCHER = Principal(username="bench-dispatcher", role=Role.DISPATCHER,
                       display_name="受理分办员")
LEADER = Principal(username="bench-leader", role=Role.LEADER, display_name="驾驶舱领导")
DEEP_PAGE = 21
#: p99 goals of issue 16 (ms) by path, and the pool's throughput floor against bare SQL
GOAL_P99_MS = {"pool": 50.0, "counts": 100.0, "issue page": 20.0}
GOAL_POOL_VS_BARE = 0.5


# --------------------------------------------------------------------------- cases


@dataclass(slots=True)
class Case:
    """One measured call, rotated over `calls` (e.g. several issues' pages)."""

    path: str  # the issue-16 path: pool, counts, issue page, scan
    variant: str
    calls: list[Callable[[], object]]
    scan: bool = False  # reads every issue
    statements: list[list[Statement]] = field(default_factory=list)
    probe_s: float = 0.0
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.path}: {self.variant}"


def _pool_call(service: IssueService, **kwargs: Any) -> Callable[[], object]:
    return lambda: service.list_issues(DISPATCHER, **kwargs)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(fn).parameters


def cases(service: IssueService, engine: Engine, store: CityStore) -> list[Case]:
    """The calls to measure on this store (a few untimed queries pick their arguments)."""
    with engine.connect() as conn:
        department = conn.execute(
            select(issues.c.department).where(issues.c.department.is_not(None))
            .group_by(issues.c.department).order_by(func.count().desc()).limit(1)
        ).scalar_one()
        typical = list(conn.execute(
            select(issues.c.id).where(issues.c.version.between(6, 8))
            .order_by(issues.c.received_at.desc()).limit(20)).scalars())
    found: list[Case] = [
        Case("pool", "no filter", [_pool_call(service)]),
        Case("pool", "state=in_progress", [_pool_call(service, states=(State.IN_PROGRESS,))]),
        Case("pool", "light=red", [_pool_call(service, light=Light.RED)]),
        Case("pool", "tag=用电", [_pool_call(service, tag="用电")]),
        Case("pool", "department (largest)", [_pool_call(service, department=department)],
             note=department),
        Case("pool", "text=用电 (LIKE)", [_pool_call(service, text="用电")]),
    ]
    if _accepts(service.list_issues, "cursor"):
        cursor: str | None = None
        for _ in range(DEEP_PAGE - 1):
            page = service.list_issues(DISPATCHER, cursor=cursor)
            cursor = page.next_cursor
        found.append(Case("pool", f"page {DEEP_PAGE} (keyset cursor)",
                          [_pool_call(service, cursor=cursor)]))
    else:
        found.append(Case("pool", f"page {DEEP_PAGE} (offset {(DEEP_PAGE - 1) * 50})",
                          [_pool_call(service, offset=(DEEP_PAGE - 1) * 50)]))
    counts = getattr(service, "counts", None)
    if counts is not None:
        found.append(Case("counts", "state × light × unit (.counts)",
                          [lambda: counts(LEADER)]))
    by_scan = getattr(service, "metrics_by_scan", None)
    if by_scan is not None:  # 0030: metrics from kept counts; the scan kept as reference
        found += [
            Case("counts", "metrics (kept counts + running rows)",
                 [lambda: service.metrics(LEADER)]),
            Case("counts", "metrics by scan (every issue, before 0030)",
                 [lambda: by_scan(LEADER)], scan=True),
        ]
    else:
        found.append(Case("counts", "metrics (scans every issue)",
                          [lambda: service.metrics(LEADER)], scan=True))
    found += [
        Case("summary", "local summary (kept counts + running rows)", [service.local_summary]),
        Case("counts", "cockpit weekly series (SQL tallies, 2 × 12 weeks)",
             [_series_call(engine)]),
    ]
    long_ids = store.long_ids
    if long_ids:
        found.append(Case("issue page", "200-event history",
                          [_get(service, i) for i in long_ids]))
    found.append(Case("issue page", "typical (6–8 events)", [_get(service, i) for i in typical]))
    return found


def _series_call(engine: Engine) -> Callable[[], object]:
    """The cockpit's weekly series as StatsService computes it (its SQL: node/store/stats.py),
    for the 24 weeks up to the store's newest issue."""
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(issues.c.received_at))).scalar_one()
    now = newest if newest.tzinfo is not None else newest.replace(tzinfo=UTC)
    start = window_start(now, 24)
    source = SqlStats(Store(engine))
    return lambda: source.tallies(start=start, weeks=24, recent=start + timedelta(weeks=12),
                                  now=now, top_tags=50)


def _get(service: IssueService, key: str) -> Callable[[], object]:
    return lambda: service.get(DISPATCHER, key)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    sizes: tuple[int, ...]
    clients: tuple[int, ...]
    n: int
    max_seconds: float
    warmup: int
    scan_max: int
    only: tuple[str, ...]
    seed: int
    workers: int
    cache_dir: Path


@dataclass(kw_only=True, slots=True)
class Pair:
    """The service row and the bare row of one case at one size and client count."""

    backend: str
    size: int
    case: Case
    clients: int
    service: Row
    bare: Row
    rows: float  # rows the bare replay fetched per call
    goal: str = ""


def _loop(op: Callable[[int], bool], make: Callable[[], tuple[Callable[[int], bool],
                                                                Callable[[], None]]] | None,
          clients: int, s: Settings) -> Timing:
    if clients == 1:
        return timed_loop(op, s.n, s.max_seconds)
    assert make is not None
    return concurrent_loop(make, s.n, clients, s.max_seconds)


def measure(backend: str, size: int, case: Case, url: str, engine: Engine, s: Settings,
            failures: list[str]) -> list[Pair]:
    # capture (the first call of each rotation is also the probe and a warm-up)
    t = time.perf_counter()
    for call in case.calls:
        _, stmts = capture(engine, call)
        case.statements.append(stmts)
    case.probe_s = (time.perf_counter() - t) / len(case.calls)
    k = len(case.calls)
    errors: list[str] = []

    def service_op(i: int) -> bool:
        try:
            case.calls[i % k]()
        except Exception as exc:  # counted, reported once
            errors.append(repr(exc))
            return False
        return True

    fetched = [0, 0]  # rows, calls (of the bare phase being measured)
    lock = threading.Lock()

    def bare_worker() -> tuple[Callable[[int], bool], Callable[[], None]]:
        rep = Replayer(url)

        def op(i: int) -> bool:
            got = rep.run(case.statements[i % k])
            with lock:
                fetched[0] += got
                fetched[1] += 1
            return True

        return op, rep.close

    for i in range(s.warmup):
        service_op(i)
    pairs: list[Pair] = []
    for clients in s.clients:
        if clients > 1 and case.probe_s > s.max_seconds / 2:
            log(f"    {case.name}: one call takes {case.probe_s:.1f} s, not run with "
                f"{clients} clients")
            continue
        svc = _loop(service_op, lambda: (service_op, lambda: None), clients, s)
        fetched[:] = [0, 0]
        bare_op, close = bare_worker()
        try:
            for i in range(s.warmup):
                bare_op(i)
            fetched[:] = [0, 0]
            bare = _loop(bare_op, bare_worker, clients, s)
        finally:
            close()
        label = f"{size} {case.name} {clients}c"
        srow = Row(backend=backend, phase=f"{label} service", timing=svc, target=s.n,
                   notes=case.note)
        brow = Row(backend=backend, phase=f"{label} bare", timing=bare, target=s.n,
                   baseline=True)
        compare(srow, brow, "bare")
        n_sql = len(case.statements[0])
        srow.extra.update(size=size, path=case.path, variant=case.variant, clients=clients,
                          statements_per_call=n_sql, probe_s=round(case.probe_s, 4))
        brow.extra.update(size=size, path=case.path, variant=case.variant, clients=clients,
                          statements_per_call=n_sql)
        pair = Pair(backend=backend, size=size, case=case, clients=clients, service=srow,
                    bare=brow, rows=fetched[0] / max(1, fetched[1]))
        pair.goal = goal(pair)
        srow.check = brow.check = "ok" if not svc.errors and not bare.errors else "FAIL"
        if svc.errors or bare.errors:
            failures.append(f"{backend} {label}: {svc.errors} service errors "
                            f"({errors[:1]}), {bare.errors} bare errors")
        pairs.append(pair)
        log(f"    {case.name:<44} {clients}c  service p99 {srow.p99:8.2f} ms  "
            f"bare p99 {brow.p99:8.2f} ms  ({svc.count}/{bare.count} calls)")
    return pairs


def goal(p: Pair) -> str:
    target = GOAL_P99_MS.get(p.case.path)
    if target is None or p.case.scan:
        return ""
    ok = p.service.p99 <= target
    if p.case.path == "pool":
        ok = ok and p.service.ratios.get("throughput_vs_bare", 0.0) >= GOAL_POOL_VS_BARE
    return "ok" if ok else "MISS"


# --------------------------------------------------------------------------- size on disk


def disk_size(store: CityStore, engine: Engine) -> dict[str, Any]:
    """Bytes of the store on disk, per 1,000 issues, and by table (indexes included)."""
    n = int(store.meta["issues"])
    tables: dict[str, int] = {}
    if store.backend == "sqlite":
        path = make_url(store.url).database
        assert path is not None
        total = sum(Path(p).stat().st_size for p in (path, f"{path}-wal")
                    if Path(p).exists())
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            page = int(con.execute("PRAGMA page_size").fetchone()[0])
            # aggregate rows: `pageno` is the b-tree's page count (their `pgsize` is a
            # 32-bit sum in SQLite 3.40 and wraps above 2 GiB)
            for name, pages in con.execute(
                    "SELECT s.tbl_name, SUM(d.pageno) FROM dbstat AS d JOIN sqlite_schema "
                    "AS s ON s.name = d.name WHERE d.aggregate = TRUE GROUP BY s.tbl_name"):
                tables[str(name)] = int(pages) * page
        finally:
            con.close()
    else:
        with engine.connect() as conn:
            total = int(conn.execute(text("SELECT pg_database_size(current_database())"))
                        .scalar_one())
            for name in ("issues", "events", "issue_tags"):
                tables[name] = int(conn.execute(text("SELECT pg_total_relation_size(:t)"),
                                                {"t": name}).scalar_one())
    top = dict(sorted(tables.items(), key=lambda kv: -kv[1])[:3])
    return {"backend": store.backend, "size": n, "events": store.meta["events"],
            "bytes": total, "bytes_per_1000_issues": round(total / n * 1000),
            "tables": top}


# --------------------------------------------------------------------------- one store


def run_store(backend: str, store: CityStore, s: Settings, failures: list[str],
              tmp: Path) -> tuple[list[Pair], dict[str, Any]]:
    size = int(store.meta["issues"])
    engine = make_engine(store.url)
    try:
        node = build(city_config(url=store.url, data_dir=tmp / f"{backend}-{size}"),
                     engine=engine)
        service = node.services.issues
        todo = [c for c in cases(service, engine, store)
                if not s.only or any(o in c.name for o in s.only)]
        pairs: list[Pair] = []
        for case in todo:
            if case.scan and size > s.scan_max:
                log(f"    {case.name}: skipped above --scan-max {s.scan_max:,} issues")
                continue
            pairs += measure(backend, size, case, store.url, engine, s, failures)
        disk = disk_size(store, engine)
    finally:
        engine.dispose()
    return pairs, disk


def stores_of(backend: str, s: Settings, admin_url: str | None) -> list[CityStore]:
    found = []
    for size in s.sizes:
        opts = Options(n=size, seed=s.seed, workers=s.workers)
        store = (sqlite_store(opts, cache_dir=s.cache_dir) if admin_url is None
                 else postgres_store(admin_url, opts))
        verb = "reused" if store.reused else "generated in"
        secs = "" if store.reused else f" {store.meta['seconds']['total']:.0f} s"
        log(f"  {backend} {size:,}: {verb}{secs} ({store.key})")
        found.append(store)
    return found


# --------------------------------------------------------------------------- output


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.2f}"


TABLE: tuple[Column[Pair], ...] = (
    Column("backend", 8, lambda p: p.backend, left=True),
    Column("issues", 9, lambda p: f"{p.size:,}"),
    Column("path", 44, lambda p: p.case.name, left=True),
    Column("cl", 2, lambda p: str(p.clients)),
    Column("svc/s", 8, lambda p: f"{p.service.per_second:.0f}"
           + ("*" if p.service.timing.stopped_by_time else "")),
    Column("svc p50", 8, lambda p: _ms(p.service.p50)),
    Column("svc p99", 8, lambda p: _ms(p.service.p99)),
    Column("bare/s", 8, lambda p: f"{p.bare.per_second:.0f}"
           + ("*" if p.bare.timing.stopped_by_time else "")),
    Column("bare p50", 8, lambda p: _ms(p.bare.p50)),
    Column("bare p99", 8, lambda p: _ms(p.bare.p99)),
    Column("thr/bare", 8, lambda p: ratio(p.service.ratios.get("throughput_vs_bare"),
                                          fine=True)),
    Column("sql", 3, lambda p: str(p.service.extra["statements_per_call"])),
    Column("rows", 6, lambda p: f"{p.rows:.0f}"),
    Column("goal", 0, lambda p: p.goal, left=True),
)


@dataclass(frozen=True, slots=True)
class Growth:
    backend: str
    name: str
    clients: int
    p99: dict[int, float]  # size → service p99 ms

    def factor(self) -> float:
        sizes = sorted(self.p99)
        return self.p99[sizes[-1]] / self.p99[sizes[0]] if len(sizes) > 1 else math.nan


def _p99_at(size: int) -> Callable[[Growth], str]:
    return lambda g: _ms(g.p99.get(size, math.nan))


def growth(pairs: list[Pair], sizes: tuple[int, ...]) -> tuple[list[Growth],
                                                                list[Column[Growth]]]:
    by: dict[tuple[str, str, int], dict[int, float]] = {}
    for p in pairs:
        by.setdefault((p.backend, p.case.name, p.clients), {})[p.size] = p.service.p99
    rows = [Growth(b, n, c, v) for (b, n, c), v in by.items()]
    cols: list[Column[Growth]] = [Column("backend", 8, lambda g: g.backend, left=True),
                                  Column("path", 44, lambda g: g.name, left=True),
                                  Column("cl", 2, lambda g: str(g.clients))]
    for size in sizes:
        cols.append(Column(f"p99@{size:,}", 12, _p99_at(size)))
    span = f"×{sizes[-1] // sizes[0]:,} issues" if len(sizes) > 1 else "growth"
    cols.append(Column(span, 0, lambda g: ratio(g.factor()) + "×", left=True))
    return rows, cols


DISK: tuple[Column[dict[str, Any]], ...] = (
    Column("backend", 8, lambda d: d["backend"], left=True),
    Column("issues", 9, lambda d: f"{d['size']:,}"),
    Column("events", 10, lambda d: f"{d['events']:,}"),
    Column("MiB", 8, lambda d: f"{d['bytes'] / 2**20:,.0f}"),
    Column("KiB/1000 issues", 15, lambda d: f"{d['bytes_per_1000_issues'] / 1024:,.0f}"),
    Column("largest tables (MiB, with indexes)", 0, lambda d: ", ".join(
        f"{k} {v / 2**20:,.0f}" for k, v in d["tables"].items()), left=True),
)


def report(pairs: list[Pair], disks: list[dict[str, Any]], s: Settings) -> None:
    print()
    print(f"city store at size: service layer vs the bare SQL of the same call, n≤{s.n} "
          f"per phase, ≤{s.max_seconds:.0f} s; * = stopped by time; cl = clients; "
          "sql = statements per call; rows = rows fetched per call (bare)")
    print(format_table(pairs, TABLE))
    if len(s.sizes) > 1:
        rows, cols = growth(pairs, s.sizes)
        print()
        print("growth of the service p99 (ms) with the store's size")
        print(format_table(rows, cols))
    print()
    print("size on disk")
    print(format_table(disks, DISK))


# --------------------------------------------------------------------------- main


def _ints(text_: str) -> tuple[int, ...]:
    return tuple(int(x.replace("_", "")) for x in text_.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.size", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=_ints, default=(10_000, 100_000, 1_000_000))
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--clients", type=_ints, default=(1, 8))
    p.add_argument("--n", type=int, default=200, help="calls per phase (default 200)")
    p.add_argument("--max-seconds", type=float, default=5.0,
                   help="wall-time bound of each phase (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before each phase")
    p.add_argument("--scan-max", type=int, default=100_000,
                   help="run the paths that read every issue up to this size")
    p.add_argument("--paths", default="", help="only the paths whose name contains one of "
                   "these comma-separated words")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=0, help="generating processes")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--pg-url", default=None,
                   help="PostgreSQL server to keep generated databases in (default: a "
                        "throwaway cluster)")
    p.add_argument("--json", type=Path, default=RESULTS / "size.json")
    args = p.parse_args(argv)
    if (not args.sizes or min(args.sizes) < 1 or not args.clients or min(args.clients) < 1
            or args.n < 1 or args.max_seconds <= 0 or args.warmup < 0):
        p.error("--sizes, --clients, --n >= 1; --max-seconds > 0; --warmup >= 0")
    s = Settings(sizes=tuple(sorted(args.sizes)), clients=args.clients, n=args.n,
                 max_seconds=args.max_seconds, warmup=args.warmup, scan_max=args.scan_max,
                 only=tuple(w for w in args.paths.split(",") if w), seed=args.seed,
                 workers=args.workers, cache_dir=args.cache_dir)
    failures: list[str] = []
    pairs: list[Pair] = []
    disks: list[dict[str, Any]] = []
    stores: list[dict[str, Any]] = []
    skipped: list[str] = []
    pg_version: str | None = None
    info = {**machine_meta(), **git_state(), "loadavg_1m_start": loadavg_1m()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zhitong-size-") as tmp_s, ExitStack() as stack:
        tmp = Path(tmp_s)
        plan: list[tuple[str, str | None]] = []
        if args.backend in ("sqlite", "both"):
            plan.append(("sqlite", None))
        if args.backend in ("postgres", "both"):
            if args.pg_url:
                plan.append(("postgres", args.pg_url))
            elif find_bindir() is None:
                skipped.append("postgres: SKIPPED, initdb/pg_ctl not found")
                log(skipped[-1])
            else:
                plan.append(("postgres", stack.enter_context(postgres_cluster())))
        for backend, admin_url in plan:
            log(f"{backend}: stores")
            if admin_url is not None:
                admin = create_engine(admin_url)
                with admin.connect() as conn:
                    pg_version = str(conn.execute(text("SHOW server_version")).scalar_one())
                admin.dispose()
            for store in stores_of(backend, s, admin_url):
                stores.append({"url": store.url, "reused": store.reused, **store.meta})
                log(f"{backend} {store.meta['issues']:,} issues")
                try:
                    got, disk = run_store(backend, store, s, failures, tmp)
                except BenchFailure as exc:
                    failures.append(f"{backend} {store.key}: {exc}")
                    continue
                pairs += got
                disks.append(disk)
    elapsed = time.perf_counter() - started
    report(pairs, disks, s)
    line = code_line(info)
    print(f"\n{line or ''}  total {elapsed:.0f} s; postgres {pg_version or '-'} "
          "(tests.support.pg: fsync=off); load avg at start "
          f"{info['loadavg_1m_start']}, end {loadavg_1m()}")
    for msg in skipped:
        print(msg)
    write_json(args.json, {
        "meta": {**info, "postgres": pg_version, "seconds": round(elapsed, 1),
                 "settings": {"sizes": s.sizes, "clients": s.clients, "n": s.n,
                              "max_seconds": s.max_seconds, "warmup": s.warmup,
                              "scan_max": s.scan_max, "paths": s.only, "seed": s.seed}},
        "stores": stores,
        "rows": [r.to_json() | {"goal": p.goal}
                 for p in pairs for r in (p.service, p.bare)],
        "disk": disks,
    })
    print(f"results: {args.json}")
    return exit_code(failures)


if __name__ == "__main__":
    import sys

    sys.exit(main())
