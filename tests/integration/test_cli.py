"""The operator's commands, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from node.store import migrate
from tests.support.data import submit_body
from tests.support.pg import free_port
from tests.support.ports import up_base_port
from tests.support.wait import until_sync

ZHITONG = [sys.executable, "-m", "node.cli"]
ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(
        f"""
[node]
code = "330522"
name = "长兴县"
level = "county"
parent = "330500"
data_dir = "{tmp_path / 'data'}"

[http]
port = {port}
""",
        encoding="utf-8",
    )
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZHITONG, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def get_json(url: str, token: str | None = None) -> object:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def post_json(url: str, body: dict[str, object], token: str | None = None) -> object:
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def wait_healthy(url: str, proc: subprocess.Popen[str], deadline_s: float = 30) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early with {proc.returncode}")
        try:
            get_json(url)
        except (urllib.error.URLError, ConnectionError):
            return False
        return True

    until_sync(answers, timeout_s=deadline_s, what=f"{url} answering")


@contextmanager
def running(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*ZHITONG, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_config_check_reports_problems_and_exits_2(tmp_path: Path) -> None:
    good = write_config(tmp_path, 8000)
    assert run("config", "check", "--config", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\ncode = "33a522"\nname = "x"\nlevel = "county"\n', encoding="utf-8")
    result = run("config", "check", "--config", str(bad))
    assert result.returncode == 2
    assert "node.code" in result.stderr and "bad.toml" in result.stderr


def test_node_run_serves_accounts_added_by_the_cli(tmp_path: Path) -> None:
    port = free_port()  # known before start: the node runs as its own process
    cfg = write_config(tmp_path, port)
    head = migrate.head_revision()
    assert f"schema at {head}" in run("db", "upgrade", "--config", str(cfg)).stdout
    assert f"current {head}, head {head}" in run("db", "current", "--config", str(cfg)).stdout
    added = run("user", "add", "--config", str(cfg), "--username", "wang", "--role",
                "dispatcher", "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    dup = run("user", "add", "--config", str(cfg), "--username", "wang", "--role",
              "dispatcher", "--password-stdin", stdin="correct horse battery\n")
    assert dup.returncode == 2 and "exists" in dup.stderr
    base = f"http://127.0.0.1:{port}/api/v1"
    with running("node", "run", "--config", str(cfg)) as proc:
        wait_healthy(f"{base}/health", proc)
        token = post_json(f"{base}/auth/login",
                          {"username": "wang", "password": "correct horse battery"})
        assert isinstance(token, dict)
        me = get_json(f"{base}/me", str(token["access_token"]))
        assert isinstance(me, dict) and me["role"] == "dispatcher" and me["node"] == "330522"
    assert proc.returncode in (0, -signal.SIGINT, 130)


def _read_until_ready(proc: subprocess.Popen[str], deadline_s: float = 120) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "Ctrl-C stops" in line:  # the last line of the ready message
            return "".join(seen)
    raise AssertionError("zhitong up did not become ready:\n" + "".join(seen))


def _token(base: str) -> str:
    body = post_json(f"{base}/auth/login", {"username": "leader", "password": "zhitong-demo"})
    assert isinstance(body, dict)
    return str(body["access_token"])


def _until(check: Any, deadline_s: float = 60) -> None:
    until_sync(check, timeout_s=deadline_s, interval_s=0.2)


@pytest.mark.timeout(300)
def test_up_runs_a_federation_that_answers_and_keeps_data(tmp_path: Path) -> None:
    base_port = up_base_port()
    args = ("up", "--data-dir", str(tmp_path / "up"), "--base-port", str(base_port))
    with running(*args) as proc:
        printed = _read_until_ready(proc)
        manifest = json.loads((tmp_path / "up" / "small" / "manifest.json").read_text())
        nodes = {n["code"]: n for n in manifest["nodes"]}
        assert set(nodes) == {"330000", "330500", "330522", "330521"}
        for n in nodes.values():  # every printed address answers
            assert n["http_url"] in printed
            health = get_json(f"{n['http_url']}/api/v1/health")
            assert isinstance(health, dict) and health["node"] == n["code"]
        city = f"{nodes['330500']['http_url']}/api/v1"
        province = f"{nodes['330000']['http_url']}/api/v1"
        county = f"{nodes['330522']['http_url']}/api/v1"
        t_city, t_prov = _token(city), _token(province)

        def pool(base: str, token: str) -> int:
            body = get_json(f"{base}/issues?limit=1", token)
            return int(body["total"]) if isinstance(body, dict) else -1

        def province_total() -> int:
            body = get_json(f"{province}/summary", t_prov)
            return int(body["total"]) if isinstance(body, dict) else -1

        seeded = {c: pool(f"{nodes[c]['http_url']}/api/v1", _token(f"{nodes[c]['http_url']}"
                                                                   "/api/v1"))
                  for c in ("330522", "330521")}  # a year of demo issues per county
        assert all(300 <= n <= 600 for n in seeded.values()), seeded
        total = sum(seeded.values())
        _until(lambda: pool(city, t_city) == total, 120)  # every county issue, replicated
        _until(lambda: province_total() == total, 120)  # and in the province's summary
        # two per county escalated to the city, and taken on by the city to the province
        _until(lambda: pool(province, t_prov) == 4, 120)
    assert proc.returncode == 0

    # restart hosted (市级统建: the city's process hosts its counties): the same data,
    # nothing seeded twice, and the counties still replicate to the city
    with running(*args, "--hosted") as proc:
        printed = _read_until_ready(proc)
        assert "starting 2 processes hosting 4 units" in printed
        assert pool(county, _token(county)) == seeded["330522"]
        _until(lambda: pool(city, _token(city)) == total)
        t_county = _token(county)
        post_json(f"{county}/issues", submit_body(title="托管后新提交"), t_county)
        _until(lambda: pool(city, _token(city)) == total + 1)  # a new one, across the leaf
    assert proc.returncode == 0


@pytest.mark.parametrize("args", [["node", "run"], ["nonsense"]])
def test_usage_errors(args: list[str]) -> None:
    assert run(*args).returncode == 2


def test_federation_refuses_to_start_without_certificates(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, 0)
    with cfg.open("a", encoding="utf-8") as fh:  # refused before anything is bound
        fh.write('\n[federation]\nenabled = true\ngrpc_port = 0\n'
                 'parent_address = "127.0.0.1:9"\n')
    result = run("node", "run", "--config", str(cfg))
    assert result.returncode != 0
    assert "cannot start federation without valid certificates" in result.stderr
    assert "insecure" in result.stderr
