"""并单: a dispatcher merges duplicates into a master; a leader undoes it.

Each use case is one transaction of the issue store: load and lock the issues, let the
pure domain (node/domain/merging.py) decide, write every changed snapshot with its event.
A merge writes a `merged` event on the master and a `merged_into` event on each follower
(closed as merged); any refusal — wrong role (403), an issue this node does not own (403),
a follower equal to the master (422), an issue not open (409) — raises before anything is
written, so nothing changes.

`fan_out_followers` is called by `IssueService.act` in the master's own transaction: when
the master is answered (or closed on a confirmed rejection), each follower still closed as
merged gets its `merged_reply` (or `merged_closed`) event there and then, so the follower's
enterprise is told by the ordinary notification projection (its own `resolved` notice with
its own rating link) and rates its own issue; the rating is recorded on the follower.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from node.app.policy import (
    MERGE_ISSUES,
    UNMERGE_ISSUES,
    Principal,
    check_can_view,
    not_found,
    require,
)
from node.app.ports import Clock, IssueStore, IssueUnit
from node.domain import merging
from node.domain.errors import RuleViolation, ValidationError
from node.domain.issue import Event, Issue
from node.domain.lifecycle import evolve


@dataclass(frozen=True, kw_only=True, slots=True)
class Merged:
    master: Issue
    followers: list[Issue]


def _locked(unit: IssueUnit, principal: Principal, key: str) -> Issue:
    issue = unit.load_issue(key, for_update=True)
    if issue is None:
        raise not_found(key)
    check_can_view(principal, issue, key)
    if unit.transfer_pending(issue.id):
        raise RuleViolation("transfer_pending", issue_id=issue.id)
    return issue


def _lock_in_order(unit: IssueUnit, keys: Sequence[str]) -> None:
    """Lock the issues in the order of their ids, whatever order the request names them
    in: two merges of the same issues the other way round wait for each other instead of
    deadlocking (PostgreSQL; SQLite has one writer anyway)."""
    ids = set()
    for key in keys:
        found = unit.load_issue(key)
        if found is None:
            raise not_found(key)
        ids.add(found.id)
    for issue_id in sorted(ids):
        unit.load_issue(issue_id, for_update=True)


def _write(unit: IssueUnit, node: str, issue: Issue, event: Event) -> Issue:
    new = evolve(issue, event)
    unit.update_issue(new, expected_version=issue.version)
    unit.append_event(node, event, own=True)
    return new


def _events(unit: IssueUnit, issue_id: str) -> list[Event]:
    return [s.event for s in unit.events_of(issue_id)]


class MergeService:
    def __init__(self, *, store: IssueStore, node: str, clock: Clock) -> None:
        self.store = store
        self.node = node
        self.clock = clock
        self.sweeps = 0  # `answer_pending` runs completed (the node's sweep, at start)

    def merge(self, principal: Principal, master_key: str, follower_keys: Sequence[str], *,
              note: str | None = None) -> Merged:
        """Merge the followers into the master: all of them, or none."""
        require(principal, MERGE_ISSUES)
        keys = list(dict.fromkeys(follower_keys))
        if not 1 <= len(keys) <= merging.MAX_FOLLOWERS:
            raise ValidationError("merge_followers_count", field="followers",
                                  max_count=merging.MAX_FOLLOWERS, count=len(keys))
        now = self.clock.now()
        with self.store.write() as unit:
            _lock_in_order(unit, [master_key, *keys])
            master = _locked(unit, principal, master_key)
            followers: list[Issue] = []
            for key in keys:
                follower = _locked(unit, principal, key)
                merging.check_merge(master, follower, self.node)
                if merging.active_followers(_events(unit, follower.id)):
                    raise RuleViolation("merge_has_followers", issue=follower.number)
                on_master, on_follower = merging.merge(master, follower, node=self.node,
                                                       actor=principal.actor, now=now,
                                                       note=note)
                master = _write(unit, self.node, master, on_master)
                followers.append(_write(unit, self.node, follower, on_follower))
        return Merged(master=master, followers=followers)

    def unmerge(self, principal: Principal, follower_key: str, *,
                note: str | None = None) -> Merged:
        """Undo the merge `follower_key` is in: it gets back its state from before."""
        require(principal, UNMERGE_ISSUES)
        now = self.clock.now()
        with self.store.write() as unit:
            follower = unit.load_issue(follower_key)
            if follower is None:
                raise not_found(follower_key)
            check_can_view(principal, follower, follower_key)
            found = merging.master_of(_events(unit, follower.id))
            if found is None:
                raise RuleViolation("not_merged", issue=follower.number)
            master_id, merged_into = found
            _lock_in_order(unit, [master_id, follower.id])
            follower = _locked(unit, principal, follower_key)
            if merging.master_of(_events(unit, follower.id)) != found:  # changed meanwhile
                raise RuleViolation("not_merged", issue=follower.number)
            master = unit.load_issue(master_id, for_update=True)
            if master is None:
                raise not_found(master_id)
            on_master, on_follower = merging.unmerge(master, follower, merged_into,
                                                     node=self.node, actor=principal.actor,
                                                     now=now, note=note)
            if master.owner == self.node:
                master = _write(unit, self.node, master, on_master)
            restored = _write(unit, self.node, follower, on_follower)
        return Merged(master=master, followers=[restored])

    def links(self, principal: Principal, key: str) -> list[merging.MergeLink]:
        """The merges the issue is or was in (as master or follower), from its events."""
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            return merging.links(_events(unit, issue.id))


    # ---- an escalated master's answer, arrived by replication

    def answer_followers(self, master_ids: Iterable[str]) -> int:
        """Write on this node's followers the answer their master got at another tier.

        A master escalated upward is answered there: its `resolve` reaches this node as a
        replicated event (ReplicaService calls this after committing it), not through
        `IssueService.act`, so its followers here — still this node's own issues — would
        never hear of it. Idempotent: a follower already answered is no longer closed as
        merged and is skipped, so a repeat (or the sweep, `answer_pending`) writes
        nothing twice. Returns how many followers were answered."""
        answered = 0
        with self.store.write() as unit:
            for master_id in dict.fromkeys(master_ids):
                master = unit.load_issue(master_id)
                if master is None or master.owner == self.node:
                    continue  # its own master: `act` answered the followers already
                for follower_id, event in merging.unanswered(_events(unit, master.id)):
                    follower = unit.load_issue(follower_id, for_update=True)
                    if follower is None or follower.owner != self.node:
                        continue
                    caused = merging.fan_out(event, master, follower, now=event.at)
                    if caused is not None:
                        _write(unit, self.node, follower, caused)
                        answered += 1
        return answered

    def answer_pending(self) -> int:
        """`answer_followers` for every master elsewhere that still has followers here
        closed as merged: after a crash between committing the master's replicated answer
        and answering its followers (run at start and periodically)."""
        with self.store.read() as unit:
            masters = unit.masters_elsewhere(self.node)
        answered = self.answer_followers(masters) if masters else 0
        self.sweeps += 1
        return answered

    def answer_replicated(self, events: Sequence[Event]) -> int:
        """ReplicaService's listener: the applied events that may answer followers here."""
        masters = [e.issue_id for e in events if e.kind in merging.FAN_OUT_KINDS]
        return self.answer_followers(masters) if masters else 0


def fan_out_followers(unit: IssueUnit, node: str, master: Issue, event: Event) -> None:
    """In the master's transaction, after its `event`: the followers' events it causes."""
    if event.kind not in merging.FAN_OUT_KINDS:
        return  # most events: no query at all
    for follower_id in merging.active_followers(_events(unit, master.id)):
        follower = unit.load_issue(follower_id, for_update=True)
        if follower is None or follower.owner != node:
            continue
        caused = merging.fan_out(event, master, follower, now=event.at)
        if caused is not None:
            _write(unit, node, follower, caused)
