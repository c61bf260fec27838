"""City-hosted units (市级统建) with real parts: nodes with their own SQLite stores, gRPC
with mutual TLS between them, one hosting process (`zhitong host`) and the same units
moved to processes of their own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.config import ConfigError, parse_config
from node.domain.issue import State
from node.domain.lifecycle import Triage
from node.domain.topology import Topology
from node.hosting import Hosted, UnitState, host, load_hosting
from node.runtime import build
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import make_certs, node_tree
from tests.support.pg import free_port
from tests.support.wait import until, until_sync

ZHITONG = [sys.executable, "-m", "node.cli"]
ROOT = Path(__file__).resolve().parents[2]
PROVINCE, CITY, COUNTY, COUNTY2 = "330000", "330500", "330522", "330521"
TOPOLOGY = Topology({PROVINCE: None, CITY: PROVINCE, COUNTY: CITY, COUNTY2: CITY})


def trees(root: Path, codes: list[str], *, http: dict[str, int] | None = None
          ) -> dict[str, dict[str, Any]]:
    """Each unit's configuration with gRPC ports known up front (peers name them)."""
    ports = {code: free_port() for code in TOPOLOGY}  # the province is never started
    addresses = {code: f"127.0.0.1:{port}" for code, port in ports.items()}
    out = {}
    for code in codes:
        tree = node_tree(code, TOPOLOGY, root, grpc_port=ports[code], addresses=addresses,
                         backoff_initial_s=0.2, backoff_max_s=1)
        tree["http"]["port"] = (http or {}).get(code, 0)
        out[code] = tree
    return out


def toml(tree: dict[str, Any]) -> str:
    """The few shapes node_tree uses, written as TOML (values as JSON literals)."""
    lines = []
    for section, values in tree.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, dict):
                inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the file


def test_a_hosting_file_is_checked_as_a_whole(tmp_path: Path) -> None:
    city, county = (trees(tmp_path, [CITY, COUNTY])[c] for c in (CITY, COUNTY))
    (tmp_path / "city.toml").write_text(toml(city), encoding="utf-8")
    (tmp_path / "county.toml").write_text(toml(county), encoding="utf-8")
    hosting = tmp_path / "hosting.toml"
    hosting.write_text('[hosting]\nrestart_initial_s = 0.5\n\n[[units]]\nconfig = "city.toml"\n'
                       '\n[[units]]\nconfig = "county.toml"\n'
                       'env = { ZHITONG__HTTP__PORT = "18522" }\n', encoding="utf-8")
    hosted = load_hosting(hosting)
    assert [c.node.code for c in hosted.configs] == [CITY, COUNTY]
    assert hosted.configs[1].http.port == 18522 and hosted.restart_initial_s == 0.5

    def refused(text: str) -> str:
        hosting.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as problem:
            load_hosting(hosting)
        return str(problem.value)

    unit = '[[units]]\nconfig = "{}"\nenv = {{ {} }}\n'
    assert "unit 330500 is listed twice" in refused(
        unit.format("city.toml", "") + unit.format("city.toml", ""))
    assert "share the HTTP port 18000" in refused(
        unit.format("city.toml", 'ZHITONG__HTTP__PORT = "18000"')
        + unit.format("county.toml", 'ZHITONG__HTTP__PORT = "18000"'))
    assert "share the data directory" in refused(
        unit.format("city.toml", "") + unit.format(
            "county.toml", f'ZHITONG__NODE__DATA_DIR = "{tmp_path / CITY}"'))
    assert "units[1]" in refused(unit.format("city.toml", "") + unit.format("nowhere.toml", ""))
    assert "units" in refused("[hosting]\n")
    assert "restart_initial_s" in refused("[hosting]\nrestart_initial_s = -1\n"
                                          + unit.format("city.toml", ""))


def test_the_city_deploy_folder_shows_the_hosted_layout() -> None:
    import tomllib

    from node.hosting import HostingFile

    with (ROOT / "deploy" / "city" / "hosting.toml").open("rb") as fh:
        spec = HostingFile.model_validate(tomllib.load(fh))
    assert [u.config.parent.name for u in spec.units] == [
        CITY, "330502", "330503", "330521", "330522", "330523"]
    service = (ROOT / "deploy" / "city" / "zhitong-host.service").read_text(encoding="utf-8")
    assert "zhitong host --config /etc/zhitong/hosting.toml" in service


# --------------------------------------------------------------------------- in one loop


