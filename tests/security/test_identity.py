"""Node identity on the gRPC federation: who may call what, proved against real servers.

Every node is a real grpc.aio server with mutual TLS on loopback (tests/support/federation.py).
Each refusal is checked twice: the gRPC status code, and that the receiving node's store is
exactly as before (every table's row count and every issue row). Each test ends with the
legitimate call going through, so a refusal is attributable to the one thing that differs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from federation import codec
from federation.certs import (
    TlsMaterial,
    channel_options,
    create_ca,
    issue_node_cert,
    load_tls,
)
from node.domain.issue import State
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, LEADER, submit_cmd
from tests.support.db import all_rows, table_counts
from tests.support.federation import FedNode, federation
from tests.support.flows import build_request, submit_and_escalate

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}
CITY, COUNTY, SIBLING, PROVINCE = "330500", "330522", "330523", "330000"
STRANGER = "330102"  # 上城区, Hangzhou: a valid certificate from our CA, not in this subtree

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- helpers


def snapshot(node: FedNode) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """What a refused call must leave untouched: every table's size and every issue row."""
    return table_counts(node.node.engine), all_rows(node.node.engine, "issues")


def address(node: FedNode) -> str:
    return f"127.0.0.1:{node.federation.port}"


@asynccontextmanager
async def stub(creds: grpc.ChannelCredentials, target: FedNode
               ) -> AsyncIterator[codec.FederationStub]:
    """A Federation stub to `target` that verifies it really is `target`."""
    async with grpc.aio.secure_channel(address(target), creds,
                                       options=channel_options(target.code)) as channel:
        yield codec.FederationStub(channel)  # type: ignore[no-untyped-call]


async def refused(creds: grpc.ChannelCredentials, target: FedNode, rpc: str, request: Any
                  ) -> tuple[grpc.StatusCode, str]:
    """Call `rpc` and return the refusal's status and details; fail if it went through."""
    async with stub(creds, target) as s:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await getattr(s, rpc)(request, timeout=5)
    return info.value.code(), info.value.details() or ""


def creds(tls: TlsMaterial) -> grpc.ChannelCredentials:
    return tls.channel_credentials()


def stranger_tls(root: Path, clock: FakeClock, code: str = STRANGER) -> TlsMaterial:
    """A certificate from the federation's own CA for a node outside this topology."""
    issue_node_cert(root / "tls" / "ca", root / "tls" / code, node_code=code, now=clock.now())
    return load_tls(root / "tls" / code, now=clock.now())


Transfer = TypeVar("Transfer", codec.EscalateRequest, codec.ReturnRequest)


def as_caller(request: Transfer, code: str) -> Transfer:
    """The same transfer, re-labelled consistently as written and sent by `code`."""
    out = type(request)()
    out.CopyFrom(request)
    out.origin_node = code
    out.transfer.node = code
    return out


def return_request(city: FedNode, destination: str) -> codec.ReturnRequest:
    [item] = city.transfers.due(destination, 1)
    assert item.transfer is not None
    request = codec.transfer_to_pb(item.transfer)
    assert isinstance(request, codec.ReturnRequest)
    return request


def directive(caller: str, issue_key: str, kind: str = "supervise", **extra: str
              ) -> codec.DirectiveRequest:
    return codec.DirectiveRequest(transfer_id=f"forged-{caller}-{kind}", origin_node=caller,
                               issue_id=issue_key, kind=kind, note="请限期办结",
                               issued_by=caller, **extra)


def up_directive(caller: str, issue_key: str, kind: str = "enterprise_urge"
                 ) -> codec.DirectiveRequest:
    """An enterprise's urge or rating, forwarded up by the node it used."""
    extra = {"credit_code": CODE_A, **({"rating": "satisfied"} if kind == "rate" else {})}
    return directive(caller, issue_key, kind, **extra)


# --------------------------------------------------------------------------- Escalate


