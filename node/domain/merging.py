"""并单: merging followers into a master issue, and undoing it. Pure: `now` passed in.

How it works. A merge is not a step of the lifecycle table (node/domain/lifecycle.py): it
concerns two issues at once, so it is recorded as one event on each, in one transaction,
with event kinds of its own (`MERGE_KINDS`) that `lifecycle.evolve` hands to
`merge_changes`. Keeping them out of `Action` leaves the table, and every test of it,
exactly as it was; the codec accepts the kinds (federation/codec.py EVENT_KINDS), so the
events replicate like any other.

* `merged` on the master (its state does not move; the payload names the follower) and
  `merged_into` on the follower: the follower is closed (`outcome` "merged", no deadline),
  its state and deadline before the merge kept in the payload (`previous`).
* `merged_reply`: when the master is answered (`resolve`), each follower still closed as
  merged is answered with the master's reply and becomes `resolved`, so that its own
  enterprise gets the reply with its rating link (the `resolved` notice) and rates its own
  issue through the ordinary rating step: the rating is recorded on the follower.
* `merged_closed`: when the master is closed without an answer (its rejection confirmed),
  each follower still closed as merged is told; it stays closed.
* `unmerged` on the master and `unmerged_from` on the follower (a leader's decision): the
  follower gets back its state and deadline from before the merge. Only a follower not yet
  answered can be unmerged (after `merged_reply` it is an answered issue of its own); one
  closed with a rejected master can, to be handled on its own.

Who follows whom is read from the events (`active_followers`, `master_of`): the store's
issue_merges table is a projection of them (node/store/duplicates.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.domain.errors import Forbidden, RuleViolation, ValidationError
from node.domain.issue import Actor, Deadline, Event, Issue, State

MERGED = "merged"  # on the master: a follower joined it
MERGED_INTO = "merged_into"  # on the follower: closed as merged into the master
UNMERGED = "unmerged"  # on the master: a follower left it
UNMERGED_FROM = "unmerged_from"  # on the follower: restored to its state before the merge
MERGED_REPLY = "merged_reply"  # on the follower: the master's reply, to be rated
MERGED_CLOSED = "merged_closed"  # on the follower: the master closed without an answer
MERGE_KINDS: frozenset[str] = frozenset({MERGED, MERGED_INTO, UNMERGED, UNMERGED_FROM,
                                         MERGED_REPLY, MERGED_CLOSED})

#: `Issue.outcome` of a follower closed as merged (and not answered yet)
OUTCOME_MERGED = "merged"
#: states an issue can be merged in, as master or as follower: handled here and open, not
#: under a rejection review (a rejected master closes its followers: `merged_closed`)
MERGEABLE: frozenset[State] = frozenset({State.RECEIVED, State.TRIAGED, State.ASSIGNED,
                                         State.IN_PROGRESS, State.RETURNED, State.REOPENED})
#: the master's event kinds that reach its followers
FAN_OUT_KINDS: frozenset[str] = frozenset({"resolve", "confirm_rejection"})
MAX_FOLLOWERS = 50  # followers merged in one request
MAX_MERGE_NOTE = 500


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.isoformat()


def _deadline(deadline: Deadline | None) -> dict[str, str] | None:
    """The deadline as lifecycle's event payloads write it (evolve reads it back)."""
    if deadline is None:
        return None
    return {"kind": deadline.kind.value, "start": _ts(deadline.start), "due": _ts(deadline.due)}


def is_merged_follower(issue: Issue) -> bool:
    """Closed as merged into a master and not answered yet."""
    return issue.state is State.CLOSED and issue.outcome == OUTCOME_MERGED


def check_merge(master: Issue, follower: Issue, node: str) -> None:
    """Refuse merging `follower` into `master` here unless both are this node's own open
    issues and differ."""
    if master.id == follower.id:
        raise ValidationError("merge_self", field="followers")
    for issue in (master, follower):
        if issue.owner != node:
            raise Forbidden("replica_read_only", owner=issue.owner)
        if issue.state not in MERGEABLE:
            raise RuleViolation("merge_not_open", issue=issue.number, state=issue.state.value)


def _note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    note = note.strip()
    if len(note) > MAX_MERGE_NOTE:
        raise ValidationError("text_too_long", field="note", max_len=MAX_MERGE_NOTE,
                              length=len(note))
    return note


def merge(master: Issue, follower: Issue, *, node: str, actor: Actor, now: datetime,
          note: str | None = None) -> tuple[Event, Event]:
    """(the master's `merged` event, the follower's `merged_into` event)."""
    check_merge(master, follower, node)
    note = _note(note)
    on_master = Event(issue_id=master.id, version=master.version + 1, kind=MERGED,
                      actor=actor, at=now,
                      payload={"state": master.state.value, "follower": follower.id,
                               "follower_number": follower.number, "note": note})
    on_follower = Event(issue_id=follower.id, version=follower.version + 1, kind=MERGED_INTO,
                        actor=actor, at=now,
                        payload={"state": State.CLOSED.value, "deadline": None,
                                 "master": master.id, "master_number": master.number,
                                 "note": note,
                                 "previous": {"state": follower.state.value,
                                              "deadline": _deadline(follower.deadline)}})
    return on_master, on_follower


