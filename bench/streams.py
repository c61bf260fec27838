"""Event streams benchmark: replication over NATS JetStream vs the bare JetStream costs.

    .venv/bin/python -m bench.streams [--n 2000] [--rate 200] [--backlog 10000]
                                      [--summaries 30] [--json bench/results/streams.json]
                                      [--max-seconds 90] [--profile 3000]

One run, on loopback, with a real local federation (tests.support.natsfed): 浙江省 (330000),
湖州市 (330500) and 长兴县 (330522), one nats-server process per node in the leaf topology
(TLS on the leaf links, one JetStream domain each) and one node per unit with gRPC + streams,
each with its own SQLite file (WAL, synchronous=FULL), all nodes and the bench in this
process and event loop, with the real wall clock (node.app.clock.SystemClock).

1. The bare JetStream costs, in the same run against the same servers, on scratch streams
   (file storage, limits retention, 120 s dedupe window, like ZT_EV_<code>):
   a. publish with PubAck, one at a time, at the county (a realistic event message);
   b. pipelined publish, windows of 256 (what the Publisher does), at the county;
   c. pull + ack in batches of 100 from a local stream (plain ack, no wait), and
      c2. pull in batches of 256 + ack_sync per message (the Replicator's per-message
      path, `handle`, without the SQL);
   d. cross-domain sourced delivery: publish at the county on a stream that a stream at the
      city sources over the leaf link ($JS.zt330522.API), one message at a time, consumed at
      the city with fetch(1); latency = publish → received at the city;
      d2. the same at --rate messages/s, consumed with fetch(256, timeout=1 s) as the
      replicator does.
2. Replication lag under sustained load: --n issues submitted at the county through
   IssueService.submit at --rate per second; per event, commit at the county → applied at
   the city (the city's Replicator.apply / apply_many are wrapped in place by the bench),
   with a split by stage (publisher pick-up, PubAck, arrival at the city's replicator,
   apply txn).
3. Summary freshness: --summaries single changes at the county, spaced out; per change,
   commit → the province's `streams.summaries.latest.total` reflects it.
4. Catch-up: the city's node is stopped (its nats-server keeps running and keeps sourcing),
   --backlog issues are submitted at the county with the Publisher held back, then the
   Publisher drains them all (timed, vs b), the city's server sources them into ZT_IN_330500
   (timed), and the city's node is started again and timed until every event is applied
   (events/s, vs c). Exactly-once is checked afterwards: the city holds every county issue
   once with the county's version, one event per county event, no dead letters.
5. With --profile N: the same catch-up for N more events under cProfile (event loop thread
   and worker threads), top 12 by cumulative and by own time.

Every loop is bounded by a count and by --max-seconds (per phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import json
import math
import os
import platform
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import FetchTimeoutError
from sqlalchemy import func, select

from bench.common import BenchFailure, Row, Timing, percentile
from bench.escalation import ProfilingExecutor, ThreadCpu, git_state, timed_loop_async
from federation.nats import config as nats_config
from federation.nats import messages
from federation.nats.config import NatsServerSpec, deliver_prefix, domain_of, node_user
from federation.nats.streams import events_stream, inbound_stream
from federation.replication import FETCH_BATCH, Applied
from node.app.clock import SystemClock
from node.store import repo
from node.store.schema import dead_letters, events, issues
from tests.conftest import STAFF
from tests.support.clock import FakeClock
from tests.support.data import submit_cmd
from tests.support.natsfed import PASSWORD, NatsFederation, StreamNode, nats_federation

REPO = Path(__file__).resolve().parent.parent
COUNTY, CITY, PROVINCE = "330522", "330500", "330000"
TOPOLOGY: dict[str, str | None] = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}
LEADER = STAFF["leader"]
WINDOW = 256  # the Publisher's default window (nats.publish_window)
PULL_BATCH = 100
# scratch streams: subjects inside the county's own namespace (its publish permission)
S_PUB, S_SRC, S_SINK = "ZT_BENCH_PUB", "ZT_BENCH_SRC", "ZT_BENCH_SINK"
SUBJ_PUB, SUBJ_SRC = f"zt.{COUNTY}.bench.pub", f"zt.{COUNTY}.bench.src"


# delivered under the city's deliver prefix for the county, which the leaf link lets up
BENCH_DELIVER = f"{deliver_prefix(CITY, COUNTY)}.bench"


def with_bench_streams(original: Callable[[NatsServerSpec, str], nats_config.Permissions]
                       ) -> Callable[[NatsServerSpec, str], nats_config.Permissions]:
    """The leaf links' permissions plus what sourcing the scratch stream S_SRC needs (the
    real ones allow consumers on the units' own streams only): bench servers only."""

    def permissions(spec: NatsServerSpec, child: str) -> nats_config.Permissions:
        p = original(spec, child)
        api = f"$JS.{domain_of(child)}.API.CONSUMER.CREATE.{S_SRC}"
        return dataclasses.replace(p, subscribe=(*p.subscribe, api, f"{api}.>",
                                                 f"$JS.FC.{S_SRC}.>"))

    return permissions


def with_bench_acks(original: Callable[[NatsServerSpec], nats_config.Permissions]
                    ) -> Callable[[NatsServerSpec], nats_config.Permissions]:
    """Node users may ack only their inbound stream's consumer: add the scratch streams'."""

    def permissions(spec: NatsServerSpec) -> nats_config.Permissions:
        p = original(spec)
        return dataclasses.replace(p, publish=(*p.publish, *(
            f"$JS.ACK.{name}.>" for name in (S_PUB, S_SRC, S_SINK))))

    return permissions


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def now() -> float:
    return time.perf_counter()


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    n: int
    rate: float
    backlog: int
    summaries: int
    warmup: int
    max_seconds: float
    profile: int
    diagnose: bool
    tmp: Path


@dataclass(kw_only=True, slots=True)
class Out:
    """Everything the run produces besides the rows."""

    failures: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def checked(row: Row, out: Out, check: Callable[[], str]) -> Row:
    try:
        row.check = check()
    except BenchFailure as exc:
        row.check = "FAIL"
        out.failures.append(f"{row.phase}: {exc}")
    if row.timing.errors:
        row.check = "FAIL"
        out.failures.append(f"{row.phase}: {row.timing.errors} failed operations")
    log(f"  {row.phase:<44} {row.timing.count:>7} in {row.timing.seconds:7.2f}s  "
        f"check {row.check}")
    return row


def compare(row: Row, ref: Row, ref_id: str, *, throughput: bool, latency: bool) -> None:
    """Ratios ours/bare: throughput (<1 is slower), latency (>1 is slower)."""
    if ref.timing.count == 0 or row.timing.count == 0:
        return
    row.extra["compared_with"] = ref_id
    if throughput:
        row.ratios["throughput_vs_bare"] = row.per_second / ref.per_second
    if latency:
        row.ratios["p50_vs_bare"] = row.p50 / ref.p50
        row.ratios["p99_vs_bare"] = row.p99 / ref.p99


def ms(values: Sequence[float], q: float) -> float:
    return percentile(values, q)


async def poll(predicate: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.05,
               what: str) -> float:
    """Wait for `predicate` (bounded); returns the perf_counter() when it held."""
    deadline = now() + timeout_s
    while not predicate():
        if now() > deadline:
            raise BenchFailure(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)
    return now()


