"""County → city escalation benchmark: ours vs the bare cost of one RPC and two transactions.

    .venv/bin/python -m bench.escalation [--n 1000] [--batch-size 16] [--big-batch 64]
                                         [--json bench/results/escalation.json]
                                         [--max-seconds 60] [--profile 300]

One run, on loopback, with a real local federation (tests.support.federation): 长兴县
(330522, the county) and 湖州市 (330500, the city) as two nodes in this process and event
loop, each with its own SQLite file (WAL, synchronous=FULL), certificates from one CA and
a gRPC server with mutual TLS, and the real wall clock (node.app.clock.SystemClock).

1. The bare cost, measured in the same run, each on the same machine:
   a. one unary gRPC call over the county sender's own mTLS channel to the city: the
      standard health Check (grpc.health.v1), one after another;
   b. the two transactions an escalation needs at minimum, through SQLAlchemy Core with
      prebuilt statements on fresh migrated SQLite files with the node's engine settings
      (make_engine + migrate.ensure_schema): at the "city" INSERT the issue, its tag, its four
      events (one counter upsert reserves their seqs) and the inbox row; then at the
      "county" UPDATE the changed columns of the issue, INSERT the escalate event (one
      counter upsert) and UPDATE the outbox row to delivered;
   c. the bare total: (a) then (b), one escalation after another (the per-item baseline).
2. The bare batched cost, for each batch size B (--batch-size, --big-batch):
   a. one unary call per B over mutual TLS to a server in this event loop (the city's
      certificate) that answers at once: the request has the bytes of a real envelope of B
      transfers, the answer those of its real answer;
   b. the two batched transactions: the city's for B escalations (one counter upsert,
      multi-row inserts of issues, tags, events, inbox rows) and the county's (one counter
      upsert, executemany of the issue updates, event inserts and outbox updates);
   c. the bare batched total: (a) then (b), batch after batch — the batched baseline.
3. Ours, sequential: request_escalation at the county, then drain_once() until delivered;
   the latency is request → recorded at the county. Once over the envelope (TransferBatch,
   one item), once over unary calls (one Escalate: Sender.batched = False, the path to a
   peer without TransferBatch).
4. Ours, throughput: n escalations are queued first (timed as their own row), then the
   sender drains them with --batch-size and --big-batch until all are delivered, each
   drain one envelope (and --big-batch again over unary calls, one city transaction per
   transfer, the answers recorded in one county transaction); the latency is one
   drain_once() (one batch). Compared with the per-item baseline (thr/bare) and with the
   batched baseline of the same batch size (thr/bbat).
5. With --profile N: the wall time of N more sequential escalations split by step (the
   county's and the city's transfer use cases, sender, server and codec, as both nodes
   report them through their probes: node/app/probes.py, bench/common/probes.py), and a
   cProfile of N more, of the event-loop thread and of the worker threads.

Every phase is bounded by --n and by --max-seconds. After each phase exactly-once is
checked in both databases (see `verify`); a failed check prints FAIL and the run exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import uuid6
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bench.common.accounting import SqlCounter, ThreadCpu
from bench.common.log import log
from bench.common.probes import Recorder
from bench.common.profile import (
    LOOP_MACHINERY,
    ProfilingExecutor,
    epoll_idle_seconds,
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
from bench.common.rows import Row, compare, median_of
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
from bench.common.timing import Timing, percentile, timed_loop, timed_loop_async
from federation import codec
from federation.certs import channel_options
from federation.sender import Sender
from node.app.clock import SystemClock
from node.app.probes import Stage
from node.app.transfers import DELIVERED, PENDING, Accepted, Transfer
from node.domain.issue import State
from node.domain.lifecycle import Triage
from node.store import migrate
from node.store.db import make_engine
from node.store.repo import EVENT_SEQ
from node.store.schema import counters, events, issue_tags, issues, transfers_in, transfers_out
from tests.support.data import STAFF, submit_cmd
from tests.support.federation import FedNode, federation

COUNTY, CITY, PROVINCE = "330522", "330500", "330000"
# The city needs a parent in its configuration; the province is configured, never started.
TOPOLOGY: dict[str, str | None] = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY}
LEADER = STAFF["leader"]
TAGS = ("要素保障",)
REASON = "本级无法解决"
TABLE: tuple[Column[Row], ...] = (
    phase_column(40), count_column(6), SECONDS, per_second_column("per s", 8), P50, P99,
    ratio_column("thr/bare", 8, "throughput_vs_bare"),
    ratio_column("thr/bbat", 8, "throughput_vs_bare_batched"),
    ratio_column("p50/bare", 8, "p50_vs_bare"), ratio_column("p99/bare", 8, "p99_vs_bare"),
    ERRORS, CHECK,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    n: int
    warmup: int
    batch_size: int
    big_batch: int
    max_seconds: float
    baseline_runs: int
    profile: int
    tmp: Path
    drop: frozenset[str] = frozenset()  # projection classes unregistered (--drop)


# --------------------------------------------------------------------------- accounting


@contextmanager
def accounted(counters_: dict[str, SqlCounter], count: Callable[[], int],
              extra: dict[str, Any], threads: ThreadCpu | None = None) -> Iterator[None]:
    """Fill `extra` with CPU (all threads of this process, and by thread group when
    `threads` is given) and SQL per escalation."""
    before = {name: c.snapshot() for name, c in counters_.items()}
    by_thread = threads.sample() if threads is not None else {}
    cpu0 = time.process_time()
    yield
    per = max(1, count())
    extra["cpu_ms_per_escalation"] = round((time.process_time() - cpu0) * 1000 / per, 3)
    if threads is not None:
        after = threads.sample()
        for group in ThreadCpu.GROUPS:
            extra[f"cpu_ms_per_escalation_{group}"] = round(
                (after[group] - by_thread[group]) * 1000 / per, 3)
    for name, c in counters_.items():
        s0, w0, r0 = before[name]
        s1, w1, r1 = c.snapshot()
        extra[f"{name}_statements_per_escalation"] = round((s1 - s0) / per, 2)
        extra[f"{name}_write_txns_per_escalation"] = round((w1 - w0) / per, 2)
        extra[f"{name}_read_txns_per_escalation"] = round((r1 - r0) / per, 2)


def sql_note(extra: dict[str, Any], names: Sequence[str]) -> str:
    parts = [f"{name} {extra[f'{name}_statements_per_escalation']:.1f} stmts / "
             f"{extra[f'{name}_write_txns_per_escalation']:.2f} write + "
             f"{extra[f'{name}_read_txns_per_escalation']:.2f} read txns"
             for name in names]
    cpu = f"CPU {extra['cpu_ms_per_escalation']:.2f} ms (whole process"
    if "cpu_ms_per_escalation_loop" in extra:
        cpu += "; " + ", ".join(f"{g} {extra[f'cpu_ms_per_escalation_{g}']:.2f}"
                                for g in ThreadCpu.GROUPS)
    return f"per escalation: {'; '.join(parts)}; {cpu})"


# --------------------------------------------------------------------------- checks


def _count(conn: Any, table: Any, *where: Any) -> int:
    stmt = select(func.count()).select_from(table)
    if where:
        stmt = stmt.where(and_(*where))
    return int(conn.execute(stmt).scalar_one())


def verify(county: FedNode, city: FedNode, escalated: Sequence[str], created: int) -> str:
    """Exactly-once, in both databases, for everything escalated so far; raise on failure.

    City: every escalated issue exactly once, owner 330500, came_from 330522, state received,
    its full history (4 events); inbox rows = issues, one per transfer. County: exactly the
    escalated issues are in state escalated with owner 330500, all others still its own; no
    pending or refused outbox rows; the delivered transfer ids = the city's inbox ids.
    """
    want = set(escalated)
    problems = []
    if len(want) != len(escalated):
        problems.append("the bench escalated the same issue twice")
    with city.node.engine.connect() as conn:
        rows = conn.execute(select(issues.c.id, issues.c.owner, issues.c.came_from,
                                   issues.c.state)).all()
        inbox = conn.execute(select(transfers_in.c.origin, transfers_in.c.transfer_id,
                                    transfers_in.c.issue_id)).all()
        city_events = _count(conn, events)
    with county.node.engine.connect() as conn:
        county_rows = conn.execute(select(issues.c.id, issues.c.owner, issues.c.state)).all()
        outbox = conn.execute(select(transfers_out.c.transfer_id, transfers_out.c.issue_id,
                                     transfers_out.c.status)).all()
        county_events = _count(conn, events)
    ids = [r.id for r in rows]
    if len(ids) != len(want) or set(ids) != want:
        problems.append(f"city has {len(ids)} issues, {len(set(ids) & want)} of the "
                        f"{len(want)} escalated")
    bad = [r.id for r in rows if (r.owner, r.came_from, r.state)
           != (CITY, COUNTY, State.RECEIVED.value)]
    if bad:
        problems.append(f"{len(bad)} city issues not (owner {CITY}, came_from {COUNTY}, "
                        f"received), e.g. {bad[0]}")
    if len(inbox) != len(rows) or {r.issue_id for r in inbox} != set(ids):
        problems.append(f"city inbox has {len(inbox)} rows for {len(rows)} issues")
    if any(r.origin != COUNTY for r in inbox):
        problems.append("city inbox rows from another origin")
    if city_events != 4 * len(rows):
        problems.append(f"city has {city_events} events, expected {4 * len(rows)}")
    gone = {r.id for r in county_rows if r.state == State.ESCALATED.value}
    if gone != want:
        problems.append(f"county has {len(gone)} escalated issues, expected {len(want)}")
    if any(r.owner != CITY for r in county_rows if r.id in want):
        problems.append(f"escalated county issues not owned by {CITY}")
    if any(r.owner != COUNTY for r in county_rows if r.id not in want):
        problems.append("a county issue that was not escalated changed owner")
    if len(county_rows) != created:
        problems.append(f"county has {len(county_rows)} issues, created {created}")
    by_status: dict[str, int] = {}
    for r in outbox:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    if by_status.get(PENDING, 0):
        problems.append(f"{by_status[PENDING]} pending outbox rows")
    if by_status.get(DELIVERED, 0) != len(want) or len(outbox) != len(want):
        problems.append(f"outbox statuses {by_status}, expected {len(want)} delivered")
    delivered = {r.transfer_id for r in outbox if r.status == DELIVERED}
    if delivered != {r.transfer_id for r in inbox}:
        problems.append("delivered transfer ids differ from the city's inbox")
    if {r.issue_id for r in outbox} != want:
        problems.append("outbox issue ids differ from the escalated ids")
    if county_events != 2 * created + len(want):
        problems.append(f"county has {county_events} events, expected "
                        f"{2 * created + len(want)} (2 per issue + 1 per escalation)")
    if problems:
        raise BenchFailure("; ".join(problems))
    return "ok"


def checked(row: Row, failures: list[str], check: Callable[[], str]) -> Row:
    try:
        row.check = check()
    except BenchFailure as exc:
        row.check = "FAIL"
        failures.append(f"{row.phase}: {exc}")
    if row.timing.errors:
        row.check = "FAIL"
        failures.append(f"{row.phase}: {row.timing.errors} failed operations")
    log(f"  {row.phase:<40} {row.timing.count:>6} in {row.timing.seconds:6.2f}s  "
        f"check {row.check}")
    return row


# --------------------------------------------------------------------------- bare cost


@dataclass(frozen=True, kw_only=True, slots=True)
class Template:
    """The rows of one real escalation, read back from both nodes: realistic values."""

    city_issue: dict[str, Any]
    city_events: list[dict[str, Any]]
    city_inbox: dict[str, Any]
    county_changes: dict[str, Any]  # the issue columns the escalation changed at the county
    county_before: dict[str, Any]
    county_event: dict[str, Any]
    outbox: dict[str, Any]  # the delivered outbox row

    @staticmethod
    def read(county: FedNode, city: FedNode, issue_id: str,
             before: dict[str, Any]) -> Template:
        with city.node.engine.connect() as conn:
            city_issue = dict(conn.execute(
                select(issues).where(issues.c.id == issue_id)).mappings().one())
            city_events = [dict(r) for r in conn.execute(
                select(events).where(events.c.issue_id == issue_id)
                .order_by(events.c.version)).mappings()]
            city_inbox = dict(conn.execute(
                select(transfers_in).where(transfers_in.c.issue_id == issue_id))
                .mappings().one())
        with county.node.engine.connect() as conn:
            after = dict(conn.execute(
                select(issues).where(issues.c.id == issue_id)).mappings().one())
            county_event = dict(conn.execute(
                select(events).where(events.c.issue_id == issue_id)
                .order_by(events.c.version.desc()).limit(1)).mappings().one())
            outbox = dict(conn.execute(
                select(transfers_out).where(transfers_out.c.issue_id == issue_id))
                .mappings().one())
        changes = {k: v for k, v in after.items() if before[k] != v}
        return Template(city_issue=city_issue, city_events=city_events, city_inbox=city_inbox,
                        county_changes=changes, county_before=before,
                        county_event=county_event, outbox=outbox)


def read_issue_row(node: FedNode, issue_id: str) -> dict[str, Any]:
    with node.node.engine.connect() as conn:
        return dict(conn.execute(select(issues).where(issues.c.id == issue_id))
                    .mappings().one())


def _seq_upsert() -> Any:
    """Reserve `k` seqs of a named counter in one statement; returns the last one."""
    ins = sqlite_insert(counters).values(name=bindparam("name"), value=bindparam("k"))
    return ins.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + ins.excluded.value}
    ).returning(counters.c.value)


class BareSql:
    """The two minimal transactions, prebuilt, on two fresh migrated SQLite files."""

    def __init__(self, tpl: Template, tmp: Path, label: str, rows: int) -> None:
        self.tpl = tpl
        self.city = make_engine(f"sqlite:///{tmp / f'bare-{label}-city.sqlite3'}")
        self.county = make_engine(f"sqlite:///{tmp / f'bare-{label}-county.sqlite3'}")
        # fresh files: created from the tables and stamped, as a new node's store is
        # (migrate.ensure_schema; the same tables as the migrations build)
        migrate.ensure_schema(self.city)
        migrate.ensure_schema(self.county)
        self.upsert = _seq_upsert()
        self.ins_issue = insert(issues)
        self.ins_tag = insert(issue_tags)
        self.ins_event = insert(events)
        self.ins_inbox = insert(transfers_in)
        changed = list(tpl.county_changes)
        self.upd_issue = (
            update(issues)
            .where(issues.c.id == bindparam("_id"), issues.c.version == bindparam("_expected"))
            .values({c: bindparam(c) for c in changed})
        )
        self.upd_outbox = (
            update(transfers_out)
            .where(transfers_out.c.transfer_id == bindparam("_tid"),
                   transfers_out.c.status == PENDING)
            .values(status=DELIVERED, finished_at=bindparam("_now"),
                    response=bindparam("_response"), attempts=transfers_out.c.attempts + 1)
        )
        self.issue_ids = [f"{COUNTY}-{uuid6.uuid7().hex}" for _ in range(rows)]
        self.transfer_ids = [uuid6.uuid7().hex for _ in range(rows)]
        self.clock = SystemClock()
        self._prepare_county(rows)

    def _number(self, i: int) -> str:
        return f"{COUNTY}-2026-{i + 1:06d}"

    def _prepare_county(self, rows: int) -> None:
        """The county's state before the escalations: issues and pending outbox rows."""
        tpl = self.tpl
        issue_rows = [dict(tpl.county_before, id=self.issue_ids[i], number=self._number(i))
                      for i in range(rows)]
        outbox_rows = [
            dict(tpl.outbox, transfer_id=self.transfer_ids[i], seq=i + 1,
                 issue_id=self.issue_ids[i], status=PENDING, attempts=0, response=None,
                 finished_at=None,
                 event=dict(tpl.outbox["event"], issue_id=self.issue_ids[i]))
            for i in range(rows)]
        with self.county.begin() as conn:
            conn.execute(self.ins_issue, issue_rows)
            conn.execute(insert(transfers_out), outbox_rows)

    def _writer_seqs(self, conn: Any, rows: list[dict[str, Any]]) -> None:
        """If the schema has a per-writer sequence (events.writer_seq), the node's own events
        (those that had one in the template) take fresh values from its counter."""
        own = [r for r in rows if r.get("writer_seq") is not None]
        if not own:
            return
        last = conn.execute(self.upsert, {"name": "writer_seq", "k": len(own)}).scalar_one()
        for j, r in enumerate(own):
            r["writer_seq"] = last - len(own) + 1 + j

    def city_txn(self, i: int) -> bool:
        tpl = self.tpl
        issue_id, tid, number = self.issue_ids[i], self.transfer_ids[i], self._number(i)
        now = self.clock.now()
        with self.city.begin() as conn:
            k = len(tpl.city_events)
            last = conn.execute(self.upsert, {"name": EVENT_SEQ, "k": k}).scalar_one()
            conn.execute(self.ins_issue, dict(tpl.city_issue, id=issue_id, number=number,
                                              updated_at=now))
            conn.execute(self.ins_tag, [{"issue_id": issue_id, "tag": t,
                                         "received_at": tpl.city_issue["received_at"]}
                                        for t in tpl.city_issue["tags"]])
            rows = [dict(ev, seq=last - k + 1 + j, event_id=f"{issue_id}@{ev['version']}",
                         issue_id=issue_id) for j, ev in enumerate(tpl.city_events)]
            self._writer_seqs(conn, rows)
            conn.execute(self.ins_event, rows)
            conn.execute(self.ins_inbox, dict(
                tpl.city_inbox, transfer_id=tid, issue_id=issue_id, received_at=now,
                response=dict(tpl.city_inbox["response"], transfer_id=tid, issue_id=issue_id,
                              number=number)))
        return True

    def county_txn(self, i: int) -> bool:
        tpl = self.tpl
        issue_id, tid = self.issue_ids[i], self.transfer_ids[i]
        now = self.clock.now()
        with self.county.begin() as conn:
            seq = conn.execute(self.upsert, {"name": EVENT_SEQ, "k": 1}).scalar_one()
            ok = conn.execute(self.upd_issue, dict(
                tpl.county_changes, _id=issue_id,
                _expected=tpl.county_before["version"])).rowcount == 1
            version = tpl.county_event["version"]
            row = dict(tpl.county_event, seq=seq, issue_id=issue_id,
                       event_id=f"{issue_id}@{version}")
            self._writer_seqs(conn, [row])
            conn.execute(self.ins_event, row)
            ok = conn.execute(self.upd_outbox, {
                "_tid": tid, "_now": now, "_response": dict(
                    tpl.outbox["response"], transfer_id=tid, issue_id=issue_id)
            }).rowcount == 1 and ok
        return ok

    def escalate(self, i: int) -> bool:
        return self.city_txn(i) & self.county_txn(i)

    def city_batch(self, first: int, count: int) -> bool:
        """The city's side of `count` escalations in ONE transaction: one counter upsert
        for all their event seqs, then multi-row inserts (executemany) of the issues,
        tags, events and inbox rows."""
        tpl = self.tpl
        now = self.clock.now()
        k = len(tpl.city_events)
        idx = range(first, first + count)
        with self.city.begin() as conn:
            last = conn.execute(self.upsert, {"name": EVENT_SEQ, "k": k * count}).scalar_one()
            base = last - k * count + 1
            conn.execute(self.ins_issue, [dict(tpl.city_issue, id=self.issue_ids[i],
                                               number=self._number(i), updated_at=now)
                                          for i in idx])
            conn.execute(self.ins_tag, [{"issue_id": self.issue_ids[i], "tag": t,
                                         "received_at": tpl.city_issue["received_at"]}
                                        for i in idx for t in tpl.city_issue["tags"]])
            rows = [dict(ev, seq=base + n * k + j,
                         event_id=f"{self.issue_ids[i]}@{ev['version']}",
                         issue_id=self.issue_ids[i])
                    for n, i in enumerate(idx) for j, ev in enumerate(tpl.city_events)]
            self._writer_seqs(conn, rows)
            conn.execute(self.ins_event, rows)
            conn.execute(self.ins_inbox, [dict(
                tpl.city_inbox, transfer_id=self.transfer_ids[i],
                issue_id=self.issue_ids[i], received_at=now,
                response=dict(tpl.city_inbox["response"], transfer_id=self.transfer_ids[i],
                              issue_id=self.issue_ids[i], number=self._number(i)))
                for i in idx])
        return True

    def county_batch(self, first: int, count: int) -> bool:
        """The county's side of `count` escalations in ONE transaction: one counter upsert,
        then the issue updates, the event inserts and the outbox updates (executemany)."""
        tpl = self.tpl
        now = self.clock.now()
        idx = range(first, first + count)
        version = tpl.county_event["version"]
        with self.county.begin() as conn:
            last = conn.execute(self.upsert, {"name": EVENT_SEQ, "k": count}).scalar_one()
            updated = conn.execute(self.upd_issue, [dict(
                tpl.county_changes, _id=self.issue_ids[i],
                _expected=tpl.county_before["version"]) for i in idx]).rowcount
            rows = [dict(tpl.county_event, seq=last - count + 1 + n, issue_id=self.issue_ids[i],
                         event_id=f"{self.issue_ids[i]}@{version}")
                    for n, i in enumerate(idx)]
            self._writer_seqs(conn, rows)
            conn.execute(self.ins_event, rows)
            delivered = conn.execute(self.upd_outbox, [{
                "_tid": self.transfer_ids[i], "_now": now, "_response": dict(
                    tpl.outbox["response"], transfer_id=self.transfer_ids[i],
                    issue_id=self.issue_ids[i])} for i in idx]).rowcount
        return updated == count and delivered == count

    def verify(self, expected: int) -> str:
        problems = []
        with self.city.connect() as conn:
            n_issues, n_inbox, n_events = (_count(conn, t) for t in (issues, transfers_in,
                                                                      events))
        with self.county.connect() as conn:
            delivered = _count(conn, transfers_out, transfers_out.c.status == DELIVERED)
            gone = _count(conn, issues, issues.c.state == State.ESCALATED.value,
                          issues.c.owner == CITY)
            county_events = _count(conn, events)
        k = len(self.tpl.city_events)
        if (n_issues, n_inbox, n_events) != (expected, expected, k * expected):
            problems.append(f"bare city: {n_issues} issues, {n_inbox} inbox rows, "
                            f"{n_events} events for {expected}")
        if (delivered, gone, county_events) != (expected, expected, expected):
            problems.append(f"bare county: {delivered} delivered, {gone} escalated, "
                            f"{county_events} events for {expected}")
        if problems:
            raise BenchFailure("; ".join(problems))
        return "ok"

    def dispose(self) -> None:
        self.city.dispose()
        self.county.dispose()


