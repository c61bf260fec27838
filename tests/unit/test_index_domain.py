"""The 有感指数 (node/domain/index.py, pure): every component of a constructed history
against a hand count, the weighted index, weights validated and taken from the floors, the
minimum-sample guard, ranks with the change against the previous period, and the summary
wire form checked."""

from __future__ import annotations

from datetime import datetime

import pytest

from node.domain.calendar import CST
from node.domain.errors import ValidationError
from node.domain.index import (
    DEFAULT_WEIGHTS,
    IndexFact,
    Sums,
    decode_summary_index,
    rank,
    score,
    sums_by_unit,
    sums_from_wire,
    validate_evaluation,
    validate_weights,
    weights_in_force,
)
from node.domain.reports import ReportFact, parse_period

NOV = parse_period("month", "2026-11")
AS_OF = datetime(2026, 12, 2, 10, tzinfo=CST)


def cst(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CST)


def fact(unit: str, *, received: datetime, resolved: datetime | None = None,
         due: datetime | None = None, state: str | None = None, light: str = "none",
         rating: str | None = None, revisit: str | None = None, closed: datetime | None = None,
         credit: str | None = None, tags: tuple[str, ...] = (), rejected: bool = False
         ) -> IndexFact:
    st = state or ("resolved" if resolved else "in_progress")
    return IndexFact(fact=ReportFact(
        origin=unit, unit=unit, department=None, state=st, light=light, tags=tags,
        received_at=received, resolved_at=resolved, resolve_due=due, closed_at=closed,
        rating=rating, reopen_count=0, rejected=rejected, credit_code=credit), revisit=revisit)


def history() -> list[IndexFact]:
    a = "330102"
    return [
        # 1: received and resolved in November on time, rated satisfied, revisited basically ok
        fact(a, received=cst(11, 2), resolved=cst(11, 5), due=cst(11, 10), rating="satisfied",
             revisit="basically_ok"),
        # 2: received in November, resolved late (after due), rated unsatisfied
        fact(a, received=cst(11, 3), resolved=cst(11, 20), due=cst(11, 12),
             rating="unsatisfied"),
        # 3: received in November, still open and red at as_of
        fact(a, received=cst(11, 4), due=cst(11, 14), light="red"),
        # 4: received in November, escalated: out of resolution and overdue denominators
        fact(a, received=cst(11, 6), state="escalated"),
        # 5: received in October, resolved in November on time, revisit unsatisfied
        fact(a, received=cst(10, 28), resolved=cst(11, 1), due=cst(11, 3),
             revisit="unsatisfied"),
        # 6/7: closed in November, the same enterprise and tag came back on 20 November
        fact(a, received=cst(8, 1), resolved=cst(8, 2), closed=cst(11, 3), state="closed",
             credit="91330100MA0000001X", tags=("water",)),
        fact(a, received=cst(11, 20), credit="91330100MA0000001X", tags=("water",)),
    ]


def test_each_component_by_hand() -> None:
    sums = sums_by_unit(history(), NOV, as_of=AS_OF, key=lambda f: f.unit)
    s = sums["330102"]
    # resolution: received in Nov (1,2,3,4,7) minus escalated 4 = 4; resolved/closed: 1, 2
    assert (s.get("resolution_num"), s.get("resolution_den")) == (2, 4)
    # on time: resolved in Nov: 1 (on time), 2 (late), 5 (on time) → 2/3
    assert (s.get("on_time_num"), s.get("on_time_den")) == (2, 3)
    # satisfaction: ratings of resolved in Nov: 1 satisfied, 2 unsatisfied → 1/2;
    # revisits of resolved in Nov: 1 basically_ok, 5 unsatisfied → 1/2
    assert (s.get("satisfaction_num"), s.get("satisfaction_den")) == (1, 2)
    assert (s.get("revisit_num"), s.get("revisit_den")) == (1, 2)
    # recurrence: 6 closed in Nov with credit code and tag, recurred by 7 → 1/1
    assert (s.get("recurrence_num"), s.get("recurrence_den")) == (1, 1)
    # overdue: of the 4 (1,2,3,7): 2 resolved late, 3 open and red → 2/4
    assert (s.get("overdue_num"), s.get("overdue_den")) == (2, 4)
    assert sums[None].counts == s.counts

    s = s.with_evaluations({"grassroots": (80.0, "乡镇街道评议"), "enterprise": (90.0, "问卷")})
    weights = {**{k: 0.0 for k in DEFAULT_WEIGHTS}, "resolution": 1.0, "on_time": 1.0,
               "satisfaction": 2.0, "recurrence": 1.0, "overdue": 1.0,
               "eval_grassroots": 1.0, "eval_enterprise": 3.0, "eval_third_party": 5.0}
    scored = score("330102", s, weights)
    values = {c.name: c.value for c in scored.components}
    assert values == {"resolution": 50.0, "on_time": 66.67, "satisfaction": 50.0,
                      "recurrence": 0.0, "overdue": 50.0, "eval_grassroots": 80.0,
                      "eval_enterprise": 90.0, "eval_third_party": None}
    sat = next(c for c in scored.components if c.name == "satisfaction")
    assert (sat.num, sat.den) == (2, 4)
    src = next(c for c in scored.components if c.name == "eval_grassroots")
    assert src.source == "乡镇街道评议"
    # third party missing: its weight 5 is not counted
    expected = (50 + 66.67 + 2 * 50 + 0 + 50 + 80 + 3 * 90) / 10
    assert scored.index == round(expected, 2)
    assert scored.sample == 3


