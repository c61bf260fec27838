"""Periodic reports (月报、季报、年报): their periods and their content, pure.

Periods are calendar months, quarters and years of China Standard Time, half-open
[start, end): a month key "2026-11", a quarter "2026-Q4", a year "2026". A report is due
for the previous *complete* period (`due_period(kind, now)`: on 1 December 00:00 CST the
November report, the Q3 report stays due until 1 January ends Q4 ...).

Content: `build(facts, ...)` folds one list of `ReportFact` (one per issue, no enterprise
data but the credit code, which only matches recurrences and never leaves this module) into
a `Report` — every figure is defined here once:

* flows of the period P: ``received`` = |received_at ∈ P|, ``resolved`` = |resolved_at ∈ P|
  (the last resolution), ``closed`` = |closed_at ∈ P|, ``escalated`` = received in P and now
  escalated (handed to another tier);
* rates (numerator/denominator kept, ``None`` when the denominator is 0), the same
  definitions as node/domain/metrics.py applied to the period:
  ``resolution`` (办结率) = of the issues received in P (escalated ones and confirmed
  rejections excluded) those resolved or closed at `as_of`;
  ``on_time`` (按时办结率) = of those resolved in P, by their resolve deadline (none: on time);
  ``satisfaction`` (满意率) = of those resolved in P and rated, satisfied or basically;
  ``repeat`` (重复诉求率) = of those resolved in P, reopened by an unsatisfied rating;
  ``recurrence`` (重发复发率) = of those closed in P (not by a rejection) with a credit code
  and a tag whose `window` has ended by `as_of` or that already recurred, the ones followed
  within the window by an issue of the same enterprise received after the close that shares
  a tag;
* the light mix at `as_of` of the issues received in P (done, green, yellow, red, none);
* ``overdue`` = issues open and red at `as_of`, whenever received (the running backlog);
* top-10 tags of the issues received in P;
* the 有感指数 ranking of P, computed by node/app/index.py and carried as it is (`index`).

Each figure exists for the whole node (``overall``), per child unit (the county of origin at
a city; issues of the node itself are its own row) and per department (kept apart per unit
of origin: the same name in two counties is two departments). Child units and departments
are ranked by on-time rate, then resolution rate, then code, and only with at least
`min_sample` resolutions in the period (the /metrics guard); the others are listed unranked.
A special report (专项报告, `Special`, kind "special") is the same for a chosen span of
days (at most a year) and, optionally, chosen tags and units: only the issues carrying one
of the tags and dispatched to or coming from one of the units count, in every figure; it is
compared with the as many days just before and the same days a year before. Its key is the
span, with a digest of the tags and units when some were chosen.

At a province, whose children send summaries only, the child rows come from their latest
summaries instead (`SummaryRow`, cumulative as of the summary) — nothing personal either way.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from node.domain.calendar import CST
from node.domain.errors import ValidationError
from node.domain.validation import validate_division_code

TOP_TAGS = 10
MIXES = ("done", "green", "yellow", "red", "none")
RATES = ("resolution", "on_time", "satisfaction", "repeat", "recurrence")
RECURRENCE_WINDOW = timedelta(days=90)
MAX_CHOSEN = 20  # tags, units of a special report
_SATISFIED = frozenset({"satisfied", "basically_satisfied"})
_DONE_STATES = frozenset({"resolved", "closed"})


class Kind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    SPECIAL = "special"  # 专项报告: a chosen span of days, tags and units (`Special`)


#: the periodic kinds, the ones the schedule makes
KINDS: tuple[Kind, ...] = (Kind.MONTH, Kind.QUARTER, Kind.YEAR)
_KEY = {Kind.MONTH: re.compile(r"^(\d{4})-(\d{2})$"),
        Kind.QUARTER: re.compile(r"^(\d{4})-Q([1-4])$"),
        Kind.YEAR: re.compile(r"^(\d{4})$")}


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Period:
    """One month, quarter or year: [start, end) in China Standard Time."""

    kind: Kind
    year: int
    index: int  # month 1–12, quarter 1–4, 1 for a year

    @property
    def key(self) -> str:
        if self.kind is Kind.MONTH:
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind is Kind.QUARTER:
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}"

    @property
    def first_month(self) -> int:
        return {Kind.MONTH: self.index, Kind.QUARTER: 3 * self.index - 2, Kind.YEAR: 1}[self.kind]

    @property
    def months(self) -> int:
        return {Kind.MONTH: 1, Kind.QUARTER: 3, Kind.YEAR: 12}[self.kind]

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.first_month, 1, tzinfo=CST)

    @property
    def end(self) -> datetime:
        m = self.first_month - 1 + self.months
        return datetime(self.year + m // 12, m % 12 + 1, 1, tzinfo=CST)

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def previous(self) -> Period:
        """The period just before (November → October, Q1 → Q4 of the year before)."""
        if self.kind is Kind.YEAR or self.index == 1:
            last = {Kind.MONTH: 12, Kind.QUARTER: 4, Kind.YEAR: 1}[self.kind]
            return Period(kind=self.kind, year=self.year - 1, index=last)
        return Period(kind=self.kind, year=self.year, index=self.index - 1)

    def year_before(self) -> Period:
        """The same period of the year before (同期)."""
        return Period(kind=self.kind, year=self.year - 1, index=self.index)

    def label_zh(self) -> str:
        if self.kind is Kind.MONTH:
            return f"{self.year}年{self.index}月"
        if self.kind is Kind.QUARTER:
            return f"{self.year}年第{'一二三四'[self.index - 1]}季度"
        return f"{self.year}年"


def period_containing(kind: Kind, at: datetime) -> Period:
    """The period of `kind` that contains the instant `at` (on China time)."""
    if at.tzinfo is None:
        raise ValidationError("now_naive", field="now", value=at.isoformat())
    day = at.astimezone(CST)
    index = {Kind.MONTH: day.month, Kind.QUARTER: (day.month - 1) // 3 + 1, Kind.YEAR: 1}[kind]
    return Period(kind=kind, year=day.year, index=index)


def due_period(kind: Kind, now: datetime) -> Period:
    """The last complete period of `kind` at `now`: the one a scheduled report is for."""
    return period_containing(kind, now).previous()


def parse_period(kind: str, key: str) -> Period:
    """A period from its kind ("month", "quarter", "year") and key ("2026-11", "2026-Q4",
    "2026"); anything else is `report_period_invalid`."""
    try:
        k = Kind(kind)
    except ValueError:
        raise ValidationError("report_period_invalid", field="kind", kind=str(kind)) from None
    if k is Kind.SPECIAL:
        return special_of_key(key)
    match = _KEY[k].match(key) if isinstance(key, str) else None
    if match is None:
        raise ValidationError("report_period_invalid", field="period", kind=k.value)
    year = int(match.group(1))
    index = int(match.group(2)) if k is not Kind.YEAR else 1
    if not 2000 <= year <= 2999 or (k is Kind.MONTH and not 1 <= index <= 12):
        raise ValidationError("report_period_invalid", field="period", kind=k.value)
    return Period(kind=k, year=year, index=index)


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Special(Period):
    """A special report's choice (专项报告): the days `first`–`last` (China time, both
    included, at most a year), and optionally tags and units — then only the issues carrying
    one of the tags, and dispatched to or coming from one of the units, count. Compared
    with the span of as many days just before and with the same days a year before."""

    first: date
    last: date
    tags: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # unit ids ("<code>.<slug>") or division codes

    @property
    def key(self) -> str:
        """"2026-01-01~2026-03-31", with "#" and 8 hex digits of the tags and units when
        some were chosen: a key per choice (a special report is kept once per choice)."""
        span = f"{self.first.isoformat()}~{self.last.isoformat()}"
        if not (self.tags or self.units):
            return span
        digest = hashlib.sha256(json.dumps([self.tags, self.units], ensure_ascii=False)
                                .encode()).hexdigest()
        return f"{span}#{digest[:8]}"

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=CST)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=(self.last - self.first).days + 1)

    @property
    def last_day(self) -> date:
        return self.last

    def _moved(self, first: date, last: date) -> Special:
        return Special(kind=Kind.SPECIAL, year=first.year, index=1, first=first, last=last,
                       tags=self.tags, units=self.units)

    def previous(self) -> Special:
        days = (self.last - self.first).days + 1
        return self._moved(self.first - timedelta(days=days), self.first - timedelta(days=1))

    def year_before(self) -> Special:
        return self._moved(_year_earlier(self.first), _year_earlier(self.last))

    def label_zh(self) -> str:
        f, t = self.first, self.last
        return f"{f.year}年{f.month}月{f.day}日至{t.year}年{t.month}月{t.day}日"

    def chooses(self, fact: ReportFact) -> bool:
        """Whether the issue counts in this special report."""
        if self.tags and not set(fact.tags) & set(self.tags):
            return False
        return not self.units or bool({fact.department, fact.origin, fact.unit}
                                      & set(self.units))

    def choice(self) -> dict[str, Any]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "tags": list(self.tags), "units": list(self.units)}


def _year_earlier(d: date) -> date:
    return d.replace(year=d.year - 1) if (d.month, d.day) != (2, 29) else \
        date(d.year - 1, 2, 28)


def _special_invalid(field_: str, problem: str) -> ValidationError:
    return ValidationError("report_special_invalid", field=field_, problem=problem)


def _day(value: Any, name: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _special_invalid(name, "a date YYYY-MM-DD is needed")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _special_invalid(name, "not a date") from None
    if not 2000 <= day.year <= 2999:
        raise _special_invalid(name, "not a date")
    return day


def _names(values: Any, name: str, longest: int) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list | tuple) or len(values) > MAX_CHOSEN:
        raise _special_invalid(name, f"at most {MAX_CHOSEN} values")
    out = []
    for v in values:
        if not isinstance(v, str) or not 0 < len(v.strip()) <= longest:
            raise _special_invalid(name, f"each value 1–{longest} characters")
        out.append(v.strip())
    return tuple(sorted(set(out)))


def special(first: Any, last: Any, *, tags: Any = None, units: Any = None) -> Special:
    """A special report's choice from what a leader sent, checked: dates YYYY-MM-DD,
    `first` ≤ `last`, at most a year (up to the day before the same date a year on), at
    most 20 tags and 20 units; each unit a unit id or a division code."""
    a, b = _day(first, "from"), _day(last, "to")
    if b < a:
        raise _special_invalid("to", "the end is before the start")
    a_year_on = date(a.year + 1, 3, 1) if (a.month, a.day) == (2, 29) else \
        a.replace(year=a.year + 1)
    if b >= a_year_on:
        raise _special_invalid("to", "at most a year")
    chosen_units = _names(units, "units", 60)
    for u in chosen_units:
        try:
            validate_division_code(u.split(".", 1)[0])
        except ValidationError:
            raise _special_invalid("units", "a unit id or a division code") from None
    return Special(kind=Kind.SPECIAL, year=a.year, index=1, first=a, last=b,
                   tags=_names(tags, "tags", 40), units=chosen_units)


def special_of_key(key: Any) -> Special:
    """The span of a special report's key (its tags and units are in its content)."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})~(\d{4}-\d{2}-\d{2})(#[0-9a-f]{8})?", key) \
        if isinstance(key, str) else None
    if match is None:
        raise _special_invalid("period", "not a special report's key")
    return special(match.group(1), match.group(2))


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportFact:
    """What a report needs of one issue. `origin` is the unit the issue came from,
    `unit` the child unit it counts for (the node's own code for its own issues)."""

    origin: str
    unit: str
    department: str | None
    state: str
    light: str  # at as_of: green | yellow | red | none
    tags: tuple[str, ...]
    received_at: datetime
    resolved_at: datetime | None
    resolve_due: datetime | None
    closed_at: datetime | None
    rating: str | None
    reopen_count: int
    rejected: bool
    credit_code: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    """The figures of a group of issues for one period (module docstring)."""

    received: int = 0
    resolved: int = 0
    closed: int = 0
    escalated: int = 0
    overdue: int = 0
    mix: Mapping[str, int] = field(default_factory=dict)
    sums: Mapping[str, int] = field(default_factory=dict)  # "<rate>_num" / "<rate>_den"
    handling_hours: float = 0.0  # sum over the issues resolved in the period

    def rate(self, name: str) -> float | None:
        den = self.sums.get(f"{name}_den", 0)
        return round(self.sums.get(f"{name}_num", 0) / den, 4) if den else None

    @property
    def avg_handling_hours(self) -> float | None:
        return round(self.handling_hours / self.resolved, 2) if self.resolved else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received, "resolved": self.resolved, "closed": self.closed,
            "escalated": self.escalated, "overdue": self.overdue,
            "mix": {m: self.mix.get(m, 0) for m in MIXES},
            "rates": {r: {"value": self.rate(r), "num": self.sums.get(f"{r}_num", 0),
                          "den": self.sums.get(f"{r}_den", 0)} for r in RATES},
            "avg_handling_hours": self.avg_handling_hours,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """A ranked child unit or department."""

    unit: str
    department: str | None
    figures: Figures
    rank: int | None  # None: fewer resolutions in the period than the minimum sample

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unit": self.unit, "rank": self.rank, **self.figures.to_dict()}
        if self.department is not None:
            out["department"] = self.department
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class SummaryRow:
    """A child unit seen through its latest summary (a province's children): cumulative
    figures as of `as_of`, rates as numerator/denominator."""

    unit: str
    as_of: datetime
    total: int
    open: int
    overdue: int
    sums: Mapping[str, int]
    top_tags: tuple[tuple[str, int], ...] = ()

    def rate(self, name: str) -> float | None:
        den = self.sums.get(f"{name}_den", 0)
        return round(self.sums.get(f"{name}_num", 0) / den, 4) if den else None

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "as_of": self.as_of.isoformat(), "total": self.total,
                "open": self.open, "overdue": self.overdue,
                "rates": {r: self.rate(r) for r in ("resolution", "on_time", "satisfaction",
                                                    "repeat")},
                "top_tags": [{"tag": t, "count": n} for t, n in self.top_tags]}


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """A report's content: what the PDF and the workbook show and the API returns."""

    node: str
    node_name: str
    period: Period
    as_of: datetime
    min_sample: int
    current: Figures
    previous: Figures  # the period before (环比)
    year_before: Figures  # the same period of the year before (同比)
    units: tuple[Row, ...]
    departments: tuple[Row, ...]
    summaries: tuple[SummaryRow, ...]  # child units known by summary only (a province)
    top_tags: tuple[tuple[str, int], ...]
    names: Mapping[str, str] = field(default_factory=dict)  # division code → name
    #: the 有感指数 ranking of the period as node/app/index.py answers it (GET
    #: /api/v1/index), None where the node has no index
    index: Mapping[str, Any] | None = None

    def name(self, code: str) -> str:
        """The unit's name; the node's own issues are its 本级 row."""
        name = self.names.get(code, code)
        return f"{name}（本级）" if code == self.node and (self.units or self.summaries) else name

    def to_dict(self) -> dict[str, Any]:
        p = self.period
        return {
            "node": self.node, "node_name": self.node_name, "kind": p.kind.value,
            "period": p.key, "start": p.start.isoformat(), "end": p.end.isoformat(),
            "previous_period": p.previous().key, "year_before_period": p.year_before().key,
            "as_of": self.as_of.isoformat(), "min_sample": self.min_sample,
            "current": self.current.to_dict(), "previous": self.previous.to_dict(),
            "year_before": self.year_before.to_dict(),
            "units": [dict(r.to_dict(), name=self.name(r.unit)) for r in self.units],
            "departments": [dict(r.to_dict(), name=self.name(r.unit)) for r in self.departments],
            "summaries": [dict(s.to_dict(), name=self.name(s.unit)) for s in self.summaries],
            "top_tags": [{"tag": t, "count": n} for t, n in self.top_tags],
            "index": dict(self.index) if self.index is not None else None,
            **({"special": p.choice()} if isinstance(p, Special) else {}),
        }