async def bare_run(s: Settings, tpl: Template, health: Any, label: str,
                   failures: list[str]) -> list[Row]:
    """One run of the three bare phases, on fresh database files."""

    async def check_rpc(_i: int) -> bool:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def cpu_note(cpu0: float, timing: Timing) -> str:
        ms = (time.process_time() - cpu0) * 1000 / max(1, timing.count)
        return f"CPU {ms:.2f} ms per escalation (whole process)"

    await timed_loop_async(check_rpc, s.warmup, s.max_seconds)
    cpu0 = time.process_time()
    rpc = await timed_loop_async(check_rpc, s.n, s.max_seconds)
    rows = [checked(Row(backend="grpc", phase="bare gRPC health Check (mTLS)", timing=rpc,
                        target=s.n, notes="grpc.health.v1 Check on the county sender's "
                        f"channel to the city; no database; {cpu_note(cpu0, rpc)}"),
                    failures, lambda: "n/a")]

    per_phase = s.warmup + s.n
    bare = BareSql(tpl, s.tmp, label, 2 * per_phase)
    try:
        timed_loop(bare.escalate, s.warmup, s.max_seconds)
        counter = SqlCounter(bare.city, bare.county)
        cpu0 = time.process_time()
        timing = timed_loop(lambda i: bare.escalate(i + s.warmup), s.n, s.max_seconds)
        note = cpu_note(cpu0, timing)
        per = counter.statements / max(1, timing.count)
        done = s.warmup + timing.count
        rows.append(checked(Row(
            backend="sqlite", phase="bare SQL: city txn + county txn", timing=timing,
            target=s.n, notes=f"SQLAlchemy Core, prebuilt statements, node engine settings; "
            f"{per:.1f} statements per escalation (2 BEGIN IMMEDIATE, 2 commits); {note}"),
            failures, lambda: bare.verify(done)))

        async def total(i: int) -> bool:
            ok = await check_rpc(i)
            return bare.city_txn(done + i) & bare.county_txn(done + i) & ok

        for i in range(s.warmup):
            await total(i)
        cpu0 = time.process_time()
        tot = await timed_loop_async(lambda i: total(i + s.warmup), s.n, s.max_seconds)
        note = cpu_note(cpu0, tot)
        done_total = done + s.warmup + tot.count
        rows.append(checked(Row(
            backend="both", phase="bare total: Check + 2 txns", timing=tot, target=s.n,
            baseline=True, notes="THE BASELINE: one health Check, then the city txn, then "
            f"the county txn, per escalation; {note}"),
            failures, lambda: bare.verify(done_total)))
    finally:
        bare.dispose()
    return rows


