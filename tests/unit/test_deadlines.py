"""Deadline policy resolution and traffic lights at their exact boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.domain.calendar import CST, WorkCalendar
from node.domain.deadlines import (
    YELLOW_FRACTION,
    DeadlinePolicy,
    Light,
    ResolvedDeadlines,
    TagDeadlines,
    light,
)
from node.domain.errors import ValidationError
from node.i18n import error_message

CAL = WorkCalendar({})
US = timedelta(microseconds=1)


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST).astimezone(UTC)


# -- policy ------------------------------------------------------------------------


def test_default_policy() -> None:
    policy = DeadlinePolicy()
    assert policy.for_tags([]) == ResolvedDeadlines(dispatch=2, resolve=15, review=2)
    assert policy.for_tags(["unknown"]) == ResolvedDeadlines(dispatch=2, resolve=15, review=2)


def test_strictest_override_wins_per_stage() -> None:
    policy = DeadlinePolicy(
        per_tag={
            "融资": TagDeadlines(resolve_working_days=10, review_working_days=3),
            "用地": TagDeadlines(resolve_working_days=5),
            "紧急": TagDeadlines(dispatch_working_days=1),
        }
    )
    assert policy.for_tags(["融资"]) == ResolvedDeadlines(dispatch=2, resolve=10, review=3)
    assert policy.for_tags(["融资", "用地"]) == ResolvedDeadlines(dispatch=2, resolve=5, review=3)
    assert policy.for_tags(("用地", "紧急", "用地")) == ResolvedDeadlines(
        dispatch=1, resolve=5, review=2
    )


def test_override_may_be_more_lenient_than_default() -> None:
    policy = DeadlinePolicy(per_tag={"跨部门": TagDeadlines(resolve_working_days=30)})
    assert policy.for_tags(["跨部门"]).resolve == 30
    assert policy.for_tags(iter(["跨部门", "other"])).resolve == 30


def test_policy_is_insulated_from_caller_mutation() -> None:
    tags: dict[str, TagDeadlines] = {"a": TagDeadlines(resolve_working_days=3)}
    policy = DeadlinePolicy(per_tag=tags)
    tags["a"] = TagDeadlines(resolve_working_days=1)
    assert policy.for_tags(["a"]).resolve == 3


@pytest.mark.parametrize("value", [1, 365])
def test_limits_accept_bounds(value: int) -> None:
    DeadlinePolicy(resolve_working_days=value)
    TagDeadlines(review_working_days=value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dispatch_working_days": 0}, "dispatch_working_days"),
        ({"resolve_working_days": 366}, "resolve_working_days"),
        ({"review_working_days": -2}, "review_working_days"),
        ({"resolve_working_days": True}, "resolve_working_days"),
        ({"resolve_working_days": 1.5}, "resolve_working_days"),
    ],
)
def test_policy_rejects_out_of_range(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DeadlinePolicy(**kwargs)
    assert exc.value.field == field
    assert error_message(exc.value, "zh-CN") and error_message(exc.value, "en")


def test_tag_overrides_are_validated_with_a_path() -> None:
    with pytest.raises(ValidationError) as exc:
        TagDeadlines(resolve_working_days=0)
    assert exc.value.field == "resolve_working_days"
    with pytest.raises(ValidationError) as exc:
        DeadlinePolicy(per_tag={"": TagDeadlines()})
    assert exc.value.field == "per_tag"
    with pytest.raises(ValidationError) as exc:
        DeadlinePolicy(per_tag={"x": {"resolve_working_days": 3}})  # type: ignore[dict-item]
    assert exc.value.field == "per_tag.x"


# -- lights ------------------------------------------------------------------------


def test_yellow_fraction() -> None:
    assert Fraction(2, 3) == YELLOW_FRACTION
    assert [x.value for x in Light] == ["green", "yellow", "red"]


# Monday 2025-03-03 09:00 CST, 3 working days → due Friday Mar 7 00:00 CST.
# Allowed working time: 15 h of Monday + 72 h = 87 h; two thirds = 58 h, reached
# 15 h (Mon) + 24 h (Tue) + 19 h into Wednesday = Wed Mar 5 19:00 CST.
START = cst(2025, 3, 3, 9)
DUE = CAL.add_working_days(START, 3).due
TWO_THIRDS = cst(2025, 3, 5, 19)


def at(now: datetime) -> Light:
    return light(start=START, due=DUE, now=now, calendar=CAL)


def test_due_of_the_fixture() -> None:
    assert cst(2025, 3, 7) == DUE


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - timedelta(days=1), Light.GREEN),  # clock skew: before start
        (START, Light.GREEN),
        (TWO_THIRDS - US, Light.GREEN),
        (TWO_THIRDS, Light.YELLOW),
        (DUE - US, Light.YELLOW),
        (DUE, Light.YELLOW),
        (DUE + US, Light.RED),
        (DUE + timedelta(days=30), Light.RED),
    ],
)
def test_light_boundaries(now: datetime, expected: Light) -> None:
    assert at(now) is expected


def test_light_does_not_advance_during_a_holiday() -> None:
    # Monday Jan 27 2025 09:00 CST, 3 working days → Feb 5, 6, 7 → due Feb 8 00:00.
    start = cst(2025, 1, 27, 9)
    due = CAL.add_working_days(start, 3).due
    assert due == cst(2025, 2, 8)
    # Deep into the Spring Festival holiday nothing has been used beyond Jan 27.
    assert light(start=start, due=due, now=cst(2025, 2, 4, 23), calendar=CAL) is Light.GREEN
    # 58 h of 87 h: 15 h (Jan 27) + 24 h (Feb 5) + 19 h (Feb 6).
    edge = cst(2025, 2, 6, 19)
    assert light(start=start, due=due, now=edge - US, calendar=CAL) is Light.GREEN
    assert light(start=start, due=due, now=edge, calendar=CAL) is Light.YELLOW


def test_light_with_zero_allowed_working_time() -> None:
    # Start and due both inside the National Day 2025 holiday.
    start, due = cst(2025, 10, 2, 9), cst(2025, 10, 4)
    assert light(start=start, due=due, now=start, calendar=CAL) is Light.YELLOW
    assert light(start=start, due=due, now=due, calendar=CAL) is Light.YELLOW
    assert light(start=start, due=due, now=due + US, calendar=CAL) is Light.RED


def test_light_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        light(start=START, due=DUE, now=datetime(2025, 3, 4), calendar=CAL)
    with pytest.raises(ValueError):
        light(start=datetime(2025, 3, 3), due=DUE, now=START, calendar=CAL)


moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 12, 1),
    timezones=st.just(UTC),
)


@given(
    start=moments,
    n=st.integers(min_value=1, max_value=20),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)
def test_light_is_monotonic(start: datetime, n: int, offset: timedelta) -> None:
    due = CAL.add_working_days(start, n).due
    order = [Light.GREEN, Light.YELLOW, Light.RED]
    first = light(start=start, due=due, now=start + offset / 2, calendar=CAL)
    second = light(start=start, due=due, now=start + offset, calendar=CAL)
    assert order.index(first) <= order.index(second)
