"""重发复发率 in the summaries: two counties' constructed histories, folded at their city.

Each county's summary carries the recurrence numerator and denominator next to the reopen
(重办) sums; the city folds them by addition, so its rate is the hand count over both
counties — not the mean of the two rates — and a county summary from before the counters
(no recurrence sums) still folds, as a sample of 0.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from node.app.policy import Principal
from node.app.rollup import Rollup
from node.domain.issue import Rating
from node.domain.lifecycle import Assign, Rate, Resolve, Start, Triage
from node.domain.summary import Summary, encode
from node.runtime import Node, build, place_of
from node.store import repo
from node.store.eventlog import SqlIssueScan
from tests.support.clock import FakeClock
from tests.support.data import (
    CODE_A,
    CODE_B,
    ENTERPRISE_A,
    ENTERPRISE_B,
    STAFF,
    make_config,
    submit_cmd,
)

LEADER = STAFF["leader"]
DAY = timedelta(days=1)
CITY = {"code": "330500", "name": "湖州市", "level": "city", "parent": "330000",
        "children": ["330522", "330521"]}


def county(tmp_path: Path, clock: FakeClock, code: str, name: str) -> Node:
    return build(make_config(tmp_path / code, node={"code": code, "name": name}), clock=clock)


def raise_issue(node: Node, firm: Principal, code: str, tag: str, *, close: bool) -> str:
    svc = node.services.issues
    issue, _ = svc.submit(firm, submit_cmd(code, title=f"{tag}问题"))
    if close:
        for cmd in (Triage(tags=(tag,)), Assign(department="经信局"), Start(),
                    Resolve(reply="已办结。")):
            svc.act(LEADER, issue.id, cmd)
        svc.act(firm, issue.id, Rate(rating=Rating.SATISFIED))  # closes it
        assert svc.get(LEADER, issue.id).issue.state.value == "closed"
    else:
        svc.act(LEADER, issue.id, Triage(tags=(tag,)))
    return issue.id


def summary_of(node: Node, clock: FakeClock) -> bytes:
    svc = node.services.issues
    rollup = Rollup(SqlIssueScan(repo.Store(node.engine, svc.rules.calendar)),
                    place_of(node.config), clock, svc.rules.calendar,
                    children_send_summaries=False)
    return encode(rollup.compute())


def test_the_city_folds_its_counties_recurrence_sums_to_the_hand_count(
        tmp_path: Path, clock: FakeClock) -> None:
    changxing = county(tmp_path, clock, "330522", "长兴县")
    deqing = county(tmp_path, clock, "330521", "德清县")
    # 长兴县, enterprise A: 用电 closed on day 0, raised again on day 30 (recurred); that
    # second one closed on day 30 and nothing followed (its window ends on day 120);
    # 融资 closed on day 0, never again. By day 200: sample 3, recurred 1.
    raise_issue(changxing, ENTERPRISE_A, CODE_A, "用电", close=True)
    raise_issue(changxing, ENTERPRISE_A, CODE_A, "融资", close=True)
    # 德清县, enterprise B: 用地 closed on day 0, raised again on day 10 (left open):
    # sample 1, recurred 1.
    raise_issue(deqing, ENTERPRISE_B, CODE_B, "用地", close=True)
    clock.advance(10 * DAY)
    raise_issue(deqing, ENTERPRISE_B, CODE_B, "用地", close=False)
    clock.advance(20 * DAY)
    raise_issue(changxing, ENTERPRISE_A, CODE_A, "用电", close=True)
    clock.advance(170 * DAY)

    a, b = summary_of(changxing, clock), summary_of(deqing, clock)
    sums_a, sums_b = json.loads(a)["sums"], json.loads(b)["sums"]
    assert (sums_a["recurrence_num"], sums_a["recurrence_den"]) == (1, 3)
    assert (sums_b["recurrence_num"], sums_b["recurrence_den"]) == (1, 1)
    # at each county, the cockpit's metrics say the same
    assert changxing.services.issues.metrics(LEADER).overall.recurrence_rate == round(1 / 3, 4)
    assert deqing.services.issues.metrics(LEADER).overall.recurrence_rate == 1.0

    city_config = make_config(tmp_path / "city", node=CITY)
    city = Rollup(None, place_of(city_config), clock, None,  # type: ignore[arg-type]
                  children_send_summaries=True)
    city._own = Summary(node="330500", as_of=clock.now())  # the city's own issues: none
    assert city.accept("330522", a) and city.accept("330521", b)
    folded = city.refold()
    assert (folded.sums["recurrence_num"], folded.sums["recurrence_den"]) == (2, 4)
    assert folded.rate("recurrence") == 0.5  # (1 + 1) / (3 + 1), not (1/3 + 1) / 2
    assert folded.to_dict()["rates"]["recurrence"] == 0.5
    assert folded.to_dict()["rates"]["repeat"] is not None  # 重办率 alongside, by name
    assert folded.children["330522"].rate("recurrence") == round(1 / 3, 4)

    # a county summary from before the counters: no recurrence sums; it reads as sample 0
    old = json.loads(b)
    for key in ("recurrence_num", "recurrence_den"):
        del old["sums"][key]
    old["as_of"] = (clock.now() + timedelta(seconds=1)).isoformat()
    assert city.accept("330521", json.dumps(old, ensure_ascii=False).encode())
    refolded = city.refold()
    assert (refolded.sums["recurrence_num"], refolded.sums["recurrence_den"]) == (1, 3)
    assert refolded.children["330521"].rate("recurrence") is None
    assert refolded.children["330521"].rate("resolution") is not None
