"""`zhitong up`: a whole federation on one machine, from the same deploy files.

For each unit of the chosen topology it writes a nats-server configuration with the
generator that writes deploy/<tier>/nats-server.conf (leaf topology, JetStream domain per
node, per-node users, TLS on leaf links), and starts `zhitong node run` with the tier's
deploy/<tier>/node.toml plus environment overrides for local addresses, a SQLite file in
the data directory and the generated certificates. Ports are stable for a data directory
(derived from the topology order), so restarting keeps data and addresses. A manifest of
the nodes is written to <data dir>/manifest.json. Ctrl-C stops everything.

Secrets are kept as the deploy files expect them (deploy/<tier>/README.md): each unit has
its own node user password, system account password and leaf password (the one its server
presents to its parent's leaf listener), each a random value in its own file under
secrets/<code>/ (directory 0700, files 0600), created once and kept across restarts. The
generated nats-server configurations hold only `$ZT_NATS_*` references, resolved from the
environment nats-server is started with — the same variables the unit's
secrets/<code>/nats.env (0600) lists, as /etc/zhitong/nats.env does in a deployment — and a
node reads its NATS password from its password file, never from its environment.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS

from federation.certs import ensure_federation_certs
from federation.nats.process import NatsServer, dying_with_parent
from federation.nats.server_config import (
    LeafTls,
    NatsServerSpec,
    leaf_user,
    node_user,
    spec_in,
    write,
)
from federation.nats.streams import prepare_streams
from node.app.clock import SystemClock
from node.domain.topology import Topology

REPO_ROOT = Path(__file__).resolve().parent.parent

SMALL = ("330000", "330500", "330522", "330521")
HUZHOU = ("330000", "330500", "330502", "330503", "330521", "330522", "330523")


@dataclass(frozen=True, kw_only=True, slots=True)
class Unit:
    code: str
    name: str
    level: str
    parent: str | None


def divisions() -> dict[str, Unit]:
    text = resources.files("node.data").joinpath("zhejiang_divisions.csv").read_text("utf-8")
    return {row["code"]: Unit(code=row["code"], name=row["name"], level=row["level"],
                              parent=row["parent"] or None)
            for row in csv.DictReader(text.splitlines())}


def topology(name: str) -> list[Unit]:
    units = divisions()
    if name == "small":
        return [units[c] for c in SMALL]
    if name == "huzhou":
        return [units[c] for c in HUZHOU]
    if name == "zhejiang":
        order = {"province": 0, "city": 1, "county": 2}
        return sorted(units.values(), key=lambda u: (order[u.level], u.code))
    raise ValueError(f"unknown topology {name!r}: small, huzhou or zhejiang")


@dataclass(frozen=True, kw_only=True, slots=True)
class Ports:
    http: int
    grpc: int
    nats: int
    leaf: int


def ports_for(index: int, base: int) -> Ports:
    return Ports(http=base + index, grpc=base + 1000 + index, nats=base + 2000 + index,
                 leaf=base + 3000 + index)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        # like the servers: a port in TIME_WAIT from a previous run is free to use
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def ephemeral_range() -> tuple[int, int]:
    """The ports the OS hands out for outgoing connections (Linux; its default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """`text` in `path`, readable by its owner only (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)


def _secret_file(path: Path) -> str:
    """The secret kept in `path`, made (random, 0600) on first use. It starts with letters
    so that nats-server reads a `$VAR` holding it as a string, never as a number."""
    if path.exists():
        path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    value = "zt" + secrets.token_hex(20)
    _write_private(path, value + "\n")
    return value


def prepare_unit(deploy_file: Path, env: dict[str, str], *, demo_data: bool
                 ) -> tuple[list[tuple[str, str, str]], list[str]]:
    """A unit's store, its demo logins and (a county on first start) its year of demo data:
    (logins, the demo issues its city should escalate on to the province)."""
    from node.config import load_config
    from node.demo import ensure_demo_accounts
    from node.demo_year import DemoClock, seed_demo_year
    from node.runtime import build

    clock = DemoClock()
    config = load_config(deploy_file, env)
    node = build(config, clock=clock)
    try:
        logins = ensure_demo_accounts(node.services.accounts, config.node.code)
        leader = node.services.accounts.principal("leader")
        if (demo_data and config.node.level == "county"
                and node.services.issues.list_issues(leader, limit=1).total == 0):
            return logins, seed_demo_year(node, clock).onward
        return logins, []
    finally:
        node.engine.dispose()


class LocalFederation:
    def __init__(self, data_dir: Path, topo: str, *, base_port: int,
                 say: Callable[[str], None] = print, hosted: bool = False) -> None:
        """`hosted`: each city's process hosts its counties (市级统建, `zhitong host`), the
        province runs alone; otherwise one process per unit."""
        self.root = data_dir / topo
        self.hosted = hosted
        self.units = topology(topo)
        self.topology = Topology.of((u.code, u.parent) for u in self.units)
        self.ports = {u.code: ports_for(i, base_port) for i, u in enumerate(self.units)}
        self.say = say
        self.servers: list[NatsServer] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        #: unit code → the key of the process that runs it (itself, or its hosting city)
        self.process_of: dict[str, str] = {}
        self._healthy: set[str] = set()
        #: city code → demo issues it escalates to the province once it holds them
        self.onward: dict[str, list[str]] = {}
        self.secrets = {u.code: self._unit_secrets(u.code) for u in self.units}
        for unit in self.units:
            _write_private(self.secret_dir(unit.code) / "nats.env",
                           "".join(f"{k}={v}\n" for k, v in self.nats_env(unit).items()))
        (self.root / "secrets.json").unlink(missing_ok=True)  # the shared ones of old

    def secret_dir(self, code: str) -> Path:
        return self.root / "secrets" / code

    def _unit_secrets(self, code: str) -> dict[str, str]:
        """The unit's own NATS secrets (node, sys, leaf), each in its 0600 file."""
        directory = self.secret_dir(code)
        _private_dir(directory.parent)
        _private_dir(directory)
        return {kind: _secret_file(directory / f"nats-{kind}.password")
                for kind in ("node", "sys", "leaf")}

    def nats_env(self, unit: Unit) -> dict[str, str]:
        """What the unit's nats-server resolves its configuration's `$ZT_NATS_*` from."""
        own = self.secrets[unit.code]
        env = {"ZT_NATS_NODE_PASSWORD": own["node"], "ZT_NATS_SYS_PASSWORD": own["sys"]}
        for child in self.topology.children(unit.code):
            env[f"ZT_NATS_LEAF_{child}"] = self.secrets[child]["leaf"]
        if unit.parent:
            env["ZT_NATS_PARENT_LEAF_URL"] = (
                f"tls://{leaf_user(unit.code)}:{own['leaf']}@127.0.0.1:"
                f"{self.ports[unit.parent].leaf}")
        return env

    def check_ports(self) -> None:
        every = [p for ports in self.ports.values()
                 for p in (ports.http, ports.grpc, ports.nats, ports.leaf)]
        taken = [p for p in every if not port_free(p)]
        if taken:
            raise SystemExit(f"zhitong up: ports already in use: {taken[:10]}… — is another "
                             "`zhitong up` running? (or choose --base-port)")
        low, high = ephemeral_range()
        inside = [p for p in every if low <= p <= high]
        if inside:
            self.say(f"warning: ports {min(inside)}–{max(inside)} lie in the OS's ephemeral range "
                     f"({low}–{high}); an outgoing connection may take one while the federation "
                     "runs. A --base-port below it avoids that.")

    # ------------------------------------------------------------------ pieces

    def certs(self) -> None:
        ensure_federation_certs(self.root / "tls", [u.code for u in self.units],
                                now=SystemClock().now())

    def nats_spec(self, unit: Unit) -> NatsServerSpec:
        p = self.ports[unit.code]
        spec = spec_in(
            self.topology, unit.code, store_dir=self.root / "nats" / unit.code,
            node_password="$ZT_NATS_NODE_PASSWORD", leaf_password="",
            tls=LeafTls.of_dir(self.root / "tls" / unit.code), client_port=p.nats,
            leaf_port=p.leaf, parent_leaf_url=None)
        # every secret by reference, as in deploy/<tier>/nats-server.conf
        return dataclasses.replace(
            spec, sys_password="$ZT_NATS_SYS_PASSWORD",
            leaf_children={c: f"$ZT_NATS_LEAF_{c}" for c in spec.leaf_children},
            parent_leaf_password=None,
            parent_leaf_url_env="ZT_NATS_PARENT_LEAF_URL" if unit.parent else None)

    def node_env(self, unit: Unit) -> dict[str, str]:
        p = self.ports[unit.code]
        kids = self.topology.children(unit.code)
        env = {
            "ZHITONG__NODE__CODE": unit.code,
            "ZHITONG__NODE__NAME": unit.name,
            "ZHITONG__NODE__LEVEL": unit.level,
            "ZHITONG__NODE__CHILDREN": json.dumps(list(kids)),
            "ZHITONG__NODE__DATA_DIR": str(self.root / unit.code),
            "ZHITONG__HTTP__HOST": "127.0.0.1",
            "ZHITONG__HTTP__PORT": str(p.http),
            "ZHITONG__FEDERATION__GRPC_HOST": "127.0.0.1",
            "ZHITONG__FEDERATION__GRPC_PORT": str(p.grpc),
            "ZHITONG__FEDERATION__TLS_DIR": str(self.root / "tls" / unit.code),
            "ZHITONG__FEDERATION__CHILDREN": json.dumps(
                {c: f"127.0.0.1:{self.ports[c].grpc}" for c in kids}),
            "ZHITONG__NATS__URL": f"nats://127.0.0.1:{p.nats}",
            "ZHITONG__NATS__PASSWORD": "null",
            "ZHITONG__NATS__PASSWORD_FILE": str(self.secret_dir(unit.code)
                                                / "nats-node.password"),
            "ZHITONG__DATABASE__URL": "null",
            # notifications: the in-app inbox only (no SMS, e-mail or OA system here)
            "ZHITONG__NOTIFY__ENABLED": "true",
            "ZHITONG__NOTIFY__INBOX__ENABLED": "true",
            "ZHITONG__NOTIFY__BASE_URL": f"http://127.0.0.1:{p.http}",
            "ZHITONG_LOG_FORMAT": "json",
        }
        if unit.parent:
            env["ZHITONG__NODE__PARENT"] = unit.parent
            env["ZHITONG__FEDERATION__PARENT_ADDRESS"] = f"127.0.0.1:{self.ports[unit.parent].grpc}"
        return env

    def deploy_file(self, unit: Unit) -> Path:
        return REPO_ROOT / "deploy" / unit.level / "node.toml"

    def config(self, unit: Unit) -> Any:
        from node.config import load_config

        return load_config(self.deploy_file(unit), self.node_env(unit))

    def seed(self, unit: Unit, demo_data: bool) -> list[tuple[str, str, str]]:
        """Demo logins at every node; at the counties on first start, a year of demo
        activity through the import path (node/demo_year.py): a few issues travel up as
        soon as the city runs, and `onward` keeps those the city takes on to the province."""
        logins, onward = prepare_unit(self.deploy_file(unit), self.node_env(unit),
                                      demo_data=demo_data)
        if onward and unit.parent:
            self.onward.setdefault(unit.parent, []).extend(onward)
        return logins

    def prepare(self, demo_data: bool, *, meanwhile: Callable[[], None] = lambda: None
                ) -> dict[str, list[tuple[str, str, str]]]:
        """`seed` for every unit: in forked worker processes, one per core, where the
        platform forks (each unit has its own store, so they do not wait on each other),
        else one after the other. `meanwhile` runs here while the workers work (the
        streams' creation: nats-server's CPU, not ours), or first without workers."""
        import importlib
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # the node's modules imported once, here: the forked workers inherit them
        importlib.import_module("node.demo_year")  # and with it node.runtime

        workers = min(len(self.units), os.cpu_count() or 1)
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            meanwhile()
            return {u.code: self.seed(u, demo_data) for u in self.units}
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {u.code: pool.submit(prepare_unit, self.deploy_file(u), self.node_env(u),
                                           demo_data=demo_data) for u in self.units}
            meanwhile()
            logins: dict[str, list[tuple[str, str, str]]] = {}
            for unit in self.units:
                logins[unit.code], onward = futures[unit.code].result()
                if onward and unit.parent:
                    self.onward.setdefault(unit.parent, []).extend(onward)
        return logins

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, demo_data: bool) -> list[dict[str, Any]]:
        self.check_ports()
        n = len(self.units)
        self.say(f"[1/4] certificates for {n} nodes in {self.root / 'tls'}")
        self.certs()
        self.say(f"[2/4] starting {n} nats-server processes (leaf topology, TLS leaf links)")
        self.start_brokers()
        self.say("[3/4] preparing stores, demo logins" + (" and demo data" if demo_data else "")
                 + ", while the streams are created")
        logins = self.prepare(demo_data, meanwhile=lambda: asyncio.run(self.create_streams()))
        if self.hosted:
            self._start_hosted()
        else:
            self._start_each()
        if self.onward:
            from node.demo_year import escalate_onward

            escalate_onward(self.onward, {c: f"http://127.0.0.1:{p.http}/api/v1"
                                          for c, p in self.ports.items()}, say=self.say)
        manifest = [
            {"code": u.code, "name": u.name, "level": u.level, "parent": u.parent,
             "http_url": f"http://127.0.0.1:{self.ports[u.code].http}",
             "grpc_address": f"127.0.0.1:{self.ports[u.code].grpc}",
             "nats_url": f"nats://127.0.0.1:{self.ports[u.code].nats}",
             "logins": [{"username": name, "role": role, "password": pw}
                        for name, role, pw in logins[u.code]]}
            for u in self.units]
        staff = [{"username": name, "role": role, "password": pw}
                 for name, role, pw in next(iter(logins.values()), []) if role != "enterprise"]
        (self.root / "manifest.json").write_text(
            json.dumps({"nodes": manifest, "logins": staff}, ensure_ascii=False, indent=2),
            encoding="utf-8")
        return manifest

    def start_brokers(self) -> None:
        """Every unit's nats-server, a tier at a time (the province, the cities, the
        counties: a leaf finds its parent listening), each tier's servers launched together
        and then waited for (Zhejiang's 102 are ready in ~2 s), not each waited for before
        the next is launched. Launched from this thread (a server dies with the thread that
        spawned it); every server is in `servers` first, so `stop` ends those that run."""
        tiers: dict[int, list[NatsServer]] = {}
        for unit in self.units:
            conf = write(self.nats_spec(unit), self.root / "nats" / f"{unit.code}.conf")
            server = NatsServer(conf, host="127.0.0.1",
                                log=self.root / "logs" / f"nats-{unit.code}.log",
                                env=self.nats_env(unit))
            self.servers.append(server)
            tiers.setdefault(len(self.topology.place(unit.code).ancestors), []).append(server)
        for depth in sorted(tiers):
            for server in tiers[depth]:
                server.launch()
            for server in tiers[depth]:
                server.wait_ready()

    def _spawn(self, key: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.root / "logs" / f"node-{key}.log").open("ab")
        argv, preexec = dying_with_parent(argv)
        self.procs[key] = subprocess.Popen(
            argv, env={**os.environ, **env, "PYTHONUNBUFFERED": "1",
                       "ZHITONG_LOG_FORMAT": "json"},
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, preexec_fn=preexec)
        log.close()

    def _start_each(self) -> None:
        n = len(self.units)
        self.say(f"[4/4] starting {n} node processes")
        # In waves: 102 Python processes importing at once on two cores thrash; a wave
        # starts when the previous one answers.
        wave = max(4, 4 * (os.cpu_count() or 1))
        for first in range(0, n, wave):
            for unit in self.units[first:first + wave]:
                self.process_of[unit.code] = unit.code
                self._spawn(unit.code, [sys.executable, "-m", "node.cli", "node", "run",
                                        "--config", str(self.deploy_file(unit))],
                            self.node_env(unit))
            self.wait_healthy(timeout_s=60 + 10 * wave)
            if n > wave:
                self.say(f"      {min(n, first + wave)}/{n} nodes answering")

    def hosting_groups(self) -> dict[str, list[Unit]]:
        """The province alone; each city with its counties."""
        groups: dict[str, list[Unit]] = {}
        for unit in self.units:
            host = unit.code if unit.level != "county" else (unit.parent or unit.code)
            groups.setdefault(host, []).append(unit)
        return groups

    def _start_hosted(self) -> None:
        groups = self.hosting_groups()
        self.say(f"[4/4] starting {len(groups)} processes hosting {len(self.units)} units "
                 "(市级统建: each city hosts its counties)")
        for host, members in groups.items():
            lines = ["# written by `zhitong up`: the units this process hosts", ""]
            for unit in members:
                self.process_of[unit.code] = host
                env = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                                for k, v in self.node_env(unit).items()
                                if k.startswith("ZHITONG__"))
                lines += ["[[units]]", f"config = {json.dumps(str(self.deploy_file(unit)))}",
                          f"env = {{ {env} }}", ""]
            path = self.root / "hosting" / f"{host}.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines), encoding="utf-8")
            self._spawn(host, [sys.executable, "-m", "node.cli", "host", "--config",
                               str(path)], {})
        self.wait_healthy(timeout_s=120 + 2 * len(self.units))

    async def create_streams(self) -> None:
        """Every node's streams before the nodes start, own logs first (prepare_streams)."""

        async def connect(code: str) -> NATS:
            return await nats.connect(f"nats://127.0.0.1:{self.ports[code].nats}",
                                      user=node_user(code),
                                      password=self.secrets[code]["node"],
                                      connect_timeout=5)

        await prepare_streams([self.topology.place(u.code) for u in self.units], connect)

    def wait_healthy(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {code for code in self.process_of if code not in self._healthy}
        while pending and time.monotonic() < deadline:
            for code in sorted(pending):
                key = self.process_of[code]
                proc = self.procs[key]
                if proc.poll() is not None:
                    log = self.root / "logs" / f"node-{key}.log"
                    raise SystemExit(f"zhitong up: node {key} exited ({proc.returncode}); "
                                     f"last lines of {log}:\n{log.read_text()[-1500:]}")
                url = f"http://127.0.0.1:{self.ports[code].http}/api/v1/health"
                try:
                    with urllib.request.urlopen(url, timeout=1):
                        pending.discard(code)
                        self._healthy.add(code)
                except OSError:
                    pass
            if pending:
                time.sleep(0.1)  # polling interval while nodes start, bounded by the deadline
        if pending:
            raise SystemExit(f"zhitong up: nodes did not answer in {timeout_s}s: {sorted(pending)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for server in reversed(self.servers):
            server.stop()
