"""Issue intake benchmark: bare SQL vs IssueService.submit vs the HTTP API, per backend.

    .venv/bin/python -m bench.intake [--n 2000] [--backend sqlite|postgres|both]
                                     [--json bench/results/intake.json] [--profile 500]

For each backend, on loopback, in one run and each on a fresh migrated database:

1. bare SQL, what `IssueService.submit` does at the SQL level, one transaction per issue
   (counter upsert for the number, INSERT issues, INSERT issue_tags, counter upsert for
   the event seq, INSERT events with a JSON payload):
   a. raw driver (sqlite3 with the same PRAGMAs and BEGIN IMMEDIATE / psycopg 3),
   b. SQLAlchemy Core on the node's own engine (node.store.db.make_engine);
2. IssueService.submit in a loop, single thread, as a dispatcher principal;
3. the HTTP API of a real `zhitong node run` subprocess: GET /health (the HTTP floor, no
   database), then POST /api/v1/issues with one keep-alive client, then with --clients
   concurrent clients (threads), against the same server and database.

Each phase is bounded by --n and by --max-seconds and reports the count it reached. After
each phase the database is checked: issue rows = acknowledged submissions, numbers and
event seqs gapless 1..n, one tag row per tag, the acknowledged ids = the stored ids.
A failed check prints FAIL and the run exits 1 (after printing the table).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uuid6
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from bench.common.accounting import SqlCounter, process_cpu_seconds
from bench.common.log import log
from bench.common.profile import stats_lines, strip_paths
from bench.common.results import (
    REPO,
    RESULTS,
    BenchFailure,
    exit_code,
    machine_meta,
    write_json,
)
from bench.common.rows import Row, compare, median_of
from bench.common.tables import (
    BACKEND,
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
from bench.common.timing import Timing, concurrent_loop, timed_loop
from node.app.policy import Principal, Role
from node.config import Config, load_config
from node.domain.calendar import CST
from node.domain.issue import Channel
from node.domain.lifecycle import Submit, submit
from node.runtime import build
from node.store import migrate
from node.store.db import make_engine, single_use_engine
from node.store.repo import EVENT_SEQ, issue_row
from node.store.schema import counters, events, issue_tags, issues
from tests.support.data import CODE_A
from tests.support.pg import find_bindir, free_port, postgres_cluster

NODE = "330522"
NODE_TOML = """\
[node]
code = "330522"
name = "长兴县"
level = "county"
parent = "330500"
data_dir = {data_dir}

[http]
host = "127.0.0.1"
port = {port}
"""
TAGS = ("用地审批",)
USERNAME = "bench"
PASSWORD = "bench-password-1"
PRINCIPAL = Principal(username=USERNAME, role=Role.DISPATCHER, display_name="bench")
BODY: dict[str, Any] = {
    "enterprise_name": "甲企业有限公司",
    "credit_code": CODE_A,
    "contact_phone": "13905720001",
    "channel": Channel.HOTLINE_12345.value,
    "title": "用地审批进度咨询",
    "content": "厂区扩建项目用地指标审批已两个月，希望了解进度。",
    "tags": list(TAGS),
}
COMMAND = Submit(
    enterprise_name=BODY["enterprise_name"],
    credit_code=BODY["credit_code"],
    contact_phone=BODY["contact_phone"],
    channel=Channel(BODY["channel"]),
    title=BODY["title"],
    content=BODY["content"],
    tags=TAGS,
)
TABLE: tuple[Column[Row], ...] = (
    BACKEND, phase_column(34), count_column(6), SECONDS, per_second_column("issues/s", 9),
    P50, P99, ratio_column("thr/raw", 7, "throughput_vs_raw"),
    ratio_column("p50/raw", 7, "p50_vs_raw"), ratio_column("p99/raw", 7, "p99_vs_raw"),
    ratio_column("thr/core", 8, "throughput_vs_core"), ERRORS, CHECK,
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    n: int
    warmup: int
    max_seconds: float
    clients: int
    idempotency: bool
    profile: int
    baseline_runs: int
    tmp: Path


class Backend:
    """Hands out fresh, empty databases of one backend."""

    def __init__(self, name: str, tmp: Path, admin_url: str | None = None) -> None:
        self.name = name
        self.tmp = tmp
        self.admin_url = admin_url

    def fresh_url(self, label: str) -> str:
        if self.admin_url is None:
            return f"sqlite:///{self.tmp / f'{self.name}-{label}.sqlite3'}"
        db = f"b_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db}"'))
        finally:
            admin.dispose()
        return self.admin_url.rsplit("/", 1)[0] + f"/{db}"


def node_config(data_dir: Path, url: str | None, port: int) -> tuple[Path, Config]:
    """Write the node's TOML (as an operator would) and load it the way the CLI does."""
    data_dir.mkdir(parents=True, exist_ok=True)
    body = NODE_TOML.format(data_dir=json.dumps(str(data_dir)), port=port)
    if url is not None and not url.startswith("sqlite"):
        body += f"\n[database]\nurl = {json.dumps(url)}\n"
    path = data_dir / "node.toml"
    path.write_text(body, encoding="utf-8")
    return path, load_config(path, {})


