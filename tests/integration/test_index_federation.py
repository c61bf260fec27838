"""The 有感指数 over a real federation (nats-servers, county → city full replication, city
→ province summaries): the city ranks its counties from the replicas, with an external
evaluation entered at the city; the index sums travel up in the city's summary (no
personal data) and the province ranks the same counties in the same order with the same
figures, and ranks the city."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from node.app.index import IndexService
from node.domain.lifecycle import Assign, Command, Resolve, Start, Triage
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

PROVINCE, CITY = "330000", "330500"
A, B, C = "330521", "330522", "330523"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, A: CITY, B: CITY, C: CITY}
LATE_MARCH = datetime.fromisoformat("2026-03-25T10:00:00+08:00")

pytestmark = pytest.mark.timeout(300)


def index(node: FedNode) -> IndexService:
    service = node.node.services.index
    assert service is not None
    return service


def make(county: FedNode, clock: FakeClock, day: int, title: str, *, resolve: bool
         ) -> tuple[str, int]:
    clock.set(datetime.fromisoformat(f"2026-03-{day:02d}T10:00:00+08:00"))
    issue, _ = county.issues.submit(LEADER, submit_cmd(title=title))
    steps: list[Command] = [Triage(tags=("用地",)), Assign(department="经信局"), Start()]
    if resolve:
        steps.append(Resolve(reply="已办结。"))
    for cmd in steps:
        issue = county.issues.act(LEADER, issue.id, cmd)
    return issue.id, issue.version


def order(ranking: dict[str, Any]) -> list[tuple[str, int | None, float | None]]:
    return [(r["unit"], r["rank"], r["index"]) for r in ranking["rows"]]


async def test_a_countys_rank_at_the_province_is_its_rank_at_the_city(
        tmp_path: Path, clock: FakeClock) -> None:
    common = {"metrics": {"min_sample": 2}, "index": {"summary_every_s": 0}}
    sections = {code: dict(common) for code in TOPOLOGY}
    async with nats_federation(tmp_path, TOPOLOGY, clock, sections=sections) as fed:
        city, province = fed.nodes[CITY], fed.nodes[PROVINCE]
        plan = {A: (True, True, True), B: (True, True, False), C: (True, False)}
        versions: dict[str, int] = {}
        for code, resolved in plan.items():
            for i, r in enumerate(resolved):
                key, version = make(fed.nodes[code], clock, 2 + i, f"{code}诉求{i}", resolve=r)
                versions[key] = version
        await until(lambda: all(replica_version(city, k) == v for k, v in versions.items()),
                    timeout_s=90, what="the city holds every county issue")
        clock.set(LATE_MARCH)
        index(city).enter(LEADER, unit=B, period="2026-03", kind="enterprise", score=95,
                          source="企业问卷 2026-03")

        at_city = index(city).ranking(LEADER, period="2026-03", level="county")
        rows = {r["unit"]: r for r in at_city["rows"]}
        assert [u for u, rank, _ in order(at_city) if rank is not None] == [A, B]
        assert rows[C]["rank"] is None and rows[C]["reason"] == "sample_below_minimum"
        comps = {c["name"]: c for c in rows[B]["components"]}
        assert (comps["resolution"]["num"], comps["resolution"]["den"]) == (2, 3)
        assert comps["eval_enterprise"]["value"] == 95.0
        assert comps["eval_enterprise"]["source"] == "企业问卷 2026-03"
        assert rows[A]["name"] and rows[A]["name"] != A  # a name from the reference data

        def province_ranks() -> dict[str, Any] | None:
            got = index(province).ranking(LEADER, period="2026-03", level="county")
            units = {r["unit"]: r for r in got["rows"]}
            b = units.get(B)
            if b is None:
                return None
            ev = {c["name"]: c["value"] for c in b["components"]}
            return got if ev["eval_enterprise"] == 95.0 and len(units) == 3 else None

        await until(lambda: province_ranks() is not None, timeout_s=90,
                    what="the counties' index sums at the province")
        at_province = province_ranks()
        assert at_province is not None
        assert order(at_province) == order(at_city)
        for r in at_province["rows"]:
            mine = {c["name"]: (c["num"], c["den"]) for c in r["components"]}
            theirs = {c["name"]: (c["num"], c["den"]) for c in rows[r["unit"]]["components"]}
            assert mine == theirs
        cities = index(province).ranking(LEADER, period="2026-03", level="city")
        [row] = cities["rows"]
        assert row["unit"] == CITY and row["rank"] == 1 and row["sample"] == 6
        latest = province.node.streams.latest if province.node.streams else None
        assert latest is not None
        assert "诉求" not in repr(latest.children[CITY].index)  # figures only
