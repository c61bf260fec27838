"""SIGKILL of the parent node in the middle of a batch of escalations: after a restart and
a full drain, every issue has exactly one owner and exists once at the parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, func, select, text

from federation.certs import load_tls
from federation.sender import DrainResult
from node.domain.issue import State
from node.domain.topology import Topology
from node.store.schema import issues, transfers_in, transfers_out
from tests.support.clock import FakeClock
from tests.support.data import STAFF
from tests.support.federation import federation, make_certs, node_tree, stub_as
from tests.support.flows import submit_and_escalate
from tests.support.pg import free_port
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = {"330500": None, "330522": "330500"}
N = 40


def start_city(root: Path, config: Path) -> subprocess.Popen[bytes]:
    with (root / "city.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "node.cli", "node", "run", "--config", str(config)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        )


async def wait_serving(root: Path, port: int, clock: FakeClock, proc: subprocess.Popen[bytes],
                       deadline_s: float = 30) -> None:
    tls = load_tls(root / "tls" / "330522", now=clock.now())

    async def serving() -> bool:
        assert proc.poll() is None, (root / "city.log").read_text()
        channel, _ = stub_as(tls, f"127.0.0.1:{port}", "330500")
        async with channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1)
            except Exception:  # not up yet
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await until(serving, timeout_s=deadline_s, interval_s=0.1,
                what="the city node serving gRPC")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(180)
async def test_sigkill_of_the_parent_mid_batch_leaves_one_owner_per_issue(
    tmp_path: Path, clock: FakeClock
) -> None:
    city_port = free_port()  # known before start: the city runs as its own process
    make_certs(tmp_path, list(TOPOLOGY), clock)
    tree = node_tree("330500", Topology(TOPOLOGY), tmp_path, grpc_port=city_port,
                     addresses={})
    # a city without a parent is not a valid configuration: give it one, unreachable
    tree["node"]["parent"] = "330000"
    tree["federation"]["parent_address"] = f"127.0.0.1:{free_port()}"
    tree["federation"]["auto_escalate_after_urges"] = None
    tree["federation"] = {k: v for k, v in tree["federation"].items() if v is not None}
    config = tmp_path / "city.toml"
    config.write_text(tomli_w.dumps(tree), encoding="utf-8")

    city = start_city(tmp_path, config)
    try:
        await wait_serving(tmp_path, city_port, clock, city)
        async with federation(tmp_path, TOPOLOGY, clock, start=("330522",),
                              external={"330500": f"127.0.0.1:{city_port}"},
                              batch_size=8, retry_attempts=1) as fed:
            county = fed["330522"]
            ids = [submit_and_escalate(county) for _ in range(N)]

            def delivered() -> int:
                with county.node.engine.connect() as conn:
                    return int(conn.execute(
                        select(func.count()).select_from(transfers_out)
                        .where(transfers_out.c.status == "delivered")).scalar_one())

            killed = restarted = False
            deadline = time.monotonic() + 120
            while delivered() < N:
                assert time.monotonic() < deadline, "escalations did not drain"
                drain = asyncio.ensure_future(county.drain("330500"))
                if not killed:
                    # kill -9 while a batch is in flight, once some are through
                    def in_flight(batch: asyncio.Future[DrainResult] = drain) -> bool:
                        return batch.done() or delivered() >= 3

                    await until(in_flight, timeout_s=60, interval_s=0.001,
                                what="a batch in flight, some through")
                    if delivered() >= 3:
                        os.kill(city.pid, signal.SIGKILL)
                        city.wait()
                        killed = True
                        at_kill = delivered()
                result = await drain
                if killed and not restarted and (result.failed or result.waiting):
                    city = start_city(tmp_path, config)
                    await wait_serving(tmp_path, city_port, clock, city)
                    restarted = True
                if result.waiting:
                    clock.advance(county.transfers.backoff.delay(20) * 2)
            assert killed and restarted
            assert at_kill < N  # the parent died with escalations still to deliver
            for issue_id in ids:
                at_county = county.issues.get(STAFF["leader"], issue_id).issue
                assert (at_county.state, at_county.owner) == (State.ESCALATED, "330500")
    finally:
        stop(city)

    engine = create_engine(f"sqlite:///{tmp_path / '330500' / 'zhitong.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(select(issues.c.id, issues.c.owner, issues.c.state)).all()
        inbox = conn.execute(select(func.count()).select_from(transfers_in)).scalar_one()
        versions = conn.execute(text(
            "SELECT issue_id, count(*), max(version) FROM events GROUP BY issue_id")).all()
    engine.dispose()
    assert sorted(r.id for r in rows) == sorted(ids)  # each once: nothing lost, nothing twice
    assert {(r.owner, r.state) for r in rows} == {("330500", "received")}
    assert inbox == N
    assert all(count == top == 4 for _, count, top in versions)
