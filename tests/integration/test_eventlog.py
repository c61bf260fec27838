"""The replication ports' SQL (node/store/eventlog.py) against their contract, on SQLite
and on a real PostgreSQL (the `engine` fixture is parametrised)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from node.app.ports import DeadLetters, EventOutbox, IssueScan, ReplicaRecorder
from node.domain.calendar import WorkCalendar
from node.domain.errors import Conflict
from node.domain.issue import Actor, ActorKind, Event, Issue
from node.domain.lifecycle import Rules, Triage, create, decide, evolve, submit
from node.store import migrate, repo
from node.store.eventlog import SqlDeadLetters, SqlEventOutbox, SqlIssueScan, SqlReplicaRecorder
from node.store.repo import Store
from node.store.schema import dead_letters
from tests.support.clock import FakeClock
from tests.support.data import submit_cmd

CITY, COUNTY = "330500", "330522"
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")
GAP = "gap not repaired"


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    migrate.ensure_schema(engine)
    yield Store(engine)


def issue_of(node: str, seq: int, clock: FakeClock) -> tuple[Issue, list[Event]]:
    rules = Rules(calendar=WorkCalendar({}))
    issue, first = submit(submit_cmd(), issue_id=f"{node}-{seq:032x}",
                          number=f"{node}-2026-{seq:06d}", node=node, actor=STAFF,
                          now=clock.now(), rules=rules)
    triage = decide(issue, Triage(tags=("要素保障",)), actor=STAFF, now=clock.now(),
                    rules=rules)
    return evolve(issue, triage), [first, triage]


def write_own(store: Store, issue: Issue, history: list[Event]) -> None:
    """As the node's IssueService writes its own issue."""
    with store.write() as conn:
        repo.insert_issue(conn, issue)
        for event in history:
            repo.append_event(conn, issue.origin, event, own=True)


# --------------------------------------------------------------------------- replica


def test_a_replica_unit_commits_as_one(store: Store, clock: FakeClock) -> None:
    recorder: ReplicaRecorder = SqlReplicaRecorder(store)
    issue, history = issue_of(COUNTY, 1, clock)
    first = create(history[0])
    with recorder.unit() as unit:
        assert unit.load_issue(issue.id) is None
        assert unit.number_holder(issue.number) is None
        unit.insert_issue(first)
        unit.record_event(COUNTY, history[0], writer_seq=1)
        assert unit.mark(COUNTY) is None
        unit.set_mark(COUNTY, 1, at=clock.now())
    with recorder.unit() as unit:
        assert unit.load_issue(issue.id) == first
        assert unit.number_holder(issue.number) == issue.id
        unit.update_issue(issue, expected_version=1)
        unit.record_event(COUNTY, history[1], writer_seq=2)
        unit.set_mark(COUNTY, 2, at=clock.now() + timedelta(seconds=1))
        assert unit.mark(COUNTY) == 2
    assert recorder.version_of(issue.id) == 2
    assert recorder.version_of("330522-unknown") == 0
    assert (recorder.watermark(COUNTY), recorder.watermark(CITY)) == (2, 0)
    with store.read() as conn:
        stored = repo.events_of(conn, issue.id)
    assert [(s.node, s.writer_seq, s.event) for s in stored] == [
        (COUNTY, 1, history[0]), (COUNTY, 2, history[1])]
    assert SqlEventOutbox(store).pending(10) == []  # replicated: never published again


def test_a_replica_unit_that_raises_leaves_nothing(store: Store, clock: FakeClock) -> None:
    recorder = SqlReplicaRecorder(store)
    issue, history = issue_of(COUNTY, 1, clock)
    with pytest.raises(RuntimeError), recorder.unit() as unit:
        unit.insert_issue(create(history[0]))
        unit.record_event(COUNTY, history[0], writer_seq=1)
        unit.set_mark(COUNTY, 1, at=clock.now())
        raise RuntimeError("the batch's next event failed")
    assert recorder.version_of(issue.id) == 0
    assert recorder.watermark(COUNTY) == 0


