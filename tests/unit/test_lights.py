"""The stored light instants (node/domain/lights.py) give exactly today's `light()`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.calendar import CST, WorkCalendar, YearCalendar
from node.domain.deadlines import Light, light
from node.domain.issue import Actor, ActorKind, State
from node.domain.lifecycle import Rules, deadline_runs, submit
from node.domain.lights import (
    ALWAYS,
    RUNNING_STATES,
    calendar_fingerprint,
    light_times,
    running_light_times,
)
from tests.support.data import submit_cmd

US = timedelta(microseconds=1)
CAL = WorkCalendar()
YEARS = (2025, 2026, 2027)  # 2027 is a fallback year unless configured


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    """Official data overridden (or extended) by random holidays and make-up days."""
    extra: dict[int, YearCalendar] = {}
    for year in draw(st.sets(st.sampled_from(YEARS))):
        days = draw(st.lists(st.integers(0, 364), max_size=60, unique=True))
        split = draw(st.integers(0, len(days)))
        as_dates = [date(year, 1, 1) + timedelta(days=d) for d in days]
        extra[year] = YearCalendar(year=year, holidays=frozenset(as_dates[:split]),
                                   workdays=frozenset(as_dates[split:]))
    return WorkCalendar(extra)


moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 10, 1),
                       timezones=st.just(UTC))
# offsets that often land on the boundaries: whole hours and days, and a few microseconds
offsets = st.one_of(
    st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=60)),
    st.integers(-5 * 24, 60 * 24).map(lambda h: timedelta(hours=h)),
    st.integers(-3, 3).map(lambda us: us * US),
)


@settings(max_examples=400, deadline=None)
@given(calendar=calendars(), due_calendar=calendars(), start=moments,
       n=st.integers(min_value=1, max_value=25), skew=offsets, now_offset=offsets,
       arbitrary_due=st.booleans())
def test_stored_instants_give_the_computed_light(
    calendar: WorkCalendar, due_calendar: WorkCalendar, start: datetime, n: int,
    skew: timedelta, now_offset: timedelta, arbitrary_due: bool,
) -> None:
    # a due as the lifecycle computes it (possibly under another configuration, as after a
    # calendar change), or any due at all (also before the start)
    due = (start + skew if arbitrary_due else due_calendar.add_working_days(start, n).due)
    times = light_times(start=start, due=due, calendar=calendar)
    for now in (start + now_offset, due + now_offset, times.yellow_at, times.yellow_at - US,
                times.red_at, times.red_at - US):
        if now < ALWAYS:
            continue
        assert times.at(now) is light(start=start, due=due, now=now, calendar=calendar), now


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), start=moments, n=st.integers(min_value=1, max_value=25))
def test_yellow_at_is_the_first_yellow_microsecond(
    calendar: WorkCalendar, start: datetime, n: int
) -> None:
    due = calendar.add_working_days(start, n).due
    times = light_times(start=start, due=due, calendar=calendar)
    assert start < times.yellow_at <= due < times.red_at == due + US
    assert light(start=start, due=due, now=times.yellow_at - US, calendar=calendar) is Light.GREEN
    assert light(start=start, due=due, now=times.yellow_at, calendar=calendar) is Light.YELLOW


def test_the_documented_example() -> None:
    # Monday 2025-03-03 09:00 CST, 3 working days: yellow at Wednesday 19:00 (58 h of 87 h)
    start = cst(2025, 3, 3, 9)
    times = light_times(start=start, due=CAL.add_working_days(start, 3).due, calendar=CAL)
    assert times.yellow_at == cst(2025, 3, 5, 19)
    assert times.red_at == cst(2025, 3, 7) + US


def test_through_a_holiday() -> None:
    # Spring Festival 2025: 15 h on Jan 27, then nothing until Feb 5
    start = cst(2025, 1, 27, 9)
    times = light_times(start=start, due=CAL.add_working_days(start, 3).due, calendar=CAL)
    assert times.yellow_at == cst(2025, 2, 6, 19)


def test_no_working_time_is_yellow_from_the_outset() -> None:
    start, due = cst(2025, 10, 2, 9), cst(2025, 10, 4)  # inside National Day
    times = light_times(start=start, due=due, calendar=CAL)
    assert times.yellow_at == ALWAYS
    assert times.at(start - timedelta(days=400)) is Light.YELLOW


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        light_times(start=datetime(2025, 3, 3), due=cst(2025, 3, 7), calendar=CAL)


def test_the_fingerprint_names_the_configuration() -> None:
    assert calendar_fingerprint(WorkCalendar()) == calendar_fingerprint(WorkCalendar({}))
    holiday = YearCalendar(year=2027, holidays=frozenset({date(2027, 2, 8)}),
                           workdays=frozenset())
    with_2027 = calendar_fingerprint(WorkCalendar({2027: holiday}))
    assert with_2027 == calendar_fingerprint(WorkCalendar({2027: holiday}))
    assert with_2027 != calendar_fingerprint(WorkCalendar())


def test_yellow_exactly_at_the_end_of_a_working_day() -> None:
    # 15 h left of Monday + 7.5 h of Tuesday: two thirds (15 h) are used at Monday 24:00
    start, due = cst(2025, 3, 3, 9), cst(2025, 3, 4, 7, 30)
    times = light_times(start=start, due=due, calendar=CAL)
    assert times.yellow_at == cst(2025, 3, 4)
    assert light(start=start, due=due, now=times.yellow_at - US, calendar=CAL) is Light.GREEN


def test_running_states_are_where_deadline_runs_says_a_deadline_runs() -> None:
    start = cst(2025, 3, 3, 9)
    issue, _ = submit(submit_cmd(), issue_id="330522-x", number="330522-2025-000001",
                      node="330522", actor=Actor(kind=ActorKind.STAFF, id="leader"),
                      now=start, rules=Rules(calendar=CAL))
    assert issue.deadline is not None
    for state in State:
        at_state = replace(issue, state=state)
        assert deadline_runs(at_state) is (state in RUNNING_STATES)
        assert (running_light_times(at_state, CAL) is not None) is (state in RUNNING_STATES)
        assert running_light_times(replace(at_state, deadline=None), CAL) is None
