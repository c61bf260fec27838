"""The 有感指数 (perceived-service index): per unit and period, from its components, pure.

How it works: a unit's period is described by `Sums` — numerator/denominator pairs kept as
integers, plus the external evaluations' scores — so the same figures can be computed from
the issues a node holds (`sums_by_unit`, reusing node/domain/reports.py `figures` for the
rates a report already defines) or folded from a child's summary (a province), and every
figure stays explainable. `score` turns the sums into components normalised to 0–100:

* ``resolution`` (办结率) = resolution_num / resolution_den × 100 (reports.py definition);
* ``on_time`` (按时办结率) = on_time_num / on_time_den × 100;
* ``satisfaction`` (满意率) = (satisfied ratings + satisfied or basically satisfied revisit
  results) / (ratings + final revisit results) of the issues resolved in the period × 100;
* ``recurrence`` (重发复发率, lower is better) = (1 − recurrence_num / recurrence_den) × 100;
* ``overdue`` (超时办结, lower is better) = (1 − overdue_num / overdue_den) × 100, where the
  denominator is the resolution denominator (issues received in the period, escalated ones
  and confirmed rejections excluded) and the numerator those of them resolved after their
  deadline or still open and red at `as_of`;
* ``eval_grassroots`` / ``eval_enterprise`` / ``eval_third_party`` (基层评价、企业评价、
  第三方评价): the score 0–100 entered for the unit and period, with its source.

The index = Σ wᵢ·sᵢ / Σ wᵢ over the components that have a value (a denominator > 0 or an
evaluation entered) and a positive weight; a missing component is shown as such and its
weight is not counted. Units with fewer resolutions in the period (on_time_den) than the
minimum sample are listed unranked with that reason; the others are ranked by index
(desc), ties sharing a rank, then by unit key. Each row carries its rank and index of the
previous period (`previous`) and the change.

Weights: configured per node (`[index] weights`), non-negative with a positive sum; where
the tier above publishes index weights as floors (node/domain/floors.py), the topmost
issuer's weight of a component replaces the node's (`weights_in_force`) so that a province
compares like with like.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from node.domain.errors import ValidationError
from node.domain.reports import (
    RECURRENCE_WINDOW,
    Kind,
    Period,
    ReportFact,
    figures,
    parse_period,
    period_containing,
    received_index,
)

EVAL_KINDS: tuple[str, ...] = ("grassroots", "enterprise", "third_party")
RATE_COMPONENTS: tuple[str, ...] = ("resolution", "on_time", "satisfaction", "recurrence",
                                    "overdue")
COMPONENTS: tuple[str, ...] = RATE_COMPONENTS + tuple(f"eval_{k}" for k in EVAL_KINDS)
LOWER_IS_BETTER = frozenset({"recurrence", "overdue"})
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "resolution": 20.0, "on_time": 20.0, "satisfaction": 20.0, "recurrence": 10.0,
    "overdue": 10.0, "eval_grassroots": 7.0, "eval_enterprise": 7.0, "eval_third_party": 6.0}
#: the integer sums a unit's period is made of (what a summary carries)
SUM_KEYS: tuple[str, ...] = tuple(
    f"{name}_{part}" for name in ("resolution", "on_time", "satisfaction", "revisit",
                                  "recurrence", "overdue") for part in ("num", "den"))
_REVISIT_OK = frozenset({"satisfied", "basically_ok"})
_REVISIT_FINAL = _REVISIT_OK | {"unsatisfied"}
_DONE = frozenset({"resolved", "closed"})
_PERIOD_KEY = re.compile(r"^\d{4}(-\d{2}|-Q[1-4])?$")
MAX_SCORE = 100.0
SUMMARY_PERIODS_MAX = 16
MAX_COUNT = 10**12


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexFact:
    """One issue as the index sees it: the report's fact and its revisit result."""

    fact: ReportFact
    revisit: str | None = None  # a RevisitResult value


