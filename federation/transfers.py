"""Ownership transfers between tiers — the exactly-once protocol, store side.

Both directions (escalate: child → parent; return: parent → child) run the same protocol:

1. **Request** (sender, one transaction): the decision is checked by the domain
   (`decide`), and the prepared transfer event (version n+1) goes into `transfers_out`
   with a fresh transfer id. Nothing else changes yet; the issue is frozen while a
   transfer is pending, so the snapshot and history the sender ships stay exact.
2. **Accept** (receiver, one transaction): the inbox is looked up by (origin, transfer id)
   — a repeat returns the stored acceptance and creates nothing. Otherwise the receiver
   checks who is calling and who owns the issue, stores the history it lacks, the transfer
   event, and (for an escalation) its own `receive` event that re-enters triage, plus the
   inbox row with the acceptance.
3. **Record** (sender, one transaction, only after the acceptance): the transfer event is
   applied and stored, the outbox row is marked delivered. The sender has given up
   ownership only now.

A crash between any two steps leaves either a pending outbox row (re-sent, deduplicated
by the inbox) or a finished transfer; never two owners, never none. Refusals that a retry
cannot fix (permission, validation, conflict) mark the row refused and unfreeze the issue.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import uuid6

from federation.codec import DIRECTIVE_KINDS, UP_KINDS, Directive, Transfer
from node.app.policy import Principal, authorize, check_can_view, not_found, require
from node.app.ports import Clock
from node.domain.errors import Conflict, Forbidden, RuleViolation, ValidationError
from node.domain.identity import check_new_issue, check_snapshot, within
from node.domain.issue import Action, Actor, ActorKind, Event, Issue, Rating
from node.domain.lifecycle import (
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
from node.domain.validation import MAX_COMMENT, check_text, validate_division_code
from node.store import repo
from node.store import transfers as tx
from node.store.repo import Store

TRANSFER_SEQ = "transfer_seq"


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """What the sender ships for one pending transfer."""

    row: tx.OutboxRow
    issue: Issue | None  # None for a directive
    history: list[tuple[Event, str]]
    transfer: Event | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    initial_s: float = 5.0
    max_s: float = 3600.0

    def delay(self, failures: int, rnd: Callable[[], float] = random.random) -> timedelta:
        """Capped exponential backoff with jitter in [50 %, 100 %] of the step."""
        step = min(self.max_s, self.initial_s * 2 ** max(0, failures - 1))
        return timedelta(seconds=step * (0.5 + 0.5 * rnd()))


def event_to_json(event: Event) -> dict[str, Any]:
    return {"issue_id": event.issue_id, "version": event.version, "kind": event.kind,
            "actor": event.actor.label(), "at": ts(event.at), "payload": dict(event.payload)}


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(issue_id=data["issue_id"], version=data["version"], kind=data["kind"],
                 actor=Actor.parse(data["actor"]), at=datetime.fromisoformat(data["at"]),
                 payload=data["payload"])


class TransferService:
    def __init__(
        self,
        *,
        store: Store,
        node: str,
        parent: str | None,
        children: frozenset[str],
        rules: Rules,
        clock: Clock,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.node = node
        self.parent = parent
        self.children = children
        self.rules = rules
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.actor = Actor(kind=ActorKind.NODE, id=node)
        #: called after the commit with the destination of every transfer queued, so its
        #: sender starts at once (the runtime wires it to the senders' wake-ups)
        self.on_queued: Callable[[str], None] = lambda _destination: None

    # ------------------------------------------------------------------ 1. request

    def request_escalation(self, principal: Principal | None, key: str, reason: str) -> str:
        """Queue the escalation of `key` to the parent; returns the transfer id."""
        if self.parent is None:
            raise RuleViolation("no_parent", "本节点没有上级，无法上报",
                                "this node has no parent to escalate to")
        return self._request(principal, key, Action.ESCALATE,
                             lambda issue: Escalate(to=self.parent or "", reason=reason))

    def request_return(self, principal: Principal | None, key: str, instructions: str) -> str:
        """Queue the return of `key` to the child it came from; returns the transfer id."""

        def command(issue: Issue) -> Return:
            if issue.came_from is None or issue.came_from not in self.children:
                raise RuleViolation("not_escalated_here", "该诉求并非由下级上报，无法退回",
                                    "the issue did not come from a child; nothing to return to")
            return Return(to=issue.came_from, instructions=instructions)

        return self._request(principal, key, Action.RETURN, command)

    def request_dispatch(self, principal: Principal | None, key: str, child: str,
                         instructions: str) -> str:
        """交办下级: hand an issue this node owns to a child (e.g. a province-assigned
        issue to a city); its status then flows back up on the child's stream."""
        if child not in self.children:
            raise RuleViolation("not_a_child", f"{child} 不是本节点的下级",
                                f"{child} is not a child of this node")
        return self._request(principal, key, Action.RETURN,
                             lambda issue: Return(to=child, instructions=instructions))

    def request_directive(self, principal: Principal, key: str, kind: str,
                          note: str | None) -> str:
        """督办 / urge an issue owned below this node; routed to the child on its path."""
        require(principal, Action.SUPERVISE.value)
        if kind not in DIRECTIVE_KINDS:
            raise ValidationError("kind", "督办类型无效", f"kind must be one of {DIRECTIVE_KINDS}")
        note = check_text("note", note, max_len=MAX_COMMENT, required=False)
        now = self.clock.now()
        with self.store.write() as conn:
            issue = repo.load_issue(conn, key)
            origin = issue.owner if issue is not None else key.split("-", 1)[0]
            if issue is not None and issue.owner == self.node:
                raise RuleViolation("owned_here", "本节点办理的诉求请直接催办",
                                    "this node owns the issue: urge it directly")
            child = self.route_down(origin)
            transfer_id = uuid6.uuid7().hex
            tx.add_outgoing(conn, tx.OutboxRow(
                transfer_id=transfer_id, seq=repo.next_counter(conn, TRANSFER_SEQ),
                issue_id=issue.id if issue is not None else key, kind=kind, destination=child,
                event={"note": note, "issued_by": self.node}, status=tx.PENDING, attempts=0,
                last_error=None, created_at=now))
        self.on_queued(child)
        return transfer_id

    def request_upward(self, principal: Principal, key: str, command: Rate | Urge) -> str:
        """An enterprise rated or urged an issue now owned above this node: forward it to
        the owner (recorded there exactly once, as the enterprise's own action)."""
        if self.parent is None:
            raise RuleViolation("no_parent", "本节点没有上级", "this node has no parent")
        now = self.clock.now()
        with self.store.write() as conn:
            issue = repo.load_issue(conn, key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            # validated here against the replica (state, 24 h rule), again at the owner
            decide(issue, command, actor=principal.actor, now=now, rules=self.rules)
            kind = "rate" if isinstance(command, Rate) else "enterprise_urge"
            note = command.comment if isinstance(command, Rate) else command.note
            transfer_id = uuid6.uuid7().hex
            tx.add_outgoing(conn, tx.OutboxRow(
                transfer_id=transfer_id, seq=repo.next_counter(conn, TRANSFER_SEQ),
                issue_id=issue.id, kind=kind, destination=self.parent,
                event={"note": note, "issued_by": self.node,
                       "rating": command.rating.value if isinstance(command, Rate) else None,
                       "credit_code": issue.enterprise.credit_code},
                status=tx.PENDING, attempts=0, last_error=None, created_at=now))
        self.on_queued(self.parent)
        return transfer_id

    def route_down(self, code: str) -> str:
        """The child whose subtree holds unit `code`."""
        try:
            validate_division_code(code)
        except ValidationError:
            raise not_found(code) from None
        for candidate in (code, code[:4] + "00"):
            if candidate in self.children:
                return candidate
        raise Forbidden(f"{code} 不在本节点辖区内", f"{code} is not below this node")

    def _request(self, principal: Principal | None, key: str, action: Action,
                 command_of: Callable[[Issue], Escalate | Return]) -> str:
        now = self.clock.now()
        with self.store.write() as conn:
            issue = repo.load_issue(conn, key, for_update=True)
            if issue is None:
                raise not_found(key)
            if principal is not None:
                authorize(principal, action, issue, self.node, key)
            elif issue.owner != self.node:
                raise Forbidden("本节点不是该诉求的办理方", "this node does not own the issue")
            if tx.pending_for_issue(conn, issue.id) is not None:
                raise RuleViolation("transfer_pending", "该诉求已在移交中",
                                    "a transfer of this issue is already pending",
                                    issue_id=issue.id)
            command = command_of(issue)
            actor = principal.actor if principal is not None else Actor(
                kind=ActorKind.SYSTEM, id="auto")
            event = decide(issue, command, actor=actor, now=now, rules=self.rules)
            transfer_id = uuid6.uuid7().hex
            tx.add_outgoing(conn, tx.OutboxRow(
                transfer_id=transfer_id, seq=repo.next_counter(conn, TRANSFER_SEQ),
                issue_id=issue.id, kind=action.value, destination=command.to,
                event=event_to_json(event), status=tx.PENDING, attempts=0, last_error=None,
                created_at=now,
            ))
        self.on_queued(command.to)
        return transfer_id

    def is_pending(self, issue_id: str) -> bool:
        with self.store.read() as conn:
            return tx.pending_for_issue(conn, issue_id) is not None

    # ------------------------------------------------------------------ sender's view

    def due(self, destination: str, limit: int) -> list[Outgoing]:
        """The next pending transfers for `destination`, in order, with what to ship."""
        with self.store.read() as conn:
            out = []
            for row in tx.pending_batch(conn, destination, limit):
                if row.kind in DIRECTIVE_KINDS:
                    out.append(Outgoing(row=row, issue=None, history=[], transfer=None))
                    continue
                issue = repo.load_issue(conn, row.issue_id)
                assert issue is not None
                history = [(s.event, s.node) for s in repo.events_of(conn, issue.id)]
                out.append(Outgoing(row=row, issue=issue, history=history,
                                    transfer=event_from_json(row.event)))
            return out

    def next_attempt_at(self, destination: str) -> datetime | None:
        with self.store.read() as conn:
            return tx.destination_state(conn, destination).next_attempt_at

    # ------------------------------------------------------------------ 3. record

    def record_accepted(self, transfer_id: str, response: dict[str, Any]) -> bool:
        """The receiver accepted: give up ownership now. Idempotent."""
        now = self.clock.now()
        with self.store.write() as conn:
            row = tx.get_outgoing(conn, transfer_id)
            if row is None or row.status != tx.PENDING:
                return False
            if row.kind in DIRECTIVE_KINDS:  # nothing changes here: the owner records it
                tx.finish_outgoing(conn, transfer_id, status=tx.DELIVERED, now=now,
                                   response=response)
                self._reset(conn, row.destination, now)
                return True
            issue = repo.load_issue(conn, row.issue_id, for_update=True)
            assert issue is not None
            event = event_from_json(row.event)
            repo.update_issue(conn, evolve(issue, event), expected_version=issue.version)
            repo.append_event(conn, self.node, event, own=True)
            tx.finish_outgoing(conn, transfer_id, status=tx.DELIVERED, now=now,
                               response=response)
            self._reset(conn, row.destination, now)
        return True

    def record_refused(self, transfer_id: str, error: str) -> None:
        """A refusal no retry can fix: park the row (dead letter) and unfreeze the issue."""
        with self.store.write() as conn:
            tx.finish_outgoing(conn, transfer_id, status=tx.REFUSED, now=self.clock.now(),
                               error=error[:2000])

    def record_failure(self, destination: str, transfer_ids: list[str], error: str) -> datetime:
        """The destination did not answer: persist the next attempt time (capped, jittered)."""
        now = self.clock.now()
        with self.store.write() as conn:
            state = tx.destination_state(conn, destination)
            failures = state.failures + 1
            next_at = now + self.backoff.delay(failures)
            tx.save_destination(conn, tx.DestinationState(
                node=destination, failures=failures, next_attempt_at=next_at,
                last_error=error[:2000], last_attempt_at=now,
                last_success_at=state.last_success_at))
            if transfer_ids:
                tx.count_attempt(conn, transfer_ids, error[:2000])
        return next_at

    def record_reachable(self, destination: str) -> None:
        with self.store.write() as conn:
            self._reset(conn, destination, self.clock.now())

    def _reset(self, conn: Any, destination: str, now: datetime) -> None:
        tx.save_destination(conn, tx.DestinationState(node=destination, last_attempt_at=now,
                                                      last_success_at=now))

    # ------------------------------------------------------------------ 2. accept

    def accept_escalation(self, transfer: Transfer, caller: str) -> dict[str, Any]:
        if caller not in self.children:
            raise Forbidden(f"{caller} 不是本节点的下级", f"{caller} is not a child of this node")
        return self._accept(transfer, caller, Action.ESCALATE)

    def accept_return(self, transfer: Transfer, caller: str) -> dict[str, Any]:
        if caller != self.parent:
            raise Forbidden(f"{caller} 不是本节点的上级", f"{caller} is not this node's parent")
        return self._accept(transfer, caller, Action.RETURN)

    def _accept(self, t: Transfer, caller: str, kind: Action) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.write() as conn:
            earlier = tx.find_incoming(conn, caller, t.transfer_id)
            if earlier is not None:
                return {**earlier, "duplicate": True}
            if t.origin_node != caller:
                raise Forbidden("调用方与消息声明的来源不一致",
                                "the calling node is not the origin the message claims")
            if t.issue.owner != caller:
                raise Forbidden(f"{caller} 不是该诉求的办理方，无权移交",
                                f"{caller} does not own issue {t.issue.id}")
            if t.transfer.payload.get("to") != self.node:
                raise ValidationError("transfer.to", "移交目标不是本节点",
                                      "the transfer is addressed to another node")
            existing = repo.load_issue(conn, t.issue.id, for_update=True)
            self._check_identity(conn, t.issue, existing, caller)
            if existing is not None and existing.owner != caller:
                raise Forbidden(f"本节点记录的办理方是 {existing.owner}，不是 {caller}",
                                f"this node records {existing.owner} as the owner, not {caller}")
            if existing is not None and existing.version > t.issue.version:
                raise Conflict("移交的诉求版本落后于本节点记录",
                               "the transferred issue is older than this node's copy")
            issue = evolve(t.issue, t.transfer)
            new_events = [(e, n, False) for e, n in t.history
                          if existing is None or e.version > existing.version]
            new_events.append((t.transfer, t.transfer_node, False))
            if kind is Action.ESCALATE:
                received = decide(issue, Receive(came_from=caller), actor=self.actor, now=now,
                                  rules=self.rules)
                issue = evolve(issue, received)
                new_events.append((received, self.node, True))
            if existing is None:
                repo.insert_issue(conn, issue)
            else:
                repo.update_issue(conn, issue, expected_version=existing.version)
            for event, writer, own in new_events:
                repo.append_event(conn, writer, event, own=own)
            response = {
                "transfer_id": t.transfer_id, "issue_id": issue.id, "new_owner": self.node,
                "number": issue.number, "version": issue.version, "accepted_at": ts(now),
            }
            tx.add_incoming(conn, origin=caller, transfer_id=t.transfer_id, issue_id=issue.id,
                            response=response, now=now)
        return {**response, "duplicate": False}

    def _check_identity(self, conn: Any, issue: Issue, existing: Issue | None,
                        caller: str) -> None:
        """An issue new here must be minted where the sender may bring it from (an
        escalation: the child's subtree; a dispatch: above this node); a known one keeps
        its id, number and origin."""
        check_snapshot(issue)
        if existing is not None:
            if (existing.id, existing.number, existing.origin) != (
                    issue.id, issue.number, issue.origin):
                raise ValidationError("issue.number", "诉求的受理号或来源与本节点记录不一致",
                                      "the issue's number or origin differs from this "
                                      "node's copy")
            return
        check_new_issue(issue, sender=caller, receiver=self.node)
        if repo.holder_of_number(conn, issue.number) is not None:
            raise Conflict("该受理号已被其他诉求占用",
                           "another issue already holds this number")

    def accept_directive(self, d: Directive, caller: str) -> dict[str, Any]:
        """Record a directive on an issue this node owns, or pass it on towards the owner
        (down for supervision and urges, up for an enterprise's rating or urge) — once per
        (caller, transfer id)."""
        upward = d.kind in UP_KINDS
        if d.origin_node != caller or (caller not in self.children if upward
                                       else caller != self.parent):
            raise Forbidden(f"{caller} 无权向本节点发送该指令",
                            f"{caller} may not send a {d.kind} directive to this node")
        now = self.clock.now()
        with self.store.write() as conn:
            earlier = tx.find_incoming(conn, caller, d.transfer_id)
            if earlier is not None:
                return {**earlier, "duplicate": True}
            issue = repo.load_issue(conn, d.issue_key, for_update=True)
            if issue is None and upward:
                raise not_found(d.issue_key)
            if upward and issue is not None and not within(issue.origin, caller):
                # an enterprise acts at its own county: the action climbs the issue's path
                raise Forbidden(f"{caller} 不在该诉求的上报路径上",
                                f"{caller} is not on the path of issue {issue.id}")
            owner = issue.owner if issue is not None else d.issue_key.split("-", 1)[0]
            if issue is not None and issue.owner == self.node:
                event = decide(issue, self._directive_command(d, issue),
                               actor=self._directive_actor(d), now=now, rules=self.rules)
                repo.update_issue(conn, evolve(issue, event), expected_version=issue.version)
                repo.append_event(conn, self.node, event, own=True)
                response = {"transfer_id": d.transfer_id, "handled_by": self.node,
                            "forwarded": False}
            else:
                if upward:
                    if self.parent is None:
                        raise not_found(d.issue_key)
                    towards = self.parent
                else:
                    towards = self.route_down(owner)
                tx.add_outgoing(conn, tx.OutboxRow(
                    transfer_id=uuid6.uuid7().hex, seq=repo.next_counter(conn, TRANSFER_SEQ),
                    issue_id=issue.id if issue is not None else d.issue_key, kind=d.kind,
                    destination=towards,
                    event={"note": d.note, "issued_by": d.issued_by, "rating": d.rating,
                           "credit_code": d.credit_code},
                    status=tx.PENDING, attempts=0, last_error=None, created_at=now))
                response = {"transfer_id": d.transfer_id, "handled_by": towards,
                            "forwarded": True}
            if issue is not None:
                tx.add_incoming(conn, origin=caller, transfer_id=d.transfer_id,
                                issue_id=issue.id, response=response, now=now)
        if response["forwarded"]:
            self.on_queued(str(response["handled_by"]))
        return {**response, "duplicate": False}

    @staticmethod
    def _directive_command(d: Directive, issue: Issue) -> Supervise | Urge | Rate:
        if d.kind == "supervise":
            return Supervise(issued_by=d.issued_by, note=d.note)
        if d.kind in UP_KINDS and issue.enterprise.credit_code != d.credit_code:
            raise Forbidden("企业与诉求不符", "the enterprise does not own this issue")
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
        with self.store.read() as conn:
            issue = repo.load_issue(conn, issue_id)
            if issue is None:
                raise not_found(issue_id)
            related = caller in (issue.origin, issue.came_from, issue.owner)
            if caller != self.parent and not (caller in self.children and related):
                raise Forbidden(f"{caller} 无权读取该诉求", f"{caller} may not read this issue")
            history = [(s.event, s.node) for s in repo.events_of(conn, issue.id)
                       if s.event.version > after_version]
        return issue, history

    # ------------------------------------------------------------------ operations

    def outbox_status(self, stuck_after: timedelta) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.read() as conn:
            summary = tx.outbox_summary(conn)
            dests = set(summary) | ({self.parent} if self.parent else set())
            out = {}
            for dest in sorted(dests):
                depth, oldest = summary.get(dest, (0, None))
                state = tx.destination_state(conn, dest)
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
                       for r in tx.refused(conn)]
        return {"destinations": out, "refused": refused}
