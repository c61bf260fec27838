"""A local federation with event streams: one nats-server per node in the leaf topology
(TLS on leaf links, one JetStream domain each) and one node per unit with gRPC + streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats

from federation.certs import load_tls
from federation.nats.config import LeafTls, NatsServerSpec, node_user, write
from federation.nats.process import NatsServer
from federation.nats.streams import Place, ensure_streams
from node.config import parse_config
from node.domain.validation import division_level
from node.runtime import Federation, Node, Streams, build
from node.store.db import make_engine
from tests.support.clock import FakeClock
from tests.support.federation import make_certs, node_tree
from tests.support.pg import free_port

PASSWORD = "test-node-secret"
LEAF_PASSWORD = "test-leaf-secret"


async def until(predicate: Callable[[], bool], *, timeout_s: float = 30.0,
                what: str = "condition") -> None:
    """Wait for `predicate` with a deadline (polling; never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def delivered(sn: StreamNode, destination: str, *, timeout_s: float = 30.0) -> None:
    """Wait until `sn` has no transfer to `destination` left pending. Its sender runs and is
    woken by every transfer queued, so a test must not drain the outbox itself: the two
    would race for the same rows (harmless for the product — the peer's inbox takes each
    transfer once — but the test's own drain could then find nothing)."""
    def empty() -> bool:
        status = sn.transfers.outbox_status(timedelta(hours=1))
        depth: int = status["destinations"].get(destination, {}).get("depth", 0)
        return depth == 0 and not status["refused"]

    await until(empty, timeout_s=timeout_s, what=f"transfers to {destination} delivered")


@dataclass
class StreamNode:
    code: str
    node: Node
    federation: Federation
    streams: Streams
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def issues(self) -> Any:
        return self.node.services.issues

    @property
    def transfers(self) -> Any:
        return self.node.transfers


@dataclass
class NatsFederation:
    root: Path
    topology: Mapping[str, str | None]
    clock: FakeClock
    ports: dict[str, dict[str, int]]
    servers: dict[str, NatsServer] = field(default_factory=dict)
    nodes: dict[str, StreamNode] = field(default_factory=dict)

    def ancestors(self, code: str) -> tuple[str, ...]:
        out: list[str] = []
        parent = self.topology[code]
        while parent is not None:
            out.append(parent)
            parent = self.topology[parent]
        return tuple(out)

    def descendants(self, code: str) -> tuple[str, ...]:
        kids = [c for c, p in self.topology.items() if p == code]
        return tuple(d for c in kids for d in (c, *self.descendants(c)))

    def server_spec(self, code: str) -> NatsServerSpec:
        parent = self.topology[code]
        children = [c for c, p in self.topology.items() if p == code]
        d = self.root / "tls" / code
        tls = LeafTls(cert_file=d / "node.pem", key_file=d / "node.key", ca_file=d / "ca.pem")
        return NatsServerSpec(
            code=code, client_port=self.ports[code]["nats"],
            store_dir=self.root / "nats" / code, node_password=PASSWORD,
            ancestors=self.ancestors(code),
            leaf_port=self.ports[code]["leaf"] if children else None,
            leaf_children={c: LEAF_PASSWORD for c in children},
            leaf_subtrees={c: self.descendants(c) for c in children},
            full_children=division_level(code) != "province",
            parent_leaf_url=f"tls://127.0.0.1:{self.ports[parent]['leaf']}" if parent else None,
            parent_leaf_password=LEAF_PASSWORD if parent else None, tls=tls)

    def start_server(self, code: str) -> NatsServer:
        conf = write(self.server_spec(code), self.root / "nats" / f"{code}.conf")
        server = NatsServer(conf, host="127.0.0.1", port=self.ports[code]["nats"],
                            log=self.root / "nats" / f"{code}.log").start()
        self.servers[code] = server
        return server

    async def start_node(self, code: str) -> StreamNode:
        children = [c for c, p in self.topology.items() if p == code]
        grpc_ports = {c: p["grpc"] for c, p in self.ports.items()}
        tree = node_tree(code, self.topology[code], children, self.root, grpc_ports,
                         retry_attempts=1, backoff_initial_s=0.2, backoff_max_s=1)
        tree["nats"] = {"enabled": True, "url": f"nats://127.0.0.1:{self.ports[code]['nats']}",
                        "password": PASSWORD, "reconcile_every_s": 0.5}
        config = parse_config(tree, source=code, env={})
        engine = make_engine(f"sqlite:///{self.root / code / 'zhitong.sqlite3'}")
        node = build(config, clock=self.clock, engine=engine)
        streams_box: list[Streams] = []
        fed = Federation(node, load_tls(config.tls_dir, now=self.clock.now()),
                         watermark=lambda writer: streams_box[0].replicator.watermark(writer))
        await fed.start()
        streams = Streams(node, fed)
        streams_box.append(streams)
        js = await streams.connect()
        stop = asyncio.Event()

        async def run() -> None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(streams.run(js, stop))
                tg.create_task(fed.run_senders(stop))

        sn = StreamNode(code=code, node=node, federation=fed, streams=streams, stop=stop,
                        task=asyncio.create_task(run()))
        self.nodes[code] = sn
        return sn

    async def stop_node(self, code: str) -> None:
        sn = self.nodes.pop(code)
        sn.stop.set()
        with suppress(Exception):
            await asyncio.wait_for(sn.task, timeout=15)
        await sn.streams.close()
        await sn.federation.stop()
        sn.node.engine.dispose()


@asynccontextmanager
async def nats_federation(root: Path, topology: Mapping[str, str | None], clock: FakeClock,
                          *, ports: Mapping[str, dict[str, int]] | None = None,
                          own_streams_first: bool = False) -> AsyncIterator[NatsFederation]:
    """`own_streams_first`: start as `zhitong up` does (node/localfed.py create_streams):
    every node's own event log exists before any stream that sources it, which spares the
    sourcing streams nats-server's retry after a first "stream not found" (10-30 s)."""
    if ports is None:
        ports = {c: {"nats": free_port(), "leaf": free_port(), "grpc": free_port()}
                 for c in topology}
    make_certs(root, list(topology), clock)
    fed = NatsFederation(root=root, topology=topology, clock=clock, ports=dict(ports))
    try:
        for code in topology:  # parents first: the topology lists them first
            fed.start_server(code)
        if own_streams_first:
            for code in topology:
                nc = await nats.connect(fed.servers[code].url, user=node_user(code),
                                        password=PASSWORD, connect_timeout=5)
                try:
                    await ensure_streams(nc.jetstream(), Place(
                        code=code, ancestors=(), children=(), subtree=(code,)), own_only=True)
                finally:
                    await nc.close()
        for code in topology:
            await fed.start_node(code)
        yield fed
    finally:
        for code in list(fed.nodes):
            await fed.stop_node(code)
        for server in fed.servers.values():
            server.stop()
