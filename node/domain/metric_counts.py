"""The handling metrics (node/domain/metrics.py) from counts kept per group, not from a scan.

How it works. Every figure of `compute_metrics` but the lights and the recurrence is a sum,
over the issues of a group, of something one issue adds on its own (`fact_counts`: its
state, whether it is open, resolved, on time, rated, satisfied, reopened, its handling time
in integer microseconds, its tags). A store keeps those sums per finest group — (origin,
owner, board, department) — and updates them in the transaction that writes the issue, by
subtracting what the old row added and adding what the new one adds. `from_counts` then
folds the finest groups into the overall figures and the board, department and node
(owner) groups, and freezes them exactly as `compute_metrics` does, so both give the same
`Metrics` for the same issues (tests/integration/test_metric_counts.py compares them over
random histories).

The lights change with the clock: the store reads them from the running rows (an indexed
aggregate) and passes them in. The recurrence (重发复发率) depends on other issues of the
same enterprise and on the clock: `recurrence_flags` says, from one enterprise's issues
alone, which closed issues recurred (a stored flag, recomputed whenever an issue of that
enterprise is written); the store counts `recurred`, and for the sample adds the issues
whose window has ended by `now` without a recurrence (see node/store/metric_counts.py).

Tags: the counts key a tag as the issue carries it; `from_counts` may rename them (the tag
library's surviving name), adding the counts of tags that map to one name. An issue that
carries two spellings of one library tag then counts twice under it, where the fold over
renamed facts counts it once (library triage writes one spelling per tag; only a merge of
two tags an issue both carries makes the difference).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from node.domain.errors import ValidationError
from node.domain.metrics import (
    _DONE,
    _I_CLOSED,
    _I_ESCALATED,
    _LIGHT_INDEX,
    _OPEN,
    _RATING_SATISFIED,
    _STATE_INDEX,
    LIGHTS,
    STATES,
    UNGROUPED,
    GroupMetrics,
    IssueFacts,
    Metrics,
    _Acc,
    _rank,
)

#: (origin, owner, board, department) — board and department "" when the issue has none.
GroupKey = tuple[str, str, str, str]

TOTAL, STATE, TAG = "total", "state:", "tag:"
OPEN, RESOLVED_OK, EXCLUDED, SAMPLE, ON_TIME = "open", "resolved_ok", "excluded", "sample", \
    "on_time"
HANDLED_US, RATED, SATISFIED, REOPENED, REACHED = "handled_us", "rated", "satisfied", \
    "reopened", "reached"
#: The recurrence keys: closed issues that recurred, and the recurrence sample.
RECURRED, RECURRENCE_SAMPLE = "recurred", "recurrence_sample"
LIGHT = "light:"


def group_key(fact: IssueFacts, origin: str) -> GroupKey:
    return (origin, fact.node, fact.board or UNGROUPED, fact.department or UNGROUPED)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def fact_counts(f: IssueFacts) -> Counter[str]:
    """What `f` adds to its group's kept counts (its light and recurrence apart).
    Raises ValidationError for a fact `compute_metrics` refuses."""
    si = _STATE_INDEX.get(f.state)
    if si is None:
        raise ValidationError("fact_invalid", field="facts.state", issue_id=f.issue_id,
                              value=repr(f.state), name="state")
    out: Counter[str] = Counter({TOTAL: 1, STATE + f.state: 1})
    out[OPEN] += _OPEN[si]
    out[RESOLVED_OK] += _DONE[si] and not f.rejected
    out[EXCLUDED] += f.rejected or si == _I_ESCALATED
    if f.resolved_at is not None:
        out[SAMPLE] += 1
        out[HANDLED_US] += _micros(f.resolved_at - f.received_at)
        out[ON_TIME] += f.resolve_due is None or f.resolved_at <= f.resolve_due
    if f.rating is not None:
        satisfied = _RATING_SATISFIED.get(f.rating)
        if satisfied is None:
            raise ValidationError("fact_invalid", field="facts.rating", issue_id=f.issue_id,
                                  value=repr(f.rating), name="rating")
        out[RATED] += 1
        out[SATISFIED] += satisfied
    out[REOPENED] += f.reopen_count > 0
    out[REACHED] += f.resolved_at is not None or f.reopen_count > 0
    for tag in dict.fromkeys(f.tags):
        out[TAG + tag] += 1
    return +out


def recurrence_eligible(f: IssueFacts) -> bool:
    """Whether `f` is a closed issue the recurrence rate may count (metrics.py docstring)."""
    return bool(f.credit_code and f.tags and f.closed_at is not None and not f.rejected
                and _STATE_INDEX.get(f.state) == _I_CLOSED)


def recurrence_flags(facts: Iterable[IssueFacts], window: timedelta) -> dict[str, bool]:
    """For each eligible closed issue of `facts` (all the issues of one or more enterprises
    that the node holds): whether an issue of the same enterprise sharing a tag was received
    within `window` after it closed. Exactly `compute_metrics`'s test."""
    received: dict[tuple[str, str], list[datetime]] = {}
    closed: list[IssueFacts] = []
    for f in facts:
        if not f.credit_code:
            continue
        for tag in dict.fromkeys(f.tags):
            received.setdefault((f.credit_code, tag), []).append(f.received_at)
        if recurrence_eligible(f):
            closed.append(f)
    for times in received.values():
        times.sort()
    out: dict[str, bool] = {}
    for f in closed:
        assert f.closed_at is not None and f.credit_code is not None
        end = f.closed_at + window
        again = False
        for tag in dict.fromkeys(f.tags):
            times = received[(f.credit_code, tag)]
            k = bisect_right(times, f.closed_at)
            if k < len(times) and times[k] <= end:
                again = True
                break
        out[f.issue_id] = again
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupCounts:
    """One finest group's kept counts (`fact_counts` summed, with RECURRED and
    RECURRENCE_SAMPLE) and its open issues per light at `now`."""

    counts: Mapping[str, int]
    lights: Mapping[str, int]