async def poll_async(predicate: Callable[[], Awaitable[bool]], *, timeout_s: float,
                     interval_s: float = 0.05, what: str) -> float:
    deadline = now() + timeout_s
    while not await predicate():
        if now() > deadline:
            raise BenchFailure(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)
    return now()


class Patches:
    """Bench-only wrappers installed on instances/classes, undone in reverse order."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def install(self, owner: object, attr: str, replacement: Any) -> Any:
        original = getattr(owner, attr)
        own = attr in vars(owner)
        setattr(owner, attr, replacement)
        self._undo.append(lambda: setattr(owner, attr, original) if own
                          else delattr(owner, attr))
        return original

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


# --------------------------------------------------------------------------- database


def count_rows(sn: StreamNode, table: Any, *where: Any) -> int:
    with sn.node.engine.connect() as conn:
        stmt = select(func.count()).select_from(table)
        for w in where:
            stmt = stmt.where(w)
        return int(conn.execute(stmt).scalar_one())


def unpublished(sn: StreamNode) -> int:
    return count_rows(sn, events, events.c.published.is_(False))


def verify_replicas(county: StreamNode, city: StreamNode, province: StreamNode | None) -> str:
    """Exactly-once at the city for every county issue; raise on failure."""
    with county.node.engine.connect() as conn:
        want = {str(i): int(v) for i, v in conn.execute(
            select(issues.c.id, issues.c.version).where(issues.c.origin == COUNTY))}
        county_events = int(conn.execute(select(func.count()).select_from(events).where(
            events.c.node == COUNTY)).scalar_one())
    with city.node.engine.connect() as conn:
        have = {str(i): int(v) for i, v in conn.execute(
            select(issues.c.id, issues.c.version).where(issues.c.origin == COUNTY))}
        applied = conn.execute(select(events.c.issue_id, events.c.version)
                               .where(events.c.node == COUNTY)).all()
        dead = int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())
    problems = []
    if have != want:
        missing = len(set(want) - set(have))
        wrong = sum(1 for k, v in have.items() if want.get(k) not in (None, v))
        problems.append(f"city replicas differ: {len(have)} of {len(want)} county issues, "
                        f"{missing} missing, {wrong} at another version")
    if len(applied) != county_events or len(set(applied)) != len(applied):
        problems.append(f"city holds {len(applied)} county events ({len(set(applied))} "
                        f"distinct), the county wrote {county_events}")
    if dead:
        problems.append(f"{dead} dead letters at the city")
    if province is not None and count_rows(province, issues):
        problems.append("the province holds issue records")
    if problems:
        raise BenchFailure("; ".join(problems))
    return "ok"


def submit_one(sn: StreamNode) -> tuple[str, float]:
    """One IssueService.submit; returns the event id and the time right after the commit."""
    issue, _ = sn.issues.submit(LEADER, submit_cmd())
    return repo.event_id_of(issue.id, 1), now()


# --------------------------------------------------------------------------- bare JetStream


async def connect(fed: NatsFederation, code: str) -> NATS:
    return await nats.connect(f"nats://127.0.0.1:{fed.ports[code]['nats']}",
                              user=node_user(code), password=PASSWORD, name=f"bench-{code}",
                              connect_timeout=5, max_reconnect_attempts=3)


def scratch(name: str, subjects: list[str] | None = None,
            sources: list[StreamSource] | None = None) -> StreamConfig:
    return StreamConfig(name=name, subjects=subjects, sources=sources,
                        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                        discard=DiscardPolicy.OLD, duplicate_window=120.0)


async def template_message(county: StreamNode) -> bytes:
    """A real event message of the county (one submit), as the Publisher encodes it."""
    event_id, _ = await asyncio.to_thread(submit_one, county)
    issue_id = event_id.rsplit("@", 1)[0]
    with county.node.engine.connect() as conn:
        stored = repo.events_of(conn, issue_id)[0]
    return messages.encode(stored, COUNTY)


async def bare_costs(s: Settings, fed: NatsFederation, payload: bytes, out: Out
                     ) -> dict[str, Row]:
    nc_county, nc_city = await connect(fed, COUNTY), await connect(fed, CITY)
    js_c, js_y = nc_county.jetstream(), nc_city.jetstream()
    rows: dict[str, Row] = {}
    try:
        await js_c.add_stream(scratch(S_PUB, [f"{SUBJ_PUB}.>"]))
        await js_c.add_stream(scratch(S_SRC, [f"{SUBJ_SRC}.>"]))
        await js_y.add_stream(scratch(S_SINK, sources=[StreamSource(
            name=S_SRC, external=ExternalStream(api=f"$JS.{domain_of(COUNTY)}.API",
                                                deliver=BENCH_DELIVER))]))

        async def messages_in(js: JetStreamContext, stream: str) -> int:
            return int((await js.stream_info(stream)).state.messages)

        # (a) one at a time
        async def pub_one(i: int) -> bool:
            ack = await js_c.publish(f"{SUBJ_PUB}.{COUNTY}.a{i}", payload,
                                     headers={"Nats-Msg-Id": f"bench-a-{i}"}, timeout=5)
            return not ack.duplicate

        await timed_loop_async(lambda i: pub_one(-1 - i), s.warmup, s.max_seconds)
        t = await timed_loop_async(pub_one, s.n, s.max_seconds)
        stored_a = await messages_in(js_c, S_PUB)
        rows["a"] = checked(Row(
            backend="nats", phase="a. bare publish + PubAck, 1 at a time", timing=t,
            target=s.n, baseline=True,
            notes=f"scratch stream at the county, {len(payload)}-byte event message, "
            "Nats-Msg-Id set, file storage"), out,
            lambda: "ok" if stored_a == s.warmup + t.count
            else _fail(f"stream holds {stored_a}, published {s.warmup + t.count}"))

        # (b) pipelined, windows of 256 (latency = one window)
        n_b = 5 * s.n
        windows = math.ceil(n_b / WINDOW)

        async def pub_window(w: int) -> bool:
            lo, hi = w * WINDOW, min(n_b, (w + 1) * WINDOW)
            results = await asyncio.gather(*(
                js_c.publish(f"{SUBJ_PUB}.{COUNTY}.b{i}", payload,
                             headers={"Nats-Msg-Id": f"bench-b-{i}"}, timeout=5)
                for i in range(lo, hi)), return_exceptions=True)
            return not any(isinstance(r, BaseException) for r in results)

        tw = await timed_loop_async(pub_window, windows, s.max_seconds)
        sent_b = min(n_b, tw.count * WINDOW)
        t = Timing(count=sent_b, seconds=tw.seconds, latencies_ms=tw.latencies_ms,
                   errors=tw.errors, stopped_by_time=tw.stopped_by_time)
        stored_b = await messages_in(js_c, S_PUB)
        rows["b"] = checked(Row(
            backend="nats", phase=f"b. bare publish, pipelined window {WINDOW}", timing=t,
            target=n_b, baseline=True,
            notes=f"asyncio.gather of {WINDOW} publishes per window (as the Publisher); "
            "p50/p99 are per window"), out,
            lambda: "ok" if stored_b == stored_a + sent_b
            else _fail(f"stream holds {stored_b}, expected {stored_a + sent_b}"))

        # (c) pull + ack in batches of 100; (c2) batches of 256 + ack_sync per message
        total = stored_b
        for key, batch, sync in (("c", PULL_BATCH, False), ("c2", FETCH_BATCH, True)):
            rows[key] = await bare_pull(js_c, key, batch, sync, total, s, out)

        # (d) sourced across domains, one at a time
        sub = await js_y.pull_subscribe("", durable="bench_d", stream=S_SINK, config=(
            ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL)))
        pub_ms: list[float] = []
        wrong = [0]

        async def sourced_one(i: int) -> bool:
            t0 = now()
            await js_c.publish(f"{SUBJ_SRC}.{COUNTY}.d{i}", payload,
                               headers={"Nats-Msg-Id": f"bench-d-{i}"}, timeout=5)
            pub_ms.append((now() - t0) * 1000)
            got = await sub.fetch(1, timeout=5)
            await got[0].ack()
            if got[0].subject != f"{SUBJ_SRC}.{COUNTY}.d{i}":
                wrong[0] += 1
                return False
            return True

        await timed_loop_async(lambda i: sourced_one(-1 - i), s.warmup, s.max_seconds)
        pub_ms.clear()
        t = await timed_loop_async(sourced_one, s.n, s.max_seconds)
        sink = await messages_in(js_y, S_SINK)
        rows["d"] = checked(Row(
            backend="nats", phase="d. bare sourced county→city, 1 at a time", timing=t,
            target=s.n, baseline=True,
            notes="publish + PubAck at the county, then fetch(1) at the city from a stream "
            "sourcing it via $JS.zt330522.API over the TLS leaf link; of which publish+ack "
            f"p50 {ms(pub_ms, 50):.2f} ms", extra={"publish_ack_p50_ms": ms(pub_ms, 50)}), out,
            lambda: "ok" if sink == s.warmup + t.count and not wrong[0]
            else _fail(f"sink holds {sink}, published {s.warmup + t.count}, "
                       f"{wrong[0]} out of order"))
        await sub.unsubscribe()

        # (d2) at --rate, consumed like the replicator: fetch(256, timeout=1 s)
        rows["d2"] = await bare_sourced_at_rate(js_c, js_y, payload, sink, s, out)
    finally:
        for js, name in ((js_y, S_SINK), (js_c, S_SRC), (js_c, S_PUB)):
            try:
                await js.delete_stream(name)
            except Exception as exc:
                log(f"  could not delete scratch stream {name}: {exc!r}")
        await nc_county.close()
        await nc_city.close()
    return rows


def _fail(reason: str) -> str:
    raise BenchFailure(reason)


async def bare_pull(js: JetStreamContext, key: str, batch: int, sync: bool, total: int,
                    s: Settings, out: Out) -> Row:
    durable = f"bench_{key}"
    sub = await js.pull_subscribe("", durable=durable, stream=S_PUB, config=ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=4 * batch))
    got = [0]

    async def one_batch(_i: int) -> bool:
        msgs = await sub.fetch(min(batch, total - got[0]), timeout=5)
        for m in msgs:
            if sync:
                await m.ack_sync()
            else:
                await m.ack()
        got[0] += len(msgs)
        return True

    tb = await timed_loop_async(one_batch, math.ceil(total / batch), s.max_seconds)

    async def settled() -> bool:  # plain acks are not waited for: let them land
        i = await js.consumer_info(S_PUB, durable)
        return (i.num_ack_pending, i.num_pending) == (0, 0)

    with contextlib.suppress(BenchFailure):  # the check below reports it
        await poll_async(settled, timeout_s=10, interval_s=0.01, what="acks to land")
    info = await js.consumer_info(S_PUB, durable)
    await sub.unsubscribe()
    t = Timing(count=got[0], seconds=tb.seconds, latencies_ms=tb.latencies_ms,
               errors=tb.errors, stopped_by_time=tb.stopped_by_time)
    phase = (f"c2. bare pull {batch} + ack_sync each" if sync
             else f"c. bare pull + ack, batches of {batch}")
    return checked(Row(
        backend="nats", phase=phase, timing=t, target=total, baseline=True,
        notes=f"durable pull consumer on a local stream at the county, {total} messages; "
        + ("ack_sync per message (as the Replicator's per-message path), no SQL" if sync
           else "plain ack (no wait)") + "; p50/p99 are per batch"), out,
        lambda: "ok" if (info.num_ack_pending, info.num_pending) == (0, 0)
        and info.delivered.consumer_seq == got[0]
        else _fail(f"consumer: {info.num_ack_pending} ack pending, {info.num_pending} "
                   f"pending, {info.delivered.consumer_seq} delivered for {got[0]}"))


async def bare_sourced_at_rate(js_c: JetStreamContext, js_y: JetStreamContext, payload: bytes,
                               before: int, s: Settings, out: Out) -> Row:
    count = max(50, min(s.n, int(2 * s.rate)))
    sub = await js_y.pull_subscribe("", durable="bench_d2", stream=S_SINK, config=(
        ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW)))
    sent: dict[str, float] = {}
    lat: list[float] = []
    batches: list[int] = []
    errors = [0]
    start = now()
    deadline = start + s.max_seconds

    async def produce() -> None:
        for i in range(count):
            delay = start + i / s.rate - now()
            if delay > 0:
                await asyncio.sleep(delay)
            if now() > deadline:
                return
            subject = f"{SUBJ_SRC}.{COUNTY}.r{i}"
            sent[subject] = now()
            try:
                await js_c.publish(subject, payload, headers={"Nats-Msg-Id": f"bench-r-{i}"},
                                   timeout=5)
            except Exception:
                errors[0] += 1

    producer = asyncio.create_task(produce())
    while len(lat) < count and now() < deadline:
        try:
            msgs = await sub.fetch(FETCH_BATCH, timeout=1)
        except FetchTimeoutError:
            if producer.done() and len(lat) + errors[0] >= len(sent):
                break
            continue
        t = now()
        batches.append(len(msgs))
        for m in msgs:
            lat.append((t - sent[m.subject]) * 1000)
            await m.ack()
    await producer
    await sub.unsubscribe()
    timing = Timing(count=len(lat), seconds=now() - start, latencies_ms=lat,
                    errors=errors[0], stopped_by_time=now() >= deadline)
    sink = int((await js_y.stream_info(S_SINK)).state.messages)
    return checked(Row(
        backend="nats", phase=f"d2. bare sourced at {s.rate:.0f}/s, fetch {FETCH_BATCH}",
        timing=timing, target=count, baseline=True,
        notes=f"as d, published at --rate and consumed with fetch({FETCH_BATCH}, "
        f"timeout=1 s) like the Replicator; {len(batches)} fetches, mean "
        f"{sum(batches) / max(1, len(batches)):.1f} msgs each"), out,
        lambda: "ok" if sink == before + len(sent) and len(lat) == len(sent)
        else _fail(f"sink {sink}, expected {before + len(sent)}; received {len(lat)} of "
                   f"{len(sent)}"))


# --------------------------------------------------------------------------- observing ours


@dataclass(kw_only=True, slots=True)
class Marks:
    """Per event id: when each stage was reached (perf_counter seconds), and per call."""

    committed: dict[str, float] = field(default_factory=dict)
    picked: dict[str, float] = field(default_factory=dict)  # read by the Publisher
    acked: dict[str, float] = field(default_factory=dict)  # PubAck in, before _mark
    arrived: dict[str, float] = field(default_factory=dict)  # reached the city's Replicator
    apply_start: dict[str, float] = field(default_factory=dict)
    applied: dict[str, float] = field(default_factory=dict)  # city apply txn committed
    outcomes: Counter[str] = field(default_factory=Counter)
    txn_ms: list[float] = field(default_factory=list)  # per apply / apply_many call
    txn_events: int = 0  # messages those calls decided on
    batch_ms: list[float] = field(default_factory=list)  # per Replicator.handle_batch
    batch_sizes: list[int] = field(default_factory=list)
    handle_ms: list[float] = field(default_factory=list)  # per Replicator.handle
    seq_to_id: dict[int, str] = field(default_factory=dict)

    def delivery_ms(self) -> list[float]:
        """Per delivery unit: fetched batches when the replicator handles batches."""
        return list(self.batch_ms or self.handle_ms)


def observe_publisher(p: Patches, county: StreamNode, marks: Marks) -> None:
    pub = county.streams.publisher
    pending = p.install(pub, "_pending", None)
    mark = p.install(pub, "_mark", None)

    def timed_pending() -> Any:
        found = pending()
        t = now()
        for stored, _origin in found:
            marks.picked.setdefault(stored.event_id, t)
            marks.seq_to_id[stored.seq] = stored.event_id
        return found

    def timed_mark(seqs: list[int]) -> None:
        t = now()
        for seq in seqs:
            eid = marks.seq_to_id.get(seq)
            if eid is not None:
                marks.acked.setdefault(eid, t)
        mark(seqs)

    setattr(pub, "_pending", timed_pending)  # noqa: B010
    setattr(pub, "_mark", timed_mark)  # noqa: B010


def observe_replicator(p: Patches, city: StreamNode, marks: Marks) -> None:
    """Wrap the city's Replicator in place: the per-message path (`handle` → `apply`) and,
    where the product has it, the batch path (`handle_batch` → `apply_many`)."""
    rep = city.streams.replicator

    def record(m: messages.EventMessage, result: Applied, t0: float, t1: float) -> None:
        marks.outcomes[result.outcome] += 1
        if result.outcome == "applied":
            marks.apply_start.setdefault(m.event_id, t0)
            marks.applied.setdefault(m.event_id, t1)

    def arrived(msg: Msg, t: float) -> None:
        eid = (msg.headers or {}).get("Nats-Msg-Id")
        if eid is not None:
            marks.arrived.setdefault(eid, t)

    apply = p.install(rep, "apply", None)

    def timed_apply(m: messages.EventMessage, *, subject_writer: str | None = None
                    ) -> Applied:
        t0 = now()
        result: Applied = apply(m, subject_writer=subject_writer)
        t1 = now()
        marks.txn_ms.append((t1 - t0) * 1000)
        marks.txn_events += 1
        record(m, result, t0, t1)
        return result

    setattr(rep, "apply", timed_apply)  # noqa: B010
    handle = p.install(rep, "handle", None)

    async def timed_handle(msg: Msg) -> None:
        t0 = now()
        arrived(msg, t0)
        try:
            await handle(msg)
        finally:
            marks.handle_ms.append((now() - t0) * 1000)

    setattr(rep, "handle", timed_handle)  # noqa: B010
    if hasattr(rep, "apply_many"):
        apply_many = p.install(rep, "apply_many", None)

        def timed_apply_many(items: list[tuple[messages.EventMessage, str | None]]
                             ) -> list[Applied]:
            t0 = now()
            results: list[Applied] = apply_many(items)  # raises: nothing committed
            t1 = now()
            marks.txn_ms.append((t1 - t0) * 1000)
            marks.txn_events += len(items)
            for (m, _writer), result in zip(items, results, strict=True):
                record(m, result, t0, t1)
            return results

        setattr(rep, "apply_many", timed_apply_many)  # noqa: B010
    if hasattr(rep, "handle_batch"):
        handle_batch = p.install(rep, "handle_batch", None)

        async def timed_handle_batch(batch: list[Msg]) -> None:
            t0 = now()
            for msg in batch:
                arrived(msg, t0)
            try:
                await handle_batch(batch)
            finally:
                marks.batch_ms.append((now() - t0) * 1000)
                marks.batch_sizes.append(len(batch))

        setattr(rep, "handle_batch", timed_handle_batch)  # noqa: B010


def stage_table(marks: Marks, ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    stages = (("commit → read by the Publisher", "committed", "picked"),
              ("read → PubAck (publish window)", "picked", "acked"),
              ("PubAck → reaches the city's Replicator (sourcing, fetch, queue)", "acked",
               "arrived"),
              ("→ apply txn starts (decode, to_thread hop, batch mates)", "arrived",
               "apply_start"),
              ("apply (one SQL txn at the city)", "apply_start", "applied"),
              ("total: commit → applied at the city", "committed", "applied"))
    lines = [f"{'stage (per event)':<60} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"]
    data: dict[str, Any] = {}
    for label, a, b in stages:
        da, db = getattr(marks, a), getattr(marks, b)
        vals = [(db[i] - da[i]) * 1000 for i in ids if i in da and i in db]
        mean = sum(vals) / len(vals) if vals else math.nan
        lines.append(f"{label:<60} {ms(vals, 50):>8.2f} {ms(vals, 99):>8.2f} {mean:>8.2f}")
        data[label] = {"p50_ms": round(ms(vals, 50), 3), "p99_ms": round(ms(vals, 99), 3),
                       "mean_ms": round(mean, 3), "count": len(vals)}
    return "\n".join(lines), data


# --------------------------------------------------------------------------- lag


def stub_summaries(p: Patches, fed: NatsFederation) -> None:
    """Diagnostic: every node's summary task reuses its last summary instead of recomputing
    over all issues (Summaries.compute), so the cost of that recompute can be attributed."""
    for sn in fed.nodes.values():
        summaries = sn.streams.summaries
        compute = p.install(summaries, "compute", None)

        def reuse(summaries: Any = summaries, compute: Any = compute) -> Any:
            return summaries.latest or compute()

        setattr(summaries, "compute", reuse)  # noqa: B010


async def replication_lag(s: Settings, fed: NatsFederation, bare: dict[str, Row],
                          marks: Marks, out: Out, *, diagnostic: bool = False) -> Row:
    county, city = fed.nodes[COUNTY], fed.nodes[CITY]
    ids: list[str] = []
    lats: list[float] = []
    start = now()
    deadline = start + s.max_seconds
    for i in range(s.n):
        delay = start + i / s.rate - now()
        if delay > 0:
            await asyncio.sleep(delay)
        if now() > deadline:
            break
        eid, t = await asyncio.to_thread(submit_one, county)
        marks.committed[eid] = t
        ids.append(eid)
    submitted = now() - start
    stopped = len(ids) < s.n
    try:
        await poll(lambda: all(i in marks.applied for i in ids), timeout_s=s.max_seconds,
                   what="every submitted event applied at the city")
    except BenchFailure as exc:
        out.failures.append(f"lag: {exc}")
    lats = [(marks.applied[i] - marks.committed[i]) * 1000 for i in ids if i in marks.applied]
    timing = Timing(count=len(lats), seconds=submitted, latencies_ms=lats,
                    errors=len(ids) - len(lats), stopped_by_time=stopped)
    table, data = stage_table(marks, ids)
    what = ", summary recompute stubbed (diagnostic)" if diagnostic else ""
    out.reports.append(f"replication lag at {s.rate:.0f}/s{what}, by stage ({len(lats)} "
                       "events):\n" + table)
    out.extra["lag_stages_diagnostic" if diagnostic else "lag_stages"] = data
    d2 = bare["d2"]
    phase = (f"lag at {s.rate:.0f}/s, summaries stubbed (diag)" if diagnostic
             else f"lag at {s.rate:.0f}/s: county commit→city applied")
    row = Row(backend="ours", phase=phase, timing=timing, target=s.n,
              notes=("DIAGNOSTIC, not the product: every node's Summaries.compute returns "
                     "its last summary, as if the recompute were free; " if diagnostic
                     else "")
              + "IssueService.submit at the county at --rate (achieved "
              f"{len(ids) / submitted:.0f}/s = per s); latency = commit at the county → "
              f"apply txn committed at the city; vs d2 (same fetch): p50 "
              f"{timing_ratio(lats, d2.timing.latencies_ms, 50)}, p99 "
              f"{timing_ratio(lats, d2.timing.latencies_ms, 99)}",
              extra={"achieved_rate": round(len(ids) / max(submitted, 1e-9), 1)})
    compare(row, bare["d"], "d", throughput=False, latency=True)
    if d2.timing.count:
        row.extra["p50_vs_d2"] = round(row.p50 / d2.p50, 3)
        row.extra["p99_vs_d2"] = round(row.p99 / d2.p99, 3)
    return checked(row, out, lambda: verify_replicas(county, city, None))


def timing_ratio(ours: Sequence[float], ref: Sequence[float], q: float) -> str:
    a, b = ms(ours, q), ms(ref, q)
    return f"{a / b:.2f}×" if b and not math.isnan(a) and not math.isnan(b) else "-"


# --------------------------------------------------------------------------- summaries


async def summary_freshness(s: Settings, fed: NatsFederation, marks: Marks, out: Out) -> Row:
    county, city, province = fed.nodes[COUNTY], fed.nodes[CITY], fed.nodes[PROVINCE]
    rng = random.Random(7)

    def total(sn: StreamNode) -> int:
        latest = sn.streams.summaries.latest
        return -1 if latest is None else latest.total

    expected = count_rows(county, issues)
    await poll(lambda: total(province) == expected and total(city) == expected,
               timeout_s=60, what=f"province and city summaries at {expected}")
    lat: list[float] = []
    city_ms: list[float] = []
    applied_ms: list[float] = []
    errors = 0
    start = now()
    deadline = start + s.max_seconds
    for _ in range(s.summaries):
        if now() > deadline:
            break
        eid, t0 = await asyncio.to_thread(submit_one, county)
        marks.committed[eid] = t0
        expected += 1
        t_city: float | None = None
        try:
            limit = now() + 30
            while total(province) < expected:
                if t_city is None and total(city) >= expected:
                    t_city = now()
                if now() > limit:
                    raise BenchFailure(f"the province did not reflect change {expected}")
                await asyncio.sleep(0.005)
        except BenchFailure as exc:
            errors += 1
            out.failures.append(f"summaries: {exc}")
            continue
        t1 = now()
        lat.append((t1 - t0) * 1000)
        city_ms.append(((t_city or t1) - t0) * 1000)
        if eid in marks.applied:
            applied_ms.append((marks.applied[eid] - t0) * 1000)
        await asyncio.sleep(rng.uniform(0.1, 0.6))  # spread the changes over the 2 s poll
    timing = Timing(count=len(lat), seconds=now() - start, latencies_ms=lat, errors=errors,
                    stopped_by_time=len(lat) + errors < s.summaries)
    data = {"applied_at_city_p50_ms": round(ms(applied_ms, 50), 2),
            "city_summary_p50_ms": round(ms(city_ms, 50), 2),
            "city_summary_p99_ms": round(ms(city_ms, 99), 2)}
    return checked(Row(
        backend="ours", phase="summary freshness: county→province total",
        timing=timing, target=s.summaries, extra=data,
        notes="one submit at the county, then poll (5 ms) until the province's "
        "summaries.latest.total reflects it; changes 0.1-0.6 s apart; per s = changes/s "
        f"incl. the pauses; p50 of the stages from the commit: applied at the city "
        f"{data['applied_at_city_p50_ms']:.0f} ms, city's own summary "
        f"{data['city_summary_p50_ms']:.0f} ms (p99 {data['city_summary_p99_ms']:.0f})"),
        out, lambda: "ok" if count_rows(province, issues) == 0
        else _fail("the province holds issue records"))


# --------------------------------------------------------------------------- catch-up


@dataclass(kw_only=True, slots=True)
class Backlog:
    created: Row
    published: Row
    sourced_s: float
    expected_inbound: int


async def inbound_messages(nc: NATS) -> int:
    return int((await nc.jetstream().stream_info(inbound_stream(CITY))).state.messages)


async def make_backlog(s: Settings, fed: NatsFederation, nc_city: NATS, count: int,
                       label: str, out: Out) -> Backlog:
    """City node down: `count` submits at the county with the Publisher held back, then the
    Publisher drains them (timed) and the city's server sources them (timed)."""
    county = fed.nodes[COUNTY]
    pub = county.streams.publisher
    gate = asyncio.Event()
    p = Patches()
    publish_once = p.install(pub, "publish_once", None)

    async def gated(js: JetStreamContext) -> int:
        await gate.wait()
        result: int = await publish_once(js)
        return result

    setattr(pub, "publish_once", gated)  # noqa: B010
    before_in = await inbound_messages(nc_city)
    before_ev = count_rows(county, events, events.c.node == COUNTY)
    try:
        created = await asyncio.to_thread(bulk_submit, county, count, s.max_seconds)
    finally:
        gate.set()
        pub.wake.set()
        p.restore()
    row_c = checked(Row(
        backend="ours", phase=f"{label}: county submits (publisher held)", timing=created,
        target=count, notes="IssueService.submit in a loop in one thread, city node down; "
        "the county's summary task keeps recomputing meanwhile"), out,
        lambda: "ok" if count_rows(county, events, events.c.node == COUNTY)
        == before_ev + created.count else _fail("county event count differs"))
    pending = unpublished(county)
    t0 = now()
    done = await poll(lambda: unpublished(county) == 0, timeout_s=s.max_seconds,
                      interval_s=0.05, what="the county publishes its backlog")
    published = Timing(count=pending, seconds=done - t0, latencies_ms=[])
    row_p = checked(Row(
        backend="ours", phase=f"{label}: county Publisher drains", timing=published,
        target=pending, notes=f"{pending} unpublished events → PubAck'd and marked "
        f"(window {pub.window}: read, gather publish, mark per window)"), out,
        lambda: "ok")
    expected_inbound = before_in + created.count
    await poll_async(lambda: _inbound_at_least(nc_city, expected_inbound),
                     timeout_s=s.max_seconds, what="ZT_IN_330500 sourced the backlog")
    sourced = now() - t0
    return Backlog(created=row_c, published=row_p, sourced_s=sourced,
                   expected_inbound=expected_inbound)