async def test_another_nodes_certificate_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, SIBLING)) as fed:
        county, sibling, city = fed[COUNTY], fed[SIBLING], fed[CITY]
        submit_and_escalate(county)
        request = build_request(county, CITY)
        before = snapshot(city)
        # 安吉县 presents its own (valid) certificate but the message claims 长兴县
        code, details = await refused(creds(sibling.tls), city, "Escalate", request)
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "certificate names 330523" in details
        assert snapshot(city) == before
        # the real county, with its own certificate, goes through
        assert (await county.drain(CITY)).delivered == 1


async def test_a_certificate_from_a_foreign_ca_cannot_connect(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        submit_and_escalate(county)
        request = build_request(county, CITY)
        # Another federation's CA issues a certificate with the very same name (330522).
        foreign_root = tmp_path / "foreign"
        create_ca(foreign_root / "ca", name="Another federation CA", now=clock.now())
        issue_node_cert(foreign_root / "ca", foreign_root / COUNTY, node_code=COUNTY,
                        now=clock.now())
        foreign = load_tls(foreign_root / COUNTY, now=clock.now())
        assert foreign.node_code == COUNTY and foreign.ca_pem != county.tls.ca_pem
        before = snapshot(city)
        # It trusts our CA, so only the server's verification of the client stands in the way.
        intruder = grpc.ssl_channel_credentials(root_certificates=county.tls.ca_pem,
                                                private_key=foreign.key_pem,
                                                certificate_chain=foreign.cert_pem)
        for rpc, msg in (("Escalate", request), ("Fetch", codec.FetchRequest(issue_id="x")),
                         ("Watermark", codec.WatermarkRequest())):
            code, _ = await refused(intruder, city, rpc, msg)
            assert code is grpc.StatusCode.UNAVAILABLE, rpc
        # Entirely foreign (it trusts only its own CA): no channel either way.
        code, _ = await refused(creds(foreign), city, "Escalate", request)
        assert code is grpc.StatusCode.UNAVAILABLE
        assert snapshot(city) == before
        assert (await county.drain(CITY)).delivered == 1


async def test_a_client_without_a_certificate_cannot_connect(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        submit_and_escalate(county)
        request = build_request(county, CITY)
        before = snapshot(city)
        anonymous = grpc.ssl_channel_credentials(root_certificates=county.tls.ca_pem)
        code, _ = await refused(anonymous, city, "Escalate", request)
        assert code is grpc.StatusCode.UNAVAILABLE
        # nor in plain text
        async with grpc.aio.insecure_channel(address(city)) as channel:
            plain = codec.FederationStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await plain.Escalate(request, timeout=5)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert snapshot(city) == before
        assert (await county.drain(CITY)).delivered == 1


async def test_a_node_that_is_not_a_child_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(PROVINCE, CITY, COUNTY)) as fed:
        county, city, province = fed[COUNTY], fed[CITY], fed[PROVINCE]
        submit_and_escalate(county)
        request = build_request(county, CITY)
        stranger = stranger_tls(tmp_path, clock)
        before = snapshot(city)
        # a valid certificate of our CA, for a unit of another city
        code, details = await refused(creds(stranger), city, "Escalate",
                                      as_caller(request, STRANGER))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "not a configured child" in details
        # the city's own parent is not its child either: escalation only goes up
        code, details = await refused(creds(province.tls), city, "Escalate",
                                      as_caller(request, PROVINCE))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(city) == before
        assert (await county.drain(CITY)).delivered == 1


async def test_an_issue_the_caller_does_not_own_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, SIBLING)) as fed:
        county, sibling, city = fed[COUNTY], fed[SIBLING], fed[CITY]
        issue_id = submit_and_escalate(county)
        request = build_request(county, CITY)
        before = snapshot(city)
        # 安吉县 sends 长兴县's issue under its own name, consistently labelled
        code, details = await refused(creds(sibling.tls), city, "Escalate",
                                      as_caller(request, SIBLING))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert f"does not own issue {issue_id}" in details
        # ... or rewrites the snapshot's owner: the history no longer folds to it
        forged = as_caller(request, SIBLING)
        forged.issue.owner = SIBLING
        code, _ = await refused(creds(sibling.tls), city, "Escalate", forged)
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert snapshot(city) == before
        # once the city holds the issue, a sibling cannot move or read it either
        assert (await county.drain(CITY)).delivered == 1
        after = snapshot(city)
        code, _ = await refused(creds(sibling.tls), city, "Fetch",
                                codec.FetchRequest(issue_id=issue_id))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        code, _ = await refused(creds(stranger_tls(tmp_path, clock)), city, "Fetch",
                                codec.FetchRequest(issue_id=issue_id))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(city) == after
        async with stub(creds(county.tls), city) as s:
            fetched = await s.Fetch(codec.FetchRequest(issue_id=issue_id), timeout=5)
        assert fetched.issue.owner == CITY


