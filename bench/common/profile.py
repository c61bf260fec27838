"""cProfile reports of the benches: worker threads too, trimmed listings, short paths.

cProfile sees one thread; `ProfilingExecutor`, installed as the event loop's default
executor, gives every worker thread that runs `asyncio.to_thread` work its own profile, so
a report can show the event-loop thread and the (merged) workers side by side. Listings
drop the bench's own frames and the profiler's enable/disable, and `strip_paths` shortens
the file names to paths inside the repository, site-packages or the standard library.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bench.common.results import REPO

P = ParamSpec("P")
T = TypeVar("T")

# asyncio's own frames on the event-loop thread, hidden from its cumulative listing
LOOP_MACHINERY = r"asyncio/(base_events|events|selector_events)\.py|selectors\.py|epoll"


class ProfilingExecutor(ThreadPoolExecutor):
    """A default executor that profiles the work asyncio.to_thread hands it, per thread."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="bench-profiled")
        self.enabled = False
        self._local = threading.local()
        self._lock = threading.Lock()
        self.profiles: list[cProfile.Profile] = []

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def run() -> T:
            if not self.enabled:
                return fn(*args, **kwargs)
            prof = getattr(self._local, "prof", None)
            if prof is None:
                prof = self._local.prof = cProfile.Profile()
                with self._lock:
                    self.profiles.append(prof)
            prof.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                prof.disable()

        return super().submit(run)


def merged_stats(profiles: Sequence[cProfile.Profile], stream: io.StringIO) -> pstats.Stats:
    """One pstats.Stats of all `profiles` (at least one), printing to `stream`."""
    stats = pstats.Stats(profiles[0], stream=stream)
    for prof in profiles[1:]:
        stats.add(prof)
    return stats


def stats_lines(profiles: Sequence[cProfile.Profile], order: str, top: int, *,
                hide: str | None = None, totals: bool = False) -> list[str]:
    """The `top` entries by `order` of the merged profiles, without the bench's frames,
    the profiler's enable/disable and what matches `hide` (a regex), and without the
    listing's headers ('N function calls …' kept when `totals`)."""
    alternatives = r"bench/|\{method '(en|dis)able'" + (f"|{hide}" if hide else "")
    stream = io.StringIO()
    merged_stats(profiles, stream).sort_stats(order).print_stats(
        rf"^(?!.*({alternatives}))", top)
    return [ln for ln in stream.getvalue().splitlines()
            if ln.strip() and not ln.lstrip().startswith(("List reduced", "Ordered by"))
            and (totals or "function calls" not in ln)]


def epoll_idle_seconds(profile: cProfile.Profile) -> float:
    """Own time in epoll of an event-loop thread's profile: the loop waiting, idle."""
    return sum(tt for (_f, _l, name), (_cc, _nc, tt, _ct, _callers)
               in pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
               if "epoll" in name)


def strip_paths(report: str) -> str:
    """File names relative to site-packages, the repository or the standard library."""
    for prefix in (str(REPO / ".venv" / "lib" / "python3.11" / "site-packages") + "/",
                   str(REPO) + "/", sys.base_prefix + "/lib/python3.11/"):
        report = report.replace(prefix, "")
    return report
