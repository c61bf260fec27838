"""Organisation units across a real county → city federation (nats-servers, gRPC with mutual
TLS): two counties each have a "税务局", the city one of its own; their ids carry each
node's code, so at the city the three queues stay apart, and the city names the counties'
units from the catalogues the counties publish in their summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.app.units import UnitService
from node.domain.errors import ValidationError
from node.domain.lifecycle import Assign, Triage
from tests.support.clock import FakeClock
from tests.support.data import COUNTY_UNITS, LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.wait import until

PROVINCE, CITY, A, B = "330000", "330500", "330522", "330521"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, A: CITY, B: CITY}

pytestmark = pytest.mark.timeout(240)


def units_of(node: FedNode) -> UnitService:
    units = node.issues.units
    assert units is not None
    return units


async def test_two_counties_tax_bureaus_stay_apart_at_the_city(tmp_path: Path,
                                                               clock: FakeClock) -> None:
    sections = {code: {"units": COUNTY_UNITS} for code in (CITY, A, B)}
    async with nats_federation(tmp_path, TOPOLOGY, clock, sections=sections) as fed:
        made = {}
        for code in (A, B):
            county = fed.nodes[code].issues
            issue, _ = county.submit(LEADER, submit_cmd(title=f"{code} 出口退税"))
            county.act(LEADER, issue.id, Triage(tags=("税费服务",)))
            made[code] = county.act(LEADER, issue.id, Assign(department=f"{code}.shuiwu"))
        city = fed.nodes[CITY]
        units = units_of(city)

        def arrived() -> bool:
            return all(_department(city, made[c].id) == f"{c}.shuiwu" for c in (A, B))

        await until(arrived, timeout_s=60, what="both counties' issues at the city")
        await until(lambda: all(units.name_of(f"{c}.shuiwu", "zh") == "税务局" for c in (A, B)),
                    timeout_s=60, what="the counties' catalogues at the city")
        # three tax bureaus, three queues: the same name, never the same unit
        for code in (A, B):
            page = city.issues.list_issues(LEADER, in_unit=f"{code}.shuiwu")
            assert [i.id for i, _ in page.items] == [made[code].id]
            assert units.catalogue()[f"{code}.shuiwu"].node == code
        assert city.issues.list_issues(LEADER, in_unit=f"{CITY}.shuiwu").items == []
        assert units.name_of(f"{A}.shuiwu", "en") == "Tax Bureau"
        # the city's own catalogue is its own: a county's unit is listed under the county
        own = {u.id for u in units.list(LEADER)}
        assert f"{CITY}.shuiwu" in own and f"{A}.shuiwu" not in own
        assert {u.id for u in units.list(LEADER, node=A)} == {
            f"{A}.{e['slug']}" for e in COUNTY_UNITS}
        # the city cannot dispatch its own issue to a county's unit
        issue, _ = city.issues.submit(LEADER, submit_cmd(title="市级诉求"))
        city.issues.act(LEADER, issue.id, Triage(tags=("税费服务",)))
        with pytest.raises(ValidationError) as refused:
            city.issues.act(LEADER, issue.id, Assign(department=f"{A}.shuiwu"))
        assert refused.value.code == "unit_unknown"


def _department(node: FedNode, issue_id: str) -> str | None:
    with node.issues.store.read() as unit:
        found = unit.load_issue(issue_id)
    return None if found is None else found.department
