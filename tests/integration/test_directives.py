"""Supervision and urges from higher tiers travel down to the owner; a province-assigned
issue is dispatched down. Real gRPC servers with mutual TLS on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.domain.errors import Forbidden
from node.domain.issue import ActorKind, State
from node.domain.lifecycle import Triage
from tests.support.clock import FakeClock
from tests.support.data import STAFF, submit_cmd
from tests.support.federation import federation

LEADER = STAFF["leader"]
TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}


async def test_province_supervision_is_forwarded_down_and_recorded_once_by_the_owner(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed["330522"], fed["330500"], fed["330000"]
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        # the province knows the number only from a summary's overdue list
        province.transfers.request_directive(LEADER, issue.number, "supervise", "请限期办结")
        assert (await province.drain("330500")).delivered == 1  # the city forwards it
        assert (await city.drain("330522")).delivered == 1  # the county records it
        seen = county.issues.get(LEADER, issue.id)
        assert seen.issue.supervision_count == 1
        event = seen.timeline[-1].event
        assert (event.kind, event.actor.kind, event.actor.id) == (
            "supervise", ActorKind.NODE, "330000")
        assert event.payload["note"] == "请限期办结"
        # nothing more arrives, whatever is drained again
        assert (await province.drain("330500")).delivered == 0
        assert (await city.drain("330522")).delivered == 0
        assert county.issues.get(LEADER, issue.id).issue.supervision_count == 1


async def test_a_city_urges_a_county_issue(tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522", "330523")
                          ) as fed:
        county, city = fed["330522"], fed["330500"]
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        city.transfers.request_directive(LEADER, issue.number, "urge", "企业多次反映")
        assert (await city.drain("330522")).delivered == 1
        assert county.issues.get(LEADER, issue.id).issue.urge_count == 1
        # a unit outside the city's subtree is refused before anything is queued
        with pytest.raises(Forbidden):
            city.transfers.request_directive(LEADER, "330102-2026-000001", "urge", None)


async def test_a_province_assigned_issue_is_dispatched_down_to_a_city(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330000", "330500")) as fed:
        city, province = fed["330500"], fed["330000"]
        issue, _ = province.issues.submit(LEADER, submit_cmd(title="省领导交办：园区用地"))
        province.transfers.request_dispatch(LEADER, issue.id, "330500", "请湖州市牵头办理")
        assert (await province.drain("330500")).delivered == 1
        at_city = city.issues.get(LEADER, issue.id).issue
        assert (at_city.owner, at_city.state, at_city.origin) == (
            "330500", State.RETURNED, "330000")
        assert city.issues.act(LEADER, issue.id, Triage(tags=("省交办",))).state is State.TRIAGED
        assert province.issues.get(LEADER, issue.id).issue.owner == "330500"
