"""Rule floors across a real three-tier federation (real nats-servers, gRPC with mutual TLS):
the province's signed floors reach the county through the city; the county's rules in force
follow them; a county configuration looser than a floor is refused at start with the floor
named, a stricter one is accepted; a forged or older document is refused (dead letter,
nothing changed); a restart keeps the stored floor; a new floor that the running rules
violate is applied (the stricter wins) and raises an alarm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from federation.certs import create_ca, issue_node_cert, load_tls
from federation.nats.subjects import Subject
from federation.publications import REFUSED, TlsSigner
from node.app.floors import KIND, RulesService
from node.domain.errors import RuleViolation
from node.domain.issue import Channel
from node.domain.publications import Publication, SignedPublication, canonical_bytes, encode
from node.publishing import refusal
from node.web.observability import NodeCollector
from tests.support.clock import FakeClock
from tests.support.data import LEADER
from tests.support.federation import FedNode, Harness, nats_federation
from tests.support.wait import until

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}
FLOORS: dict[str, Any] = {"floors": {
    "resolve_working_days": 15,
    "per_channel": {"政企恳谈会": {"dispatch_working_days": 2, "resolve_working_days": 10}},
    "revisit_share_min": 0.2,
}}

pytestmark = pytest.mark.timeout(300)


def rules_of(node: FedNode) -> RulesService:
    service = node.node.services.rules
    assert service is not None
    return service


def floor_version(node: FedNode, issuer: str = PROVINCE) -> int:
    stored = rules_of(node).publications.stored(issuer, KIND)
    return stored.doc.version if stored is not None else 0


def in_force(node: FedNode, rule: str) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {
        r["rule"]: r for r in rules_of(node).effective(LEADER)["rules"]}
    return rows[rule]


async def publish_as_province(fed: Harness, data: bytes) -> None:
    nc = await fed._brokers.connect(PROVINCE)
    try:
        await nc.jetstream().publish(Subject.publication(PROVINCE, KIND).build(), data,
                                     timeout=5)
    finally:
        await nc.close()


def metric(node: FedNode, name: str) -> dict[tuple[str, ...], float]:
    """One metric family of the node's /metrics collector: label values → value."""
    family = next(f for f in NodeCollector(node.node.services).collect() if f.name == name)
    return {tuple(s.labels.values()): s.value for s in family.samples
            if not s.name.endswith("_created")}


def refused_letters(node: FedNode) -> int:
    return node.streams.publication_feed.dead_letters.waiting_with(REFUSED)  # type: ignore[union-attr]