async def test_a_county_cannot_claim_a_number_of_another_unit(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, SIBLING)) as fed:
        county, sibling, city = fed[COUNTY], fed[SIBLING], fed[CITY]
        submit_and_escalate(sibling)
        forged = build_request(sibling, CITY)
        squatted = f"{COUNTY}-2026-000001"  # 长兴县's first number: sequential, predictable
        forged.issue.number = squatted
        first = json.loads(forged.history[0].payload_json)
        first["number"] = squatted
        forged.history[0].payload_json = json.dumps(first, ensure_ascii=False, sort_keys=True)
        before = snapshot(city)
        code, _ = await refused(creds(sibling.tls), city, "Escalate", forged)
        assert code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
        assert snapshot(city) == before
        submit_and_escalate(county)
        assert (await county.drain(CITY)).delivered == 1


# --------------------------------------------------------------------------- Return


async def test_return_from_a_non_parent_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, sibling, city, province = (fed[c] for c in (COUNTY, SIBLING, CITY, PROVINCE))
        issue_id = submit_and_escalate(county)
        assert (await county.drain(CITY)).delivered == 1
        city.transfers.request_return(LEADER, issue_id, "请县级继续办理")
        request = return_request(city, COUNTY)
        before = snapshot(county)
        # the province (the county's grandparent) and a sibling county, each as itself
        for who in (province, sibling):
            code, details = await refused(creds(who.tls), county, "Return",
                                          as_caller(request, who.code))
            assert code is grpc.StatusCode.PERMISSION_DENIED, who.code
            assert "not this node's parent" in details
        # a sibling that claims to be the parent
        code, details = await refused(creds(sibling.tls), county, "Return", request)
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "certificate names 330523" in details
        assert snapshot(county) == before
        held = county.issues.get(LEADER, issue_id).issue
        assert (held.owner, held.state) == (CITY, State.ESCALATED)
        # the real parent hands it back
        assert (await city.drain(COUNTY)).delivered == 1
        assert county.issues.get(LEADER, issue_id).issue.owner == COUNTY


# --------------------------------------------------------------------------- Direct


async def test_a_directive_from_a_non_parent_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, sibling, city, province = (fed[c] for c in (COUNTY, SIBLING, CITY, PROVINCE))
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        before = snapshot(county)
        stranger = stranger_tls(tmp_path, clock)
        # supervision and urges travel down only from the parent
        for who, tls in ((PROVINCE, province.tls), (SIBLING, sibling.tls),
                         (STRANGER, stranger)):
            for kind in ("supervise", "urge"):
                code, _ = await refused(creds(tls), county, "Direct",
                                        directive(who, issue.id, kind))
                assert code is grpc.StatusCode.PERMISSION_DENIED, (who, kind)
        # an enterprise's urge or rating travels up only from a child: not from the parent
        for kind in ("enterprise_urge", "rate"):
            code, _ = await refused(creds(city.tls), county, "Direct",
                                    up_directive(CITY, issue.id, kind))
            assert code is grpc.StatusCode.PERMISSION_DENIED, kind
        # a sibling claiming to be the parent
        code, details = await refused(creds(sibling.tls), county, "Direct",
                                      directive(CITY, issue.id))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "certificate names 330523" in details
        assert snapshot(county) == before
        # the parent may
        async with stub(creds(city.tls), county) as s:
            done = await s.Direct(directive(CITY, issue.id), timeout=5)
        assert (done.handled_by, done.forwarded) == (COUNTY, False)
        assert county.issues.get(LEADER, issue.id).issue.supervision_count == 1


