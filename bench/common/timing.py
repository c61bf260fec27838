"""Bounded timing loops, percentiles and waiting with a deadline.

Every loop here is bounded twice: by a count and by a wall-clock deadline. A phase that
hits its deadline stops early, and its `Timing` reports the count it actually reached
(`stopped_by_time`). Latencies are per operation, in milliseconds, from perf_counter.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.common.results import BenchFailure


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


class _Sequential:
    """The bookkeeping of one bounded sequential loop (shared by the sync and async twin)."""

    def __init__(self, max_seconds: float) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.stopped = False
        self.start = time.perf_counter()
        self.deadline = self.start + max_seconds

    def begin(self) -> float | None:
        """The start of the next operation, or None once the deadline has passed."""
        t0 = time.perf_counter()
        if t0 >= self.deadline:
            self.stopped = True
            return None
        return t0

    def done(self, t0: float, ok: bool) -> None:
        self.latencies.append((time.perf_counter() - t0) * 1000.0)
        self.errors += not ok

    def timing(self) -> Timing:
        return Timing(count=len(self.latencies), seconds=time.perf_counter() - self.start,
                      latencies_ms=self.latencies, errors=self.errors,
                      stopped_by_time=self.stopped)


def timed_loop(op: Callable[[int], bool], n: int, max_seconds: float) -> Timing:
    """Run op(0..n-1) one after another until n or the deadline; op returns success."""
    loop = _Sequential(max_seconds)
    for i in range(n):
        t0 = loop.begin()
        if t0 is None:
            break
        loop.done(t0, op(i))
    return loop.timing()


async def timed_loop_async(op: Callable[[int], Awaitable[bool]], n: int,
                           max_seconds: float) -> Timing:
    """timed_loop for coroutines: op(0..n-1) one after another, until n or the deadline;
    op returns success."""
    loop = _Sequential(max_seconds)
    for i in range(n):
        t0 = loop.begin()
        if t0 is None:
            break
        loop.done(t0, await op(i))
    return loop.timing()


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


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], *, timeout_s: float,
                     interval_s: float = 0.05, what: str) -> float:
    """Wait for `predicate` (a plain or an async callable), checked every `interval_s`
    until `timeout_s` has passed; returns the perf_counter() at which it held, raises
    BenchFailure naming `what` at the deadline."""

    async def holds() -> bool:
        result = predicate()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    deadline = time.perf_counter() + timeout_s
    while not await holds():
        if time.perf_counter() > deadline:
            raise BenchFailure(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)
    return time.perf_counter()
