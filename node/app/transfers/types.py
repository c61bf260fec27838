"""The transfer use cases' own types: what the adapters hand in and get back.

`Transfer` and `Directive` are the requests one node sends another (the gRPC server decodes
them, the sender encodes them — both through federation/codec.py, which alone knows the
protobuf messages); `Accepted` and `DirectiveAccepted` are the receiver's answers.
`OutboxRow` and `DestinationState` are the records the outbox keeps (node/store/outbox.py
stores them behind the ports in node/app/ports.py); `Outgoing` is one pending row with the
request it ships. Nothing here does I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from node.domain.issue import Action, Event, Issue
from node.domain.lifecycle import parse_ts, ts

#: Directives travel down the tiers (a higher tier supervises or urges the owner) or up
#: (an enterprise's urge or rating, forwarded from its county to the tier that owns the
#: issue). They never move ownership.
DOWN_KINDS = ("supervise", "urge")
UP_KINDS = ("enterprise_urge", "rate", "enterprise_attach")
#: An enterprise's file for an issue owned above: its metadata travels, its bytes stay
ATTACH = "enterprise_attach"
DIRECTIVE_KINDS = DOWN_KINDS + UP_KINDS
#: The outbox kinds that move ownership (and freeze the issue while pending).
OWNERSHIP_KINDS = (Action.ESCALATE.value, Action.RETURN.value)

#: Outbox row statuses.
PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, kw_only=True, slots=True)
class Transfer:
    """An Escalate or Return request: the issue, its complete history and the transfer
    event (version n+1) written by the sending node."""

    transfer_id: str
    origin_node: str
    issue: Issue
    history: tuple[tuple[Event, str], ...]  # (event, writing node), versions 1..n
    transfer: Event
    transfer_node: str

    @property
    def kind(self) -> Action:
        """ESCALATE or RETURN (a dispatch down is a RETURN to a child)."""
        return Action(self.transfer.kind)


@dataclass(frozen=True, kw_only=True, slots=True)
class Directive:
    """A supervision or urge travelling down, or an enterprise's urge or rating travelling
    up, towards the node that owns the issue."""

    transfer_id: str
    origin_node: str
    issue_key: str
    kind: str  # supervise | urge (down); enterprise_urge | rate | enterprise_attach (up)
    note: str | None
    issued_by: str
    rating: str | None = None
    credit_code: str | None = None
    #: enterprise_attach: the attachment_added payload (node/domain/attachments.py)
    attachment: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, kw_only=True, slots=True)
class Accepted:
    """The receiver took ownership (or had already: `duplicate`)."""

    transfer_id: str
    issue_id: str
    new_owner: str
    number: str
    version: int
    accepted_at: datetime
    duplicate: bool = False

    def to_json(self, *, with_duplicate: bool = True) -> dict[str, Any]:
        """The JSON kept in the inbox (without `duplicate`) and in the outbox row."""
        out: dict[str, Any] = {
            "transfer_id": self.transfer_id, "issue_id": self.issue_id,
            "new_owner": self.new_owner, "number": self.number, "version": self.version,
            "accepted_at": ts(self.accepted_at),
        }
        if with_duplicate:
            out["duplicate"] = self.duplicate
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, duplicate: bool) -> Accepted:
        return cls(transfer_id=data["transfer_id"], issue_id=data["issue_id"],
                   new_owner=data["new_owner"], number=data["number"],
                   version=data["version"], accepted_at=parse_ts(data["accepted_at"]),
                   duplicate=duplicate)


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectiveAccepted:
    """The receiver recorded the directive (`forwarded` False) or queued it on towards the
    owner (`handled_by` the next node)."""

    transfer_id: str
    handled_by: str
    forwarded: bool
    duplicate: bool = False

    def to_json(self, *, with_duplicate: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"transfer_id": self.transfer_id,
                               "handled_by": self.handled_by, "forwarded": self.forwarded}
        if with_duplicate:
            out["duplicate"] = self.duplicate
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, duplicate: bool) -> DirectiveAccepted:
        return cls(transfer_id=data["transfer_id"], handled_by=data["handled_by"],
                   forwarded=data["forwarded"], duplicate=duplicate)


# --------------------------------------------------------------------------- outbox


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxRow:
    """One queued transfer or directive. `event` is the prepared transfer event (JSON) or
    a directive's fields."""

    transfer_id: str
    seq: int
    issue_id: str
    kind: str
    destination: str
    event: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class DestinationState:
    """Persisted backoff of one destination: survives restarts, resets when it answers."""

    node: str
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """What the sender ships for one pending row: exactly one of `transfer` (escalate,
    return) and `directive` is set."""

    row: OutboxRow
    transfer: Transfer | None = None
    directive: Directive | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    initial_s: float = 5.0
    max_s: float = 3600.0

    def delay(self, failures: int, rnd: Callable[[], float] = random.random) -> timedelta:
        """Capped exponential backoff with jitter in [50 %, 100 %] of the step."""
        step = min(self.max_s, self.initial_s * 2 ** max(0, failures - 1))
        return timedelta(seconds=step * (0.5 + 0.5 * rnd()))