async def test_a_county_cannot_forward_an_enterprise_action_on_another_countys_issue(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, SIBLING)) as fed:
        county, sibling, city = fed[COUNTY], fed[SIBLING], fed[CITY]
        issue_id = submit_and_escalate(county)
        assert (await county.drain(CITY)).delivered == 1
        number = city.issues.get(LEADER, issue_id).issue.number
        before = snapshot(city)
        code, _ = await refused(creds(sibling.tls), city, "Direct",
                                up_directive(SIBLING, number))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(city) == before


async def test_malformed_directives_are_invalid_argument(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        good = directive(CITY, issue.id)
        variants: dict[str, codec.DirectiveRequest] = {}
        for name, field, value in (
            ("unknown-kind", "kind", "delete"),
            ("nul-in-note", "note", "督办\x00"),
            ("escape-in-note", "note", "\x1b[31m"),
            ("note-too-long", "note", "长" * 1001),
            ("bad-issued-by", "issued_by", "'; DROP TABLE issues; --"),
            ("bad-transfer-id", "transfer_id", "x" * 65),
            ("non-ascii-issue-id", "issue_id", "诉求"),
        ):
            bad = codec.DirectiveRequest()
            bad.CopyFrom(good)
            setattr(bad, field, value)
            variants[name] = bad
        before = snapshot(county)
        for name, bad in variants.items():
            code, _ = await refused(creds(city.tls), county, "Direct", bad)
            assert code is grpc.StatusCode.INVALID_ARGUMENT, name
        assert snapshot(county) == before


# --------------------------------------------------------------------------- Watermark


async def test_watermark_from_a_non_child_is_permission_denied(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(PROVINCE, CITY, COUNTY)) as fed:
        county, city, province = fed[COUNTY], fed[CITY], fed[PROVINCE]
        before = snapshot(city)
        for tls in (province.tls, stranger_tls(tmp_path, clock)):
            code, details = await refused(creds(tls), city, "Watermark", codec.WatermarkRequest())
            assert code is grpc.StatusCode.PERMISSION_DENIED, tls.node_code
            assert "only a configured child" in details
        # a child passes the identity check (this harness runs no streams to answer it)
        code, _ = await refused(creds(county.tls), city, "Watermark", codec.WatermarkRequest())
        assert code is grpc.StatusCode.UNIMPLEMENTED
        assert snapshot(city) == before


# --------------------------------------------------------------------------- size, garbage


async def test_oversized_and_undecodable_requests_change_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        submit_and_escalate(county)
        good = build_request(county, CITY)
        before = snapshot(city)
        over_contract = codec.EscalateRequest()
        over_contract.CopyFrom(good)
        over_contract.issue.content = "长" * (2 * 1024 * 1024)  # ~6 MB: over the 4 MB contract
        code, details = await refused(creds(county.tls), city, "Escalate", over_contract)
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert "larger than" in details
        over_transport = codec.EscalateRequest()
        over_transport.CopyFrom(good)
        over_transport.issue.content = "x" * (17 * 1024 * 1024)  # over the 16 MB transport
        code, _ = await refused(creds(county.tls), city, "Escalate", over_transport)
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
        # bytes that are not an EscalateRequest at all: grpc's own deserializer refuses them
        # before the servicer runs (UNKNOWN, "Error parsing message ...")
        async with grpc.aio.secure_channel(address(city), creds(county.tls),
                                           options=channel_options(CITY)) as channel:
            raw: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/zhitong.v1.Federation/Escalate")
            for garbage in (b"\xff" * 64, b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x02\xff\xfe"):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await raw(garbage, timeout=5)
                assert info.value.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                             grpc.StatusCode.INVALID_ARGUMENT), garbage
                assert "pars" in (info.value.details() or "").lower(), garbage
        assert snapshot(city) == before
        assert (await county.drain(CITY)).delivered == 1


async def test_a_deeply_nested_payload_is_invalid_argument(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        submit_and_escalate(county)
        bad = build_request(county, CITY)
        bad.history[1].payload_json = "[" * 30_000 + "]" * 30_000  # 60 KB: under the limit
        before = snapshot(city)
        code, _ = await refused(creds(county.tls), city, "Escalate", bad)
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert snapshot(city) == before
