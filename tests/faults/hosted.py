"""The fault suite with city-hosted units (市级统建): the city and two of its counties run
as complete nodes in ONE hosting process (`zhitong host`, node/hosting.py) started as a
subprocess, each with its own SQLite store, TLS identity and nats-server; the province
runs in this process (tests/support/federation.Harness), as do the fault proxy and the
workload. Everything else is the fault suite's own parts, reused unchanged:

* the nats-servers (one per unit, leaf topology, `no_advertise`) come from the harness's
  Brokers; the first county's leaf remote dials the city's leaf port through a fault
  `Proxy` (tests/faults/proxy.py), so a test can cut that one hosted county's NATS link;
* the workload (`HttpWorkload`) is the fault suite's (tests/faults/workload.py) — the same
  steps, probabilities and Recorder calls — over the units' HTTP API instead of in-process
  calls, one per hosted county;
* the checker is tests/faults/checker.py's `check` and `drain`: `check_hosted` runs
  `check` once per county (its own recorder as `home`, the city as parent and replica)
  and adds up the counts that are a county's own (see there).

What a SIGKILL leaves a client not knowing, the workload resolves before the checker runs,
never by guessing: a submission whose answer was lost is sent again with the same
`Idempotency-Key` once the host is back (exactly one issue either way, or the checker
counts a duplicate); an escalation whose answer was lost is looked up in the county's own
outbox (`transfers_out`: a row for the issue is the committed request).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import tomli_w
from nats.aio.client import Client as NATS
from sqlalchemy import Engine, create_engine, select

from node.app.clock import SystemClock
from node.config import load_config
from node.domain.topology import Topology
from node.runtime import build
from node.store.schema import issues, transfers_out
from tests.faults.checker import COUNTS, Recorder, Report, check, drain, snapshot
from tests.faults.cluster import inbound_backlog
from tests.faults.proxy import Proxy
from tests.faults.workload import Fault, drive
from tests.support.brokers import Brokers
from tests.support.data import LEADER, submit_body
from tests.support.federation import NATS_DEFAULTS, Harness, Link, make_certs, node_tree
from tests.support.pg import free_port
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
PROVINCE, CITY, COUNTY, COUNTY2 = "330000", "330500", "330522", "330521"
#: the leaf link of COUNTY runs through the fault proxy; COUNTY2's is direct
TOPOLOGY: Mapping[str, str | None] = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY,
                                      COUNTY2: CITY}
HOSTED = (CITY, COUNTY, COUNTY2)  # the units of the hosting process
COUNTIES = (COUNTY, COUNTY2)
PASSWORD = "password123"  # the leader's, at every hosted unit
API = "/api/v1"

Outcome = Literal["ok", "refused", "unknown"]


def _without_none(tree: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: a setting left out takes its default (node/config.py)."""
    return {k: _without_none(v) if isinstance(v, dict) else v
            for k, v in tree.items() if v is not None}


# --------------------------------------------------------------------------- federation