# --------------------------------------------------------------------------- checks


def verify(url: str, expected: int, acked_ids: list[str] | None) -> str:
    """Issue rows = acknowledged submissions, numbers/seqs gapless 1..n; raise on failure."""
    engine = single_use_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(issues.c.id, issues.c.number)).all()
            seqs = sorted(conn.execute(select(events.c.seq)).scalars())
            tag_rows = conn.execute(select(func.count()).select_from(issue_tags)).scalar_one()
    finally:
        engine.dispose()
    problems = []
    if len(rows) != expected:
        problems.append(f"{len(rows)} issue rows for {expected} acknowledged submissions")
    numbers = sorted(int(r.number.rsplit("-", 1)[1]) for r in rows)
    if numbers != list(range(1, len(rows) + 1)):
        problems.append(f"issue numbers are not gapless 1..{len(rows)}")
    if seqs != list(range(1, expected + 1)):
        problems.append(f"{len(seqs)} events, seqs not gapless 1..{expected}")
    if tag_rows != expected * len(TAGS):
        problems.append(f"{tag_rows} tag rows, expected {expected * len(TAGS)}")
    if acked_ids is not None:
        if len(set(acked_ids)) != len(acked_ids):
            problems.append("the same issue id was acknowledged twice")
        if set(acked_ids) != {r.id for r in rows}:
            problems.append("acknowledged ids differ from the stored ids")
    if problems:
        raise BenchFailure("; ".join(problems))
    return "ok"


def checked(row: Row, url: str, expected: int, acked_ids: list[str] | None,
            failures: list[str]) -> Row:
    try:
        row.check = verify(url, expected, acked_ids)
    except BenchFailure as exc:
        row.check = "FAIL"
        failures.append(f"{row.backend} {row.phase}: {exc}")
    if row.timing.errors:
        row.check = "FAIL"
        failures.append(f"{row.backend} {row.phase}: {row.timing.errors} failed requests")
    log(f"  {row.backend:<8} {row.phase:<34} {row.timing.count:>6} in "
        f"{row.timing.seconds:6.2f}s  check {row.check}")
    return row


# --------------------------------------------------------------------------- bare SQL


@dataclass(frozen=True, kw_only=True, slots=True)
class Template:
    """Realistic column values of one submitted issue and its event, from the domain."""

    row: dict[str, Any]
    payload: dict[str, Any]
    actor: str
    year: int

    @staticmethod
    def make(config: Config) -> Template:
        now = datetime.now(UTC)
        issue, ev = submit(COMMAND, issue_id=f"{NODE}-x", number=f"{NODE}-0000-000000",
                           node=NODE, actor=PRINCIPAL.actor, now=now, rules=config.rules())
        return Template(row=issue_row(issue, config.rules().calendar), payload=dict(ev.payload),
                        actor=PRINCIPAL.actor.label(), year=now.astimezone(CST).year)


