"""The cockpit's series folded from the store's cells (node/app/stats.py, pure): weeks in
China Standard Time, rankings by on-time resolution with the minimum sample and the trend
against the weeks before, departments of different counties kept apart."""

from __future__ import annotations

from datetime import UTC, date, datetime

from node.app.ports import Tally
from node.app.stats import fold, window_start
from node.domain.calendar import CST


def cell(measure: str, week: int, origin: str, key: str = "", count: int = 1,
         department: str = "") -> Tally:
    return Tally(measure=measure, week=week, origin=origin, department=department, key=key,
                 count=count)


def test_the_window_starts_on_a_monday_in_china_standard_time() -> None:
    # Sunday 2026-03-08 23:30 CST is still the week of Monday 03-02
    assert window_start(datetime(2026, 3, 8, 15, 30, tzinfo=UTC), 1) == \
        datetime(2026, 3, 2, tzinfo=CST)
    assert window_start(datetime(2026, 3, 8, 16, 0, tzinfo=UTC), 1) == \
        datetime(2026, 3, 9, tzinfo=CST)
    assert window_start(datetime(2026, 3, 8, 16, 0, tzinfo=UTC), 3) == \
        datetime(2026, 2, 23, tzinfo=CST)


def test_rankings_sample_guard_trend_and_departments_apart() -> None:
    now = datetime(2026, 3, 25, 2, tzinfo=UTC)
    start = window_start(now, 4)  # 2 weeks shown, 2 before
    cells = [
        # 长兴: 5 resolved now (4 on time), 2 before (1 on time)
        cell("resolved", 2, "330522", "on_time", 4, "经信局"),
        cell("resolved", 3, "330522", "late", 1, "经信局"),
        cell("resolved", 0, "330522", "on_time", 1, "经信局"),
        cell("resolved", 1, "330522", "late", 1, "经信局"),
        # 德清: 5 resolved now, all on time, nothing before
        cell("resolved", 3, "330521", "on_time", 5, "经信局"),
        # 安吉: 2 resolved now, on time: too few to rank
        cell("resolved", 3, "330523", "on_time", 2, "住建局"),
        cell("received", 3, "330522", "green", 3, "经信局"),
        cell("received", 2, "330521", "red", 2),
        cell("received", 1, "330521", "red", 7),  # before the window: trend only
    ]
    s = fold(cells, node="330500", now=now, start=start, weeks=2, min_sample=5).to_dict()
    assert s["weeks"] == ["2026-03-16", "2026-03-23"]
    assert s["resolved"] == [4, 8] and s["on_time"] == [4, 7]
    assert s["received"]["total"] == [2, 3] and s["received"]["red"] == [2, 0]
    ranked = [(u["origin"], u["rank"]) for u in s["units"]]
    assert ranked == [("330521", 1), ("330522", 2), ("330523", None)]
    changxing = s["units"][1]
    assert changxing["current"]["rate"] == 0.8 and changxing["previous"]["rate"] == 0.5
    assert changxing["change"] == 0.3
    assert s["units"][0]["change"] is None  # nothing resolved before
    assert s["units"][0]["received"] == [2, 0] and s["units"][0]["resolved"] == [0, 5]
    depts = [(d["origin"], d["department"], d["rank"]) for d in s["departments"]]
    assert depts == [("330521", "经信局", 1), ("330522", "经信局", 2), ("330523", "住建局", None)]
    assert date.fromisoformat(s["weeks"][0]).weekday() == 0
