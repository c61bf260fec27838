"""Applying replicated events: the decision for every event that flows in from a peer.

Each incoming event is decided against the local copy of its issue in one transaction
(`ReplicaService.apply`): a version at or below the replica's is a duplicate, the next
version is applied, a higher one (or an unknown issue's later event) is a gap that the
caller repairs with `receive`, which fetches the missing history from a peer and tries
again. An event must be written by the issue's current owner, and nothing from outside
ever changes an issue this node owns; the snapshot after the event is checked like any
input (a new issue minted in its writer's namespace, numbers and ids unchanged).

The outcome tells the transport what to do (`Outcome.settled`: acknowledge; a gap:
redeliver later; a refusal: park). The replication mark of a child's stream advances
with every settled event of it in order (the Watermark RPC's answer).

A fetched batch (`apply_many`, the catch-up path) is one transaction decided by the same
code as a single event (a batch of one): what the decisions read is loaded by set when the
batch starts (`_Held`: every issue it touches in one query, the numbers its new issues
claim, the chain links before its events, the marks), each event is decided in order
against what the batch has made of the replica so far (an event's chain link is checked
against the writer's event before it, which may be an earlier one of the same batch), and
then each touched issue is written once with its final snapshot, the applied events with
one multi-row insert (their local seqs reserved with one counter upsert), and each moved
mark once. The store (node/store/eventlog.py, repo.py) keeps counts, summary counts, tag
rows, light instants and projections exactly as one write per event would: the same
rows as applying the events one at a time (tests/integration/test_replica_batch.py).

No NATS here: the
consumer in federation/replication/ feeds this service and acknowledges. Each transaction
and each event's outcome go through the probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from node.app.ports import Clock, HistoryFetch, ReplicaRecorder, ReplicaUnit
from node.app.probes import NO_PROBE, Probe, Stage
from node.domain.chain import GENESIS, ChainedEvent, link
from node.domain.errors import ValidationError
from node.domain.identity import check_new_issue, check_snapshot
from node.domain.issue import Event, Issue, event_id_of
from node.domain.lifecycle import create, evolve
from node.domain.topology import Place
from node.i18n import operator_text

log = logging.getLogger("zhitong.app.replica")


class Outcome(StrEnum):
    APPLIED = "applied"  # the next version: the replica moved on
    DUPLICATE = "duplicate"  # at or below the replica's version: seen before
    GAP = "gap"  # versions are missing in between: repair, or redeliver later
    OWNED = "owned"  # this node owns the issue: nothing from outside changes it
    REFUSED = "refused"  # never applies (wrong writer, bad snapshot): park it

    @property
    def settled(self) -> bool:
        """Nothing more to do with the event: acknowledge it."""
        return self in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.OWNED)

    @property
    def stage(self) -> Stage:
        """The probe's mark for events with this outcome."""
        return _OUTCOME_STAGES[self]


#: How the detail of a refusal for a broken hash chain starts (dead letters, /metrics).
CHAIN_BROKEN = "chain broken"

_OUTCOME_STAGES = {Outcome.APPLIED: Stage.REPLICA_APPLIED,
                   Outcome.DUPLICATE: Stage.REPLICA_DUPLICATE, Outcome.GAP: Stage.REPLICA_GAP,
                   Outcome.OWNED: Stage.REPLICA_OWNED, Outcome.REFUSED: Stage.REPLICA_REFUSED}


@dataclass(frozen=True, kw_only=True, slots=True)
class IncomingEvent:
    """An event as it arrives from a peer, with who wrote it and where."""

    event: Event
    writer: str
    writer_seq: int | None  # None for events fetched over gRPC (no stream position)
    origin: str
    chain: str | None = None  # the event's link in the writer's hash chain, if sent

    @property
    def event_id(self) -> str:
        return event_id_of(self.event.issue_id, self.event.version)


@dataclass(frozen=True, kw_only=True, slots=True)
class Applied:
    outcome: Outcome
    detail: str = ""


