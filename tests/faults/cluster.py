"""The federation under fault: the natsfed harness with two fault proxies on the county's
uplinks, process-level faults on the nats-servers, and gates for the in-process nodes.

* The county's nats-server reaches the city's leaf port through `leaf_proxy`, and the
  county node reaches the city's gRPC server through `grpc_proxy` (both loopback).
* `pause_server` / `resume_server` — SIGSTOP / SIGCONT of a nats-server; every paused
  server is resumed before anything is stopped.
* `gate(code)` — an asyncio lock held around every workload call into a node and around
  stopping or starting it, so a node never disappears under a call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import nats
from sqlalchemy import Engine, create_engine

from federation.certs import load_tls
from federation.nats.config import NatsServerSpec, node_user, write
from federation.nats.process import NatsServer
from federation.nats.streams import ensure_streams, inbound_stream
from node.config import parse_config
from node.runtime import Federation, Streams, build, place_of
from node.store.db import make_engine
from tests.faults.proxy import Proxy
from tests.support.clock import FakeClock
from tests.support.federation import UNITS, make_certs, node_tree
from tests.support.natsfed import PASSWORD, NatsFederation, StreamNode
from tests.support.pg import free_port

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"
TOPOLOGY: Mapping[str, str | None] = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}


class TickingClock(FakeClock):
    """The fake clock, but it also moves with real time: persisted backoffs expire by
    themselves while faults are injected, as they would in production."""

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=time.monotonic() - self._t0)


@dataclass
class FaultFederation(NatsFederation):
    leaf_proxy: Proxy | None = None
    grpc_proxy: Proxy | None = None
    paused: set[str] = field(default_factory=set)
    close_errors: list[str] = field(default_factory=list)
    backlog_detail: str = ""
    _gates: dict[str, asyncio.Lock] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)
    _engines: dict[str, Engine] = field(default_factory=dict)

    def note(self, what: str) -> None:
        """The fault log (printed by the scenarios, kept for the long run)."""
        line = f"{time.monotonic() - self._t0:7.2f}s {what}"
        self.log.append(line)
        print("  " + line, flush=True)

    # ------------------------------------------------------------------ wiring

    def server_spec(self, code: str) -> NatsServerSpec:
        spec = super().server_spec(code)
        if code == COUNTY and self.leaf_proxy is not None:
            spec = replace(spec, parent_leaf_url=f"tls://127.0.0.1:{self.leaf_proxy.port}")
        return spec

    def start_server(self, code: str) -> NatsServer:
        """As NatsFederation.start_server, plus `no_advertise` on the leaf listeners: a
        hub otherwise gossips its real leaf address to its leaves, and the county would
        reconnect around the fault proxy after the first cut."""
        spec = self.server_spec(code)
        path = write(spec, self.root / "nats" / f"{code}.conf")
        if spec.leaf_port is not None:
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("leafnodes {\n", "leafnodes {\n  no_advertise: true\n",
                                         1), encoding="utf-8")
        server = NatsServer(path, host="127.0.0.1", port=self.ports[code]["nats"],
                            log=self.root / "nats" / f"{code}.log").start()
        self.servers[code] = server
        return server

    def gate(self, code: str) -> asyncio.Lock:
        return self._gates.setdefault(code, asyncio.Lock())

    async def start_node(self, code: str) -> StreamNode:
        """As NatsFederation.start_node, but the county's parent address is the proxy."""
        children = [c for c, p in self.topology.items() if p == code]
        grpc_ports = {c: p["grpc"] for c, p in self.ports.items()}
        if code == COUNTY and self.grpc_proxy is not None:
            grpc_ports = {**grpc_ports, CITY: self.grpc_proxy.port}
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
        """As NatsFederation.stop_node, but a failing `Streams.close()` (a product bug, see
        test_bugs.test_a_node_stops_cleanly_while_its_nats_server_is_down) does not leave
        the node half-stopped: it is recorded and the rest of the shutdown still runs."""
        sn = self.nodes.pop(code)
        sn.stop.set()
        with suppress(Exception):
            await asyncio.wait_for(sn.task, timeout=15)
        try:
            await sn.streams.close()
        except Exception as exc:
            self.close_errors.append(f"{code}: {exc!r}")
            self.note(f"node {code}: Streams.close() raised {exc!r}")
        await sn.federation.stop()
        sn.node.engine.dispose()

    # ------------------------------------------------------------------ node faults

    async def stop_node_gated(self, code: str) -> None:
        async with self.gate(code):
            if code in self.nodes:
                await self.stop_node(code)
                self.note(f"node {code} stopped")

    async def start_node_gated(self, code: str) -> None:
        async with self.gate(code):
            if code not in self.nodes:
                await self.start_node(code)
                self.note(f"node {code} started")

    # ------------------------------------------------------------------ server faults

    def kill_server(self, code: str) -> None:
        self.resume_server(code)
        self.servers[code].kill()
        self.note(f"nats-server {code} SIGKILL")

    def stop_server(self, code: str) -> None:
        self.resume_server(code)
        self.servers[code].stop()
        self.note(f"nats-server {code} stopped (SIGTERM)")

    def restart_server(self, code: str) -> None:
        self.start_server(code)
        self.note(f"nats-server {code} started")

    def pause_server(self, code: str) -> None:
        proc = self.servers[code].proc
        assert proc is not None and proc.poll() is None
        self.paused.add(code)  # recorded first: cleanup resumes it whatever happens next
        os.kill(proc.pid, signal.SIGSTOP)
        self.note(f"nats-server {code} SIGSTOP")

    def resume_server(self, code: str) -> None:
        if code not in self.paused:
            return
        self.paused.discard(code)
        proc = self.servers[code].proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            self.note(f"nats-server {code} SIGCONT")

    # ------------------------------------------------------------------ inspection

    async def backlog(self) -> int:
        """Messages the running nodes' inbound streams have not consumed yet: the apply
        consumer's pending and unacknowledged messages plus the lag of every source."""
        waiting = 0
        parts: list[str] = []
        for code, sn in list(self.nodes.items()):
            nc = sn.streams.nc
            if nc is None or not nc.is_connected:
                self.backlog_detail = f"{code}: not connected"
                return -1  # unknown: not drained
            js = nc.jetstream()
            try:
                info = await js.consumer_info(inbound_stream(code), "apply", timeout=2)
                stream = await js.stream_info(inbound_stream(code))
            except Exception as exc:
                self.backlog_detail = f"{code}: {exc!r}"
                return -1
            lag = sum(src.lag or 0 for src in stream.sources or [])
            here = (info.num_pending or 0) + (info.num_ack_pending or 0) + lag
            if here:
                parts.append(f"{code}: pending {info.num_pending} unacked "
                             f"{info.num_ack_pending} source lag {lag}")
            waiting += here
        self.backlog_detail = "; ".join(parts)
        return waiting

    def engines(self) -> dict[str, Engine]:
        """A read engine per node database (works whether or not the node runs)."""
        for code in self.topology:
            if code not in self._engines:
                self._engines[code] = create_engine(
                    f"sqlite:///{self.root / code / 'zhitong.sqlite3'}")
        return dict(self._engines)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


