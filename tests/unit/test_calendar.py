"""Working-day calendar: real 2025–2026 schedules, fallback years, properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from chinese_calendar import constants
from hypothesis import given
from hypothesis import strategies as st

from node.domain.calendar import (
    CST,
    DayInfo,
    WorkCalendar,
    YearCalendar,
    fallback_warning,
)
from node.domain.errors import ValidationError
from node.i18n import error_message

CAL = WorkCalendar({})

HOUR = 3600.0
DAY = 86400.0


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """An aware UTC datetime for a wall-clock time in China."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=CST).astimezone(UTC)


def end_of(y: int, m: int, d: int) -> datetime:
    """24:00 CST of the given day, in UTC."""
    return cst(y, m, d) + timedelta(days=1)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# -- the package data the tests rely on -------------------------------------------


@pytest.mark.parametrize(
    ("holidays", "makeups"),
    [
        # Spring Festival 2025
        (days(date(2025, 1, 28), date(2025, 2, 4)), [date(2025, 1, 26), date(2025, 2, 8)]),
        # National Day + Mid-autumn 2025
        (days(date(2025, 10, 1), date(2025, 10, 8)), [date(2025, 9, 28), date(2025, 10, 11)]),
        # Spring Festival 2026
        (days(date(2026, 2, 15), date(2026, 2, 23)), [date(2026, 2, 14), date(2026, 2, 28)]),
        # National Day 2026
        (days(date(2026, 10, 1), date(2026, 10, 7)), [date(2026, 9, 20), date(2026, 10, 10)]),
    ],
)
def test_package_data_matches_published_schedule(holidays: list[date], makeups: list[date]) -> None:
    for d in holidays:
        assert d in constants.holidays
        assert CAL.day_info(d) == DayInfo(workday=False, source="official")
    for d in makeups:
        assert d in constants.workdays
        assert d.weekday() >= 5  # a weekend day that is worked
        assert CAL.day_info(d) == DayInfo(workday=True, source="official")


def test_ordinary_days() -> None:
    assert CAL.is_workday(date(2025, 3, 3))  # Monday
    assert not CAL.is_workday(date(2025, 3, 8))  # Saturday
    assert not CAL.is_workday(date(2025, 3, 9))  # Sunday
    assert not CAL.is_workday(date(2026, 1, 1))  # New Year's Day
    assert CAL.is_workday(date(2026, 1, 4))  # Sunday make-up workday


def test_known_years_and_fallback_source() -> None:
    assert set(range(2004, 2027)) <= CAL.known_years()
    assert 2027 not in CAL.known_years()
    assert CAL.day_info(date(2027, 1, 1)) == DayInfo(workday=True, source="fallback")
    assert CAL.day_info(date(2003, 3, 1)) == DayInfo(workday=False, source="fallback")


# -- add_working_days --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        # Received Monday just before Spring Festival 2025 (holiday Jan 28 – Feb 4).
        (cst(2025, 1, 27, 10), 1, end_of(2025, 2, 5)),
        (cst(2025, 1, 27, 10), 3, end_of(2025, 2, 7)),
        # ...the 4th working day is the make-up Saturday Feb 8.
        (cst(2025, 1, 27, 10), 4, end_of(2025, 2, 8)),
        (cst(2025, 1, 27, 10), 5, end_of(2025, 2, 10)),
        # Received on Saturday Jan 25: the make-up Sunday Jan 26 counts.
        (cst(2025, 1, 25, 9), 1, end_of(2025, 1, 26)),
        # Received on a holiday: the holiday day itself is not counted anyway.
        (cst(2025, 1, 30, 9), 1, end_of(2025, 2, 5)),
        # National Day 2025: Oct 1–8 off, Saturday Oct 11 worked.
        (cst(2025, 9, 30, 15), 1, end_of(2025, 10, 9)),
        (cst(2025, 9, 30, 15), 3, end_of(2025, 10, 11)),
        # Sunday Sep 28 2025 is a make-up workday.
        (cst(2025, 9, 26, 17), 1, end_of(2025, 9, 28)),
        # Spring Festival 2026: Saturday Feb 14 worked, Feb 15–23 off.
        (cst(2026, 2, 13, 11), 1, end_of(2026, 2, 14)),
        (cst(2026, 2, 13, 11), 2, end_of(2026, 2, 24)),
        # Saturday Feb 28 2026 is a make-up workday.
        (cst(2026, 2, 26, 8), 2, end_of(2026, 2, 28)),
        # National Day 2026: Sunday Sep 20 worked, Sep 25–27 and Oct 1–7 off.
        (cst(2026, 9, 18, 16), 1, end_of(2026, 9, 20)),
        (cst(2026, 9, 24, 16), 1, end_of(2026, 9, 28)),
        (cst(2026, 9, 30, 16), 1, end_of(2026, 10, 8)),
        (cst(2026, 9, 30, 16), 3, end_of(2026, 10, 10)),
        # An ordinary week: 15 working days from a Monday = three weeks.
        (cst(2025, 3, 3, 9), 15, end_of(2025, 3, 24)),
    ],
)
def test_add_working_days_real_holidays(start: datetime, n: int, due: datetime) -> None:
    result = CAL.add_working_days(start, n)
    assert result.due == due
    assert result.due.tzinfo is UTC
    assert result.warnings == ()


