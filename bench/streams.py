"""Event streams benchmark: replication over NATS JetStream vs the bare JetStream costs.

    .venv/bin/python -m bench.streams [--n 2000] [--rate 200] [--backlog 10000]
                                      [--summaries 30] [--json bench/results/streams.json]
                                      [--max-seconds 90] [--profile 3000]

One run, on loopback, with a real local federation (tests.support.federation): 浙江省 (330000),
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
      path, `handle`, without the SQL), and
      c3. pull in batches of 256, each batch inserted (one row per message) in ONE sqlite3
      transaction (WAL, synchronous=FULL), then plain acks: the bare cost of the catch-up
      (issue 17's goal: catch-up ≥ 0.5× of it);
   d. cross-domain sourced delivery: publish at the county on a stream that a stream at the
      city sources over the leaf link ($JS.zt330522.API), one message at a time, consumed at
      the city with fetch(1); latency = publish → received at the city;
      d2. the same at --rate messages/s, consumed with fetch(256, timeout=1 s) as the
      replicator does.
2. Replication lag under sustained load: --n issues submitted at the county through
   IssueService.submit at --rate per second; per event, commit at the county → applied at
   the city, with a split by stage (publisher pick-up, PubAck, arrival at the city's
   replicator, apply txn), as the nodes report them through their probes
   (node/app/probes.py, recorded by bench/common/probes.py).
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

Every loop is bounded by a count and by --max-seconds (per phase). Where the product has no
seam, the bench substitutes behaviour for a block (`substituted`): the Publisher held back
while a backlog builds up, the diagnostic free summary recompute, and the scratch streams'
permissions on the bench's servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
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

from bench.common.accounting import ThreadCpu
from bench.common.log import log
from bench.common.probes import Recorder
from bench.common.profile import (
    ProfilingExecutor,
    epoll_idle_seconds,
    merged_stats,
    stats_lines,
    strip_paths,
)
from bench.common.results import (
    RESULTS,
    BenchFailure,
    code_line,
    exit_code,
    git_state,
    loadavg_1m,
    machine_meta,
    write_json,
)
from bench.common.rows import Row
from bench.common.rows import compare as compare_ratios
from bench.common.tables import (
    CHECK,
    ERRORS,
    P50,
    P99,
    SECONDS,
    Column,
    count_column,
    format_table,
    per_second_column,
    phase_column,
    ratio_column,
)
from bench.common.timing import Timing, percentile, timed_loop_async, wait_until
from federation.nats import messages
from federation.nats import server_config as nats_config
from federation.nats.server_config import NatsServerSpec, deliver_prefix, domain_of, node_user
from federation.nats.streams import events_stream, inbound_stream
from federation.replication.consumer import FETCH_BATCH
from node.app.clock import SystemClock
from node.app.probes import Stage
from node.app.replica import Outcome
from node.domain.issue import event_id_of
from node.store import repo
from node.store.schema import dead_letters, events, issues
from tests.support.brokers import PASSWORD
from tests.support.data import STAFF, submit_cmd
from tests.support.federation import FedNode, Harness, nats_federation

COUNTY, CITY, PROVINCE = "330522", "330500", "330000"
TOPOLOGY: dict[str, str | None] = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}
LEADER = STAFF["leader"]
WINDOW = 256  # the Publisher's default window (nats.publish_window)
PULL_BATCH = 100
# scratch streams: subjects inside the county's own namespace (its publish permission)
S_PUB, S_SRC, S_SINK = "ZT_BENCH_PUB", "ZT_BENCH_SRC", "ZT_BENCH_SINK"
SUBJ_PUB, SUBJ_SRC = f"zt.{COUNTY}.bench.pub", f"zt.{COUNTY}.bench.src"
TABLE: tuple[Column[Row], ...] = (
    phase_column(46), count_column(7), SECONDS, per_second_column("per s", 8), P50, P99,
    Column("vs", 3, lambda r: f"{r.extra.get('compared_with', '')}"),
    ratio_column("thr/bare", 8, "throughput_vs_bare", fine=True),
    ratio_column("p50/bare", 8, "p50_vs_bare", fine=True),
    ratio_column("p99/bare", 8, "p99_vs_bare", fine=True),
    ERRORS, CHECK,
)


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
    """Ratios ours/bare (`*_vs_bare`), and which bare row (`ref_id`) they are against."""
    if compare_ratios(row, ref, "bare", throughput=throughput, latency=latency):
        row.extra["compared_with"] = ref_id


def ms(values: Sequence[float], q: float) -> float:
    return percentile(values, q)


@contextlib.contextmanager
def substituted(owner: object, attr: str, replacement: object) -> Iterator[None]:
    """`owner.attr` is `replacement` for the block, then what it was (bench-only; only for
    behaviour the product has no seam for — timings come through the nodes' probes)."""
    original = getattr(owner, attr)
    own = attr in vars(owner)
    setattr(owner, attr, replacement)
    try:
        yield
    finally:
        if own:
            setattr(owner, attr, original)
        else:
            delattr(owner, attr)


# --------------------------------------------------------------------------- database


def count_rows(sn: FedNode, table: Any, *where: Any) -> int:
    with sn.node.engine.connect() as conn:
        stmt = select(func.count()).select_from(table)
        for w in where:
            stmt = stmt.where(w)
        return int(conn.execute(stmt).scalar_one())


def unpublished(sn: FedNode) -> int:
    return count_rows(sn, events, events.c.published.is_(False))


def verify_replicas(county: FedNode, city: FedNode, province: FedNode | None) -> str:
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


def submit_one(sn: FedNode) -> tuple[str, float]:
    """One IssueService.submit; returns the event id and the time right after the commit."""
    issue, _ = sn.issues.submit(LEADER, submit_cmd())
    return event_id_of(issue.id, 1), now()


# --------------------------------------------------------------------------- bare JetStream


async def connect(fed: Harness, code: str) -> NATS:
    return await nats.connect(f"nats://127.0.0.1:{fed.ports[code]['nats']}",
                              user=node_user(code), password=PASSWORD, name=f"bench-{code}",
                              connect_timeout=5, max_reconnect_attempts=3)


def scratch(name: str, subjects: list[str] | None = None,
            sources: list[StreamSource] | None = None) -> StreamConfig:
    return StreamConfig(name=name, subjects=subjects, sources=sources,
                        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                        discard=DiscardPolicy.OLD, duplicate_window=120.0)


async def template_message(county: FedNode) -> bytes:
    """A real event message of the county (one submit), as the Publisher encodes it."""
    event_id, _ = await asyncio.to_thread(submit_one, county)
    issue_id = event_id.rsplit("@", 1)[0]
    with county.node.engine.connect() as conn:
        stored = repo.events_of(conn, issue_id)[0]
    return messages.encode(stored, COUNTY)


async def bare_costs(s: Settings, fed: Harness, payload: bytes, out: Out
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
        # (c3) batches of 256, each inserted in one SQLite transaction, then plain acks
        rows["c3"] = await bare_pull(js_c, "c3", FETCH_BATCH, False, total, s, out,
                                     insert=s.tmp / "bare-c3.sqlite3")

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


class BareInsert:
    """The batched insert of the catch-up's baseline: every message of a fetched batch as
    one row (its id, subject, stream position and bytes) in ONE transaction, plain sqlite3
    on a fresh file with the node's settings (WAL, synchronous=FULL, BEGIN IMMEDIATE)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS inbound (stream_seq INTEGER PRIMARY KEY, "
                        "event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, data BLOB)")

    def insert(self, msgs: Sequence[Any]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT INTO inbound VALUES (?, ?, ?, ?)", [
            (m.metadata.sequence.stream, (m.headers or {}).get("Nats-Msg-Id", ""),
             m.subject, m.data) for m in msgs])
        self.db.execute("COMMIT")

    def rows(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM inbound").fetchone()[0])


async def bare_pull(js: JetStreamContext, key: str, batch: int, sync: bool, total: int,
                    s: Settings, out: Out, *, insert: Path | None = None) -> Row:
    durable = f"bench_{key}"
    sub = await js.pull_subscribe("", durable=durable, stream=S_PUB, config=ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=4 * batch))
    got = [0]
    table = BareInsert(insert) if insert is not None else None

    async def one_batch(_i: int) -> bool:
        msgs = await sub.fetch(min(batch, total - got[0]), timeout=5)
        if table is not None:
            table.insert(msgs)
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
        await wait_until(settled, timeout_s=10, interval_s=0.01, what="acks to land")
    info = await js.consumer_info(S_PUB, durable)
    await sub.unsubscribe()
    t = Timing(count=got[0], seconds=tb.seconds, latencies_ms=tb.latencies_ms,
               errors=tb.errors, stopped_by_time=tb.stopped_by_time)
    stored = table.rows() if table is not None else got[0]
    if table is not None:
        table.db.close()
    phase = (f"c2. bare pull {batch} + ack_sync each" if sync
             else f"c3. bare pull {batch} + batched insert + ack" if table is not None
             else f"c. bare pull + ack, batches of {batch}")
    how = ("ack_sync per message (as the Replicator's per-message path), no SQL" if sync
           else "each batch inserted (one row per message) in one sqlite3 transaction, "
           "WAL, synchronous=FULL, then plain acks" if table is not None
           else "plain ack (no wait)")
    return checked(Row(
        backend="nats", phase=phase, timing=t, target=total, baseline=True,
        notes=f"durable pull consumer on a local stream at the county, {total} messages; "
        f"{how}; p50/p99 are per batch"), out,
        lambda: "ok" if (info.num_ack_pending, info.num_pending) == (0, 0)
        and info.delivered.consumer_seq == got[0] and stored == got[0]
        else _fail(f"consumer: {info.num_ack_pending} ack pending, {info.num_pending} "
                   f"pending, {info.delivered.consumer_seq} delivered for {got[0]}, "
                   f"{stored} rows inserted"))


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


APPLY_TXNS = (Stage.REPLICA_APPLY, Stage.REPLICA_APPLY_MANY)


@dataclass(kw_only=True, slots=True)
class Marks:
    """Per event id: when each stage was reached (perf_counter seconds), and per call, as
    the county's node (its Publisher) and the city's (its Replicator, replica service and
    rollup) report them through their probes; `committed` is the bench's own."""

    county: Recorder = field(default_factory=Recorder)
    city: Recorder = field(default_factory=Recorder)
    committed: dict[str, float] = field(default_factory=dict)

    def stage_times(self) -> dict[str, dict[str, float]]:
        """The stages of the lag table: per event id, when it reached each."""
        applied = self.applied
        return {
            "committed": self.committed,
            "picked": self.county.reached(Stage.PUBLISHER_PICKED),  # read by the Publisher
            "acked": self.county.first_start(Stage.PUBLISHER_MARK),  # PubAck in, marking
            "arrived": self.city.first_start(Stage.REPLICATOR_BATCH,
                                             Stage.REPLICATOR_HANDLE),  # the city's Replicator
            "apply_start": self.city.last_start_before(APPLY_TXNS, applied),
            "applied": applied,  # the city's apply txn committed
        }

    @property
    def applied(self) -> dict[str, float]:
        return self.city.reached(Stage.REPLICA_APPLIED)

    def is_applied(self, event_id: str) -> bool:
        return self.city.has_reached(Stage.REPLICA_APPLIED, event_id)

    @property
    def applied_count(self) -> int:
        return self.city.count(Stage.REPLICA_APPLIED)

    @property
    def outcomes(self) -> dict[str, int]:
        return {o.value: n for o in Outcome if (n := self.city.count(o.stage))}

    @property
    def txn_ms(self) -> list[float]:  # per apply / apply_many call
        return self.city.ms(*APPLY_TXNS)

    @property
    def txn_events(self) -> int:  # messages those calls decided on
        return sum(len(span.keys) for span in self.city.spans(*APPLY_TXNS))

    @property
    def batch_ms(self) -> list[float]:  # per Replicator.handle_batch
        return self.city.ms(Stage.REPLICATOR_BATCH)

    @property
    def batch_sizes(self) -> list[int]:
        return [len(span.keys) for span in self.city.spans(Stage.REPLICATOR_BATCH)]

    @property
    def handle_ms(self) -> list[float]:  # per Replicator.handle
        return self.city.ms(Stage.REPLICATOR_HANDLE)

    @property
    def ack_ms(self) -> list[float]:  # per Msg.ack / ack_sync of the Replicator
        return self.city.ms(Stage.REPLICATOR_ACK)

    @property
    def compute_s(self) -> list[float]:  # per Rollup.compute of the city
        return [ms / 1000 for ms in self.city.ms(Stage.ROLLUP_COMPUTE)]

    def delivery_ms(self) -> list[float]:
        """Per delivery unit: fetched batches when the replicator handles batches."""
        return self.batch_ms or self.handle_ms


def listening(probe: Recorder) -> Recorder:
    """`probe`, emptied and recording."""
    probe.reset()
    probe.recording = True
    return probe


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
    times = marks.stage_times()
    for label, a, b in stages:
        da, db = times[a], times[b]
        vals = [(db[i] - da[i]) * 1000 for i in ids if i in da and i in db]
        mean = sum(vals) / len(vals) if vals else math.nan
        lines.append(f"{label:<60} {ms(vals, 50):>8.2f} {ms(vals, 99):>8.2f} {mean:>8.2f}")
        data[label] = {"p50_ms": round(ms(vals, 50), 3), "p99_ms": round(ms(vals, 99), 3),
                       "mean_ms": round(mean, 3), "count": len(vals)}
    return "\n".join(lines), data


# --------------------------------------------------------------------------- lag


def free_summaries(fed: Harness) -> contextlib.ExitStack:
    """Diagnostic: every node's summary task reuses its last summary instead of recomputing
    over all issues (Rollup.compute), so the cost of that recompute can be attributed.
    Behaviour, not a timing: no probe can do it, so it is substituted (until the stack
    closes)."""
    stack = contextlib.ExitStack()
    for sn in fed.nodes.values():
        rollup = sn.streams.summaries
        compute = rollup.compute

        def reuse(rollup: Any = rollup, compute: Any = compute) -> Any:
            return rollup.latest or compute()

        stack.enter_context(substituted(rollup, "compute", reuse))
    return stack


async def replication_lag(s: Settings, fed: Harness, bare: dict[str, Row],
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
        await wait_until(lambda: all(marks.is_applied(i) for i in ids),
                         timeout_s=s.max_seconds, what="every submitted event applied at the city")
    except BenchFailure as exc:
        out.failures.append(f"lag: {exc}")
    applied = marks.applied
    lats = [(applied[i] - marks.committed[i]) * 1000 for i in ids if i in applied]
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
              notes=("DIAGNOSTIC, not the product: every node's Rollup.compute returns "
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


async def summary_freshness(s: Settings, fed: Harness, marks: Marks, out: Out) -> Row:
    county, city, province = fed.nodes[COUNTY], fed.nodes[CITY], fed.nodes[PROVINCE]
    rng = random.Random(7)

    def total(sn: FedNode) -> int:
        latest = sn.streams.summaries.latest
        return -1 if latest is None else latest.total

    expected = count_rows(county, issues)
    await wait_until(lambda: total(province) == expected and total(city) == expected,
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
        applied_at = marks.applied.get(eid)
        if applied_at is not None:
            applied_ms.append((applied_at - t0) * 1000)
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


async def make_backlog(s: Settings, fed: Harness, nc_city: NATS, count: int,
                       label: str, out: Out) -> Backlog:
    """City node down: `count` submits at the county with the Publisher held back, then the
    Publisher drains them (timed) and the city's server sources them (timed)."""
    county = fed.nodes[COUNTY]
    pub = county.streams.publisher
    gate = asyncio.Event()
    publish_once = pub.publish_once

    async def gated(js: JetStreamContext) -> int:  # held back: behaviour, no seam for it
        await gate.wait()
        return await publish_once(js)

    before_in = await inbound_messages(nc_city)
    before_ev = count_rows(county, events, events.c.node == COUNTY)
    with substituted(pub, "publish_once", gated):
        try:
            created = await asyncio.to_thread(bulk_submit, county, count, s.max_seconds)
        finally:
            gate.set()
            pub.wake.set()
    row_c = checked(Row(
        backend="ours", phase=f"{label}: county submits (publisher held)", timing=created,
        target=count, notes="IssueService.submit in a loop in one thread, city node down; "
        "the county's summary task keeps recomputing meanwhile"), out,
        lambda: "ok" if count_rows(county, events, events.c.node == COUNTY)
        == before_ev + created.count else _fail("county event count differs"))
    pending = unpublished(county)
    t0 = now()
    done = await wait_until(lambda: unpublished(county) == 0, timeout_s=s.max_seconds,
                            interval_s=0.05, what="the county publishes its backlog")
    published = Timing(count=pending, seconds=done - t0, latencies_ms=[])
    row_p = checked(Row(
        backend="ours", phase=f"{label}: county Publisher drains", timing=published,
        target=pending, notes=f"{pending} unpublished events → PubAck'd and marked "
        f"(window {pub.window}: read, gather publish, mark per window)"), out,
        lambda: "ok")
    expected_inbound = before_in + created.count
    await wait_until(lambda: _inbound_at_least(nc_city, expected_inbound),
                     timeout_s=s.max_seconds, what="ZT_IN_330500 sourced the backlog")
    sourced = now() - t0
    return Backlog(created=row_c, published=row_p, sourced_s=sourced,
                   expected_inbound=expected_inbound)


async def _inbound_at_least(nc: NATS, n: int) -> bool:
    return await inbound_messages(nc) >= n


def bulk_submit(county: FedNode, count: int, max_seconds: float) -> Timing:
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


async def restart_city_and_catch_up(s: Settings, fed: Harness, count: int,
                                    probe: Recorder, threads: ThreadCpu | None) -> CatchUp:
    """Start the city's node and time it until `count` events are applied (bounded by
    --max-seconds), from what its probe records. If the bound stops it, the rest is awaited
    untimed (bounded too) so the exactly-once check can still compare everything."""
    marks = Marks(city=listening(probe))
    cpu0 = threads.sample() if threads is not None else {}
    proc0 = time.process_time()
    t0 = now()
    assert fed.probes[CITY] is probe  # the restarted node reports to it
    await fed.start_node(CITY)
    with contextlib.suppress(BenchFailure):  # reported through the count and the `*`
        await wait_until(lambda: marks.applied_count >= count,
                         timeout_s=s.max_seconds, interval_s=0.02,
                         what=f"the city applies {count} events")
    t1 = now()
    cpu = time.process_time() - proc0
    cpu1 = threads.sample() if threads is not None else {}
    n_applied = marks.applied_count
    applied = sorted(marks.applied.values())
    first = applied[0] if applied else t1
    last = applied[-1] if applied else t1
    timing = Timing(count=n_applied, seconds=(last if n_applied >= count else t1) - t0,
                    latencies_ms=marks.delivery_ms(), errors=0,
                    stopped_by_time=n_applied < count)
    per = max(1, n_applied)
    batch_ms, txn_ms, ack_ms = marks.batch_ms, marks.txn_ms, marks.ack_ms
    batch_sizes, computes = marks.batch_sizes, marks.compute_s
    delivery = sum(batch_ms) if batch_ms else sum(marks.handle_ms)
    extra: dict[str, Any] = {
        "startup_s": round(first - t0, 3),
        "steady_per_s": round((n_applied - 1) / (last - first), 1) if last > first
        else None,
        "path": "handle_batch → apply_many" if batch_ms else "handle → apply",
        "txns": len(txn_ms),
        "events_per_txn": round(marks.txn_events / max(1, len(txn_ms)), 1),
        "txn_ms_mean": round(sum(txn_ms) / max(1, len(txn_ms)), 3),
        "txn_ms_per_event": round(sum(txn_ms) / per, 3),
        "handling_ms_per_event": round(delivery / per, 3),
        "acks": len(ack_ms),
        "ack_ms_per_event": round(sum(ack_ms) / per, 3),
        "fetched_batches": len(batch_sizes),
        "mean_batch": round(sum(batch_sizes) / max(1, len(batch_sizes)), 1),
        "per_message_handles": len(marks.handle_ms),
        "outcomes": marks.outcomes,
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
            await wait_until(lambda: marks.applied_count >= count,
                             timeout_s=3 * s.max_seconds, interval_s=0.2,
                             what=f"the city applies the rest of {count} events")
        except BenchFailure as exc:
            log(f"  {exc}")
        extra["applied_after_the_bound"] = marks.applied_count - n_applied
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


async def catch_up(s: Settings, fed: Harness, bare: dict[str, Row],
                   probes: dict[str, Recorder], threads: ThreadCpu, out: Out) -> list[Row]:
    county, province = fed.nodes[COUNTY], fed.nodes[PROVINCE]
    county_probe = listening(probes[COUNTY])  # its reconciler: what it re-sends
    resends = [0]
    nc_city = await connect(fed, CITY)
    try:
        log(f"  stopping the city's node; {s.backlog} submits at the county ...")
        await fed.stop_node(CITY)
        b = await make_backlog(s, fed, nc_city, s.backlog, "backlog", out)
        rows = [b.created, b.published]
        compare(b.published, bare["b"], "b", throughput=True, latency=False)
        log(f"  ZT_IN_{CITY} sourced the backlog {b.sourced_s:.1f}s after the publisher "
            "started; starting the city's node ...")
        c = await restart_city_and_catch_up(s, fed, b.created.timing.count, probes[CITY],
                                            threads)
        city = fed.nodes[CITY]
        js_city = nc_city.jetstream()

        async def settled() -> bool:
            i = await js_city.consumer_info(inbound_stream(CITY), "apply")
            return (i.num_pending, i.num_ack_pending) == (0, 0)

        with contextlib.suppress(BenchFailure):  # the check below reports it
            await wait_until(settled, timeout_s=10, what="the inbound consumer settles")
        info = await js_city.consumer_info(inbound_stream(CITY), "apply")
        assert county.streams.nc is not None
        resends[0] = county_probe.count(Stage.RECONCILER_RESENT)
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
        if bare["c3"].timing.count:  # issue 17's goal: >= 0.5x pull+ack + batched insert
            row.extra["throughput_vs_c3"] = round(row.per_second / bare["c3"].per_second, 4)
            row.notes += f"; vs c3 (pull+ack + batched insert): {row.extra['throughput_vs_c3']}×"

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
            out.reports.append(await profile_catch_up(s, fed, nc_city, probes[CITY], out))
    finally:
        county_probe.recording = False
        await nc_city.close()
    return rows


# --------------------------------------------------------------------------- profile


async def profile_catch_up(s: Settings, fed: Harness, nc_city: NATS, probe: Recorder,
                           out: Out) -> str:
    """cProfile the city catching up on `s.profile` events: the loop and the workers."""
    log(f"profile: stopping the city's node; {s.profile} submits at the county ...")
    await fed.stop_node(CITY)
    b = await make_backlog(s, fed, nc_city, s.profile, "profile", Out())
    executor = ProfilingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    main = cProfile.Profile()
    executor.enabled = True
    main.enable()
    c = await restart_city_and_catch_up(s, fed, b.created.timing.count, probe, None)
    main.disable()
    executor.enabled = False
    try:
        check = verify_replicas(fed.nodes[COUNTY], fed.nodes[CITY], fed.nodes[PROVINCE])
    except BenchFailure as exc:
        check = "FAIL"
        out.failures.append(f"profile catch-up: {exc}")
    log(f"  cProfile: {c.timing.count} events in {c.timing.seconds:.2f}s, check {check}")
    top = 12
    idle = epoll_idle_seconds(main)
    parts = [f"cProfile of the city catching up on {c.timing.count} events (check {check}): "
             f"{c.timing.seconds:.2f} s wall under cProfile, event loop idle in epoll "
             f"{idle:.2f} s"]
    parts.append(f"-- event-loop thread (nats client, Replicator.handle, summaries), top {top}"
                 " by cumulative --")
    parts += stats_lines([main], "cumulative", top)
    if executor.profiles:
        parts.append(f"-- {len(executor.profiles)} to_thread worker thread(s) (apply txns, "
                     f"summary compute), merged, top {top} by cumulative --")
        parts += stats_lines(executor.profiles, "cumulative", top)
        stream = io.StringIO()
        merged_stats(executor.profiles, stream).sort_stats("cumulative").print_callees(
            r"node/app/replica.py:\d+\((apply|apply_many|_apply_in)\)")
        parts.append("-- ReplicaService.apply / apply_many / _apply_in: direct callees --")
        parts += [ln for ln in stream.getvalue().splitlines() if ln.strip()
                  and not ln.lstrip().startswith(("Ordered by", "Function was called"))
                  and "bench/" not in ln]  # the recording probe's own frames
        parts.append(f"-- all threads, top {top} by own time (tottime) --")
        parts += stats_lines([main, *executor.profiles], "tottime", top)
    return strip_paths("\n".join(parts))


# --------------------------------------------------------------------------- driver


async def run(s: Settings, out: Out) -> list[Row]:
    clock = SystemClock()
    threads = ThreadCpu()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(initializer=threads.register_worker))
    # the county's and the city's nodes report to these (silent until a phase listens)
    probes = {COUNTY: Recorder(recording=False), CITY: Recorder(recording=False)}
    with contextlib.ExitStack() as servers:  # the scratch streams' permissions
        servers.enter_context(substituted(nats_config, "leaf_permissions",
                                          with_bench_streams(nats_config.leaf_permissions)))
        servers.enter_context(substituted(nats_config, "node_permissions",
                                          with_bench_acks(nats_config.node_permissions)))
        async with nats_federation(s.tmp / "fed", TOPOLOGY, clock, probes=probes) as fed:
            return await run_phases(s, fed, probes, threads, out)


async def run_phases(s: Settings, fed: Harness, probes: dict[str, Recorder], threads: ThreadCpu,
                     out: Out) -> list[Row]:
    county, city = fed.nodes[COUNTY], fed.nodes[CITY]
    log("warm-up: the first events through the whole chain ...")
    payload = await template_message(county)
    for _ in range(s.warmup):
        await asyncio.to_thread(submit_one, county)
    await wait_until(lambda: count_rows(city, issues) == count_rows(county, issues),
                     timeout_s=60, what="the warm-up at the city")
    log(f"  warm-up: check {verify_replicas(county, city, fed.nodes[PROVINCE])}")

    log("bare JetStream costs:")
    bare = await bare_costs(s, fed, payload, out)
    rows = list(bare.values())

    log("ours:")
    marks = Marks(county=listening(probes[COUNTY]), city=listening(probes[CITY]))
    rows.append(await replication_lag(s, fed, bare, marks, out))
    if s.diagnose:
        with free_summaries(fed):
            rows.append(await replication_lag(s, fed, bare, marks, out, diagnostic=True))
    rows.append(await summary_freshness(s, fed, marks, out))
    for probe in probes.values():
        probe.recording = False
    rows += await catch_up(s, fed, bare, probes, threads, out)
    return rows


def meta(s: Settings) -> dict[str, Any]:
    return {
        **git_state(),
        **machine_meta(),
        "loadavg_1m_at_start": loadavg_1m(),
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
    p.add_argument("--json", type=Path, default=RESULTS / "streams.json")
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
    info["loadavg_1m_at_end"] = loadavg_1m()

    print()
    print(f"streams county {COUNTY} → city {CITY} → province {PROVINCE}: n={s.n}, rate "
          f"{s.rate:.0f}/s, backlog {s.backlog}, {os.cpu_count()} CPUs, total {elapsed:.0f} s, "
          f"1-min load {info['loadavg_1m_at_start']:.2f} at start, "
          f"{info['loadavg_1m_at_end']:.2f} at end")
    print(f"sqlite {info['sqlite']} (WAL, synchronous=FULL); nats-py {info['nats_py']}; one "
          "nats-server per node, TLS leaf links; all nodes and the bench in one process")
    if (code := code_line(info)) is not None:
        print(code)
    print("vs = the bare row compared with; thr = ours/bare per s (1.00 = as fast), p50/p99 = "
          "ours/bare latency (1.00 = as fast); * = stopped by --max-seconds")
    print()
    print(format_table(rows, TABLE))
    for row in rows:
        if row.notes:
            print(f"  note {row.phase}: {row.notes}")
    for report in out.reports:
        print()
        print(report)

    write_json(args.json, {
        "meta": info | {"seconds_total": round(elapsed, 1)},
        "rows": [r.to_json() for r in rows],
        "failures": out.failures,
        "reports": out.reports,
        **out.extra,
    })
    print(f"\nsaved {args.json}")
    return exit_code(out.failures)


if __name__ == "__main__":
    raise SystemExit(main())
