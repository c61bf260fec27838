"""The cockpit's series: intake and closure per week, funnel, tags, channels, rankings.

`StatsService.series(principal, weeks=N)` asks the store for aggregates only
(node.app.ports.StatsSource: GROUP BY in SQL, never the issues) over 2N weeks — the N shown
and the N before them, so every ranking carries its trend — and folds the cells into the
answer. Weeks are calendar weeks of China Standard Time, Monday 00:00 to Monday 00:00;
the last one is the current, still running week.

Rankings: counties (units of origin) and departments (kept apart per county: the same
name in two counties is two departments) by their on-time resolution rate over the window
(resolved by the resolve deadline / resolved), ranked only with at least `min_sample`
resolutions (the same guard as /metrics); the trend is the change against the N weeks
before.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from node.app.policy import VIEW_METRICS, Principal, require
from node.app.ports import Clock, StatsSource, TagLibraryReads, Tally
from node.domain.calendar import CST
from node.domain.errors import ValidationError

MAX_WEEKS = 104
DEFAULT_WEEKS = 12
TOP_TAGS = 10
MIXES = ("done", "green", "yellow", "red", "none")
STAGES = ("received", "triage", "assign", "start", "resolve", "close")


def window_start(now: datetime, weeks: int) -> datetime:
    """Monday 00:00 CST of the first of the `weeks` weeks that end with the current one."""
    today = now.astimezone(CST).date()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday - timedelta(weeks=weeks - 1), time(0), tzinfo=CST)


@dataclass(frozen=True, kw_only=True, slots=True)
class Period:
    """One unit's figures over a stretch of weeks."""

    received: int = 0
    resolved: int = 0
    on_time: int = 0

    def rate(self) -> float | None:
        return round(self.on_time / self.resolved, 4) if self.resolved else None

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "resolved": self.resolved, "on_time": self.on_time,
                "rate": self.rate()}


@dataclass(frozen=True, kw_only=True, slots=True)
class Ranked:
    """A county or department: its figures now and before, its weekly series, its rank."""

    origin: str
    department: str | None  # None: the row is the county itself
    current: Period
    previous: Period
    received: tuple[int, ...]
    resolved: tuple[int, ...]
    rank: int | None  # None: fewer resolutions than the minimum sample

    def to_dict(self) -> dict[str, Any]:
        now, before = self.current.rate(), self.previous.rate()
        out: dict[str, Any] = {
            "origin": self.origin, "rank": self.rank, "current": self.current.to_dict(),
            "previous": self.previous.to_dict(),
            "change": round(now - before, 4) if now is not None and before is not None
            else None,
        }
        if self.department is None:
            out.update(received=list(self.received), resolved=list(self.resolved))
        else:
            out["department"] = self.department
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    node: str
    as_of: datetime
    weeks: tuple[date, ...]  # the Monday of each week
    received: dict[str, tuple[int, ...]]  # light mix → per week
    resolved: tuple[int, ...]
    on_time: tuple[int, ...]
    closed: tuple[int, ...]
    funnel: tuple[tuple[str, int], ...]
    top_tags: tuple[tuple[str, int], ...]
    channels: tuple[tuple[str, int], ...]
    units: tuple[Ranked, ...]
    departments: tuple[Ranked, ...]
    min_sample: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "as_of": self.as_of.isoformat(),
            "weeks": [d.isoformat() for d in self.weeks], "min_sample": self.min_sample,
            "received": {"total": [sum(x) for x in zip(*self.received.values(), strict=True)],
                         **{k: list(v) for k, v in self.received.items()}},
            "resolved": list(self.resolved), "on_time": list(self.on_time),
            "closed": list(self.closed),
            "funnel": [{"stage": s, "count": n} for s, n in self.funnel],
            "top_tags": [{"tag": t, "count": n} for t, n in self.top_tags],
            "channels": [{"channel": c, "count": n} for c, n in self.channels],
            "units": [u.to_dict() for u in self.units],
            "departments": [d.to_dict() for d in self.departments],
        }


def _rank(rows: list[Ranked], min_sample: int) -> tuple[Ranked, ...]:
    """Best on-time rate first (then more resolutions, then code); too small samples last."""
    def key(r: Ranked) -> tuple[int, float, int, str, str]:
        rate = r.current.rate()
        enough = r.current.resolved >= min_sample and rate is not None
        return (0 if enough else 1, -(rate or 0.0), -r.current.resolved, r.origin,
                r.department or "")
    ordered = sorted(rows, key=key)
    out: list[Ranked] = []
    place = 0
    for r in ordered:
        enough = r.current.resolved >= min_sample and r.current.resolved > 0
        place += enough
        out.append(Ranked(origin=r.origin, department=r.department, current=r.current,
                          previous=r.previous, received=r.received, resolved=r.resolved,
                          rank=place if enough else None))
    return tuple(out)


