"""A real local federation (`zhitong up`) for browser tests, and waiting on it.

`running_federation` starts `python -m node.cli up --no-demo-data` as a subprocess (its
output goes to a file, read with a deadline), yields the nodes from the manifest, and
always stops it: SIGINT, wait, kill on timeout. Every process `zhitong up` started (its
nats-servers and node processes, found under it in /proc while it runs) is checked
afterwards; any survivor is killed by its pid and reported as a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.support.ports import up_base_port
from tests.support.wait import until_sync

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "zhitong-demo"  # node.demo.DEMO_PASSWORD: every demo login at every node
PROVINCE, CITY, COUNTY, OTHER_COUNTY = "330000", "330500", "330522", "330521"


@dataclass
class Federation:
    """The nodes of a running `zhitong up` (from its manifest) and JSON API access."""

    root: Path
    nodes: dict[str, dict[str, Any]]
    logins: list[dict[str, str]]
    started_s: float
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def url(self, code: str) -> str:
        return str(self.nodes[code]["http_url"])

    def call(self, code: str, method: str, path: str, body: dict[str, Any] | None = None,
             user: str | None = None) -> tuple[int, Any]:
        """One JSON API call outside the browser: (status, answer)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url(code)}/api/v1{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
        if user is not None:
            req.add_header("Authorization", f"Bearer {self.token(code, user)}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)

    def get(self, code: str, path: str, user: str) -> Any:
        return self.call(code, "GET", path, user=user)[1]

    def token(self, code: str, user: str) -> str:
        if (code, user) not in self.tokens:
            _, answer = self.call(code, "POST", "/auth/login",
                                  {"username": user, "password": DEMO_PASSWORD})
            self.tokens[(code, user)] = str(answer["access_token"])
        return self.tokens[(code, user)]

    def log_tail(self, chars: int = 3000) -> str:
        out = []
        for log in sorted((self.root / "logs").glob("node-*.log")):
            out.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc; nothing is signalled)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, …
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_ready(proc: subprocess.Popen[bytes], out: Path, deadline_s: float) -> None:
    def ready() -> bool:
        printed = out.read_text(encoding="utf-8", errors="replace")
        if proc.poll() is not None and "Ctrl-C stops" not in printed:
            raise AssertionError(f"zhitong up exited with {proc.returncode}:\n{printed}")
        return "Ctrl-C stops" in printed  # the last line of the ready message

    try:
        until_sync(ready, timeout_s=deadline_s, interval_s=0.1, what="zhitong up ready")
    except AssertionError as exc:
        if proc.poll() is not None:
            raise  # it exited: the message holds its output
        raise AssertionError(f"{exc}:\n" + out.read_text(encoding="utf-8",
                                                          errors="replace")) from None


@contextmanager
def running_federation(data_dir: Path, *, topology: str = "small",
                       ready_s: float = 120, stop_s: float = 40) -> Iterator[Federation]:
    data_dir.mkdir(parents=True, exist_ok=True)
    out = data_dir / "zhitong-up.out"
    args = [sys.executable, "-m", "node.cli", "up", "--topology", topology,
            "--data-dir", str(data_dir), "--base-port", str(up_base_port()), "--no-demo-data"]
    t0 = time.monotonic()
    with out.open("wb") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    children: set[int] = set()
    try:
        _wait_ready(proc, out, ready_s)
        children = descendants(proc.pid)
        manifest = json.loads((data_dir / topology / "manifest.json").read_text("utf-8"))
        yield Federation(root=data_dir / topology,
                         nodes={n["code"]: n for n in manifest["nodes"]},
                         logins=manifest["logins"], started_s=time.monotonic() - t0)
    finally:
        children |= descendants(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=stop_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        strays = sorted(p for p in children if alive(p))
        for pid in strays:  # only processes this run started, each by its pid
            os.kill(pid, signal.SIGKILL)
        assert not strays, f"processes left running after zhitong up stopped: {strays}"
        assert proc.returncode == 0, (f"zhitong up ended with {proc.returncode}:\n"
                                      + out.read_text(encoding="utf-8", errors="replace"))


def reload_until(page: Page, check: Callable[[], None], what: str,
                 timeout_s: float = 30) -> float:
    """For pages that do not refresh by themselves (portal, workbench): run `check` (its
    expect()s with a short timeout) and reload until it passes; returns the seconds taken."""
    t0 = time.monotonic()
    while True:
        try:
            check()
            return time.monotonic() - t0
        except AssertionError as exc:
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(f"not reached within {timeout_s}s: {what}") from exc
            page.reload()

