"""Mutual TLS between nodes over a real grpc.aio server on 127.0.0.1.

The server is a generic handler that answers with the caller's CN as grpc reports it
in the auth context, so each test shows both who got in and who did not. Every
refusal is followed by a control call from a good client on the same server, so
a failure is attributable to the one thing the test changed.

The server also carries the standard grpc health service, checked over mutual TLS
like any federation service. Tests are coroutines (pytest-asyncio, asyncio_mode=auto).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from federation.certs import (
    TlsMaterial,
    channel_options,
    ensure_federation_certs,
    load_tls,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SERVER, CLIENT, OTHER = "330500", "330522", "330521"
METHOD = "/zhitong.test.Whoami/Who"
TIMEOUT = 5


@dataclass(frozen=True)
class Federation:
    server: TlsMaterial  # 330500 湖州市
    client: TlsMaterial  # 330522 长兴县
    other: TlsMaterial  # 330521 德清县, same CA
    foreign: TlsMaterial  # 330522 again, but from another federation's CA


@pytest.fixture
def fed(tmp_path: Path) -> Federation:
    ours = ensure_federation_certs(tmp_path / "ours", [SERVER, CLIENT, OTHER], now=NOW)
    theirs = ensure_federation_certs(tmp_path / "theirs", [CLIENT], now=NOW)
    return Federation(
        server=load_tls(ours[SERVER], now=NOW),
        client=load_tls(ours[CLIENT], now=NOW),
        other=load_tls(ours[OTHER], now=NOW),
        foreign=load_tls(theirs[CLIENT], now=NOW),
    )


@dataclass
class Running:
    port: int
    seen: list[dict[str, list[bytes]]] = field(default_factory=list)


@asynccontextmanager
async def serve(tls: TlsMaterial) -> AsyncIterator[Running]:
    server = grpc.aio.server()
    running = Running(port=0)

    async def who(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        auth = {key: list(values) for key, values in context.auth_context().items()}
        running.seen.append(auth)
        return auth["x509_common_name"][0]

    # No (de)serializers: the handler sees and returns raw bytes.
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(who)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("zhitong.test.Whoami", {"Who": handler}),)
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    running.port = server.add_secure_port("127.0.0.1:0", tls.server_credentials())
    assert running.port > 0
    await server.start()
    try:
        yield running
    finally:
        await server.stop(None)


async def call(port: int, creds: grpc.ChannelCredentials, peer_code: str) -> bytes:
    """One RPC to the node at 127.0.0.1:`port`, verifying it is node `peer_code`."""
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{port}", creds, options=channel_options(peer_code)
    ) as channel:
        who: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        return await who(b"", timeout=TIMEOUT)


async def refused(port: int, creds: grpc.ChannelCredentials, peer_code: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call(port, creds, peer_code)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    return exc.value.details() or ""


async def test_same_ca_client_is_identified(fed: Federation) -> None:
    async with serve(fed.server) as srv:
        assert await call(srv.port, fed.client.channel_credentials(), SERVER) == b"330522"
        assert await call(srv.port, fed.other.channel_credentials(), SERVER) == b"330521"

    first = srv.seen[0]
    assert first["transport_security_type"] == [b"ssl"]
    assert first["x509_common_name"] == [b"330522"]
    assert first["x509_subject"] == [b"O=Zhitong,CN=330522"]
    assert b"node-330522" in first["x509_subject_alternative_name"]
    # The client sent the override as SNI.
    assert first["ssl_requested_server_name"] == [b"node-330500"]


async def test_client_from_a_foreign_ca_is_refused(fed: Federation) -> None:
    # The foreign client trusts our CA, so only the server's check can stop it.
    intruder = grpc.ssl_channel_credentials(
        root_certificates=fed.server.ca_pem,
        private_key=fed.foreign.key_pem,
        certificate_chain=fed.foreign.cert_pem,
    )

    async with serve(fed.server) as srv:
        await refused(srv.port, intruder, SERVER)
        assert srv.seen == []
        assert await call(srv.port, fed.client.channel_credentials(), SERVER) == b"330522"


async def test_client_without_a_certificate_is_refused(fed: Federation) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=fed.server.ca_pem)

    async with serve(fed.server) as srv:
        await refused(srv.port, anonymous, SERVER)
        assert srv.seen == []
        assert await call(srv.port, fed.client.channel_credentials(), SERVER) == b"330522"


async def test_client_refuses_a_server_with_the_wrong_name(fed: Federation) -> None:
    async with serve(fed.server) as srv:
        creds = fed.client.channel_credentials()
        # Expecting 330521 but reaching 330500: a valid cert from our CA, wrong node.
        details = await refused(srv.port, creds, OTHER)
        assert "Hostname Verification" in details or "node-330521" in details
        assert srv.seen == []
        assert await call(srv.port, creds, SERVER) == b"330522"


async def test_health_service_over_mutual_tls(fed: Federation) -> None:
    async with (
        serve(fed.server) as srv,
        grpc.aio.secure_channel(
            f"127.0.0.1:{srv.port}",
            fed.client.channel_credentials(),
            options=channel_options(SERVER),
        ) as channel,
    ):
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_client_refuses_a_server_from_a_foreign_ca(fed: Federation) -> None:
    async with serve(fed.foreign) as srv:
        details = await refused(srv.port, fed.client.channel_credentials(), CLIENT)
        # The client's own chain check failed (a server-side refusal reads "Socket closed").
        assert "CERTIFICATE_VERIFY_FAILED" in details
        assert srv.seen == []
