"""The metrics and the summaries' 重发复发率 from kept counts equal the scan of every issue.

node/store/metric_counts.py keeps per-group counts in every issue write; the cockpit's
metrics (IssueService.metrics) and the summary (repo.summary_parts) read them. Over random
histories — submits by several enterprises, every kind of action, reopenings, rejections,
and months of time passing so that recurrence windows end — they must equal the reference
folds over every issue (`metrics_by_scan` = node.domain.metrics.compute_metrics,
node.domain.summary.summarize), on SQLite and on PostgreSQL; and a recount from the rows
(the migration's backfill) gives the same figures again.
"""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.app.policy import Principal, Role
from node.domain.errors import DomainError
from node.domain.issue import Channel, Rating
from node.domain.lifecycle import (
    Assign,
    Close,
    Rate,
    Reject,
    Resolve,
    ReviewRejection,
    Start,
    Triage,
    Urge,
)
from node.domain.summary import Summary, summarize, summary_line
from node.domain.validation import make_credit_code
from node.runtime import Node, place_of
from node.store import metric_counts, repo
from node.store.schema import issues as issues_table
from node.store.schema import metric_counts as metric_counts_table
from tests.support.clock import FakeClock
from tests.support.data import STAFF, submit_cmd

LEADER = STAFF["leader"]
LEADER_ADMIN = STAFF["admin"]  # imports are an admin's
CODES = [make_credit_code(f"91330522MA2{c * 5}{i}") for i, c in enumerate("CDE", start=3)]
FIRMS = [Principal(username=code, role=Role.ENTERPRISE, display_name=f"企业{i}",
                   credit_code=code) for i, code in enumerate(CODES)]
TAGS = ("用电", "融资", "用地")


def _scanned_summary(node: Node, clock: FakeClock) -> Summary:
    cal = node.services.issues.rules.calendar
    with node.engine.connect() as conn:
        lines = [summary_line(i, clock.now(), cal) for i in repo.all_issues(conn)]
    return summarize(node.config.node.code, lines, now=clock.now(), by_origin=True)


def _kept_summary(node: Node, clock: FakeClock) -> Summary:
    from node.app.rollup import Rollup
    from node.store.eventlog import SqlIssueScan

    cal = node.services.issues.rules.calendar
    return Rollup(SqlIssueScan(repo.Store(node.engine, cal)), place_of(node.config), clock,
                  cal, children_send_summaries=False).compute()


def _same(node: Node, clock: FakeClock) -> dict[str, Any]:
    svc = node.services.issues
    kept, scanned = svc.metrics(LEADER).to_dict(), svc.metrics_by_scan(LEADER).to_dict()
    assert kept == scanned
    a, b = _kept_summary(node, clock), _scanned_summary(node, clock)
    assert {**a.to_dict(), "chains": {}} == {**b.to_dict(), "chains": {}}
    return kept


