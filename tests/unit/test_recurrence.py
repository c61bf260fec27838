"""重发复发率 (node/domain/metrics.py): a constructed history against a hand count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.domain.errors import ValidationError
from node.domain.metrics import IssueFacts, compute_metrics

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
DAY = timedelta(days=1)
A, B = "91330522MA2B3C4D5E", "91330500MA1234567X"


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


def test_recurrence_of_a_constructed_history_equals_the_hand_count() -> None:
    facts = [
        fact(1, received=0, closed=10),  # A 用电 closed day 10 …
        fact(2, received=50, closed=60),  # … A 用电 again on day 50: 1 recurred; 2 recurs at 70
        fact(3, received=70),  # recurrence of 2 (day 70 ≤ 60 + 90)
        fact(4, tags=("融资",), received=0, closed=5),  # A 融资: nothing follows → not recurred
        fact(5, code=B, received=0, closed=10),  # B 用电: A's issues do not count for B
        fact(6, code=B, received=200, closed=210, department="税务局"),  # day 200 > 100 …
        # … and its own window (210 + 90 = 300) ends after now (day 250): not in the sample
        fact(7, received=0, closed=3, rejected=True),  # a confirmed rejection: not counted
        fact(8, code=None, received=0, closed=3),  # no enterprise: not counted
        fact(9, tags=(), received=0, closed=3),  # no tag: no category, not counted
        fact(10, tags=("用地", "用电"), received=80, closed=85, state="resolved"),  # not closed
    ]
    now = T0 + 250 * DAY
    m = compute_metrics(facts, now=now)
    # sample: 1, 2, 4, 5 (6 still open in its window); recurred: 1 and 2
    assert (m.overall.recurrence_sample, m.overall.recurred) == (4, 2)
    assert m.overall.recurrence_rate == 0.5
    assert m.by_department["经信局"].recurrence_rate == 0.5
    assert m.by_department["税务局"].recurrence_sample == 0
    assert m.by_department["税务局"].recurrence_rate is None
    shorter = compute_metrics(facts, now=now, recurrence_window=30 * DAY)
    # with 30 days: 1 (next on day 50 > 40) no; 2 (day 70 ≤ 90) yes; 6's window ends day 240
    assert (shorter.overall.recurrence_sample, shorter.overall.recurred) == (5, 1)
    assert m.overall.to_dict()["recurrence_rate"] == 0.5


def test_an_issue_in_an_open_window_counts_once_it_recurred() -> None:
    facts = [fact(1, received=0, closed=10), fact(2, received=20)]
    early = compute_metrics(facts[:1], now=T0 + 15 * DAY)
    assert early.overall.recurrence_sample == 0  # not known yet
    later = compute_metrics(facts, now=T0 + 25 * DAY)
    assert (later.overall.recurrence_sample, later.overall.recurred) == (1, 1)
    # an issue received before the close is no recurrence, whatever its tag
    before = compute_metrics([fact(1, received=0, closed=10), fact(2, received=5)],
                             now=T0 + 200 * DAY)
    assert (before.overall.recurrence_sample, before.overall.recurred) == (1, 0)


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        compute_metrics([], now=T0, recurrence_window=timedelta(0))
