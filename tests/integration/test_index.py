"""The 有感指数 at a county on SQLite and PostgreSQL, over HTTP: the department ranking of
a constructed history with every component's numerator and denominator, external
evaluations entered by a leader (a viewer refused, bad input refused with nothing
written), a correction replacing the score with the old one in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from node.domain.issue import Rating
from node.domain.lifecycle import Assign, Command, Rate, Resolve, Start, Triage
from node.runtime import Node
from node.store.schema import audit_log, index_evaluations
from tests.support.api import assert_error, error_fields
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, STAFF, submit_cmd
from tests.support.db import table_counts

PASSWORD = "index-password-1"
AFTER_MARCH = datetime.fromisoformat("2026-04-01T00:30:00+08:00")


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def history(node: Node, clock: FakeClock) -> None:
    """长兴县 in March 2026: 经信局 resolves three of three (one rated satisfied), 住建局
    one of three; in February 经信局 resolved one."""
    svc = node.services.issues

    def make(at: str, department: str, resolve: bool, rate: bool = False) -> None:
        clock.set(cst(at))
        issue, _ = svc.submit(LEADER, submit_cmd(title=f"{department}诉求"))
        steps: list[Command] = [Triage(tags=("用地",)), Assign(department=department), Start()]
        if resolve:
            steps.append(Resolve(reply="已办结。"))
        for cmd in steps:
            issue = svc.act(LEADER, issue.id, cmd)
        if rate:
            svc.act(ENTERPRISE_A, issue.id, Rate(rating=Rating.SATISFIED, comment="满意"))

    make("2026-02-10T10:00", "经信局", True)
    for i, rate in enumerate((True, False, False)):
        make(f"2026-03-0{i + 2}T10:00", "经信局", True, rate)
    for i, resolve in enumerate((True, False, False)):
        make(f"2026-03-1{i}T10:00", "住建局", resolve)
    clock.set(AFTER_MARCH)


@pytest.fixture
def client(node: Node, clock: FakeClock) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    history(node, clock)
    for who in ("viewer", "leader"):
        node.services.accounts.add(STAFF[who], PASSWORD)
    with TestClient(node.app) as c:
        auth = {}
        for who in ("viewer", "leader"):
            login = c.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
            assert login.status_code == 200, login.text
            auth[who] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield c, auth


def test_department_ranking_and_evaluations(client: tuple[TestClient, dict[str, dict[str, str]]],
                                            engine: Engine) -> None:
    c, auth = client
    got = c.get("/api/v1/index?period=2026-03&level=department", headers=auth["viewer"])
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["previous_period"] == "2026-02" and body["min_sample"] == 5
    rows = {r["unit"]: r for r in body["rows"]}
    assert set(rows) == {"330522|经信局", "330522|住建局"}
    jx = {x["name"]: x for x in rows["330522|经信局"]["components"]}
    assert (jx["resolution"]["num"], jx["resolution"]["den"]) == (3, 3)
    assert (jx["on_time"]["num"], jx["on_time"]["den"]) == (3, 3)
    assert (jx["satisfaction"]["num"], jx["satisfaction"]["den"]) == (1, 1)
    assert jx["resolution"]["weight"] == 20.0
    zj = {x["name"]: x for x in rows["330522|住建局"]["components"]}
    assert (zj["resolution"]["num"], zj["resolution"]["den"]) == (1, 3)
    # the minimum sample (5 resolutions) is not reached: listed, unranked, with the reason
    assert all(r["rank"] is None and r["reason"] == "sample_below_minimum"
               for r in body["rows"])
    assert rows["330522|经信局"]["previous_index"] is not None  # February: one resolution
    county = c.get("/api/v1/index?period=2026-03&level=county", headers=auth["viewer"]).json()
    [own] = county["rows"]
    assert own["unit"] == "330522" and own["sample"] == 4

    entry = {"unit": "330522", "period": "2026-03", "kind": "third_party", "score": 82.5,
             "source": "第三方测评机构"}
    assert_error(c.put("/api/v1/index/evaluations", json=entry, headers=auth["viewer"]),
                 403, "forbidden")
    for bad in ({"score": 101}, {"kind": "boss"}, {"unit": "110101"}, {"period": "2026-13"},
                {"source": " "}):
        resp = c.put("/api/v1/index/evaluations", json={**entry, **bad}, headers=auth["leader"])
        details = assert_error(resp, 422, "invalid_input")
        assert error_fields(details) == set(bad), resp.text
    assert table_counts(engine)["index_evaluations"] == 0
    ok = c.put("/api/v1/index/evaluations", json=entry, headers=auth["leader"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["entered_by"] == "leader"
    again = c.put("/api/v1/index/evaluations", json={**entry, "score": 70},
                  headers=auth["leader"])
    assert again.status_code == 200
    listed = c.get("/api/v1/index/evaluations?period=2026-03", headers=auth["viewer"]).json()
    assert [(e["kind"], e["score"]) for e in listed["items"]] == [("third_party", 70.0)]
    with engine.connect() as conn:
        assert conn.execute(select(index_evaluations.c.score)).scalars().all() == [70.0]
        records = conn.execute(select(audit_log.c.action, audit_log.c.detail).where(
            audit_log.c.action.like("index.%")).order_by(audit_log.c.seq)).all()
    assert [r[0] for r in records] == ["index.evaluation_entered",
                                       "index.evaluation_corrected"]
    assert records[1][1]["replaced"]["score"] == 82.5
    county = c.get("/api/v1/index?period=2026-03&level=county", headers=auth["viewer"]).json()
    ev = {x["name"]: x for x in county["rows"][0]["components"]}["eval_third_party"]
    assert (ev["value"], ev["source"]) == (70.0, "第三方测评机构")
    assert_error(c.get("/api/v1/index?period=2026-03&level=town", headers=auth["viewer"]),
                 422, "invalid_input")