class ReplicaService:
    def __init__(self, records: ReplicaRecorder, place: Place, clock: Clock, *,
                 fetch: HistoryFetch | None = None, probe: Probe = NO_PROBE,
                 listeners: Sequence[Callable[[Sequence[Event]], object]] = ()) -> None:
        self.records = records
        self.place = place
        self.clock = clock
        self.fetch = fetch
        self.probe = probe
        #: told the events each transaction applied, once it committed (并单: an escalated
        #: master's answer reaches its followers here, node/app/merges.py); a listener that
        #: fails is logged and never undoes the commit — it must catch up by itself
        self.listeners = tuple(listeners)

    # ---- a batch (one event or more), one transaction

    def apply(self, m: IncomingEvent, *, subject_writer: str | None = None) -> Applied:
        """`subject_writer`: the writer the transport vouches for (the subject it came on,
        which the broker's permissions tie to the writer), if any."""
        event_id = m.event_id
        with self.probe.timed(Stage.REPLICA_APPLY, (event_id,)), self.records.unit() as unit:
            [result] = self._apply_in(unit, [(m, subject_writer)])
        self.probe.mark(result.outcome.stage, (event_id,))
        self._tell([(m, subject_writer)], [result])
        return result

    def apply_many(self, items: Sequence[tuple[IncomingEvent, str | None]]) -> list[Applied]:
        """A fetched batch in ONE transaction (the catch-up path); any exception rolls the
        whole batch back and the caller falls back to one message at a time."""
        ids = [m.event_id for m, _ in items]
        with self.probe.timed(Stage.REPLICA_APPLY_MANY, ids), self.records.unit() as unit:
            results = self._apply_in(unit, items)
        by_outcome: dict[Outcome, list[str]] = {}
        for event_id, result in zip(ids, results, strict=True):
            by_outcome.setdefault(result.outcome, []).append(event_id)
        for outcome, keys in by_outcome.items():
            self.probe.mark(outcome.stage, keys)
        self._tell(items, results)
        return results

    def _tell(self, items: Sequence[tuple[IncomingEvent, str | None]],
              results: Sequence[Applied]) -> None:
        if not self.listeners:
            return
        applied = [m.event for (m, _), r in zip(items, results, strict=True)
                   if r.outcome is Outcome.APPLIED]
        if not applied:
            return
        for listener in self.listeners:
            try:
                listener(applied)
            except Exception:
                log.exception("a listener of applied replica events failed")

    def _apply_in(self, unit: ReplicaUnit, items: Sequence[tuple[IncomingEvent, str | None]]
                  ) -> list[Applied]:
        """Decide every event in order against what the batch has made of the replica so
        far, then write what changed: each touched issue once, the events, the marks."""
        held = _Held(unit, items, self.place.children)
        results = [self._apply_one(held, m, writer) for m, writer in items]
        held.write(at=self.clock.now())
        return results

    def _apply_one(self, held: _Held, m: IncomingEvent, subject_writer: str | None
                   ) -> Applied:
        if subject_writer is not None and subject_writer != m.writer:
            return Applied(outcome=Outcome.REFUSED, detail="writer differs from the subject")
        local = held.issues.get(m.event.issue_id)
        result = self._decide(local, m)
        if result.outcome is Outcome.APPLIED:
            broken = self._chain_break(held, m)
            if broken is not None:
                return Applied(outcome=Outcome.REFUSED, detail=broken)
            try:
                issue = self._fold(held, local, m)
            except ValidationError as exc:
                return Applied(outcome=Outcome.REFUSED,
                               detail=operator_text(exc))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                return Applied(outcome=Outcome.REFUSED,
                               detail=f"does not apply: {exc!r}"[:500])
            held.applied(issue, m)
        if result.outcome.settled:
            self._advance_mark(held, m.writer, m.writer_seq)
        return result

    def _chain_break(self, held: _Held, m: IncomingEvent) -> str | None:
        """Why `m` breaks its writer's hash chain, if the link before it is held here (a
        history rewritten at the writer, or a forged message); None when it links or
        cannot be checked (no link sent, or the previous event not held)."""
        if m.chain is None or m.writer_seq is None:
            return None
        previous = (GENESIS if m.writer_seq == 1
                    else held.chain_of(m.writer, m.writer_seq - 1))
        if previous is None:
            return None
        e = m.event
        expected = link(previous, ChainedEvent(
            writer=m.writer, writer_seq=m.writer_seq, event_id=m.event_id,
            issue_id=e.issue_id, version=e.version, kind=e.kind, actor=e.actor.label(),
            at=e.at, payload=e.payload))
        if expected == m.chain:
            return None
        return (f"{CHAIN_BROKEN}: {m.writer}'s event {m.writer_seq} does not link to its "
                "event before (the writer's history was changed, or the message forged)")

    def _fold(self, held: _Held, local: Issue | None, m: IncomingEvent) -> Issue:
        """The replica after `m`, checked like any input: a new issue must be minted in its
        writer's namespace, and the snapshot must pass the checks HTTP input gets."""
        if local is None:
            issue = create(m.event)
            if issue.origin != m.writer:
                raise ValidationError("replica_not_from_origin", field="issue.origin")
            check_new_issue(issue, sender=m.writer, receiver=self.place.code)
            if held.number_holder(issue.number) is not None:
                raise ValidationError("replica_number_taken", field="issue.number")
        else:
            issue = evolve(local, m.event)
            if (issue.id, issue.number, issue.origin) != (local.id, local.number,
                                                           local.origin):
                raise ValidationError("replica_identity_changed", field="issue.number")
        check_snapshot(issue, previous=local)
        return issue

    def _decide(self, local: Issue | None, m: IncomingEvent) -> Applied:
        e = m.event
        if local is None:
            if e.version != 1:
                return Applied(outcome=Outcome.GAP, detail="unknown issue")
            if e.kind != "submitted" or e.payload.get("owner") != m.writer:
                return Applied(outcome=Outcome.REFUSED,
                               detail="a new issue must come from its owner")
            return Applied(outcome=Outcome.APPLIED)
        if e.version <= local.version:
            return Applied(outcome=Outcome.DUPLICATE)
        if e.version > local.version + 1:
            # Also when this node still owns it: a parent's event can overtake the record
            # of our own transfer (the RPC answered, the local commit is a moment later).
            return Applied(outcome=Outcome.GAP,
                           detail=f"have v{local.version}, got v{e.version}")
        if local.owner == self.place.code:
            return Applied(outcome=Outcome.OWNED, detail="this node owns the issue")
        if local.owner != m.writer:
            return Applied(outcome=Outcome.REFUSED,
                           detail=f"written by {m.writer}, but {local.owner} owns the issue")
        return Applied(outcome=Outcome.APPLIED)

    def _advance_mark(self, held: _Held, writer: str, writer_seq: int | None) -> None:
        if writer not in self.place.children or writer_seq is None:
            return  # only a child's full stream is contiguous
        through = held.mark(writer)
        if through is None:
            if writer_seq == 1:
                held.set_mark(writer, 1)
            return
        if writer_seq == through + 1:
            # also swallow what was already applied beyond (e.g. events that came by gRPC)
            held.set_mark(writer, writer_seq)

    def watermark(self, writer: str) -> int:
        return self.records.watermark(writer)

    # ---- with gap repair

    async def receive(self, m: IncomingEvent, *, subject_writer: str | None = None
                      ) -> Applied:
        """Apply `m` (in a worker thread); on a gap, repair from a peer and try again."""
        result = await asyncio.to_thread(self.apply, m, subject_writer=subject_writer)
        if result.outcome is Outcome.GAP and await self.repair(m):
            result = await asyncio.to_thread(self.apply, m, subject_writer=subject_writer)
        return result

    async def repair(self, m: IncomingEvent) -> bool:
        """Fetch what the replica lacks from a peer and apply it; True if it worked."""
        if self.fetch is None:
            return False
        parent = self.place.parent
        peer = m.writer if m.writer in (*self.place.children, parent) else parent
        if peer is None:
            return False
        local_version = await asyncio.to_thread(self.records.version_of, m.event.issue_id)
        try:
            _issue, history = await self.fetch(peer, m.event.issue_id, local_version)
        except Exception as exc:
            log.info("gap repair of %s from %s failed: %s", m.event.issue_id, peer, exc)
            return False
        for event, writer in history:
            result = await asyncio.to_thread(
                self.apply, IncomingEvent(event=event, writer=writer, writer_seq=None,
                                          origin=m.origin))
            if result.outcome in (Outcome.GAP, Outcome.REFUSED):
                return False
        return True


