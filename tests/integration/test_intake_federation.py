"""A common issue (共性问题) with its channel's fields crosses the tiers intact: escalated
county → city over gRPC with mutual TLS (the snapshot is validated and compared with the fold
of its history there), returned back down, and replicated through the county's stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation import codec
from node.app.intake import IntakeEntry, IntakeService
from node.domain.channels import DEFAULT_CHANNELS
from node.domain.issue import Action, Channel, State, SubjectKind
from node.domain.lifecycle import Triage, Urge
from tests.support.clock import FakeClock
from tests.support.data import LEADER
from tests.support.federation import FedNode, federation, nats_federation
from tests.support.flows import build_request, replica_version
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500"}
FIELDS = (("meeting", "第12期政企恳谈会"), ("meeting_date", "2026-02-27"))


def common_issue(node: FedNode) -> str:
    intake = IntakeService(issues=node.issues, channels=DEFAULT_CHANNELS)
    issue, _ = intake.submit(LEADER, IntakeEntry(
        channel=Channel.MEETING, subject_kind=SubjectKind.PARK, name="德清经济开发区",
        title="园区道路破损", content="园区主干道多处破损，影响货车通行。",
        fields=dict(FIELDS)))
    node.issues.act(LEADER, issue.id, Triage(tags=("基础设施",)))
    return str(issue.id)


def check_common(node: FedNode, issue_id: str) -> None:
    issue = node.issues.get(LEADER, issue_id).issue
    assert (issue.subject_kind, issue.channel_fields) == (SubjectKind.PARK, FIELDS)
    assert (issue.enterprise.name, issue.enterprise.credit_code,
            issue.enterprise.contact_phone) == ("德清经济开发区", "", "")


async def test_a_common_issue_escalated_and_returned_keeps_its_fields(
        tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed["330522"], fed["330500"]
        issue_id = common_issue(county)
        county.transfers.request_escalation(LEADER, issue_id, "涉及市级道路")
        request = build_request(county, "330500")
        assert request.issue.subject_kind == "park"
        assert dict(request.issue.channel_fields) == dict(FIELDS)
        decoded = codec.transfer_from_pb(request, kind=Action.ESCALATE)
        assert decoded.issue.subject_kind is SubjectKind.PARK
        assert (await county.drain("330500")).delivered == 1
        at_city = city.issues.get(LEADER, issue_id).issue
        assert (at_city.owner, at_city.state, at_city.came_from) == (
            "330500", State.RECEIVED, "330522")
        check_common(city, issue_id)
        with pytest.raises(Exception, match="common_issue_enterprise_only"):
            city.issues.act(LEADER, issue_id, Urge())
        city.transfers.request_return(LEADER, issue_id, "请属地先行处理")
        assert (await city.drain("330522")).delivered == 1
        back = county.issues.get(LEADER, issue_id).issue
        assert (back.owner, back.state) == ("330522", State.RETURNED)
        check_common(county, issue_id)


async def test_a_common_issue_replicates_to_the_city_with_its_fields(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed["330522"], fed["330500"]
        issue_id = common_issue(county)
        await until(lambda: replica_version(city, issue_id) == 2, what="city replica v2")
        assert city.issues.get(LEADER, issue_id).issue == county.issues.get(
            LEADER, issue_id).issue
        check_common(city, issue_id)