def test_ranking_guard_and_change() -> None:
    w = dict(DEFAULT_WEIGHTS)

    def sums(on_time: int, den: int) -> Sums:
        return Sums(counts={"on_time_num": on_time, "on_time_den": den,
                            "resolution_num": on_time, "resolution_den": den})

    current = {"A": sums(9, 10), "B": sums(10, 10), "C": sums(2, 2), "D": sums(9, 10)}
    previous = {"A": sums(10, 10), "B": sums(5, 10), "D": sums(1, 10)}
    rows = rank(current, previous, weights=w, min_sample=5)
    assert [(r.scored.unit, r.rank) for r in rows] == [("B", 1), ("A", 2), ("D", 2),
                                                        ("C", None)]
    assert rows[3].reason == "sample_below_minimum"
    by = {r.scored.unit: r for r in rows}
    assert by["B"].previous_rank == 2 and by["B"].rank_change == 1
    assert by["A"].previous_rank == 1 and by["A"].rank_change == -1
    assert by["D"].rank_change == 1  # third before, second (tied) now
    assert by["B"].scored.index == 100.0
    assert by["A"].index_change == -10.0
    with pytest.raises(ValidationError):
        rank(current, previous, weights=w, min_sample=0)


def test_weights() -> None:
    assert validate_weights({"resolution": 1, "on_time": 0}) == {"resolution": 1.0,
                                                                 "on_time": 0.0}
    for bad in ({"resolution": -1}, {"nope": 1}, {"resolution": 0}, {"on_time": True},
                {"on_time": float("nan")}):
        with pytest.raises(ValidationError) as err:
            validate_weights(bad)
        assert err.value.code == "index_weights_invalid"
    # floors nearest first: the province's (last) weight wins over the city's and the node's
    w = weights_in_force({"resolution": 5}, [{"resolution": 7, "overdue": 1},
                                            {"resolution": 9}])
    assert w["resolution"] == 9 and w["overdue"] == 1 and w["on_time"] == 20


def test_evaluation_and_wire() -> None:
    assert validate_evaluation("enterprise", 88.26, " 问卷 ") == ("enterprise", 88.3, "问卷")
    for kind, value, source in (("x", 1, "s"), ("enterprise", 101, "s"),
                                ("enterprise", -1, "s"), ("enterprise", 50, " ")):
        with pytest.raises(ValidationError):
            validate_evaluation(kind, value, source)
    s = Sums(counts={"on_time_num": 3, "on_time_den": 4}, evaluations={"third_party": 70.5},
             sources={"third_party": "x"})
    wire = decode_summary_index({"2026-11": s.to_wire()})
    back = sums_from_wire(wire["2026-11"])
    assert back.counts == {"on_time_num": 3, "on_time_den": 4}
    assert back.evaluations == {"third_party": 70.5}
    bads: list[object] = [{"2026-11": {"on_time_num": -1}}, {"2026-11": {"x": 1}},
                          {"nov": {}}, {"2026-11": {"eval_enterprise": 120}}, []]
    for bad in bads:
        with pytest.raises(ValueError):
            decode_summary_index(bad)
