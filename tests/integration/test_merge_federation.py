"""并单 across tiers over a real federation (nats-servers, gRPC with mutual TLS): a county
merges duplicates, escalates the master, the city answers it — and the county's followers,
still the county's own issues, are answered too (their enterprises told and able to rate),
once; a follower whose master's answer was committed while nothing passed it on (a crash
in between) is answered by the sweep, once however often it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from node.app.merges import MergeService
from node.domain.issue import Rating, State
from node.domain.lifecycle import Assign, Rate, Resolve, Start, Triage
from node.store.schema import notifications
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, ENTERPRISE_A, ENTERPRISE_B, LEADER, submit_cmd
from tests.support.federation import FedNode, delivered, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}
REPLY = "已协调市供电公司，本周完成现场勘查。"

NOTIFY = {COUNTY: {"notify": {"enabled": True}}}  # the county tells its enterprises

pytestmark = pytest.mark.timeout(300)


def merges(node: FedNode) -> MergeService:
    streams = node.node.streams
    assert streams is not None
    return streams.merges


def resolved_notices(node: FedNode, issue_id: str) -> int:
    with node.node.engine.connect() as conn:
        return len(conn.execute(select(notifications.c.id).where(
            notifications.c.issue_id == issue_id,
            notifications.c.topic == "resolved")).all())


def merged_pair(county: FedNode, title: str) -> tuple[str, str]:
    """(master, follower): two enterprises' issues at the county, merged, the master
    escalated to the city."""
    master, _ = county.issues.submit(ENTERPRISE_A, submit_cmd(CODE_A, title=title))
    follower, _ = county.issues.submit(ENTERPRISE_B, submit_cmd(CODE_B, title=title))
    merges(county).merge(LEADER, master.id, [follower.id])
    county.transfers.request_escalation(LEADER, master.id, "涉及市级部门")
    return master.id, follower.id


def answer_at_city(city: FedNode, master_id: str) -> int:
    for cmd in (Triage(tags=("要素保障",)), Assign(department="市发改委"), Start()):
        city.issues.act(LEADER, master_id, cmd)
    return city.issues.act(LEADER, master_id, Resolve(reply=REPLY)).version


async def test_an_escalated_masters_answer_reaches_its_followers_at_the_county(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock, sections=NOTIFY) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        master, follower = merged_pair(county, "厂区用电报装进度缓慢")
        await delivered(county, CITY)
        assert city.issues.get(LEADER, master).issue.owner == CITY
        version = answer_at_city(city, master)

        def answered() -> bool:
            return county.issues.get(LEADER, follower).issue.state is State.RESOLVED

        await until(answered, timeout_s=60, what="the follower answered at the county")
        assert replica_version(county, master) == version
        seen = county.issues.get(ENTERPRISE_B, follower)
        assert (seen.issue.reply, seen.issue.owner) == (REPLY, COUNTY)
        assert seen.timeline[-1].event.kind == "merged_reply"
        assert seen.timeline[-1].event.payload["master"] == master
        assert resolved_notices(county, follower) == 1  # its enterprise is told, once
        assert resolved_notices(county, master) == 1  # and the master's, at its home
        # the answer is idempotent: passing the same events on again writes nothing
        assert merges(county).answer_followers([master]) == 0
        assert merges(county).answer_pending() == 0
        # the follower's enterprise rates its own issue, at its county
        rated = county.issues.act(ENTERPRISE_B, follower, Rate(rating=Rating.SATISFIED))
        assert (rated.state, rated.rating) == (State.CLOSED, Rating.SATISFIED)
        # and the city's replica of the follower follows
        await until(lambda: replica_version(city, follower) == rated.version, timeout_s=60,
                    what="the follower's answer and rating replicated to the city")
        assert resolved_notices(county, follower) == 1


async def test_a_follower_missed_by_a_crash_is_answered_by_the_sweep_once(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock, sections=NOTIFY) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        # the node's own sweep at start has run: from here on only this test's does
        await until(lambda: merges(county).sweeps >= 1, timeout_s=30, what="the first sweep")
        master, follower = merged_pair(county, "园区道路破损影响货运")
        await delivered(county, CITY)
        # as if the node died between committing the master's answer and passing it on
        county.streams.replicator.replica.listeners = ()
        version = answer_at_city(city, master)
        await until(lambda: replica_version(county, master) == version, timeout_s=60,
                    what="the master's answer replicated to the county")
        still = county.issues.get(LEADER, follower).issue
        assert (still.state, still.outcome) == (State.CLOSED, "merged")
        assert resolved_notices(county, follower) == 0

        assert merges(county).answer_pending() == 1
        assert merges(county).answer_pending() == 0  # once, however often the sweep runs
        after = county.issues.get(LEADER, follower).issue
        assert (after.state, after.reply) == (State.RESOLVED, REPLY)
        assert resolved_notices(county, follower) == 1
