"""China's official working-day calendar and working-day arithmetic.

Deadlines for handling enterprise issues are set in working days (工作日), so the
system must know which days are official holidays and which weekend days are
make-up working days (调休上班). The State Council publishes each year's schedule
only late in the preceding year, so the knowledge has three layers, consulted per
calendar year in this order:

1. ``configured`` — a :class:`YearCalendar` supplied by operators (e.g. for 2027
   before the package is updated); it overrides the package for its year.
2. ``official`` — the ``chinese_calendar`` package (covers 2004–2026).
3. ``fallback`` — Monday to Friday. Never an exception: a deadline must always be
   computable, but every result that relied on a fallback year carries a visible
   warning so that the operator adds that year to the configuration.

Calendar days are taken in China Standard Time (fixed UTC+8; China has no daylight
saving time, so no tz database is needed). Datetimes at the boundaries are
timezone-aware and results are expressed in UTC; a naive datetime is a programming
error (``ValueError``).

Because deadline computation and traffic lights are on the hot path, each year is
compiled once into a sorted tuple of the ordinals of its working days; counting
working days in a span and finding the n-th working day are then binary searches
rather than day-by-day loops.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Literal

from chinese_calendar import constants as _cc

from node.domain.errors import ValidationError

__all__ = [
    "CST",
    "DayInfo",
    "DaySource",
    "Deadline",
    "WorkCalendar",
    "YearCalendar",
    "fallback_warning",
]

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time: UTC+8 all year round."""

DaySource = Literal["official", "configured", "fallback"]

_DAY = timedelta(days=1)

_OFFICIAL_HOLIDAYS: frozenset[date] = frozenset(_cc.holidays)
_OFFICIAL_WORKDAYS: frozenset[date] = frozenset(_cc.workdays)
# Same coverage rule as the package itself: every year between the first and the
# last year that has an entry in its holiday table.
_OFFICIAL_YEARS: frozenset[int] = frozenset(
    range(min(_OFFICIAL_HOLIDAYS).year, max(_OFFICIAL_HOLIDAYS).year + 1)
)


def fallback_warning(year: int) -> str:
    """The warning attached to results that counted `year` as plain Monday–Friday."""
    return f"calendar for {year} unknown: counted Monday–Friday; add its holidays to configuration"