def _ids(count: int) -> list[str]:
    return [f"{NODE}-{uuid6.uuid7().hex}" for _ in range(count)]


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite dialect stores for our column types."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def bare_raw(backend: Backend, tpl: Template, s: Settings, failures: list[str]) -> Row:
    url = backend.fresh_url(f"raw-{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    ids = _ids(s.warmup + s.n)
    number_key = f"number:{tpl.year}"
    cols = list(tpl.row)
    ev_cols = ("seq", "event_id", "issue_id", "version", "node", "kind", "actor", "at",
               "payload", "published")
    sqlite = backend.admin_url is None
    ph = "?" if sqlite else "%s"
    upsert = (f"INSERT INTO counters (name, value) VALUES ({ph}, 1) ON CONFLICT (name) "
              "DO UPDATE SET value = counters.value + 1 RETURNING value")
    ins_issue = f"INSERT INTO issues ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})"
    ins_tag = f"INSERT INTO issue_tags (issue_id, tag, received_at) VALUES ({ph}, {ph}, {ph})"
    ins_event = (f"INSERT INTO events ({', '.join(ev_cols)}) "
                 f"VALUES ({', '.join([ph] * len(ev_cols))})")
    at = tpl.row["received_at"]
    op: Callable[[int], bool]
    with ExitStack() as stack:
        if sqlite:
            path = make_url(url).database
            assert path is not None
            con = sqlite3.connect(path, isolation_level=None, timeout=30,
                                  check_same_thread=False)
            stack.callback(con.close)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                           "busy_timeout=30000"):
                con.execute(f"PRAGMA {pragma}")
            base = [_sqlite_value(tpl.row[c]) for c in cols]
            at_s = _sqlite_value(at)

            def op_sqlite(i: int) -> bool:
                issue_id = ids[i]
                con.execute("BEGIN IMMEDIATE")
                try:
                    seq = con.execute(upsert, (number_key,)).fetchone()[0]
                    number = f"{NODE}-{tpl.year}-{seq:06d}"
                    values = list(base)
                    values[0], values[1] = issue_id, number
                    con.execute(ins_issue, values)
                    con.executemany(ins_tag, [(issue_id, t, at_s) for t in TAGS])
                    eseq = con.execute(upsert, (EVENT_SEQ,)).fetchone()[0]
                    payload = json.dumps(dict(tpl.payload, number=number))
                    con.execute(ins_event, (eseq, f"{issue_id}@1", issue_id, 1, NODE,
                                            "submitted", tpl.actor, at_s, payload, 0))
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                return True

            op = op_sqlite
            phase = "bare SQL, raw sqlite3"
        else:
            import psycopg
            from psycopg.types.json import Json

            conninfo = make_url(url).set(drivername="postgresql").render_as_string(
                hide_password=False)
            pcon = psycopg.connect(conninfo)
            stack.callback(pcon.close)
            pbase = [Json(v) if isinstance(v, list | dict) else v
                     for v in (tpl.row[c] for c in cols)]

            def op_pg(i: int) -> bool:
                issue_id = ids[i]
                try:
                    with pcon.cursor() as cur:
                        cur.execute(upsert, (number_key,))
                        seq = cur.fetchone()[0]  # type: ignore[index]
                        number = f"{NODE}-{tpl.year}-{seq:06d}"
                        values = list(pbase)
                        values[0], values[1] = issue_id, number
                        cur.execute(ins_issue, values)
                        cur.executemany(ins_tag, [(issue_id, t, at) for t in TAGS])
                        cur.execute(upsert, (EVENT_SEQ,))
                        eseq = cur.fetchone()[0]  # type: ignore[index]
                        cur.execute(ins_event, (eseq, f"{issue_id}@1", issue_id, 1, NODE,
                                                "submitted", tpl.actor, at,
                                                Json(dict(tpl.payload, number=number)),
                                                False))
                    pcon.commit()
                except BaseException:
                    pcon.rollback()
                    raise
                return True

            op = op_pg
            phase = "bare SQL, raw psycopg"
        timed_loop(op, s.warmup, s.max_seconds)
        timing = timed_loop(lambda i: op(i + s.warmup), s.n, s.max_seconds)
    row = Row(backend=backend.name, phase=phase, timing=timing, target=s.n, baseline=True,
              notes="5 statements + BEGIN/COMMIT per issue (1 upsert per counter)")
    return checked(row, url, s.warmup + timing.count, ids[: s.warmup + timing.count], failures)


