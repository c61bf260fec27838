"""Handling metrics (办理质效指标) computed from per-issue facts.

How it works: the store projects every issue row (itself a projection of the event log) into
one `IssueFacts`. `compute_metrics` walks those facts exactly once; for each fact it derives a
handful of flags (open? counted as resolved? excluded from the resolution denominator? on
time? ...) and adds them into four mutable accumulators: the overall one and the fact's
board, department and node groups. At the end each accumulator is frozen into an immutable
`GroupMetrics`, and groups are ranked. The cost is O(n) time and O(number of groups + tags)
memory, so 100k facts take well under a second.

Why this shape: the same function serves the county dashboard, the higher tiers' league
tables and exports, so every number is defined here once, is reproducible from the facts
alone (`now` is only stamped as `as_of`; the wall clock is never read), and rankings are
guarded by a minimum sample so that a board with two lucky issues does not top the table.

Definitions (n = facts in the group):

* ``total`` = n; ``counts_by_state`` has every lifecycle state, 0 where none.
* *rejected* issue: ``rejected is True`` — a confirmed 不予受理 (the row is then closed). The
  ``rejected`` *state* is only a pending proposal that can still be overturned, so such an
  issue is open and stays in the resolution denominator.
* *open* issue: state in ``node.domain.issue.OPEN_STATES`` (received, triaged, assigned,
  in_progress, returned, rejected, reopened); resolved, closed and escalated (handed to
  another tier) are not open. ``counts_by_light`` counts green/yellow/red over open issues
  only (a light of "none" is not counted); ``overdue`` = red count; ``open`` = open count.
* ``resolution_rate`` = |state in {resolved, closed} and not rejected| /
  (n − |state == "escalated" or rejected|); ``None`` when the denominator is 0.
* ``sample`` = |resolved_at is not None| — the number of resolved issues; it is the
  denominator of ``on_time_rate`` and of ``avg_handling_hours`` and the ranking guard.
* ``on_time_rate`` = |resolved_at <= resolve_due| / sample. An issue resolved without a
  due time had nothing to miss and counts as on time.
* ``satisfaction_rate`` = |rating in {satisfied, basically_satisfied}| / |rating is not None|.
* ``repeat_rate`` (重复诉求率: reopened after an unsatisfied rating) =
  |reopen_count > 0| / |resolved_at is not None or reopen_count > 0|.
* ``recurrence_rate`` (重发复发率: the problem came back) = ``recurred`` /
  ``recurrence_sample``. The sample: issues closed (not by a confirmed rejection) with an
  enterprise's credit code and a tag whose window — ``recurrence_window`` (the node's
  ``metrics.recurrence_days``, default 90 days) after ``closed_at`` — has ended by ``now``,
  or that already recurred. ``recurred``: those followed in the window by an issue of the
  same enterprise (credit code) received after the close that shares a tag (the tag is the
  category while no tag library groups tags). Counted in the groups of the closed issue.
* ``avg_handling_hours`` = mean(resolved_at − received_at) in hours over the sample,
  rounded to 2 places.
* ``top_tags``: the 10 tags carried by most issues (a tag repeated within one issue counts
  once), ties broken by tag name.
* Rates are floats in [0, 1] rounded to 4 places, or ``None`` when their denominator is 0.

Grouping: issues without a board (department) are grouped under the key ``""`` so that the
groups of each dimension always partition the whole set (their totals sum to the overall
total). The ``""`` bucket is shown but never ranked.

Rankings: per dimension, groups with ``sample >= min_sample`` are ordered by on_time_rate
desc, then satisfaction_rate desc (``None`` last), then key; the others are listed, sorted by
key, in ``insufficient_sample``.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from node.domain.errors import ValidationError
from node.domain.issue import OPEN_STATES, State

STATES: tuple[str, ...] = tuple(s.value for s in State)
LIGHTS: tuple[str, ...] = ("green", "yellow", "red")
RATINGS: tuple[str, ...] = ("satisfied", "basically_satisfied", "unsatisfied")
DIMENSIONS: tuple[str, ...] = ("board", "department", "node")
TOP_TAGS = 10
UNGROUPED = ""

_STATE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STATES)}
_LIGHT_INDEX: dict[str, int] = {"green": 0, "yellow": 1, "red": 2, "none": -1}
_RATING_SATISFIED: dict[str, bool] = {
    "satisfied": True,
    "basically_satisfied": True,
    "unsatisfied": False,
}
_OPEN = tuple(s in OPEN_STATES for s in State)  # indexed like STATES
_DONE = tuple(s in (State.RESOLVED, State.CLOSED) for s in State)
_I_ESCALATED = _STATE_INDEX[State.ESCALATED.value]
_I_CLOSED = _STATE_INDEX[State.CLOSED.value]
#: The default window of the recurrence rate (metrics.recurrence_days in the node config).
RECURRENCE_WINDOW = timedelta(days=90)


@dataclass(frozen=True, kw_only=True, slots=True)
class IssueFacts:
    """What the metrics need to know about one issue (see the module docstring)."""

    issue_id: str
    node: str  # division code of the owning node
    board: str | None  # service board (专班/板块) it was dispatched to
    department: str | None
    state: str  # a State value
    light: str  # green | yellow | red | none
    tags: tuple[str, ...]
    received_at: datetime
    resolved_at: datetime | None  # last time it reached resolved
    resolve_due: datetime | None
    rating: str | None  # a Rating value
    reopen_count: int  # times an "unsatisfied" rating reopened it
    rejected: bool = False  # finished by a confirmed rejection (不予受理)
    credit_code: str | None = None  # the enterprise's (None: a 共性问题 without one)
    closed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupMetrics:
    """The metrics of one group of issues (or of the whole set)."""

    total: int
    open: int
    counts_by_state: Mapping[str, int]
    counts_by_light: Mapping[str, int]
    overdue: int
    sample: int
    rated: int
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    repeat_rate: float | None
    avg_handling_hours: float | None
    top_tags: tuple[tuple[str, int], ...]
    recurrence_sample: int = 0
    recurred: int = 0
    recurrence_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "open": self.open,
            "counts_by_state": dict(self.counts_by_state),
            "counts_by_light": dict(self.counts_by_light),
            "overdue": self.overdue,
            "sample": self.sample,
            "rated": self.rated,
            "resolution_rate": self.resolution_rate,
            "on_time_rate": self.on_time_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "repeat_rate": self.repeat_rate,
            "recurrence_sample": self.recurrence_sample,
            "recurred": self.recurred,
            "recurrence_rate": self.recurrence_rate,
            "avg_handling_hours": self.avg_handling_hours,
            "top_tags": [{"tag": tag, "count": count} for tag, count in self.top_tags],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Ranking:
    """Group keys of one dimension: ranked ones, and those below the sample guard."""

    ranked: tuple[str, ...]
    insufficient_sample: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ranked": list(self.ranked), "insufficient_sample": list(self.insufficient_sample)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Metrics:
    """Overall metrics, per-group metrics and rankings, as of `as_of`."""

    as_of: datetime
    min_sample: int
    overall: GroupMetrics
    by_board: Mapping[str, GroupMetrics]
    by_department: Mapping[str, GroupMetrics]
    by_node: Mapping[str, GroupMetrics]
    rankings: Mapping[str, Ranking]  # keyed by "board", "department", "node"

    def to_dict(self) -> dict[str, Any]:
        def groups(m: Mapping[str, GroupMetrics]) -> dict[str, Any]:
            return {key: m[key].to_dict() for key in sorted(m)}

        return {
            "as_of": self.as_of.isoformat(),
            "min_sample": self.min_sample,
            "overall": self.overall.to_dict(),
            "by_board": groups(self.by_board),
            "by_department": groups(self.by_department),
            "by_node": groups(self.by_node),
            "rankings": {dim: self.rankings[dim].to_dict() for dim in DIMENSIONS},
        }


class _Acc:
    """Mutable running totals of one group; frozen into GroupMetrics at the end."""

    __slots__ = (
        "excluded",
        "handling_us",
        "lights",
        "on_time",
        "open",
        "rated",
        "reached",
        "recurred",
        "recurrence_sample",
        "reopened",
        "resolved_ok",
        "sample",
        "satisfied",
        "states",
        "tags",
        "total",
    )

    def __init__(self) -> None:
        self.total = 0
        self.states = [0] * len(STATES)
        self.lights = [0] * len(LIGHTS)
        self.open = 0
        self.resolved_ok = 0
        self.excluded = 0
        self.sample = 0
        self.on_time = 0
        self.handling_us = 0  # integer microseconds: sums stay exact in any order
        self.rated = 0
        self.satisfied = 0
        self.reopened = 0
        self.reached = 0
        self.recurrence_sample = 0
        self.recurred = 0
        self.tags: dict[str, int] = {}

    def freeze(self) -> GroupMetrics:
        top = heapq.nsmallest(TOP_TAGS, self.tags.items(), key=lambda kv: (-kv[1], kv[0]))
        avg_hours = (round(self.handling_us / self.sample / 3_600_000_000, 2) if self.sample
                     else None)
        return GroupMetrics(
            total=self.total,
            open=self.open,
            counts_by_state=MappingProxyType(dict(zip(STATES, self.states, strict=True))),
            counts_by_light=MappingProxyType(dict(zip(LIGHTS, self.lights, strict=True))),
            overdue=self.lights[2],
            sample=self.sample,
            rated=self.rated,
            resolution_rate=_rate(self.resolved_ok, self.total - self.excluded),
            on_time_rate=_rate(self.on_time, self.sample),
            satisfaction_rate=_rate(self.satisfied, self.rated),
            repeat_rate=_rate(self.reopened, self.reached),
            avg_handling_hours=avg_hours,
            top_tags=tuple(top),
            recurrence_sample=self.recurrence_sample,
            recurred=self.recurred,
            recurrence_rate=_rate(self.recurred, self.recurrence_sample),
        )


def _count_recurrences(closed: list[tuple[IssueFacts, tuple[_Acc, ...]]],
                       received: dict[tuple[str, str], list[datetime]], now: datetime,
                       window: timedelta) -> None:
    """Add each closed issue to its groups' recurrence sample and, when an issue of the
    same enterprise sharing a tag was received within `window` after it closed, to their
    `recurred` (the definition in the module docstring)."""
    for times in received.values():
        times.sort()
    for f, accs in closed:
        assert f.closed_at is not None and f.credit_code is not None
        end = f.closed_at + window
        again = False
        for tag in dict.fromkeys(f.tags):
            times = received[(f.credit_code, tag)]
            k = bisect_right(times, f.closed_at)  # the first received after the close
            if k < len(times) and times[k] <= end:
                again = True
                break
        if not again and end > now:
            continue  # its window is still open: not known yet
        for acc in accs:
            acc.recurrence_sample += 1
            acc.recurred += again


def _rate(numerator: int, denominator: int) -> float | None:
    if denominator <= 0:
        return None
    return round(numerator / denominator, 4)


def _bad(fact: IssueFacts, field: str, value: object) -> ValidationError:
    return ValidationError("fact_invalid", field=f"facts.{field}", issue_id=fact.issue_id,
                           value=repr(value), name=field)


def _rank(groups: Mapping[str, GroupMetrics], min_sample: int) -> Ranking:
    eligible: list[tuple[float, float, str]] = []
    insufficient: list[str] = []
    for key, g in groups.items():
        if key == UNGROUPED:
            continue
        if g.sample >= min_sample and g.on_time_rate is not None:
            sat = g.satisfaction_rate if g.satisfaction_rate is not None else -1.0
            eligible.append((-g.on_time_rate, -sat, key))
        else:
            insufficient.append(key)
    eligible.sort()
    return Ranking(
        ranked=tuple(key for _, _, key in eligible),
        insufficient_sample=tuple(sorted(insufficient)),
    )


def compute_metrics(facts: Iterable[IssueFacts], *, now: datetime, min_sample: int = 5,
                    recurrence_window: timedelta = RECURRENCE_WINDOW) -> Metrics:
    """Compute overall, per-board, per-department and per-node metrics in one pass.

    Raises ValidationError for a naive `now`, a `min_sample` below 1, or a fact with an
    unknown state/light/rating, a negative reopen_count, or resolved_at before received_at.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now_naive", field="now", value=now.isoformat())
    if isinstance(min_sample, bool) or not isinstance(min_sample, int) or min_sample < 1:
        raise ValidationError("min_sample_invalid", field="min_sample", value=repr(min_sample))
    if recurrence_window <= timedelta(0):
        raise ValidationError("recurrence_window_invalid", field="recurrence_window",
                              value=str(recurrence_window))
    received: dict[tuple[str, str], list[datetime]] = {}  # (credit code, tag) → received_at
    closed: list[tuple[IssueFacts, tuple[_Acc, ...]]] = []

    overall = _Acc()
    by_board: dict[str, _Acc] = {}
    by_department: dict[str, _Acc] = {}
    by_node: dict[str, _Acc] = {}

    for f in facts:
        si = _STATE_INDEX.get(f.state)
        if si is None:
            raise _bad(f, "state", f.state)
        li = _LIGHT_INDEX.get(f.light)
        if li is None:
            raise _bad(f, "light", f.light)
        satisfied: bool | None = None
        if f.rating is not None:
            satisfied = _RATING_SATISFIED.get(f.rating)
            if satisfied is None:
                raise _bad(f, "rating", f.rating)
        if f.reopen_count < 0:
            raise _bad(f, "reopen_count", f.reopen_count)

        rejected = f.rejected
        is_open = _OPEN[si]
        light = li if is_open else -1
        resolved_ok = _DONE[si] and not rejected
        excluded = rejected or si == _I_ESCALATED
        resolved_at = f.resolved_at
        has_resolved = resolved_at is not None
        on_time = False
        handling = 0
        if resolved_at is not None:
            spent = resolved_at - f.received_at
            handling = (spent.days * 86_400 + spent.seconds) * 1_000_000 + spent.microseconds
            if handling < 0:
                raise _bad(f, "resolved_at", resolved_at.isoformat())
            on_time = f.resolve_due is None or resolved_at <= f.resolve_due
        reopened = f.reopen_count > 0
        reached = has_resolved or reopened
        tags = tuple(dict.fromkeys(f.tags)) if f.tags else ()

        board = f.board or UNGROUPED
        department = f.department or UNGROUPED
        b = by_board.get(board)
        if b is None:
            b = by_board[board] = _Acc()
        d = by_department.get(department)
        if d is None:
            d = by_department[department] = _Acc()
        n = by_node.get(f.node)
        if n is None:
            n = by_node[f.node] = _Acc()

        if f.credit_code:
            for tag in tags:
                received.setdefault((f.credit_code, tag), []).append(f.received_at)
            if f.closed_at is not None and tags and not rejected and si == _I_CLOSED:
                closed.append((f, (overall, b, d, n)))

        for acc in (overall, b, d, n):
            acc.total += 1
            acc.states[si] += 1
            if is_open:
                acc.open += 1
                if light >= 0:
                    acc.lights[light] += 1
            if resolved_ok:
                acc.resolved_ok += 1
            if excluded:
                acc.excluded += 1
            if has_resolved:
                acc.sample += 1
                acc.handling_us += handling
                if on_time:
                    acc.on_time += 1
            if satisfied is not None:
                acc.rated += 1
                if satisfied:
                    acc.satisfied += 1
            if reopened:
                acc.reopened += 1
            if reached:
                acc.reached += 1
            if tags:
                counts = acc.tags
                for tag in tags:
                    counts[tag] = counts.get(tag, 0) + 1

    _count_recurrences(closed, received, now, recurrence_window)

    def freeze(groups: dict[str, _Acc]) -> Mapping[str, GroupMetrics]:
        return MappingProxyType({key: groups[key].freeze() for key in sorted(groups)})

    board_metrics = freeze(by_board)
    department_metrics = freeze(by_department)
    node_metrics = freeze(by_node)
    return Metrics(
        as_of=now,
        min_sample=min_sample,
        overall=overall.freeze(),
        by_board=board_metrics,
        by_department=department_metrics,
        by_node=node_metrics,
        rankings=MappingProxyType(
            {
                "board": _rank(board_metrics, min_sample),
                "department": _rank(department_metrics, min_sample),
                "node": _rank(node_metrics, min_sample),
            }
        ),
    )
