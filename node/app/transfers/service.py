"""Ownership transfers between tiers — the exactly-once protocol, as use cases.

Both directions (escalate: child → parent; return: parent → child) run the same protocol:

1. **Request** (sender, one transaction): the decision is checked by the domain
   (`decide`), and the prepared transfer event (version n+1) goes into the outbox with a
   fresh transfer id. Nothing else changes yet; the issue is frozen while a transfer is
   pending, so the snapshot and history the sender ships stay exact.
2. **Accept** (receiver, one transaction): the inbox is looked up by (origin, transfer id)
   — a repeat returns the stored acceptance and creates nothing. Otherwise the receiver
   checks who is calling and who owns the issue, stores the history it lacks, the transfer
   event, and (for an escalation) its own `receive` event that re-enters triage, plus the
   inbox row with the acceptance.
3. **Record** (sender, one transaction, only after the acceptance): the transfer event is
   applied and stored, the outbox row is marked delivered. The sender has given up
   ownership only now.

Batches: the sender ships what `due` returns as one envelope; `accept_batch` runs step 2
for all its transfers in ONE transaction (each decided in order before anything is
written, so a refused one is refused alone; the accepted ones written together, one
statement per kind of row through the port's set verbs), and `record_batch` runs step 3
for all the answers in ONE transaction. The unary `accept_escalation`/`accept_return`
(older peers) are the same decisions and writes for one transfer.

A crash between any two steps leaves either a pending outbox row (re-sent, deduplicated
by the inbox) or a finished transfer; never two owners, never none. A refusal that a retry
cannot fix (the error table says which: permission, validation, a stale or taken state)
marks the row refused and unfreezes the issue. Every refusal is raised as a stable code with
its parameters (node/domain/errors.py); its texts come from the catalogue (node/i18n).

Directives (supervise and urge down, an enterprise's urge or rating up) use the same
outbox and inbox but move no ownership: each node on the way records or forwards them
once. The service talks to the store only through `node.app.ports.TransferStore` and to
other nodes not at all: the gRPC server (federation/server.py) calls the `accept_*` and
`fetch` use cases, the sender (federation/sender.py) ships what `due` returns and reports
back through the `record_*` use cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import uuid6

from node.app.policy import Principal, authorize, check_can_view, not_found, require
from node.app.ports import Clock, TransferStore, TransferUnit
from node.app.probes import NO_PROBE, Probe, Stage
from node.app.transfers.types import (
    ATTACH,
    DELIVERED,
    DIRECTIVE_KINDS,
    DOWN_KINDS,
    PENDING,
    REFUSED,
    UP_KINDS,
    Accepted,
    Backoff,
    DestinationState,
    Directive,
    DirectiveAccepted,
    OutboxRow,
    Outgoing,
    Transfer,
)
from node.domain.errors import Conflict, DomainError, Forbidden, RuleViolation, ValidationError
from node.domain.identity import check_new_issue, check_snapshot, within
from node.domain.issue import Action, Actor, ActorKind, Event, Issue, Rating, State
from node.domain.lifecycle import (
    AddAttachment,
    Escalate,
    Rate,
    Receive,
    Return,
    Rules,
    Supervise,
    Urge,
    decide,
    evolve,
    ts,
)
from node.domain.topology import next_hop
from node.domain.validation import MAX_COMMENT, check_text, validate_division_code


def event_to_json(event: Event) -> dict[str, Any]:
    """The prepared transfer event as the outbox row keeps it."""
    return {"issue_id": event.issue_id, "version": event.version, "kind": event.kind,
            "actor": event.actor.label(), "at": ts(event.at), "payload": dict(event.payload)}


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(issue_id=data["issue_id"], version=data["version"], kind=data["kind"],
                 actor=Actor.parse(data["actor"]), at=datetime.fromisoformat(data["at"]),
                 payload=data["payload"])


def _until_applied(rows: list[OutboxRow]) -> list[OutboxRow]:
    """The rows up to a directive on an issue whose transfer is earlier in the same rows (an
    urge queued behind the escalation it follows): that one goes in the next envelope, once
    the receiver holds the issue (a batch's items are all decided before any is written)."""
    moving: set[str] = set()
    for i, row in enumerate(rows):
        if row.kind not in DIRECTIVE_KINDS:
            moving.add(row.issue_id)
        elif row.issue_id in moving:
            return rows[:i]
    return rows


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    """What accepting one transfer writes: the snapshot (new here when `existing` is None),
    its events as (writer, event, own), and the answer kept in the inbox."""

    issue: Issue
    existing: Issue | None
    events: list[tuple[str, Event, bool]]
    accepted: Accepted


class TransferService:
    def __init__(
        self,
        *,
        store: TransferStore,
        node: str,
        parent: str | None,
        children: frozenset[str],
        rules: Rules,
        clock: Clock,
        backoff: Backoff | None = None,
        probe: Probe = NO_PROBE,
    ) -> None:
        self.store = store
        self.node = node
        self.parent = parent
        self.children = children
        self.rules = rules
        self.clock = clock
        self.backoff = backoff or Backoff()
        #: stage timings (node/app/probes.py); the sender and the server report through it
        self.probe = probe
        self.actor = Actor(kind=ActorKind.NODE, id=node)
        #: called after the commit with the destination of every transfer queued, so its
        #: sender starts at once (the runtime wires it to the senders' wake-ups)
        self.on_queued: Callable[[str], None] = lambda _destination: None

    # ------------------------------------------------------------------ 1. request

    def request_escalation(self, principal: Principal | None, key: str, reason: str) -> str:
        """Queue the escalation of `key` to the parent; returns the transfer id.

        `principal` None: the node itself (the automatic rule) asks."""
        if self.parent is None:
            raise RuleViolation("no_parent")
        return self._request(principal, key, Action.ESCALATE,
                             lambda issue: Escalate(to=self.parent or "", reason=reason))

    def request_return(self, principal: Principal | None, key: str, instructions: str) -> str:
        """Queue the return of `key` to the child it came from; returns the transfer id."""

        def command(issue: Issue) -> Return:
            if issue.came_from is None or issue.came_from not in self.children:
                raise RuleViolation("not_escalated_here")
            return Return(to=issue.came_from, instructions=instructions)

        return self._request(principal, key, Action.RETURN, command)

    def request_dispatch(self, principal: Principal | None, key: str, child: str,
                         instructions: str) -> str:
        """交办下级: hand an issue this node owns to a child (e.g. a province-assigned
        issue to a city); its status then flows back up on the child's stream."""
        if child not in self.children:
            raise RuleViolation("not_a_child", child=child)
        return self._request(principal, key, Action.RETURN,
                             lambda issue: Return(to=child, instructions=instructions))

    def request_directive(self, principal: Principal, key: str, kind: str,
                          note: str | None) -> str:
        """督办 / urge an issue owned below this node; routed to the child on its path."""
        require(principal, Action.SUPERVISE.value)
        if kind not in DOWN_KINDS:  # an enterprise's urge or rating goes up, never down
            raise ValidationError("directive_kind_invalid", field="kind", kinds=DOWN_KINDS)
        note = check_text("note", note, max_len=MAX_COMMENT, required=False)
        now = self.clock.now()
        with self.store.write() as unit:
            issue = unit.load_issue(key)
            origin = issue.owner if issue is not None else key.split("-", 1)[0]
            if issue is not None and issue.owner == self.node:
                raise RuleViolation("owned_here")
            child = self.route_down(origin)
            transfer_id = uuid6.uuid7().hex
            self._queue(unit, transfer_id=transfer_id,
                        issue_id=issue.id if issue is not None else key, kind=kind,
                        destination=child, event={"note": note, "issued_by": self.node},
                        now=now)
        self.on_queued(child)
        return transfer_id

    def request_upward(self, principal: Principal, key: str,
                       command: Rate | Urge | AddAttachment) -> str:
        """An enterprise rated or urged an issue now owned above this node, or attached a
        file to it: forward it to the owner (recorded there exactly once, as the
        enterprise's own action; a file's bytes stay here, and the owner fetches them from
        here on demand: node/app/attachments.py)."""
        if self.parent is None:
            raise RuleViolation("no_parent")
        now = self.clock.now()
        with self.store.write() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            # validated here against the replica (state, 24 h rule), again at the owner
            decide(self._as_owner_holds(unit, issue, command), command, actor=principal.actor,
                   now=now, rules=self.rules)
            event: dict[str, Any] = {"note": None, "issued_by": self.node, "rating": None,
                                     "credit_code": issue.enterprise.credit_code}
            match command:
                case Rate():
                    kind = "rate"
                    event.update(note=command.comment, rating=command.rating.value)
                case Urge():
                    kind = "enterprise_urge"
                    event["note"] = command.note
                case AddAttachment():
                    kind = ATTACH
                    event["attachment"] = dict(command.attachment)
            transfer_id = uuid6.uuid7().hex
            self._queue(unit, transfer_id=transfer_id, issue_id=issue.id, kind=kind,
                        destination=self.parent, event=event, now=now)
        self.on_queued(self.parent)
        return transfer_id

    @staticmethod
    def _as_owner_holds(unit: TransferUnit, issue: Issue,
                        command: Rate | Urge | AddAttachment) -> Issue:
        """The replica as the owner holds it, for checking an enterprise's act here: just
        after an escalation the replica shows it escalated, the owner has it received; an
        urge forwarded earlier and not yet replicated back counts for the 24 h rule (so the
        enterprise gets its 429 with `next_allowed_at` here, wherever the issue is owned)."""
        if issue.state is State.ESCALATED:
            issue = replace(issue, state=State.RECEIVED)
        if isinstance(command, Urge):
            forwarded = unit.last_forwarded_at(issue.id, "enterprise_urge")
            last = issue.last_enterprise_urge_at
            if forwarded is not None and (last is None or forwarded > last):
                issue = replace(issue, last_enterprise_urge_at=forwarded)
        return issue

    def route_down(self, code: str) -> str:
        """The child whose subtree holds unit `code`."""
        try:
            validate_division_code(code)
        except ValidationError:
            raise not_found(code) from None
        hop = next_hop(self.node, code)
        if hop is None or hop not in self.children:
            raise Forbidden("not_below_node", unit=code)
        return hop

    def _request(self, principal: Principal | None, key: str, action: Action,
                 command_of: Callable[[Issue], Escalate | Return]) -> str:
        now = self.clock.now()
        with self.probe.timed(Stage.TRANSFERS_REQUEST), self.store.write() as unit:
            issue = unit.load_issue(key, for_update=True)
            if issue is None:
                raise not_found(key)
            if principal is not None:
                authorize(principal, action, issue, self.node, key)
            elif issue.owner != self.node:
                raise Forbidden("not_owner")
            if unit.pending_for_issue(issue.id) is not None:
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            command = command_of(issue)
            actor = principal.actor if principal is not None else Actor(
                kind=ActorKind.SYSTEM, id="auto")
            event = decide(issue, command, actor=actor, now=now, rules=self.rules)
            transfer_id = uuid6.uuid7().hex
            self._queue(unit, transfer_id=transfer_id, issue_id=issue.id, kind=action.value,
                        destination=command.to, event=event_to_json(event), now=now)
        self.on_queued(command.to)
        return transfer_id

    @staticmethod
    def _queue(unit: TransferUnit, *, transfer_id: str, issue_id: str, kind: str,
               destination: str, event: dict[str, Any], now: datetime) -> None:
        unit.add_outgoing(OutboxRow(
            transfer_id=transfer_id, seq=unit.next_transfer_seq(), issue_id=issue_id,
            kind=kind, destination=destination, event=event, status=PENDING, attempts=0,
            last_error=None, created_at=now))

    def is_pending(self, issue_id: str) -> bool:
        with self.store.read() as unit:
            return unit.pending_for_issue(issue_id) is not None

    def escalating(self, issue_id: str) -> bool:
        """Whether the issue's escalation to the parent is queued (not yet accepted)."""
        with self.store.read() as unit:
            row = unit.pending_for_issue(issue_id)
        return (row is not None and row.kind == Action.ESCALATE.value
                and row.destination == self.parent)

    # ------------------------------------------------------------------ sender's view

    def due(self, destination: str, limit: int) -> list[Outgoing]:
        """The next pending transfers for `destination`, in order, with what to ship."""
        with self.probe.timed(Stage.TRANSFERS_DUE), self.store.read() as unit:
            rows = _until_applied(unit.pending_batch(destination, limit))
            moved = [row.issue_id for row in rows if row.kind not in DIRECTIVE_KINDS]
            stored = unit.load_issues(moved) if moved else {}
            histories = unit.histories(moved) if moved else {}
            out = []
            for row in rows:
                if row.kind in DIRECTIVE_KINDS:
                    out.append(Outgoing(row=row, directive=Directive(
                        transfer_id=row.transfer_id, origin_node=self.node,
                        issue_key=row.issue_id, kind=row.kind, note=row.event.get("note"),
                        issued_by=row.event["issued_by"], rating=row.event.get("rating"),
                        credit_code=row.event.get("credit_code"),
                        attachment=row.event.get("attachment"))))
                    continue
                issue = stored[row.issue_id]
                out.append(Outgoing(row=row, transfer=Transfer(
                    transfer_id=row.transfer_id, origin_node=self.node, issue=issue,
                    history=tuple(histories[issue.id]),
                    transfer=event_from_json(row.event), transfer_node=self.node)))
            return out

    def next_attempt_at(self, destination: str) -> datetime | None:
        with self.probe.timed(Stage.TRANSFERS_NEXT_ATTEMPT), self.store.read() as unit:
            return unit.destination_state(destination).next_attempt_at

    # ------------------------------------------------------------------ 3. record

    def record_accepted(self, transfer_id: str, answer: Accepted | DirectiveAccepted) -> bool:
        """The receiver accepted: give up ownership now. Idempotent."""
        now = self.clock.now()
        response = answer.to_json()
        with self.probe.timed(Stage.TRANSFERS_RECORD_ACCEPTED), self.store.write() as unit:
            row = unit.get_outgoing(transfer_id)
            if row is None or row.status != PENDING:
                return False
            if row.kind not in DIRECTIVE_KINDS:  # a directive changes nothing here
                issue = unit.load_issue(row.issue_id, for_update=True)
                assert issue is not None
                event = event_from_json(row.event)
                unit.update_issue(evolve(issue, event), expected_version=issue.version)
                unit.append_event(self.node, event, own=True)
            unit.finish_outgoing(transfer_id, status=DELIVERED, now=now, response=response)
            self._reset(unit, row.destination, now)
        return True

    def record_batch(self, destination: str,
                     accepted: Sequence[tuple[str, Accepted | DirectiveAccepted]],
                     refused: Sequence[tuple[str, str]] = (), *,
                     reachable: bool = True) -> int:
        """What `destination` answered to one envelope, in ONE transaction and in its
        order: every accepted transfer recorded (ownership given up), every refused one
        parked (`(transfer id, error)`) and its issue unfrozen, and — when `reachable` —
        the destination's backoff reset; one statement per kind of row. Idempotent per
        transfer (a row no longer pending is left alone); returns how many were recorded
        as accepted now."""
        now = self.clock.now()
        keys = [tid for tid, _ in accepted]
        with self.probe.timed(Stage.TRANSFERS_RECORD_ACCEPTED, keys), \
                self.store.write() as unit:
            rows = unit.get_outgoing_many(keys)
            done: list[tuple[OutboxRow, Accepted | DirectiveAccepted]] = []
            for tid, answer in accepted:
                row = rows.pop(tid, None)  # popped: a transfer listed twice counts once
                if row is not None and row.status == PENDING:
                    done.append((row, answer))
            moved = [row for row, _ in done if row.kind not in DIRECTIVE_KINDS]
            stored = unit.load_issues([row.issue_id for row in moved], for_update=True)
            updates: list[tuple[Issue, Issue]] = []
            for row in moved:  # directives change nothing here: the owner records them
                issue = stored[row.issue_id]
                updates.append((evolve(issue, event_from_json(row.event)), issue))
            unit.update_issues(updates)
            unit.append_events([(self.node, event_from_json(row.event), True)
                                for row in moved])
            unit.finish_outgoing_many(
                [(row.transfer_id, DELIVERED, answer.to_json(), None) for row, answer in done]
                + [(tid, REFUSED, None, error[:2000]) for tid, error in refused], now)
            if reachable:
                self._reset(unit, destination, now)
        return len(done)

    def record_refused(self, transfer_id: str, error: str) -> None:
        """A refusal no retry can fix: park the row (dead letter) and unfreeze the issue."""
        with self.store.write() as unit:
            unit.finish_outgoing(transfer_id, status=REFUSED, now=self.clock.now(),
                                 error=error[:2000])

    def record_failure(self, destination: str, transfer_ids: list[str], error: str) -> datetime:
        """The destination did not answer: persist the next attempt time (capped, jittered)."""
        now = self.clock.now()
        with self.store.write() as unit:
            state = unit.destination_state(destination)
            failures = state.failures + 1
            next_at = now + self.backoff.delay(failures)
            unit.save_destination(DestinationState(
                node=destination, failures=failures, next_attempt_at=next_at,
                last_error=error[:2000], last_attempt_at=now,
                last_success_at=state.last_success_at))
            if transfer_ids:
                unit.count_attempt(transfer_ids, error[:2000])
        return next_at

    def record_reachable(self, destination: str) -> None:
        with self.probe.timed(Stage.TRANSFERS_RECORD_REACHABLE), self.store.write() as unit:
            self._reset(unit, destination, self.clock.now())

    @staticmethod
    def _reset(unit: TransferUnit, destination: str, now: datetime) -> None:
        unit.save_destination(DestinationState(node=destination, last_attempt_at=now,
                                               last_success_at=now))

    # ------------------------------------------------------------------ 2. accept

    def accept_escalation(self, transfer: Transfer, caller: str) -> Accepted:
        if caller not in self.children:
            raise Forbidden("caller_not_child", caller=caller)
        return self._accept(transfer, caller, Action.ESCALATE)

    def accept_return(self, transfer: Transfer, caller: str) -> Accepted:
        if caller != self.parent:
            raise Forbidden("caller_not_parent", caller=caller)
        return self._accept(transfer, caller, Action.RETURN)

    def accept_batch(self, transfers: Sequence[Transfer], caller: str
                     ) -> list[Accepted | DomainError]:
        """Take in an envelope of transfers from `caller` in ONE transaction, item by item
        in their order: the answer of each, in the same order — its acceptance (a stored
        one, `duplicate`, for a transfer accepted before, in an earlier envelope or earlier
        in this one) or the refusal it raised. Every item is decided before anything is
        written (`_plan`: the same checks as a unary call, against what the store holds and
        what the earlier items of the envelope will write), so a refused one leaves nothing
        behind and does not stop the others; then all accepted ones are written together,
        one statement per kind of row (`_write`). Anything that is not a refusal (the
        database) aborts the whole envelope."""
        now = self.clock.now()
        answers: list[Accepted | DomainError] = []
        keys = [t.transfer_id for t in transfers]
        with self.probe.timed(Stage.TRANSFERS_ACCEPT, keys), self.store.write() as unit:
            earlier = unit.find_incoming_many(caller, keys)
            stored = unit.load_issues([t.issue.id for t in transfers], for_update=True)
            holders = unit.holders_of_numbers([t.issue.number for t in transfers])
            plans: list[_Plan] = []
            for t in transfers:
                try:
                    plan = self._plan(t, caller, t.kind, now,
                                      earlier=earlier.get(t.transfer_id),
                                      existing=stored.get(t.issue.id),
                                      holder=holders.get(t.issue.number))
                except DomainError as exc:
                    answers.append(exc)
                    continue
                if isinstance(plan, Accepted):
                    answers.append(plan)
                    continue
                plans.append(plan)
                answers.append(plan.accepted)
                # what the later items of the envelope see
                earlier[t.transfer_id] = plan.accepted.to_json(with_duplicate=False)
                stored[plan.issue.id] = plan.issue
                holders[plan.issue.number] = plan.issue.id
            self._write(unit, caller, plans, now)
        return answers

    def _accept(self, t: Transfer, caller: str, kind: Action) -> Accepted:
        now = self.clock.now()
        with self.probe.timed(Stage.TRANSFERS_ACCEPT), self.store.write() as unit:
            earlier = unit.find_incoming(caller, t.transfer_id)
            existing = holder = None
            if earlier is None:
                existing = unit.load_issue(t.issue.id, for_update=True)
                holder = unit.holder_of_number(t.issue.number) if existing is None else None
            plan = self._plan(t, caller, kind, now, earlier=earlier, existing=existing,
                              holder=holder)
            if isinstance(plan, Accepted):
                return plan
            self._write(unit, caller, [plan], now)
        return plan.accepted

    def _plan(self, t: Transfer, caller: str, kind: Action, now: datetime, *,
              earlier: dict[str, Any] | None, existing: Issue | None,
              holder: str | None) -> Accepted | _Plan:
        """Step 2 of one transfer, decided without writing: the stored answer of a repeat,
        or what to write; raises the refusal. `earlier`: the inbox's answer to this
        (caller, transfer id); `existing`: this node's copy of the issue; `holder`: the
        issue holding the transfer's human number here."""
        if kind is Action.ESCALATE and caller not in self.children:
            raise Forbidden("caller_not_child", caller=caller)
        if kind is Action.RETURN and caller != self.parent:
            raise Forbidden("caller_not_parent", caller=caller)
        if earlier is not None:
            return Accepted.from_json(earlier, duplicate=True)
        if t.origin_node != caller:
            raise Forbidden("origin_mismatch")
        if t.issue.owner != caller:
            raise Forbidden("caller_not_owner", caller=caller, issue_id=t.issue.id)
        if t.transfer.payload.get("to") != self.node:
            raise ValidationError("transfer_misaddressed", field="transfer.to")
        self._check_identity(t.issue, existing, caller, holder)
        if existing is not None and existing.owner != caller:
            raise Forbidden("owner_differs", owner=existing.owner, caller=caller)
        if existing is not None and existing.version > t.issue.version:
            raise Conflict("transfer_outdated")
        issue = evolve(t.issue, t.transfer)
        new_events = [(n, e, False) for e, n in t.history
                      if existing is None or e.version > existing.version]
        new_events.append((t.transfer_node, t.transfer, False))
        if kind is Action.ESCALATE:
            received = decide(issue, Receive(came_from=caller), actor=self.actor, now=now,
                              rules=self.rules)
            issue = evolve(issue, received)
            new_events.append((self.node, received, True))
        accepted = Accepted(transfer_id=t.transfer_id, issue_id=issue.id,
                            new_owner=self.node, number=issue.number,
                            version=issue.version, accepted_at=now)
        return _Plan(issue=issue, existing=existing, events=new_events, accepted=accepted)

    @staticmethod
    def _write(unit: TransferUnit, caller: str, plans: Sequence[_Plan], now: datetime) -> None:
        """The accepted transfers' rows, in their order: the issues new here, the ones
        updated, their events, the inbox rows."""
        unit.insert_issues([p.issue for p in plans if p.existing is None])
        unit.update_issues([(p.issue, p.existing) for p in plans if p.existing is not None])
        unit.append_events([event for p in plans for event in p.events])
        unit.add_incoming_many(caller, [
            (p.accepted.transfer_id, p.issue.id, p.accepted.to_json(with_duplicate=False))
            for p in plans], now)

    def _check_identity(self, issue: Issue, existing: Issue | None, caller: str,
                        holder: str | None) -> None:
        """An issue new here must be minted where the sender may bring it from (an
        escalation: the child's subtree; a dispatch: above this node); a known one keeps
        its id, number and origin. `holder`: the issue holding its number here."""
        check_snapshot(issue)
        if existing is not None:
            if (existing.id, existing.number, existing.origin) != (
                    issue.id, issue.number, issue.origin):
                raise ValidationError("number_or_origin_differs", field="issue.number")
            return
        check_new_issue(issue, sender=caller, receiver=self.node)
        if holder is not None:
            raise Conflict("number_taken")

    def accept_directive(self, d: Directive, caller: str) -> DirectiveAccepted:
        """Record a directive on an issue this node owns, or pass it on towards the owner
        (down for supervision and urges, up for an enterprise's rating or urge) — once per
        (caller, transfer id)."""
        upward = d.kind in UP_KINDS
        if d.origin_node != caller or (caller not in self.children if upward
                                       else caller != self.parent):
            raise Forbidden("directive_not_allowed", caller=caller, kind=d.kind)
        now = self.clock.now()
        with self.store.write() as unit:
            earlier = unit.find_incoming(caller, d.transfer_id)
            if earlier is not None:
                return DirectiveAccepted.from_json(earlier, duplicate=True)
            issue = unit.load_issue(d.issue_key, for_update=True)
            if issue is None and upward:
                raise not_found(d.issue_key)
            if upward and issue is not None and not within(issue.origin, caller):
                # an enterprise acts at its own county: the action climbs the issue's path
                raise Forbidden("caller_off_path", caller=caller, issue_id=issue.id)
            owner = issue.owner if issue is not None else d.issue_key.split("-", 1)[0]
            if issue is not None and issue.owner == self.node:
                event = decide(issue, self._directive_command(d, issue),
                               actor=self._directive_actor(d), now=now, rules=self.rules)
                unit.update_issue(evolve(issue, event), expected_version=issue.version)
                unit.append_event(self.node, event, own=True)
                answer = DirectiveAccepted(transfer_id=d.transfer_id, handled_by=self.node,
                                           forwarded=False)
            else:
                if upward:
                    if self.parent is None:
                        raise not_found(d.issue_key)
                    towards = self.parent
                else:
                    towards = self.route_down(owner)
                self._queue(unit, transfer_id=uuid6.uuid7().hex,
                            issue_id=issue.id if issue is not None else d.issue_key,
                            kind=d.kind, destination=towards,
                            event={"note": d.note, "issued_by": d.issued_by,
                                   "rating": d.rating, "credit_code": d.credit_code,
                                   "attachment": d.attachment},
                            now=now)
                answer = DirectiveAccepted(transfer_id=d.transfer_id, handled_by=towards,
                                           forwarded=True)
            if issue is not None:
                unit.add_incoming(origin=caller, transfer_id=d.transfer_id,
                                  issue_id=issue.id,
                                  response=answer.to_json(with_duplicate=False), now=now)
        if answer.forwarded:
            self.on_queued(answer.handled_by)
        return answer

    @staticmethod
    def _directive_command(d: Directive, issue: Issue
                           ) -> Supervise | Urge | Rate | AddAttachment:
        if d.kind == "supervise":
            return Supervise(issued_by=d.issued_by, note=d.note)
        if d.kind in UP_KINDS and issue.enterprise.credit_code != d.credit_code:
            raise Forbidden("enterprise_mismatch")
        if d.kind == ATTACH:
            # the bytes are at the node the file was uploaded at: the issue's origin (the
            # enterprise's county), which serves them to the tiers it escalated it to
            if d.attachment is None or d.attachment["attachment"]["origin"] != issue.origin:
                raise ValidationError("attachment_malformed", field="attachment",
                                      reason="origin")
            return AddAttachment(attachment=d.attachment)
        if d.kind == "rate":
            return Rate(rating=Rating(d.rating or ""), comment=d.note)
        return Urge(note=d.note)

    @staticmethod
    def _directive_actor(d: Directive) -> Actor:
        if d.kind in UP_KINDS:
            return Actor(kind=ActorKind.ENTERPRISE, id=d.credit_code or "")
        return Actor(kind=ActorKind.NODE, id=d.issued_by)

    # ------------------------------------------------------------------ fetch

    def fetch(self, issue_id: str, caller: str, after_version: int
              ) -> tuple[Issue, list[tuple[Event, str]]]:
        """An issue and its events after `after_version`, for the parent or a related
        child repairing a gap in its replica."""
        with self.store.read() as unit:
            issue = unit.load_issue(issue_id)
            if issue is None:
                raise not_found(issue_id)
            related = caller in (issue.origin, issue.came_from, issue.owner)
            if caller != self.parent and not (caller in self.children and related):
                raise Forbidden("read_not_allowed", caller=caller)
            history = [(e, n) for e, n in unit.history(issue.id) if e.version > after_version]
        return issue, history

    # ------------------------------------------------------------------ operations

    def outbox_status(self, stuck_after: timedelta) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.read() as unit:
            summary = unit.outbox_summary()
            dests = set(summary) | ({self.parent} if self.parent else set())
            out = {}
            for dest in sorted(dests):
                depth, oldest = summary.get(dest, (0, None))
                state = unit.destination_state(dest)
                age = (now - oldest).total_seconds() if oldest else 0.0
                out[dest] = {
                    "depth": depth,
                    "oldest_age_s": round(age, 3),
                    "stuck": depth > 0 and age > stuck_after.total_seconds(),
                    "failures": state.failures,
                    "next_attempt_at": ts(state.next_attempt_at) if state.next_attempt_at
                    else None,
                    "last_error": state.last_error,
                    "last_success_at": ts(state.last_success_at) if state.last_success_at
                    else None,
                }
            refused = [{"transfer_id": r.transfer_id, "issue_id": r.issue_id, "kind": r.kind,
                        "destination": r.destination, "error": r.last_error}
                       for r in unit.refused()]
        return {"destinations": out, "refused": refused}
