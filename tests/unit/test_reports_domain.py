"""Periodic reports' periods and figures (node/domain/reports.py, pure): months, quarters and
years on China time, the last complete period, keys parsed strictly; every figure of a
constructed history against a hand count; rankings with the minimum sample, departments of
different units kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.domain.calendar import CST
from node.domain.errors import ValidationError
from node.domain.reports import (
    KINDS,
    Kind,
    Period,
    ReportFact,
    build,
    due_period,
    parse_period,
    special,
)


def cst(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST)


def test_periods_on_china_time() -> None:
    # 30 November 16:30 UTC is 1 December 00:30 CST: November has ended
    now = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert due_period(Kind.MONTH, now).key == "2026-11"
    assert due_period(Kind.MONTH, now - timedelta(hours=1)).key == "2026-10"
    assert due_period(Kind.QUARTER, now).key == "2026-Q3"
    assert due_period(Kind.YEAR, now).key == "2025"
    jan = datetime(2027, 1, 1, 0, 0, tzinfo=CST)
    assert [due_period(k, jan).key for k in KINDS] == ["2026-12", "2026-Q4", "2026"]
    q4 = parse_period("quarter", "2026-Q4")
    assert (q4.start, q4.end) == (cst(10, 1, 0), datetime(2027, 1, 1, tzinfo=CST))
    assert q4.previous().key == "2026-Q3" and q4.year_before().key == "2025-Q4"
    assert parse_period("month", "2026-01").previous().key == "2025-12"
    assert parse_period("year", "2026").last_day.isoformat() == "2026-12-31"
    assert parse_period("quarter", "2026-Q1").label_zh() == "2026年第一季度"
    assert parse_period("month", "2026-02").end == cst(3, 1, 0)


@pytest.mark.parametrize(("kind", "key"), [
    ("month", "2026-13"), ("month", "2026-1"), ("month", "2026-Q1"), ("quarter", "2026-Q5"),
    ("quarter", "2026-04"), ("year", "26"), ("year", "2026-01"), ("week", "2026"),
    ("month", "1999-12")])
def test_bad_period_keys_are_refused(kind: str, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_period(kind, key)
    assert caught.value.code == "report_period_invalid"


def fact(unit: str, *, received: datetime, state: str = "received", light: str = "green",
         resolved: datetime | None = None, due: datetime | None = None,
         closed: datetime | None = None, rating: str | None = None, reopened: int = 0,
         department: str | None = None, tags: tuple[str, ...] = (),
         code: str | None = None, rejected: bool = False) -> ReportFact:
    return ReportFact(origin=unit, unit=unit, department=department, state=state, light=light,
                      tags=tags, received_at=received, resolved_at=resolved, resolve_due=due,
                      closed_at=closed, rating=rating, reopen_count=reopened,
                      rejected=rejected, credit_code=code)


MARCH = Period(kind=Kind.MONTH, year=2026, index=3)
AS_OF = cst(4, 1, 1)


def history() -> list[ReportFact]:
    a, b = "330522", "330521"
    return [
        # a: received in March, resolved on time, closed, satisfied
        fact(a, received=cst(3, 2), state="closed", resolved=cst(3, 5), due=cst(3, 20),
             closed=cst(3, 6), rating="satisfied", department="经信局", tags=("用地", "融资"),
             code="C1"),
        # a: received in March, resolved late, unsatisfied → reopened, now resolved again
        fact(a, received=cst(3, 3), state="resolved", resolved=cst(3, 28), due=cst(3, 25),
             rating="unsatisfied", reopened=1, department="经信局", tags=("用地",)),
        # a: received in March, still open and red
        fact(a, received=cst(3, 10), state="in_progress", light="red", department="住建局",
             tags=("用地",)),
        # a: received in March and escalated: out of the resolution denominator
        fact(a, received=cst(3, 11), state="escalated", light="none", tags=("审批",)),
        # b: received in February, resolved in March on time, rated basically satisfied
        fact(b, received=cst(2, 20), state="resolved", resolved=cst(3, 2), due=cst(3, 10),
             rating="basically_satisfied", department="经信局", tags=("融资",)),
        # b: a confirmed rejection received in March: out of the denominator
        fact(b, received=cst(3, 12), state="closed", light="none", closed=cst(3, 13),
             rejected=True, tags=("其他",)),
        # b: February: open, yellow (previous period's intake)
        fact(b, received=cst(2, 3), state="assigned", light="yellow", department="经信局"),
        # a: March 2025 (the same period a year before), resolved on time
        fact(a, received=cst(3, 4, year=2025), state="closed", resolved=cst(3, 6, year=2025),
             due=cst(3, 20, year=2025), closed=cst(3, 7, year=2025)),
        # a: the enterprise of the first came back on 20 March with a 融资 issue: a recurrence
        fact(a, received=cst(3, 20), state="triaged", light="green", tags=("融资",), code="C1"),
    ]


def test_every_figure_of_the_period_matches_a_hand_count() -> None:
    r = build(history(), node="330500", node_name="湖州市", period=MARCH, as_of=AS_OF,
              min_sample=1, names={"330522": "长兴县", "330521": "德清县"})
    c = r.current
    assert (c.received, c.resolved, c.closed, c.escalated, c.overdue) == (6, 3, 2, 1, 1)
    # received in March: 6; escalated 1 and rejected 1 out → 4; resolved/closed among them: 2
    assert (c.sums["resolution_num"], c.sums["resolution_den"]) == (2, 4)
    # resolved in March: a(3-5 ≤ 3-20), a(3-28 > 3-25), b(3-2 ≤ 3-10) → 2 of 3 on time
    assert (c.sums["on_time_num"], c.sums["on_time_den"]) == (2, 3)
    assert c.rate("on_time") == round(2 / 3, 4)
    # rated among those: satisfied, unsatisfied, basically satisfied → 2 of 3
    assert (c.sums["satisfaction_num"], c.sums["satisfaction_den"]) == (2, 3)
    assert (c.sums["repeat_num"], c.sums["repeat_den"]) == (1, 3)
    # closed in March with a code and a tag: the first (C1, 用地/融资) came back on 3-20 with
    # 融资; the rejection never counts
    assert (c.sums["recurrence_num"], c.sums["recurrence_den"]) == (1, 1)
    assert dict(c.mix) == {"done": 3, "red": 1, "none": 1, "green": 1}
    hours = ((cst(3, 5) - cst(3, 2)) + (cst(3, 28) - cst(3, 3)) + (cst(3, 2) - cst(2, 20))
             ).total_seconds() / 3600
    assert c.avg_handling_hours == round(hours / 3, 2)
    assert r.previous.received == 2 and r.previous.resolved == 0
    assert r.year_before.received == 1 and r.year_before.rate("on_time") == 1.0
    assert r.top_tags == (("用地", 3), ("融资", 2), ("其他", 1), ("审批", 1))

    units = {u.unit: u for u in r.units}
    assert units["330522"].figures.received == 5 and units["330521"].figures.received == 1
    # 330521: 1 of 1 on time; 330522: 1 of 2 → 德清县 first
    assert [(u.unit, u.rank) for u in r.units] == [("330521", 1), ("330522", 2)]
    depts = {(d.unit, d.department): d for d in r.departments}
    # the same 经信局 in two counties is two departments
    assert depts[("330522", "经信局")].figures.resolved == 2
    assert depts[("330521", "经信局")].figures.resolved == 1
    assert ("330522", "住建局") in depts and depts[("330522", "住建局")].rank is None

    out = r.to_dict()
    assert out["period"] == "2026-03" and out["previous_period"] == "2026-02"
    assert out["current"]["rates"]["on_time"] == {"value": 0.6667, "num": 2, "den": 3}
    assert [u["name"] for u in out["units"]] == ["德清县", "长兴县"]


def test_the_minimum_sample_keeps_small_units_unranked() -> None:
    r = build(history(), node="330500", node_name="湖州市", period=MARCH, as_of=AS_OF,
              min_sample=2)
    assert [(u.unit, u.rank) for u in r.units] == [("330522", 1), ("330521", None)]
    assert all(d.rank is None or d.figures.resolved >= 2 for d in r.departments)


def test_a_recurrence_window_still_open_is_not_counted_yet() -> None:
    facts = [fact("330522", received=cst(3, 2), state="closed", resolved=cst(3, 5),
                  closed=cst(3, 6), tags=("用地",), code="C9")]
    r = build(facts, node="330522", node_name="长兴县", period=MARCH, as_of=AS_OF,
              min_sample=1)
    assert r.current.sums.get("recurrence_den", 0) == 0 and r.current.rate("recurrence") is None
    later = build(facts, node="330522", node_name="长兴县", period=MARCH,
                  as_of=cst(6, 10), min_sample=1)
    assert (later.current.sums["recurrence_num"], later.current.sums["recurrence_den"]) == (0, 1)
    # a county has no child units: no unit ranking
    assert r.units == ()


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValidationError):
        build([], node="330522", node_name="长兴县", period=MARCH,
              as_of=datetime(2026, 4, 1), min_sample=1)


def test_a_special_reports_span_its_comparisons_and_its_key() -> None:
    sp = special("2026-02-01", "2026-03-31")
    assert (sp.start, sp.end) == (cst(2, 1, 0), cst(4, 1, 0))
    assert sp.key == "2026-02-01~2026-03-31" and sp.kind is Kind.SPECIAL
    before = sp.previous()  # as many days (59) just before
    assert (before.first.isoformat(), before.last.isoformat()) == ("2025-12-04", "2026-01-31")
    assert sp.year_before().key == "2025-02-01~2025-03-31"
    leap = special("2024-02-29", "2024-02-29")
    assert leap.year_before().key == "2023-02-28~2023-02-28"
    chosen = special("2026-02-01", "2026-03-31", tags=["融资", "用地", "用地"],
                     units=["330522.zrzyj"])
    assert chosen.tags == ("用地", "融资") and chosen.key.startswith(sp.key + "#")
    assert special("2026-02-01", "2026-03-31", tags=["用地", "融资"],
                   units=["330522.zrzyj"]).key == chosen.key  # the same choice, one key
    assert parse_period("special", chosen.key).key == sp.key  # the span of a kept key
    assert special("2025-01-01", "2025-12-31").end == datetime(2026, 1, 1, tzinfo=CST)
    for first, last in (("2025-01-01", "2026-01-01"), ("2026-03-02", "2026-03-01"),
                        ("2026-02-30", "2026-03-01"), ("26-01-01", "2026-03-01")):
        with pytest.raises(ValidationError):
            special(first, last)
