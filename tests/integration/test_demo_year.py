"""A year of demo activity through the import path (node/demo_year.py): reproducible from
its seed, not degenerate in the cockpit (on-time rate, handling time, lights, ratings,
reopened issues, revisits), escalations queued through the transfer service, a second
seeding adds nothing, and `zhitong demo seed` as a process.

Each node is a real county (the deploy file's organisation units) on its own SQLite file,
its clock fixed on a Thursday morning so that the lights are what the plan laid out."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.config import load_config
from node.demo_year import STAFF, DemoClock, DemoOutcome, seed_demo_year
from node.runtime import Node, build
from node.store.schema import events, import_keys, issues, revisit_tasks
from tests.support.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
COUNTY = ROOT / "deploy" / "county" / "node.toml"
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # Thursday 10:00 China time


def county(tmp_path: Path, code: str = "330522") -> tuple[Node, DemoClock]:
    env = {"ZHITONG__NODE__CODE": code, "ZHITONG__NODE__DATA_DIR": str(tmp_path),
           "ZHITONG__NATS__ENABLED": "false", "ZHITONG__FEDERATION__ENABLED": "false",
           "ZHITONG__DATABASE__URL": "null", "ZHITONG__NOTIFY__ENABLED": "false"}
    clock = DemoClock(FakeClock(NOW))
    return build(load_config(COUNTY, env), clock=clock), clock


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, DemoOutcome]]:
    node, clock = county(tmp_path_factory.mktemp("demo-year"))
    outcome = seed_demo_year(node, clock)
    yield node, outcome
    node.engine.dispose()


def digest(node: Node) -> str:
    """What a person sees of the dataset: numbers, titles, states, dates, ratings."""
    with node.engine.connect() as conn:
        rows = conn.execute(select(issues.c.number, issues.c.title, issues.c.state,
                                   issues.c.received_at, issues.c.resolved_at,
                                   issues.c.rating, issues.c.reopen_count)
                            .order_by(issues.c.number)).all()
    assert rows
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def scalar(node: Node, query: object) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def test_the_same_seed_gives_the_same_dataset_and_another_seed_another(
        tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        node, clock = county(tmp_path / name)
        try:
            seed_demo_year(node, clock, seed=seed, count=80, escalate=False)
            digests.append(digest(node))
        finally:
            node.engine.dispose()
    assert digests[0] == digests[1]
    assert digests[2] != digests[0]


def test_a_year_seeded_through_the_import_is_not_degenerate(
        seeded: tuple[Node, DemoOutcome]) -> None:
    node, outcome = seeded
    m = node.services.issues.metrics(STAFF).overall
    assert 300 <= m.total <= 600 and outcome.issues == m.total
    assert m.on_time_rate is not None and 0 < m.on_time_rate < 1
    assert m.avg_handling_hours is not None and m.avg_handling_hours > 24
    assert m.counts_by_light["red"] >= 1 and m.counts_by_light["yellow"] >= 1
    assert m.counts_by_light["green"] >= 1
    assert m.satisfaction_rate is not None and 0.5 < m.satisfaction_rate < 1
    assert m.repeat_rate is not None and m.repeat_rate > 0
    # most of the year is done, some of it is still open
    assert m.counts_by_state["closed"] > m.total // 2 and m.open > 10
    assert scalar(node, select(func.count()).select_from(issues)
                  .where(issues.c.rating == "unsatisfied")) >= 1
    assert scalar(node, select(func.count()).select_from(issues)
                  .where(issues.c.reopen_count > 0)) >= 1
    # spread over the year, the channels and the tags
    with node.engine.connect() as conn:
        received = [r[0] for r in conn.execute(select(issues.c.received_at))]
        channels = {r[0] for r in conn.execute(select(issues.c.channel).distinct())}
    months = {(r.year, r.month) for r in received}
    assert len(months) >= 12 and len(channels) >= 8
    assert len(m.top_tags) >= 8


def test_the_history_is_the_imports_and_the_follow_ups_are_native(
        seeded: tuple[Node, DemoOutcome]) -> None:
    node, outcome = seeded
    assert scalar(node, select(func.count()).select_from(import_keys)) == outcome.issues
    first = scalar(node, select(func.count()).select_from(events)
                   .where(events.c.kind == "submitted"))
    assert first == outcome.issues
    # the reopening, the second round and the urges were done after the import
    assert outcome.follow_ups >= 20
    assert scalar(node, select(func.count()).select_from(events)
                  .where(events.c.kind == "reopen")) >= 1
    assert scalar(node, select(func.count()).select_from(events)
                  .where(events.c.kind == "urge")) >= 1
    # last month's revisit sample, some results recorded, one reopening the issue
    assert outcome.revisits >= 1
    assert scalar(node, select(func.count()).select_from(revisit_tasks)
                  .where(revisit_tasks.c.state == "done")) >= 1
    assert scalar(node, select(func.count()).select_from(events)
                  .where(events.c.kind == "revisit_reopen")) >= 1


def test_a_few_are_escalated_and_a_second_seeding_adds_nothing(
        seeded: tuple[Node, DemoOutcome]) -> None:
    node, outcome = seeded
    assert len(outcome.escalated) == 4  # queued to the city through the transfer service
    assert len(outcome.onward) == 2 and set(outcome.onward) <= set(outcome.escalated)
    with node.services.issues.store.read() as unit:
        assert all(unit.transfer_pending(i) for i in outcome.escalated)
    before = digest(node)
    clock = node.services.issues.clock
    assert isinstance(clock, DemoClock)
    again = seed_demo_year(node, clock)
    assert again.skipped and again.issues == 0
    assert digest(node) == before


def test_zhitong_demo_seed_as_a_process(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(COUNTY.read_text(encoding="utf-8").replace(
        'data_dir = "/var/lib/zhitong/330522"', f'data_dir = "{tmp_path / "data"}"')
        + "\n", encoding="utf-8")
    env_off = {"ZHITONG__NATS__ENABLED": "false", "ZHITONG__FEDERATION__ENABLED": "false"}

    def seed(*extra: str) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run([sys.executable, "-m", "node.cli", "demo", "seed", "--config",
                               str(config), "--count", "60", *extra], capture_output=True,
                              text=True, timeout=120, cwd=ROOT, env={**os.environ, **env_off})

    first = seed("--seed", "5")
    assert first.returncode == 0, first.stderr
    assert "demo issues (a year, seed 5)" in first.stdout and "leader (leader)" in first.stdout
    second = seed("--seed", "5")
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout
