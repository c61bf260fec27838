"""Fault injection, quick version (runs in `make test`): each scenario starts the real
three-tier topology (province ← city ← county: one nats-server per node in the leaf
topology, nodes in this process), runs a workload of submissions and escalations at the
county while it injects its faults at seeded random points, drains completely and runs the
checker: nothing lost, nothing duplicated, nothing unexpected, every replica equal to its
owner, every event log gapless and free of duplicates.

The seed is printed; rerun a failure with `ZT_FAULT_SEED=<seed> pytest -s tests/faults`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.faults.scenarios import Outcome, run_scenario

SEED = int(os.environ.get("ZT_FAULT_SEED") or random.SystemRandom().randrange(10**6))

pytestmark = pytest.mark.timeout(200)


async def scenario(name: str, root: Path) -> Outcome:
    outcome = await run_scenario(name, root, SEED)
    assert outcome.report.clean, (
        f"seed {SEED}\n{outcome.report.explain()}\nfaults:\n" + "\n".join(outcome.faults))
    return outcome


async def test_sigkill_and_restart_of_each_nats_server(tmp_path: Path) -> None:
    outcome = await scenario("sigkill_servers", tmp_path)
    assert outcome.extra["kills"] == 3


async def test_sigstop_and_sigcont_of_each_nats_server(tmp_path: Path) -> None:
    outcome = await scenario("sigstop_servers", tmp_path)
    assert outcome.extra["pauses"] == 3


async def test_city_node_stopped_and_restarted_twice(tmp_path: Path) -> None:
    outcome = await scenario("restart_city_node", tmp_path)
    assert outcome.extra["restarts"] == 2


async def test_leaf_and_grpc_links_cut_reset_delayed_and_stalled(tmp_path: Path) -> None:
    outcome = await scenario("proxy_faults", tmp_path)
    assert outcome.extra["faults"] == 10
    # both links really ran through the proxies
    assert outcome.extra["leaf_connections"] >= 1 and outcome.extra["grpc_connections"] >= 1


async def test_every_event_message_delivered_twice(tmp_path: Path) -> None:
    outcome = await scenario("duplicate_delivery", tmp_path)
    assert outcome.extra["republished"] >= outcome.report.acked  # at least every v1 twice
    assert outcome.extra["republish_failed"] == 0


async def test_poison_messages_are_dead_lettered_without_blocking(tmp_path: Path) -> None:
    outcome = await scenario("poison", tmp_path)
    assert outcome.report.poison == outcome.extra["poison"] == 9  # each one dead-lettered


async def test_cold_restart_of_everything_in_random_order(tmp_path: Path) -> None:
    outcome = await scenario("cold_restart", tmp_path)
    assert outcome.extra["restarted"] == 6