@dataclass(frozen=True, kw_only=True, slots=True)
class Payload:
    """The bytes of a real envelope of `batch` transfers and of its answer."""

    request: bytes
    reply: bytes


def payload_of(transfer: Transfer, accepted: Accepted, batch: int) -> Payload:
    env, n = codec.pack_envelope(uuid6.uuid7().hex, COUNTY, [transfer] * batch)
    assert n == batch
    reply = codec.envelope_result_to_pb(env.batch_id,
                                        [(accepted.transfer_id, accepted)] * batch)
    return Payload(request=env.SerializeToString(), reply=reply.SerializeToString())


class BareEcho:
    """A gRPC server with one method that answers a preset reply and does nothing else,
    on the city's certificate with mutual TLS, in this event loop (like the city's own
    server), and the county's channel to it: a bare RPC carrying a given payload."""

    METHOD = "/zhitong.bench.Bare/Echo"

    def __init__(self, county: FedNode, city: FedNode) -> None:
        self.county, self.city = county, city
        self.reply = b""
        self.server: grpc.aio.Server | None = None
        self.channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> BareEcho:
        def echo(_request: bytes, _context: Any) -> bytes:
            return self.reply

        self.server = grpc.aio.server(options=[("grpc.max_receive_message_length", 1 << 26),
                                               ("grpc.max_send_message_length", 1 << 26)])
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "zhitong.bench.Bare", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
        port = self.server.add_secure_port("127.0.0.1:0", self.city.tls.server_credentials())
        await self.server.start()
        self.channel = grpc.aio.secure_channel(
            f"127.0.0.1:{port}", self.county.tls.channel_credentials(),
            options=(*channel_options(CITY), ("grpc.max_receive_message_length", 1 << 26)))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.server is not None:
            await self.server.stop(None)

    def call(self, payload: Payload) -> Callable[[], Any]:
        assert self.channel is not None
        self.reply = payload.reply
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self.channel.unary_unary(
            self.METHOD)
        return lambda: method(payload.request, timeout=10)


