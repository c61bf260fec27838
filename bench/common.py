"""Shared pieces of the benchmarks: bounded timing loops, percentiles, the result table.

Every loop here is bounded twice: by a count and by a wall-clock deadline. A phase that
hits its deadline stops early, and its row reports the count it actually reached.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class BenchFailure(Exception):
    """A correctness check failed: the run must end with exit code 1."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    count: int  # operations that completed (acknowledged or not, see `errors`)
    seconds: float  # wall time of the timed loop
    latencies_ms: list[float]  # one per completed operation
    errors: int = 0
    stopped_by_time: bool = False


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def timed_loop(op: Callable[[int], bool], n: int, max_seconds: float) -> Timing:
    """Run op(0..n-1) one after another until n or the deadline; op returns success."""
    latencies: list[float] = []
    errors = 0
    stopped = False
    start = time.perf_counter()
    deadline = start + max_seconds
    done = 0
    while done < n:
        t0 = time.perf_counter()
        if t0 >= deadline:
            stopped = True
            break
        ok = op(done)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        errors += not ok
        done += 1
    return Timing(count=done, seconds=time.perf_counter() - start, latencies_ms=latencies,
                  errors=errors, stopped_by_time=stopped)


def concurrent_loop(
    make_worker: Callable[[], tuple[Callable[[int], bool], Callable[[], None]]],
    n: int,
    workers: int,
    max_seconds: float,
) -> Timing:
    """n operations shared by `workers` threads, each with its own (op, close) pair.

    Each thread takes the next index from a shared counter, so the total is exactly n
    unless the deadline passes first; the join is bounded by the deadline too.
    """
    lock = threading.Lock()
    indices = itertools.count()
    latencies: list[float] = []
    errors = [0]
    stopped = threading.Event()
    crashed: list[BaseException] = []
    pairs = [make_worker() for _ in range(workers)]
    start = time.perf_counter()
    deadline = start + max_seconds

    def run(op: Callable[[int], bool]) -> None:
        mine: list[float] = []
        bad = 0
        try:
            while True:
                with lock:
                    i = next(indices)
                if i >= n:
                    break
                t0 = time.perf_counter()
                if t0 >= deadline:
                    stopped.set()
                    break
                ok = op(i)
                mine.append((time.perf_counter() - t0) * 1000.0)
                bad += not ok
        except BaseException as exc:  # reported after the join
            crashed.append(exc)
        finally:
            with lock:
                latencies.extend(mine)
                errors[0] += bad

    threads = [threading.Thread(target=run, args=(op,), daemon=True) for op, _ in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.perf_counter()) + 30.0)
    seconds = time.perf_counter() - start
    for _, close in pairs:
        close()
    if any(t.is_alive() for t in threads):
        raise BenchFailure("a worker thread did not finish within the deadline + 30 s")
    if crashed:
        raise BenchFailure(f"a worker thread crashed: {crashed[0]!r}") from crashed[0]
    with lock:
        return Timing(count=len(latencies), seconds=seconds, latencies_ms=list(latencies),
                      errors=errors[0], stopped_by_time=stopped.is_set())


@dataclass(kw_only=True, slots=True)
class Row:
    backend: str
    phase: str
    timing: Timing
    target: int
    check: str = "n/a"
    baseline: bool = False  # the bare-SQL row the others are compared with
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

    def compare(self, bare: Row | None, core: Row | None) -> None:
        """Fill ratios: throughput ours/bare (<1 is slower), latency ours/bare (>1 is slower)."""
        for name, ref in (("raw", bare), ("core", core)):
            if ref is None or ref.timing.count == 0 or self.timing.count == 0:
                continue
            self.ratios[f"throughput_vs_{name}"] = self.per_second / ref.per_second
            self.ratios[f"p50_vs_{name}"] = self.p50 / ref.p50
            self.ratios[f"p99_vs_{name}"] = self.p99 / ref.p99

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


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    head = (f"{'backend':<8} {'phase':<34} {'count':>6} {'sec':>7} {'issues/s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'thr/raw':>7} {'p50/raw':>7} {'p99/raw':>7} "
            f"{'thr/core':>8} {'err':>4} check")
    lines = [head, "-" * len(head)]
    for r in rows:
        count = f"{r.timing.count}" + ("*" if r.timing.stopped_by_time else "")
        lines.append(
            f"{r.backend:<8} {r.phase:<34} {count:>6} {r.timing.seconds:>7.2f} "
            f"{r.per_second:>9.0f} {r.p50:>8.2f} {r.p99:>8.2f} "
            f"{_ratio(r.ratios.get('throughput_vs_raw')):>7} "
            f"{_ratio(r.ratios.get('p50_vs_raw')):>7} "
            f"{_ratio(r.ratios.get('p99_vs_raw')):>7} "
            f"{_ratio(r.ratios.get('throughput_vs_core')):>8} "
            f"{r.timing.errors:>4} {r.check}"
        )
    return "\n".join(lines)
