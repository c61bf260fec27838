"""A real local federation in this process, for tests and benchmarks: one node per unit,
each with its own SQLite file, certificates from one private CA, gRPC with mutual TLS on
loopback and — with NATS — one nats-server per unit (tests/support/brokers.py).

Every node runs through the one composition root, `node.runtime.running()`, in a task of
its own (`Harness.start_node` / `stop_node`), so a test can stop and restart nodes. Ports
come from the OS: nodes start parents first, each child's configuration gets the address
its parent bound, and a parent learns a child's address when the child is up
(`Federation.add_peer`). A unit whose address is needed before it ever ran (a child
started without its parent) gets a placeholder: a bound socket that never listens, so
calls to it are refused and no other process takes the port; the unit binds that port
when it starts. A restarted node takes the ports it had.

* `federation(...)` — gRPC only; the outbox senders do not run by themselves (a test
  drains them: `FedNode.drain`), unless `senders=True`.
* `nats_federation(...)` — with NATS: servers, then every unit's streams (own logs first,
  the sourcing streams after: the fast path; `prepare_streams=False` leaves that to the
  nodes), then the nodes, whose senders run.

`link` (the fault suite's proxies) is asked once per child and link kind ("grpc" or
"leaf") for the address the child should dial instead of its parent's own.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import grpc

from federation import codec
from federation.certs import TlsMaterial, channel_options, ensure_federation_certs
from federation.nats.process import NatsServer
from federation.sender import DrainResult
from node.app.ports import Clock
from node.app.probes import NO_PROBE, Probe
from node.app.service import IssueService
from node.app.transfers import TransferService
from node.config import Config, parse_config
from node.domain.topology import Topology
from node.localfed import divisions
from node.runtime import Federation, Node, Running, Streams, running
from node.store.db import make_engine
from tests.support.brokers import PASSWORD, Brokers
from tests.support.wait import until

HOST = "127.0.0.1"
Link = Literal["grpc", "leaf"]
LinkHook = Callable[[str, Link, str], Awaitable[str]]

#: the tuning every harness node gets (seconds are short, tests wait on conditions)
GRPC_DEFAULTS: dict[str, Any] = {"backoff_initial_s": 1, "backoff_max_s": 3600,
                                 "call_timeout_ms": 3000, "retry_attempts": 2}
NATS_DEFAULTS: dict[str, Any] = {"retry_attempts": 1, "backoff_initial_s": 0.2,
                                 "backoff_max_s": 1}


@functools.cache
def unit_names() -> dict[str, str]:
    return {code: unit.name for code, unit in divisions().items()}


def node_tree(code: str, topology: Topology, root: Path, *, grpc_port: int,
              addresses: Mapping[str, str], nats_url: str | None = None,
              **federation: Any) -> dict[str, Any]:
    """The configuration of `code`'s node: peers at `addresses` (those known), its files
    under `root`, NATS at `nats_url` if given; `federation` settings on top."""
    parent = topology.parent(code)
    children = topology.children(code)
    tree: dict[str, Any] = {
        "node": {"code": code, "name": unit_names()[code], "level": topology.level(code),
                 "parent": parent, "children": list(children),
                 "data_dir": str(root / code)},
        "http": {"port": 0},
        "federation": {
            "enabled": True, "grpc_port": grpc_port, "tls_dir": str(root / "tls" / code),
            "children": {c: addresses[c] for c in children if c in addresses},
            **GRPC_DEFAULTS, **federation,
        },
    }
    if parent is not None:
        tree["federation"]["parent_address"] = addresses[parent]
    if nats_url is not None:
        tree["nats"] = {"enabled": True, "url": nats_url, "password": PASSWORD,
                        "reconcile_every_s": 0.5, "publish_poll_s": 2,
                        "fetch_wait_s": 5, "fetch_heartbeat_s": 2, "summary_poll_s": 2}
    return tree


def make_certs(root: Path, codes: list[str], clock: Clock) -> None:
    ensure_federation_certs(root / "tls", codes, now=clock.now())


@dataclass
class FedNode:
    """One running node of the harness."""

    code: str
    running: Running
    task: asyncio.Task[None]
    _stop: asyncio.Event

    @property
    def node(self) -> Node:
        return self.running.node

    @property
    def config(self) -> Config:
        return self.running.config

    @property
    def issues(self) -> IssueService:
        return self.running.issues

    @property
    def transfers(self) -> TransferService:
        return self.running.transfers

    @property
    def federation(self) -> Federation:
        federation = self.running.federation
        assert federation is not None
        return federation

    @property
    def streams(self) -> Streams:
        streams = self.running.streams
        assert streams is not None, f"node {self.code} runs without NATS"
        return streams

    @property
    def tls(self) -> TlsMaterial:
        tls = self.federation.tls
        assert tls is not None
        return tls

    @property
    def grpc_address(self) -> str:
        return f"{HOST}:{self.federation.port}"

    async def drain(self, destination: str) -> DrainResult:
        return await self.federation.senders[destination].drain_once()


@dataclass
class Harness:
    root: Path
    topology: Topology
    clock: Clock
    brokers: Brokers | None = None
    senders: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # federation settings
    link: LinkHook | None = None
    #: units run elsewhere (their gRPC address)
    external: dict[str, str] = field(default_factory=dict)
    #: per unit, where its node reports stage timings (node/app/probes.py; the benches)
    probes: dict[str, Probe] = field(default_factory=dict)
    nodes: dict[str, FedNode] = field(default_factory=dict)
    #: per unit, configuration sections on top of the harness's (e.g. `floors`, `deadlines`)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    grpc_ports: dict[str, int] = field(default_factory=dict)  # bound once, kept
    routes: dict[tuple[str, Link], str] = field(default_factory=dict)
    _placeholders: dict[str, socket.socket] = field(default_factory=dict)

    def __getitem__(self, code: str) -> FedNode:
        return self.nodes[code]

    # ------------------------------------------------------------------ addresses

    def grpc_address(self, code: str) -> str:
        """Where `code`'s gRPC server is (or will be: a placeholder until it starts)."""
        if code in self.external:
            return self.external[code]
        if code not in self.grpc_ports:
            sock = socket.socket()
            sock.bind((HOST, 0))  # bound, never listening: calls are refused meanwhile
            self._placeholders[code] = sock
            self.grpc_ports[code] = int(sock.getsockname()[1])
        return f"{HOST}:{self.grpc_ports[code]}"

    async def route(self, child: str, kind: Link) -> str:
        """The address `child` dials for its parent over `kind` (a proxy's, if `link`)."""
        if (child, kind) not in self.routes:
            parent = self.topology.parent(child)
            assert parent is not None
            direct = (self.grpc_address(parent) if kind == "grpc"
                      else self._brokers.leaf_address(parent))
            self.routes[(child, kind)] = (await self.link(child, kind, direct)
                                          if self.link is not None else direct)
        return self.routes[(child, kind)]

    @property
    def _brokers(self) -> Brokers:
        assert self.brokers is not None, "this federation runs without NATS"
        return self.brokers

    @property
    def ports(self) -> dict[str, dict[str, int]]:
        """The bound ports per unit: "grpc", "http" (running nodes), "nats", "leaf"."""
        out: dict[str, dict[str, int]] = {code: {} for code in self.topology}
        for code, port in self.grpc_ports.items():
            out[code]["grpc"] = port
        for code, sn in self.nodes.items():
            out[code]["http"] = sn.running.http_port
        if self.brokers is not None:
            for code, port in self.brokers.client_ports.items():
                out[code]["nats"] = port
            for code, port in self.brokers.leaf_ports.items():
                out[code]["leaf"] = port
        return out

    # ------------------------------------------------------------------ servers

    @property
    def servers(self) -> dict[str, NatsServer]:
        return self._brokers.servers

    async def start_server_first_time(self, code: str) -> NatsServer:
        if self.topology.parent(code) is not None:
            self._brokers.leaf_routes[code] = await self.route(code, "leaf")
        return self._brokers.start(code)

    def start_server(self, code: str) -> NatsServer:
        """(Re)start `code`'s nats-server on the ports it had."""
        return self._brokers.start(code)

    # ------------------------------------------------------------------ nodes

    async def config_of(self, code: str) -> Config:
        parent = self.topology.parent(code)
        addresses = {c: self.grpc_address(c) for c in self.topology.children(code)
                     if c in self.grpc_ports or c in self.external}
        if parent is not None:
            addresses[parent] = await self.route(code, "grpc")
        port = self.grpc_ports.get(code, 0)
        tree = node_tree(code, self.topology, self.root, grpc_port=port, addresses=addresses,
                         nats_url=self._brokers.url(code) if self.brokers else None,
                         **(NATS_DEFAULTS if self.brokers else {}), **self.options)
        tree.update(self.sections.get(code, {}))
        return parse_config(tree, source=code, env={})

    async def start_node(self, code: str) -> FedNode:
        config = await self.config_of(code)
        placeholder = self._placeholders.pop(code, None)
        if placeholder is not None:
            placeholder.close()  # the node binds the port its peers were given
        engine = make_engine(f"sqlite:///{self.root / code / 'zhitong.sqlite3'}")
        ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def host() -> None:
            try:
                async with running(config, clock=self.clock, engine=engine,
                                   senders=self.senders, auto_escalate_every_s=None,
                                   probe=self.probes.get(code, NO_PROBE)) as node:
                    ready.set_result(node)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        task = asyncio.create_task(host(), name=f"node-{code}")
        try:
            node = await ready
        except BaseException:
            with suppress(BaseException):
                await task
            raise
        sn = FedNode(code=code, running=node, task=task, _stop=stop)
        self.nodes[code] = sn
        self.grpc_ports[code] = sn.federation.port
        parent = self.topology.parent(code)
        if parent is not None and parent in self.nodes:  # the parent learns where it is
            await self.nodes[parent].federation.add_peer(code, self.grpc_address(code))
        return sn

    async def stop_node(self, code: str, *, timeout_s: float = 15) -> list[str]:
        """Stop `code`'s node; what failed while it stopped (Running.shutdown_errors)."""
        sn = self.nodes.pop(code)
        sn._stop.set()
        await asyncio.wait_for(sn.task, timeout=timeout_s)
        return list(sn.running.shutdown_errors)

    async def start(self, codes: tuple[str, ...] | None = None, *,
                    prepare_streams: bool = True) -> None:
        """Servers (parents first), the units' streams, then the nodes (parents first)."""
        order = [c for c in self.topology if codes is None or c in codes]
        if self.brokers is not None:
            for code in order:
                await self.start_server_first_time(code)
            if prepare_streams:
                await self.brokers.prepare_streams(order)
        for code in order:
            await self.start_node(code)

    async def close(self) -> None:
        """Stop every node (all at once: each stop is independent), then the servers."""
        try:
            await asyncio.gather(*(self.stop_node(code) for code in list(self.nodes)),
                                 return_exceptions=True)
        finally:
            if self.brokers is not None:
                self.brokers.stop_all()
            for sock in self._placeholders.values():
                sock.close()
            self._placeholders.clear()