async def _inbound_at_least(nc: NATS, n: int) -> bool:
    return await inbound_messages(nc) >= n


def bulk_submit(county: StreamNode, count: int, max_seconds: float) -> Timing:
    lat: list[float] = []
    start = now()
    deadline = start + max_seconds
    for _ in range(count):
        t0 = now()
        if t0 > deadline:
            break
        county.issues.submit(LEADER, submit_cmd())
        lat.append((now() - t0) * 1000)
    return Timing(count=len(lat), seconds=now() - start, latencies_ms=lat,
                  stopped_by_time=len(lat) < count)


@dataclass(kw_only=True, slots=True)
class CatchUp:
    timing: Timing
    startup_s: float
    steady_per_s: float
    marks: Marks
    extra: dict[str, Any]


async def restart_city_and_catch_up(s: Settings, fed: NatsFederation, count: int,
                                    threads: ThreadCpu | None) -> CatchUp:
    """Start the city's node and time it until `count` events are applied (bounded by
    --max-seconds). If the bound stops it, the rest is awaited untimed (bounded too) so
    the exactly-once check can still compare everything."""
    marks = Marks()
    p = Patches()
    ack_ms: list[float] = []
    ack = p.install(Msg, "ack", None)
    ack_sync = p.install(Msg, "ack_sync", None)

    async def timed_ack(self: Msg) -> None:
        t0 = now()
        try:
            await ack(self)
        finally:
            ack_ms.append((now() - t0) * 1000)

    async def timed_ack_sync(self: Msg, timeout: float = 1.0) -> Msg:
        t0 = now()
        try:
            result: Msg = await ack_sync(self, timeout)
            return result
        finally:
            ack_ms.append((now() - t0) * 1000)

    setattr(Msg, "ack", timed_ack)  # noqa: B010
    setattr(Msg, "ack_sync", timed_ack_sync)  # noqa: B010
    computes: list[float] = []
    cpu0 = threads.sample() if threads is not None else {}
    proc0 = time.process_time()
    t0 = now()
    try:
        city = await fed.start_node(CITY)  # its tasks have not run yet: wrap first
        observe_replicator(p, city, marks)
        compute = p.install(city.streams.summaries, "compute", None)

        def timed_compute() -> Any:
            c0 = now()
            try:
                return compute()
            finally:
                computes.append(now() - c0)

        setattr(city.streams.summaries, "compute", timed_compute)  # noqa: B010
        with contextlib.suppress(BenchFailure):  # reported through the count and the `*`
            await poll(lambda: marks.outcomes["applied"] >= count, timeout_s=s.max_seconds,
                       interval_s=0.02, what=f"the city applies {count} events")
        t1 = now()
        cpu = time.process_time() - proc0
        cpu1 = threads.sample() if threads is not None else {}
        n_applied = marks.outcomes["applied"]
        applied = sorted(marks.applied.values())
        first = applied[0] if applied else t1
        last = applied[-1] if applied else t1
        timing = Timing(count=n_applied, seconds=(last if n_applied >= count else t1) - t0,
                        latencies_ms=marks.delivery_ms(), errors=0,
                        stopped_by_time=n_applied < count)
        per = max(1, n_applied)
        delivery = sum(marks.batch_ms) if marks.batch_ms else sum(marks.handle_ms)
        extra: dict[str, Any] = {
            "startup_s": round(first - t0, 3),
            "steady_per_s": round((n_applied - 1) / (last - first), 1) if last > first
            else None,
            "path": "handle_batch → apply_many" if marks.batch_ms else "handle → apply",
            "txns": len(marks.txn_ms),
            "events_per_txn": round(marks.txn_events / max(1, len(marks.txn_ms)), 1),
            "txn_ms_mean": round(sum(marks.txn_ms) / max(1, len(marks.txn_ms)), 3),
            "txn_ms_per_event": round(sum(marks.txn_ms) / per, 3),
            "handling_ms_per_event": round(delivery / per, 3),
            "acks": len(ack_ms),
            "ack_ms_per_event": round(sum(ack_ms) / per, 3),
            "fetched_batches": len(marks.batch_sizes),
            "mean_batch": round(sum(marks.batch_sizes) / max(1, len(marks.batch_sizes)), 1),
            "per_message_handles": len(marks.handle_ms),
            "outcomes": dict(marks.outcomes),
            "city_summary_computes": len(computes),
            "city_summary_compute_s_total": round(sum(computes), 2),
            "city_summary_compute_s_max": round(max(computes), 3) if computes else 0.0,
            "cpu_ms_per_event": round(cpu * 1000 / per, 3),
            "wall_ms_per_event": round(timing.seconds * 1000 / per, 3),
        }
        for g in ThreadCpu.GROUPS if threads is not None else ():
            extra[f"cpu_ms_per_event_{g}"] = round((cpu1[g] - cpu0[g]) * 1000 / per, 3)
        if n_applied < count:
            log(f"  stopped by --max-seconds at {n_applied}; waiting for the rest, untimed")
            try:
                await poll(lambda: marks.outcomes["applied"] >= count,
                           timeout_s=3 * s.max_seconds, interval_s=0.2,
                           what=f"the city applies the rest of {count} events")
            except BenchFailure as exc:
                log(f"  {exc}")
            extra["applied_after_the_bound"] = marks.outcomes["applied"] - n_applied
    finally:
        p.restore()
    return CatchUp(timing=timing, startup_s=first - t0,
                   steady_per_s=extra["steady_per_s"] or math.nan, marks=marks, extra=extra)


