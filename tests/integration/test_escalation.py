"""Escalation across tiers over gRPC with mutual TLS, on loopback, with real servers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import func, select

from federation import codec
from federation.certs import load_tls
from node.domain.errors import RuleViolation
from node.domain.issue import DeadlineKind, State
from node.domain.lifecycle import Assign, Start, Triage, Urge
from node.store.schema import issues, transfers_in
from tests.support.clock import FakeClock
from tests.support.data import LEADER
from tests.support.federation import FedNode, federation, stub_as
from tests.support.flows import build_request, submit_and_escalate

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}


def count_rows(node: FedNode, table: object) -> int:
    with node.node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


async def test_county_to_city_to_province_and_back(tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed["330522"], fed["330500"], fed["330000"]
        issue_id = submit_and_escalate(county)
        # pending: still owned and frozen at the county
        assert county.issues.get(LEADER, issue_id).issue.owner == "330522"
        with pytest.raises(RuleViolation, match="transfer"):
            county.issues.act(LEADER, issue_id, Urge())

        assert (await county.drain("330500")).delivered == 1
        at_county = county.issues.get(LEADER, issue_id)
        at_city = city.issues.get(LEADER, issue_id)
        assert (at_county.issue.state, at_county.issue.owner) == (State.ESCALATED, "330500")
        assert (at_city.issue.state, at_city.issue.owner) == (State.RECEIVED, "330500")
        assert at_city.issue.came_from == "330522"
        assert at_city.issue.number == at_county.issue.number  # the enterprise's receipt holds
        assert at_city.issue.deadline is not None
        assert at_city.issue.deadline.kind is DeadlineKind.DISPATCH
        # the city keeps the full history; both sides agree on the transfer event
        city_kinds = [e.event.kind for e in at_city.timeline]
        assert city_kinds == ["submitted", "triage", "escalate", "receive"]
        assert at_county.timeline[-1].event_id == at_city.timeline[2].event_id
        assert [e.event.version for e in at_city.timeline] == [1, 2, 3, 4]
        # the county can no longer change it: it is a read-only replica there
        with pytest.raises(Exception, match=r"replica_read_only.*330500"):
            county.issues.act(LEADER, issue_id, Triage(tags=("x",)))

        # the city works on it, then escalates to the province
        city.issues.act(LEADER, issue_id, Triage(tags=("要素保障", "跨区域")))
        city.transfers.request_escalation(LEADER, issue_id, "需要省级协调")
        assert (await city.drain("330000")).delivered == 1
        at_province = province.issues.get(LEADER, issue_id).issue
        assert (at_province.owner, at_province.came_from, at_province.state) == (
            "330000", "330500", State.RECEIVED)
        assert city.issues.get(LEADER, issue_id).issue.state is State.ESCALATED

        # the province returns it to the city with instructions
        province.transfers.request_return(LEADER, issue_id, "请市级牵头办理")
        assert (await province.drain("330500")).delivered == 1
        back = city.issues.get(LEADER, issue_id).issue
        assert (back.owner, back.state) == ("330500", State.RETURNED)
        assert province.issues.get(LEADER, issue_id).issue.owner == "330500"
        city.issues.act(LEADER, issue_id, Triage(tags=("要素保障",)))
        city.issues.act(LEADER, issue_id, Assign(department="自然资源局"))
        assert city.issues.act(LEADER, issue_id, Start()).state is State.IN_PROGRESS


async def test_the_same_escalate_five_times_creates_one_record(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522")) as fed:
        county, city = fed["330522"], fed["330500"]
        issue_id = submit_and_escalate(county)
        request = build_request(county, "330500")
        channel, stub = stub_as(county.tls, f"127.0.0.1:{city.federation.port}", "330500")
        async with channel:
            first = await stub.Escalate(request, timeout=5)
            again = await asyncio.gather(*(stub.Escalate(request, timeout=5) for _ in range(4)))
        assert not first.duplicate and all(r.duplicate for r in again)
        assert {(r.transfer_id, r.version, r.new_owner) for r in [first, *again]} == {
            (request.transfer_id, 4, "330500")}
        assert count_rows(city, issues) == 1 and count_rows(city, transfers_in) == 1
        assert len(city.issues.get(LEADER, issue_id).timeline) == 4
        # the county's sender then delivers the same transfer: still one record
        assert (await county.drain("330500")).delivered == 1
        assert count_rows(city, issues) == 1 and count_rows(city, transfers_in) == 1


async def test_a_parent_down_for_three_days_receives_everything_once_back(
    tmp_path: Path, clock: FakeClock
) -> None:
    # one try per call (no short retries): each simulated hour costs one fast failure
    async with federation(tmp_path, TOPOLOGY, clock, start=("330522",), retry_attempts=1
                          ) as fed:
        county = fed["330522"]
        ids = [submit_and_escalate(county) for _ in range(5)]
        sender = county.federation.senders["330500"]
        end = clock.now() + timedelta(days=3)
        attempts = 0
        while clock.now() < end:
            result = await sender.drain_once()
            if not result.waiting:
                attempts += 1
                assert result.failed == 5 and result.delivered == 0
            next_at = county.transfers.next_attempt_at("330500")
            assert next_at is not None
            # the persisted backoff is capped: never more than an hour away
            assert next_at - clock.now() <= timedelta(hours=1)
            clock.set(max(next_at, clock.now() + timedelta(seconds=1)))
        assert attempts > 50  # it kept trying for three days, at most an hour apart
        status = county.transfers.outbox_status(timedelta(hours=1))["destinations"]["330500"]
        assert status["depth"] == 5 and status["stuck"] and status["failures"] == attempts

    # the city comes back (same addresses): everything arrives exactly once
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522")) as fed:
        county, city = fed["330522"], fed["330500"]
        clock.advance(timedelta(hours=1, seconds=1))
        assert (await county.drain("330500")).delivered == 5
        assert count_rows(city, issues) == 5
        for issue_id in ids:
            assert county.issues.get(LEADER, issue_id).issue.owner == "330500"
            assert city.issues.get(LEADER, issue_id).issue.owner == "330500"
        assert county.transfers.next_attempt_at("330500") is None  # backoff reset


async def test_wrong_certificate_or_foreign_issue_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522", "330523")
                          ) as fed:
        county, other, city = fed["330522"], fed["330523"], fed["330500"]
        submit_and_escalate(county)
        request = build_request(county, "330500")
        address = f"127.0.0.1:{city.federation.port}"

        async def refused(tls_owner: FedNode, req: codec.EscalateRequest) -> grpc.StatusCode:
            channel, stub = stub_as(tls_owner.tls, address, "330500")
            async with channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Escalate(req, timeout=5)
            return info.value.code()

        # 安吉县 presents its own certificate but claims to be 长兴县
        assert await refused(other, request) is grpc.StatusCode.PERMISSION_DENIED
        # 安吉县 claims itself, but the issue belongs to 长兴县
        stolen = codec.EscalateRequest()
        stolen.CopyFrom(request)
        stolen.origin_node = "330523"
        stolen.transfer.node = "330523"
        assert await refused(other, stolen) is grpc.StatusCode.PERMISSION_DENIED
        assert count_rows(city, issues) == 0 and count_rows(city, transfers_in) == 0

        # a node that is not a configured child (杭州 上城区), with a valid certificate
        (tmp_path / "tls").mkdir(exist_ok=True)
        from federation.certs import issue_node_cert

        issue_node_cert(tmp_path / "tls" / "ca", tmp_path / "tls" / "330102",
                        node_code="330102", now=clock.now())
        stranger = load_tls(tmp_path / "tls" / "330102", now=clock.now())
        channel, stub = stub_as(stranger, address, "330500")
        foreign = codec.EscalateRequest()
        foreign.CopyFrom(request)
        foreign.origin_node = "330102"
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Escalate(foreign, timeout=5)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert count_rows(city, issues) == 0


async def test_malformed_or_oversized_messages_are_invalid_argument(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522")) as fed:
        county, city = fed["330522"], fed["330500"]
        submit_and_escalate(county)
        good = build_request(county, "330500")

        def variant(change: str) -> codec.EscalateRequest:
            bad = codec.EscalateRequest()
            bad.CopyFrom(good)
            if change == "credit-code":
                bad.issue.enterprise.credit_code = "91330522MA2AAAAA10"
            elif change == "snapshot-differs":
                bad.issue.title = "被篡改的标题"
            elif change == "history-gap":
                del bad.history[1]
            elif change == "oversized":
                bad.issue.content = "长" * (2 * 1024 * 1024)
            elif change == "payload-not-json":
                bad.history[1].payload_json = "{not json"
            elif change == "unknown-state":
                bad.issue.state = "vanished"
            elif change == "missing-issue":
                bad.ClearField("issue")
            elif change == "wrong-kind":
                bad.transfer.kind = "return"
            return bad

        channel, stub = stub_as(county.tls, f"127.0.0.1:{city.federation.port}", "330500")
        async with channel:
            for change in ("credit-code", "snapshot-differs", "history-gap", "oversized",
                           "payload-not-json", "unknown-state", "missing-issue", "wrong-kind"):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Escalate(variant(change), timeout=10)
                assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, change
                assert "invalid" in (info.value.details() or ""), change
        assert count_rows(city, issues) == 0 and count_rows(city, transfers_in) == 0
        # and the real one still goes through
        assert (await county.drain("330500")).delivered == 1


async def test_a_refusal_is_parked_and_unfreezes_the_issue(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330523")) as fed:
        county = fed["330523"]
        # an operator removed 安吉县 from the city's children: its escalations are refused
        fed["330500"].transfers.children = frozenset({"330522"})
        issue_id = submit_and_escalate(county)
        result = await county.drain("330500")
        assert (result.refused, result.delivered) == (1, 0)
        status = county.transfers.outbox_status(timedelta(hours=1))
        assert status["refused"][0]["issue_id"] == issue_id
        assert "PERMISSION_DENIED" in status["refused"][0]["error"]
        # unfrozen: the county keeps handling it
        assert county.issues.act(LEADER, issue_id, Urge()).owner == "330523"


async def test_health_and_reflection(tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522")) as fed:
        channel, _ = stub_as(fed["330522"].tls, f"127.0.0.1:{fed['330500'].federation.port}",
                             "330500")
        async with channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "zhitong.v1.Federation"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service),
                                           timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            names = [s.name async for r in responses for s in r.list_services_response.service]
        assert "zhitong.v1.Federation" in names and "grpc.health.v1.Health" in names
