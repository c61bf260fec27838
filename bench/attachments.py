"""Attachment benchmark: upload MB/s and cross-tier fetch MB/s, next to a bare disk copy and
a bare gRPC stream of the same bytes, in the same run (under a minute).

    .venv/bin/python -m bench.attachments [--mib 16] [--repeat 3]

A real county and city in this process (tests/support/federation.py: SQLite files, gRPC
with mutual TLS on loopback, each node's HTTP server):

1. disk copy — the file copied to the county's data directory and fsynced (shutil), the
   floor of any store;
2. upload — `POST /api/v1/issues/{key}/attachments` at the county over HTTP (multipart,
   streamed from the file; parsed, hashed, type-checked, fsynced, renamed, recorded);
3. gRPC stream — the same bytes from memory over a FederationServicer that only streams
   256 KiB AttachmentChunks (no disk, no hash) on the county's certificate, read by the
   city's certificate: the transport's floor;
4. cross-tier fetch — `GET /api/v1/attachments/{id}` at the city for the county's issue
   (escalated, so the city holds the metadata), its cache emptied before each repeat: gRPC
   FetchAttachment from the county, verified against the SHA-256 into a temp file, renamed,
   then streamed to the HTTP client.

Every transfer is checked (the SHA-256 of what arrived); a mismatch prints FAIL, exit 1.
MB/s are MiB of the file per second of wall time, the median of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx

from federation import codec
from node.app.attachments import AttachmentService
from node.domain.lifecycle import Triage
from node.store.blobs import FsBlobStore
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, submit_cmd
from tests.support.federation import HOST, federation, stub_as

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500"}
PASSWORD = "bench-password-1"
MIB = 1024 * 1024


class BareStream(codec.FederationServicer):
    """FetchAttachment from memory: chunks only."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def FetchAttachment(self, request: Any, context: Any) -> AsyncIterator[Any]:
        step = codec.ATTACHMENT_CHUNK_BYTES
        for at in range(0, len(self.data), step):
            yield codec.attachment_chunk_to_pb(self.data[at:at + step],
                                               size=len(self.data) if at == 0 else 0)


async def timed(fn: Callable[[], Awaitable[str]], repeat: int, expected: str
                ) -> tuple[float, bool]:
    """The median seconds of `repeat` runs of `fn` (which returns the SHA-256 it moved)."""
    seconds, ok = [], True
    for _ in range(repeat):
        t = time.perf_counter()
        digest = await fn()
        seconds.append(time.perf_counter() - t)
        ok = ok and digest == expected
    return statistics.median(seconds), ok


async def token(client: httpx.AsyncClient, base: str, node: Any, principal: Any) -> str:
    await asyncio.to_thread(node.running.services.accounts.add, principal, PASSWORD)
    resp = await client.post(f"{base}/auth/login",
                             json={"username": principal.username, "password": PASSWORD})
    resp.raise_for_status()
    return str(resp.json()["access_token"])


async def run(mib: int, repeat: int) -> int:
    clock = FakeClock()
    with tempfile.TemporaryDirectory(prefix="zt-bench-att-") as tmp:
        root = Path(tmp)
        source = root / "photo.jpg"
        data = b"\xff\xd8\xff\xe0" + os.urandom(mib * MIB - 4)
        source.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        async with federation(root / "fed", TOPOLOGY, clock,
                              start=("330500", "330522")) as fed:
            county, city = fed["330522"], fed["330500"]
            county_api = f"http://{HOST}:{county.running.http_port}/api/v1"
            city_api = f"http://{HOST}:{city.running.http_port}/api/v1"
            async with httpx.AsyncClient(timeout=120) as client:
                ent = await token(client, county_api, county, ENTERPRISE_A)
                leader = await token(client, city_api, city, LEADER)

                # 1. disk copy
                target_dir = county.config.node.data_dir

                async def disk() -> str:
                    def copy() -> str:
                        target = target_dir / "copy.bin"
                        shutil.copyfile(source, target)
                        with open(target, "rb+") as f:
                            os.fsync(f.fileno())
                        target.unlink()
                        return sha
                    return await asyncio.to_thread(copy)

                # 2. upload (one issue per repeat: the per-issue limit)
                uploaded: list[dict[str, Any]] = []

                async def upload() -> str:
                    issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
                    with open(source, "rb") as f:
                        resp = await client.post(
                            f"{county_api}/issues/{issue.number}/attachments",
                            headers={"Authorization": f"Bearer {ent}"},
                            files={"file": ("现场照片.jpg", f, "image/jpeg")})
                    resp.raise_for_status()
                    uploaded.append({"issue": issue.id, **resp.json()})
                    return str(resp.json()["sha256"])

                # 3. bare gRPC stream over mutual TLS
                server = grpc.aio.server(options=[
                    ("grpc.max_send_message_length", 8 * MIB)])
                codec.add_federation_servicer(BareStream(data), server)  # type: ignore[no-untyped-call]
                port = server.add_secure_port(f"{HOST}:0", county.tls.server_credentials())
                await server.start()
                channel, stub = stub_as(city.tls, f"{HOST}:{port}", "330522")

                async def bare() -> str:
                    h = hashlib.sha256()
                    async for chunk in stub.FetchAttachment(
                            codec.attachment_request_to_pb(sha, "330522-x", "330500"),
                            timeout=60):
                        h.update(chunk.data)
                    return h.hexdigest()

                # 4. cross-tier fetch at the city (cache emptied before each)
                city_blobs = city.running.services.attachments
                assert isinstance(city_blobs, AttachmentService)
                blob_store = city_blobs.blobs
                assert isinstance(blob_store, FsBlobStore)

                async def fetch() -> str:
                    blob_store.path_of(sha).unlink(missing_ok=True)
                    h = hashlib.sha256()
                    async with client.stream(
                            "GET", f"{city_api}/attachments/{uploaded[0]['id']}",
                            headers={"Authorization": f"Bearer {leader}"}) as resp:
                        resp.raise_for_status()
                        async for part in resp.aiter_bytes(256 * 1024):
                            h.update(part)
                    return h.hexdigest()

                try:
                    rows = [("disk copy (shutil + fsync)", *await timed(disk, repeat, sha)),
                            ("upload, HTTP multipart at the county",
                             *await timed(upload, repeat, sha))]
                    first = uploaded[0]["issue"]
                    county.issues.act(LEADER, first, Triage(tags=("要素保障",)))
                    county.transfers.request_escalation(LEADER, first, "bench")
                    assert (await county.drain("330500")).delivered == 1
                    rows += [("bare gRPC stream (mTLS, memory)", *await timed(bare, repeat, sha)),
                             ("cross-tier fetch, GET at the city",
                              *await timed(fetch, repeat, sha))]
                finally:
                    await channel.close()
                    await server.stop(None)
    failed = False
    print(f"attachments: {mib} MiB file, median of {repeat} (machine: {os.cpu_count()} cores)")
    print(f"{'phase':42} {'seconds':>8} {'MB/s':>8}  check")
    for name, seconds, ok in rows:
        failed = failed or not ok
        print(f"{name:42} {seconds:8.3f} {mib / seconds:8.1f}  {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.mib, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
