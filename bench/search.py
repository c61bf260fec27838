"""Full-text search of the pool over a generated city store, next to the bare FTS query.

    .venv/bin/python -m bench.search [--n 100000] [--runs 40] [--max-seconds 8]
        [--json bench/results/search.json]

Takes the generated SQLite store of 湖州市 with `--n` issues (bench/citystore/; the newest
cached var/bench/citystore-<n>-*.sqlite, whatever its schema revision, else generated),
copies it (the cached file is shared by the other benches) to
var/bench/search-<store>-t<tokenizer>.sqlite, builds the search index on the copy
(node/store/search.py: `rebuild`, timed; the index's size from the file's growth; reused
by later runs unless `--fresh`) and times, per query (用电, 税, ISO9001, 5G基站, a number):

* bare: the FTS5 query alone, through the raw sqlite3 driver — the 51 best matches by bm25
  (what one page needs), issue ids only;
* pool: `repo.list_issues` with the ranked search (node/store/repo.py) as the service sends
  it — the page of 51 issues (rows mapped to Issue) and the exact total of matches;
* pool+state: the same with a filter on the open states, its total counted up to
  SEARCH_COUNT_LIMIT as the service counts it ("1,000+") and, the open issues being few,
  started from them (node/store/repo.py `_driven_docs`); pool+state general: the exact
  total and page the general way (every match joined to its issue), for comparison.

Prints a table (p50/p99 ms, matches) and writes the JSON. SQLite only: indexing the
1M-issue store takes far longer than this bench's 3 minutes (~20 min at 100k's rate).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common.log import log
from bench.common.results import REPO, machine_meta, write_json
from bench.common.tables import Column, format_table
from bench.common.timing import percentile, timed_loop
from node.app.ports import IssueFilter
from node.app.service import SEARCH_COUNT_LIMIT
from node.domain.issue import OPEN_STATES
from node.domain.search import GROUPS, TOKENIZER_VERSION, WEIGHTS, query_terms
from node.store import repo, search
from node.store.db import make_engine
from node.store.schema import ISSUE_FTS, issue_search

CACHE = REPO / "var" / "bench"
WORDS = ("用电", "税", "ISO9001", "5G基站")


@dataclass(frozen=True, kw_only=True, slots=True)
class Result:
    query: str
    path: str
    matches: int
    count: int
    p50_ms: float
    p99_ms: float


def find_store(n: int) -> Path:
    """The newest cached store of `n` issues, else one generated now."""
    cached = sorted(CACHE.glob(f"citystore-{n}-1-*.sqlite"), key=lambda p: p.stat().st_mtime)
    if cached:
        return cached[-1]
    from bench.citystore.store import Options, sqlite_store

    made = sqlite_store(Options(n=n))
    return Path(made.url.removeprefix("sqlite:///"))


def _pages(db: Path) -> int:
    """The database's size in bytes (its pages, those still in the WAL included)."""
    with sqlite3.connect(db) as conn:
        count, size = (conn.execute(f"PRAGMA {name}").fetchone()[0]
                       for name in ("page_count", "page_size"))
    return int(count) * int(size)


