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
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.faults.checker import COUNTS
from tests.faults.scenarios import SCENARIOS, Outcome, run_scenario

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.faults_long", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock bound (default 10)")
    p.add_argument("--rounds", type=int, default=1000, help="count bound (default 1000)")
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                   help="only these scenarios (repeatable; default all)")
    p.add_argument("--steps", type=int, default=150, help="workload steps per scenario")
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
    names = sorted({r["scenario"] for r in runs})
    head = f"{'scenario':<20} {'runs':>4} {'acked':>6} {'esc':>5} " + " ".join(
        f"{c[:8]:>8}" for c in COUNTS) + f" {'max s':>6}"
    lines = [head, "-" * len(head)]
    for name in [*names, "TOTAL"]:
        rs = runs if name == "TOTAL" else [r for r in runs if r["scenario"] == name]
        if not rs:
            continue
        totals = [sum(r["counts"][c] for r in rs) for c in COUNTS]
        lines.append(f"{name:<20} {len(rs):>4} {sum(r['acked'] for r in rs):>6} "
                     f"{sum(r['escalated'] for r in rs):>5} "
                     + " ".join(f"{t:>8}" for t in totals)
                     + f" {max(r['seconds'] for r in rs):>6.1f}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    seeds = random.Random(seed)
    names = args.scenario or list(SCENARIOS)
    deadline = time.monotonic() + args.minutes * 60
    runs: list[dict[str, Any]] = []
    print(f"faults_long: seed {seed}, scenarios {', '.join(names)}, {args.steps} steps, "
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
                                             stretch=stretch, repeat=not args.once)
            runs.append(row(outcome))
            if not outcome.report.clean:
                print(outcome.report.explain(), flush=True)
        else:
            continue
        break
    print()
    print(table(runs) if runs else "no scenario ran")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"seed": seed, "steps": args.steps, "runs": runs},
                                    ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nresults: {args.json}")
    return 0 if runs and all(not any(r["counts"].values()) for r in runs) else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