def catch_up_breakdown(c: CatchUp, count: int) -> str:
    e = c.extra
    wall, handling = e["wall_ms_per_event"], e["handling_ms_per_event"]
    txn, acks = e["txn_ms_per_event"], e["ack_ms_per_event"]
    startup = e["startup_s"] * 1000 / max(1, c.timing.count)
    unit = (f"Replicator.handle_batch ({e['fetched_batches']} fetched batches, mean "
            f"{e['mean_batch']})" if e["fetched_batches"] else "Replicator.handle per message")
    rows = (("wall per event (start_node → last applied) / events", wall),
            ("  node start → first apply (build, gRPC, connect, subscribe), spread", startup),
            (f"  {unit}", handling),
            (f"    apply: {e['txns']} SQL write txns, {e['events_per_txn']} events each, "
             f"{e['txn_ms_mean']:.1f} ms each", txn),
            (f"    acks: {e['acks']} Msg.ack/ack_sync calls", acks),
            ("    rest: decode, to_thread hops, scheduling", handling - txn - acks),
            ("  rest: fetch round trips, event loop shared with other tasks",
             wall - startup - handling))
    lines = [f"where the catch-up time goes ({c.timing.count} of {count} events, path "
             f"{e['path']}; mean per event; CPU {e['cpu_ms_per_event']:.2f} ms/event: loop "
             f"{e.get('cpu_ms_per_event_loop', math.nan):.2f}, workers "
             f"{e.get('cpu_ms_per_event_workers', math.nan):.2f}, other "
             f"{e.get('cpu_ms_per_event_other', math.nan):.2f}); the city's summary task "
             f"recomputed {e['city_summary_computes']} times for "
             f"{e['city_summary_compute_s_total']:.1f} s (max "
             f"{e['city_summary_compute_s_max']:.2f} s) meanwhile",
             f"{'step':<76} {'ms/event':>9}"]
    lines += [f"{label:<76} {value:>9.3f}" for label, value in rows]
    return "\n".join(lines)


