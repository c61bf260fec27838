"""Attachments across tiers: the metadata travels with the events (here: an escalation's
history), the bytes are fetched on demand over gRPC with mutual TLS (FetchAttachment),
verified against the hash and cached; a cut transfer leaves nothing; the province gets a
file only of an issue it owns. Real nodes on loopback (tests/support/federation.py), each
with its HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from federation import codec
from federation.failures import CODE_KEY
from node.app.attachments import AttachmentService
from node.app.policy import Principal
from node.domain.lifecycle import Triage
from node.store.blobs import FsBlobStore
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, ENTERPRISE_A, LEADER, STAFF, submit_cmd
from tests.support.federation import (
    HOST,
    FedNode,
    Harness,
    delivered,
    federation,
    nats_federation,
    stub_as,
)
from tests.support.flows import replica_version
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500"}
PASSWORD = "password123"


def attachments_of(node: FedNode) -> AttachmentService:
    found = node.running.services.attachments
    assert found is not None
    return found


def blobs(node: FedNode) -> FsBlobStore:
    store = attachments_of(node).blobs
    assert isinstance(store, FsBlobStore)
    return store


class Http:
    """One node's HTTP API with logged-in accounts."""

    def __init__(self, node: FedNode) -> None:
        self.base = f"http://{HOST}:{node.running.http_port}/api/v1"
        self.client = httpx.AsyncClient(timeout=30)
        self.tokens: dict[str, str] = {}
        self.node = node

    async def login(self, *principals: Principal) -> None:
        for principal in principals:
            await asyncio.to_thread(self.node.running.services.accounts.add, principal,
                                    PASSWORD)
            resp = await self.client.post(f"{self.base}/auth/login", json={
                "username": principal.username, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            self.tokens[principal.username] = resp.json()["access_token"]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, who: str, path: str) -> httpx.Response:
        return await self.client.get(f"{self.base}{path}", headers=self.auth(who))


async def county_issue_with_photo(county: FedNode, http: Http, data: bytes) -> tuple[str, Any]:
    """An enterprise's issue at the county with a photo it attached, triaged."""
    issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
    resp = await http.client.post(f"{http.base}/issues/{issue.number}/attachments",
                                  headers=http.auth(CODE_A),
                                  files={"file": ("道路照片.jpg", data, "image/jpeg")})
    assert resp.status_code == 201, resp.text
    county.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
    return issue.id, resp.json()


def photo_bytes(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + os.urandom(size)


async def test_a_county_photo_is_opened_at_the_city_and_the_province_that_own_it(
        tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed["330522"], fed["330500"], fed["330000"]
        at_county, at_city, at_province = Http(county), Http(city), Http(province)
        try:
            await at_county.login(ENTERPRISE_A, LEADER)
            await at_city.login(LEADER, STAFF["viewer"])
            await at_province.login(LEADER)
            data = photo_bytes(1_500_000)  # several chunks
            issue_id, meta = await county_issue_with_photo(county, at_county, data)

            county.transfers.request_escalation(LEADER, issue_id, "需要市级协调")
            assert (await county.drain("330500")).delivered == 1
            # the city owns it now: it knows the file from the history, not its bytes
            listed = (await at_city.get("leader", f"/issues/{issue_id}/attachments")).json()
            assert [a["sha256"] for a in listed["items"]] == [meta["sha256"]]
            assert listed["items"][0]["origin"] == "330522"
            assert not blobs(city).exists(meta["sha256"])

            got = await at_city.get("leader", f"/attachments/{meta['id']}")
            assert got.status_code == 200, got.text
            assert got.content == data  # byte-identical, fetched from the county
            assert hashlib.sha256(got.content).hexdigest() == meta["sha256"]
            assert blobs(city).exists(meta["sha256"])  # and cached
            assert blobs(city).temp_files() == []
            # refused to a viewer at the city
            assert (await at_city.get("viewer", f"/attachments/{meta['id']}")).status_code == 403

            # the province owns it after a second escalation: it fetches through the city,
            # which relays it from the county (its cached copy removed first)
            city.transfers.request_escalation(LEADER, issue_id, "需要省级协调")
            assert (await city.drain("330000")).delivered == 1
            blobs(city).path_of(meta["sha256"]).unlink()
            again = await at_province.get("leader", f"/attachments/{meta['id']}")
            assert again.status_code == 200, again.text
            assert again.content == data
            assert blobs(city).exists(meta["sha256"]) and blobs(province).exists(meta["sha256"])
        finally:
            for http in (at_county, at_city, at_province):
                await http.client.aclose()


async def test_the_city_opens_a_photo_of_its_replica_of_a_county_issue(
        tmp_path: Path, clock: FakeClock) -> None:
    """The everyday case: the county keeps its issue, the city's replica (over NATS) has
    the attachment's metadata, and the city's staff open the photo — fetched from the
    county on demand, byte-identical, then cached."""
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed["330522"], fed["330500"], fed["330000"]
        at_county, at_city = Http(county), Http(city)
        try:
            await at_county.login(ENTERPRISE_A)
            await at_city.login(LEADER)
            data = photo_bytes(700_000)
            issue_id, meta = await county_issue_with_photo(county, at_county, data)
            version = county.issues.get(LEADER, issue_id).issue.version
            await until(lambda: replica_version(city, issue_id) == version,
                        what="the city's replica in step")
            assert city.issues.get(LEADER, issue_id).issue.owner == "330522"
            assert not blobs(city).exists(meta["sha256"])
            got = await at_city.get("leader", f"/attachments/{meta['id']}")
            assert got.status_code == 200, got.text
            assert got.content == data
            assert blobs(city).exists(meta["sha256"])
            # the province holds no replica (summaries only): neither row nor bytes
            assert replica_version(province, issue_id) == 0
            assert not blobs(province).exists(meta["sha256"])
        finally:
            for http in (at_county, at_city):
                await http.client.aclose()


async def test_the_province_gets_no_file_of_an_issue_it_does_not_own(
        tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed["330522"], fed["330500"], fed["330000"]
        at_county = Http(county)
        try:
            await at_county.login(ENTERPRISE_A)
            issue_id, meta = await county_issue_with_photo(county, at_county,
                                                           photo_bytes(10_000))
            county.transfers.request_escalation(LEADER, issue_id, "需要市级协调")
            assert (await county.drain("330500")).delivered == 1
            # the city owns it; the province asks the city for its bytes: refused
            channel, stub = stub_as(province.tls, city.grpc_address, "330500")
            async with channel:
                call = stub.FetchAttachment(codec.attachment_request_to_pb(
                    meta["sha256"], issue_id, "330000"), timeout=5)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    async for _ in call:
                        pass
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
            trailing = dict(refused.value.trailing_metadata() or ())
            assert trailing[CODE_KEY] == "attachment_fetch_refused"
            # and the city itself may fetch from the county (its child, the origin)
            channel, stub = stub_as(city.tls, county.grpc_address, "330522")
            async with channel:
                chunks = [c.data async for c in stub.FetchAttachment(
                    codec.attachment_request_to_pb(meta["sha256"], issue_id, "330500"),
                    timeout=5)]
            assert hashlib.sha256(b"".join(chunks)).hexdigest() == meta["sha256"]
        finally:
            await at_county.client.aclose()


class CutServicer(codec.FederationServicer):
    """A county that sends the first chunk of a file and then dies (`mode` "stop": its
    server stops mid-transfer) or ends the stream early ("short": a clean end, too few
    bytes)."""

    def __init__(self, data: bytes, mode: str) -> None:
        self.data = data
        self.mode = mode
        self.server: grpc.aio.Server | None = None
        self.sent = asyncio.Event()
        self.stopping: asyncio.Task[None] | None = None

    def begin_stop(self) -> asyncio.Task[None]:
        """Stop the server once, whoever asks first. The stop runs in its own task: a
        handler that awaited it would be cancelled by the very shutdown it started, and
        that cancelled shutdown then failed every later stop."""
        assert self.server is not None
        if self.stopping is None:
            self.stopping = asyncio.get_running_loop().create_task(self.server.stop(None))
        return self.stopping

    async def stop(self) -> None:
        await asyncio.shield(self.begin_stop())

    async def FetchAttachment(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield codec.attachment_chunk_to_pb(self.data[:200_000], size=len(self.data),
                                           content_type="image/jpeg")
        self.sent.set()
        if self.mode == "short":
            return
        assert self.server is not None
        self.begin_stop()  # the owner killed mid-transfer: the shutdown cancels this handler
        await asyncio.Event().wait()


async def cut_county(fed: Harness, data: bytes, mode: str) -> CutServicer:
    """The cut county's server, started and made the city's peer (`servicer.server`)."""
    servicer = CutServicer(data, mode)
    server = grpc.aio.server()
    codec.add_federation_servicer(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_secure_port(f"{HOST}:0", fed["330522"].tls.server_credentials())
    servicer.server = server
    await server.start()
    await fed["330500"].federation.add_peer("330522", f"{HOST}:{port}")
    return servicer


@pytest.mark.parametrize("mode", ["stop", "short"])
async def test_a_transfer_cut_mid_stream_leaves_no_file_at_the_city(
        tmp_path: Path, clock: FakeClock, mode: str) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=("330500", "330522")) as fed:
        county, city = fed["330522"], fed["330500"]
        at_county, at_city = Http(county), Http(city)
        servicer = None
        try:
            await at_county.login(ENTERPRISE_A)
            await at_city.login(LEADER)
            data = photo_bytes(1_000_000)
            issue_id, meta = await county_issue_with_photo(county, at_county, data)
            county.transfers.request_escalation(LEADER, issue_id, "需要市级协调")
            assert (await county.drain("330500")).delivered == 1

            servicer = await cut_county(fed, data, mode)
            resp = await at_city.get("leader", f"/attachments/{meta['id']}")
            assert servicer.sent.is_set()  # the transfer had started
            assert resp.status_code in (502, 503), resp.text
            assert resp.json()["error"]["code"] in ("attachment_unavailable",
                                                    "attachment_hash_mismatch")
            assert not blobs(city).exists(meta["sha256"])
            assert blobs(city).temp_files() == []  # no partial file anywhere
            assert blobs(city).blob_count() == 0

            # the county back (its real server): the same download now succeeds
            await servicer.stop()
            await city.federation.add_peer("330522", county.grpc_address)
            ok = await at_city.get("leader", f"/attachments/{meta['id']}")
            assert ok.status_code == 200 and ok.content == data
        finally:
            if servicer is not None:
                await servicer.stop()
            for http in (at_county, at_city):
                await http.client.aclose()


async def test_an_enterprise_attaches_to_its_escalated_issue_and_the_city_opens_the_file(
        tmp_path: Path, clock: FakeClock) -> None:
    """After the escalation the county holds a read-only replica; the enterprise still
    attaches there: the bytes stay at the county (the file's origin), the metadata goes up
    as a forwarded transfer, the city records the attachment once and opens the file from
    the county; the record comes back down, so the county lists it to the enterprise."""
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed["330522"], fed["330500"]
        at_county, at_city = Http(county), Http(city)
        try:
            await at_county.login(ENTERPRISE_A, LEADER)
            await at_city.login(LEADER)
            issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
            county.transfers.request_escalation(LEADER, issue.id, "需要市级协调")
            await delivered(county, "330500")
            assert city.issues.get(LEADER, issue.id).issue.owner == "330500"

            data = photo_bytes(700_000)
            url = f"{at_county.base}/issues/{issue.number}/attachments"
            # county staff may not write to the replica; the enterprise's file goes up
            refused = await at_county.client.post(url, headers=at_county.auth("leader"),
                                                  files={"file": ("x.jpg", data)})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["details"] == {"owner": "330500"}
            resp = await at_county.client.post(url, headers=at_county.auth(CODE_A),
                                               files={"file": ("补充照片.jpg", data)})
            assert resp.status_code == 202, resp.text
            meta = resp.json()
            assert meta["transfer_id"] and meta["origin"] == "330522"
            assert meta["sha256"] == hashlib.sha256(data).hexdigest()
            await delivered(county, "330500")

            listed = (await at_city.get("leader", f"/issues/{issue.id}/attachments")).json()
            assert [(a["id"], a["uploader_kind"], a["origin"]) for a in listed["items"]] == [
                (meta["id"], "enterprise", "330522")]
            assert not blobs(city).exists(meta["sha256"])
            got = await at_city.get("leader", f"/attachments/{meta['id']}")
            assert got.status_code == 200, got.text
            assert got.content == data  # fetched from the county, verified, cached
            assert blobs(city).exists(meta["sha256"])

            async def listed_at_county() -> bool:
                found = await at_county.get(CODE_A, f"/issues/{issue.number}/attachments")
                return [a["id"] for a in found.json()["items"]] == [meta["id"]]

            await until(listed_at_county, timeout_s=60, what="the record back at the county")
            mine = await at_county.get(CODE_A, f"/attachments/{meta['id']}")
            assert mine.status_code == 200 and mine.content == data
            history = city.issues.get(LEADER, issue.id).timeline
            assert [e.event.kind for e in history].count("attachment_added") == 1
            # the county's copy is referenced: a sweep keeps it
            assert attachments_of(county).sweep_unreferenced(timedelta(0)) == 0
            assert blobs(county).exists(meta["sha256"])
        finally:
            for http in (at_county, at_city):
                await http.client.aclose()