async def create_own_stream(fed: NatsFederation, code: str) -> None:
    """What `zhitong up` does first: create each node's own event log before any stream
    that sources it exists, which spares the sources nats-server's slow retry after a
    first "stream not found" (up to ~12 s here)."""
    nc = await nats.connect(fed.servers[code].url, user=node_user(code), password=PASSWORD)
    try:
        await ensure_streams(nc.jetstream(), place_of(parse_config(
            {"node": {"code": code, "name": UNITS[code][0], "level": UNITS[code][1],
                      "parent": fed.topology[code], "data_dir": str(fed.root / code),
                      "children": [c for c, p in fed.topology.items() if p == code]}},
            source=code, env={})), own_only=True)
    finally:
        await nc.close()


@asynccontextmanager
async def fault_federation(root: Path, clock: FakeClock | None = None
                           ) -> AsyncIterator[FaultFederation]:
    clock = clock or TickingClock()
    ports = {c: {"nats": free_port(), "leaf": free_port(), "grpc": free_port()}
             for c in TOPOLOGY}
    make_certs(root, list(TOPOLOGY), clock)
    leaf_proxy = await Proxy(ports[CITY]["leaf"], name="leaf").start()
    grpc_proxy = await Proxy(ports[CITY]["grpc"], name="grpc").start()
    fed = FaultFederation(root=root, topology=TOPOLOGY, clock=clock, ports=ports,
                          leaf_proxy=leaf_proxy, grpc_proxy=grpc_proxy)
    try:
        for code in TOPOLOGY:  # parents first
            fed.start_server(code)
        for code in TOPOLOGY:  # every node's own log before any stream that sources it
            await create_own_stream(fed, code)
        for code in TOPOLOGY:
            await fed.start_node(code)
        yield fed
    finally:
        for code in list(fed.paused):
            fed.resume_server(code)
        leaf_proxy.restore()
        grpc_proxy.restore()
        for code in list(fed.nodes):
            with suppress(Exception):
                await fed.stop_node(code)
        for server in fed.servers.values():
            server.stop()
        fed.dispose()
        await leaf_proxy.close()
        await grpc_proxy.close()