def unmerge(master: Issue, follower: Issue, merged_into: Mapping[str, Any], *, node: str,
            actor: Actor, now: datetime, note: str | None = None) -> tuple[Event, Event]:
    """(the master's `unmerged` event, the follower's `unmerged_from` event): the follower
    back in its state and deadline from before the merge (`merged_into`: the payload of the
    follower's `merged_into` event)."""
    if follower.owner != node:
        raise Forbidden("replica_read_only", owner=follower.owner)
    if not is_merged_follower(follower) or merged_into.get("master") != master.id:
        raise RuleViolation("not_merged", issue=follower.number)
    note = _note(note)
    previous = merged_into["previous"]
    on_master = Event(issue_id=master.id, version=master.version + 1, kind=UNMERGED,
                      actor=actor, at=now,
                      payload={"state": master.state.value, "follower": follower.id,
                               "follower_number": follower.number, "note": note})
    on_follower = Event(issue_id=follower.id, version=follower.version + 1,
                        kind=UNMERGED_FROM, actor=actor, at=now,
                        payload={"state": previous["state"], "deadline": previous["deadline"],
                                 "master": master.id, "master_number": master.number,
                                 "note": note})
    return on_master, on_follower


def fan_out(master_event: Event, master: Issue, follower: Issue, *,
            now: datetime) -> Event | None:
    """The follower's event caused by the master's `master_event` (`master`: the master
    after it), or None: only a follower still closed as merged is reached."""
    if master_event.kind not in FAN_OUT_KINDS or not is_merged_follower(follower):
        return None
    common = {"master": master.id, "master_number": master.number}
    if master_event.kind == "resolve":
        return Event(issue_id=follower.id, version=follower.version + 1, kind=MERGED_REPLY,
                     actor=master_event.actor, at=now,
                     payload={"state": State.RESOLVED.value, "deadline": None,
                              "reply": master.reply, **common})
    return Event(issue_id=follower.id, version=follower.version + 1, kind=MERGED_CLOSED,
                 actor=master_event.actor, at=now,
                 payload={"state": State.CLOSED.value, "reason": master.rejection_reason,
                          **common})


def merge_changes(issue: Issue, event: Event) -> dict[str, Any]:
    """The snapshot fields a merge event changes besides its state and deadline (which
    `lifecycle.evolve` applies from the payload like every event's)."""
    p = event.payload
    match event.kind:
        case "merged_into":
            return {"closed_at": event.at, "outcome": OUTCOME_MERGED}
        case "unmerged_from":
            return {"closed_at": None, "outcome": None}
        case "merged_reply":
            return {"reply": p.get("reply"), "resolved_at": event.at, "closed_at": None,
                    "outcome": None}
        case "merged_closed":
            return {"closed_at": event.at, "outcome": OUTCOME_MERGED}
    return {}


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, kw_only=True, slots=True)
class MergeLink:
    """One follower of a master, as their events tell it."""

    master: str
    master_number: str
    follower: str
    follower_number: str
    merged_at: datetime
    merged_by: str
    unmerged_at: datetime | None = None
    unmerged_by: str | None = None


def links(events: Iterable[Event]) -> list[MergeLink]:
    """Every merge the issue's own events record (as master or as follower), in order."""
    out: list[MergeLink] = []
    for e in events:
        p = e.payload
        if e.kind == MERGED:
            out.append(MergeLink(master=e.issue_id, master_number="",
                                 follower=p["follower"], follower_number=p["follower_number"],
                                 merged_at=e.at, merged_by=e.actor.label()))
        elif e.kind == MERGED_INTO:
            out.append(MergeLink(master=p["master"], master_number=p["master_number"],
                                 follower=e.issue_id, follower_number="",
                                 merged_at=e.at, merged_by=e.actor.label()))
        elif e.kind in (UNMERGED, UNMERGED_FROM):
            other = p["follower"] if e.kind == UNMERGED else e.issue_id
            for k in range(len(out) - 1, -1, -1):
                link = out[k]
                if link.follower == other and link.unmerged_at is None:
                    out[k] = MergeLink(master=link.master, master_number=link.master_number,
                                       follower=link.follower,
                                       follower_number=link.follower_number,
                                       merged_at=link.merged_at, merged_by=link.merged_by,
                                       unmerged_at=e.at, unmerged_by=e.actor.label())
                    break
    return out


def active_followers(master_events: Iterable[Event]) -> list[str]:
    """The followers merged into the issue of these events and not unmerged, in order."""
    return [link.follower for link in links(master_events)
            if link.unmerged_at is None and link.follower_number]


def master_of(follower_events: Iterable[Event]) -> tuple[str, Mapping[str, Any]] | None:
    """(master id, the `merged_into` payload) of the merge the follower is in, or None."""
    current: tuple[str, Mapping[str, Any]] | None = None
    for e in follower_events:
        if e.kind == MERGED_INTO:
            current = (e.payload["master"], e.payload)
        elif e.kind == UNMERGED_FROM:
            current = None
    return current


def unanswered(master_events: Iterable[Event]) -> list[tuple[str, Event]]:
    """(follower id, the master event that answers it) for every follower still merged
    into the issue of these events whose master was answered (or closed) after the merge:
    what a node must still write on its followers when the master's answer came from
    another tier (an escalated master's events arrive by replication, not by `act`). A
    follower merged after the answer waits for the next one; an unmerged one is dropped."""
    active: dict[str, Event | None] = {}
    for e in master_events:
        if e.kind == MERGED:
            active[e.payload["follower"]] = None
        elif e.kind == UNMERGED:
            active.pop(e.payload["follower"], None)
        elif e.kind in FAN_OUT_KINDS:
            for follower in active:
                active[follower] = e
    return [(f, e) for f, e in active.items() if e is not None]
