"""The store, through the service layer, on SQLite and on a real PostgreSQL.

Every test here runs once per backend (the `db_url` fixture is parametrised).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select, text

from node.domain.errors import Conflict, DomainError, IllegalTransition, ValidationError
from node.domain.issue import Rating, State
from node.domain.lifecycle import Assign, Rate, Reject, Resolve, Start, Triage, Urge
from node.domain.summary import Summary
from node.runtime import Node
from node.store import migrate, repo
from node.store.schema import (
    events,
    issue_tags,
    issues,
    managed_name,
    metadata,
    summary_counts,
)
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, STAFF, submit_cmd

LEADER = STAFF["leader"]


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _context(conn: Connection) -> MigrationContext:
    """Alembic's view of the database, without the tables the metadata does not describe
    (SQLite's FTS5 search table and its shadow tables: schema.managed_name)."""
    return MigrationContext.configure(conn, opts={"include_name": managed_name})


def test_migrated_schema_matches_the_tables(node: Node) -> None:
    # the node created its tables from the metadata; start over with the migrations
    with node.engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
    migrate.upgrade(node.engine)
    with node.engine.connect() as conn:
        diff = compare_metadata(_context(conn), metadata)
    assert diff == []
    assert migrate.current_revision(node.engine) == migrate.HEAD == migrate.head_revision()


def test_a_fresh_database_is_created_at_head_and_then_left_alone(node: Node) -> None:
    assert migrate.current_revision(node.engine) == migrate.HEAD
    assert migrate.ensure_schema(node.engine) == "current"
    with node.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        conn.execute(text("ALTER TABLE dead_letters DROP COLUMN resolved_at"))
    assert migrate.ensure_schema(node.engine) == "migrated"  # an older database: Alembic
    with node.engine.connect() as conn:
        assert compare_metadata(_context(conn), metadata) == []


def test_submit_writes_issue_tags_and_one_event_in_one_transaction(node: Node) -> None:
    issue, created = node.services.issues.submit(LEADER, submit_cmd(tags=("要素保障", "用地")))
    assert created and issue.number == "330522-2026-000001"
    with node.engine.connect() as conn:
        stored = repo.events_of(conn, issue.id)
        assert repo.load_issue(conn, issue.number) == issue
    assert [(e.seq, e.event_id, e.event.kind) for e in stored] == [
        (1, f"{issue.id}@1", "submitted")
    ]
    assert count(node.engine, issue_tags) == 2


def test_a_failure_inside_the_transaction_leaves_nothing(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object, **__: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo, "append_event", explode)
    with pytest.raises(RuntimeError):
        node.services.issues.submit(LEADER, submit_cmd())
    monkeypatch.undo()
    assert (count(node.engine, issues), count(node.engine, events)) == (0, 0)
    # the number counter rolled back too: the next issue gets 000001
    issue, _ = node.services.issues.submit(LEADER, submit_cmd())
    assert issue.number.endswith("-000001")


def test_refused_actions_write_nothing(node: Node) -> None:
    issue, _ = node.services.issues.submit(LEADER, submit_cmd())
    with pytest.raises(IllegalTransition):
        node.services.issues.act(LEADER, issue.id, Start())
    with pytest.raises(ValidationError):
        node.services.issues.act(LEADER, issue.id, Triage(tags=("x" * 31,)))
    with pytest.raises(Conflict):
        node.services.issues.act(LEADER, issue.id, Triage(tags=()), expected_version=7)
    with pytest.raises(ValidationError):
        node.services.issues.submit(LEADER, submit_cmd(code="91330522MA2AAAAA10"))
    assert (count(node.engine, issues), count(node.engine, events)) == (1, 1)
    assert node.services.issues.get(LEADER, issue.id).issue == issue


def test_snapshot_round_trips_through_every_column(node: Node, clock: object) -> None:
    svc = node.services.issues
    issue, _ = svc.submit(ENTERPRISE_A, submit_cmd())
    for cmd in (Triage(tags=("a", "b"), board="专班"), Assign(department="经信局"), Start(),
                Urge(), Resolve(reply="已办结，详见回复。")):
        issue = svc.act(LEADER, issue.id, cmd)
    issue = svc.act(ENTERPRISE_A, issue.id, Rate(rating=Rating.UNSATISFIED, comment="未解决"))
    loaded = svc.get(LEADER, issue.number).issue
    assert loaded == issue
    assert loaded.received_at.tzinfo is not None and loaded.received_at.utcoffset() == timedelta(0)
    assert loaded.state is State.REOPENED and loaded.reopen_count == 1
    assert loaded.received_at == issue.received_at.astimezone(UTC)


def _run_threads(n: int, target: Callable[[int], None]) -> list[BaseException]:
    failures: list[BaseException] = []

    def wrapped(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return failures


def test_concurrent_submissions_get_gapless_numbers_and_sequence(node: Node) -> None:
    per_thread, threads = 15, 4

    def work(_: int) -> None:
        for _ in range(per_thread):
            node.services.issues.submit(LEADER, submit_cmd())

    assert _run_threads(threads, work) == []
    total = per_thread * threads
    with node.engine.connect() as conn:
        numbers = sorted(conn.execute(select(issues.c.number)).scalars())
        seqs = sorted(conn.execute(select(events.c.seq)).scalars())
    assert numbers == [f"330522-2026-{i:06d}" for i in range(1, total + 1)]
    assert seqs == list(range(1, total + 1))


def test_concurrent_writers_of_one_issue_serialise(node: Node) -> None:
    issue, _ = node.services.issues.submit(LEADER, submit_cmd())
    per_thread, threads = 10, 3

    def work(_: int) -> None:
        for _ in range(per_thread):
            node.services.issues.act(LEADER, issue.id, Urge())

    assert _run_threads(threads, work) == []
    final = node.services.issues.get(LEADER, issue.id)
    assert final.issue.urge_count == per_thread * threads
    assert [e.event.version for e in final.timeline] == list(range(1, final.issue.version + 1))


def test_the_same_idempotency_key_creates_one_issue_even_concurrently(node: Node) -> None:
    ids: list[str] = []

    def work(_: int) -> None:
        issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd(), idempotency_key="k1")
        ids.append(issue.id)

    assert _run_threads(4, work) == []
    assert len(set(ids)) == 1 and count(node.engine, issues) == 1


def test_events_after_reads_the_log_in_sequence_order(node: Node) -> None:
    first, _ = node.services.issues.submit(LEADER, submit_cmd())
    second, _ = node.services.issues.submit(LEADER, submit_cmd())
    node.services.issues.act(LEADER, first.id, Triage(tags=()))
    with node.engine.connect() as conn:
        log = repo.events_after(conn, 0, 10)
        tail = repo.events_after(conn, 2, 10)
    assert [(e.seq, e.event.issue_id, e.event.version) for e in log] == [
        (1, first.id, 1), (2, second.id, 1), (3, first.id, 2)
    ]
    assert [e.seq for e in tail] == [3]


def test_the_kept_summary_counts_equal_a_scan_of_every_issue(node: Node,
                                                             clock: FakeClock) -> None:
    """The summary is read from counts every issue write keeps (summary_counts) and from
    the running rows; after submits, every kind of action, reopenings and the passing of
    time it must equal the summary of a scan of every issue — and a recount from the rows."""
    from node.app.rollup import Rollup
    from node.domain.summary import summarize, summary_line
    from node.runtime import place_of
    from node.store.eventlog import SqlIssueScan

    svc = node.services.issues
    cal = svc.rules.calendar
    store = repo.Store(node.engine, cal)

    def scanned() -> Summary:
        with node.engine.connect() as conn:
            lines = [summary_line(i, clock.now(), cal) for i in repo.all_issues(conn)]
        return summarize(node.config.node.code, lines, now=clock.now(), by_origin=True)

    def kept() -> Summary:
        return Rollup(SqlIssueScan(store), place_of(node.config), clock, cal,
                      children_send_summaries=False).compute()

    def same(a: Summary, b: Summary) -> None:  # the chain heads are not issue counts
        assert {**a.to_dict(), "chains": {}} == {**b.to_dict(), "chains": {}}

    ids = []
    for i in range(18):
        clock.advance(timedelta(hours=5 * (i % 4)))
        issue, _ = svc.submit(ENTERPRISE_A, submit_cmd(title=f"诉求 {i}"))
        ids.append(issue.id)
        steps: list[object] = [Triage(tags=("要素保障", "用地") if i % 2 else ("融资",)),
                               Assign(department="经信局"), Start(), Resolve(reply="已办结。")]
        for cmd in steps[: i % 5]:
            svc.act(LEADER, issue.id, cmd)  # type: ignore[arg-type]
        if i % 5 == 4:
            rating = Rating.UNSATISFIED if i % 3 == 0 else Rating.SATISFIED
            svc.act(ENTERPRISE_A, issue.id, Rate(rating=rating))  # unsatisfied reopens
        if i % 7 == 2:
            svc.act(LEADER, issue.id, Reject(reason="不属于受理范围"))
    same(kept(), scanned())
    assert kept().total == 18 and kept().sums
    for _ in range(4):  # time passes: lights turn yellow and red, the overdue list fills
        clock.advance(timedelta(days=4))
        svc.act(ENTERPRISE_A, ids[1], Urge())
        same(kept(), scanned())
    assert kept().lights.get("red") and kept().overdue
    # a refused write changes no count
    before = kept()
    with pytest.raises(DomainError):
        svc.act(LEADER, ids[0], Resolve(reply="已办结。"))
    same(kept(), before)
    # a recount from the rows gives the same counts
    with node.engine.connect() as conn:
        counted = sorted(conn.execute(select(summary_counts).where(summary_counts.c.n != 0)))
    with store.write() as conn:
        repo.rebuild_counts(conn)
    with node.engine.connect() as conn:
        assert sorted(conn.execute(select(summary_counts))) == counted
    assert repo.ensure_summary_counts(store) is False  # counted for this version already


def test_every_outbox_kind_fits_its_column(node: Node) -> None:
    """An enterprise's forwarded urge is `enterprise_urge` (15 characters): PostgreSQL
    refused it in a String(10) column until 0024 widened it."""
    from node.app.transfers import DIRECTIVE_KINDS, OWNERSHIP_KINDS
    from node.store.schema import transfers_out

    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    now = node.services.issues.clock.now()
    with node.engine.begin() as conn:
        for seq, kind in enumerate((*OWNERSHIP_KINDS, *DIRECTIVE_KINDS), start=1):
            conn.execute(transfers_out.insert().values(
                transfer_id=f"t{seq}", seq=seq, issue_id=issue.id, kind=kind,
                destination="330500", event={}, status="pending", attempts=0,
                created_at=now))
        kinds = set(conn.execute(select(transfers_out.c.kind)).scalars())
    assert "enterprise_urge" in kinds and len(kinds) == len(OWNERSHIP_KINDS) + len(
        DIRECTIVE_KINDS)
