"""The configured rule: a red light plus N urges escalates automatically."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from node.domain.lifecycle import Triage, Urge
from node.runtime import auto_escalate
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, STAFF, submit_cmd
from tests.support.federation import federation
from tests.support.wait import until

LEADER = STAFF["leader"]


async def test_red_light_and_three_urges_escalate_and_reach_the_parent(
    tmp_path: Path, clock: FakeClock
) -> None:
    topology = {"330000": None, "330500": "330000", "330522": "330500"}
    async with federation(tmp_path, topology, clock, start=("330500", "330522"),
                          auto_escalate_after_urges=3) as fed:
        county, city = fed["330522"], fed["330500"]
        hot, _ = county.issues.submit(LEADER, submit_cmd(title="红灯且多次催办"))
        calm, _ = county.issues.submit(LEADER, submit_cmd(title="红灯但未催办"))
        fresh, _ = county.issues.submit(LEADER, submit_cmd(title="催办但未超期"))
        for issue in (hot, calm):
            county.issues.act(LEADER, issue.id, Triage(tags=()))
        county.issues.act(ENTERPRISE_A, fresh.id, Urge())
        assert county.issues.auto_escalation_candidates(1) == []  # nothing is red yet
        clock.advance(timedelta(days=10))  # past every dispatch deadline: all red
        county.issues.act(LEADER, fresh.id, Triage(tags=()))  # still red
        for _ in range(3):
            county.issues.act(ENTERPRISE_A, hot.id, Urge())
            county.issues.act(LEADER, calm.id, Urge())  # staff urges: unlimited, not counted
            clock.advance(timedelta(hours=25))  # the enterprise may urge once per 24 h
        county.issues.act(ENTERPRISE_A, fresh.id, Urge())
        assert county.issues.auto_escalation_candidates(3) == [hot.id]  # calm: staff only
        clock.advance(timedelta(hours=25))
        county.issues.act(ENTERPRISE_A, fresh.id, Urge())  # its third
        assert sorted(county.issues.auto_escalation_candidates(3)) == sorted([hot.id, fresh.id])

        stop = asyncio.Event()
        rule = asyncio.create_task(auto_escalate(county.node, stop, period_s=0.05))
        await until(lambda: county.transfers.outbox_status(timedelta(hours=1))[
            "destinations"].get("330500", {}).get("depth", 0) >= 2, timeout_s=10,
            interval_s=0.01, what="two escalations queued by the rule")
        stop.set()
        await rule
        assert (await county.drain("330500")).delivered == 2
        assert city.issues.get(LEADER, hot.id).issue.owner == "330500"
        assert county.issues.get(LEADER, calm.id).issue.owner == "330522"
        assert county.issues.auto_escalation_candidates(3) == []  # not twice


async def test_urges_made_below_do_not_count_again_above(
    tmp_path: Path, clock: FakeClock
) -> None:
    """An issue escalated with three urges turns red at the city: no new urge, no second
    escalation; three urges of the enterprise recorded at the city do count there."""
    topology = {"330000": None, "330500": "330000", "330522": "330500"}
    async with federation(tmp_path, topology, clock, start=("330500", "330522"),
                          auto_escalate_after_urges=3) as fed:
        county, city = fed["330522"], fed["330500"]
        issue, _ = county.issues.submit(LEADER, submit_cmd(title="县级催办三次后上报"))
        county.issues.act(LEADER, issue.id, Triage(tags=()))
        for _ in range(3):
            county.issues.act(ENTERPRISE_A, issue.id, Urge())
            clock.advance(timedelta(hours=25))
        county.transfers.request_escalation(LEADER, issue.id, "本级无法解决")
        assert (await county.drain("330500")).delivered == 1
        clock.advance(timedelta(days=10))  # red above too
        at_city = city.issues.get(LEADER, issue.id).issue
        assert at_city.urge_count == 3 and city.issues.light_of(at_city) is not None
        assert city.issues.auto_escalation_candidates(3) == []
        for _ in range(2):
            city.issues.act(ENTERPRISE_A, issue.id, Urge())
            city.issues.act(LEADER, issue.id, Urge())  # staff's: not counted
            clock.advance(timedelta(hours=25))
        assert city.issues.auto_escalation_candidates(3) == []  # two of the enterprise's
        city.issues.act(ENTERPRISE_A, issue.id, Urge())
        assert city.issues.auto_escalation_candidates(3) == [issue.id]