def build_copy(source: Path, db: Path) -> dict[str, Any]:
    """Copy the generated store to `db` and index it (timed); what it took."""
    partial = db.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)  # a consistent copy, WAL included
    log(f"copied {source.name} in {time.perf_counter() - t0:.1f}s")
    before = _pages(partial)
    engine = make_engine(f"sqlite:///{partial}")
    store = repo.Store(engine)
    with engine.begin() as conn:
        issue_search.create(conn, checkfirst=True)  # with issue_fts (schema.py)
    t0 = time.perf_counter()
    with store.write() as conn:
        indexed = search.rebuild(conn)
    build_s = time.perf_counter() - t0
    engine.dispose()
    index_bytes = _pages(partial) - before
    log(f"indexed {indexed} issues in {build_s:.1f}s, +{index_bytes / 2**20:.0f} MiB")
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(db)
    return {"issues": indexed, "index_build_s": round(build_s, 2), "index_bytes": index_bytes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="issues in the store")
    p.add_argument("--runs", type=int, default=40, help="timed runs per query and path")
    p.add_argument("--max-seconds", type=float, default=8.0, help="per query and path")
    p.add_argument("--fresh", action="store_true",
                   help="index a new copy even if an indexed copy is cached")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "search.json")
    args = p.parse_args(argv)

    source = find_store(args.n)
    db = CACHE / f"search-{source.stem}-t{TOKENIZER_VERSION}.sqlite"
    meta_path = db.with_suffix(".json")
    if args.fresh or not (db.exists() and meta_path.exists()):
        build = build_copy(source, db)
        write_json(meta_path, build)
    build = json.loads(meta_path.read_text("utf-8"))
    indexed, build_s, index_bytes = build["issues"], build["index_build_s"], build["index_bytes"]
    engine = make_engine(f"sqlite:///{db}")
    store = repo.Store(engine)
    with store.read() as conn:
        some = conn.execute(text("SELECT number FROM issues ORDER BY received_at DESC "
                                 "LIMIT 1")).scalar_one()
    results = run_queries(store, db, (*WORDS, str(some)), args.runs, args.max_seconds)
    engine.dispose()

    rows: list[Column[Result]] = [Column("query", 20, lambda r: r.query, left=True),
            Column("path", 11, lambda r: r.path, left=True),
            Column("matches", 8, lambda r: str(r.matches)),
            Column("runs", 5, lambda r: str(r.count)),
            Column("p50 ms", 8, lambda r: f"{r.p50_ms:.1f}"),
            Column("p99 ms", 8, lambda r: f"{r.p99_ms:.1f}")]
    print(f"search over {indexed} issues ({source.name}); index built in {build_s:.1f}s, "
          f"{index_bytes / 2**20:.0f} MiB ({index_bytes / max(indexed, 1):.0f} B/issue)")
    print(format_table(results, rows))
    write_json(args.json, {
        "bench": "search", "store": source.name, "issues": indexed,
        "index_build_s": round(build_s, 2), "index_bytes": index_bytes,
        "machine": machine_meta(),
        "results": [{"query": r.query, "path": r.path, "matches": r.matches, "runs": r.count,
                     "p50_ms": round(r.p50_ms, 2), "p99_ms": round(r.p99_ms, 2)}
                    for r in results]})
    log(f"wrote {args.json}")
    return 0


def run_queries(store: repo.Store, db: Path, queries: tuple[str, ...], runs: int,
                max_seconds: float) -> list[Result]:
    raw = sqlite3.connect(db)
    weights = ", ".join(repr(WEIGHTS[g]) for g in GROUPS)
    bare = (f"SELECT s.issue_id FROM {ISSUE_FTS} JOIN issue_search s "
            f"ON s.doc_id = {ISSUE_FTS}.rowid WHERE {ISSUE_FTS} MATCH ? "
            f"ORDER BY bm25({ISSUE_FTS}, {weights}) LIMIT 51")
    out: list[Result] = []
    for q in queries:
        match = search.fts_query(query_terms(q))
        matches = raw.execute(f"SELECT count(*) FROM {ISSUE_FTS} WHERE {ISSUE_FTS} MATCH ?",
                              (match,)).fetchone()[0]

        def bare_op(_: int, match: str = match) -> bool:
            return raw.execute(bare, (match,)).fetchall() is not None

        def pool_op(_: int, states: tuple[Any, ...] = (), q: str = q,
                    limit: int | None = SEARCH_COUNT_LIMIT + 1) -> bool:
            with store.read() as conn:  # the filter the service sends (count_limit too)
                page, total = repo.list_issues(conn, IssueFilter(
                    text=q, ranked=True, states=states, limit=51, count_limit=limit))
            return total >= len(page)

        def general_op(i: int) -> bool:  # the exact count and page the general way
            driven, repo.DRIVEN_COUNT_MAX = repo.DRIVEN_COUNT_MAX, -1
            try:
                return pool_op(i, tuple(OPEN_STATES), limit=None)
            finally:
                repo.DRIVEN_COUNT_MAX = driven

        paths = (("bare", bare_op), ("pool", pool_op),
                 ("pool+state", lambda i: pool_op(i, tuple(OPEN_STATES))),
                 ("pool+state general", general_op))
        for name, op in paths:
            op(0)  # warm the page cache
            timing = timed_loop(op, runs, max_seconds)
            out.append(Result(query=q, path=name, matches=matches, count=timing.count,
                              p50_ms=percentile(timing.latencies_ms, 50),
                              p99_ms=percentile(timing.latencies_ms, 99)))
            log(f"{q} {name}: p50 {out[-1].p50_ms:.1f} ms p99 {out[-1].p99_ms:.1f} ms")
    raw.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
