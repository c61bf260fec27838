"""The replica's batch path (ReplicaService.apply_many: one transaction, each table read and
written by set) against the same events applied one at a time (ReplicaService.apply), on
SQLite and PostgreSQL: the outcomes and every row the replica keeps must be the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from node.app.replica import CHAIN_BROKEN, Applied, IncomingEvent, Outcome, ReplicaService
from node.domain.calendar import WorkCalendar
from node.domain.chain import GENESIS, link
from node.domain.errors import Conflict
from node.domain.issue import Actor, ActorKind, Event, Issue
from node.domain.lifecycle import (
    Assign,
    Command,
    Resolve,
    Rules,
    Start,
    Triage,
    decide,
    evolve,
    submit,
)
from node.domain.topology import Place
from node.store import migrate, repo
from node.store.db import make_engine
from node.store.eventlog import SqlReplicaRecorder
from node.store.repo import Store
from node.store.schema import (
    counters,
    events,
    issue_counts,
    issue_search,
    issue_tags,
    issues,
    replication_marks,
    summary_counts,
)
from node.store.search import SearchProjection
from tests.support.clock import FakeClock
from tests.support.data import submit_cmd
from tests.support.pg import fresh_database

PROVINCE, CITY, COUNTY, SIBLING = "330000", "330500", "330522", "330523"
RULES = Rules(calendar=WorkCalendar({}))
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")
CITY_PLACE = Place(code=CITY, ancestors=(PROVINCE,), children=(COUNTY, SIBLING),
                   subtree=(CITY, COUNTY, SIBLING))
TABLES = (issues, events, issue_counts, summary_counts, issue_tags, replication_marks,
          counters)


class Writer:
    """A unit writing issues: its stream (writer_seq) and hash chain over all of them."""

    def __init__(self, code: str, clock: FakeClock) -> None:
        self.code = code
        self.clock = clock
        self.seq = 0
        self.head = GENESIS
        self.issues: dict[str, Issue] = {}

    def _out(self, event: Event) -> IncomingEvent:
        self.seq += 1
        self.head = link(self.head, repo.chained(self.code, self.seq, event))
        return IncomingEvent(event=event, writer=self.code, writer_seq=self.seq,
                             origin=self.code, chain=self.head)

    def new(self, n: int, tags: tuple[str, ...] = ()) -> tuple[str, IncomingEvent]:
        issue, event = submit(submit_cmd(tags=tags), issue_id=f"{self.code}-{n:032x}",
                              number=f"{self.code}-2026-{n:06d}", node=self.code,
                              actor=STAFF, now=self.clock.now(), rules=RULES)
        self.issues[issue.id] = issue
        return issue.id, self._out(event)

    def then(self, issue_id: str, command: Command) -> IncomingEvent:
        self.clock.advance(timedelta(minutes=7))
        issue = self.issues[issue_id]
        event = decide(issue, command, actor=STAFF, now=self.clock.now(), rules=RULES)
        self.issues[issue_id] = evolve(issue, event)
        return self._out(event)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two fresh databases on the same backend: one-by-one, batched."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / f'{name}.sqlite3'}" for name in ("single", "batch")]
    else:
        admin_url: str = request.getfixturevalue("pg_admin_url")
        urls = [fresh_database(admin_url), fresh_database(admin_url)]
    made = [make_engine(url) for url in urls]
    for engine in made:
        migrate.ensure_schema(engine)
    yield made[0], made[1]
    for engine in made:
        engine.dispose()


def city_of(engine: Engine, clock: FakeClock) -> tuple[Store, ReplicaService]:
    store = Store(engine, calendar=RULES.calendar)
    store.projections.append(SearchProjection())
    return store, ReplicaService(SqlReplicaRecorder(store), CITY_PLACE, clock)


def rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the replica keeps, per table, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.read() as conn:
        for table in TABLES:
            out[table.name] = sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
        out["issue_search"] = sorted(
            (tuple(r) for r in conn.execute(select(issue_search.c.issue_id,
                                                   issue_search.c.source))), key=repr)
    return out


def own_issue(store: Store, clock: FakeClock) -> Issue:
    """An issue the city owns (nothing from outside may change it)."""
    issue, event = submit(submit_cmd(), issue_id=f"{CITY}-{1:032x}", number=f"{CITY}-2026-000001",
                          node=CITY, actor=STAFF, now=clock.now(), rules=RULES)
    with store.write() as conn:
        repo.insert_issue(conn, issue)
        repo.append_event(conn, CITY, event, own=True)
    return issue


def prepare(store: Store, city: ReplicaService, history: list[IncomingEvent]) -> None:
    for m in history:
        assert city.apply(m, subject_writer=m.writer).outcome is Outcome.APPLIED


def test_a_mixed_batch_gives_the_store_of_one_event_at_a_time(
        engines: tuple[Engine, Engine]) -> None:
    clock = FakeClock()
    county, sibling = Writer(COUNTY, clock), Writer(SIBLING, clock)
    # held before the batch: two county issues (one of them triaged), one of the sibling's
    a, a1 = county.new(1, tags=("要素保障",))
    b, b1 = county.new(2)
    b2 = county.then(b, Triage(tags=("政策咨询",)))
    s, s1 = sibling.new(1)
    history = [a1, b1, b2, s1]

    # the batch, in stream order per writer
    c, c1 = county.new(3, tags=("用地",))  # new, then moved on twice in the same batch
    c2 = county.then(c, Triage(tags=("用地", "审批")))
    c3 = county.then(c, Assign(department="自然资源局"))
    a2 = county.then(a, Triage(tags=("融资",)))  # a held issue, retagged
    b3 = county.then(b, Assign(department="经信局"))  # state changes: counted elsewhere
    b4 = county.then(b, Start())
    d, d1 = county.new(4)
    d2 = county.then(d, Triage(tags=("人才",)))
    # d3 is lost on its way: d4 is a gap (and so is every later event of d)
    county.then(d, Assign(department="人社局"))
    d4 = county.then(d, Start())
    e, e1 = county.new(5)
    forged_e2 = dataclasses.replace(county.then(e, Triage(tags=("伪造",))), chain="0" * 64)
    _, f1 = county.new(6)  # after the break: its previous link is not held, not checked
    s2 = sibling.then(s, Triage(tags=("税务",)))
    _, s_new1 = sibling.new(2)
    wrong_writer = dataclasses.replace(county.then(b, Resolve(reply="已办结")), writer=SIBLING)

    store_1, city_1 = city_of(engines[0], clock)
    store_n, city_n = city_of(engines[1], clock)
    for store, city in ((store_1, city_1), (store_n, city_n)):
        prepare(store, city, history)
        own = own_issue(store, clock)
    # the sibling claims to have written the city's own issue
    owned = decide(own, Triage(tags=("越权",)), actor=STAFF, now=clock.now(), rules=RULES)
    claimed = IncomingEvent(event=owned, writer=SIBLING, writer_seq=None, origin=CITY)
    batch: list[tuple[IncomingEvent, str | None]] = [
        (c1, COUNTY), (a1, COUNTY),  # a duplicate of a held event
        (c2, COUNTY), (c3, COUNTY), (c2, COUNTY),  # a duplicate in the batch
        (a2, COUNTY), (b3, COUNTY), (b4, COUNTY), (s2, SIBLING),
        (d1, COUNTY), (d2, COUNTY), (d4, COUNTY),  # a gap
        (e1, COUNTY), (forged_e2, COUNTY),  # a chain break: the link before is in the batch
        (f1, COUNTY), (s_new1, COUNTY),  # refused: the subject names another writer
        (wrong_writer, SIBLING),  # refused: not written by the owner
        (claimed, SIBLING),  # owned here
        (s_new1, SIBLING),
    ]
    one_by_one = [city_1.apply(m, subject_writer=w) for m, w in batch]
    batched = city_n.apply_many(batch)
    assert batched == one_by_one
    outcomes = [r.outcome for r in batched]
    ap, du, gap, ref, ours = (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.GAP,
                              Outcome.REFUSED, Outcome.OWNED)
    assert outcomes == [ap, du, ap, ap, du, ap, ap, ap, ap, ap, ap, gap, ap, ref, ap, ref, ref,
                        ours, ap]
    assert batched[13].detail.startswith(CHAIN_BROKEN)
    assert batched[15] == Applied(outcome=Outcome.REFUSED,
                                  detail="writer differs from the subject")
    held = rows(store_n)
    assert held == rows(store_1)
    # and what the batch wrote is what the writers hold
    with store_n.read() as conn:
        for writer in (county, sibling):
            for issue_id, issue in writer.issues.items():
                if issue_id not in (d, e, b):  # d and e stopped at the gap and the break
                    assert repo.load_issue(conn, issue_id) == issue
    assert city_n.watermark(COUNTY) == 11  # d4 (seq 12) is a gap: the mark stops before
    assert city_n.watermark(SIBLING) == 3
    assert len(held["issue_search"]) == 9  # every issue held is indexed once


def test_a_batch_of_a_thousand_new_and_updated_issues_matches_one_at_a_time(
        engines: tuple[Engine, Engine]) -> None:
    clock = FakeClock()
    county = Writer(COUNTY, clock)
    batch: list[tuple[IncomingEvent, str | None]] = []
    for n in range(1, 401):
        issue_id, first = county.new(n, tags=("要素保障",) if n % 2 else ())
        batch.append((first, COUNTY))
        if n % 3 == 0:
            batch.append((county.then(issue_id, Triage(tags=(f"标签{n % 7}",))), COUNTY))
    store_1, city_1 = city_of(engines[0], clock)
    store_n, city_n = city_of(engines[1], clock)
    one_by_one = [city_1.apply(m, subject_writer=w) for m, w in batch]
    batched = [r for lo in range(0, len(batch), 256)
               for r in city_n.apply_many(batch[lo:lo + 256])]
    assert batched == one_by_one
    assert {r.outcome for r in batched} == {Outcome.APPLIED}
    assert rows(store_n) == rows(store_1)
    assert city_n.watermark(COUNTY) == len(batch)


def test_a_write_that_fails_rolls_the_whole_batch_back(
        engines: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    """A conflict in the set-based update (someone moved an issue meanwhile) raises: nothing
    of the batch stays, and the caller goes one message at a time."""
    clock = FakeClock()
    county = Writer(COUNTY, clock)
    a, a1 = county.new(1)
    store, city = city_of(engines[1], clock)
    prepare(store, city, [a1])
    before = rows(store)
    _, b1 = county.new(2)
    a2 = county.then(a, Triage(tags=("融资",)))

    def moved(conn: Any, batch: Any) -> None:
        raise Conflict("concurrent_update", issue_id=a, expected_version=1)

    monkeypatch.setattr(repo, "update_issues", moved)
    with pytest.raises(Conflict):
        city.apply_many([(b1, COUNTY), (a2, COUNTY)])
    assert rows(store) == before
    monkeypatch.undo()
    assert [r.outcome for r in city.apply_many([(b1, COUNTY), (a2, COUNTY)])] == [
        Outcome.APPLIED, Outcome.APPLIED]
    assert city.watermark(COUNTY) == 3

