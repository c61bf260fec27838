"""The replica service on SQLite with a fake clock, without NATS: what it does with each
incoming event (apply, duplicate, gap and repair, refusal, an issue this node owns)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from node.app.probes import Stage
from node.app.replica import Applied, IncomingEvent, Outcome, ReplicaService
from node.domain.calendar import WorkCalendar
from node.domain.issue import Actor, ActorKind, Event, Issue
from node.domain.lifecycle import (
    Assign,
    Command,
    Rules,
    Triage,
    create,
    decide,
    evolve,
    submit,
)
from node.domain.topology import Place
from node.store import migrate, repo
from node.store.db import make_engine
from node.store.eventlog import SqlReplicaRecorder
from node.store.repo import Store
from node.store.schema import replication_marks
from tests.support.clock import FakeClock
from tests.support.data import submit_cmd

PROVINCE, CITY, COUNTY, SIBLING = "330000", "330500", "330522", "330523"
RULES = Rules(calendar=WorkCalendar({}))
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")


CITY_PLACE = Place(code=CITY, ancestors=(PROVINCE,), children=(COUNTY, SIBLING),
                   subtree=(CITY, COUNTY, SIBLING))


class FakeFetch:
    """The gap-repair port: answers from a writer's history, records every call."""

    def __init__(self, history: list[tuple[Event, str]] | None = None,
                 error: Exception | None = None) -> None:
        self.history = history or []
        self.error = error
        self.calls: list[tuple[str, str, int]] = []

    async def __call__(self, peer: str, issue_id: str, after_version: int, /
                       ) -> tuple[Issue, list[tuple[Event, str]]]:
        self.calls.append((peer, issue_id, after_version))
        if self.error is not None:
            raise self.error
        first, *rest = (e for e, _ in self.history)
        issue = create(first)
        for event in rest:
            issue = evolve(issue, event)
        return issue, [(e, w) for e, w in self.history if e.version > after_version]


class History:
    """An issue written at `node`: its events, one command at a time."""

    def __init__(self, node: str, clock: FakeClock, seq: int = 1) -> None:
        self.node = node
        self.clock = clock
        self.issue, first = submit(submit_cmd(), issue_id=f"{node}-{seq:032x}",
                                   number=f"{node}-2026-{seq:06d}", node=node, actor=STAFF,
                                   now=clock.now(), rules=RULES)
        self.events = [first]

    def then(self, command: Command) -> Event:
        event = decide(self.issue, command, actor=STAFF, now=self.clock.now(), rules=RULES)
        self.issue = evolve(self.issue, event)
        self.events.append(event)
        return event

    def message(self, version: int, *, writer: str | None = None,
                writer_seq: int | None = None) -> IncomingEvent:
        return IncomingEvent(event=self.events[version - 1], writer=writer or self.node,
                             writer_seq=version if writer_seq is None else writer_seq,
                             origin=self.node)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path / 'city.sqlite3'}")
    migrate.ensure_schema(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def fetch() -> FakeFetch:
    return FakeFetch()


@pytest.fixture
def city(store: Store, clock: FakeClock, fetch: FakeFetch) -> ReplicaService:
    return ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock, fetch=fetch)


def replica(store: Store, issue_id: str) -> Issue | None:
    with store.read() as conn:
        return repo.load_issue(conn, issue_id)


def county_issue(clock: FakeClock, *steps: Command) -> History:
    history = History(COUNTY, clock)
    for command in steps:
        history.then(command)
    return history


# --------------------------------------------------------------------------- in order


def test_the_next_version_is_applied_and_moves_the_mark(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)))
    assert city.apply(county.message(1)) == Applied(outcome=Outcome.APPLIED)
    assert city.apply(county.message(2)) == Applied(outcome=Outcome.APPLIED)
    assert replica(store, county.issue.id) == county.issue
    assert city.watermark(COUNTY) == 2
    with store.read() as conn:
        [stored] = [s for s in repo.events_of(conn, county.issue.id) if s.event.version == 2]
        updated_at = conn.execute(select(replication_marks.c.updated_at)).scalar_one()
    assert (stored.node, stored.writer_seq) == (COUNTY, 2)
    assert updated_at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)


def test_a_version_already_held_is_a_duplicate_to_acknowledge(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)))
    city.apply(county.message(1))
    city.apply(county.message(2))
    for version in (1, 2):
        result = city.apply(county.message(version))
        assert result.outcome is Outcome.DUPLICATE and result.outcome.settled
    assert replica(store, county.issue.id) == county.issue
    with store.read() as conn:
        assert len(repo.events_of(conn, county.issue.id)) == 2


def test_a_batch_is_one_transaction(
    city: ReplicaService, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)))
    other = History(COUNTY, clock, seq=2)
    fold = city._fold

    def failing(unit: Any, local: Issue | None, m: IncomingEvent) -> Issue:
        if m.event.issue_id == other.issue.id:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return fold(unit, local, m)

    monkeypatch.setattr(city, "_fold", failing)
    with pytest.raises(OperationalError):
        city.apply_many([(county.message(1), COUNTY), (county.message(2), COUNTY),
                         (other.message(1, writer_seq=3), COUNTY)])
    assert replica(store, county.issue.id) is None  # nothing of the batch committed
    assert city.watermark(COUNTY) == 0
    monkeypatch.undo()
    results = city.apply_many([(county.message(1), COUNTY), (county.message(2), COUNTY)])
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    assert replica(store, county.issue.id) == county.issue


# --------------------------------------------------------------------------- gaps


