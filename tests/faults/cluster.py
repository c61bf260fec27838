"""The federation under fault: the one harness (tests/support/federation.py) with two
fault proxies on the county's uplinks, process-level faults on the nats-servers, and gates
for the in-process nodes.

* The county's nats-server reaches the city's leaf port through `leaf_proxy`, and the
  county node reaches the city's gRPC server through `grpc_proxy` (both loopback): the
  harness's `link` knob puts them there when the county's links are first set up, and
  the leaf listeners do not advertise their address (`no_advertise`), or the county would
  reconnect around the proxy after the first cut.
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
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy import Engine, create_engine

from federation.nats.streams import inbound_stream
from tests.faults.proxy import Proxy
from tests.support.clock import FakeClock
from tests.support.federation import Harness, Link, nats_federation

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


async def inbound_backlog(js: JetStreamContext, code: str) -> tuple[int, str]:
    """Messages `code`'s inbound stream has not consumed yet — the apply consumer's
    pending and unacknowledged messages plus the lag of every source — and what they are
    (empty when none)."""
    info = await js.consumer_info(inbound_stream(code), "apply", timeout=2)
    stream = await js.stream_info(inbound_stream(code))
    lag = sum(src.lag or 0 for src in stream.sources or [])
    here = (info.num_pending or 0) + (info.num_ack_pending or 0) + lag
    return here, (f"{code}: pending {info.num_pending} unacked {info.num_ack_pending} "
                  f"source lag {lag}" if here else "")


@dataclass
class FaultFederation(Harness):
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

    def gate(self, code: str) -> asyncio.Lock:
        return self._gates.setdefault(code, asyncio.Lock())

    async def stop_node(self, code: str, *, timeout_s: float = 15) -> list[str]:
        """As Harness.stop_node, and what failed while the node stopped (a product bug,
        see test_bugs.test_a_node_stops_cleanly_while_its_nats_server_is_down) is recorded."""
        errors = await super().stop_node(code, timeout_s=timeout_s)
        for error in errors:
            self.close_errors.append(f"{code}: {error}")
            self.note(f"node {code}: stopping failed: {error}")
        return errors

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
            try:
                here, part = await inbound_backlog(nc.jetstream(), code)
            except Exception as exc:
                self.backlog_detail = f"{code}: {exc!r}"
                return -1
            if here:
                parts.append(part)
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


@asynccontextmanager
async def fault_federation(root: Path, clock: FakeClock | None = None
                           ) -> AsyncIterator[FaultFederation]:
    proxies: dict[Link, Proxy] = {}

    async def via_proxy(child: str, kind: Link, address: str) -> str:
        if child != COUNTY:
            return address
        proxies[kind] = await Proxy(int(address.rsplit(":", 1)[1]), name=kind).start()
        return f"127.0.0.1:{proxies[kind].port}"

    started: list[FaultFederation] = []
    try:
        async with nats_federation(root, TOPOLOGY, clock or TickingClock(), link=via_proxy,
                                   no_advertise=True, harness=FaultFederation) as fed:
            assert isinstance(fed, FaultFederation)
            started.append(fed)
            fed.leaf_proxy, fed.grpc_proxy = proxies["leaf"], proxies["grpc"]
            try:
                yield fed
            finally:  # before anything stops: servers running, links flowing
                for code in list(fed.paused):
                    fed.resume_server(code)
                for proxy in proxies.values():
                    proxy.restore()
    finally:
        for fed in started:
            fed.dispose()
        for proxy in proxies.values():
            await proxy.close()
