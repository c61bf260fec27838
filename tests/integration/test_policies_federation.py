"""The policy library across a real county → city → province federation (nats-servers,
gRPC with mutual TLS, signed publications): a city's policies travel down as its signed
"policies" publication and are suggested at its counties for a matching tag; a province's
reach the counties relayed by the city; a county adds its own; a policy withdrawn above
disappears below."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.app.policies import POLICIES_KIND, PolicyService
from node.domain.errors import Forbidden
from node.domain.lifecycle import Triage
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, STAFF, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}
ADMIN, DISPATCHER, HANDLER = STAFF["admin"], STAFF["dispatcher"], STAFF["handler"]

pytestmark = pytest.mark.timeout(240)


def policies_of(node: FedNode) -> PolicyService:
    service = node.node.services.policies
    assert service is not None
    return service


def held(node: FedNode) -> set[str]:
    return {r.policy.id for r in policies_of(node).entries(LEADER, include_inactive=True)}


def entry(title: str, tags: list[str], **more: object) -> dict[str, object]:
    return {"title": title, "issuer": "湖州市人民政府办公室", "valid_from": "2026-01-01",
            "tags": tags, "summary": f"{title}：具体措施见原文。", **more}


async def test_a_city_policy_reaches_its_counties_and_is_suggested_for_a_matching_tag(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        province, city = fed.nodes["330000"], fed.nodes["330500"]
        county, other = fed.nodes["330522"], fed.nodes["330523"]
        power = policies_of(city).create(ADMIN, entry("湖州市企业用电增容支持措施", ["用电"],
                                                      doc_number="湖政办发〔2026〕3号"))
        only_other = policies_of(city).create(ADMIN, entry("德清县专项", ["用电"],
                                                           regions=["330523"]))
        tax = policies_of(province).create(ADMIN, entry("浙江省减税降费", ["税费"]))
        waited = await until(lambda: {power.id, only_other.id, tax.id} <= held(county)
                             and {power.id, tax.id} <= held(other), timeout_s=60,
                             what="the city's and the province's policies at both counties")
        print(f"the policies reached both counties in {waited:.2f}s")
        stored = county.node.services.rules
        assert stored is not None
        doc = stored.publications.stored("330500", POLICIES_KIND)
        assert doc is not None and doc.doc.issuer == "330500"
        assert held(province) == {tax.id}  # nothing travels up
        # a county adds its own; it stays its own and never reaches its neighbour
        own = policies_of(county).create(ADMIN, entry("长兴县用电服务", ["用电"]))
        assert own.origin == "330522"
        # an issue tagged 用电 at the county: the city's policy is suggested there
        issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd(title="新产线用电增容"))
        county.issues.act(DISPATCHER, issue.id, Triage(tags=("用电",)))
        found = policies_of(county).for_issue(HANDLER, issue.number)
        ids = [m["id"] for m in found["matches"]]
        assert set(ids) == {power.id, own.id}  # 德清县's own-region policy is not for 长兴县
        assert only_other.id not in ids and tax.id not in ids
        city_match = next(m for m in found["matches"] if m["id"] == power.id)
        assert city_match["origin"] == "330500" and city_match["shared_tags"] == ["用电"]
        # the enterprise sees it in its portal
        seen = policies_of(county).for_issue(ENTERPRISE_A, issue.number)
        assert power.id in {m["id"] for m in seen["matches"]}
        # a policy from above cannot be changed below
        with pytest.raises(Forbidden) as refused:
            policies_of(county).set_active(ADMIN, power.id, False)
        assert refused.value.code == "policy_from_above"
        # the city withdraws it: it disappears below and is no longer suggested
        policies_of(city).set_active(ADMIN, power.id, False)
        await until(lambda: power.id not in held(county) and power.id not in held(other),
                    timeout_s=60, what="the withdrawn policy gone below")
        again = policies_of(county).for_issue(HANDLER, issue.number)
        assert [m["id"] for m in again["matches"]] == [own.id]
        assert own.id not in held(other)
