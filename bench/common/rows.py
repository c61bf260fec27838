"""One measured phase of a bench (`Row`), its ratios to a reference row, the median of runs.

Ratios are ours/reference: throughput below 1 is slower, latency above 1 is slower. They
are stored under `<metric>_vs_<name>` (e.g. `throughput_vs_raw`, `p50_vs_bare`), which is
what the tables show and the JSON keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.common.timing import Timing, percentile


@dataclass(kw_only=True, slots=True)
class Row:
    backend: str
    phase: str
    timing: Timing
    target: int
    check: str = "n/a"
    baseline: bool = False  # a bare row the others are compared with
    notes: str = ""
    ratios: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        t = self.timing
        return t.count / t.seconds if t.seconds > 0 else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.timing.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.timing.latencies_ms, 99)

    def to_json(self) -> dict[str, Any]:
        t = self.timing
        return {
            "backend": self.backend,
            "phase": self.phase,
            "target": self.target,
            "count": t.count,
            "seconds": round(t.seconds, 4),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "max_ms": round(max(t.latencies_ms), 3) if t.latencies_ms else None,
            "errors": t.errors,
            "stopped_by_time": t.stopped_by_time,
            "check": self.check,
            "baseline": self.baseline,
            "notes": self.notes,
            "ratios": {k: round(v, 4) for k, v in self.ratios.items()},
            **self.extra,
        }


def compare(row: Row, ref: Row | None, name: str, *, throughput: bool = True,
            latency: bool = True) -> bool:
    """Fill row.ratios against `ref` (`throughput_vs_<name>`, `p50_vs_<name>`,
    `p99_vs_<name>`); False, and nothing filled, when either row has no operations."""
    if ref is None or ref.timing.count == 0 or row.timing.count == 0:
        return False
    if throughput:
        row.ratios[f"throughput_vs_{name}"] = row.per_second / ref.per_second
    if latency:
        row.ratios[f"p50_vs_{name}"] = row.p50 / ref.p50
        row.ratios[f"p99_vs_{name}"] = row.p99 / ref.p99
    return True


def median_of(runs: list[Row], *, unit: str = "per s") -> Row:
    """The run with the median throughput; the spread of all runs goes into its notes
    (throughputs in `unit`), and it fails when any run failed."""
    ordered = sorted(runs, key=lambda r: r.per_second)
    chosen = ordered[(len(ordered) - 1) // 2]
    if len(runs) > 1:
        spread = ", ".join(f"{r.per_second:.0f}" for r in runs)
        chosen.notes += f"; median of {len(runs)} runs ({unit}: {spread})"
        chosen.extra["runs_per_second"] = [round(r.per_second, 1) for r in runs]
        if any(r.check == "FAIL" for r in runs):
            chosen.check = "FAIL"
    return chosen
