"""cProfile of the escalation drain (county → city, one envelope per batch) and its rate.

    .venv/bin/python -m bench.profile_drain [--n 1024] [--batch 64] [--top 30]
                                            [--no-profile] [--dump FILE]
                                            [--drop ProjectionClass,...]

Both nodes in this process (tests.support.federation, real gRPC with mutual TLS, SQLite
files), n issues queued at the county, then drained in batches of `--batch`; the
event-loop thread and the worker threads are profiled together
(bench.common.profile.ProfilingExecutor), and the SQL statements of the drain are counted
by text (executemany counted once). `--drop` unregisters projections by class name on both
nodes, to see what one costs. A quick look for where the drain's time goes, beside
bench.escalation's measured rows; exactly-once is checked as there (bench.escalation
`verify`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event

from bench.common.accounting import ThreadCpu
from bench.common.profile import ProfilingExecutor, merged_stats, stats_lines, strip_paths
from bench.escalation import CITY, COUNTY, TOPOLOGY, Workload, drain_all, escalate_one
from node.app.clock import SystemClock
from tests.support.federation import federation


async def run(a: argparse.Namespace, tmp: Path) -> None:
    drop = frozenset(filter(None, a.drop.split(",")))
    async with federation(tmp / "fed", TOPOLOGY, SystemClock(), start=(CITY, COUNTY),
                          batch_size=a.batch) as fed:
        county, city = fed[COUNTY], fed[CITY]
        sender = county.federation.senders[CITY]
        for fn in (county, city):
            projections = fn.node.transfers.store.store.projections  # type: ignore[attr-defined]
            projections[:] = [p for p in projections if type(p).__name__ not in drop]
        w = Workload(county, city, ThreadCpu())
        w.precreate(a.n + 10)
        for _ in range(5):
            await escalate_one(w, sender, w.take())
        for _ in range(a.n):
            w.request(w.take())
        stmts: Counter[str] = Counter()

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            stmts[" ".join(statement.split())[:90]] += 1

        for fn in (county, city):
            sa_event.listen(fn.node.engine, "before_cursor_execute", count)
        executor = ProfilingExecutor()
        asyncio.get_running_loop().set_default_executor(executor)
        main = cProfile.Profile()
        profile = not a.no_profile
        executor.enabled = profile
        cpu0 = time.process_time()
        if profile:
            main.enable()
        drained = await drain_all(sender, a.n, 120)
        if profile:
            main.disable()
        executor.enabled = False
        cpu = time.process_time() - cpu0
        t = drained.timing
        print(f"drained {t.count} in {t.seconds:.2f}s = {t.count / t.seconds:.0f}/s "
              f"(CPU {cpu * 1000 / max(1, t.count):.3f} ms each; check {w.verify()})")
        print("-- statements (executions, executemany counted once) --")
        for text, k in stmts.most_common(25):
            print(f"{k:6d}  {text}")
        if profile:
            profs = [main, *executor.profiles]
            if a.dump:
                merged_stats(profs, io.StringIO()).dump_stats(a.dump)
            print("-- all threads, tottime --")
            print(strip_paths("\n".join(stats_lines(profs, "tottime", a.top))))
            print("-- all threads, cumulative --")
            print(strip_paths("\n".join(stats_lines(profs, "cumulative", a.top))))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile_drain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--dump", default=None, help="write the merged pstats here")
    p.add_argument("--drop", default="", help="projection classes to unregister, comma-separated")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="zt-prof-") as tmp:
        asyncio.run(run(a, Path(tmp)))


if __name__ == "__main__":
    main()