async def timed_batches(op: Callable[[int], Any], items: int, batch: int,
                        max_seconds: float) -> Timing:
    """`op(first)` per batch of `batch` items (awaited when it returns an awaitable) until
    `items` are done or the deadline; count = items, one latency per batch."""
    latencies: list[float] = []
    done = errors = 0
    stopped = False
    start = time.perf_counter()
    while done < items:
        t0 = time.perf_counter()
        if t0 - start >= max_seconds:
            stopped = True
            break
        result = op(done)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        latencies.append((time.perf_counter() - t0) * 1000.0)
        if result is False:
            errors += 1
        done += batch
    return Timing(count=done, seconds=time.perf_counter() - start, latencies_ms=latencies,
                  errors=errors, stopped_by_time=stopped)


async def bare_batched_run(s: Settings, tpl: Template, echo: BareEcho, payload: Payload,
                           batch: int, label: str, failures: list[str]) -> list[Row]:
    """One run of the three bare batched phases for one batch size, on fresh files."""
    n = max(batch, s.n - s.n % batch)  # whole batches
    call = echo.call(payload)

    async def rpc(_first: int) -> bool:
        return len(await call()) == len(payload.reply)

    await timed_batches(rpc, s.warmup * batch, batch, s.max_seconds)
    cpu0 = time.process_time()
    rpc_t = await timed_batches(rpc, n, batch, s.max_seconds)
    cpu = (time.process_time() - cpu0) * 1000 / max(1, rpc_t.count)
    rows = [checked(Row(
        backend="grpc", phase=f"bare batched RPC, {batch} per call", timing=rpc_t, target=n,
        notes=f"one unary call per {batch} with a real envelope's bytes "
        f"({len(payload.request)} B) and its answer's ({len(payload.reply)} B), mTLS, the "
        f"server does nothing; CPU {cpu:.2f} ms per escalation"), failures, lambda: "n/a")]

    warm = batch * max(1, s.warmup // batch)
    bare = BareSql(tpl, s.tmp, f"{label}-b{batch}", warm + 2 * n)
    try:
        def sql(first: int, offset: int = 0) -> bool:
            return bare.city_batch(offset + first, batch) & bare.county_batch(
                offset + first, batch)

        await timed_batches(sql, warm, batch, s.max_seconds)
        cpu0 = time.process_time()
        sql_t = await timed_batches(lambda f: sql(f, warm), n, batch, s.max_seconds)
        cpu = (time.process_time() - cpu0) * 1000 / max(1, sql_t.count)
        done = warm + sql_t.count
        rows.append(checked(Row(
            backend="sqlite", phase=f"bare batched SQL, {batch} per txn", timing=sql_t,
            target=n, notes=f"the city txn and the county txn for {batch} escalations each, "
            f"multi-row (executemany), one counter upsert per txn; CPU {cpu:.2f} ms per "
            "escalation"), failures, lambda: bare.verify(done)))

        async def total(first: int) -> bool:
            ok = await rpc(first)
            return sql(first, done) & ok

        cpu0 = time.process_time()
        tot = await timed_batches(total, n, batch, s.max_seconds)
        cpu = (time.process_time() - cpu0) * 1000 / max(1, tot.count)
        done_total = done + tot.count
        rows.append(checked(Row(
            backend="both", phase=f"bare batched total, {batch}", timing=tot, target=n,
            baseline=True, notes=f"THE BATCHED BASELINE for batch {batch}: the bare batched "
            f"RPC, then the two batched txns; CPU {cpu:.2f} ms per escalation"),
            failures, lambda: bare.verify(done_total)))
    finally:
        bare.dispose()
    return rows


# --------------------------------------------------------------------------- ours


class Workload:
    """The county's pre-created issues (submitted + triaged), handed out in order."""

    def __init__(self, county: FedNode, city: FedNode, threads: ThreadCpu) -> None:
        self.county = county
        self.city = city
        self.threads = threads
        self.ids: list[str] = []
        self.next = 0
        self.escalated: list[str] = []

    def precreate(self, count: int) -> float:
        t0 = time.perf_counter()
        service = self.county.issues
        for _ in range(count):
            issue, _created = service.submit(LEADER, submit_cmd())
            service.act(LEADER, issue.id, Triage(tags=TAGS))
            self.ids.append(str(issue.id))
        return time.perf_counter() - t0

    def take(self) -> str:
        if self.next >= len(self.ids):
            raise BenchFailure("ran out of pre-created issues")
        issue_id = self.ids[self.next]
        self.next += 1
        return issue_id

    def request(self, issue_id: str) -> None:
        self.county.transfers.request_escalation(LEADER, issue_id, REASON)
        self.escalated.append(issue_id)

    def verify(self) -> str:
        return verify(self.county, self.city, self.escalated, len(self.ids))


async def escalate_one(w: Workload, sender: Sender, issue_id: str, attempts: int = 5) -> bool:
    """Request, then drain until this escalation is recorded (bounded)."""
    w.request(issue_id)
    for _ in range(attempts):
        if (await sender.drain_once()).delivered:
            return True
    return False


@dataclass(kw_only=True, slots=True)
class Drained:
    timing: Timing
    batches: list[int] = field(default_factory=list)


async def drain_all(sender: Sender, queued: int, max_seconds: float) -> Drained:
    """drain_once() until `queued` are delivered, a batch fails, or the deadline passes."""
    max_batches = 3 * math.ceil(queued / sender.batch_size) + 10
    latencies: list[float] = []
    sizes: list[int] = []
    delivered = errors = 0
    stopped = False
    start = time.perf_counter()
    deadline = start + max_seconds
    for _ in range(max_batches):
        if delivered >= queued:
            break
        t0 = time.perf_counter()
        if t0 >= deadline:
            stopped = True
            break
        result = await sender.drain_once()
        latencies.append((time.perf_counter() - t0) * 1000.0)
        sizes.append(result.delivered)
        delivered += result.delivered
        if result.refused or result.failed or result.waiting or not result.delivered:
            errors += result.refused + result.failed + 1
            break
    return Drained(timing=Timing(count=delivered, seconds=time.perf_counter() - start,
                                 latencies_ms=latencies, errors=errors,
                                 stopped_by_time=stopped), batches=sizes)


def _path_note(sender: Sender) -> str:
    return ("one TransferBatch call per drain, one city txn, one county txn"
            if sender.batched else "one unary Escalate per transfer, one city txn each, the "
            "answers recorded in one county txn")


async def ours_sequential(s: Settings, w: Workload, sender: Sender,
                          sql: dict[str, SqlCounter], failures: list[str]) -> Row:
    extra: dict[str, Any] = {}
    box: list[Timing] = []
    with accounted(sql, lambda: box[0].count if box else 0, extra, w.threads):
        box.append(await timed_loop_async(
            lambda _i: escalate_one(w, sender, w.take()), s.n, s.max_seconds))
    path = "envelope" if sender.batched else "unary calls"
    return checked(Row(
        backend="both", phase=f"ours: sequential, {path}", timing=box[0],
        target=s.n, extra=extra,
        notes="request→recorded: request_escalation at the county, then drain_once() until "
        f"delivered ({_path_note(sender)}); "
        + sql_note(extra, ("county", "city"))), failures, w.verify)


async def ours_batched(s: Settings, w: Workload, sender: Sender, batch: int,
                       sql: dict[str, SqlCounter], failures: list[str]) -> list[Row]:
    rows: list[Row] = []
    queue_extra: dict[str, Any] = {}
    qbox: list[Timing] = []

    async def queue_one(_i: int) -> bool:
        w.request(w.take())
        return True

    with accounted({"county": sql["county"]}, lambda: qbox[0].count if qbox else 0,
                   queue_extra):
        qbox.append(await timed_loop_async(queue_one, s.n, s.max_seconds))
    queued = qbox[0].count
    rows.append(Row(backend="sqlite", phase=f"ours: queue {queued} for batch {batch}",
                    timing=qbox[0], target=s.n, extra=queue_extra,
                    notes="step 1 only, at the county, one transaction each; not compared; "
                    + sql_note(queue_extra, ("county",))))
    log(f"  {rows[-1].phase:<40} {queued:>6} in {qbox[0].seconds:6.2f}s")

    sender.batch_size = batch
    extra: dict[str, Any] = {}
    dbox: list[Drained] = []
    with accounted(sql, lambda: dbox[0].timing.count if dbox else 0, extra, w.threads):
        dbox.append(await drain_all(sender, queued, s.max_seconds))
    drained = dbox[0]
    if drained.timing.count < queued:
        # Stopped by the deadline or a failure: finish untimed so later phases start clean;
        # the check below still compares every row.
        rest = await drain_all(sender, queued - drained.timing.count, s.max_seconds)
        log(f"  finished {rest.timing.count} more untimed after the phase stopped")
    full = sum(1 for b in drained.batches if b == batch)
    extra["batches"] = len(drained.batches)
    extra["full_batches"] = full
    extra["ms_per_escalation"] = round(drained.timing.seconds * 1000
                                       / max(1, drained.timing.count), 3)
    path = "envelope" if sender.batched else "unary calls"
    rows.append(checked(Row(
        backend="both", phase=f"ours: drain, batch {batch}, {path}", timing=drained.timing,
        target=queued, extra=extra,
        notes=f"{_path_note(sender)}; p50/p99 are per drain_once() (one batch of up to "
        f"{batch}); "
        f"{len(drained.batches)} batches; {extra['ms_per_escalation']:.2f} ms wall per "
        "escalation; " + sql_note(extra, ("county", "city"))), failures, w.verify))
    return rows


# --------------------------------------------------------------------------- profile


def profile_report(main: cProfile.Profile, workers: list[cProfile.Profile], count: int,
                   seconds: float, cpu: float, top: int = 12) -> str:
    idle = epoll_idle_seconds(main)
    parts = [f"cProfile of {count} sequential escalations (request_escalation, then "
             f"drain_once: county sender + city server): {seconds:.2f} s wall, {cpu:.2f} s "
             f"CPU (all threads; cProfile inflates both), event loop idle in epoll "
             f"{idle:.2f} s"]
    parts.append(f"-- event-loop thread (gRPC client+server, codec, sender), top {top} by "
                 "cumulative; asyncio/selector frames hidden --")
    parts.extend(stats_lines([main], "cumulative", top, hide=LOOP_MACHINERY))
    if workers:
        parts.append(f"-- {len(workers)} to_thread worker thread(s) (the transactions of both "
                     f"nodes), merged, top {top} by cumulative --")
        parts.extend(stats_lines(workers, "cumulative", top))
        parts.append(f"-- all threads, top {top} by own time (tottime) --")
        parts.extend(stats_lines([main, *workers], "tottime", top))
    return strip_paths("\n".join(parts))


async def profile_sequential(s: Settings, w: Workload, sender: Sender,
                             failures: list[str]) -> str:
    """cProfile N sequential escalations (request + drain), every thread that runs them."""
    executor = ProfilingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    main = cProfile.Profile()
    executor.enabled = True
    cpu0 = time.process_time()
    main.enable()
    timing = await timed_loop_async(lambda _i: escalate_one(w, sender, w.take()),
                                    s.profile, s.max_seconds)
    main.disable()
    cpu = time.process_time() - cpu0
    executor.enabled = False
    try:
        check = w.verify()
    except BenchFailure as exc:
        check = "FAIL"
        failures.append(f"profile phase: {exc}")
    log(f"  cProfile: {timing.count} escalations in {timing.seconds:.2f}s, check {check}")
    return profile_report(main, executor.profiles, timing.count, timing.seconds, cpu)


# (label, step name or None for a computed remainder, indent)
BREAKDOWN: tuple[tuple[str, str | None, int], ...] = (
    ("request_escalation (county write txn)", "request", 0),
    ("drain_once, in total", "drain", 0),
    ("next_attempt_at (county read txn, in a thread)", "next_attempt_at", 1),
    ("due (county read txn, in a thread)", "due", 1),
    ("the TransferBatch call as the county sees it", "ship", 1),
    ("pack_envelope (encode, county)", "encode", 2),
    ("envelope_from_pb (decode + history fold, city)", "decode", 2),
    ("accept_batch (city write txn, in a thread)", "accept", 2),
    ("answer to_pb + from_pb", "reply_codec", 2),
    ("rest: gRPC + TLS + HTTP/2, city to_thread hop", None, 2),
    ("record_batch (county write txn, in a thread)", "record_accepted", 1),
    ("record_reachable (county write txn, unary path only)", "record_reachable", 1),
    ("rest: 3 to_thread hops + event loop", None, 1),
)

# step name → the stages that make it up, as the county and the city report them
COUNTY_STEPS: dict[str, tuple[Stage, ...]] = {
    "request": (Stage.TRANSFERS_REQUEST,), "drain": (Stage.SENDER_DRAIN,),
    "next_attempt_at": (Stage.TRANSFERS_NEXT_ATTEMPT,), "due": (Stage.TRANSFERS_DUE,),
    "ship": (Stage.SENDER_SHIP,), "encode": (Stage.SENDER_ENCODE,),
    "reply_codec": (Stage.SENDER_DECODE_REPLY,),
    "record_accepted": (Stage.TRANSFERS_RECORD_ACCEPTED,),
    "record_reachable": (Stage.TRANSFERS_RECORD_REACHABLE,),
}
CITY_STEPS: dict[str, tuple[Stage, ...]] = {
    "decode": (Stage.SERVER_DECODE,), "accept": (Stage.TRANSFERS_ACCEPT,),
    "reply_codec": (Stage.SERVER_ENCODE_REPLY,),
}


async def breakdown(s: Settings, w: Workload, sender: Sender, probes: dict[str, Recorder],
                    failures: list[str]) -> str:
    """Where the wall time of one sequential escalation goes, step by step (no cProfile),
    from what both nodes report to their probes."""
    county, city = probes[COUNTY], probes[CITY]
    county.recording = city.recording = True
    cpu0 = time.process_time()
    try:
        timing = await timed_loop_async(lambda _i: escalate_one(w, sender, w.take()),
                                        s.profile, s.max_seconds)
    finally:
        county.recording = city.recording = False
    cpu = (time.process_time() - cpu0) * 1000 / max(1, timing.count)
    try:
        check = w.verify()
    except BenchFailure as exc:
        check = "FAIL"
        failures.append(f"breakdown phase: {exc}")
    per = max(1, timing.count)

    def total(name: str) -> float:
        return (sum(county.ms(*COUNTY_STEPS.get(name, ())))
                + sum(city.ms(*CITY_STEPS.get(name, ())))) / per

    ship_rest = total("ship") - sum(total(n) for n in ("encode", "decode", "accept",
                                                       "reply_codec"))
    drain_rest = total("drain") - sum(total(n) for n in (
        "next_attempt_at", "due", "ship", "record_accepted", "record_reachable"))
    whole = total("request") + total("drain")
    lines = [f"where one sequential escalation's wall time goes ({timing.count} escalations, "
             f"check {check}): {whole:.2f} ms per escalation, measured request→recorded "
             f"p50 {percentile(timing.latencies_ms, 50):.2f} ms; CPU {cpu:.2f} ms "
             "(whole process)",
             f"{'step':<56} {'ms/esc':>7} {'share':>6}"]
    rests = iter((ship_rest, drain_rest))
    for label, step, indent in BREAKDOWN:
        value = total(step) if step is not None else next(rests)
        lines.append(f"{'  ' * indent + label:<56} {value:>7.3f} "
                     f"{100 * value / whole if whole else 0:>5.1f}%")
    return "\n".join(lines)


# --------------------------------------------------------------------------- driver


async def run(s: Settings, failures: list[str], profiles: list[str]) -> list[Row]:
    clock = SystemClock()
    # the nodes report stage timings to these; they listen during the breakdown only
    probes = {COUNTY: Recorder(recording=False), CITY: Recorder(recording=False)}
    async with federation(s.tmp / "fed", TOPOLOGY, clock, start=(CITY, COUNTY),
                          probes=probes, batch_size=s.batch_size) as fed:
        county, city = fed[COUNTY], fed[CITY]
        sender = county.federation.senders[CITY]
        for fn in (county, city):  # --drop: what the run costs without these projections
            store = fn.node.transfers.store.store  # type: ignore[attr-defined]
            store.projections[:] = [p for p in store.projections
                                    if type(p).__name__ not in s.drop]
        sql = {"county": SqlCounter(county.node.engine), "city": SqlCounter(city.node.engine)}
        threads = ThreadCpu()
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(initializer=threads.register_worker))
        w = Workload(county, city, threads)
        total = s.warmup + 1 + 5 * s.n + 2 * s.profile
        log(f"pre-creating {total} issues at the county (submit + triage) ...")
        log(f"  done in {w.precreate(total):.1f}s")

        # Warm-up: real escalations, untimed (checked); the first one is the SQL template,
        # the second one's transfer and answer give the batched payload's bytes.
        first = w.take()
        before = read_issue_row(county, first)
        if not await escalate_one(w, sender, first):
            raise BenchFailure("the first escalation was not delivered")
        tpl = Template.read(county, city, first, before)
        w.request(w.take())
        [item] = county.transfers.due(CITY, 1)
        assert item.transfer is not None
        transfer = item.transfer
        accepted = Accepted.from_json(tpl.outbox["response"], duplicate=False)
        if not (await sender.drain_once()).delivered:
            raise BenchFailure("the second escalation was not delivered")
        for _ in range(s.warmup - 1):
            await escalate_one(w, sender, w.take())
        log(f"  warm-up: {s.warmup + 1} escalations, check {w.verify()}")

        sender._stub()  # the channel the sender uses for Escalate
        channel = sender._channel
        assert channel is not None
        health = health_pb2_grpc.HealthStub(channel)
        log("bare cost:")
        runs = [await bare_run(s, tpl, health, f"run{k}", failures)
                for k in range(s.baseline_runs)]
        bare_rows = [median_of([r[j] for r in runs]) for j in range(3)]
        baseline = bare_rows[2]
        rows = [*bare_rows]
        batched_baseline: dict[int, Row] = {}
        async with BareEcho(county, city) as echo:
            for batch in (s.batch_size, s.big_batch):
                payload = payload_of(transfer, accepted, batch)
                bruns = [await bare_batched_run(s, tpl, echo, payload, batch, f"run{k}",
                                                failures) for k in range(s.baseline_runs)]
                brows = [median_of([r[j] for r in bruns]) for j in range(3)]
                batched_baseline[batch] = brows[2]
                rows += brows
        log("ours:")
        for batched in (True, False):
            sender.batched = batched
            seq = await ours_sequential(s, w, sender, sql, failures)
            compare(seq, baseline, "bare")
            rows.append(seq)
        sender.batched = True
        for batch, batched in ((s.batch_size, True), (s.big_batch, True),
                               (s.big_batch, False)):
            sender.batched = batched
            queued, drained = await ours_batched(s, w, sender, batch, sql, failures)
            compare(drained, baseline, "bare", latency=False)
            compare(drained, batched_baseline[batch], "bare_batched", latency=False)
            rows += [queued, drained]
        sender.batched = True
        sender.batch_size = s.batch_size
        if s.profile:
            log("profile:")
            profiles.append(await breakdown(s, w, sender, probes, failures))
            profiles.append(await profile_sequential(s, w, sender, failures))
    return rows


