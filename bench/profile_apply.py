"""cProfile of the replica's batch apply (ReplicaService.apply_many) without NATS.

    .venv/bin/python -m bench.profile_apply [--n 10000] [--batch 256] [--follow 0]
                                            [--no-profile] [--dump FILE]

A county writer's events (each issue submitted, then `--follow` triages) applied at a city
store (SQLite file, WAL, synchronous=FULL; the search index, merges, metric counts and the
audit trail registered as in node/runtime.py) in batches of `--batch`, one transaction
each: the events/s of the apply alone, beside a raw sqlite3 insert of the same events and
issue rows (the batched insert of the catch-up baseline), and where the apply's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common.profile import strip_paths
from node.app.replica import IncomingEvent, ReplicaService
from node.domain.lifecycle import Triage
from node.store import migrate
from node.store.audit import AuditTrail
from node.store.db import make_engine
from node.store.duplicates import MergeProjection
from node.store.eventlog import SqlReplicaRecorder
from node.store.metric_counts import MetricsProjection
from node.store.repo import Store
from node.store.search import SearchProjection
from tests.integration.test_replica_batch import CITY, CITY_PLACE, COUNTY, RULES, Writer
from tests.support.clock import FakeClock


def events_of(n: int, follow: int, clock: FakeClock) -> list[IncomingEvent]:
    writer = Writer(COUNTY, clock)
    out: list[IncomingEvent] = []
    per = 1 + follow
    for k in range(n // per):
        issue_id, ev = writer.new(k + 1)
        out.append(ev)
        for _ in range(follow):
            out.append(writer.then(issue_id, Triage(tags=("要素保障",))))
    return out


def raw_insert(path: Path, evs: list[IncomingEvent], batch: int) -> float:
    """The batched insert of the baseline: one row per event and one per issue, `batch`
    events per transaction, plain sqlite3 (WAL, synchronous=FULL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE ev (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, issue_id TEXT,"
               " version INT, node TEXT, kind TEXT, actor TEXT, at TEXT, payload TEXT,"
               " writer_seq INT, chain TEXT)")
    db.execute("CREATE TABLE iss (id TEXT PRIMARY KEY, number TEXT UNIQUE, version INT, "
               "state TEXT, snapshot TEXT)")
    import json
    t0 = time.perf_counter()
    seq = 0
    for start in range(0, len(evs), batch):
        chunk = evs[start:start + batch]
        db.execute("BEGIN IMMEDIATE")
        rows = []
        issues = {}
        for m in chunk:
            seq += 1
            e = m.event
            payload = json.dumps(dict(e.payload), ensure_ascii=False, default=str)
            rows.append((seq, m.event_id, e.issue_id, e.version, m.writer, e.kind,
                         e.actor.label(), e.at.isoformat(), payload, m.writer_seq, m.chain))
            issues[e.issue_id] = (e.issue_id, f"n-{e.issue_id}", e.version, e.kind, payload)
        db.executemany("INSERT INTO ev VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO iss VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                       "version=excluded.version, state=excluded.state, "
                       "snapshot=excluded.snapshot", list(issues.values()))
        db.execute("COMMIT")
    seconds = time.perf_counter() - t0
    db.close()
    return seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--follow", type=int, default=0)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--dump", default=None)
    a = p.parse_args()
    clock = FakeClock()
    evs = events_of(a.n, a.follow, clock)
    with tempfile.TemporaryDirectory(prefix="zt-apply-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'city.sqlite3'}")
        migrate.ensure_schema(engine)  # fresh: created from the tables and stamped
        store = Store(engine, calendar=RULES.calendar)
        store.projections.append(SearchProjection())
        store.projections.append(MergeProjection())
        store.projections.append(MetricsProjection())
        store.projections.append(AuditTrail(store, CITY))
        replica = ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        if not a.no_profile:
            prof.enable()
        applied = 0
        for start in range(0, len(evs), a.batch):
            chunk = evs[start:start + a.batch]
            results = replica.apply_many([(m, COUNTY) for m in chunk])
            applied += sum(1 for r in results if r.outcome.value == "applied")
        prof.disable()
        seconds = time.perf_counter() - t0
        raw = raw_insert(Path(tmp) / "raw.sqlite3", evs, a.batch)
        engine.dispose()
    print(f"apply_many: {applied} of {len(evs)} applied in {seconds:.2f}s = "
          f"{len(evs) / seconds:.0f} events/s; raw sqlite3 batched insert "
          f"{len(evs) / raw:.0f} events/s; ratio {raw / seconds:.2f}")
    if not a.no_profile:
        if a.dump:
            prof.dump_stats(a.dump)
        for order in ("tottime", "cumulative"):
            stream = io.StringIO()
            pstats.Stats(prof, stream=stream).sort_stats(order).print_stats(a.top)
            print(strip_paths(stream.getvalue()))


if __name__ == "__main__":
    main()