@dataclass(frozen=True, kw_only=True, slots=True)
class Sums:
    """A unit's period: integer numerators/denominators (`SUM_KEYS`) and evaluations."""

    counts: Mapping[str, int] = field(default_factory=dict)
    evaluations: Mapping[str, float] = field(default_factory=dict)  # kind → score 0–100
    sources: Mapping[str, str] = field(default_factory=dict)  # kind → source

    def get(self, key: str) -> int:
        return int(self.counts.get(key, 0))

    def with_evaluations(self, scores: Mapping[str, tuple[float, str]]) -> Sums:
        """These sums with `scores` (kind → (score, source)) in place of the ones kept."""
        ev, src = dict(self.evaluations), dict(self.sources)
        for kind, (value, source) in scores.items():
            ev[kind], src[kind] = value, source
        return Sums(counts=self.counts, evaluations=ev, sources=src)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.get(k) for k in SUM_KEYS if self.get(k)}
        for kind, value in self.evaluations.items():
            out[f"eval_{kind}"] = value
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Component:
    name: str
    value: float | None  # 0–100, None: nothing to measure
    num: float | None
    den: int | None  # None for an evaluation
    weight: float
    source: str | None = None  # an evaluation's source

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "num": self.num, "den": self.den,
                "weight": self.weight, "lower_is_better": self.name in LOWER_IS_BETTER,
                "source": self.source}


@dataclass(frozen=True, kw_only=True, slots=True)
class Scored:
    unit: str
    index: float | None
    components: tuple[Component, ...]
    sample: int  # resolutions in the period: the ranking guard

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "index": self.index, "sample": self.sample,
                "components": [c.to_dict() for c in self.components]}


@dataclass(frozen=True, kw_only=True, slots=True)
class RankedRow:
    scored: Scored
    rank: int | None
    reason: str | None  # why unranked: "sample_below_minimum" | "no_index"
    previous_rank: int | None
    previous_index: float | None

    @property
    def rank_change(self) -> int | None:
        """Places gained since the previous period (positive: moved up)."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    @property
    def index_change(self) -> float | None:
        if self.scored.index is None or self.previous_index is None:
            return None
        return round(self.scored.index - self.previous_index, 2)

    def to_dict(self) -> dict[str, Any]:
        return {**self.scored.to_dict(), "rank": self.rank, "reason": self.reason,
                "previous_rank": self.previous_rank, "previous_index": self.previous_index,
                "rank_change": self.rank_change, "index_change": self.index_change}


def validate_weights(raw: Mapping[str, Any]) -> dict[str, float]:
    """Known components only, non-negative finite numbers, a positive sum."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        if name not in COMPONENTS:
            raise ValidationError("index_weights_invalid", field=f"index.weights.{name}",
                                  problem="unknown component")
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise ValidationError("index_weights_invalid", field=f"index.weights.{name}",
                                  problem="not a non-negative number")
        out[name] = float(value)
    if sum(out.values()) <= 0:
        raise ValidationError("index_weights_invalid", field="index.weights",
                              problem="the weights sum to 0")
    return out