def _history(node: Node, clock: FakeClock, rng: random.Random, steps: int) -> list[str]:
    svc = node.services.issues
    ids: list[str] = []
    firm_of: dict[str, int] = {}
    for step in range(steps):
        roll = rng.random()
        if roll < 0.08:
            clock.advance(timedelta(days=rng.choice((3, 20, 45, 95))))
        elif roll < 0.3 or not ids:
            k = rng.randrange(len(FIRMS))
            if rng.random() < 0.5:
                issue, _ = svc.submit(FIRMS[k], submit_cmd(CODES[k], title=f"诉求 {step}"))
            else:  # staff take it on the phone, tagged at intake
                tags = tuple(rng.sample(TAGS, rng.randint(0, 2)))
                issue, _ = svc.submit(LEADER, submit_cmd(
                    CODES[k], title=f"诉求 {step}", channel=Channel.HOTLINE_12345,
                    tags=tags))
            ids.append(issue.id)
            firm_of[issue.id] = k
        else:
            issue_id = rng.choice(ids)
            firm = FIRMS[firm_of[issue_id]]
            actions: list[tuple[Principal, object]] = [
                (LEADER, Triage(tags=tuple(rng.sample(TAGS, rng.randint(1, 2))),
                                board=rng.choice((None, "政策板块")))),
                (LEADER, Assign(department=rng.choice(("经信局", "住建局")))),
                (LEADER, Start()),
                (LEADER, Resolve(reply="已办结。")),
                (firm, Rate(rating=rng.choice(list(Rating)))),
                (LEADER, Close()),
                (LEADER, Reject(reason="不属于受理范围")),
                (LEADER, ReviewRejection(confirm=rng.random() < 0.7)),
                (firm, Urge()),
            ]
            # mostly the first step its state allows (the lifecycle moves on), else anything
            tried = actions[5::-1] if rng.random() < 0.8 else [rng.choice(actions)]
            clock.advance(timedelta(hours=rng.randint(1, 60)))
            for who, cmd in tried:
                try:
                    svc.act(who, issue_id, cmd)  # type: ignore[arg-type]
                    break
                except DomainError:
                    pass  # not allowed in its state: a random history tries anything
    return ids


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_metrics_equal_the_scan_over_random_histories(node: Node, clock: FakeClock,
                                                           seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(4):
        _history(node, clock, rng, 60)
        _same(node, clock)
    figures = _same(node, clock)
    assert figures["overall"]["total"] > 0
    # time passes with no write: windows end, the sample grows; reads still agree
    for days in (30, 60, 100):
        clock.advance(timedelta(days=days))
        figures = _same(node, clock)
    closed = figures["overall"]["counts_by_state"]["closed"]
    assert closed and figures["overall"]["recurrence_sample"] > 0, figures["overall"]
    assert figures["overall"]["recurred"] > 0, figures["overall"]
    # the watermark moves (node start): same figures; a recount from the rows: the same
    with node.services.issues.store.store.write() as conn:  # type: ignore[attr-defined]
        metric_counts.advance(conn, clock.now())
    assert _same(node, clock) == figures
    with node.engine.connect() as conn:
        before = sorted(conn.execute(select(metric_counts_table)
                                     .where(metric_counts_table.c.key != metric_counts.MATURED,
                                            metric_counts_table.c.n != 0)))
    with node.services.issues.store.store.write() as conn:  # type: ignore[attr-defined]
        metric_counts.rebuild(conn, window=timedelta(days=90), now=clock.now())
    with node.engine.connect() as conn:
        after = sorted(conn.execute(select(metric_counts_table)
                                    .where(metric_counts_table.c.key != metric_counts.MATURED,
                                           metric_counts_table.c.n != 0)))
    assert after == before
    assert _same(node, clock) == figures
    # the clock going back before the watermark: still exact
    clock.advance(timedelta(days=-50))
    _same(node, clock)


def test_a_failed_write_leaves_no_count(node: Node, clock: FakeClock) -> None:
    svc = node.services.issues
    issue, _ = svc.submit(FIRMS[0], submit_cmd(CODES[0]))
    before = svc.metrics(LEADER).to_dict()
    with pytest.raises(DomainError):
        svc.act(LEADER, issue.id, Resolve(reply="已办结。"))  # not triaged yet
    assert svc.metrics(LEADER).to_dict() == before
    svc.act(LEADER, issue.id, Triage(tags=("用电",)))
    after = _same(node, clock)
    assert after["overall"]["top_tags"] == [{"tag": "用电", "count": 1}]


def test_the_migrations_backfill_equals_the_kept_counts(node: Node, clock: FakeClock) -> None:
    """Migration 0030 on a store of issues written before it: the same metrics."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from node.store import migrate
    from node.store.schema import managed_name, metadata

    _history(node, clock, random.Random(7), 120)
    clock.advance(timedelta(days=120))
    figures = _same(node, clock)
    with node.engine.begin() as conn:
        for table in ("metric_counts", "metric_facts"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DELETE FROM store_meta WHERE name LIKE 'metric_%'"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0029'"))
    migrate.upgrade(node.engine, "0030")
    with node.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(
            conn, opts={"include_name": managed_name}), metadata)
    assert [d for d in diff if "metric_" in repr(d)] == []
    assert _same(node, clock) == figures  # no watermark yet: the read counts every window
    with node.services.issues.store.store.write() as conn:  # type: ignore[attr-defined]
        metric_counts.advance(conn, clock.now())  # the next start
    assert _same(node, clock) == figures


@pytest.mark.parametrize("seed", [5, 6])
def test_an_import_a_set_write_keeps_the_same_counts(node: Node, clock: FakeClock,
                                                     seed: int) -> None:
    """An import writes its batch as one set (MetricsProjection.issues_written: old rows
    read together, one executemany each): the kept counts equal the scan after it, and
    after a second import that recurs some of the first one's issues."""
    from node.app.imports import Table
    from node.domain.validation import make_credit_code
    from tests.support.imports import closed_row

    assert node.services.imports is not None
    rng = random.Random(seed)
    codes = [make_credit_code(f"91330522MA2C0000{i}") for i in range(3)]
    tags = ["要素保障、用电", "用地", "惠企政策、用电"]

    def rows(prefix: str, month: int) -> Table:
        out = []
        for i in range(30):
            day = rng.randint(1, 20)
            out.append((i + 2, closed_row(
                f"{prefix}{i}", credit_code=rng.choice(codes), tags=rng.choice(tags),
                received_at=f"2025-{month:02d}-{day:02d} 10:00",
                triaged_at=f"2025-{month:02d}-{day:02d} 15:00",
                assigned_at=f"2025-{month:02d}-{day + 1:02d} 09:00",
                resolved_at=f"2025-{month:02d}-{day + 3:02d} 17:00",
                closed_at=f"2025-{month:02d}-{day + 4:02d} 10:00")))
        return Table(rows=out)

    node.services.imports.service.batch = 7  # several sets, each of several issues
    assert node.services.imports.service.run(LEADER_ADMIN, rows("A", 3)).written == 30
    _same(node, clock)
    assert node.services.imports.service.run(LEADER_ADMIN, rows("B", 4)).written == 30
    kept = _same(node, clock)
    overall = kept["overall"]
    assert overall["recurrence_sample"] > 0 and overall["recurred"] > 0  # it was exercised


@pytest.mark.parametrize("seed", [7, 8])
def test_a_set_write_of_changed_issues_keeps_the_same_counts(node: Node, clock: FakeClock,
                                                             seed: int) -> None:
    """A set write of existing issues (a replica's batch at a city: repo.update_issues)
    goes through MetricsProjection.issues_written's batched path: every issue's snapshot
    is written back to an earlier one and forward again, each as one set, and the kept
    counts equal the scan after each."""
    rng = random.Random(seed)
    _history(node, clock, rng, 80)
    store = node.services.issues.store.store  # type: ignore[attr-defined]
    with node.engine.connect() as conn:
        ids = list(conn.execute(select(issues_table.c.id)).scalars())
        earlier = {i.id: i for i in repo.issues_by_ids(conn, ids)}
    svc = node.services.issues
    for issue_id in ids:  # each moves on a step or two, or is urged
        clock.advance(timedelta(hours=rng.randint(1, 30)))
        for cmd in rng.sample([Triage(tags=tuple(rng.sample(TAGS, 1))), Start(), Urge(),
                               Resolve(reply="已办结。"), Close()], 3):
            with contextlib.suppress(DomainError):  # not allowed in its state
                svc.act(LEADER, issue_id, cmd)  # type: ignore[arg-type]
    with node.engine.connect() as conn:
        later = {i.id: i for i in repo.issues_by_ids(conn, ids)}
    moved = [i for i in ids if later[i] != earlier[i]]
    assert len(moved) > 5  # the second history changed several of them
    with store.write() as conn:
        repo.update_issues(conn, [(earlier[i], later[i]) for i in moved])
    _same(node, clock)
    with store.write() as conn:
        repo.update_issues(conn, [(later[i], earlier[i]) for i in moved])
    figures = _same(node, clock)
    assert figures["overall"]["recurrence_sample"] > 0
