"""The fault scenarios, shared by the quick tests (tests/faults/test_quick.py) and the long
run (bench/faults_long.py). Each one starts a fresh federation (province ← city ← county,
real nats-servers, nodes in this process), runs the workload while it injects its faults
at seeded random points, drains completely, and returns the checker's report.

Two knobs serve the long run: `stretch` multiplies every fault's duration (a SIGSTOP of
2 s becomes one of up to 8 s at 4×), and `repeat` makes a scenario's fault sequence start
again while the workload is still running (the quick tests inject each sequence once).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from sqlalchemy import Engine, func, select

from federation.nats.server_config import node_user
from node.store.schema import events
from tests.faults.checker import Recorder, Report, check, drain
from tests.faults.cluster import (
    CITY,
    COUNTY,
    PROVINCE,
    TOPOLOGY,
    FaultFederation,
    fault_federation,
)
from tests.faults.workload import Fault, Workload
from tests.support.brokers import PASSWORD
from tests.support.wait import until

SERVERS = tuple(TOPOLOGY)


@dataclass
class Outcome:
    name: str
    seed: int
    report: Report
    seconds: float
    workload: str
    faults: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    close_errors: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    fed: FaultFederation
    wl: Workload
    rng: random.Random  # the faults' own stream of random numbers
    steps: int
    stretch: float = 1.0
    repeat: bool = False
    extra: dict[str, int] = field(default_factory=dict)

    async def hold(self, lo: float, hi: float) -> None:
        """A fault's duration (or the pause between two faults), stretched."""
        await asyncio.sleep(self.rng.uniform(lo, hi) * self.stretch)

    def point(self, lo: float = 0.1, hi: float = 0.6) -> int:
        """A random step in the [lo, hi) share of the run."""
        return self.rng.randrange(int(self.steps * lo), max(int(self.steps * hi),
                                                            int(self.steps * lo) + 1))

    def count(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n

    async def cycles(self, one: Callable[[], Awaitable[None]]) -> None:
        """Run one fault sequence; again and again while the workload runs if `repeat`."""
        while True:
            await one()
            if not self.repeat or self.wl.done.is_set():
                return
            await self.hold(0.5, 2.0)


Scenario = Callable[[Ctx], Awaitable[None]]


# --------------------------------------------------------------------------- scenarios


async def sigkill_servers(ctx: Ctx) -> None:
    """SIGKILL and restart of each nats-server (county, city, province) in a random order,
    each down for a random while, at a random point of the workload."""
    fed = ctx.fed

    async def sequence() -> None:
        for code in ctx.rng.sample(SERVERS, len(SERVERS)):
            fed.kill_server(code)
            await ctx.hold(0.3, 1.5)  # down this long
            fed.restart_server(code)
            ctx.count("kills")
            await ctx.hold(0.2, 1.0)  # pacing between faults

    await ctx.wl.run(ctx.steps, faults=[(ctx.point(hi=0.3), lambda: ctx.cycles(sequence))])


async def sigstop_servers(ctx: Ctx) -> None:
    """SIGSTOP of each nats-server for a random while, then SIGCONT."""
    fed = ctx.fed

    async def sequence() -> None:
        for code in ctx.rng.sample(SERVERS, len(SERVERS)):
            fed.pause_server(code)
            await ctx.hold(0.5, 2.5)  # frozen this long
            fed.resume_server(code)
            ctx.count("pauses")
            await ctx.hold(0.2, 0.8)

    await ctx.wl.run(ctx.steps, faults=[(ctx.point(hi=0.3), lambda: ctx.cycles(sequence))])


async def restart_city_node(ctx: Ctx) -> None:
    """Stop and restart the city node (escalations and replication in flight), twice."""
    fed = ctx.fed

    async def sequence() -> None:
        for _ in range(2):
            await fed.stop_node_gated(CITY)
            await ctx.hold(0.3, 1.5)  # the city node is down this long
            await fed.start_node_gated(CITY)
            ctx.count("restarts")
            await ctx.hold(0.3, 1.5)

    await ctx.wl.run(ctx.steps, faults=[(ctx.point(hi=0.3), lambda: ctx.cycles(sequence))])


async def proxy_faults(ctx: Ctx) -> None:
    """Cut, reset, delay and stall the county's leaf link (NATS) and its gRPC link to the
    city through the fault proxies, in a random order."""
    fed, leaf, grpc = ctx.fed, ctx.fed.leaf_proxy, ctx.fed.grpc_proxy
    assert leaf is not None and grpc is not None
    proxies = {"leaf": leaf, "grpc": grpc}

    async def cut(p: str) -> None:
        fed.note(f"{p} link cut ({proxies[p].cut()} connection(s))")
        await ctx.hold(0.5, 1.5)  # partitioned this long
        proxies[p].restore()
        fed.note(f"{p} link restored")

    async def reset(p: str) -> None:
        fed.note(f"{p} link reset ({proxies[p].reset()} connection(s) RST)")

    async def delay(p: str) -> None:
        proxies[p].delay_s = ctx.rng.uniform(0.05, 0.3)
        fed.note(f"{p} link delayed by {proxies[p].delay_s:.2f}s per chunk")
        await ctx.hold(1.0, 2.0)
        proxies[p].restore()
        fed.note(f"{p} link delay removed")

    async def stall(p: str) -> None:
        proxies[p].stall()
        fed.note(f"{p} link stalled")
        await ctx.hold(0.5, 1.5)
        proxies[p].restore()
        fed.note(f"{p} link flowing again")

    async def sequence() -> None:
        actions = [(f, p) for f in (cut, reset, delay, stall) for p in proxies]
        actions += [(reset, "grpc"), (reset, "leaf")]  # resets are cheap: a few more
        ctx.rng.shuffle(actions)
        for action, p in actions:
            await action(p)
            ctx.count("faults")
            await ctx.hold(0.1, 0.5)  # pacing between faults

    await ctx.wl.run(ctx.steps, faults=[(ctx.point(hi=0.2), lambda: ctx.cycles(sequence))])
    ctx.extra.update(leaf_connections=leaf.stats.accepted, grpc_connections=grpc.stats.accepted,
                     resets=leaf.stats.reset + grpc.stats.reset,
                     refused=leaf.stats.refused + grpc.stats.refused)


class Duplicator:
    """Re-publishes every event message on the county's stream once more, under another
    Nats-Msg-Id (so the broker does not drop it): the city receives everything twice."""

    HEADER = "Zt-Fault-Duplicate"

    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: NATS | None = None
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self.originals = 0  # messages of the county's own publisher seen
        self.published = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.nc = await nats.connect(self.url, user=node_user(COUNTY), password=PASSWORD,
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        await self.nc.subscribe(f"zt.{COUNTY}.ev.>", cb=self._seen)
        self._task = asyncio.create_task(self._republish())

    async def _seen(self, msg: Msg) -> None:
        if not (msg.headers or {}).get(self.HEADER):
            self.originals += 1
            self.queue.put_nowait(msg)

    async def _republish(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        while True:
            msg = await self.queue.get()
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            for _attempt in range(20):  # bounded: the broker is up in this scenario
                try:
                    await js.publish(msg.subject, msg.data, timeout=2, headers={
                        "Nats-Msg-Id": f"{msg_id}#again", self.HEADER: "1"})
                    self.published += 1
                    break
                except Exception:
                    await asyncio.sleep(0.1)  # retry pacing
            else:
                self.failed += 1
            self.queue.task_done()

    async def wait_idle(self, timeout_s: float = 30) -> None:
        await asyncio.wait_for(self.queue.join(), timeout=timeout_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.nc is not None:
            await self.nc.close()


async def duplicate_delivery(ctx: Ctx) -> None:
    """Every event message delivered twice (a second copy with another Nats-Msg-Id) while
    the workload runs, plus one reset of the leaf link (redeliveries on top)."""
    fed = ctx.fed
    dup = Duplicator(fed.servers[COUNTY].url)
    await dup.start()
    leaf = fed.leaf_proxy
    assert leaf is not None

    async def reset() -> None:
        fed.note(f"leaf link reset ({leaf.reset()} connection(s) RST)")
        await ctx.hold(1.0, 3.0)

    try:
        await ctx.wl.run(ctx.steps, faults=[(ctx.point(), lambda: ctx.cycles(reset))])
        engine = fed.engines()[COUNTY]

        def all_seen() -> bool:  # every own event published, and each one seen here
            own = select(func.count()).select_from(events).where(events.c.node == COUNTY)
            with engine.connect() as conn:
                pending = conn.execute(own.where(events.c.published.is_(False))).scalar_one()
                published = conn.execute(own.where(events.c.published)).scalar_one()
            return pending == 0 and dup.originals >= published

        await until(all_seen, timeout_s=30, what="the county's events at the duplicator")
        await dup.wait_idle()
    finally:
        await dup.close()
    fed.note(f"{dup.published} message(s) re-published, {dup.failed} failed")
    ctx.extra.update(republished=dup.published, republish_failed=dup.failed)


def poison_messages(tag: str) -> list[tuple[str, bytes]]:
    """Messages the city must dead-letter, on the county's own subjects."""
    base = f"zt.{COUNTY}.ev.{COUNTY}"
    at = "2026-03-02T09:00:00+08:00"

    def event(issue_id: str, **overrides: object) -> bytes:
        body: dict[str, object] = {
            "event_id": f"{issue_id}@1", "issue_id": issue_id, "version": 1,
            "kind": "submitted", "actor": "staff:leader", "at": at,
            "payload": {"state": "received", "owner": COUNTY},
            "writer": COUNTY, "writer_seq": 1, "origin": COUNTY}
        body.update(overrides)
        return json.dumps(body).encode()

    fake = f"{COUNTY}-poison{tag}"
    return [
        (f"{base}.{fake}a", b"{not json"),
        (f"{base}.{fake}b", b"\xff\xfe\x00binary"),
        (f"{base}.{fake}c", b"[1, 2, 3]"),
        (f"{base}.{fake}d", json.dumps({"issue_id": f"{fake}d"}).encode()),
        (f"{base}.{fake}e", event(f"{fake}e", event_id="mismatch@1")),
        # claims another writer than the subject's
        (f"{base}.{fake}f", event(f"{fake}f", writer="330523", origin="330523")),
        # a new issue that does not come from its owner
        (f"{base}.{fake}g", event(f"{fake}g", payload={"state": "received",
                                                     "owner": "330523"})),
        # from its owner, but the payload is incomplete
        (f"{base}.{fake}h", event(f"{fake}h")),
        (f"{base}.{fake}i", b"{" + b" " * 80_000 + b"}"),  # larger than any event
    ]


async def poison(ctx: Ctx) -> None:
    """Malformed and unappliable messages published on the county's own subjects at random
    points: each lands in the city's dead-letter table, the rest flows past them."""
    fed, wl = ctx.fed, ctx.wl
    nc = await nats.connect(fed.servers[COUNTY].url, user=node_user(COUNTY),
                            password=PASSWORD)
    js = nc.jetstream()
    batches = max(1, ctx.steps // 60) if ctx.repeat else 1
    faults: list[tuple[int, Fault]] = []

    def publisher(subject: str, data: bytes) -> Fault:
        async def fault() -> None:
            wl.rec.poison.append(subject)
            # a generous budget, and again on a timeout: on a loaded machine the ack can
            # take over 5 s; the message id makes a second publish a duplicate JetStream
            # drops, so the poison is stored once either way
            for attempt in range(3):
                try:
                    await js.publish(subject, data, timeout=20,
                                     headers={"Nats-Msg-Id": subject})
                    break
                except nats.errors.TimeoutError:
                    if attempt == 2:
                        raise
            fed.note(f"poison published on {subject}")
        return fault

    for _ in range(batches):
        for subject, data in poison_messages(str(ctx.rng.randrange(10**9))):
            faults.append((ctx.point(hi=0.8), publisher(subject, data)))
            ctx.count("poison")
    try:
        await wl.run(ctx.steps, faults=faults)
    finally:
        await nc.close()


async def cold_restart(ctx: Ctx) -> None:
    """Work in flight, then every node and nats-server stopped in a random order (servers
    by SIGKILL or SIGTERM at random), restarted in a random order (a node after its own
    server), and more work."""
    fed, rng = ctx.fed, ctx.rng
    rounds = max(1, ctx.steps // 60) if ctx.repeat else 1
    per_round = ctx.steps // (rounds + 1)
    await ctx.wl.run(per_round)
    for _ in range(rounds):
        parts = [("node", c) for c in TOPOLOGY] + [("server", c) for c in TOPOLOGY]
        for kind, code in rng.sample(parts, len(parts)):
            if kind == "node":
                await fed.stop_node_gated(code)
            elif rng.random() < 0.5:
                fed.kill_server(code)
            else:
                fed.stop_server(code)
        order = rng.sample(parts, len(parts))
        for i, (kind, code) in enumerate(order):  # a node only after its own server
            if kind == "node" and ("server", code) in order[i:]:
                j = order.index(("server", code))
                order[i], order[j] = order[j], order[i]
        for kind, code in order:
            if kind == "server":
                fed.restart_server(code)
            else:
                await fed.start_node_gated(code)
            await ctx.hold(0.0, 0.3)  # pacing of the restarts
        fed.note("restart order: " + ", ".join(f"{k} {c}" for k, c in order))
        ctx.count("restarted", len(parts))
        await ctx.wl.run(per_round)


SCENARIOS: dict[str, Scenario] = {
    "sigkill_servers": sigkill_servers,
    "sigstop_servers": sigstop_servers,
    "restart_city_node": restart_city_node,
    "proxy_faults": proxy_faults,
    "duplicate_delivery": duplicate_delivery,
    "poison": poison,
    "cold_restart": cold_restart,
}


def stored_events(engine: Engine) -> int:
    """Every event a node's store holds: its own and its replicas'."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


async def run_scenario(name: str, root: Path, seed: int, *, steps: int = 60,
                       drain_timeout_s: float = 120.0, stretch: float = 1.0,
                       repeat: bool = False, escalate_p: float = 0.25) -> Outcome:
    started = time.monotonic()
    print(f"\nscenario {name}: seed {seed} (rerun with ZT_FAULT_SEED={seed})"
          + (f", stretch {stretch:.1f}, repeat" if repeat else ""), flush=True)
    async with fault_federation(root) as fed:
        rec = Recorder()
        wl = Workload(fed=fed, rec=rec, rng=random.Random(f"{name}:{seed}:workload"),
                      label=f"{name[:12]}-{seed}", escalate_p=escalate_p)
        ctx = Ctx(fed=fed, wl=wl, rng=random.Random(f"{name}:{seed}:faults"), steps=steps,
                  stretch=stretch, repeat=repeat)
        await SCENARIOS[name](ctx)
        fed.note("workload done; draining")
        engines = fed.engines()

        def run_check() -> Report:
            return check(engines, rec, home=COUNTY, parent=CITY, replicas=(COUNTY, CITY))

        report = await drain(run_check, fed.backlog, timeout_s=drain_timeout_s,
                             verbose=bool(os.environ.get("ZT_FAULT_VERBOSE")),
                             detail=lambda: fed.backlog_detail)
        fed.note("drained" if report.clean else "NOT drained")
        ctx.extra["events"] = sum(stored_events(engines[code]) for code in (COUNTY, CITY))
        assert PROVINCE in fed.nodes
        outcome = Outcome(name=name, seed=seed, report=report,
                          seconds=time.monotonic() - started, workload=wl.summary(),
                          faults=list(fed.log), extra=ctx.extra,
                          close_errors=list(fed.close_errors))
    print(f"  {outcome.workload}", flush=True)
    print(f"  {report.line()}  [{outcome.seconds:.1f}s]", flush=True)
    return outcome
