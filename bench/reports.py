"""Periodic reports of a city: the time to read, fold and render one (PDF and .xlsx).

    .venv/bin/python -m bench.reports [--n 10000] [--runs 5] [--max-seconds 60]
        [--json bench/results/reports.json]

Two stores, both 湖州市 (330500) with its five counties:

* `store`: the generated city store with `--n` issues over ten years ending now
  (bench/citystore/, `python -m bench.generate --n N`, reused when cached), read through
  the node's own ReportService (node/app/reports.py) — the SQL read of the facts since the
  same period a year before, the fold, the PDF and the workbook — for the last complete
  month, quarter and year. Read only: the cached file is shared with the other benches.
* `month-dense`: `--n` issues all received in the reported month (the worst case of a
  month's report: every issue counts), facts made in memory, so the row times the fold and
  the rendering alone.

Each phase runs `--runs` times within `--max-seconds`; p50 and max in seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common.log import log
from bench.common.results import REPO, machine_meta, write_json
from bench.common.timing import percentile, timed_loop
from node.app.report_files import to_pdf, to_xlsx
from node.app.reports import ReportService
from node.domain.calendar import CST
from node.domain.reports import KINDS, Kind, Period, ReportFact, build, due_period
from node.domain.topology import place_of_unit
from node.runtime import REPORT_FONT
from node.store.db import make_engine
from node.store.repo import Store
from node.store.reports import ReportRecords

CITY, COUNTIES = "330500", ("330502", "330503", "330521", "330522", "330523")
NAMES = {"330500": "湖州市", "330502": "吴兴区", "330503": "南浔区", "330521": "德清县",
         "330522": "长兴县", "330523": "安吉县"}


class _Now:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _store_url(n: int) -> str:
    out = subprocess.run([sys.executable, "-m", "bench.generate", "--n", str(n)],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout
    return str(json.loads(out)["url"])


def _dense(n: int, now: datetime, seed: int = 1) -> list[ReportFact]:
    rnd = random.Random(seed)
    period = due_period(Kind.MONTH, now)
    span = int((period.end - period.start).total_seconds())
    tags = ("用地", "融资", "用工", "审批", "物流", "水电", "环保", "税费", "人才", "消防")
    facts = []
    for _ in range(n):
        received = period.start + timedelta(seconds=rnd.randrange(span))
        state = rnd.choice(("triaged", "assigned", "in_progress", "resolved", "closed",
                            "closed", "closed"))
        resolved = (received + timedelta(days=rnd.randrange(1, 20))
                    if state in ("resolved", "closed") else None)
        unit = rnd.choice((CITY, *COUNTIES))
        facts.append(ReportFact(
            origin=unit, unit=unit, department=rnd.choice(("经信局", "住建局", "税务局")),
            state=state, light=rnd.choice(("green", "yellow", "red")),
            tags=tuple(rnd.sample(tags, 2)), received_at=received, resolved_at=resolved,
            resolve_due=received + timedelta(days=15),
            closed_at=resolved + timedelta(days=1) if state == "closed" and resolved else None,
            rating=rnd.choice((None, "satisfied", "unsatisfied")) if resolved else None,
            reopen_count=0, rejected=False, credit_code=f"C{rnd.randrange(3000)}"))
    return facts


def _row(name: str, seconds: list[float], **extra: Any) -> dict[str, Any]:
    return {"phase": name, "runs": len(seconds), "p50_s": round(percentile(seconds, 50), 3),
            "max_s": round(max(seconds), 3) if seconds else None, **extra}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=60.0, help="per phase")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "reports.json")
    args = p.parse_args(argv)
    now = datetime.now(CST)
    rows: list[dict[str, Any]] = []

    engine = make_engine(_store_url(args.n))
    service = ReportService(
        store=ReportRecords(Store(engine)), node=CITY, node_name="湖州市", clock=_Now(now),
        place=place_of_unit(CITY, parent="330000", children=COUNTIES), font=REPORT_FONT,
        min_sample=5, names=NAMES)
    for kind in KINDS:  # the periodic kinds (a special report has no due period)
        period = due_period(kind, now)
        sizes: dict[str, int] = {}

        def one(_: int, period: Period = period, sizes: dict[str, int] = sizes) -> bool:
            files = service.render(period, now)
            sizes.update(pdf=len(files.pdf), xlsx=len(files.xlsx),
                         received=files.content["current"]["received"])
            return True
        t = timed_loop(one, args.runs, args.max_seconds)
        rows.append(_row(f"store {kind.value} {period.key}",
                         [ms / 1000 for ms in t.latencies_ms], **sizes))
        log(f"{rows[-1]}")
    engine.dispose()

    facts = _dense(args.n, now)
    period = due_period(Kind.MONTH, now)
    phases: dict[str, list[float]] = {"fold": [], "pdf": [], "xlsx": []}
    deadline = time.perf_counter() + args.max_seconds
    for _ in range(args.runs):
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        report = build(facts, node=CITY, node_name="湖州市", period=period, as_of=now,
                       min_sample=5, names=NAMES)
        t1 = time.perf_counter()
        pdf = to_pdf(report, font=REPORT_FONT)
        t2 = time.perf_counter()
        to_xlsx(report)
        t3 = time.perf_counter()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            phases[k].append(v)
    total = [sum(x) for x in zip(*phases.values(), strict=True)]
    rows.append(_row(f"month-dense {period.key} total", total, received=args.n,
                     pdf=len(pdf)))
    rows += [_row(f"month-dense {k}", v) for k, v in phases.items()]
    print(f"{'phase':<34} {'runs':>4} {'p50 s':>7} {'max s':>7}  notes")
    for r in rows:
        notes = {k: v for k, v in r.items() if k not in ("phase", "runs", "p50_s", "max_s")}
        print(f"{r['phase']:<34} {r['runs']:>4} {r['p50_s']:>7} {r['max_s']:>7}  {notes}")
    write_json(args.json, {"meta": {**machine_meta(), "n": args.n}, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