@dataclass(frozen=True, kw_only=True, slots=True)
class YearCalendar:
    """One year's official schedule, supplied by configuration.

    `holidays` are days off (including any weekend days inside a holiday period);
    `workdays` are make-up working days, i.e. weekend days that are worked. Every
    other day follows Monday–Friday.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        if not date.min.year <= self.year <= date.max.year:
            raise ValidationError("year_out_of_range", field="year", year=self.year)
        for name, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            wrong = sorted(d for d in days if d.year != self.year)
            if wrong:
                raise ValidationError("calendar_foreign_date", field=name, year=self.year,
                                      dates=[d.isoformat() for d in wrong],
                                      date=wrong[0].isoformat())
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValidationError("calendar_date_both", field="workdays", year=self.year,
                                  dates=[d.isoformat() for d in both], date=both[0].isoformat())


@dataclass(frozen=True, kw_only=True, slots=True)
class DayInfo:
    """Whether a day is worked, and which layer of knowledge said so."""

    workday: bool
    source: DaySource


@dataclass(frozen=True, kw_only=True, slots=True)
class Deadline:
    """A due moment (aware, UTC) plus warnings about fallback years it relied on."""

    due: datetime
    warnings: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class _YearTable:
    """A year compiled for fast lookups: sorted ordinals of its working days."""

    source: DaySource
    workdays: tuple[int, ...]
    workday_set: frozenset[int]


def _compile(
    year: int, source: DaySource, holidays: frozenset[date], workdays: frozenset[date]
) -> _YearTable:
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    days: list[int] = []
    for ordinal in range(first, last + 1):
        d = date.fromordinal(ordinal)
        if d in workdays or (d.weekday() < 5 and d not in holidays):
            days.append(ordinal)
    return _YearTable(source=source, workdays=tuple(days), workday_set=frozenset(days))


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def _local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=CST)


class WorkCalendar:
    """Working-day arithmetic over the official, configured and fallback calendars.

    Immutable after construction; per-year tables are compiled lazily and cached
    (a benign race at worst compiles a year twice).
    """

    __slots__ = ("_extra", "_tables")

    def __init__(self, extra_years: Mapping[int, YearCalendar] | None = None) -> None:
        extra = dict(extra_years or {})
        for key, cal in extra.items():
            if key != cal.year:
                raise ValidationError("calendar_year_mismatch", field="extra_years", key=key,
                                      year=cal.year)
        self._extra: Mapping[int, YearCalendar] = MappingProxyType(extra)
        self._tables: dict[int, _YearTable] = {}

    # -- per-day queries ---------------------------------------------------------

    def known_years(self) -> frozenset[int]:
        """Years with real knowledge (official or configured); others fall back."""
        return _OFFICIAL_YEARS | frozenset(self._extra)

    def day_info(self, d: date) -> DayInfo:
        table = self._table(d.year)
        return DayInfo(workday=d.toordinal() in table.workday_set, source=table.source)

    def is_workday(self, d: date) -> bool:
        return d.toordinal() in self._table(d.year).workday_set

    # -- arithmetic --------------------------------------------------------------

    def add_working_days(self, start: datetime, n: int) -> Deadline:
        """The end (24:00 CST) of the n-th working day after `start`'s local day.

        The day of `start` itself is never counted (受理之日不计入), whatever the
        time of day and whether or not it is a working day. `n` must be >= 1.
        """
        _require_aware("start", start)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        after = start.astimezone(CST).date().toordinal()  # this day is NOT counted
        year = date.fromordinal(after + 1).year  # year of the first candidate day
        remaining = n
        warnings: list[str] = []
        while True:
            table = self._table(year)
            if table.source == "fallback":
                warnings.append(fallback_warning(year))
            idx = bisect_right(table.workdays, after)
            available = len(table.workdays) - idx
            if remaining <= available:
                due_day = date.fromordinal(table.workdays[idx + remaining - 1])
                break
            remaining -= available
            year += 1
        due = _local_midnight(due_day + _DAY).astimezone(UTC)
        return Deadline(due=due, warnings=tuple(warnings))

    def working_time_between(self, a: datetime, b: datetime) -> tuple[timedelta, tuple[str, ...]]:
        """Exact working time within [a, b): the parts of it lying on working days.

        Returns a zero timedelta when b <= a. Warnings name each fallback year whose
        days (with a non-empty overlap) were consulted.
        """
        _require_aware("a", a)
        _require_aware("b", b)
        if b <= a:
            return timedelta(0), ()
        la = a.astimezone(CST)
        lb = b.astimezone(CST)
        first = la.date()
        # The last local day with a non-empty overlap with [a, b).
        last = lb.date() if lb.time() != time(0) else lb.date() - _DAY
        if first == last:
            total = b - a if self.is_workday(first) else timedelta(0)
            return total, self._fallback_warnings(first.year, first.year)

        total = timedelta(0)
        if self.is_workday(first):
            total += _local_midnight(first + _DAY) - la
        if self.is_workday(last):
            total += lb - _local_midnight(last)
        # Whole days strictly between first and last.
        full_days = self._count_workdays(first.toordinal() + 1, last.toordinal())
        total += full_days * _DAY
        return total, self._fallback_warnings(first.year, last.year)

    def working_seconds_between(self, a: datetime, b: datetime) -> tuple[float, tuple[str, ...]]:
        """Like :meth:`working_time_between`, in seconds."""
        total, warnings = self.working_time_between(a, b)
        return total.total_seconds(), warnings

    # -- internals ---------------------------------------------------------------

    def _count_workdays(self, lo: int, hi: int) -> int:
        """Number of working days with ordinal in [lo, hi)."""
        if hi <= lo:
            return 0
        count = 0
        for year in range(date.fromordinal(lo).year, date.fromordinal(hi - 1).year + 1):
            days = self._table(year).workdays
            count += bisect_left(days, hi) - bisect_left(days, lo)
        return count

    def _fallback_warnings(self, first_year: int, last_year: int) -> tuple[str, ...]:
        return tuple(
            fallback_warning(year)
            for year in range(first_year, last_year + 1)
            if self._table(year).source == "fallback"
        )

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            table = self._build(year)
            self._tables[year] = table
        return table

    def _build(self, year: int) -> _YearTable:
        configured = self._extra.get(year)
        if configured is not None:
            return _compile(year, "configured", configured.holidays, configured.workdays)
        if year in _OFFICIAL_YEARS:
            return _compile(year, "official", _OFFICIAL_HOLIDAYS, _OFFICIAL_WORKDAYS)
        return _compile(year, "fallback", frozenset(), frozenset())