def bare_core(backend: Backend, tpl: Template, s: Settings, failures: list[str]) -> Row:
    url = backend.fresh_url(f"core-{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    migrate.upgrade(engine)
    ids = _ids(s.warmup + s.n)
    ins = pg_insert if backend.admin_url is not None else sqlite_insert
    upsert = (
        ins(counters)
        .on_conflict_do_update(index_elements=[counters.c.name],
                               set_={"value": counters.c.value + 1})
        .returning(counters.c.value)
    )
    number_key = f"number:{tpl.year}"
    at = tpl.row["received_at"]

    def op(i: int) -> bool:
        issue_id = ids[i]
        with engine.begin() as conn:
            seq = conn.execute(upsert, {"name": number_key, "value": 1}).scalar_one()
            number = f"{NODE}-{tpl.year}-{seq:06d}"
            conn.execute(issues.insert(), dict(tpl.row, id=issue_id, number=number))
            conn.execute(issue_tags.insert(), [{"issue_id": issue_id, "tag": t, "received_at": at}
                                               for t in TAGS])
            eseq = conn.execute(upsert, {"name": EVENT_SEQ, "value": 1}).scalar_one()
            conn.execute(events.insert(), {
                "seq": eseq, "event_id": f"{issue_id}@1", "issue_id": issue_id, "version": 1,
                "node": NODE, "kind": "submitted", "actor": tpl.actor, "at": at,
                "payload": dict(tpl.payload, number=number), "published": False,
            })
        return True

    try:
        timed_loop(op, s.warmup, s.max_seconds)
        sql = SqlCounter(engine)
        timing = timed_loop(lambda i: op(i + s.warmup), s.n, s.max_seconds)
        per = sql.statements / max(1, timing.count)
    finally:
        engine.dispose()
    row = Row(backend=backend.name, phase="bare SQL, SQLAlchemy Core", timing=timing,
              target=s.n, notes=f"{per:.1f} statements per issue (node engine: make_engine)")
    return checked(row, url, s.warmup + timing.count, ids[: s.warmup + timing.count], failures)


# --------------------------------------------------------------------------- service layer


def _submitter(backend: Backend, s: Settings, label: str
               ) -> tuple[str, Engine, Callable[[int], bool], list[str]]:
    url = backend.fresh_url(label)
    _, config = node_config(s.tmp / f"{backend.name}-{label}", url, 0)
    engine = make_engine(url)
    node = build(config, engine=engine)
    service = node.services.issues
    acked: list[str] = []

    def op(i: int) -> bool:
        key = f"bench-{i}" if s.idempotency else None
        issue, created = service.submit(PRINCIPAL, COMMAND, idempotency_key=key)
        acked.append(issue.id)
        return created

    return url, engine, op, acked


def service_layer(backend: Backend, s: Settings, failures: list[str]) -> Row:
    url, engine, op, acked = _submitter(backend, s, "service")
    try:
        timed_loop(op, s.warmup, s.max_seconds)
        sql = SqlCounter(engine)
        timing = timed_loop(lambda i: op(i + s.warmup), s.n, s.max_seconds)
        per = sql.statements / max(1, timing.count)
    finally:
        engine.dispose()
    row = Row(backend=backend.name, phase="IssueService.submit", timing=timing, target=s.n,
              notes=f"{per:.1f} statements per issue")
    return checked(row, url, len(acked), acked, failures)


def profile_service(backend: Backend, s: Settings) -> str:
    """cProfile of s.profile service-layer submits on a fresh database: top 10 entries.

    Bench frames are filtered out, so the list starts at IssueService.submit.
    """
    _, engine, op, _ = _submitter(backend, s, "profile")
    try:
        timed_loop(op, s.warmup, s.max_seconds)
        profiler = cProfile.Profile()
        profiler.enable()
        timing = timed_loop(lambda i: op(i + s.warmup), s.profile, s.max_seconds)
        profiler.disable()
    finally:
        engine.dispose()
    parts = [f"{backend.name}: {timing.count} IssueService.submit calls under cProfile"]
    for order in ("cumulative", "tottime"):
        parts.append(f"-- top 10 by {order} --")
        parts.extend(stats_lines([profiler], order, 10, totals=True))
    return strip_paths("\n".join(parts))


# --------------------------------------------------------------------------- HTTP API


@dataclass(frozen=True, kw_only=True, slots=True)
class Server:
    base: str
    pid: int


def cpu_accounted(server: Server, run: Callable[[], Timing]) -> tuple[Timing, dict[str, Any]]:
    """Run a phase and measure the CPU the server and this (client) process spent on it."""
    srv0, cli0 = process_cpu_seconds(server.pid), time.process_time()
    timing = run()
    srv, cli = process_cpu_seconds(server.pid) - srv0, time.process_time() - cli0
    per = max(1, timing.count)
    return timing, {"server_cpu_ms_per_op": round(srv * 1000 / per, 3),
                    "client_cpu_ms_per_op": round(cli * 1000 / per, 3)}


def cpu_note(extra: dict[str, Any]) -> str:
    return (f"server CPU {extra['server_cpu_ms_per_op']:.2f} ms/req, "
            f"client CPU {extra['client_cpu_ms_per_op']:.2f} ms/req")


@contextmanager
def node_server(config_path: Path, port: int, log_path: Path) -> Iterator[Server]:
    """Run `zhitong node run` as a subprocess; yield it once /health answers."""
    exe = Path(sys.executable).parent / "zhitong"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "node.cli"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG__")}
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as out:
        proc = subprocess.Popen([*cmd, "node", "run", "--config", str(config_path)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        try:
            deadline = time.monotonic() + 60.0
            with httpx.Client(base_url=base, timeout=2.0) as probe:
                while True:
                    if proc.poll() is not None:
                        raise BenchFailure(f"the node exited with {proc.returncode} before "
                                           f"answering /health; log: {log_path}")
                    try:
                        if probe.get("/api/v1/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise BenchFailure(f"/health did not answer within 60 s; log: {log_path}")
                    time.sleep(0.05)
            yield Server(base=base, pid=proc.pid)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def http_api(backend: Backend, s: Settings, failures: list[str]) -> list[Row]:
    url = backend.fresh_url("http")
    port = free_port()
    data_dir = s.tmp / f"{backend.name}-http"
    config_path, config = node_config(
        data_dir, None if backend.admin_url is None else url, port)
    if backend.admin_url is None:
        url = config.database_url
    # The account is created in-process against the same database before the server starts.
    setup = build(config)
    setup.services.accounts.add(PRINCIPAL, PASSWORD)
    setup.engine.dispose()

    rows: list[Row] = []
    acked: list[str] = []
    error_samples: list[str] = []
    keys = iter(range(10**9))
    key_lock = threading.Lock()

    def make_client(base: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=base, timeout=30.0,
                            headers={"Authorization": f"Bearer {token}"})

    def poster(client: httpx.Client) -> Callable[[int], bool]:
        def op(_i: int) -> bool:
            headers = {}
            if s.idempotency:
                with key_lock:
                    headers["Idempotency-Key"] = f"bench-{next(keys)}"
            try:
                r = client.post("/api/v1/issues", json=BODY, headers=headers)
            except httpx.HTTPError as exc:
                if len(error_samples) < 5:
                    error_samples.append(repr(exc))
                return False
            if r.status_code != 201:
                if len(error_samples) < 5:
                    error_samples.append(f"{r.status_code} {r.text[:200]}")
                return False
            acked.append(r.json()["id"])
            return True
        return op

    with node_server(config_path, port, data_dir / "server.log") as server:
        base = server.base
        login = httpx.post(f"{base}/api/v1/auth/login", timeout=30.0,
                           json={"username": USERNAME, "password": PASSWORD})
        login.raise_for_status()
        token = login.json()["access_token"]
        with make_client(base, token) as client:
            # The HTTP floor: same client, same server, no database.
            floor, cpu = cpu_accounted(server, lambda: timed_loop(
                lambda _i: client.get("/api/v1/health").status_code == 200,
                s.n, s.max_seconds))
            rows.append(Row(backend=backend.name, phase="HTTP GET /health (floor, no DB)",
                            timing=floor, target=s.n, extra=cpu,
                            notes=f"not an issue insert; {cpu_note(cpu)}"))
            log(f"  {backend.name:<8} {rows[-1].phase:<34} {floor.count:>6} in "
                f"{floor.seconds:6.2f}s")
            post = poster(client)
            timed_loop(post, s.warmup, s.max_seconds)
            seq, cpu = cpu_accounted(server, lambda: timed_loop(post, s.n, s.max_seconds))
        rows.append(checked(
            Row(backend=backend.name, phase="HTTP POST /issues, 1 client", timing=seq,
                target=s.n, extra=cpu, notes=f"keep-alive httpx.Client; {cpu_note(cpu)}"),
            url, len(acked), acked, failures))

        def make_worker() -> tuple[Callable[[int], bool], Callable[[], None]]:
            c = make_client(base, token)
            return poster(c), c.close

        par, cpu = cpu_accounted(
            server, lambda: concurrent_loop(make_worker, s.n, s.clients, s.max_seconds))
        rows.append(checked(
            Row(backend=backend.name, phase=f"HTTP POST /issues, {s.clients} clients",
                timing=par, target=s.n, extra=cpu,
                notes=f"{s.clients} threads, one httpx.Client each; {cpu_note(cpu)}"),
            url, len(acked), acked, failures))
    for sample in error_samples:
        failures.append(f"{backend.name} HTTP error sample: {sample}")
    return rows


# --------------------------------------------------------------------------- driver


def run_backend(backend: Backend, s: Settings, failures: list[str],
                profiles: list[str]) -> list[Row]:
    log(f"{backend.name}:")
    tpl = Template.make(node_config(s.tmp / f"{backend.name}-template", None, 0)[1])
    raw = median_of([bare_raw(backend, tpl, s, failures) for _ in range(s.baseline_runs)],
                    unit="issues/s")
    core = median_of([bare_core(backend, tpl, s, failures) for _ in range(s.baseline_runs)],
                     unit="issues/s")
    rows = [raw, core, service_layer(backend, s, failures), *http_api(backend, s, failures)]
    for row in rows:
        if not row.baseline:
            compare(row, raw, "raw")
            compare(row, core, "core")
    if s.profile > 0:
        profiles.append(profile_service(backend, s))
    return rows


def meta(s: Settings, pg_version: str | None) -> dict[str, Any]:
    fs = subprocess.run(["df", "-T", str(s.tmp)], capture_output=True, text=True, check=False)
    fs_type = fs.stdout.splitlines()[-1].split()[1] if fs.returncode == 0 else "?"
    return {
        **machine_meta(),
        "sqlite": sqlite3.sqlite_version,
        "sqlite_settings": "WAL, synchronous=FULL, BEGIN IMMEDIATE",
        "sqlite_fs": fs_type,
        "postgres": pg_version,
        "postgres_settings": ("tests.support.pg throwaway cluster: fsync=off, "
                              "synchronous_commit=off, full_page_writes=off")
        if pg_version else None,
        "n": s.n,
        "warmup": s.warmup,
        "baseline_runs": s.baseline_runs,
        "max_seconds": s.max_seconds,
        "clients": s.clients,
        "idempotency_key": s.idempotency,
        "tags_per_issue": len(TAGS),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="issues per phase (default 2000)")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--json", type=Path, default=RESULTS / "intake.json")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="wall-time bound of each phase (default 60)")
    p.add_argument("--baseline-runs", type=int, default=3,
                   help="runs of each bare-SQL phase; the median one is the baseline (default 3)")
    p.add_argument("--warmup", type=int, default=20,
                   help="untimed submissions before each phase (counted by the checks)")
    p.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    p.add_argument("--idempotency-key", action="store_true",
                   help="send an Idempotency-Key with every service/HTTP submission")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also cProfile N service-layer submits per backend (top 10)")
    p.add_argument("--tmp-dir", type=Path, default=None,
                   help="where the SQLite files and node data dirs go (default: system tmp)")
    args = p.parse_args(argv)
    if (args.n < 1 or args.max_seconds <= 0 or args.clients < 1 or args.warmup < 0
            or args.baseline_runs < 1):
        p.error("--n, --clients and --baseline-runs must be >= 1, --warmup >= 0, "
                "--max-seconds > 0")

    failures: list[str] = []
    profiles: list[str] = []
    rows: list[Row] = []
    skipped: list[str] = []
    pg_version: str | None = None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zhitong-bench-", dir=args.tmp_dir) as tmp_s:
        s = Settings(n=args.n, warmup=args.warmup, max_seconds=args.max_seconds,
                     clients=args.clients, idempotency=args.idempotency_key,
                     profile=args.profile, baseline_runs=args.baseline_runs,
                     tmp=Path(tmp_s))
        if args.backend in ("sqlite", "both"):
            rows += run_backend(Backend("sqlite", s.tmp), s, failures, profiles)
        if args.backend in ("postgres", "both"):
            if find_bindir() is None:
                msg = ("postgres: SKIPPED, PostgreSQL server binaries (initdb, pg_ctl) not "
                       "found; install postgresql to run this backend")
                log(msg)
                skipped.append(msg)
            else:
                with postgres_cluster() as admin_url:
                    admin = create_engine(admin_url)
                    with admin.connect() as conn:
                        pg_version = str(conn.execute(text("SHOW server_version")).scalar_one())
                    admin.dispose()
                    rows += run_backend(Backend("postgres", s.tmp, admin_url), s, failures,
                                        profiles)
        info = meta(s, pg_version)
    elapsed = time.perf_counter() - started

    print()
    print(f"issue intake, n={s.n} per phase (+{s.warmup} warm-up), {s.clients} HTTP clients, "
          f"{os.cpu_count()} CPUs, total {elapsed:.0f} s")
    print(f"sqlite {info['sqlite']} ({info['sqlite_settings']}, on {info['sqlite_fs']}); "
          f"postgres {pg_version or '-'}" + (" (fsync=off, synchronous_commit=off)"
                                             if pg_version else ""))
    print("ratios vs the raw-driver row of the same backend: thr = ours/bare issues/s "
          "(1.00 = as fast), p50/p99 = ours/bare latency (1.00 = as fast);\n"
          "thr/core = vs SQLAlchemy Core; * = stopped by --max-seconds")
    print()
    print(format_table(rows, TABLE))
    for row in rows:
        if row.notes:
            print(f"  note {row.backend} / {row.phase}: {row.notes}")
    for msg in skipped:
        print(msg)
    for report in profiles:
        print()
        print(report)

    write_json(args.json, {
        "meta": info | {"seconds_total": round(elapsed, 1)},
        "rows": [r.to_json() for r in rows],
        "skipped": skipped,
        "failures": failures,
        "profiles": profiles,
    })
    print(f"\nsaved {args.json}")
    return exit_code(failures)


if __name__ == "__main__":
    raise SystemExit(main())