class _Acc:
    __slots__ = ("closed", "escalated", "handling", "mix", "overdue", "received", "resolved",
                 "sums")

    def __init__(self) -> None:
        self.received = self.resolved = self.closed = self.escalated = self.overdue = 0
        self.handling = 0.0
        self.mix: Counter[str] = Counter()
        self.sums: Counter[str] = Counter()

    def freeze(self) -> Figures:
        return Figures(received=self.received, resolved=self.resolved, closed=self.closed,
                       escalated=self.escalated, overdue=self.overdue, mix=dict(self.mix),
                       sums={k: v for k, v in self.sums.items()},
                       handling_hours=round(self.handling, 4))


def _inside(t: datetime | None, p: Period) -> bool:
    return t is not None and p.start <= t < p.end


def _recurred(f: ReportFact, received: Mapping[tuple[str, str], list[datetime]],
              window: timedelta) -> bool:
    assert f.closed_at is not None and f.credit_code
    end = f.closed_at + window
    for tag in dict.fromkeys(f.tags):
        times = received.get((f.credit_code, tag), [])
        k = bisect_right(times, f.closed_at)
        if k < len(times) and times[k] <= end:
            return True
    return False


def received_index(facts: Iterable[ReportFact]) -> dict[tuple[str, str], list[datetime]]:
    """(credit code, tag) → the times issues of that enterprise with that tag came in, in
    order: what a recurrence is looked up in."""
    received: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for f in facts:
        if f.credit_code:
            for tag in dict.fromkeys(f.tags):
                received[(f.credit_code, tag)].append(f.received_at)
    for times in received.values():
        times.sort()
    return received