def test_a_replica_update_checks_the_version(store: Store, clock: FakeClock) -> None:
    recorder = SqlReplicaRecorder(store)
    issue, history = issue_of(COUNTY, 1, clock)
    with recorder.unit() as unit:
        unit.insert_issue(create(history[0]))
    with pytest.raises(Conflict), recorder.unit() as unit:
        unit.update_issue(issue, expected_version=2)
    assert recorder.version_of(issue.id) == 1


# --------------------------------------------------------------------------- outbox


def test_the_outbox_hands_out_own_events_in_writer_order(
    store: Store, clock: FakeClock
) -> None:
    outbox: EventOutbox = SqlEventOutbox(store)
    a, a_history = issue_of(COUNTY, 1, clock)
    b, b_history = issue_of(COUNTY, 2, clock)
    write_own(store, a, a_history)
    write_own(store, b, b_history)
    pending = outbox.pending(3)
    assert [(s.event.issue_id, s.event.version, s.writer_seq, origin)
            for s, origin in pending] == [(a.id, 1, 1, COUNTY), (a.id, 2, 2, COUNTY),
                                          (b.id, 1, 3, COUNTY)]
    assert pending[0][0].event_id == f"{a.id}@1"
    assert outbox.published_through(COUNTY) == 0
    outbox.mark_published([s.seq for s, _ in pending])
    assert [s.writer_seq for s, _ in outbox.pending(10)] == [4]
    assert outbox.published_through(COUNTY) == 3
    # reconciliation: the parent has only applied through 1
    assert outbox.republish_after(COUNTY, 1) == 2
    assert [s.writer_seq for s, _ in outbox.pending(10)] == [2, 3, 4]
    assert outbox.published_through(COUNTY) == 1
    assert outbox.republish_after(CITY, 0) == 0


# --------------------------------------------------------------------------- dead letters


def test_dead_letters_park_once_and_settle(store: Store, clock: FakeClock) -> None:
    box: DeadLetters = SqlDeadLetters(store)
    stream = f"ZT_IN_{CITY}"
    subject = f"zt.{COUNTY}.ev.{COUNTY}.{COUNTY}-x"
    box.park(stream=stream, stream_seq=7, subject=subject, error=f"{GAP}: unknown issue",
             data='{"a": 1}', at=clock.now())
    box.park(stream=stream, stream_seq=7, subject=subject, error="refused: again",
             data="{}", at=clock.now())  # the same message redelivered: kept once
    box.park(stream=stream, stream_seq=8, subject="s" * 300, error="e" * 3000, data="{}",
             at=clock.now())  # longer than the columns: cut
    box.park(stream=stream, stream_seq=9, subject=subject, error=f"{GAP}: have v1, got v3",
             data="{}", at=clock.now())
    assert box.waiting() == 3
    parked = box.parked(GAP, 10)
    assert [(s, d) for _, s, d in parked] == [(subject, '{"a": 1}'), (subject, "{}")]
    assert [row for row in box.parked(GAP, 1)] == parked[:1]  # oldest first
    assert box.parked("gap_not", 10) == []  # a prefix, not a pattern
    first, second = parked[0][0], parked[1][0]
    box.resolve(first, at=clock.now())
    box.refuse(second, "refused: " + "x" * 3000)
    assert box.parked(GAP, 10) == []
    assert box.waiting() == 2  # a refusal still waits for an operator
    with store.read() as conn:
        rows = {r.stream_seq: r for r in conn.execute(select(dead_letters))}
        assert len(rows[8].subject) == 200 and len(rows[8].error) == 2000
        assert len(rows[9].error) == 2000 and rows[9].error.startswith("refused: x")
        assert rows[7].resolved_at is not None and rows[7].error.startswith(GAP)
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar() == 3


# --------------------------------------------------------------------------- summaries


def test_the_issue_scan_reads_the_kept_summary_counts(store: Store, clock: FakeClock) -> None:
    scan: IssueScan = SqlIssueScan(store)
    a, a_history = issue_of(COUNTY, 1, clock)
    b, b_history = issue_of(CITY, 2, clock)
    write_own(store, a, a_history)
    write_own(store, b, b_history)
    with scan.read() as view:
        parts = view.summary_parts(clock.now())
    assert sorted(parts) == sorted({COUNTY, CITY})
    assert all(part.counts["total"] == 1 for part in parts.values())