@dataclass
class HostedFederation:
    root: Path
    harness: Harness  # the nats-servers and the province's node
    leaf_proxy: Proxy  # COUNTY's nats-server → the city's leaf listener
    http_ports: dict[str, int]
    hosting_file: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    log: list[str] = field(default_factory=list)
    backlog_detail: str = ""
    #: set by a workload as it sends an escalation request (a fault may wait for one)
    escalation_sent: asyncio.Event = field(default_factory=asyncio.Event)
    tokens: dict[str, str] = field(default_factory=dict)
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=3.0)))
    _clients: dict[str, NATS] = field(default_factory=dict)
    _engines: dict[str, Engine] = field(default_factory=dict)
    _t0: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        line = f"{time.monotonic() - self._t0:7.2f}s {what}"
        self.log.append(line)
        print("  " + line, flush=True)

    @property
    def host_log(self) -> Path:
        return self.root / "host.log"

    def host_log_tail(self, n: int = 4000) -> str:
        try:
            return self.host_log.read_text(encoding="utf-8", errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ the host process

    def start_host(self) -> None:
        """`zhitong host --config hosting.toml`, its output appended to host.log."""
        assert self.proc is None or self.proc.poll() is not None
        with self.host_log.open("ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "host", "--config", str(self.hosting_file)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.starts += 1
        self.note(f"hosting process started (pid {self.proc.pid})")

    async def wait_up(self, timeout_s: float = 60) -> float:
        """Until every hosted unit answers its health check; the seconds that took."""
        async def answers() -> bool:
            proc = self.proc
            assert proc is not None
            if proc.poll() is not None:
                raise AssertionError(f"the hosting process exited with {proc.returncode}:\n"
                                     + self.host_log_tail())
            for code in HOSTED:
                try:
                    resp = await self.http.get(self.url(code, "/health"), timeout=2)
                except httpx.HTTPError:
                    return False
                if resp.status_code != 200 or resp.json().get("node") != code:
                    return False
            return True

        took = await until(answers, timeout_s=timeout_s, interval_s=0.1,
                           what="every hosted unit answering")
        self.note(f"hosted units up ({took:.1f}s)")
        return took

    def kill_host(self) -> None:
        proc = self.proc
        assert proc is not None and proc.poll() is None
        proc.kill()
        proc.wait(timeout=10)
        self.kills += 1
        self.note(f"hosting process SIGKILL (pid {proc.pid})")

    def stop_host(self) -> None:
        """SIGTERM (each unit stops gracefully), SIGKILL after 20 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    # ------------------------------------------------------------------ HTTP

    def url(self, code: str, path: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[code]}{API}{path}"

    async def login(self) -> None:
        for code in HOSTED:
            resp = await self.http.post(self.url(code, "/auth/login"), json={
                "username": LEADER.username, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            self.tokens[code] = str(resp.json()["access_token"])

    async def call(self, code: str, method: str, path: str, body: Any = None,
                   headers: Mapping[str, str] | None = None
                   ) -> tuple[Outcome, httpx.Response | None, str]:
        """One API call as the unit's leader: ("ok", response, "") on 2xx; ("refused", …)
        when it certainly took no effect (not sent, or a 4xx); ("unknown", …) when it may
        have (the answer was lost, or a 5xx). The third item names what went wrong."""
        try:
            resp = await self.http.request(
                method, self.url(code, path), json=body,
                headers={"Authorization": f"Bearer {self.tokens[code]}", **(headers or {})})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never sent
            return "refused", None, type(exc).__name__
        except httpx.HTTPError as exc:  # sent, the answer lost (the process killed under it)
            return "unknown", None, type(exc).__name__
        if resp.is_success:
            return "ok", resp, ""
        return ("unknown" if resp.status_code >= 500 else "refused"), resp, str(
            resp.status_code)

    async def holds(self, code: str, issue_id: str) -> str | None:
        """The owner `code`'s API names for the issue; None if it holds no copy."""
        outcome, resp, _ = await self.call(code, "GET", f"/issues/{issue_id}")
        if outcome != "ok" or resp is None:
            return None
        return str(resp.json()["owner"])

    # ------------------------------------------------------------------ inspection

    def engines(self) -> dict[str, Engine]:
        """A read engine per unit's database (whether or not its node runs)."""
        for code in TOPOLOGY:
            if code not in self._engines:
                self._engines[code] = create_engine(
                    f"sqlite:///{self.root / code / 'zhitong.sqlite3'}")
        return dict(self._engines)

    def ids_at(self, code: str, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the unit's store holds."""
        with self.engines()[code].connect() as conn:
            return {str(i) for i in conn.execute(
                select(issues.c.id).where(issues.c.id.in_(list(ids)))).scalars()}

    def escalation_committed(self, county: str, issue_id: str) -> str | None:
        """The transfer id of the county's committed escalation of the issue, if any."""
        with self.engines()[county].connect() as conn:
            found = conn.execute(select(transfers_out.c.transfer_id).where(
                transfers_out.c.issue_id == issue_id,
                transfers_out.c.kind == "escalate")).scalars().first()
        return str(found) if found is not None else None

    def in_flight(self) -> dict[str, int]:
        """What the stores show undone (read right after a kill): transfers still pending,
        own events not yet published, county events the city has not applied yet."""
        snaps = {code: snapshot(code, engine) for code, engine in self.engines().items()}
        at_city = {e["event_id"] for e in snaps[CITY].events}
        return {
            "pending_transfers": sum(snaps[c].pending_transfers for c in HOSTED),
            "unpublished_events": sum(snaps[c].unpublished for c in HOSTED),
            "county_events_not_at_city": sum(
                1 for c in COUNTIES for e in snaps[c].events
                if e["node"] == c and e["event_id"] not in at_city),
        }

    async def _client(self, code: str) -> NATS:
        nc = self._clients.get(code)
        if nc is None or nc.is_closed:
            assert self.harness.brokers is not None
            nc = self._clients[code] = await self.harness.brokers.connect(code)
        return nc

    async def backlog(self) -> int:
        """As FaultFederation.backlog — every unit's inbound stream: the apply consumer's
        pending and unacknowledged messages plus every source's lag — read through a client
        of each unit's own nats-server (the hosted nodes' clients are in another process)."""
        waiting = 0
        parts: list[str] = []
        for code in TOPOLOGY:
            try:
                here, part = await inbound_backlog((await self._client(code)).jetstream(), code)
            except Exception as exc:
                self.backlog_detail = f"{code}: {exc!r}"
                return -1  # unknown: not drained
            if here:
                parts.append(part)
            waiting += here
        self.backlog_detail = "; ".join(parts)
        return waiting

    async def close(self) -> None:
        for nc in self._clients.values():
            with contextlib.suppress(Exception):
                await nc.close()
        self._clients.clear()
        await self.http.aclose()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def _write_units(root: Path, harness: Harness, grpc_ports: Mapping[str, int],
                 http_ports: Mapping[str, int]) -> Path:
    """Every hosted unit's node.toml (the fault suite's tuning: tests/support/federation)
    and the hosting file listing them; each unit's leader account."""
    assert harness.brokers is not None
    topology = harness.topology
    addresses = {code: f"127.0.0.1:{port}" for code, port in grpc_ports.items()}
    addresses[PROVINCE] = harness.grpc_address(PROVINCE)  # the province runs here
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    units = []
    for code in HOSTED:
        tree = node_tree(code, topology, root, grpc_port=grpc_ports[code], addresses=addresses,
                         nats_url=harness.brokers.url(code), **NATS_DEFAULTS)
        tree["http"]["port"] = http_ports[code]
        # as the harness's in-process nodes (auto_escalate_every_s=None): no escalation the
        # workload did not ask for
        tree["federation"]["auto_escalate_after_urges"] = None
        path = conf / f"{code}.toml"
        path.write_text(tomli_w.dumps(_without_none(tree)), encoding="utf-8")
        units.append({"config": path.name})
        node = build(load_config(path, {}))
        try:
            node.services.accounts.add(LEADER, PASSWORD)
        finally:
            node.engine.dispose()
    hosting = conf / "hosting.toml"
    hosting.write_text(tomli_w.dumps({
        "hosting": {"restart_initial_s": 0.2, "restart_max_s": 2},
        "units": units}), encoding="utf-8")
    return hosting


@asynccontextmanager
async def hosted_federation(root: Path) -> AsyncIterator[HostedFederation]:
    """The nats-servers (the first county's leaf link through the proxy), every unit's
    streams, the province's node here, then the hosting process with the city and both
    counties, up and signed in. Everything started is stopped on the way out, failure or
    not: links restored first, then the hosting process, the province, the servers."""
    clock = SystemClock()  # the hosted process reads the wall clock; so does the province
    topology = Topology(TOPOLOGY)
    make_certs(root, list(topology), clock)
    proxies: list[Proxy] = []

    async def via_proxy(child: str, kind: Link, address: str) -> str:
        if (child, kind) != (COUNTY, "leaf"):
            return address
        proxy = await Proxy(int(address.rsplit(":", 1)[1]), name="leaf").start()
        proxies.append(proxy)
        return f"127.0.0.1:{proxy.port}"

    grpc_ports = {code: free_port() for code in HOSTED}
    http_ports = {code: free_port() for code in HOSTED}
    harness = Harness(root=root, topology=topology, clock=clock, senders=True,
                      link=via_proxy, brokers=Brokers(root, topology, no_advertise=True),
                      external={code: f"127.0.0.1:{grpc_ports[code]}" for code in HOSTED})
    fed: HostedFederation | None = None
    try:
        for code in topology:  # parents first
            await harness.start_server_first_time(code)
        assert harness.brokers is not None
        await harness.brokers.prepare_streams(list(topology))
        await harness.start_node(PROVINCE)
        hosting = await asyncio.to_thread(_write_units, root, harness, grpc_ports, http_ports)
        fed = HostedFederation(root=root, harness=harness, leaf_proxy=proxies[0],
                               http_ports=http_ports, hosting_file=hosting)
        fed.start_host()
        await fed.wait_up()
        await fed.login()
        yield fed
    finally:
        for proxy in proxies:
            proxy.restore()
        try:
            if fed is not None:
                try:
                    await asyncio.to_thread(fed.stop_host)
                finally:
                    await fed.close()  # its NATS clients before their servers stop
        finally:
            try:
                await harness.close()
            finally:
                for proxy in proxies:
                    await proxy.close()


# --------------------------------------------------------------------------- workload


@dataclass
class HttpWorkload:
    """tests/faults/workload.Workload at one hosted county, over HTTP: submissions, some
    escalated to the city, staff urges at the county and triage at the city on escalated
    issues — every call recorded for the checker."""

    fed: HostedFederation
    home: str
    rec: Recorder
    rng: random.Random
    label: str
    escalate_p: float = 0.3
    urge_p: float = 0.3
    city_act_p: float = 0.3
    n: int = 0
    local: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # by unit and error
    #: Idempotency-Key → title of submissions whose answer was lost (sent again later)
    unanswered: dict[str, str] = field(default_factory=dict)
    unanswered_escalations: list[str] = field(default_factory=list)
    resolved: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def _call(self, code: str, path: str, body: Any, *,
                    headers: Mapping[str, str] | None = None
                    ) -> tuple[Outcome, httpx.Response | None]:
        outcome, resp, error = await self.fed.call(code, "POST", path, body, headers)
        if outcome != "ok":
            self.refused[f"{code}:{outcome}:{error}"] += 1
        return outcome, resp

    async def _send(self, key: str, title: str) -> str | None:
        outcome, resp = await self._call(self.home, "/issues", submit_body(title=title),
                                         headers={"Idempotency-Key": key})
        if outcome == "ok" and resp is not None:
            body = resp.json()
            self.unanswered.pop(key, None)
            self.rec.ack(str(body["id"]), title, int(body["version"]))
            return str(body["id"])
        if outcome == "unknown":
            self.unanswered[key] = title
        return None

    async def submit(self, title: str | None = None) -> str | None:
        self.n += 1
        title = title or f"托管故障 {self.label} #{self.n}"
        self.rec.attempt(title)
        return await self._send(uuid.uuid4().hex, title)

    async def escalate(self, issue_id: str) -> None:
        outcome, resp = await self._call(self.home, f"/issues/{issue_id}/triage",
                                         {"tags": ["要素保障"]})
        if outcome != "ok" or resp is None:
            self.local.append(issue_id)
            return
        self.rec.acked_version(issue_id, int(resp.json()["version"]))
        self.rec.request_escalation(issue_id)
        self.fed.escalation_sent.set()
        outcome, resp = await self._call(self.home, f"/issues/{issue_id}/escalate",
                                         {"reason": "本级无法解决"})
        if outcome == "ok" and resp is not None:
            self.rec.ack_escalation(issue_id, resp.headers["X-Transfer-Id"])
            self.escalated.append(issue_id)
        elif outcome == "unknown":
            self.unanswered_escalations.append(issue_id)
        else:
            self.local.append(issue_id)

    async def act(self, code: str, issue_id: str, path: str, body: dict[str, Any]) -> None:
        self.rec.actions_attempted += 1
        outcome, resp = await self._call(code, f"/issues/{issue_id}/{path}", body)
        if outcome == "ok" and resp is not None:
            self.rec.acked_version(issue_id, int(resp.json()["version"]))
            self.rec.actions_acked += 1

    async def step(self) -> None:
        if self.unanswered:  # a submission whose answer was lost: again, same key
            key, title = next(iter(self.unanswered.items()))
            if await self._send(key, title) is not None:
                self.resolved["submissions_sent_again"] += 1
        issue_id = await self.submit()
        if issue_id is not None:
            if self.rng.random() < self.escalate_p:
                await self.escalate(issue_id)
            else:
                self.local.append(issue_id)
        if self.local and self.rng.random() < self.urge_p:
            await self.act(self.home, self.rng.choice(self.local), "urge",
                           {"note": "请加快办理"})
        if self.escalated and self.rng.random() < self.city_act_p:
            # the city works on what it received (refused while it has not arrived yet)
            await self.act(CITY, self.rng.choice(self.escalated), "triage",
                           {"tags": ["市级协调"]})

    async def run(self, steps: int, *, pace_s: float = 0.04,
                  faults: Sequence[tuple[int, Fault]] = ()) -> None:
        """`steps` workload steps; each fault starts (as a task) at its step."""
        await drive(self.step, self.done, steps, pace_s=pace_s, faults=faults)

    async def settle(self, timeout_s: float = 30) -> None:
        """With the host up: every submission whose answer was lost sent again (same key)
        until answered; every escalation whose answer was lost looked up in the county's
        outbox (acknowledged if committed, a local issue otherwise)."""
        async def answered() -> bool:
            for key, title in list(self.unanswered.items()):
                if await self._send(key, title) is not None:
                    self.resolved["submissions_sent_again"] += 1
            return not self.unanswered

        await until(answered, timeout_s=timeout_s, interval_s=0.5,
                    what=f"{self.home}'s unanswered submissions answered")
        for issue_id in self.unanswered_escalations:
            transfer_id = self.fed.escalation_committed(self.home, issue_id)
            if transfer_id is not None:
                self.rec.ack_escalation(issue_id, transfer_id)
                self.escalated.append(issue_id)
                self.resolved["escalations_found_committed"] += 1
            else:
                self.local.append(issue_id)
                self.resolved["escalations_found_not_committed"] += 1
        self.unanswered_escalations.clear()

    def summary(self) -> str:
        refused = ", ".join(f"{k}×{v}" for k, v in sorted(self.refused.items())) or "none"
        resolved = ", ".join(f"{k}×{v}" for k, v in sorted(self.resolved.items())) or "none"
        return (f"workload {self.label}: {len(self.rec.attempted)} submissions attempted, "
                f"{len(self.rec.acked)} acknowledged, {len(self.rec.escalations_acked)} "
                f"escalated, actions {self.rec.actions_acked}/{self.rec.actions_attempted}, "
                f"refused or unanswered calls: {refused}; resolved: {resolved}")


def workloads(fed: HostedFederation, name: str, seed: int) -> dict[str, HttpWorkload]:
    """One workload per hosted county, each with its own recorder and random stream."""
    return {code: HttpWorkload(fed=fed, home=code, rec=Recorder(),
                               rng=random.Random(f"{name}:{seed}:{code}:workload"),
                               label=f"{name}-{code}-{seed}") for code in COUNTIES}


# --------------------------------------------------------------------------- checker

#: what `check` counts for its `home` only (its recorder's acknowledgements, the copies
#: of issues that originate there); everything else it counts over every store alike
_OWN = ("lost", "misplaced")


def _own(detail: str) -> bool:
    kind = detail.split(":", 1)[0]
    return kind in _OWN or (kind == "disagreeing" and ": no replica at " in detail)


def check_hosted(engines: Mapping[str, Engine], recorders: Mapping[str, Recorder]) -> Report:
    """tests/faults/checker.check for each county as `home` (its recorder; the city its
    parent and, with the county, its replicas). Every recorder sees the titles all of them
    attempted, so no county's issue is "unexpected" in another's check. The first check's
    counts stand for what is counted over every store; each further check adds what is
    its own county's: lost acknowledgements, misplaced and missing copies."""
    attempted = set().union(*(r.attempted for r in recorders.values()))
    reports = [check(engines, dataclasses.replace(rec, attempted=attempted), home=home,
                     parent=CITY, replicas=(home, CITY)) for home, rec in recorders.items()]
    first, *others = reports
    counts, details = dict(first.counts), list(first.details)
    for report in others:
        for detail in report.details:
            if _own(detail):
                counts[detail.split(":", 1)[0]] += 1
                details.append(detail)
    assert set(counts) == set(COUNTS)
    return Report(counts=counts, details=details,
                  acked=sum(r.acked for r in reports),
                  escalated=sum(r.escalated for r in reports), poison=0)


async def drain_hosted(fed: HostedFederation, wls: Mapping[str, HttpWorkload], *,
                       timeout_s: float = 60) -> Report:
    """The fault suite's drain (checker clean and every broker backlog empty, twice), with
    `check_hosted` over every unit's store."""
    engines = fed.engines()
    recorders = {code: wl.rec for code, wl in wls.items()}
    report = await drain(lambda: check_hosted(engines, recorders), fed.backlog,
                         timeout_s=timeout_s,
                         verbose=bool(os.environ.get("ZT_FAULT_VERBOSE")),
                         detail=lambda: fed.backlog_detail)
    fed.note("drained" if report.clean else "NOT drained")
    return report