def meta(s: Settings) -> dict[str, Any]:
    return {
        **git_state(),
        **machine_meta(),
        "loadavg_1m_at_start": loadavg_1m(),
        "sqlite": sqlite3.sqlite_version,
        "sqlite_settings": "WAL, synchronous=FULL, BEGIN IMMEDIATE",
        "grpc": grpc.__version__,
        "transport": "gRPC over mutual TLS on 127.0.0.1, both nodes in one process",
        "clock": "node.app.clock.SystemClock",
        "n": s.n,
        "warmup": s.warmup,
        "batch_sizes": [s.batch_size, s.big_batch],
        "baseline_runs": s.baseline_runs,
        "max_seconds": s.max_seconds,
        "profile": s.profile,
        "dropped_projections": sorted(s.drop),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.escalation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="escalations per phase (default 1000)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="sender batch size of the first throughput phase (default 16)")
    p.add_argument("--big-batch", type=int, default=64,
                   help="sender batch size of the second throughput phase (default 64)")
    p.add_argument("--json", type=Path, default=RESULTS / "escalation.json")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="wall-time bound of each phase (default 60)")
    p.add_argument("--warmup", type=int, default=20,
                   help="untimed escalations before the phases (counted by the checks)")
    p.add_argument("--baseline-runs", type=int, default=3,
                   help="runs of the bare phases; the median one is shown (default 3)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also time each step of N sequential escalations, and cProfile "
                   "draining N more with --batch-size (top 12 entries)")
    p.add_argument("--drop", default="", metavar="CLASS,...",
                   help="unregister these projections (by class name) on both nodes, to "
                   "see what one costs (a diagnostic; the checks still run)")
    p.add_argument("--tmp-dir", type=Path, default=None,
                   help="where the SQLite files and certificates go (default: system tmp)")
    args = p.parse_args(argv)
    if (args.n < 1 or args.max_seconds <= 0 or args.warmup < 1 or args.baseline_runs < 1
            or not 1 <= args.batch_size <= 500 or not 1 <= args.big_batch <= 500
            or args.profile < 0):
        p.error("--n, --warmup and --baseline-runs must be >= 1, batch sizes 1..500, "
                "--max-seconds > 0, --profile >= 0")

    failures: list[str] = []
    profiles: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zhitong-bench-", dir=args.tmp_dir) as tmp_s:
        s = Settings(n=args.n, warmup=args.warmup, batch_size=args.batch_size,
                     big_batch=args.big_batch, max_seconds=args.max_seconds,
                     baseline_runs=args.baseline_runs, profile=args.profile, tmp=Path(tmp_s),
                     drop=frozenset(filter(None, args.drop.split(","))))
        info = meta(s)
        try:
            rows = asyncio.run(run(s, failures, profiles))
        except BenchFailure as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            return 1
    elapsed = time.perf_counter() - started
    info["loadavg_1m_at_end"] = loadavg_1m()

    print()
    print(f"escalation county {COUNTY} → city {CITY}, n={s.n} per phase (+{s.warmup} "
          f"warm-up), {os.cpu_count()} CPUs, total {elapsed:.0f} s, 1-min load average "
          f"{info['loadavg_1m_at_start']:.2f} at start, {info['loadavg_1m_at_end']:.2f} at end")
    print(f"sqlite {info['sqlite']} ({info['sqlite_settings']}); grpc {info['grpc']}, "
          "mutual TLS on loopback; both nodes and the bench in one process and event loop")
    if (code := code_line(info)) is not None:
        print(code)
    print("ratios vs the bare total (Check + 2 txns, sequential): thr = ours/bare per s "
          "(1.00 = as fast), p50/p99 = ours/bare latency (1.00 = as fast);\n"
          "thr/bbat = ours/the bare batched total of the same batch size (RPC of the same "
          "bytes + the 2 batched txns);\n"
          "batch rows: p50/p99 are per batch, so only thr is compared; "
          "* = stopped by --max-seconds")
    print()
    print(format_table(rows, TABLE))
    for row in rows:
        if row.notes:
            print(f"  note {row.phase}: {row.notes}")
    for report in profiles:
        print()
        print(report)

    write_json(args.json, {
        "meta": info | {"seconds_total": round(elapsed, 1)},
        "rows": [r.to_json() for r in rows],
        "failures": failures,
        "profiles": profiles,
        "bare_p50_check_plus_sql_ms": round(sum(percentile(r.timing.latencies_ms, 50)
                                         for r in rows[:2]), 3),
    })
    print(f"\nsaved {args.json}")
    return exit_code(failures)


if __name__ == "__main__":
    raise SystemExit(main())