def figures(facts: Sequence[ReportFact], period: Period, *, as_of: datetime,
            window: timedelta = RECURRENCE_WINDOW,
            keys: Sequence[Callable[[ReportFact], Any]] = (),
            received: Mapping[tuple[str, str], list[datetime]] | None = None
            ) -> list[dict[Any, Figures]]:
    """The figures of `period`: first of all the facts (keyed None), then per group of
    each of `keys` (`key(fact)` → group) — every definition of the module docstring, in
    one pass over the facts."""
    if received is None:
        received = received_index(facts)
    start, end = period.start, period.end
    tables: list[dict[Any, _Acc]] = [defaultdict(_Acc) for _ in range(len(keys) + 1)]
    for f in facts:
        came = start <= f.received_at < end
        done = f.resolved_at is not None and start <= f.resolved_at < end
        shut = f.closed_at is not None and start <= f.closed_at < end
        red = (f.light == "red" and f.state not in _DONE_STATES and f.state != "escalated"
               and not f.rejected)
        if not (came or done or shut or red):
            continue
        escalated = f.state == "escalated"
        finished = f.state in _DONE_STATES
        again: bool | None = None  # counted in the recurrence rate: recurred or not
        if shut and f.credit_code and f.tags and not f.rejected and f.state == "closed":
            assert f.closed_at is not None
            recurred = _recurred(f, received, window)
            if recurred or f.closed_at + window <= as_of:
                again = recurred
        accs = [tables[0][None]] + [t[k(f)] for t, k in zip(tables[1:], keys, strict=True)]
        for a in accs:
            s = a.sums
            a.overdue += red
            if came:
                a.received += 1
                a.mix["done" if finished else f.light if f.light in MIXES else "none"] += 1
                a.escalated += escalated
                if not (escalated or f.rejected):
                    s["resolution_den"] += 1
                    s["resolution_num"] += finished
            if done:
                assert f.resolved_at is not None
                a.resolved += 1
                a.handling += (f.resolved_at - f.received_at).total_seconds() / 3600.0
                s["on_time_den"] += 1
                s["on_time_num"] += f.resolve_due is None or f.resolved_at <= f.resolve_due
                s["repeat_den"] += 1
                s["repeat_num"] += f.reopen_count > 0
                if f.rating is not None:
                    s["satisfaction_den"] += 1
                    s["satisfaction_num"] += f.rating in _SATISFIED
            if shut:
                a.closed += 1
                if again is not None:
                    s["recurrence_den"] += 1
                    s["recurrence_num"] += again
    return [{k: v.freeze() for k, v in t.items()} for t in tables]