def test_start_day_is_taken_in_china_time() -> None:
    # 2025-01-26 15:59 UTC is Sunday Jan 26 23:59 in China (a make-up workday, not
    # counted because it is the day of receipt): the first counted day is Jan 27.
    late_sunday = datetime(2025, 1, 26, 15, 59, tzinfo=UTC)
    assert CAL.add_working_days(late_sunday, 1).due == end_of(2025, 1, 27)
    # One minute later it is already Monday Jan 27 in China.
    monday = datetime(2025, 1, 26, 16, 0, tzinfo=UTC)
    assert CAL.add_working_days(monday, 1).due == end_of(2025, 2, 5)


def test_due_is_midnight_china_time() -> None:
    due = CAL.add_working_days(cst(2025, 3, 3, 9), 1).due
    assert due == datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    assert due.astimezone(CST).time().isoformat() == "00:00:00"


def test_add_working_days_accepts_other_aware_timezones() -> None:
    start = cst(2025, 3, 3, 9).astimezone(CST)
    assert CAL.add_working_days(start, 1).due == end_of(2025, 3, 4)


@pytest.mark.parametrize("n", [0, -1])
def test_add_working_days_rejects_non_positive_n(n: int) -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(cst(2025, 3, 3), n)


def test_naive_datetimes_are_programming_errors() -> None:
    naive = datetime(2025, 3, 3, 9)
    with pytest.raises(ValueError):
        CAL.add_working_days(naive, 1)
    with pytest.raises(ValueError):
        CAL.working_seconds_between(naive, cst(2025, 3, 4))
    with pytest.raises(ValueError):
        CAL.working_seconds_between(cst(2025, 3, 4), naive)


# -- unknown and configured years --------------------------------------------------

WARN_2027 = fallback_warning(2027)


def test_fallback_warning_text() -> None:
    assert WARN_2027 == (
        "calendar for 2027 unknown: counted Monday–Friday; add its holidays to configuration"
    )


def test_december_2026_into_unknown_2027_falls_back_with_warning() -> None:
    # Thursday Dec 31 2026: Friday Jan 1 2027 counts as a workday in the fallback.
    result = CAL.add_working_days(cst(2026, 12, 31, 10), 2)
    assert result.due == end_of(2027, 1, 4)
    assert result.warnings == (WARN_2027,)


def test_december_2026_deadline_not_reaching_2027_has_no_warning() -> None:
    result = CAL.add_working_days(cst(2026, 12, 30, 10), 1)
    assert result.due == end_of(2026, 12, 31)
    assert result.warnings == ()


def test_warning_is_not_repeated_for_long_spans() -> None:
    result = CAL.add_working_days(cst(2026, 12, 31, 10), 200)
    assert result.warnings == (WARN_2027,)
    result = CAL.add_working_days(cst(2026, 12, 31, 10), 365)
    assert result.warnings == (WARN_2027, fallback_warning(2028))


def test_configured_2027_is_honoured_without_warning() -> None:
    cal_2027 = YearCalendar(
        year=2027,
        holidays=frozenset({date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)}),
        workdays=frozenset(),
    )
    cal = WorkCalendar({2027: cal_2027})
    assert 2027 in cal.known_years()
    assert cal.day_info(date(2027, 1, 1)) == DayInfo(workday=False, source="configured")
    assert cal.day_info(date(2027, 1, 4)) == DayInfo(workday=True, source="configured")
    result = cal.add_working_days(cst(2026, 12, 31, 10), 2)
    assert result.due == end_of(2027, 1, 5)
    assert result.warnings == ()
    seconds, warnings = cal.working_seconds_between(cst(2026, 12, 31), cst(2027, 1, 6))
    assert seconds == 3 * DAY  # Dec 31, Jan 4, Jan 5
    assert warnings == ()


def test_configured_make_up_workday() -> None:
    cal = WorkCalendar(
        {
            2027: YearCalendar(
                year=2027, holidays=frozenset(), workdays=frozenset({date(2027, 1, 9)})
            )
        }
    )
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday
    assert cal.add_working_days(cst(2027, 1, 8, 12), 1).due == end_of(2027, 1, 9)


def test_configured_year_overrides_package() -> None:
    cal = WorkCalendar({2025: YearCalendar(year=2025, holidays=frozenset(), workdays=frozenset())})
    assert cal.day_info(date(2025, 1, 28)) == DayInfo(workday=True, source="configured")
    assert cal.day_info(date(2025, 1, 26)) == DayInfo(workday=False, source="configured")
    assert CAL.is_workday(date(2025, 1, 26))  # the default calendar is unaffected


