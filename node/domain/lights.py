"""When a running deadline's traffic light changes: its yellow and red instants.

`light()` (node/domain/deadlines.py) answers "which light at `now`?" by measuring working
time on the calendar, so a store cannot filter or count by light in SQL with it. But the
light of one deadline only ever moves forward (GREEN → YELLOW → RED: the working time used
since the start grows with `now`), so it is described completely by two instants, computed
once when the deadline starts:

* `yellow_at` — the first instant at which `light()` is no longer GREEN: the moment the
  working time used since the start reaches YELLOW_FRACTION of the allowed working time
  (rounded up to the microsecond, since `light()` compares integer microseconds). A
  deadline with no working time at all is YELLOW from the outset; its `yellow_at` is
  ALWAYS, an instant before anything the system handles.
* `red_at` — the first instant at which it is RED: one microsecond after the due moment
  (RED is "strictly after due", and datetimes have microsecond resolution).

So `light(now)` is RED when `red_at <= now`, YELLOW when `yellow_at <= now < red_at`, GREEN
when `now < yellow_at` — exactly `light()` for every `now` from ALWAYS on (property test in
tests/unit/test_lights.py) — and those are range predicates on two indexed columns.

The instants depend on the calendar the node is configured with (holidays, make-up days);
`calendar_fingerprint` names that configuration, so that a store can recompute its
instants when it changes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from node.domain.calendar import CST, WorkCalendar
from node.domain.deadlines import YELLOW_FRACTION, Light
from node.domain.issue import OPEN_STATES, Issue, State
from node.domain.lifecycle import deadline_runs

__all__ = [
    "ALWAYS",
    "LIGHT_RULE",
    "RUNNING_STATES",
    "LightTimes",
    "calendar_fingerprint",
    "light_times",
    "running_light_times",
]

ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
"""`yellow_at` of a deadline without working time: earlier than any `now` the system sees
(and than any deadline it holds), yet an ordinary timestamp on every SQL backend."""

LIGHT_RULE = "lights-v1: yellow at ceil(2/3 of working time), red 1us after due"
"""Part of the fingerprint: a change of the rule above must recompute stored instants."""

RUNNING_STATES: frozenset[State] = OPEN_STATES
"""The states in which an issue's deadline runs (`deadline_runs`: an issue with a deadline in
one of these states), for a store that selects running rows without loading issues."""

_DAY = timedelta(days=1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class LightTimes:
    """The first YELLOW and the first RED instant of one deadline (aware, UTC)."""

    yellow_at: datetime
    red_at: datetime

    def at(self, now: datetime) -> Light:
        """The light at `now`: what `light()` computes, without the calendar."""
        if now >= self.red_at:
            return Light.RED
        if now >= self.yellow_at:
            return Light.YELLOW
        return Light.GREEN


def _micros(td: timedelta) -> int:
    return td // _US


def _local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=CST)


def _after_working_time(start: datetime, amount: timedelta, calendar: WorkCalendar) -> datetime:
    """The first instant t with `calendar.working_time_between(start, t) >= amount` (> 0).

    Working time accrues at wall-clock speed on working days and not at all on other days,
    so t lies on a working day: in `start`'s own day when that is a working day with enough
    time left, otherwise `remaining` into the following working days — the end of the q-th
    one when it is a whole number of days, else `r` into the (q+1)-th.
    """
    local = start.astimezone(CST)
    day = local.date()
    remaining = amount
    if calendar.is_workday(day):
        rest_of_day = _local_midnight(day + _DAY) - local
        if remaining <= rest_of_day:
            return (start + remaining).astimezone(UTC)
        remaining -= rest_of_day
    q, r = divmod(remaining, _DAY)
    if not r:
        return calendar.add_working_days(start, q).due
    # add_working_days ends at 24:00 of the day: that day began one day (24 h, no DST) earlier
    return calendar.add_working_days(start, q + 1).due - _DAY + r


def light_times(*, start: datetime, due: datetime, calendar: WorkCalendar) -> LightTimes:
    """The instants of a deadline that started at `start` and is due at `due` (aware)."""
    for name, value in (("start", start), ("due", due)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    red_at = (due + _US).astimezone(UTC)
    allowed, _ = calendar.working_time_between(start, due)
    if allowed <= timedelta(0):
        return LightTimes(yellow_at=ALWAYS, red_at=red_at)
    needed = math.ceil(Fraction(_micros(allowed)) * YELLOW_FRACTION)
    yellow_at = _after_working_time(start, timedelta(microseconds=needed), calendar)
    return LightTimes(yellow_at=yellow_at, red_at=red_at)


def running_light_times(issue: Issue, calendar: WorkCalendar) -> LightTimes | None:
    """The instants of the issue's running deadline; None when no deadline runs (the light
    of such an issue is None: `node.domain.lifecycle.current_light`)."""
    if issue.deadline is None or not deadline_runs(issue):
        return None
    return light_times(start=issue.deadline.start, due=issue.deadline.due, calendar=calendar)


def calendar_fingerprint(calendar: WorkCalendar) -> str:
    """A short name of everything the instants depend on: the working days of every year
    the calendar knows (official or configured; other years are Monday–Friday, the same
    for every configuration) and the light rule itself. Equal fingerprints, equal instants."""
    digest = hashlib.sha256(LIGHT_RULE.encode())
    for year in sorted(calendar.known_years()):
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        days = [o for o in range(first, last + 1) if calendar.is_workday(date.fromordinal(o))]
        digest.update(f"|{year}:".encode())
        digest.update(",".join(map(str, days)).encode())
    return digest.hexdigest()[:32]
