"""Periodic reports over a real federation (nats-servers, county → city full replication,
city → province summaries): the city's monthly report ranks its counties with their own
figures from the replicas; the province's report lists the city from its summary (counts
and rates, nothing about an enterprise)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from node.app.reports import ReportService
from node.domain.lifecycle import Assign, Command, Resolve, Start, Triage
from node.domain.reports import parse_period
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330521": "330500"}
AFTER_MARCH = datetime.fromisoformat("2026-04-01T00:30:00+08:00")

pytestmark = pytest.mark.timeout(240)


def reports(node: FedNode) -> ReportService:
    service = node.node.services.reports
    assert service is not None
    return service


def make(county: FedNode, clock: FakeClock, at: str, title: str, *, resolve_at: str | None,
         department: str) -> tuple[str, int]:
    """An issue of `county` received `at` (CST), resolved at `resolve_at`: (id, version)."""
    clock.set(datetime.fromisoformat(at + "+08:00"))
    issue, _ = county.issues.submit(LEADER, submit_cmd(title=title))
    steps: list[Command] = [Triage(tags=("用地",)), Assign(department=department), Start()]
    for cmd in steps:
        issue = county.issues.act(LEADER, issue.id, cmd)
    if resolve_at is not None:
        clock.set(datetime.fromisoformat(resolve_at + "+08:00"))
        issue = county.issues.act(LEADER, issue.id, Resolve(reply="已办结。"))
    return issue.id, issue.version


async def test_the_city_ranks_its_counties_and_the_province_lists_the_city(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        province, city = fed.nodes["330000"], fed.nodes["330500"]
        changxing, deqing = fed.nodes["330522"], fed.nodes["330521"]
        # 长兴县: three issues in March, two resolved on time; 德清县: two, one resolved
        versions = dict(
            [make(changxing, clock, f"2026-03-0{i + 2}T10:00", f"长兴诉求{i}",
                  resolve_at=resolve, department="经信局")
             for i, resolve in enumerate(("2026-03-05T10:00", "2026-03-06T10:00", None))]
            + [make(deqing, clock, f"2026-03-1{i}T10:00", f"德清诉求{i}",
                    resolve_at=resolve, department="经信局")
               for i, resolve in enumerate(("2026-03-12T10:00", None))])
        await until(lambda: all(replica_version(city, k) == v for k, v in versions.items()),
                    what="the city holds every county issue")
        clock.set(AFTER_MARCH)

        [month] = [r for r in reports(city).run_due() if r.kind == "month"]
        c = month.content
        assert c["node"] == "330500" and c["current"]["received"] == 5
        units = {u["unit"]: u for u in c["units"]}
        assert units["330522"]["received"] == 3 and units["330522"]["resolved"] == 2
        assert units["330521"]["received"] == 2 and units["330521"]["resolved"] == 1
        assert {u["name"] for u in c["units"]} >= {"长兴县", "德清县"}
        # the same 经信局 in two counties is two departments
        assert {(d["unit"], d["department"]) for d in c["departments"]} == {
            ("330522", "经信局"), ("330521", "经信局")}

        def province_has_city() -> bool:
            latest = province.node.streams.latest if province.node.streams else None
            child = latest.children.get("330500") if latest is not None else None
            return child is not None and child.total == 5

        await until(province_has_city, what="the city's summary at the province")
        report = reports(province).content(parse_period("month", "2026-03"), AFTER_MARCH)
        [row] = report.summaries
        assert (row.unit, row.total, row.open) == ("330500", 5, 2)
        out = report.to_dict()
        assert out["summaries"][0]["name"] == "湖州市"
        text = repr(out)
        assert "长兴诉求" not in text and "甲企业" not in text  # no issue, no enterprise