async def test_a_gap_asks_the_fetch_port_and_is_repaired(
    city: ReplicaService, store: Store, clock: FakeClock, fetch: FakeFetch
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)), Assign(department="经信局"))
    fetch.history = [(e, COUNTY) for e in county.events]
    await city.receive(county.message(1))
    assert city.apply(county.message(3)).outcome is Outcome.GAP  # v2 is missing
    result = await city.receive(county.message(3), subject_writer=COUNTY)
    assert fetch.calls == [(COUNTY, county.issue.id, 1)]  # the writer, after what we hold
    assert result.outcome is Outcome.DUPLICATE  # the repair brought v3 along
    assert replica(store, county.issue.id) == county.issue
    assert city.watermark(COUNTY) == 1  # fetched events have no stream position


async def test_an_unrepaired_gap_stays_a_gap_and_changes_nothing(
    store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)), Assign(department="经信局"))
    for fetch in (None, FakeFetch(error=ConnectionError("peer down"))):
        city = ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock, fetch=fetch)
        result = await city.receive(county.message(3))
        assert result == Applied(outcome=Outcome.GAP, detail="unknown issue")
        assert not result.outcome.settled
        assert replica(store, county.issue.id) is None
        if fetch is not None:
            assert fetch.calls == [(COUNTY, county.issue.id, 0)]


async def test_a_gap_of_a_stranger_is_asked_of_the_parent(
    store: Store, clock: FakeClock
) -> None:
    elsewhere = History("330100", clock)  # not a child: its events come via the parent
    elsewhere.then(Triage(tags=("要素保障",)))
    fetch = FakeFetch(error=ConnectionError("parent down"))
    city = ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock, fetch=fetch)
    assert (await city.receive(elsewhere.message(2))).outcome is Outcome.GAP
    assert fetch.calls == [(PROVINCE, elsewhere.issue.id, 0)]


# --------------------------------------------------------------------------- refusals


def test_an_event_not_written_by_the_owner_is_refused(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock, Triage(tags=("要素保障",)))
    city.apply(county.message(1))
    result = city.apply(county.message(2, writer=SIBLING))
    assert result == Applied(outcome=Outcome.REFUSED,
                             detail=f"written by {SIBLING}, but {COUNTY} owns the issue")
    assert not result.outcome.settled
    assert replica(store, county.issue.id) == create(county.events[0])  # still v1
    assert city.watermark(COUNTY) == 1


def test_a_writer_other_than_the_subjects_is_refused(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock)
    result = city.apply(county.message(1), subject_writer=SIBLING)
    assert result == Applied(outcome=Outcome.REFUSED, detail="writer differs from the subject")
    assert replica(store, county.issue.id) is None


def test_a_new_issue_must_come_from_its_owner_and_origin(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    county = county_issue(clock)
    forged = county.message(1, writer=SIBLING)  # the sibling republishes the county's issue
    assert city.apply(forged) == Applied(outcome=Outcome.REFUSED,
                                         detail="a new issue must come from its owner")
    # owner and writer agree, but the issue was minted in another unit's namespace
    payload = {**county.events[0].payload, "owner": SIBLING}
    minted = IncomingEvent(event=dataclasses.replace(county.events[0], payload=payload),
                           writer=SIBLING, writer_seq=1, origin=COUNTY)
    result = city.apply(minted)
    assert result.outcome is Outcome.REFUSED and result.detail.startswith("issue.origin:")
    assert replica(store, county.issue.id) is None


# --------------------------------------------------------------------------- owned here


def test_nothing_from_outside_changes_an_issue_this_node_owns(
    city: ReplicaService, store: Store, clock: FakeClock
) -> None:
    ours = History(CITY, clock)
    with store.write() as conn:  # the city's own issue, as its IssueService writes it
        repo.insert_issue(conn, ours.issue)
        repo.append_event(conn, CITY, ours.events[0], own=True)
    held = ours.issue
    ours.then(Triage(tags=("要素保障",)))  # a v2 the county claims to have written
    result = city.apply(ours.message(2, writer=COUNTY, writer_seq=1))
    assert result == Applied(outcome=Outcome.OWNED, detail="this node owns the issue")
    assert result.outcome.settled  # acknowledged, never applied
    assert replica(store, held.id) == held


# --------------------------------------------------------------------------- probe


class RecordingProbe:
    """The instrumentation seam (node/app/probes.py), remembering what it was told."""

    def __init__(self) -> None:
        self.spans: list[tuple[Stage, tuple[str, ...]]] = []
        self.marks: list[tuple[Stage, tuple[str, ...]]] = []

    @contextmanager
    def _span(self, stage: Stage, keys: Sequence[str]) -> Iterator[None]:
        yield
        self.spans.append((stage, tuple(keys)))

    def timed(self, stage: Stage, keys: Sequence[str] = ()) -> AbstractContextManager[None]:
        return self._span(stage, keys)

    def mark(self, stage: Stage, keys: Sequence[str] = (), *, count: int | None = None
             ) -> None:
        self.marks.append((stage, tuple(keys)))


def test_each_transaction_and_outcome_goes_through_the_probe(
    store: Store, clock: FakeClock
) -> None:
    probe = RecordingProbe()
    city = ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock, probe=probe)
    county = county_issue(clock, Triage(tags=("要素保障",)))
    first, second = (county.message(v).event_id for v in (1, 2))
    city.apply(county.message(1))
    city.apply_many([(county.message(1), COUNTY), (county.message(2), COUNTY)])
    assert probe.spans == [(Stage.REPLICA_APPLY, (first,)),
                           (Stage.REPLICA_APPLY_MANY, (first, second))]
    assert probe.marks == [(Stage.REPLICA_APPLIED, (first,)),
                           (Stage.REPLICA_DUPLICATE, (first,)),
                           (Stage.REPLICA_APPLIED, (second,))]