async def catch_up(s: Settings, fed: NatsFederation, bare: dict[str, Row],
                   threads: ThreadCpu, out: Out) -> list[Row]:
    county, province = fed.nodes[COUNTY], fed.nodes[PROVINCE]
    resends = [0]
    p = Patches()
    reconciler = county.streams.reconciler
    if reconciler is not None:
        resend = p.install(reconciler, "_resend", None)

        def counted(through: int) -> int:
            n = int(resend(through))
            resends[0] += n
            return n

        setattr(reconciler, "_resend", counted)  # noqa: B010
    nc_city = await connect(fed, CITY)
    try:
        log(f"  stopping the city's node; {s.backlog} submits at the county ...")
        await fed.stop_node(CITY)
        b = await make_backlog(s, fed, nc_city, s.backlog, "backlog", out)
        rows = [b.created, b.published]
        compare(b.published, bare["b"], "b", throughput=True, latency=False)
        log(f"  ZT_IN_{CITY} sourced the backlog {b.sourced_s:.1f}s after the publisher "
            "started; starting the city's node ...")
        c = await restart_city_and_catch_up(s, fed, b.created.timing.count, threads)
        city = fed.nodes[CITY]
        js_city = nc_city.jetstream()

        async def settled() -> bool:
            i = await js_city.consumer_info(inbound_stream(CITY), "apply")
            return (i.num_pending, i.num_ack_pending) == (0, 0)

        with contextlib.suppress(BenchFailure):  # the check below reports it
            await poll_async(settled, timeout_s=10, what="the inbound consumer settles")
        info = await js_city.consumer_info(inbound_stream(CITY), "apply")
        assert county.streams.nc is not None
        ev_info = await county.streams.nc.jetstream().stream_info(events_stream(COUNTY))
        c.extra["county_stream_messages"] = int(ev_info.state.messages)
        c.extra["county_events"] = count_rows(county, events, events.c.node == COUNTY)
        c.extra.update(reconciler_resends=resends[0], sourced_s=round(b.sourced_s, 2),
                       inbound_num_pending=info.num_pending,
                       inbound_ack_pending=info.num_ack_pending)
        row = Row(backend="ours", phase=f"catch-up: city applies {b.created.timing.count}",
                  timing=c.timing, target=b.created.timing.count, extra=c.extra,
                  notes=f"city node started with the backlog in ZT_IN_{CITY}; sec = "
                  f"start_node → last applied (startup {c.startup_s:.2f} s, then "
                  f"{c.steady_per_s:.0f}/s); p50/p99 = " + ("per fetched batch (Replicator."
                  "handle_batch)" if c.marks.batch_ms else "Replicator.handle per message")
                  + "; vs c2: "
                  f"{c.timing.count / max(c.timing.seconds, 1e-9) / bare['c2'].per_second:.3f}×;"
                  f" outcomes {dict(c.marks.outcomes)}; reconciler re-sent {resends[0]}")
        compare(row, bare["c"], "c", throughput=True, latency=False)
        if bare["c2"].timing.count:
            row.extra["throughput_vs_c2"] = round(row.per_second / bare["c2"].per_second, 4)

        def verify() -> str:
            result = verify_replicas(county, city, province)
            if c.marks.outcomes["applied"] != b.created.timing.count:  # incl. untimed
                raise BenchFailure(f"{c.marks.outcomes['applied']} applied, "
                                   f"{b.created.timing.count} created")
            if (info.num_pending, info.num_ack_pending) != (0, 0):
                raise BenchFailure(f"inbound consumer: {info.num_pending} pending, "
                                   f"{info.num_ack_pending} unacknowledged")
            return result

        rows.append(checked(row, out, verify))
        out.reports.append(catch_up_breakdown(c, b.created.timing.count))
        out.extra["catch_up"] = c.extra
        if s.profile:
            out.reports.append(await profile_catch_up(s, fed, nc_city, out))
    finally:
        p.restore()
        await nc_city.close()
    return rows


