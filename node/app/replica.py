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
with every settled event of it in order (the Watermark RPC's answer). No NATS here: the
consumer in federation/replication/ feeds this service and acknowledges. Each transaction
and each event's outcome go through the probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
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
                 fetch: HistoryFetch | None = None, probe: Probe = NO_PROBE) -> None:
        self.records = records
        self.place = place
        self.clock = clock
        self.fetch = fetch
        self.probe = probe

    # ---- one event, one transaction

    def apply(self, m: IncomingEvent, *, subject_writer: str | None = None) -> Applied:
        """`subject_writer`: the writer the transport vouches for (the subject it came on,
        which the broker's permissions tie to the writer), if any."""
        event_id = m.event_id
        with self.probe.timed(Stage.REPLICA_APPLY, (event_id,)), self.records.unit() as unit:
            result = self._apply_in(unit, m, subject_writer)
        self.probe.mark(result.outcome.stage, (event_id,))
        return result

    def apply_many(self, items: Sequence[tuple[IncomingEvent, str | None]]) -> list[Applied]:
        """A fetched batch in ONE transaction (the catch-up path); any exception rolls the
        whole batch back and the caller falls back to one message at a time."""
        ids = [m.event_id for m, _ in items]
        with self.probe.timed(Stage.REPLICA_APPLY_MANY, ids), self.records.unit() as unit:
            results = [self._apply_in(unit, m, writer) for m, writer in items]
        by_outcome: dict[Outcome, list[str]] = {}
        for event_id, result in zip(ids, results, strict=True):
            by_outcome.setdefault(result.outcome, []).append(event_id)
        for outcome, keys in by_outcome.items():
            self.probe.mark(outcome.stage, keys)
        return results

    def _apply_in(self, unit: ReplicaUnit, m: IncomingEvent,
                  subject_writer: str | None) -> Applied:
        if subject_writer is not None and subject_writer != m.writer:
            return Applied(outcome=Outcome.REFUSED, detail="writer differs from the subject")
        local = unit.load_issue(m.event.issue_id)
        result = self._decide(local, m)
        if result.outcome is Outcome.APPLIED:
            broken = self._chain_break(unit, m)
            if broken is not None:
                return Applied(outcome=Outcome.REFUSED, detail=broken)
            try:
                issue = self._fold(unit, local, m)
            except ValidationError as exc:
                return Applied(outcome=Outcome.REFUSED,
                               detail=operator_text(exc))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                return Applied(outcome=Outcome.REFUSED,
                               detail=f"does not apply: {exc!r}"[:500])
            if local is None:
                unit.insert_issue(issue)
            else:
                unit.update_issue(issue, expected_version=local.version)
            unit.record_event(m.writer, m.event, writer_seq=m.writer_seq, chain=m.chain)
        if result.outcome.settled:
            self._advance_mark(unit, m.writer, m.writer_seq)
        return result

    def _chain_break(self, unit: ReplicaUnit, m: IncomingEvent) -> str | None:
        """Why `m` breaks its writer's hash chain, if the link before it is held here (a
        history rewritten at the writer, or a forged message); None when it links or
        cannot be checked (no link sent, or the previous event not held)."""
        if m.chain is None or m.writer_seq is None:
            return None
        previous = (GENESIS if m.writer_seq == 1
                    else unit.chain_of(m.writer, m.writer_seq - 1))
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

    def _fold(self, unit: ReplicaUnit, local: Issue | None, m: IncomingEvent) -> Issue:
        """The replica after `m`, checked like any input: a new issue must be minted in its
        writer's namespace, and the snapshot must pass the checks HTTP input gets."""
        if local is None:
            issue = create(m.event)
            if issue.origin != m.writer:
                raise ValidationError("replica_not_from_origin", field="issue.origin")
            check_new_issue(issue, sender=m.writer, receiver=self.place.code)
            if unit.number_holder(issue.number) is not None:
                raise ValidationError("replica_number_taken", field="issue.number")
        else:
            issue = evolve(local, m.event)
            if (issue.id, issue.number, issue.origin) != (local.id, local.number,
                                                           local.origin):
                raise ValidationError("replica_identity_changed", field="issue.number")
        check_snapshot(issue)
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

    def _advance_mark(self, unit: ReplicaUnit, writer: str, writer_seq: int | None) -> None:
        if writer not in self.place.children or writer_seq is None:
            return  # only a child's full stream is contiguous
        through = unit.mark(writer)
        if through is None:
            if writer_seq == 1:
                unit.set_mark(writer, 1, at=self.clock.now())
            return
        if writer_seq == through + 1:
            # also swallow what was already applied beyond (e.g. events that came by gRPC)
            unit.set_mark(writer, writer_seq, at=self.clock.now())

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
