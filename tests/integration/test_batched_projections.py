"""The projections of a set write (an envelope accepted or recorded, a replica's batch) told
of the set at once (repo.events_projected): the audit trail writes its records in one
multi-row insert, the notification outbox finds each event's snapshot without reading the
issue back — the same rows as one call per event, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from node.domain.audit import AuditRecord, check_record
from node.domain.calendar import WorkCalendar
from node.domain.chain import GENESIS, audit_link
from node.domain.issue import Actor, ActorKind, Event, Issue
from node.domain.lifecycle import Rules, Triage, decide, evolve, submit
from node.domain.notifications import NotifyRules
from node.store import audit, migrate, outbox, repo
from node.store.audit import AuditTrail
from node.store.db import make_engine
from node.store.notifications import NotificationProjection
from node.store.repo import Store
from node.store.schema import audit_log, notifications
from tests.support.clock import FakeClock
from tests.support.data import submit_cmd

COUNTY = "330522"
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")
RULES = Rules(calendar=WorkCalendar({}))


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    migrate.ensure_schema(engine)
    yield Store(engine, calendar=RULES.calendar)


@pytest.fixture
def statements(engine: Engine) -> Iterator[Counter[str]]:
    """Statement texts executed on `engine` (an executemany counts once), by first words."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen[" ".join(statement.split()[:4])] += 1

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def submitted(seq: int, clock: FakeClock) -> tuple[Issue, Event, Issue, Event]:
    """A county issue submitted and triaged by staff: (after submit, its event, after
    triage, its event)."""
    issue, first = submit(submit_cmd(), issue_id=f"{COUNTY}-{seq:032x}",
                          number=f"{COUNTY}-2026-{seq:06d}", node=COUNTY, actor=STAFF,
                          now=clock.now(), rules=RULES)
    triage = decide(issue, Triage(tags=("要素保障",)), actor=STAFF, now=clock.now(),
                    rules=RULES)
    return issue, first, evolve(issue, triage), triage


def record(n: int, clock: FakeClock) -> AuditRecord:
    return AuditRecord(at=clock.now(), actor="staff:dispatcher", action="issue.triaged",
                       target_kind="issue", target_id=f"{COUNTY}-{n:032x}",
                       detail={"n": n})


def audit_rows(store: Store) -> list[tuple[int, str, str]]:
    with store.read() as conn:
        return [(int(r.seq), str(r.target_id), str(r.chain)) for r in conn.execute(
            select(audit_log.c.seq, audit_log.c.target_id, audit_log.c.chain)
            .where(audit_log.c.writer == COUNTY).order_by(audit_log.c.seq))]


def test_records_appended_as_a_set_are_the_ones_appended_one_by_one(
        store: Store, clock: FakeClock) -> None:
    """One record, then three as a set, then one more: seqs 1..5 without a gap, each
    linked to the one before it exactly as `append_in` links it, and the log verifies."""
    with store.write() as conn:
        audit.append_in(conn, COUNTY, record(1, clock))
    with store.write() as conn:
        stored = audit.append_many_in(conn, COUNTY, [record(n, clock) for n in (2, 3, 4)])
        assert audit.append_many_in(conn, COUNTY, []) == []
    with store.write() as conn:
        audit.append_in(conn, COUNTY, record(5, clock))
    rows = audit_rows(store)
    assert [seq for seq, _, _ in rows] == [1, 2, 3, 4, 5]
    assert [s.seq for s in stored] == [2, 3, 4]
    previous = GENESIS
    for (seq, _, chain), n in zip(rows, range(1, 6), strict=True):
        previous = audit_link(previous, COUNTY, seq, check_record(record(n, clock)))
        assert chain == previous
    assert [s.chain for s in stored] == [chain for _, _, chain in rows[1:4]]
    with store.read() as conn:
        assert audit.verify_audit_log(conn) == [(COUNTY, 5, None)]


def test_a_set_of_staff_events_is_audited_with_one_insert(
        store: Store, clock: FakeClock, statements: Counter[str]) -> None:
    store.projections.append(AuditTrail(store, COUNTY))
    made = [submitted(n, clock) for n in range(1, 5)]
    with store.write() as conn:
        repo.insert_issues(conn, [after for _, _, after, _ in made])
        statements.clear()
        outbox.append_events(conn, [(COUNTY, e, True) for _, first, _, triage in made
                                    for e in (first, triage)])
    assert statements["INSERT INTO audit_log (writer,"] == 1
    rows = audit_rows(store)
    assert [seq for seq, _, _ in rows] == list(range(1, 9))
    assert [target for _, target, _ in rows] == [
        issue.id for issue, _, _, _ in made for _ in (1, 2)]
    with store.read() as conn:
        assert audit.verify_audit_log(conn) == [(COUNTY, 8, None)]


def notices(store: Store) -> list[tuple[str, str, str]]:
    with store.read() as conn:
        return [(str(r.key), str(r.topic), str(r.issue_id)) for r in conn.execute(
            select(notifications.c.key, notifications.c.topic, notifications.c.issue_id)
            .order_by(notifications.c.key))]


def test_notices_of_a_set_write_are_those_of_one_write_at_a_time(
        engine: Engine, tmp_path: Path, clock: FakeClock,
        statements: Counter[str]) -> None:
    """The set write's notices equal the per-event path's, and the projection reads no
    issue back (it has every event's snapshot from issues_written)."""
    migrate.ensure_schema(engine)
    by_set = Store(engine, calendar=RULES.calendar)
    by_set.projections.append(NotificationProjection(NotifyRules(), COUNTY))
    made = [submitted(n, clock) for n in range(1, 4)]
    with by_set.write() as conn:
        repo.insert_issues(conn, [issue for issue, _, _, _ in made])
        outbox.append_events(conn, [(COUNTY, first, True) for _, first, _, _ in made])
    with by_set.write() as conn:
        repo.update_issues(conn, [(after, issue) for issue, _, after, _ in made])
        statements.clear()
        outbox.append_events(conn, [(COUNTY, triage, True) for _, _, _, triage in made])
    assert not [s for s in statements if s.startswith("SELECT issues.")]
    got = notices(by_set)
    assert got  # a receipt per submitted issue at least
    one_url = f"sqlite:///{tmp_path / 'one-by-one.sqlite3'}"
    one_engine = make_engine(one_url)
    try:
        migrate.ensure_schema(one_engine)
        one = Store(one_engine, calendar=RULES.calendar)
        one.projections.append(NotificationProjection(NotifyRules(), COUNTY))
        for issue, first, after, triage in made:
            with one.write() as conn:
                repo.insert_issue(conn, issue)
                repo.append_event(conn, COUNTY, first, own=True)
            with one.write() as conn:
                repo.update_issue(conn, after, expected_version=issue.version)
                repo.append_event(conn, COUNTY, triage, own=True)
        assert notices(one) == got
    finally:
        one_engine.dispose()