def test_year_calendar_rejects_dates_of_other_years() -> None:
    with pytest.raises(ValidationError) as exc:
        YearCalendar(year=2027, holidays=frozenset({date(2026, 12, 31)}), workdays=frozenset())
    assert exc.value.field == "holidays"
    with pytest.raises(ValidationError) as exc:
        YearCalendar(year=2027, holidays=frozenset(), workdays=frozenset({date(2028, 1, 1)}))
    assert exc.value.field == "workdays"


def test_year_calendar_rejects_date_in_both_sets() -> None:
    d = date(2027, 2, 6)
    with pytest.raises(ValidationError) as exc:
        YearCalendar(year=2027, holidays=frozenset({d}), workdays=frozenset({d}))
    assert "2027-02-06" in error_message(exc.value, "en")
    assert "2027-02-06" in error_message(exc.value, "zh-CN")


def test_work_calendar_rejects_mismatched_key() -> None:
    cal_2027 = YearCalendar(year=2027, holidays=frozenset(), workdays=frozenset())
    with pytest.raises(ValidationError):
        WorkCalendar({2028: cal_2027})


# -- working_seconds_between -------------------------------------------------------


def test_seconds_within_one_working_day() -> None:
    seconds, warnings = CAL.working_seconds_between(cst(2025, 3, 3, 9), cst(2025, 3, 3, 17))
    assert seconds == 8 * HOUR
    assert warnings == ()


def test_seconds_empty_or_reversed_span() -> None:
    assert CAL.working_seconds_between(cst(2025, 3, 3, 9), cst(2025, 3, 3, 9)) == (0.0, ())
    assert CAL.working_seconds_between(cst(2025, 3, 4), cst(2025, 3, 3)) == (0.0, ())


def test_seconds_over_a_weekend_and_holiday() -> None:
    # Friday 12:00 → Monday 12:00: half of Friday plus half of Monday.
    seconds, _ = CAL.working_seconds_between(cst(2025, 3, 7, 12), cst(2025, 3, 10, 12))
    assert seconds == DAY
    # The whole Spring Festival 2025 holiday contributes nothing.
    seconds, _ = CAL.working_seconds_between(cst(2025, 1, 28), cst(2025, 2, 5))
    assert seconds == 0.0
    # Sunday Jan 26 2025 (make-up) counts in full.
    seconds, _ = CAL.working_seconds_between(cst(2025, 1, 25), cst(2025, 1, 28))
    assert seconds == 2 * DAY


def test_seconds_over_months() -> None:
    # All of 2025: 261 weekdays - 18 weekday holidays + 5 make-up days = 248.
    expected = sum(CAL.is_workday(d) for d in days(date(2025, 1, 1), date(2025, 12, 31)))
    assert expected == 248
    seconds, warnings = CAL.working_seconds_between(cst(2025, 1, 1), cst(2026, 1, 1))
    assert seconds == expected * DAY
    assert warnings == ()


def test_seconds_into_unknown_year_warn_only_when_touched() -> None:
    _, warnings = CAL.working_seconds_between(cst(2026, 12, 30), cst(2027, 1, 1))
    assert warnings == ()
    seconds, warnings = CAL.working_seconds_between(cst(2026, 12, 31), cst(2027, 1, 1, 6))
    assert seconds == DAY + 6 * HOUR
    assert warnings == (WARN_2027,)


# -- properties --------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2027, 6, 30),
    timezones=st.just(UTC),
)


@given(start=moments, n=st.integers(min_value=1, max_value=40))
def test_due_is_after_start_and_at_midnight_cst(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n).due
    assert due > start
    assert due.tzinfo is UTC
    local = due.astimezone(CST)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    # The last day before the due moment is a working day.
    assert CAL.is_workday(local.date() - timedelta(days=1))


@given(start=moments, n=st.integers(min_value=1, max_value=40))
def test_one_more_working_day_is_later(start: datetime, n: int) -> None:
    assert CAL.add_working_days(start, n + 1).due > CAL.add_working_days(start, n).due


@given(start=moments, n=st.integers(min_value=1, max_value=40))
def test_working_time_up_to_due(start: datetime, n: int) -> None:
    # [start, due) covers the rest of the day of receipt plus exactly n working days.
    due = CAL.add_working_days(start, n).due
    local = start.astimezone(CST)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=CST)
    rest_of_day = next_midnight - local if CAL.is_workday(local.date()) else timedelta(0)
    total, _ = CAL.working_time_between(start, due)
    assert total == n * timedelta(days=1) + rest_of_day


@given(a=moments, b=moments, c=moments)
def test_working_time_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    ab, _ = CAL.working_time_between(a, b)
    bc, _ = CAL.working_time_between(b, c)
    ac, _ = CAL.working_time_between(a, c)
    assert ab + bc == ac
    assert timedelta(0) <= ac <= c - a
    s_ab, _ = CAL.working_seconds_between(a, b)
    s_bc, _ = CAL.working_seconds_between(b, c)
    s_ac, _ = CAL.working_seconds_between(a, c)
    assert s_ab + s_bc == pytest.approx(s_ac, abs=1e-6)
