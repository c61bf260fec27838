"""Fault injection, long run: the quick scenarios of tests/faults looped for longer.

    .venv/bin/python -m bench.faults_long --minutes 10
    .venv/bin/python -m bench.faults_long --minutes 2 --scenario sigkill_servers --steps 120
    .venv/bin/python -m bench.faults_long --seed 42 --rounds 1        # one of each, seeded

Each round runs every selected scenario once (a fresh federation each time, a new seed per
scenario from the run's seed), with --steps workload steps, its fault sequence repeated
while the workload runs and every fault's duration stretched by a random factor up to
--stretch-max (so SIGSTOPs outlast the 5 s publish timeout, partitions the reconnect
delays…), then drains and checks. The loop is
bounded by --rounds and by --minutes (no scenario starts after the deadline). Prints one
line of counts per scenario run and a table of totals; writes every run (seed, counts,
problems, fault log, seconds) to --json (default bench/results/faults_long.json). Exit code
1 when any count is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common.results import RESULTS, write_json
from bench.common.tables import Column, format_table
from tests.faults.checker import COUNTS
from tests.faults.scenarios import SCENARIOS, Outcome, run_scenario

Totals = dict[str, Any]  # one line of the table: a scenario's runs added up


def count_column(count: str) -> Column[Totals]:
    return Column(count[:8], 8, lambda t: f"{t['counts'][count]}")


TABLE: tuple[Column[Totals], ...] = (
    Column("scenario", 20, lambda t: f"{t['scenario']}", left=True),
    Column("runs", 4, lambda t: f"{t['runs']}"),
    Column("acked", 6, lambda t: f"{t['acked']}"),
    Column("esc", 5, lambda t: f"{t['escalated']}"),
    Column("events", 7, lambda t: f"{t['events']}"),
    *(count_column(c) for c in COUNTS),
    Column("max s", 6, lambda t: f"{t['max_seconds']:.1f}"),
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.faults_long", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock bound (default 10)")
    p.add_argument("--rounds", type=int, default=1000, help="count bound (default 1000)")
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                   help="only these scenarios (repeatable; default all)")
    p.add_argument("--steps", type=int, default=150, help="workload steps per scenario")
    p.add_argument("--escalate-share", type=float, default=0.25,
                   help="share of the submissions the county escalates (default 0.25, as in "
                        "the quick suite)")
    p.add_argument("--stretch-max", type=float, default=4.0,
                   help="each run stretches its faults' durations by a random factor in "
                        "[1, this] (default 4)")
    p.add_argument("--once", action="store_true",
                   help="inject each scenario's fault sequence once, as the quick tests do "
                        "(default: repeat it while the workload runs)")
    p.add_argument("--drain-timeout", type=float, default=180.0)
    p.add_argument("--seed", type=int, default=None, help="the run's seed (default random)")
    p.add_argument("--json", type=Path, default=RESULTS / "faults_long.json")
    return p.parse_args(argv)


def row(outcome: Outcome) -> dict[str, Any]:
    return {"scenario": outcome.name, "seed": outcome.seed, "seconds": round(outcome.seconds, 1),
            "counts": outcome.report.counts, "acked": outcome.report.acked,
            "escalated": outcome.report.escalated, "poison": outcome.report.poison,
            "workload": outcome.workload, "extra": outcome.extra,
            "close_errors": outcome.close_errors,
            "problems": outcome.report.details[:50], "faults": outcome.faults}


def table(runs: list[dict[str, Any]]) -> str:
    """One line per scenario and a TOTAL line: runs, acknowledged, escalated, every count."""
    names = sorted({r["scenario"] for r in runs})
    totals: list[Totals] = []
    for name in [*names, "TOTAL"]:
        rs = runs if name == "TOTAL" else [r for r in runs if r["scenario"] == name]
        if not rs:
            continue
        totals.append({"scenario": name, "runs": len(rs),
                       "acked": sum(r["acked"] for r in rs),
                       "escalated": sum(r["escalated"] for r in rs),
                       "events": sum(r["extra"].get("events", 0) for r in rs),
                       "counts": {c: sum(r["counts"][c] for r in rs) for c in COUNTS},
                       "max_seconds": max(r["seconds"] for r in rs)})
    return format_table(totals, TABLE)


async def main_async(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    seeds = random.Random(seed)
    names = args.scenario or list(SCENARIOS)
    deadline = time.monotonic() + args.minutes * 60
    runs: list[dict[str, Any]] = []
    if not 0.0 <= args.escalate_share <= 1.0:
        raise SystemExit("bench.faults_long: --escalate-share must be between 0 and 1")
    print(f"faults_long: seed {seed}, scenarios {', '.join(names)}, {args.steps} steps, "
          f"escalating {args.escalate_share:.0%}, "
          f"up to {args.rounds} round(s) / {args.minutes} min", flush=True)
    for _round in range(args.rounds):
        for name in names:
            if time.monotonic() >= deadline:
                break
            stretch = seeds.uniform(1.0, max(1.0, args.stretch_max))
            with tempfile.TemporaryDirectory(prefix=f"zt-faults-{name}-") as tmp:
                outcome = await run_scenario(name, Path(tmp), seeds.randrange(10**6),
                                             steps=args.steps,
                                             drain_timeout_s=args.drain_timeout,
                                             stretch=stretch, repeat=not args.once,
                                             escalate_p=args.escalate_share)
            runs.append(row(outcome))
            if not outcome.report.clean:
                print(outcome.report.explain(), flush=True)
        else:
            continue
        break
    print()
    print(table(runs) if runs else "no scenario ran")
    write_json(args.json, {"seed": seed, "steps": args.steps,
                           "escalate_share": args.escalate_share, "runs": runs}, indent=1)
    print(f"\nresults: {args.json}")
    return 0 if runs and all(not any(r["counts"].values()) for r in runs) else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