# --------------------------------------------------------------------------- profile


def _stats_lines(stats: pstats.Stats, stream: io.StringIO, order: str, top: int) -> list[str]:
    stats.sort_stats(order).print_stats(r"^(?!.*(bench/|\{method '(en|dis)able'))", top)
    return [ln for ln in stream.getvalue().splitlines()
            if ln.strip() and not ln.lstrip().startswith(("List reduced", "Ordered by"))
            and "function calls" not in ln]


def _strip_paths(report: str) -> str:
    for prefix in (str(REPO / ".venv" / "lib" / "python3.11" / "site-packages") + "/",
                   str(REPO) + "/", sys.base_prefix + "/lib/python3.11/"):
        report = report.replace(prefix, "")
    return report


async def profile_catch_up(s: Settings, fed: NatsFederation, nc_city: NATS, out: Out) -> str:
    """cProfile the city catching up on `s.profile` events: the loop and the workers."""
    log(f"profile: stopping the city's node; {s.profile} submits at the county ...")
    await fed.stop_node(CITY)
    b = await make_backlog(s, fed, nc_city, s.profile, "profile", Out())
    executor = ProfilingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    main = cProfile.Profile()
    executor.enabled = True
    main.enable()
    c = await restart_city_and_catch_up(s, fed, b.created.timing.count, None)
    main.disable()
    executor.enabled = False
    try:
        check = verify_replicas(fed.nodes[COUNTY], fed.nodes[CITY], fed.nodes[PROVINCE])
    except BenchFailure as exc:
        check = "FAIL"
        out.failures.append(f"profile catch-up: {exc}")
    log(f"  cProfile: {c.timing.count} events in {c.timing.seconds:.2f}s, check {check}")
    top = 12
    idle = sum(tt for (_f, _l, name), (_cc, _nc, tt, _ct, _callers)
               in pstats.Stats(main).stats.items()  # type: ignore[attr-defined]
               if "epoll" in name)
    parts = [f"cProfile of the city catching up on {c.timing.count} events (check {check}): "
             f"{c.timing.seconds:.2f} s wall under cProfile, event loop idle in epoll "
             f"{idle:.2f} s"]
    stream = io.StringIO()
    parts.append(f"-- event-loop thread (nats client, Replicator.handle, summaries), top {top}"
                 " by cumulative --")
    parts += _stats_lines(pstats.Stats(main, stream=stream), stream, "cumulative", top)
    if executor.profiles:
        stream = io.StringIO()
        stats = pstats.Stats(executor.profiles[0], stream=stream)
        for prof in executor.profiles[1:]:
            stats.add(prof)
        parts.append(f"-- {len(executor.profiles)} to_thread worker thread(s) (apply txns, "
                     f"summary compute), merged, top {top} by cumulative --")
        parts += _stats_lines(stats, stream, "cumulative", top)
        stream = io.StringIO()
        stats = pstats.Stats(executor.profiles[0], stream=stream)
        for prof in executor.profiles[1:]:
            stats.add(prof)
        stats.sort_stats("cumulative").print_callees(
            r"federation/replication.py:\d+\((apply|apply_many|_apply_in)\)")
        parts.append("-- Replicator.apply / apply_many / _apply_in: direct callees --")
        parts += [ln for ln in stream.getvalue().splitlines() if ln.strip()
                  and not ln.lstrip().startswith(("Ordered by", "Function was called"))]
        stream = io.StringIO()
        both = pstats.Stats(main, stream=stream)
        for prof in executor.profiles:
            both.add(prof)
        parts.append(f"-- all threads, top {top} by own time (tottime) --")
        parts += _stats_lines(both, stream, "tottime", top)
    return _strip_paths("\n".join(parts))