def weights_in_force(configured: Mapping[str, float],
                     floors: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The node's weights (defaults for components it leaves out) with the floors' applied:
    `floors` nearest issuer first, the topmost issuer's weight of a component wins."""
    out = {**DEFAULT_WEIGHTS, **configured}
    for floor in floors:  # nearest first: a later (higher) issuer overwrites
        for name, weight in floor.items():
            if name in COMPONENTS:
                out[name] = float(weight)
    return validate_weights(out)


def _value(num: float, den: int, lower: bool) -> float:
    ratio = num / den
    return round(100.0 * (1.0 - ratio if lower else ratio), 2)


def score(unit: str, sums: Sums, weights: Mapping[str, float]) -> Scored:
    """The components of `sums` and the weighted index (module docstring)."""
    comps: list[Component] = []
    pairs = {
        "resolution": (sums.get("resolution_num"), sums.get("resolution_den")),
        "on_time": (sums.get("on_time_num"), sums.get("on_time_den")),
        "satisfaction": (sums.get("satisfaction_num") + sums.get("revisit_num"),
                         sums.get("satisfaction_den") + sums.get("revisit_den")),
        "recurrence": (sums.get("recurrence_num"), sums.get("recurrence_den")),
        "overdue": (sums.get("overdue_num"), sums.get("overdue_den")),
    }
    for name in RATE_COMPONENTS:
        num, den = pairs[name]
        comps.append(Component(name=name, num=num, den=den, weight=weights.get(name, 0.0),
                               value=_value(num, den, name in LOWER_IS_BETTER) if den else None))
    for kind in EVAL_KINDS:
        name = f"eval_{kind}"
        ev = sums.evaluations.get(kind)
        comps.append(Component(name=name, num=ev, den=None, weight=weights.get(name, 0.0),
                               value=round(ev, 2) if ev is not None else None,
                               source=sums.sources.get(kind)))
    counted = [(c.weight, c.value) for c in comps if c.value is not None and c.weight > 0]
    total = sum(w for w, _ in counted)
    index = round(sum(w * v for w, v in counted) / total, 2) if total > 0 else None
    return Scored(unit=unit, index=index, components=tuple(comps),
                  sample=sums.get("on_time_den"))


def _places(scored: Iterable[Scored], min_sample: int
            ) -> tuple[list[tuple[Scored, int | None, str | None]], dict[str, int]]:
    eligible = sorted((s for s in scored if s.sample >= min_sample and s.index is not None),
                      key=lambda s: (-(s.index or 0.0), s.unit))
    out: list[tuple[Scored, int | None, str | None]] = []
    ranks: dict[str, int] = {}
    last: float | None = None
    place = 0
    for i, s in enumerate(eligible, start=1):
        if s.index != last:
            place, last = i, s.index
        ranks[s.unit] = place
        out.append((s, place, None))
    return out, ranks


def rank(current: Mapping[str, Sums], previous: Mapping[str, Sums], *,
         weights: Mapping[str, float], min_sample: int) -> list[RankedRow]:
    """Every unit of `current`, ranked first, then the unranked ones with the reason."""
    if isinstance(min_sample, bool) or not isinstance(min_sample, int) or min_sample < 1:
        raise ValidationError("min_sample_invalid", field="min_sample", value=repr(min_sample))
    now = [score(u, s, weights) for u, s in sorted(current.items())]
    before = {u: score(u, s, weights) for u, s in previous.items()}
    ranked, _ = _places(now, min_sample)
    _, before_ranks = _places(before.values(), min_sample)
    done = {s.unit for s, _, _ in ranked}
    rows = [RankedRow(scored=s, rank=r, reason=None, previous_rank=before_ranks.get(s.unit),
                      previous_index=before[s.unit].index if s.unit in before else None)
            for s, r, _ in ranked]
    for s in now:
        if s.unit in done:
            continue
        reason = "sample_below_minimum" if s.sample < min_sample else "no_index"
        rows.append(RankedRow(scored=s, rank=None, reason=reason,
                              previous_rank=before_ranks.get(s.unit),
                              previous_index=before[s.unit].index if s.unit in before else None))
    return rows


def sums_by_unit(facts: Sequence[IndexFact], period: Period, *, as_of: datetime,
                 key: Any, window: Any = RECURRENCE_WINDOW,
                 received: Mapping[tuple[str, str], list[datetime]] | None = None
                 ) -> dict[Any, Sums]:
    """The sums of `period` per group (`key(fact)` → group, never None) and of the whole
    set (under None): the report's rates (node/domain/reports.py `figures`), the revisit
    results and the overdue handling (module docstring)."""
    plain = [f.fact for f in facts]
    if received is None:
        received = received_index(plain)
    overall, groups = figures(plain, period, as_of=as_of, window=window, keys=(key,),
                              received=received)
    extra: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    start, end = period.start, period.end
    for f in facts:
        r = f.fact
        came = start <= r.received_at < end
        done = r.resolved_at is not None and start <= r.resolved_at < end
        if not (came or done):
            continue
        for g in (None, key(r)):
            e = extra[g]
            if done and f.revisit in _REVISIT_FINAL:
                e["revisit_den"] += 1
                e["revisit_num"] += f.revisit in _REVISIT_OK
            if came and not (r.state == "escalated" or r.rejected):
                late = (r.resolved_at is not None and r.resolve_due is not None
                        and r.resolved_at > r.resolve_due)
                red = r.state not in _DONE and r.light == "red"
                e["overdue_den"] += 1
                e["overdue_num"] += late or red
    out: dict[Any, Sums] = {}
    tables = {None: overall.get(None)} | dict(groups)
    for g in set(tables) | set(extra):
        counts: dict[str, int] = {}
        fig = tables.get(g)
        if fig is not None:
            for name in ("resolution", "on_time", "satisfaction", "recurrence"):
                for part in ("num", "den"):
                    counts[f"{name}_{part}"] = int(fig.sums.get(f"{name}_{part}", 0))
        counts.update(extra.get(g, {}))
        out[g] = Sums(counts={k: v for k, v in counts.items() if v})
    return out


def summary_periods(as_of: datetime) -> list[Period]:
    """The periods a summary carries: this month and the two before, this quarter and the
    two before, this year and the one before (a ranking and its previous period)."""
    out: list[Period] = []
    for kind, n in ((Kind.MONTH, 3), (Kind.QUARTER, 3), (Kind.YEAR, 2)):
        p = period_containing(kind, as_of)
        for _ in range(n):
            out.append(p)
            p = p.previous()
    return out


def decode_summary_index(value: Any) -> dict[str, dict[str, Any]]:
    """A child summary's `index` (period key → wire sums), checked; ValueError if not."""
    if not isinstance(value, dict) or len(value) > SUMMARY_PERIODS_MAX:
        raise ValueError(f"index must map at most {SUMMARY_PERIODS_MAX} periods to sums")
    out: dict[str, dict[str, Any]] = {}
    for key, sums in value.items():
        if not isinstance(key, str) or not _PERIOD_KEY.match(key) or not isinstance(sums, dict):
            raise ValueError("index must map period keys to sums")
        clean: dict[str, Any] = {}
        for name, v in sums.items():
            if name in SUM_KEYS:
                if (not isinstance(v, int) or isinstance(v, bool)
                        or not 0 <= v <= MAX_COUNT):
                    raise ValueError(f"index sum {name} must be an integer in 0..{MAX_COUNT}")
                clean[name] = v
            elif isinstance(name, str) and name.removeprefix("eval_") in EVAL_KINDS:
                if (isinstance(v, bool) or not isinstance(v, (int, float))
                        or not math.isfinite(v) or not 0 <= v <= MAX_SCORE):
                    raise ValueError(f"index evaluation {name} must be a score 0–100")
                clean[name] = float(v)
            else:
                raise ValueError("index sums carry unknown names")
        out[key] = clean
    return out


def sums_from_wire(raw: Mapping[str, Any]) -> Sums:
    """A summary's sums of one period (decoded by `decode_summary_index`)."""
    counts = {k: int(v) for k, v in raw.items() if k in SUM_KEYS}
    evals = {k.removeprefix("eval_"): float(v) for k, v in raw.items()
             if k.startswith("eval_")}
    return Sums(counts=counts, evaluations=evals,
                sources={k: "summary" for k in evals})


def validate_evaluation(kind: Any, score_value: Any, source: Any) -> tuple[str, float, str]:
    """An external evaluation's kind, score (0–100, one decimal kept) and source."""
    if kind not in EVAL_KINDS:
        raise ValidationError("evaluation_invalid", field="kind", problem="unknown kind")
    if (isinstance(score_value, bool) or not isinstance(score_value, (int, float))
            or not math.isfinite(score_value) or not 0 <= score_value <= MAX_SCORE):
        raise ValidationError("evaluation_invalid", field="score", problem="not a score 0–100")
    if not isinstance(source, str) or not source.strip() or len(source.strip()) > 200:
        raise ValidationError("evaluation_invalid", field="source",
                              problem="a source of 1–200 characters is required")
    return str(kind), round(float(score_value), 1), source.strip()


def period_of_key(key: Any) -> Period:
    """The period a key names: "2026-11" a month, "2026-Q4" a quarter, "2026" a year."""
    if not isinstance(key, str):
        raise ValidationError("report_period_invalid", field="period", kind="month")
    kind = "quarter" if "-Q" in key else "month" if "-" in key else "year"
    return parse_period(kind, key)
