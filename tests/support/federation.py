"""A real local federation for tests and benchmarks: one node per unit, each with its own
SQLite file, certificates from one private CA, and gRPC with mutual TLS on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from federation.certs import TlsMaterial, channel_options, ensure_federation_certs, load_tls
from federation.sender import DrainResult
from federation.wire.v1 import federation_pb2_grpc as pb_grpc
from node.config import parse_config
from node.runtime import Federation, Node, build
from node.store.db import make_engine
from tests.support.clock import FakeClock
from tests.support.pg import free_port

UNITS = {
    "330000": ("浙江省", "province"),
    "330500": ("湖州市", "city"),
    "330522": ("长兴县", "county"),
    "330523": ("安吉县", "county"),
    "330100": ("杭州市", "city"),
    "330102": ("上城区", "county"),
}


def node_tree(code: str, parent: str | None, children: list[str], root: Path,
              ports: Mapping[str, int], **federation: Any) -> dict[str, Any]:
    name, level = UNITS[code]
    tree: dict[str, Any] = {
        "node": {"code": code, "name": name, "level": level, "parent": parent,
                 "children": children, "data_dir": str(root / code)},
        "federation": {
            "enabled": True, "grpc_port": ports[code], "tls_dir": str(root / "tls" / code),
            "children": {c: f"127.0.0.1:{ports[c]}" for c in children},
            "backoff_initial_s": 1, "backoff_max_s": 3600, "call_timeout_ms": 3000,
            "retry_attempts": 2, **federation,
        },
    }
    if parent is not None:
        tree["federation"]["parent_address"] = f"127.0.0.1:{ports[parent]}"
    return tree


@dataclass
class FedNode:
    code: str
    node: Node
    federation: Federation
    tls: TlsMaterial

    @property
    def issues(self) -> Any:
        return self.node.services.issues

    @property
    def transfers(self) -> Any:
        return self.node.transfers

    async def drain(self, destination: str) -> DrainResult:
        return await self.federation.senders[destination].drain_once()


def make_certs(root: Path, codes: list[str], clock: FakeClock) -> None:
    ensure_federation_certs(root / "tls", codes, now=clock.now())


@asynccontextmanager
async def federation(root: Path, topology: Mapping[str, str | None], clock: FakeClock,
                     *, start: tuple[str, ...] | None = None,
                     ports: Mapping[str, int] | None = None, **fed: Any
                     ) -> AsyncIterator[dict[str, FedNode]]:
    """Start the nodes of `topology` (code → parent) in this event loop; stop them after."""
    ports = ports or {code: free_port() for code in topology}
    make_certs(root, list(topology), clock)
    nodes: dict[str, FedNode] = {}
    try:
        for code in topology:
            if start is not None and code not in start:
                continue
            nodes[code] = await start_node(root, code, topology, ports, clock, **fed)
        yield nodes
    finally:
        for n in nodes.values():
            await n.federation.stop()
            n.node.engine.dispose()


async def start_node(root: Path, code: str, topology: Mapping[str, str | None],
                     ports: Mapping[str, int], clock: FakeClock, **fed: Any) -> FedNode:
    children = [c for c, p in topology.items() if p == code]
    config = parse_config(node_tree(code, topology[code], children, root, ports, **fed),
                          source=code, env={})
    engine = make_engine(f"sqlite:///{root / code / 'zhitong.sqlite3'}")
    node = build(config, clock=clock, engine=engine)
    tls = load_tls(config.tls_dir, now=clock.now())
    fed_rt = Federation(node, tls)
    await fed_rt.start()
    return FedNode(code=code, node=node, federation=fed_rt, tls=tls)


def stub_as(tls: TlsMaterial, address: str, peer: str) -> tuple[grpc.aio.Channel,
                                                                 pb_grpc.FederationStub]:
    channel = grpc.aio.secure_channel(address, tls.channel_credentials(),
                                      options=channel_options(peer))
    return channel, pb_grpc.FederationStub(channel)  # type: ignore[no-untyped-call]