@asynccontextmanager
async def federation(root: Path, topology: Mapping[str, str | None], clock: Clock, *,
                     start: tuple[str, ...] | None = None, senders: bool = False,
                     external: Mapping[str, str] | None = None,
                     probes: Mapping[str, Probe] | None = None, **options: Any
                     ) -> AsyncIterator[Harness]:
    """The gRPC nodes of `topology` (code → parent, parents first), or those in `start`;
    `options` are federation settings (e.g. `retry_attempts=1`)."""
    topo = Topology(topology)
    make_certs(root, list(topo), clock)
    fed = Harness(root=root, topology=topo, clock=clock, senders=senders,
                  options=dict(options), external=dict(external or {}),
                  probes=dict(probes or {}))
    try:
        await fed.start(start)
        yield fed
    finally:
        await fed.close()


@asynccontextmanager
async def nats_federation(root: Path, topology: Mapping[str, str | None], clock: Clock, *,
                          prepare_streams: bool = True, link: LinkHook | None = None,
                          no_advertise: bool = False, harness: type[Harness] = Harness,
                          probes: Mapping[str, Probe] | None = None,
                          sections: Mapping[str, dict[str, Any]] | None = None,
                          **options: Any) -> AsyncIterator[Harness]:
    """Every unit of `topology` with its nats-server and its node; the senders run.
    `sections`: per unit, configuration sections on top (e.g. a province's `floors`)."""
    topo = Topology(topology)
    make_certs(root, list(topo), clock)
    fed = harness(root=root, topology=topo, clock=clock, senders=True, options=dict(options),
                  link=link, brokers=Brokers(root, topo, no_advertise=no_advertise),
                  probes=dict(probes or {}), sections=dict(sections or {}))
    try:
        await fed.start(prepare_streams=prepare_streams)
        yield fed
    finally:
        await fed.close()


async def delivered(sn: FedNode, destination: str, *, timeout_s: float = 30.0) -> None:
    """Wait until `sn` has no transfer to `destination` left pending. Its sender runs and is
    woken by every transfer queued, so a test must not drain the outbox itself: the two
    would race for the same rows (harmless for the product — the peer's inbox takes each
    transfer once — but the test's own drain could then find nothing)."""
    def empty() -> bool:
        status = sn.transfers.outbox_status(timedelta(hours=1))
        depth: int = status["destinations"].get(destination, {}).get("depth", 0)
        return depth == 0 and not status["refused"]

    await until(empty, timeout_s=timeout_s, what=f"transfers to {destination} delivered")


def stub_as(tls: TlsMaterial, address: str, peer: str) -> tuple[grpc.aio.Channel,
                                                                 codec.FederationStub]:
    channel = grpc.aio.secure_channel(address, tls.channel_credentials(),
                                      options=channel_options(peer))
    return channel, codec.FederationStub(channel)  # type: ignore[no-untyped-call]
