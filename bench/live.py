"""`bench.live`: the cost of a commit with 0, 10, 100 open live streams (server-sent events).

    .venv/bin/python -m bench.live                  # n=300 commits per phase, 0/10/100 streams
    .venv/bin/python -m bench.live --n 100 --streams 0,50

A county node on SQLite runs in this process (tests/support/served.py: uvicorn, the
node's own event loop in a thread); the streams are opened by a child process (raw
sockets, one selector, all as one dispatcher, who sees every event), so this process's CPU
time is the node's alone. Each phase submits `n` issues through IssueService one at a time
and reports the commit's wall time (p50, p95), the node's CPU per commit (the commit, the
hub's log reads and fan-out, the SSE writes — counted until every stream has every
event), how long after the last commit the last stream had it, and how many log reads the
hub made (commits that arrive while it reads share one read). A phase stops at
`--max-seconds`; the last phase repeats 0 streams (drift of the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from node.app.policy import Principal, Role
from node.runtime import Running
from tests.support.data import ENTERPRISE_A, make_config, submit_cmd
from tests.support.served import serving

PASSWORD = "bench-live-1"

#: the child process: open every ticket's stream, say "ready" once all are open, then
#: "done" once each has seen `expected` issue events (or give up at the deadline)
CLIENT = r"""
import json, selectors, socket, sys, time
port, expected, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
tickets = json.loads(sys.stdin.readline())
sel = selectors.DefaultSelector()
counts, opened = {}, set()
for t in tickets:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /api/v1/live?ticket={t} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    counts[s] = 0
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    for key, _ in sel.select(1):
        data = key.fileobj.recv(1 << 20)
        if b"retry:" in data and key.fileobj not in opened:
            opened.add(key.fileobj)
            if len(opened) == len(tickets):
                print("ready", flush=True)
        counts[key.fileobj] += data.count(b"event: issue")
    if all(c >= expected for c in counts.values()):
        print("done", flush=True)
        break
else:
    print("timeout", flush=True)
"""


def _post(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    req = urllib.request.Request(url, method="POST", data=json.dumps(body or {}).encode(),
                                 headers={"content-type": "application/json"})
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def phase(running: Running, streams: int, n: int, max_seconds: float) -> dict[str, Any]:
    live = running.services.live
    assert live is not None
    hub = live.hub
    hub.per_user = max(hub.per_user, streams)
    api = f"http://127.0.0.1:{running.http_port}/api/v1"
    child = None
    if streams:
        token = _post(api + "/auth/login", {"username": "disp", "password": PASSWORD})[
            "access_token"]
        tickets = [_post(api + "/live/ticket", token=token)["ticket"] for _ in range(streams)]
        child = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(running.http_port), str(n), str(max_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(tickets) + "\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "ready"
    reads, delivered = hub.stats.reads, hub.stats.delivered
    walls: list[float] = []
    cpu0, started = time.process_time(), time.perf_counter()
    for _ in range(n):
        if time.perf_counter() - started > max_seconds:
            break
        t = time.perf_counter()
        running.services.issues.submit(ENTERPRISE_A, submit_cmd())
        walls.append(time.perf_counter() - t)
    last_commit = time.perf_counter()
    outcome = "done"
    if child is not None:
        assert child.stdout is not None
        outcome = child.stdout.readline().strip()
        child.wait(timeout=30)
    finished = time.perf_counter()
    cpu = time.process_time() - cpu0
    walls.sort()
    while hub.streams and time.perf_counter() - finished < 30:  # the child closed them
        time.sleep(0.01)
    return {"streams": streams, "commits": len(walls), "outcome": outcome,
            "commit_ms_p50": round(1000 * statistics.median(walls), 2),
            "commit_ms_p95": round(1000 * walls[int(0.95 * (len(walls) - 1))], 2),
            "cpu_ms_per_commit": round(1000 * cpu / len(walls), 2),
            "last_delivery_after_last_commit_ms": round(1000 * (finished - last_commit), 1),
            "hub_reads": hub.stats.reads - reads,
            "frames_delivered": hub.stats.delivered - delivered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="commits per phase")
    parser.add_argument("--streams", default="0,10,100,0", help="streams per phase")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp))
        with serving(config, http_port=0, auto_escalate_every_s=None, reports_every_s=None,
                     connect_streams=False, notify=False) as running:
            running.services.accounts.add(
                Principal(username="disp", role=Role.DISPATCHER, display_name="d"), PASSWORD)
            for _ in range(50):  # warm up the store and the caches
                running.services.issues.submit(ENTERPRISE_A, submit_cmd())
            for streams in (int(s) for s in args.streams.split(",")):
                print(json.dumps(phase(running, streams, args.n, args.max_seconds)),
                      flush=True)


if __name__ == "__main__":
    main()
