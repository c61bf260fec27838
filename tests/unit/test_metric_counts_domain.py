"""The metrics from kept counts (node/domain/metric_counts.py) equal the one-pass fold.

`from_counts` over the sums of `fact_counts` per group, with the lights and the recurrence
(`recurrence_flags`) counted as a store counts them, must give exactly what
`compute_metrics` gives over the same facts: on the constructed recurrence history (a hand
count) and on random facts (hypothesis). And `summarize` counts the 重发复发率 per unit of
origin to the same hand count.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.issue import OPEN_STATES
from node.domain.metric_counts import (
    RECURRED,
    RECURRENCE_SAMPLE,
    GroupCounts,
    GroupKey,
    fact_counts,
    from_counts,
    recurrence_flags,
)
from node.domain.metrics import LIGHTS, STATES, IssueFacts, compute_metrics
from node.domain.summary import IssueLine, summarize

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
DAY = timedelta(days=1)
A, B = "91330522MA2B3C4D5E", "91330500MA1234567X"
WINDOW = timedelta(days=90)


def kept(facts: list[IssueFacts], now: datetime, window: timedelta = WINDOW,
         ) -> dict[GroupKey, GroupCounts]:
    """What a store keeps for `facts` (one origin), read at `now`."""
    counts: dict[GroupKey, Counter[str]] = {}
    lights: dict[GroupKey, Counter[str]] = {}
    flags = recurrence_flags(facts, window)
    for f in facts:
        key = ("330522", f.node, f.board or "", f.department or "")
        counts.setdefault(key, Counter()).update(fact_counts(f))
        if f.state in {s.value for s in OPEN_STATES} and f.light != "none":
            lights.setdefault(key, Counter())[f.light] += 1
        if f.issue_id in flags:
            assert f.closed_at is not None
            again = flags[f.issue_id]
            counts[key][RECURRED] += again
            counts[key][RECURRENCE_SAMPLE] += again or f.closed_at + window <= now
    return {k: GroupCounts(counts=counts[k], lights=lights.get(k, {})) for k in counts}


def fact(n: int, *, code: str | None = A, tags: tuple[str, ...] = ("用电",), received: int,
         closed: int | None = None, state: str | None = None, rejected: bool = False,
         department: str = "经信局") -> IssueFacts:
    at = T0 + received * DAY
    closed_at = T0 + closed * DAY if closed is not None else None
    return IssueFacts(
        issue_id=f"i{n}", node="330522", board=None, department=department,
        state=state or ("closed" if closed_at else "received"), light="none", tags=tags,
        received_at=at, resolved_at=closed_at, resolve_due=None, rating=None,
        reopen_count=0, rejected=rejected, credit_code=code, closed_at=closed_at)


HISTORY = [
    fact(1, received=0, closed=10), fact(2, received=50, closed=60), fact(3, received=70),
    fact(4, tags=("融资",), received=0, closed=5), fact(5, code=B, received=0, closed=10),
    fact(6, code=B, received=200, closed=210, department="税务局"),
    fact(7, received=0, closed=3, rejected=True), fact(8, code=None, received=0, closed=3),
    fact(9, tags=(), received=0, closed=3),
    fact(10, tags=("用地", "用电"), received=80, closed=85, state="resolved"),
]


def test_the_kept_counts_give_the_hand_count_of_the_constructed_history() -> None:
    now = T0 + 250 * DAY
    m = from_counts(kept(HISTORY, now), now=now)
    assert (m.overall.recurrence_sample, m.overall.recurred) == (4, 2)  # as hand-counted
    assert m.to_dict() == compute_metrics(HISTORY, now=now).to_dict()
    shorter = from_counts(kept(HISTORY, now, 30 * DAY), now=now)
    assert (shorter.overall.recurrence_sample, shorter.overall.recurred) == (5, 1)


def test_summarize_counts_the_recurrence_per_unit_of_origin() -> None:
    def line(f: IssueFacts, origin: str) -> IssueLine:
        return IssueLine(number=f.issue_id, title="t", origin=origin, state=f.state,
                         light=None, tags=f.tags, received_at=f.received_at,
                         resolved_at=f.resolved_at, resolve_due=None, due=None, rating=None,
                         reopen_count=0, rejected=f.rejected, credit_code=f.credit_code,
                         closed_at=f.closed_at)

    now = T0 + 250 * DAY
    lines = [line(f, "330522" if f.credit_code != B else "330521") for f in HISTORY]
    s = summarize("330500", lines, now=now, by_origin=True)
    # 330522: 1, 2, 4 in the sample, 1 and 2 recurred; 330521: 5 (6's window still open)
    assert (s.sums["recurrence_num"], s.sums["recurrence_den"]) == (2, 4)
    assert s.children["330522"].rate("recurrence") == round(2 / 3, 4)
    assert s.children["330521"].rate("recurrence") == 0.0
    assert s.to_dict()["rates"]["recurrence"] == 0.5


_times = st.integers(min_value=0, max_value=400)


@st.composite
def facts(draw: st.DrawFn) -> list[IssueFacts]:
    out = []
    for n in range(draw(st.integers(min_value=0, max_value=40))):
        state = draw(st.sampled_from(STATES))
        received = draw(_times)
        resolved = (received + draw(st.integers(0, 60))
                    if state in ("resolved", "closed") or draw(st.booleans()) else None)
        closed = (resolved if resolved is not None else received + 1) \
            if state == "closed" else None
        out.append(IssueFacts(
            issue_id=f"i{n}", node=draw(st.sampled_from(("330522", "330500"))),
            board=draw(st.sampled_from((None, "政策板块"))),
            department=draw(st.sampled_from((None, "经信局", "住建局"))), state=state,
            light=draw(st.sampled_from((*LIGHTS, "none"))),
            tags=tuple(draw(st.lists(st.sampled_from(("用电", "融资", "用地")), max_size=3))),
            received_at=T0 + received * DAY,
            resolved_at=None if resolved is None else T0 + resolved * DAY + timedelta(
                microseconds=draw(st.integers(0, 10**6))),
            resolve_due=draw(st.none() | st.just(T0 + (received + 20) * DAY)),
            rating=draw(st.sampled_from((None, "satisfied", "basically_satisfied",
                                         "unsatisfied"))),
            reopen_count=draw(st.integers(0, 2)), rejected=draw(st.booleans()),
            credit_code=draw(st.sampled_from((None, A, B))),
            closed_at=None if closed is None else T0 + closed * DAY))
    return out


@settings(max_examples=300, deadline=None)
@given(facts(), st.integers(min_value=0, max_value=600), st.integers(min_value=1, max_value=5))
def test_kept_counts_equal_the_fold_on_random_facts(found: list[IssueFacts], at: int,
                                                    min_sample: int) -> None:
    now = T0 + at * DAY
    expected = compute_metrics(found, now=now, min_sample=min_sample).to_dict()
    assert from_counts(kept(found, now), now=now, min_sample=min_sample).to_dict() == expected