# --------------------------------------------------------------------------- driver


async def run(s: Settings, out: Out) -> list[Row]:
    clock = SystemClock()
    threads = ThreadCpu()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(initializer=threads.register_worker))
    # nats_federation() is annotated with FakeClock but only ever calls clock.now().
    setattr(nats_config, "leaf_permissions",  # noqa: B010  # bench servers only
            with_bench_streams(nats_config.leaf_permissions))
    setattr(nats_config, "node_permissions",  # noqa: B010
            with_bench_acks(nats_config.node_permissions))
    async with nats_federation(s.tmp / "fed", TOPOLOGY, cast(FakeClock, clock)) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        log("warm-up: the first events through the whole chain ...")
        payload = await template_message(county)
        for _ in range(s.warmup):
            await asyncio.to_thread(submit_one, county)
        await poll(lambda: count_rows(city, issues) == count_rows(county, issues),
                   timeout_s=60, what="the warm-up at the city")
        log(f"  warm-up: check {verify_replicas(county, city, fed.nodes[PROVINCE])}")

        log("bare JetStream costs:")
        bare = await bare_costs(s, fed, payload, out)
        rows = list(bare.values())

        log("ours:")
        marks = Marks()
        p = Patches()
        observe_publisher(p, county, marks)
        observe_replicator(p, city, marks)
        try:
            rows.append(await replication_lag(s, fed, bare, marks, out))
            if s.diagnose:
                diag = Patches()
                stub_summaries(diag, fed)
                try:
                    rows.append(await replication_lag(s, fed, bare, marks, out,
                                                      diagnostic=True))
                finally:
                    diag.restore()
            rows.append(await summary_freshness(s, fed, marks, out))
        finally:
            p.restore()
        rows += await catch_up(s, fed, bare, threads, out)
    return rows


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    head = (f"{'phase':<46} {'count':>7} {'sec':>7} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'vs':>3} {'thr/bare':>8} {'p50/bare':>8} {'p99/bare':>8} {'err':>4} check")
    lines = [head, "-" * len(head)]
    for r in rows:
        count = f"{r.timing.count}" + ("*" if r.timing.stopped_by_time else "")
        lines.append(
            f"{r.phase:<46} {count:>7} {r.timing.seconds:>7.2f} {r.per_second:>8.0f} "
            f"{r.p50:>8.2f} {r.p99:>8.2f} {r.extra.get('compared_with', ''):>3} "
            f"{_ratio(r.ratios.get('throughput_vs_bare')):>8} "
            f"{_ratio(r.ratios.get('p50_vs_bare')):>8} "
            f"{_ratio(r.ratios.get('p99_vs_bare')):>8} "
            f"{r.timing.errors:>4} {r.check}")
    return "\n".join(lines)


