"""Province scale: the whole federation on one machine under load, small → huzhou → zhejiang.

For each topology: start `zhitong up` (one nats-server per unit; `--mode` picks one node
process per unit or one per city hosting its counties, zhitong up's default beyond small),
submit issues at every county through the HTTP API for a bounded time at a fixed total
rate, and measure
* throughput actually sustained (issues/s acknowledged);
* county → province visibility: the time from a county's acknowledgement until the
  province's subtree summary counts the issue (sampled markers, p50/p99);
* memory: RSS per node process and per nats-server (median, max) and in total;
* CPU: seconds used per process class over the load phase, and the idle cost (percent of a
  core per process class with nothing happening, measured before the load).

    .venv/bin/python -m bench.scale [--topologies small,huzhou,zhejiang] [--seconds 60]
        [--rate 20] [--workers 4] [--idle-seconds 20] [--mode default|hosted|per-unit]
        [--json bench/results/scale.json]

Loopback only; every loop is bounded by count and time; `zhitong up` is stopped at the end
of each topology (and its children die with it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common.accounting import stat_cpu_seconds
from bench.common.results import REPO, RESULTS, git_head, write_json
from bench.common.tables import Column, format_table
from bench.common.timing import percentile
from tests.support.data import submit_body

PAGE = os.sysconf("SC_PAGE_SIZE")
COLUMNS = ("topology", "nodes", "startup_s", "issues_per_s", "submit_p50_ms", "submit_p99_ms",
           "visibility_p50_s", "visibility_p99_s", "node_rss_median_mib", "node_rss_total_mib",
           "nats_rss_median_mib", "nats_rss_total_mib", "cpu_cores_used", "idle_node_cpu_pct",
           "idle_nats_cpu_pct")


def result_column(key: str) -> Column[dict[str, Any]]:
    return Column(key, 20, lambda row: f"{row.get(key, '')}")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def proc_stats(pid: int) -> tuple[str, int, float]:
    """(kind, rss bytes, cpu seconds) of a process."""
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    with open(f"/proc/{pid}/statm") as fh:
        rss = int(fh.read().split()[1]) * PAGE
    cpu = stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
    return ("nats" if "nats-server" in cmd else "node"), rss, cpu


def snapshot(up_pid: int) -> dict[int, tuple[str, int, float]]:
    stats = {}
    for pid in children_of(up_pid):
        try:
            stats[pid] = proc_stats(pid)
        except OSError:
            continue
    return stats


def start_up(topology: str, data_dir: Path, base_port: int, timeout_s: float,
             mode: str = "default") -> tuple[subprocess.Popen[str], dict[str, Any], float]:
    t0 = time.monotonic()
    flag = {"hosted": ["--hosted"], "per-unit": ["--one-process-per-unit"]}.get(mode, [])
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "up", "--topology", topology, "--data-dir",
         str(data_dir), "--base-port", str(base_port), "--no-demo-data", *flag],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if not line:
            raise RuntimeError(f"zhitong up exited ({proc.wait()}):\n" + "".join(seen[-30:]))
        if "Ctrl-C stops" in line:
            break
    else:
        stop_up(proc)
        raise TimeoutError(f"{topology} did not become ready in {timeout_s}s")
    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    manifest = json.loads((data_dir / topology / "manifest.json").read_text())
    return proc, manifest, time.monotonic() - t0


def stop_up(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def login(client: httpx.Client, base: str, username: str) -> str:
    r = client.post(f"{base}/api/v1/auth/login",
                    json={"username": username, "password": "zhitong-demo"})
    r.raise_for_status()
    return str(r.json()["access_token"])


def run_topology(topology: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    base_port = args.base_port
    proc, manifest, startup_s = start_up(topology, data_dir, base_port, args.startup_timeout,
                                         args.mode)
    result: dict[str, Any] = {"topology": topology, "mode": args.mode,
                              "nodes": len(manifest["nodes"]),
                              "startup_s": round(startup_s, 1)}
    try:
        nodes = manifest["nodes"]
        counties = [n for n in nodes if n["level"] == "county"]
        province = next(n for n in nodes if n["level"] == "province")
        with httpx.Client(timeout=30) as client:
            tokens = {n["code"]: login(client, n["http_url"], "dispatcher") for n in counties}
            viewer = login(client, province["http_url"], "viewer")

            # the province's total, sampled all along (its own client: httpx.Client is not
            # shared across threads here)
            samples: list[tuple[float, int]] = []
            sampling = threading.Event()

            def sample() -> None:
                with httpx.Client(timeout=10) as own:
                    headers = {"Authorization": f"Bearer {viewer}"}
                    end = time.monotonic() + args.seconds + args.visibility_timeout
                    while not sampling.is_set() and time.monotonic() < end:
                        r = own.get(f"{province['http_url']}/api/v1/summary?depth=0",
                                    headers=headers)
                        if r.status_code == 200:
                            samples.append((time.monotonic(), int(r.json()["total"])))
                        time.sleep(0.1)  # sampling interval, bounded by `end`

            # idle: what the federation costs with nothing happening (timers, polls,
            # heartbeats) — what limits how many units one machine can hold
            time.sleep(args.settle_seconds)  # let start-up work finish; bounded
            idle_before = snapshot(proc.pid)
            idle_t0 = time.monotonic()
            time.sleep(args.idle_seconds)  # the measurement window itself
            idle_after = snapshot(proc.pid)
            idle_s = time.monotonic() - idle_t0
            for kind in ("node", "nats"):
                used = sum(cpu - idle_before[pid][2] for pid, (k, _, cpu) in idle_after.items()
                           if k == kind and pid in idle_before)
                result[f"idle_{kind}_cpu_pct"] = round(100 * used / idle_s, 1)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            before = snapshot(proc.pid)
            acked: list[float] = []
            latencies: list[float] = []
            markers: list[tuple[int, float]] = []  # (count acked so far, ack time)
            lock = threading.Lock()
            total = int(args.rate * args.seconds)
            start = time.monotonic()
            deadline = start + args.seconds

            def worker(w: int) -> None:
                """Every `workers`-th submission, paced to the offered rate; bounded by
                count and time."""
                with httpx.Client(timeout=30) as own:
                    for i in range(w, total, args.workers):
                        due = start + i / args.rate
                        pause = due - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)  # pacing the load generator
                        if time.monotonic() >= deadline:
                            return
                        county = counties[i % len(counties)]
                        t = time.monotonic()
                        r = own.post(
                            f"{county['http_url']}/api/v1/issues",
                            json=submit_body(channel="hotline_12345"),
                            headers={"Authorization": f"Bearer {tokens[county['code']]}",
                                     "Idempotency-Key": f"scale-{topology}-{i}"})
                        if r.status_code == 201:
                            now = time.monotonic()
                            with lock:
                                acked.append(now)
                                latencies.append(now - t)
                                if len(acked) % max(1, args.rate) == 0:
                                    markers.append((len(acked), now))

            workers = [threading.Thread(target=worker, args=(w,), daemon=True)
                       for w in range(args.workers)]
            for t_ in workers:
                t_.start()
            for t_ in workers:
                t_.join(timeout=args.seconds + 60)
            load_s = time.monotonic() - start
            after = snapshot(proc.pid)
            # visibility: when did the province first count each marker's issues?
            vis_deadline = time.monotonic() + args.visibility_timeout
            while (markers and time.monotonic() < vis_deadline
                   and (not samples or samples[-1][1] < markers[-1][0])):
                time.sleep(0.2)  # waiting for the sampler, bounded by the deadline
            sampling.set()
            sampler.join(timeout=15)
            visible: list[float] = []
            pending = []
            for count, acked_at in markers:
                seen = next((t for t, total in samples if total >= count and t >= acked_at),
                            None)
                if seen is None:
                    pending.append((count, acked_at))
                else:
                    visible.append(seen - acked_at)
        kinds: dict[str, list[tuple[int, float]]] = {"node": [], "nats": []}
        result["node_cpu_s"] = result["nats_cpu_s"] = 0.0
        for pid, (kind, pid_rss, pid_cpu) in after.items():
            cpu_before = before.get(pid, (kind, 0, pid_cpu))[2]
            kinds[kind].append((pid_rss, pid_cpu - cpu_before))
        mib = 1024 * 1024
        for kind, rows in kinds.items():
            rss = [r for r, _ in rows]
            cpu = [c for _, c in rows]
            result[f"{kind}_count"] = len(rows)
            result[f"{kind}_rss_median_mib"] = round(statistics.median(rss) / mib, 1) if rss else 0
            result[f"{kind}_rss_max_mib"] = round(max(rss) / mib, 1) if rss else 0
            result[f"{kind}_rss_total_mib"] = round(sum(rss) / mib, 1)
            result[f"{kind}_cpu_s"] = round(sum(cpu), 1)
        result.update({
            "load_s": round(load_s, 1), "acked": len(acked),
            "issues_per_s": round(len(acked) / load_s, 1) if load_s else 0,
            "submit_p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "submit_p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "visibility_p50_s": round(percentile(visible, 50), 2),
            "visibility_p99_s": round(percentile(visible, 99), 2),
            "visibility_missing": len(pending),
            "cpu_cores_used": round((result["node_cpu_s"] + result["nats_cpu_s"]) / load_s, 2)
            if load_s else 0,
        })
    finally:
        stop_up(proc)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topologies", default="small,huzhou,zhejiang")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=20, help="issues/s over all counties")
    parser.add_argument("--base-port", type=int, default=24100)
    parser.add_argument("--startup-timeout", type=float, default=900)
    parser.add_argument("--visibility-timeout", type=float, default=120)
    parser.add_argument("--workers", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--mode", choices=["default", "hosted", "per-unit"], default="default",
                        help="zhitong up's layout: hosted (each city's process hosts its "
                             "counties; the default for huzhou and zhejiang) or one process "
                             "per unit")
    parser.add_argument("--settle-seconds", type=float, default=10)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="zhitong-scale-") as tmp:
        data_dir = Path(args.data_dir or tmp)
        for topology in args.topologies.split(","):
            print(f"== {topology}: starting …", flush=True)
            row = run_topology(topology, args, data_dir)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    print("\n" + format_table(rows, [result_column(c) for c in COLUMNS], rule=False))
    base = rows[0]

    def rss(row: dict[str, Any]) -> float:
        return float(row["node_rss_total_mib"]) + float(row["nats_rss_total_mib"])

    for row in rows[1:]:
        print(f"{row['topology']} vs {base['topology']}: "
              f"nodes ×{row['nodes'] / base['nodes']:.1f}, "
              f"total RSS ×{rss(row) / max(1.0, rss(base)):.1f}, "
              f"visibility p50 ×"
              f"{row['visibility_p50_s'] / max(0.001, base['visibility_p50_s']):.1f}")
    uname = os.uname()
    machine = {"sysname": uname.sysname, "release": uname.release, "machine": uname.machine}
    write_json(args.json, {"machine": machine, "cpus": os.cpu_count(),
                           "commit": git_head(short=True) or "", "rows": rows})
    print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