def fold(cells: Iterable[Tally], *, node: str, now: datetime, start: datetime, weeks: int,
         min_sample: int) -> Series:
    """The answer from the store's cells of 2×`weeks` weeks from `start` (pure)."""
    n = weeks
    received = {m: [0] * n for m in MIXES}
    resolved, on_time, closed = [0] * n, [0] * n, [0] * n
    stages: dict[str, int] = {}
    tags: list[tuple[str, int]] = []
    channels: dict[str, int] = defaultdict(int)
    # (origin, department or None) → [received, resolved, on_time] × (previous, current)
    per: dict[tuple[str, str | None], list[list[int]]] = defaultdict(
        lambda: [[0, 0, 0], [0, 0, 0]])
    weekly: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * n, [0] * n])
    for t in cells:
        if t.measure in ("received", "resolved", "closed"):
            current = t.week >= n
            w = t.week - n
            if t.measure == "closed":
                if current:
                    closed[w] += t.count
                continue
            slot = 0 if t.measure == "received" else 1
            for key in ((t.origin, None), (t.origin, t.department)):
                figures = per[key][int(current)]
                figures[slot] += t.count
                if t.measure == "resolved" and t.key == "on_time":
                    figures[2] += t.count
            if not current:
                continue
            weekly[t.origin][slot][w] += t.count
            if t.measure == "received":
                received[t.key if t.key in received else "none"][w] += t.count
            else:
                resolved[w] += t.count
                if t.key == "on_time":
                    on_time[w] += t.count
        elif t.measure == "stage":
            stages[t.key] = t.count
        elif t.measure == "tag":
            tags.append((t.key, t.count))
        elif t.measure == "channel":
            channels[t.key] += t.count
    stages["received"] = sum(sum(v) for v in received.values())

    def ranked(key: tuple[str, str | None]) -> Ranked:
        before, now_ = per[key]
        series = weekly.get(key[0], [[0] * n, [0] * n])
        return Ranked(origin=key[0], department=key[1],
                      previous=Period(received=before[0], resolved=before[1], on_time=before[2]),
                      current=Period(received=now_[0], resolved=now_[1], on_time=now_[2]),
                      received=tuple(series[0]), resolved=tuple(series[1]), rank=None)

    first = start + timedelta(weeks=n)
    return Series(
        node=node, as_of=now,
        weeks=tuple((first + timedelta(weeks=i)).astimezone(CST).date() for i in range(n)),
        received={k: tuple(v) for k, v in received.items()},
        resolved=tuple(resolved), on_time=tuple(on_time), closed=tuple(closed),
        funnel=tuple((s, stages.get(s, 0)) for s in STAGES),
        top_tags=tuple(tags),
        channels=tuple(sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))),
        units=_rank([ranked(k) for k in per if k[1] is None], min_sample),
        departments=_rank([ranked(k) for k in per if k[1]], min_sample),  # assigned ones
        min_sample=min_sample,
    )


class StatsService:
    """`cache_s`: an answer is reused for that long (every wall screen and cockpit tab polls
    every few seconds; at a million issues the resolved/closed aggregates scan the issues
    table, ~0.2 s per 100 000 issues on SQLite, so they run once per period, not per tab)."""

    def __init__(self, *, source: StatsSource, node: str, clock: Clock, min_sample: int,
                 cache_s: float = 5.0, tags: TagLibraryReads | None = None) -> None:
        self.source = source
        #: the tag library: spellings of one library tag (former names, merged tags) fold
        #: into one line under the surviving tag's name
        self.tags = tags
        self.node = node
        self.clock = clock
        self.min_sample = min_sample
        self.cache = timedelta(seconds=cache_s)
        self._answers: dict[int, Series] = {}
        self._lock = threading.Lock()  # concurrent requests wait for one computation

    def series(self, principal: Principal, *, weeks: int = DEFAULT_WEEKS) -> Series:
        """The last `weeks` weeks (the current one included) and the ranking trends."""
        require(principal, VIEW_METRICS)
        if not 1 <= weeks <= MAX_WEEKS:
            raise ValidationError("invalid_input", field="weeks")
        with self._lock:
            now = self.clock.now()
            kept = self._answers.get(weeks)
            if kept is not None and kept.as_of <= now < kept.as_of + self.cache:
                return kept
            self._answers[weeks] = answer = self._compute(now, weeks)
            return answer

    def _compute(self, now: datetime, weeks: int) -> Series:
        start = window_start(now, 2 * weeks)
        # with a library, more lines than shown: several may fold into one
        cells = self.source.tallies(start=start, weeks=2 * weeks,
                                    recent=start + timedelta(weeks=weeks), now=now,
                                    top_tags=TOP_TAGS if self.tags is None else 10 * TOP_TAGS)
        series = fold(cells, node=self.node, now=now, start=start, weeks=weeks,
                      min_sample=self.min_sample)
        if self.tags is None:
            return series
        library = self.tags.library()
        key = library.canonical_map()
        folded: dict[str, int] = defaultdict(int)
        for tag, n in series.top_tags:
            folded[library.tags[key[tag]].name_zh if tag in key else tag] += n
        top = sorted(folded.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TAGS]
        return replace(series, top_tags=tuple(top))
