"""GET /stats/series: the cockpit's weekly figures from SQL aggregates, on SQLite and
PostgreSQL, for a history with known dates (a fake clock; every issue made through the
use cases), checked against a hand count — including the China Standard Time week
boundary (Sunday 23:30 CST is the old week, Monday 00:00 CST the new one). Also the
units' names (GET /divisions) and the phone page's brief summary (GET /stats/units)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from httpx import Response

from node.domain.issue import Channel, Rating
from node.domain.lifecycle import Assign, Command, Rate, Resolve, Start, Triage
from node.runtime import Node
from node.web.stats_api import subtree_names
from tests.support.api import assert_error
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, STAFF, submit_cmd

PASSWORD = "stats-password-1"


def utc(month: int, day: int, hour: int = 2, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def history(node: Node, clock: FakeClock) -> None:
    """Five issues of 长兴县 over the weeks of 2026-02-02 … 2026-03-23 (dates in UTC)."""
    svc = node.services.issues

    def make(at: datetime, steps: list[Command], channel: Channel = Channel.ONLINE) -> str:
        clock.set(at)
        issue, _ = svc.submit(LEADER, submit_cmd(title=f"诉求{at:%m%d%H%M}", channel=channel))
        for cmd in steps:
            issue = svc.act(LEADER, issue.id, cmd)
        return issue.id

    handled: list[Command] = [Triage(tags=("用地",)), Assign(department="经信局"), Start()]
    # i0: received in the previous window, resolved late in the window's second week
    i0 = make(utc(2, 2), handled)
    # i1: resolved on time and closed by a satisfied rating, all in the first week
    i1 = make(utc(3, 2), [Triage(tags=("用地", "融资")), Assign(department="经信局"), Start()])
    clock.set(utc(3, 3))
    svc.act(LEADER, i1, Resolve(reply="已办结。"))
    svc.act(ENTERPRISE_A, i1, Rate(rating=Rating.SATISFIED, comment="好"))
    # i2: Sunday 23:30 CST, first week; i3: Monday 00:00 CST, second week
    make(utc(3, 8, 15, 30), [Triage(tags=("用地",))], Channel.HOTLINE_12345)
    make(utc(3, 8, 16, 0), [], Channel.HOTLINE_12345)
    # i4: third week, assigned to another department
    make(utc(3, 17), [Triage(tags=("用地",)), Assign(department="住建局")])
    clock.set(utc(3, 10))
    svc.act(LEADER, i0, Resolve(reply="已办结。"))
    clock.set(utc(3, 25))  # Wednesday of the fourth week


def get(node: Node, *paths: str) -> list[Response]:
    """GET each of `paths` under /api/v1, as the viewer (a province leader)."""
    node.services.accounts.add(STAFF["viewer"], PASSWORD)
    with TestClient(node.app) as client:
        login = client.post("/api/v1/auth/login",
                            json={"username": "viewer", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        return [client.get("/api/v1" + path, headers=auth) for path in paths]


def series(node: Node, *weeks: int) -> list[Response]:
    return get(node, *(f"/stats/series?weeks={w}" for w in weeks))


def test_weekly_counts_funnel_tags_channels_and_rankings(node: Node, clock: FakeClock) -> None:
    history(node, clock)
    [resp] = series(node, 4)
    assert resp.status_code == 200, resp.text
    s = resp.json()
    assert s["node"] == "330522"
    assert s["weeks"] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert s["received"]["total"] == [2, 1, 1, 0]
    assert s["received"]["done"] == [1, 0, 0, 0]  # i1
    assert s["received"]["red"] == [1, 1, 0, 0]  # i2, i3: dispatch deadline passed
    assert s["received"]["green"] == [0, 0, 1, 0]  # i4: resolve deadline early
    assert s["received"]["yellow"] == [0, 0, 0, 0]
    assert s["resolved"] == [1, 1, 0, 0]
    assert s["on_time"] == [1, 0, 0, 0]
    assert s["closed"] == [1, 0, 0, 0]
    assert s["funnel"] == [{"stage": "received", "count": 4}, {"stage": "triage", "count": 3},
                           {"stage": "assign", "count": 2}, {"stage": "start", "count": 1},
                           {"stage": "resolve", "count": 1}, {"stage": "close", "count": 1}]
    assert s["top_tags"] == [{"tag": "用地", "count": 3}, {"tag": "融资", "count": 1}]
    assert s["channels"] == [{"channel": "hotline_12345", "count": 2},
                             {"channel": "online", "count": 2}]
    [unit] = s["units"]
    assert unit["origin"] == "330522"
    assert unit["current"] == {"received": 4, "resolved": 2, "on_time": 1, "rate": 0.5}
    assert unit["previous"] == {"received": 1, "resolved": 0, "on_time": 0, "rate": None}
    assert unit["received"] == [2, 1, 1, 0] and unit["resolved"] == [1, 1, 0, 0]
    assert unit["rank"] is None  # 2 resolutions < the minimum sample of 5
    assert unit["change"] is None
    depts = {d["department"]: d for d in s["departments"]}
    assert set(depts) == {"经信局", "住建局"}  # unassigned issues rank no department
    assert depts["经信局"]["current"] == {"received": 1, "resolved": 2, "on_time": 1,
                                       "rate": 0.5}
    assert depts["经信局"]["previous"]["received"] == 1
    assert depts["住建局"]["current"] == {"received": 1, "resolved": 0, "on_time": 0,
                                       "rate": None}


def test_the_window_moves_with_the_clock(node: Node, clock: FakeClock) -> None:
    history(node, clock)
    clock.set(utc(3, 30))  # Monday 10:00 CST: a new week opens the window's last slot
    [resp] = series(node, 2)
    assert resp.status_code == 200, resp.text
    s = resp.json()
    assert s["weeks"] == ["2026-03-23", "2026-03-30"]
    assert s["received"]["total"] == [0, 0]
    # the two weeks before (03-09, 03-16) are the trend's reference
    assert s["units"][0]["previous"] == {"received": 2, "resolved": 1, "on_time": 0,
                                         "rate": 0.0}


def test_weeks_out_of_range_are_invalid_input(node: Node) -> None:
    for resp in series(node, 0, 105, -1):
        assert_error(resp, 422, "invalid_input")


def test_division_names_come_from_the_shipped_reference_data(node: Node) -> None:
    province = subtree_names("330000", "浙江省")
    assert len(province) == 102 and province["330106"] == "西湖区"
    assert subtree_names("330500", "湖州市") == {
        "330500": "湖州市", "330502": "吴兴区", "330503": "南浔区", "330521": "德清县",
        "330522": "长兴县", "330523": "安吉县"}
    [names, brief] = get(node, "/divisions", "/stats/units")
    assert names.json() == {"node": "330522", "names": {"330522": "长兴县"}}
    assert brief.status_code == 200
    assert brief.json()["name"] == "长兴县" and brief.json()["overdue"] == 0


def test_units_brief_counts_overdue_and_top_tags(node: Node, clock: FakeClock) -> None:
    history(node, clock)
    [resp] = get(node, "/stats/units")
    body = resp.json()
    assert body["total"] == 5
    assert body["overdue"] == body["lights"]["red"] == 2  # i2, i3 (dispatch deadline passed)
    assert body["top_tags"] == [{"tag": "用地", "count": 4}, {"tag": "融资", "count": 1}]
    assert set(body["sums"]) <= {f"{r}_{p}" for r in ("resolution", "on_time", "satisfaction",
                                                     "repeat", "recurrence")
                                 for p in ("num", "den")}
    assert "states" not in body and "tags" not in body  # only what the phone shows