def _rank(groups: Mapping[tuple[str, str | None], Figures], min_sample: int) -> tuple[Row, ...]:
    def order(item: tuple[tuple[str, str | None], Figures]) -> tuple[int, float, float, str, str]:
        (unit, dept), f = item
        enough = f.resolved >= min_sample and f.rate("on_time") is not None
        return (0 if enough else 1, -(f.rate("on_time") or 0.0), -(f.rate("resolution") or 0.0),
                unit, dept or "")
    out: list[Row] = []
    place = 0
    for (unit, dept), f in sorted(groups.items(), key=order):
        enough = f.resolved >= min_sample and f.resolved > 0
        place += enough
        out.append(Row(unit=unit, department=dept, figures=f, rank=place if enough else None))
    return tuple(out)


def top_tags(facts: Iterable[ReportFact], period: Period, n: int = TOP_TAGS
             ) -> tuple[tuple[str, int], ...]:
    """The `n` tags carried by most issues received in the period (once per issue)."""
    counts: Counter[str] = Counter()
    for f in facts:
        if _inside(f.received_at, period):
            counts.update(tuple(dict.fromkeys(f.tags)))
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def build(facts: Sequence[ReportFact], *, node: str, node_name: str, period: Period,
          as_of: datetime, min_sample: int, names: Mapping[str, str] | None = None,
          summaries: Iterable[SummaryRow] = (),
          window: timedelta = RECURRENCE_WINDOW,
          index: Mapping[str, Any] | None = None) -> Report:
    """The report of `period` from the facts of every issue that can count in it, in the
    period before or in the same period a year before (module docstring)."""
    if as_of.tzinfo is None:
        raise ValidationError("now_naive", field="now", value=as_of.isoformat())
    if min_sample < 1:
        raise ValidationError("min_sample_invalid", field="min_sample", value=repr(min_sample))
    if isinstance(period, Special):  # only the chosen issues count, in every column
        facts = [f for f in facts if period.chooses(f)]
    received = received_index(facts)
    overall, units, depts = figures(
        facts, period, as_of=as_of, window=window, received=received,
        keys=(lambda f: (f.unit, None), lambda f: (f.origin, f.department or "")))
    depts = {k: v for k, v in depts.items() if k[1]}  # issues not dispatched: no department
    [previous] = figures(facts, period.previous(), as_of=as_of, window=window,
                         received=received)
    [year_before] = figures(facts, period.year_before(), as_of=as_of, window=window,
                            received=received)
    empty = Figures()
    return Report(
        node=node, node_name=node_name, period=period, as_of=as_of, min_sample=min_sample,
        current=overall.get(None, empty),
        previous=previous.get(None, empty),
        year_before=year_before.get(None, empty),
        units=_rank(units, min_sample) if len(units) > 1 else (),
        departments=_rank(depts, min_sample),
        summaries=tuple(sorted(summaries, key=lambda s: s.unit)),
        top_tags=top_tags(facts, period),
        names=dict(names or {}),
        index=index,
    )


def earliest_needed(period: Period) -> datetime:
    """The earliest instant a fact can matter from: the start of the same period a year
    before (the previous period starts later or at the same time)."""
    return min(period.year_before().start, period.previous().start)