async def test_province_floors_reach_the_county_and_bind_it(tmp_path: Path,
                                                            clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock,
                               sections={PROVINCE: FLOORS}) as fed:
        county, city = fed[COUNTY], fed[CITY]
        waited = await until(lambda: floor_version(county) == 1, timeout_s=60,
                             what="the province's floors at the county")
        assert floor_version(city) == 1
        print(f"floors reached the county in {waited:.2f}s")

        # the rules in force at the county, and where each comes from
        meeting = in_force(county, "deadlines.per_channel.meeting.resolve_working_days")
        assert meeting["value"] == 10
        assert meeting["source"] == {"from": "floor", "issuer": PROVINCE, "version": 1}
        default = in_force(county, "deadlines.resolve_working_days")
        assert default["value"] == 15 and default["source"] == {"from": "config"}
        assert county.issues.rules.deadlines.for_tags((), Channel.MEETING).resolve == 10
        assert county.issues.rules.deadlines.for_tags((), Channel.ONLINE).resolve == 15
        assert rules_of(county).alarms() == []

        # a forged document (a key of another CA) and an older one are refused at the
        # county (and the city): dead letters, nothing changed
        good = rules_of(fed[PROVINCE]).publications.stored(PROVINCE, KIND)
        assert good is not None
        other = tmp_path / "forger"
        ca = create_ca(other / "ca", now=clock.now())
        issue_node_cert(ca.dir, other / "p", node_code=PROVINCE, now=clock.now())
        forger = TlsSigner(load_tls(other / "p", now=clock.now()))
        forged = Publication(issuer=PROVINCE, kind=KIND, version=2, issued_at=clock.now(),
                             body={"deadlines": {"resolve_working_days": 60}})
        sig, cert = forger.sign(canonical_bytes(forged))
        await publish_as_province(fed, encode(SignedPublication(doc=forged, signature=sig,
                                                                cert_pem=cert)))
        await until(lambda: refused_letters(county) >= 1, timeout_s=60,
                    what="the forged floors parked at the county")
        assert floor_version(county) == 1 and floor_version(city) == 1
        assert metric(county, "zhitong_publications_refused") == {
            ("publication_bad_signature",): 1.0}
        await publish_as_province(fed, good.envelope)  # v1 again: a duplicate, acknowledged

        # the province raises its floors to version 2; then an older (v1) copy is replayed
        await fed.stop_node(PROVINCE)
        fed.sections[PROVINCE] = {"floors": {**FLOORS["floors"], "resolve_working_days": 12}}
        await fed.start_node(PROVINCE)
        waited = await until(lambda: floor_version(county) == 2, timeout_s=60,
                             what="version 2 of the floors at the county")
        print(f"version 2 reached the county {waited:.2f}s after the province started")
        # the county's own resolve (15, configured) is now looser than the floor: the
        # floor applies and an alarm is raised
        default = in_force(county, "deadlines.resolve_working_days")
        assert default["value"] == 12 and default["overridden"]
        assert default["source"] == {"from": "floor", "issuer": PROVINCE, "version": 2}
        # the decision rules follow once the node has refreshed them (right after storing)
        await until(lambda: county.issues.rules.deadlines.for_tags(
            (), Channel.ONLINE).resolve == 12, timeout_s=30, what="the floor in force")
        [alarm] = rules_of(county).alarms()
        assert (alarm.rule, alarm.value, alarm.floor, alarm.issuer, alarm.version) == (
            "deadlines.resolve_working_days", 15, 12, PROVINCE, 2)
        assert metric(county, "zhitong_rule_floor_conflicts") == {(): 1.0}
        before = refused_letters(county)
        await publish_as_province(fed, good.envelope)  # the older version 1
        await until(lambda: refused_letters(county) > before, timeout_s=60,
                    what="the older floors parked at the county")
        assert floor_version(county) == 2
        # the province repairs its stream (its latest document is v2 again) at its next
        # publishing pass; nothing new reaches the county (a duplicate)
        province = fed[PROVINCE]
        feed = province.streams.publication_feed
        assert feed is not None and province.streams.nc is not None
        current = rules_of(province).publications.stored(PROVINCE, KIND)
        assert current is not None and current.doc.version == 2
        js = province.streams.nc.jetstream()

        async def healed() -> bool:
            last = await js.get_last_msg(feed.stream, Subject.publication(PROVINCE, KIND).build())
            return last.data == current.envelope

        feed.changed.set()
        await until(healed, timeout_s=30, what="the province's stream holding v2 again")
        county_feed = county.streams.publication_feed
        assert county_feed is not None and county.streams.nc is not None
        assert await county_feed.catch_up(county.streams.nc.jetstream()) == 0  # nothing new
        assert floor_version(county) == 2

        # a county configuration looser than the stored floor is refused at start, naming
        # the floor, its value, version and issuer; the stored floor survives the restart
        await fed.stop_node(COUNTY)
        fed.sections[COUNTY] = {"deadlines": {"resolve_working_days": 20}}
        with pytest.raises(RuleViolation) as refused:
            await fed.start_node(COUNTY)
        assert refused.value.params == {"rule": "deadlines.resolve_working_days", "value": 20,
                                        "floor": 12, "version": 2, "issuer": PROVINCE}
        assert str(refusal(refused.value)) == (
            "zhitong: refusing to start: deadlines.resolve_working_days = 20 is looser than "
            "the floor 12 set by node 330000 (version 2); a node may only be stricter")

        # a stricter one is accepted
        fed.sections[COUNTY] = {"deadlines": {"resolve_working_days": 11}}
        county = await fed.start_node(COUNTY)
        assert floor_version(county) == 2
        assert rules_of(county).alarms() == []
        default = in_force(county, "deadlines.resolve_working_days")
        assert default["value"] == 11 and default["source"] == {"from": "config"}

        # through the admin path: looser refused (named, nothing changed), stricter accepted
        own = rules_of(county).effective(LEADER)["own"]
        with pytest.raises(RuleViolation) as looser:
            rules_of(county).change(_admin(), {**own, "per_channel": {
                "meeting": {"resolve_working_days": 11}}})
        assert looser.value.params == {
            "rule": "deadlines.per_channel.meeting.resolve_working_days", "value": 11,
            "floor": 10, "version": 2, "issuer": PROVINCE}
        assert rules_of(county).own()[1] is None
        changed = rules_of(county).change(_admin(), {**own, "revisit_share": 0.3})
        assert changed["own_source"] == {"from": "admin", "version": 1}
        assert county.node.services.revisits.share == 0.3  # type: ignore[union-attr]


def _admin() -> Any:
    from node.app.policy import Principal, Role

    return Principal(username="admin", role=Role.ADMIN, display_name="Admin")