class _Held:
    """What the decisions of one batch read, loaded by set when it starts (every issue it
    touches, the numbers its new issues claim, the chain links before its events, its
    writers' marks) and kept as the batch moves on: after each applied event, the replica
    and the links and numbers it adds are what the next event of the batch is decided
    against, exactly as if it had been written and read back. `write` then writes each
    touched issue once (its final snapshot), the applied events in order and the marks
    that moved. A read the loading did not foresee goes to the unit."""

    def __init__(self, unit: ReplicaUnit, items: Sequence[tuple[IncomingEvent, str | None]],
                 children: Sequence[str]) -> None:
        self.unit = unit
        incoming = [m for m, _ in items]
        self.loaded = unit.load_issues(sorted({m.event.issue_id for m in incoming}))
        self.issues: dict[str, Issue] = dict(self.loaded)  # the replica, as the batch goes
        numbers = {n for m in incoming if m.event.version == 1
                   and m.event.issue_id not in self.loaded
                   and isinstance(n := m.event.payload.get("number"), str)}
        self._holders = unit.number_holders(sorted(numbers))
        self._numbers_read = numbers
        links = {(m.writer, m.writer_seq - 1) for m in incoming
                 if m.chain is not None and m.writer_seq is not None and m.writer_seq > 1}
        self._links: dict[tuple[str, int], str | None] = {
            key: None for key in links} | dict(unit.chains_of(sorted(links)))
        self._marks: dict[str, int | None] = {
            w: None for w in {m.writer for m in incoming} if w in children}
        self._marks |= unit.marks(sorted(self._marks))
        self.moved: dict[str, int] = {}
        self.events: list[tuple[str, Event, int | None, str | None]] = []
        self.touched: dict[str, None] = {}  # issue ids in the order first applied

    def number_holder(self, number: str) -> str | None:
        if number not in self._numbers_read:
            self._holders |= self.unit.number_holders([number])
            self._numbers_read.add(number)
        return self._holders.get(number)

    def chain_of(self, writer: str, writer_seq: int) -> str | None:
        key = (writer, writer_seq)
        if key not in self._links:
            self._links[key] = self.unit.chains_of([key]).get(key)
        return self._links[key]

    def mark(self, writer: str) -> int | None:
        if writer not in self._marks:
            self._marks[writer] = self.unit.marks([writer]).get(writer)
        return self._marks[writer]

    def set_mark(self, writer: str, through_seq: int) -> None:
        self._marks[writer] = self.moved[writer] = through_seq

    def applied(self, issue: Issue, m: IncomingEvent) -> None:
        if m.event.version == 1:
            self._holders[issue.number] = issue.id
            self._numbers_read.add(issue.number)
        self.issues[issue.id] = issue
        self.touched[issue.id] = None
        self.events.append((m.writer, m.event, m.writer_seq, m.chain))
        if m.writer_seq is not None:
            self._links[(m.writer, m.writer_seq)] = m.chain

    def write(self, *, at: datetime) -> None:
        self.unit.insert_issues([self.issues[i] for i in self.touched if i not in self.loaded])
        self.unit.update_issues([(self.issues[i], self.loaded[i]) for i in self.touched
                                 if i in self.loaded])
        self.unit.record_events(self.events)
        self.unit.set_marks(self.moved, at=at)
