"""Handling metrics: hand-computed examples for every metric, grouping, the sample guard,
plus hypothesis properties over random fact sets."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.errors import ValidationError
from node.domain.metrics import (
    LIGHTS,
    STATES,
    GroupMetrics,
    IssueFacts,
    compute_metrics,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=CST)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=CST)

_counter = iter(range(10**9))


def fact(**overrides: Any) -> IssueFacts:
    values: dict[str, Any] = {
        "issue_id": f"I{next(_counter):06d}",
        "node": "330106",
        "board": "B1",
        "department": "D1",
        "state": "in_progress",
        "light": "green",
        "tags": (),
        "received_at": T0,
        "resolved_at": None,
        "resolve_due": None,
        "rating": None,
        "reopen_count": 0,
    }
    values.update(overrides)
    return IssueFacts(**values)


def resolved(hours: float = 1.0, *, due_hours: float | None = None, **kw: Any) -> IssueFacts:
    """A fact resolved `hours` after receipt, with a due time `due_hours` after receipt."""
    kw.setdefault("state", "resolved")
    kw.setdefault("light", "none")
    return fact(
        resolved_at=T0 + timedelta(hours=hours),
        resolve_due=None if due_hours is None else T0 + timedelta(hours=due_hours),
        **kw,
    )


# --------------------------------------------------------------------------- examples


def test_empty_set() -> None:
    m = compute_metrics([], now=NOW)
    o = m.overall
    assert o.total == 0 and o.open == 0 and o.sample == 0 and o.rated == 0
    assert dict(o.counts_by_state) == dict.fromkeys(STATES, 0)
    assert dict(o.counts_by_light) == {"green": 0, "yellow": 0, "red": 0}
    assert o.overdue == 0
    assert o.resolution_rate is None
    assert o.on_time_rate is None
    assert o.satisfaction_rate is None
    assert o.repeat_rate is None
    assert o.avg_handling_hours is None
    assert o.top_tags == ()
    assert m.by_board == {} and m.by_department == {} and m.by_node == {}
    for dim in ("board", "department", "node"):
        assert m.rankings[dim].ranked == ()
        assert m.rankings[dim].insufficient_sample == ()
    assert m.as_of == NOW and m.min_sample == 5


def test_counts_by_state_lists_every_state() -> None:
    facts = [fact(state="received"), fact(state="received"), fact(state="closed", light="none")]
    counts = compute_metrics(facts, now=NOW).overall.counts_by_state
    assert tuple(counts) == STATES
    assert counts["received"] == 2 and counts["closed"] == 1
    assert sum(counts.values()) == 3
    assert all(counts[s] == 0 for s in STATES if s not in ("received", "closed"))


def test_lights_count_only_open_issues() -> None:
    facts = [
        fact(state="received", light="green"),
        fact(state="in_progress", light="red"),
        fact(state="reopened", light="yellow"),
        fact(state="rejected", light="red"),  # pending rejection: still open
        fact(state="returned", light="none"),  # open but no deadline running
        fact(state="escalated", light="red"),  # handed to another tier: not open
        fact(state="resolved", light="none"),
        fact(state="closed", light="green"),  # stale light on a finished row: ignored
    ]
    o = compute_metrics(facts, now=NOW).overall
    assert dict(o.counts_by_light) == {"green": 1, "yellow": 1, "red": 2}
    assert tuple(o.counts_by_light) == LIGHTS
    assert o.overdue == 2
    assert o.open == 5


def test_resolution_rate() -> None:
    facts = [
        *(fact(state="resolved", light="none") for _ in range(3)),
        fact(state="closed", light="none"),
        fact(state="closed", light="none", rejected=True),  # confirmed rejection
        fact(state="escalated", light="none"),
        fact(state="rejected"),  # pending rejection stays in the denominator
        *(fact(state="in_progress") for _ in range(3)),
    ]
    # numerator 3 resolved + 1 closed (not rejected) = 4; denominator 10 - 1 - 1 = 8
    assert compute_metrics(facts, now=NOW).overall.resolution_rate == 0.5


def test_resolution_rate_none_when_everything_excluded() -> None:
    facts = [fact(state="escalated"), fact(state="closed", rejected=True)]
    assert compute_metrics(facts, now=NOW).overall.resolution_rate is None


def test_resolution_rate_rounds_to_four_places() -> None:
    facts = [fact(state="closed"), fact(state="received"), fact(state="received")]
    assert compute_metrics(facts, now=NOW).overall.resolution_rate == 0.3333


def test_on_time_rate() -> None:
    facts = [
        resolved(2, due_hours=5),  # early
        resolved(5, due_hours=5),  # exactly at the due time: on time
        resolved(9, due_hours=5),  # late
        resolved(3),  # no due time: nothing missed
        fact(resolve_due=T0 - timedelta(days=1)),  # unresolved: not in the sample
    ]
    o = compute_metrics(facts, now=NOW).overall
    assert o.sample == 4
    assert o.on_time_rate == 0.75


def test_on_time_rate_none_without_resolutions() -> None:
    assert compute_metrics([fact()], now=NOW).overall.on_time_rate is None


def test_satisfaction_rate() -> None:
    facts = [
        fact(rating="satisfied"),
        fact(rating="basically_satisfied"),
        fact(rating="unsatisfied"),
        fact(rating=None),
    ]
    o = compute_metrics(facts, now=NOW).overall
    assert o.rated == 3
    assert o.satisfaction_rate == 0.6667
    assert compute_metrics([fact()], now=NOW).overall.satisfaction_rate is None


def test_repeat_rate() -> None:
    facts = [
        resolved(1),  # reached resolution, never reopened
        resolved(1, reopen_count=1, state="closed"),  # reopened once
        fact(state="reopened", reopen_count=2),  # reopened, resolved_at unknown: counts
        fact(),  # never reached resolution: not in the denominator
    ]
    assert compute_metrics(facts, now=NOW).overall.repeat_rate == 0.6667
    assert compute_metrics([fact()], now=NOW).overall.repeat_rate is None


def test_avg_handling_hours() -> None:
    facts = [resolved(2), resolved(5), fact()]
    assert compute_metrics(facts, now=NOW).overall.avg_handling_hours == 3.5
    facts = [resolved(1.5), resolved(0.5)]
    assert compute_metrics(facts, now=NOW).overall.avg_handling_hours == 1.0
    facts = [resolved(1 / 3)]  # 20 minutes
    assert compute_metrics(facts, now=NOW).overall.avg_handling_hours == 0.33
    assert compute_metrics([fact()], now=NOW).overall.avg_handling_hours is None


def test_top_tags_counts_issues_and_breaks_ties_by_name() -> None:
    facts = [
        fact(tags=("tax", "tax", "land")),  # a repeated tag counts once per issue
        fact(tags=("tax", "power")),
        fact(tags=("tax",)),
        fact(tags=("land",)),
        *(fact(tags=(f"t{i:02d}",)) for i in range(12)),
    ]
    top = compute_metrics(facts, now=NOW).overall.top_tags
    assert len(top) == 10
    assert top[:3] == (("tax", 3), ("land", 2), ("power", 1))
    assert top[3:] == tuple((f"t{i:02d}", 1) for i in range(7))


def test_grouping_by_board_department_and_node() -> None:
    facts = [
        fact(node="330106", board="B1", department="D1", state="closed"),
        fact(node="330106", board="B1", department="D2"),
        fact(node="330106", board=None, department=None, state="received"),
        fact(node="330108", board="B2", department="D1", state="closed"),
        fact(node="330108", board="", department="D2"),
    ]
    m = compute_metrics(facts, now=NOW)
    assert {k: g.total for k, g in m.by_board.items()} == {"": 2, "B1": 2, "B2": 1}
    assert {k: g.total for k, g in m.by_department.items()} == {"": 1, "D1": 2, "D2": 2}
    assert {k: g.total for k, g in m.by_node.items()} == {"330106": 3, "330108": 2}
    assert m.by_board["B1"].resolution_rate == 0.5
    assert m.by_department["D1"].resolution_rate == 1.0
    assert m.by_node["330108"].counts_by_state["closed"] == 1
    assert list(m.by_board) == ["", "B1", "B2"]  # sorted keys


def _board(
    name: str, n: int, *, late: int = 0, unsatisfied: int = 0, rated: bool = True
) -> list[IssueFacts]:
    out = []
    for i in range(n):
        rating = None
        if rated:
            rating = "unsatisfied" if i < unsatisfied else "satisfied"
        due = 1.0 if i < late else 10.0
        out.append(resolved(2, due_hours=due, board=name, rating=rating))
    return out


def test_rankings_order_and_min_sample_guard() -> None:
    facts = [
        *_board("A", 5, unsatisfied=1),  # on time 1.0, satisfaction 0.8
        *_board("B", 5),  # on time 1.0, satisfaction 1.0
        *_board("C", 6, late=1),  # on time 0.8333
        *_board("D", 4),  # below the guard
        *_board("E", 5, rated=False),  # on time 1.0, satisfaction None: after A
        *_board("", 20),  # the undispatched bucket is never ranked
    ]
    m = compute_metrics(facts, now=NOW, min_sample=5)
    r = m.rankings["board"]
    assert r.ranked == ("B", "A", "E", "C")
    assert r.insufficient_sample == ("D",)
    assert m.by_board[""].sample == 20

    r1 = compute_metrics(facts, now=NOW, min_sample=1).rankings["board"]
    assert r1.ranked == ("B", "D", "A", "E", "C")  # D ties B, then by key
    assert r1.insufficient_sample == ()

    r7 = compute_metrics(facts, now=NOW, min_sample=7).rankings["board"]
    assert r7.ranked == ()
    assert r7.insufficient_sample == ("A", "B", "C", "D", "E")


def test_ranking_ties_broken_by_key_and_sample_counts_resolved_only() -> None:
    facts = [
        *_board("Y", 2),
        *_board("X", 2),
        fact(board="Z"),  # open: no resolved sample
        fact(board="Z"),
    ]
    m = compute_metrics(facts, now=NOW, min_sample=2)
    assert m.rankings["board"].ranked == ("X", "Y")
    assert m.rankings["board"].insufficient_sample == ("Z",)
    assert m.rankings["node"].ranked == ("330106",)
    assert m.rankings["department"].ranked == ("D1",)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_min_sample_validated(bad: Any) -> None:
    with pytest.raises(ValidationError) as err:
        compute_metrics([], now=NOW, min_sample=bad)
    assert err.value.field == "min_sample"


def test_naive_now_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        compute_metrics([], now=datetime(2025, 1, 1))
    assert err.value.field == "now"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"state": "done"}, "facts.state"),
        ({"light": "blue"}, "facts.light"),
        ({"rating": "great"}, "facts.rating"),
        ({"reopen_count": -1}, "facts.reopen_count"),
        ({"resolved_at": T0 - timedelta(seconds=1)}, "facts.resolved_at"),
    ],
)
def test_bad_facts_rejected(overrides: dict[str, Any], field: str) -> None:
    bad = fact(**overrides)
    with pytest.raises(ValidationError) as err:
        compute_metrics([fact(), bad], now=NOW)
    assert err.value.field == field
    assert err.value.details["issue_id"] == bad.issue_id


def test_to_dict_is_json_ready() -> None:
    facts = [
        *_board("A", 5, unsatisfied=1),
        fact(board=None, tags=("tax",), light="red"),
    ]
    m = compute_metrics(facts, now=NOW, min_sample=5)
    d = json.loads(json.dumps(m.to_dict()))
    assert d["as_of"] == NOW.isoformat()
    assert d["min_sample"] == 5
    assert d["overall"]["total"] == 6
    assert d["overall"]["overdue"] == 1
    assert d["overall"]["top_tags"] == [{"tag": "tax", "count": 1}]
    assert d["by_board"]["A"]["satisfaction_rate"] == 0.8
    assert set(d["by_board"]) == {"", "A"}
    assert d["rankings"]["board"] == {"ranked": ["A"], "insufficient_sample": []}
    assert set(d["rankings"]) == {"board", "department", "node"}
    assert set(d["overall"]["counts_by_state"]) == set(STATES)


def test_results_are_immutable() -> None:
    m = compute_metrics([fact()], now=NOW)
    with pytest.raises(TypeError):
        m.overall.counts_by_state["received"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        m.by_board["X"] = m.overall  # type: ignore[index]


def test_accepts_a_generator_and_handles_100k_facts() -> None:
    states = STATES
    n = 100_000

    def gen() -> Iterator[IssueFacts]:
        for i in range(n):
            done = i % 3 == 0
            yield IssueFacts(
                issue_id=f"I{i}",
                node=f"33010{i % 7}",
                board=None if i % 11 == 0 else f"B{i % 13}",
                department=f"D{i % 29}",
                state=states[i % len(states)],
                light=("green", "yellow", "red", "none")[i % 4],
                tags=(f"t{i % 17}", f"t{i % 5}"),
                received_at=T0,
                resolved_at=T0 + timedelta(hours=i % 50) if done else None,
                resolve_due=T0 + timedelta(hours=24),
                rating=("satisfied", "basically_satisfied", "unsatisfied", None)[i % 4],
                reopen_count=i % 2,
                rejected=i % 97 == 0 and states[i % len(states)] == "closed",
            )

    m = compute_metrics(gen(), now=NOW)
    assert m.overall.total == n
    assert sum(g.total for g in m.by_node.values()) == n
    assert sum(g.total for g in m.by_board.values()) == n


# --------------------------------------------------------------------------- properties

_minutes = st.integers(min_value=0, max_value=60 * 24 * 60)


@st.composite
def facts_strategy(draw: st.DrawFn) -> IssueFacts:
    received = T0 + timedelta(minutes=draw(_minutes))
    resolved_at = draw(st.none() | _minutes.map(lambda m: received + timedelta(minutes=m)))
    due = draw(st.none() | _minutes.map(lambda m: received + timedelta(minutes=m)))
    return IssueFacts(
        issue_id=draw(st.text(min_size=1, max_size=8)),
        node=draw(st.sampled_from(["330102", "330106", "330108"])),
        board=draw(st.sampled_from([None, "", "B1", "B2", "B3"])),
        department=draw(st.sampled_from([None, "D1", "D2"])),
        state=draw(st.sampled_from(STATES)),
        light=draw(st.sampled_from(["green", "yellow", "red", "none"])),
        tags=tuple(draw(st.lists(st.sampled_from("abcdefghijklmn"), max_size=4))),
        received_at=received,
        resolved_at=resolved_at,
        resolve_due=due,
        rating=draw(st.sampled_from([None, "satisfied", "basically_satisfied", "unsatisfied"])),
        reopen_count=draw(st.integers(min_value=0, max_value=3)),
        rejected=draw(st.booleans()),
    )


def _check_group(g: GroupMetrics) -> None:
    for rate in (
        g.resolution_rate,
        g.on_time_rate,
        g.satisfaction_rate,
        g.repeat_rate,
    ):
        assert rate is None or 0.0 <= rate <= 1.0
    assert sum(g.counts_by_state.values()) == g.total
    assert set(g.counts_by_state) == set(STATES)
    assert sum(g.counts_by_light.values()) <= g.open <= g.total
    assert g.overdue == g.counts_by_light["red"]
    assert g.sample <= g.total and g.rated <= g.total
    assert (g.on_time_rate is None) == (g.sample == 0)
    assert (g.avg_handling_hours is None) == (g.sample == 0)
    assert g.avg_handling_hours is None or g.avg_handling_hours >= 0
    assert len(g.top_tags) <= 10
    counts = [c for _, c in g.top_tags]
    assert counts == sorted(counts, reverse=True)


def _rank_key(g: GroupMetrics, key: str) -> tuple[float, float, str]:
    assert g.on_time_rate is not None
    sat = -1.0 if g.satisfaction_rate is None else g.satisfaction_rate
    return (-g.on_time_rate, -sat, key)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(facts_strategy(), max_size=60),
    st.integers(min_value=1, max_value=6),
    st.randoms(use_true_random=False),
)
def test_properties(facts: list[IssueFacts], min_sample: int, rnd: random.Random) -> None:
    m = compute_metrics(facts, now=NOW, min_sample=min_sample)
    assert m.overall.total == len(facts)
    for g in (m.overall, *m.by_board.values(), *m.by_department.values(), *m.by_node.values()):
        _check_group(g)
    for groups in (m.by_board, m.by_department, m.by_node):
        assert sum(g.total for g in groups.values()) == m.overall.total
        assert sum(g.sample for g in groups.values()) == m.overall.sample
    for dim, groups in (
        ("board", m.by_board),
        ("department", m.by_department),
        ("node", m.by_node),
    ):
        r = m.rankings[dim]
        assert set(r.ranked).isdisjoint(r.insufficient_sample)
        assert set(r.ranked) | set(r.insufficient_sample) == set(groups) - {""}
        assert all(groups[k].sample >= min_sample for k in r.ranked)
        assert all(groups[k].sample < min_sample for k in r.insufficient_sample)
        keys = [_rank_key(groups[k], k) for k in r.ranked]
        assert keys == sorted(keys)

    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert compute_metrics(shuffled, now=NOW, min_sample=min_sample).to_dict() == m.to_dict()


def test_now_in_other_zone_is_fine() -> None:
    m = compute_metrics([fact()], now=datetime(2025, 6, 1, tzinfo=UTC))
    assert m.overall.total == 1