def meta(s: Settings) -> dict[str, Any]:
    return {
        **git_state(),
        "started_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "sqlite": sqlite3.sqlite_version,
        "nats_py": version("nats-py"),
        "transport": "nats-server per node, TLS leaf links on 127.0.0.1, all nodes in one "
                     "process and event loop",
        "clock": "node.app.clock.SystemClock",
        "n": s.n, "rate": s.rate, "backlog": s.backlog, "summaries": s.summaries,
        "warmup": s.warmup, "max_seconds": s.max_seconds, "profile": s.profile,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000,
                   help="messages per bare phase and issues of the lag phase (default 2000)")
    p.add_argument("--rate", type=float, default=200.0,
                   help="submits per second in the lag phase (default 200)")
    p.add_argument("--backlog", type=int, default=10_000,
                   help="events created while the city is down (default 10000)")
    p.add_argument("--summaries", type=int, default=30,
                   help="changes timed for summary freshness (default 30)")
    p.add_argument("--warmup", type=int, default=20, help="untimed operations per phase")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "streams.json")
    p.add_argument("--max-seconds", type=float, default=90.0,
                   help="wall-time bound of each phase (default 90)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also cProfile the city catching up on N more events")
    p.add_argument("--no-diagnostic", action="store_true",
                   help="skip the diagnostic lag run with the summary recompute stubbed")
    p.add_argument("--tmp-dir", type=Path, default=None,
                   help="where the SQLite files, certificates and JetStream stores go")
    args = p.parse_args(argv)
    if (args.n < 1 or args.rate <= 0 or args.backlog < 1 or args.summaries < 1
            or args.warmup < 1 or args.max_seconds <= 0 or args.profile < 0):
        p.error("--n, --backlog, --summaries, --warmup must be >= 1; --rate, --max-seconds "
                "> 0; --profile >= 0")

    out = Out()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zhitong-bench-", dir=args.tmp_dir) as tmp_s:
        s = Settings(n=args.n, rate=args.rate, backlog=args.backlog, summaries=args.summaries,
                     warmup=args.warmup, max_seconds=args.max_seconds, profile=args.profile,
                     diagnose=not args.no_diagnostic, tmp=Path(tmp_s))
        info = meta(s)
        try:
            rows = asyncio.run(run(s, out))
        except BenchFailure as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            return 1
    elapsed = time.perf_counter() - started
    info["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)

    print()
    print(f"streams county {COUNTY} → city {CITY} → province {PROVINCE}: n={s.n}, rate "
          f"{s.rate:.0f}/s, backlog {s.backlog}, {os.cpu_count()} CPUs, total {elapsed:.0f} s, "
          f"1-min load {info['loadavg_1m_at_start']:.2f} at start, "
          f"{info['loadavg_1m_at_end']:.2f} at end")
    print(f"sqlite {info['sqlite']} (WAL, synchronous=FULL); nats-py {info['nats_py']}; one "
          "nats-server per node, TLS leaf links; all nodes and the bench in one process")
    if info["git_head"]:
        changed = info["git_changed"]
        print(f"code: {info['git_head'][:10]}" + (f" + {len(changed)} uncommitted path(s): "
                                                  f"{', '.join(changed)}" if changed else ""))
    print("vs = the bare row compared with; thr = ours/bare per s (1.00 = as fast), p50/p99 = "
          "ours/bare latency (1.00 = as fast); * = stopped by --max-seconds")
    print()
    print(format_table(rows))
    for row in rows:
        if row.notes:
            print(f"  note {row.phase}: {row.notes}")
    for report in out.reports:
        print()
        print(report)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "meta": info | {"seconds_total": round(elapsed, 1)},
        "rows": [r.to_json() for r in rows],
        "failures": out.failures,
        "reports": out.reports,
        **out.extra,
    }, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nsaved {args.json}")
    if out.failures:
        for f in out.failures:
            print(f"FAIL: {f}", file=sys.stderr)
        return 1
    print("all checks ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