async def test_one_failing_unit_does_not_stop_the_others(tmp_path: Path) -> None:
    clock = FakeClock()
    make_certs(tmp_path, [CITY, COUNTY, COUNTY2], clock)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()  # COUNTY2's HTTP port is taken: it cannot start until released
    configs = {code: parse_config(tree, source=code, env={}) for code, tree in trees(
        tmp_path, [CITY, COUNTY, COUNTY2],
        http={COUNTY2: blocker.getsockname()[1]}).items()}
    hosted = Hosted(configs=tuple(configs.values()), restart_initial_s=0.05,
                    restart_max_s=0.2)
    stop = asyncio.Event()
    states: dict[str, UnitState] = {}
    task = asyncio.create_task(host(hosted, stop, states))
    try:
        await until(lambda: bool(states) and states[CITY].up and states[COUNTY].up,
                    timeout_s=30, what="city and county up")
        await until(lambda: states[COUNTY2].failures >= 2, timeout_s=30,
                    what="the blocked unit retried")
        assert not states[COUNTY2].up and "Address already in use" in str(
            states[COUNTY2].last_error)
        # meanwhile the others escalate over gRPC with mutual TLS, as separate nodes
        county = states[COUNTY].handle.node.services
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        county.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
        states[COUNTY].handle.node.transfers.request_escalation(LEADER, issue.id, "需市级协调")

        def at_city() -> bool:
            city = states[CITY].handle.node.services.issues
            with contextlib.suppress(Exception):
                return bool(city.get(LEADER, issue.id).issue.owner == CITY)
            return False

        await until(at_city, timeout_s=30, what="the escalation accepted by the city")
        await until(lambda: county.issues.get(LEADER, issue.id).issue.state
                    is State.ESCALATED, timeout_s=30, what="the acceptance recorded")
        starts = states[CITY].starts
        blocker.close()
        await until(lambda: states[COUNTY2].up, timeout_s=30, what="the released unit up")
        assert states[CITY].starts == starts == 1 and states[CITY].failures == 0
    finally:
        blocker.close()
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert not any(s.up for s in states.values())


# --------------------------------------------------------------------------- processes


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


@contextlib.contextmanager
def process(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*ZHITONG, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()


def healthy(port: int, proc: subprocess.Popen[str]) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited with {proc.returncode}: {out[-2000:]}")
        try:
            get_json(f"http://127.0.0.1:{port}/api/v1/health")
        except OSError:
            return False
        return True

    until_sync(answers, timeout_s=60, what=f"port {port} answering")


PASSWORD = "password123"


def prepare(config_path: Path, *, escalate: bool) -> str | None:
    """The leader's account, and an issue queued for escalation if asked, written while
    no process runs."""
    from node.config import load_config

    node = build(load_config(config_path))
    try:
        with contextlib.suppress(Exception):  # the second time: it exists
            node.services.accounts.add(LEADER, PASSWORD)
        if not escalate:
            return None
        issue, _ = node.services.issues.submit(LEADER, submit_cmd())
        node.services.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
        node.transfers.request_escalation(LEADER, issue.id, "需市级协调")
        return str(issue.id)
    finally:
        node.engine.dispose()


def owner_at(port: int, issue_id: str) -> str | None:
    """The owner the node at `port` names for the issue (None: it holds no copy)."""
    base = f"http://127.0.0.1:{port}/api/v1"
    login = urllib.request.Request(
        f"{base}/auth/login", method="POST", headers={"content-type": "application/json"},
        data=json.dumps({"username": LEADER.username, "password": PASSWORD}).encode())
    with urllib.request.urlopen(login, timeout=5) as resp:
        token = json.load(resp)["access_token"]
    req = urllib.request.Request(f"{base}/issues/{issue_id}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return str(json.load(resp)["owner"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def test_a_hosted_county_moves_to_its_own_process_with_its_data_and_identity(
        tmp_path: Path) -> None:
    make_certs(tmp_path, [CITY, COUNTY], FakeClock())
    ports = {CITY: free_port(), COUNTY: free_port()}
    paths = {}
    for code, tree in trees(tmp_path, [CITY, COUNTY], http=ports).items():
        paths[code] = tmp_path / f"{code}.toml"
        paths[code].write_text(toml(tree), encoding="utf-8")
    hosting = tmp_path / "hosting.toml"
    hosting.write_text(f'[[units]]\nconfig = "{paths[CITY].name}"\n\n'
                       f'[[units]]\nconfig = "{paths[COUNTY].name}"\n', encoding="utf-8")
    prepare(paths[CITY], escalate=False)
    first = prepare(paths[COUNTY], escalate=True)
    assert first is not None
    identity = (tmp_path / "tls" / COUNTY / "node.pem").read_bytes()
    with process("host", "--config", str(hosting)) as proc:
        healthy(ports[CITY], proc)
        healthy(ports[COUNTY], proc)
        # the county's sender delivers over gRPC to the city in the same process
        until_sync(lambda: owner_at(ports[CITY], first) == CITY, timeout_s=60,
                   what="the hosted escalation at the city")
    assert proc.returncode == 0
    # moved: the county runs on its own (same store and certificate), the city hosted alone
    second = prepare(paths[COUNTY], escalate=True)
    assert second is not None
    alone = tmp_path / "city-only.toml"
    alone.write_text(f'[[units]]\nconfig = "{paths[CITY].name}"\n', encoding="utf-8")
    with process("host", "--config", str(alone)) as city, \
            process("node", "run", "--config", str(paths[COUNTY])) as county:
        healthy(ports[CITY], city)
        healthy(ports[COUNTY], county)
        until_sync(lambda: owner_at(ports[CITY], second) == CITY, timeout_s=60,
                   what="the moved county's escalation at the city")
        assert owner_at(ports[COUNTY], first) == CITY  # what it did while hosted, kept
    assert (tmp_path / "tls" / COUNTY / "node.pem").read_bytes() == identity