def _add(acc: _Acc, part: GroupCounts, rename: Mapping[str, str]) -> None:
    c = part.counts
    acc.total += c.get(TOTAL, 0)
    for i, state in enumerate(STATES):
        acc.states[i] += c.get(STATE + state, 0)
    for light, n in part.lights.items():
        li = _LIGHT_INDEX.get(light, -1)
        if li >= 0:
            acc.lights[li] += n
    acc.open += c.get(OPEN, 0)
    acc.resolved_ok += c.get(RESOLVED_OK, 0)
    acc.excluded += c.get(EXCLUDED, 0)
    acc.sample += c.get(SAMPLE, 0)
    acc.on_time += c.get(ON_TIME, 0)
    acc.handling_us += c.get(HANDLED_US, 0)
    acc.rated += c.get(RATED, 0)
    acc.satisfied += c.get(SATISFIED, 0)
    acc.reopened += c.get(REOPENED, 0)
    acc.reached += c.get(REACHED, 0)
    acc.recurrence_sample += c.get(RECURRENCE_SAMPLE, 0)
    acc.recurred += c.get(RECURRED, 0)
    tags = acc.tags
    for key, n in c.items():
        if key.startswith(TAG) and n:
            tag = rename.get(key[len(TAG):], key[len(TAG):])
            tags[tag] = tags.get(tag, 0) + n


def from_counts(groups: Mapping[GroupKey, GroupCounts], *, now: datetime, min_sample: int = 5,
                rename: Mapping[str, str] | None = None) -> Metrics:
    """The metrics of the issues whose kept counts are `groups` (equal to `compute_metrics`
    over the same issues, their tags renamed by `rename`)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now_naive", field="now", value=now.isoformat())
    if isinstance(min_sample, bool) or not isinstance(min_sample, int) or min_sample < 1:
        raise ValidationError("min_sample_invalid", field="min_sample", value=repr(min_sample))
    names = rename or {}
    # sum the finest groups into each dimension's groups first (plain counters), then turn
    # each dimension group into an accumulator once
    summed: tuple[dict[str, tuple[Counter[str], Counter[str]]], ...] = ({}, {}, {}, {})
    for (_origin, owner, board, department), part in groups.items():
        if not part.counts.get(TOTAL):
            continue
        for found, key in zip(summed, (UNGROUPED, board, department, owner), strict=True):
            counts, lights = found.setdefault(key, (Counter(), Counter()))
            counts.update(part.counts)
            lights.update(part.lights)

    def accs(found: dict[str, tuple[Counter[str], Counter[str]]]) -> dict[str, _Acc]:
        out: dict[str, _Acc] = {}
        for key, (counts, lights) in found.items():
            _add(out.setdefault(key, _Acc()), GroupCounts(counts=counts, lights=lights), names)
        return out

    overall = accs(summed[0]).get(UNGROUPED) or _Acc()
    by_board, by_department, by_node = accs(summed[1]), accs(summed[2]), accs(summed[3])

    def freeze(found: dict[str, _Acc]) -> Mapping[str, GroupMetrics]:
        return MappingProxyType({key: found[key].freeze() for key in sorted(found)})

    board_metrics = freeze(by_board)
    department_metrics = freeze(by_department)
    node_metrics = freeze(by_node)
    return Metrics(
        as_of=now, min_sample=min_sample, overall=overall.freeze(), by_board=board_metrics,
        by_department=department_metrics, by_node=node_metrics,
        rankings=MappingProxyType({
            "board": _rank(board_metrics, min_sample),
            "department": _rank(department_metrics, min_sample),
            "node": _rank(node_metrics, min_sample),
        }))


__all__ = ["LIGHTS", "GroupCounts", "GroupKey", "fact_counts", "from_counts", "group_key",
           "recurrence_eligible", "recurrence_flags"]
