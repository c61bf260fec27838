"""The 有感指数 and its ranking (晾晒比拼): per unit and period, explainable, at every tier.

How it works: `ranking(period, level)` reads the facts the period and the one before need
(one read, node/store/index.py — the report's facts with revisit results), folds them per
unit with the pure domain (node/domain/index.py `sums_by_unit`, which reuses the report's
figures), puts in the external evaluations entered here, scores and ranks. A node whose
children send summaries only (the province) has no facts of theirs: it takes the sums each
city's summary carries for itself and for each of its counties (`summary_index`, computed
by the city from the same facts the city ranks with), so a county's figures — and with the
same weights its rank among the same counties — are the city's.

Levels: ``county`` — the child units (a city's counties; at a province, every county its
cities' summaries carry; at a county, itself); ``city`` — a province's cities; and
``department`` — the departments of this node's facts, kept apart per unit of origin (the
key "<origin>|<department>": the same name in two counties is two rows).

Weights: the node's `[index] weights` with the floors' index weights applied (topmost
issuer wins, node/domain/floors.py); `floors` is read at each ranking, so a new floor
applies at once.

External evaluations (基层评价、企业评价、第三方评价) are entered by a leader or an admin
(`ENTER_EVALUATION`) per unit, period and kind; a correction replaces the score, and the
old one is kept in the audit log, in the same transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from node.app.policy import ENTER_EVALUATION, VIEW_METRICS, Principal, require
from node.app.ports import Clock, IndexStore, StoredEvaluation
from node.domain.audit import AuditRecord
from node.domain.errors import ValidationError
from node.domain.index import (
    IndexFact,
    Sums,
    period_of_key,
    rank,
    summary_periods,
    sums_by_unit,
    sums_from_wire,
    validate_evaluation,
    weights_in_force,
)
from node.domain.reports import (
    RECURRENCE_WINDOW,
    Kind,
    Period,
    period_containing,
    received_index,
)
from node.domain.summary import Summary
from node.domain.topology import Place, ancestors_of
from node.domain.validation import validate_division_code

LEVELS = ("county", "city", "department")
MAX_UNIT_KEY = 60


class IndexService:
    def __init__(self, *, store: IndexStore, node: str, clock: Clock, place: Place,
                 min_sample: int, weights: Mapping[str, float] | None = None,
                 floors: Callable[[], Sequence[Mapping[str, float]]] | None = None,
                 summaries: Callable[[], Summary | None] | None = None,
                 names: Mapping[str, str] | None = None,
                 recurrence_window: timedelta = RECURRENCE_WINDOW,
                 summary_every: timedelta = timedelta(seconds=60)) -> None:
        self.store = store
        self.node = node
        self.clock = clock
        self.place = place
        self.min_sample = min_sample
        self.configured = dict(weights or {})
        weights_in_force(self.configured, ())  # refused at start when not valid
        self.floors = floors
        self.summaries = summaries
        self.names = dict(names or {})
        self.recurrence_window = recurrence_window
        self.summary_every = summary_every
        self._lock = threading.Lock()
        self._summary: tuple[datetime, dict[str, dict[str, dict[str, Any]]]] | None = None

    # ------------------------------------------------------------------ weights, units

    def weights(self) -> dict[str, float]:
        floors = self.floors() if self.floors is not None else ()
        return weights_in_force(self.configured, floors)

    def report_level(self) -> str:
        """The level a report of this node ranks: a province its cities, a city its
        counties, a county its departments."""
        if not self.place.children:
            return "department"
        return "county" if self.place.full_children else "city"

    def unit_of(self, origin: str) -> str:
        """The child unit an issue of `origin` counts for (this node for its own)."""
        if origin == self.node or origin in self.place.children:
            return origin
        return next((a for a in ancestors_of(origin) if a in self.place.children), origin)

    def _facts(self, earliest: datetime, now: datetime) -> list[IndexFact]:
        with self.store.read() as unit:
            return unit.index_facts(since=earliest, now=now, unit_of=self.unit_of)

    def _evaluations(self, periods: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """(period, unit) → kind → (score, source) of the evaluations entered here."""
        with self.store.read() as unit:
            found = unit.evaluations(periods)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for e in found:
            out.setdefault((e.period, e.unit), {})[e.kind] = (e.score, e.source)
        return out

    # ------------------------------------------------------------------ sums

    def _local(self, facts: Sequence[IndexFact], period: Period, level: str, now: datetime,
               received: Mapping[tuple[str, str], list[datetime]]) -> dict[str, Sums]:
        if level == "department":
            def key(f: Any) -> str:
                return f"{f.origin}|{f.department}" if f.department else ""
        else:
            def key(f: Any) -> str:
                return str(f.unit)
        table = sums_by_unit(facts, period, as_of=now, key=key,
                             window=self.recurrence_window, received=received)
        if level == "department":
            return {k: v for k, v in table.items() if isinstance(k, str) and k}
        if level == "city":
            return {}
        if not self.place.children:  # a county ranks itself
            return {self.node: table.get(None, Sums())}
        return {k: v for k, v in table.items() if k in self.place.children}

    def _from_summaries(self, period: Period, level: str) -> dict[str, Sums]:
        latest = self.summaries() if self.summaries is not None else None
        if latest is None or level == "department":
            return {}
        out: dict[str, Sums] = {}
        for code, child in latest.children.items():
            if level == "city":
                if period.key in child.index:
                    out[code] = sums_from_wire(child.index[period.key])
                continue
            for county, grandchild in child.children.items():
                if period.key in grandchild.index:
                    out[county] = sums_from_wire(grandchild.index[period.key])
        return out

    def _sums(self, periods: Sequence[Period], level: str, now: datetime
              ) -> list[dict[str, Sums]]:
        if self.place.full_children or not self.place.children:
            earliest = min(p.start for p in periods)
            facts = self._facts(earliest, now)
            received = received_index(f.fact for f in facts)
            tables = [self._local(facts, p, level, now, received) for p in periods]
        else:
            tables = [self._from_summaries(p, level) for p in periods]
        evaluations = self._evaluations([p.key for p in periods])
        out = []
        for p, table in zip(periods, tables, strict=True):
            out.append({u: s.with_evaluations(evaluations.get((p.key, u), {}))
                        for u, s in table.items()})
        return out

    # ------------------------------------------------------------------ reading

    def ranking(self, principal: Principal, *, period: str | None, level: str
                ) -> dict[str, Any]:
        """The ranking of `level` for `period` (None: the month running now), every figure
        explained (module docstring)."""
        require(principal, VIEW_METRICS)
        if level not in LEVELS:
            raise ValidationError("index_level_invalid", field="level", level=str(level)[:20])
        now = self.clock.now()
        p = period_of_key(period) if period else period_containing(Kind.MONTH, now)
        return self.table(p, level, now)

    def table(self, p: Period, level: str, now: datetime) -> dict[str, Any]:
        """The ranking of `level` for `p` as of `now`, no permission asked: what `ranking`
        answers and what a report carries (node/app/reports.py)."""
        current, previous = self._sums([p, p.previous()], level, now)
        weights = self.weights()
        rows = rank(current, previous, weights=weights, min_sample=self.min_sample)
        return {
            "node": self.node, "level": level, "period": p.key, "kind": p.kind.value,
            "previous_period": p.previous().key, "as_of": now.isoformat(),
            "min_sample": self.min_sample, "weights": weights,
            "rows": [dict(r.to_dict(), name=self._name(r.scored.unit)) for r in rows],
        }

    def _name(self, key: str) -> str:
        if "|" in key:
            origin, department = key.split("|", 1)
            return f"{self.names.get(origin, origin)} · {department}"
        return self.names.get(key, key)

    def summary_index(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What this node's summary carries: per unit (this node's code for the whole
        subtree, each child's code for its own) period key → sums (no personal data).
        Recomputed at most every `summary_every`."""
        now = self.clock.now()
        with self._lock:
            if self._summary is not None and now - self._summary[0] < self.summary_every:
                return self._summary[1]
        periods = summary_periods(now)
        facts = self._facts(min(p.start for p in periods), now)
        received = received_index(f.fact for f in facts)
        evaluations = self._evaluations([p.key for p in periods])
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for p in periods:
            table = sums_by_unit(facts, p, as_of=now, key=lambda f: f.unit,
                                 window=self.recurrence_window, received=received)
            for key, sums in table.items():
                unit = self.node if key is None else str(key)
                if unit != self.node and unit not in self.place.children:
                    continue
                scored = sums.with_evaluations(evaluations.get((p.key, unit), {}))
                out.setdefault(unit, {})[p.key] = scored.to_wire()
        with self._lock:
            self._summary = (now, out)
        return out

    def evaluations(self, principal: Principal, *, period: str) -> list[StoredEvaluation]:
        require(principal, VIEW_METRICS)
        p = period_of_key(period)
        with self.store.read() as unit:
            return unit.evaluations([p.key])

    # ------------------------------------------------------------------ writing

    def _check_unit(self, unit: Any) -> str:
        if not isinstance(unit, str) or not 0 < len(unit) <= MAX_UNIT_KEY:
            raise ValidationError("evaluation_invalid", field="unit", problem="no unit")
        code = unit.split("|", 1)[0].split(".", 1)[0]
        validate_division_code(code)
        if code not in self.place.subtree and self.node not in ancestors_of(code):
            raise ValidationError("evaluation_invalid", field="unit",
                                  problem="not a unit of this node's subtree")
        return unit

    def enter(self, principal: Principal, *, unit: str, period: str, kind: str,
              score: float, source: str) -> StoredEvaluation:
        """Keep an external evaluation; a correction replaces the score of the same unit,
        period and kind, the old one audited."""
        require(principal, ENTER_EVALUATION)
        unit = self._check_unit(unit)
        p = period_of_key(period)
        kind, value, src = validate_evaluation(kind, score, source)
        now = self.clock.now()
        new = StoredEvaluation(unit=unit, period=p.key, kind=kind, score=value, source=src,
                               entered_by=principal.username, entered_at=now)
        with self.store.write() as tx:
            old = tx.put_evaluation(new)
            detail: dict[str, Any] = {"period": p.key, "kind": kind, "score": value,
                                      "source": src}
            if old is not None:
                detail["replaced"] = {"score": old.score, "source": old.source,
                                      "entered_by": old.entered_by,
                                      "entered_at": old.entered_at.isoformat()}
            tx.audit(AuditRecord(
                at=now, actor=f"staff:{principal.username}",
                action="index.evaluation_corrected" if old else "index.evaluation_entered",
                target_kind="unit", target_id=unit, detail=detail))
        with self._lock:
            self._summary = None  # the summary carries it from the next computation
        return new
