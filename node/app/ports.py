"""Small interfaces the use cases depend on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from node.domain.deadlines import Light
from node.domain.issue import Event, Issue, State
from node.domain.sampling import RevisitSample
from node.domain.summary import OriginPart

if TYPE_CHECKING:  # node.app.transfers imports this module
    from node.app.transfers.types import DestinationState, OutboxRow


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def __call__(self, node: str) -> str: ...


# --------------------------------------------------------------------------- replication
#
# What applying replicated events (node/app/replica.py), the subtree summary
# (node/app/rollup.py) and the NATS adapters (federation/replication/, federation/summaries.py)
# need of the store; node/store/eventlog.py implements them in SQL.


class ReplicaUnit(Protocol):
    """One write transaction of the replica: what applying an event reads and writes."""

    def load_issue(self, issue_id: str) -> Issue | None:
        """The local copy, locked until the transaction ends."""
        ...

    def number_holder(self, number: str) -> str | None:
        """The id of the issue that holds human number `number`, if any."""
        ...

    def insert_issue(self, issue: Issue) -> None: ...
    def update_issue(self, issue: Issue, *, expected_version: int) -> None: ...
    def record_event(self, writer: str, event: Event, *, writer_seq: int | None,
                     chain: str | None = None) -> None:
        """Append a replicated event (never published again by this node), with its link
        in the writer's hash chain when known."""
        ...

    def chain_of(self, writer: str, writer_seq: int) -> str | None:
        """The link held here of `writer`'s event `writer_seq` (None: not held or unlinked)."""
        ...

    def mark(self, writer: str) -> int | None:
        """How far `writer`'s stream is applied here (None: nothing of it yet)."""
        ...

    def set_mark(self, writer: str, through_seq: int, *, at: datetime) -> None: ...


class ReplicaRecorder(Protocol):
    def unit(self) -> AbstractContextManager[ReplicaUnit]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        ...

    def version_of(self, issue_id: str) -> int:
        """The local copy's version (0: none)."""
        ...

    def watermark(self, writer: str) -> int:
        """How far this node has applied `writer`'s stream (the Watermark RPC's answer)."""
        ...


class HistoryFetch(Protocol):
    """An issue's events after a version, from a peer (gap repair; gRPC Fetch)."""

    async def __call__(self, peer: str, issue_id: str, after_version: int, /
                       ) -> tuple[Issue, list[tuple[Event, str]]]: ...


class LoggedEvent(Protocol):
    """An event of the local log (node.store.repo.StoredEvent)."""

    @property
    def seq(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def node(self) -> str: ...  # its writer
    @property
    def event(self) -> Event: ...
    @property
    def writer_seq(self) -> int | None: ...
    @property
    def chain(self) -> str | None: ...


class EventOutbox(Protocol):
    """The node's own events waiting for the broker's acknowledgement."""

    def pending(self, limit: int) -> Sequence[tuple[LoggedEvent, str]]:
        """Unpublished own events in writer order, each with its issue's origin."""
        ...

    def mark_published(self, seqs: Sequence[int]) -> None: ...
    def published_through(self, writer: str) -> int:
        """The highest writer_seq of `writer`'s events marked published (0: none)."""
        ...

    def republish_after(self, writer: str, writer_seq: int) -> int:
        """Mark `writer`'s published events after `writer_seq` unpublished; how many."""
        ...


class DeadLetters(Protocol):
    """Messages parked because they cannot be applied (or not yet)."""

    def park(self, *, stream: str, stream_seq: int, subject: str, error: str, data: str,
             at: datetime) -> None:
        """Keep the message, once per (stream, stream_seq)."""
        ...

    def waiting(self) -> int:
        """Parked messages not (yet) resolved: what an operator has to look at."""
        ...

    def waiting_with(self, reason: str) -> int:
        """Unresolved parked messages whose error starts with `reason`."""
        ...

    def parked(self, reason: str, limit: int) -> Sequence[tuple[int, str, str]]:
        """(id, subject, data) of unresolved letters whose error starts with `reason`,
        oldest first."""
        ...

    def resolve(self, letter_id: int, *, at: datetime) -> None: ...
    def refuse(self, letter_id: int, error: str) -> None:
        """Keep it parked for good, with `error` as the reason."""
        ...


class SummaryReads(Protocol):
    def summary_parts(self, now: datetime) -> dict[str, OriginPart]:
        """Every unit of origin's part of the summary at `now` (kept counts, lights, the
        first overdue issues) — without a scan of every issue."""
        ...

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        """Each writer's latest linked event held here: writer → (writer_seq, link)."""
        ...


class IssueScan(Protocol):
    def read(self) -> AbstractContextManager[SummaryReads]:
        """One read-only transaction."""
        ...


# --------------------------------------------------------------------------- transfers
#
# What the transfer use cases (node/app/transfers) need of the store, one transaction at a
# time: `TransferStore.write()` / `read()` open it, the verbs below run inside it.
# node/store/outbox.py implements them over SQL.


class IssueLedger(Protocol):
    """Issue snapshots and the event log."""

    def load_issue(self, key: str, *, for_update: bool = False) -> Issue | None:
        """By global id or human number; `for_update` locks the row where that exists."""
        ...

    def insert_issue(self, issue: Issue) -> None: ...

    def update_issue(self, issue: Issue, *, expected_version: int) -> None:
        """Optimistic: raises Conflict if the stored version moved meanwhile."""
        ...

    def append_event(self, writer: str, event: Event, *, own: bool) -> None:
        """`own`: written by this node (published on its stream); else replicated."""
        ...

    def history(self, issue_id: str) -> list[tuple[Event, str]]:
        """All events of the issue in version order, with their writing node."""
        ...

    def holder_of_number(self, number: str) -> str | None: ...


class TransferOutbox(Protocol):
    """Transfers and directives queued for another node, in order."""

    def next_transfer_seq(self) -> int: ...

    def add_outgoing(self, row: OutboxRow) -> None: ...

    def get_outgoing(self, transfer_id: str) -> OutboxRow | None: ...

    def pending_for_issue(self, issue_id: str) -> OutboxRow | None:
        """The pending ownership transfer of the issue (directives do not freeze it)."""
        ...

    def pending_batch(self, destination: str, limit: int) -> list[OutboxRow]: ...

    def finish_outgoing(self, transfer_id: str, *, status: str, now: datetime,
                        response: dict[str, Any] | None = None,
                        error: str | None = None) -> bool:
        """Pending → `status` (once: False if the row was no longer pending)."""
        ...

    def count_attempt(self, transfer_ids: Sequence[str], error: str) -> None: ...

    def outbox_summary(self) -> dict[str, tuple[int, datetime | None]]:
        """destination → (pending depth, oldest pending created_at)."""
        ...

    def refused(self, limit: int = 50) -> list[OutboxRow]: ...


class TransferInbox(Protocol):
    """The acceptances this node answered, by (origin, transfer id): repeats find them."""

    def find_incoming(self, origin: str, transfer_id: str) -> dict[str, Any] | None: ...

    def add_incoming(self, *, origin: str, transfer_id: str, issue_id: str,
                     response: dict[str, Any], now: datetime) -> None: ...


class DestinationBackoff(Protocol):
    """The persisted backoff per destination."""

    def destination_state(self, node: str) -> DestinationState: ...

    def save_destination(self, state: DestinationState) -> None: ...


class TransferUnit(IssueLedger, TransferOutbox, TransferInbox, DestinationBackoff, Protocol):
    """One open transaction of the transfer use cases."""


class TransferStore(Protocol):
    def write(self) -> AbstractContextManager[TransferUnit]:
        """A read-write transaction, committed when the block ends without an error."""
        ...

    def read(self) -> AbstractContextManager[TransferUnit]:
        """A read-only transaction."""
        ...


# --------------------------------------------------------------------------- issues and accounts
#
# What the node's own use cases (node/app/service.py: IssueService, AccountService) need of
# the store, one transaction at a time: `IssueStore.write()` / `read()` (and those of
# `AccountStore`) open it, the verbs of the unit it yields run inside it. The values below
# are what the verbs take and return. node/store/records.py implements them over SQL.


class ConstraintViolation(Exception):
    """A write broke a constraint of the store — typically a unique key that a concurrent
    writer took first — and its transaction was rolled back."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredEvent:
    """An event of the local log: `seq` orders the whole log here, `node` is the event's
    writer and `writer_seq` its place in that writer's stream (None: not known here)."""

    seq: int
    event_id: str
    node: str
    event: Event
    writer_seq: int | None = None
    chain: str | None = None  # its link in the writer's hash chain (node/domain/chain.py)


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolPosition:
    """A place in the pool's order — (received_at, id), newest first — named by the issue
    there: a page "after" it starts with the next issue in that order (keyset paging)."""

    received_at: datetime
    id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class IssueFilter:
    """Which issues, and which page of them in the pool's order (newest first).

    Lights are those of the running deadline, judged at `now`: `light` keeps the issues that
    show it; `red_by` those not red at `now` that turn red by then. An issue without a
    running deadline shows no light. Paging: `after` (keyset) and then `offset`; `count`
    False skips counting all the matches, `count_limit` stops counting at that many."""

    states: tuple[State, ...] = ()
    owner: str | None = None
    tag: str | None = None
    board: str | None = None
    department: str | None = None
    credit_code: str | None = None
    overdue_at: datetime | None = None  # only issues whose running deadline passed by then
    light: Light | None = None
    red_by: datetime | None = None
    now: datetime | None = None  # required with `light` and `red_by`
    text: str | None = None
    after: PoolPosition | None = None
    limit: int = 50
    offset: int = 0
    count: bool = True
    count_limit: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LightCount:
    """How many issues of one origin unit and owner are in `state` and show `light` (None:
    no deadline runs)."""

    origin: str
    owner: str
    state: State
    light: Light | None
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredSample:
    """A revisit sample as drawn and kept (`id` is its number in this node's store)."""

    id: int
    period: str
    actor: str
    created_at: datetime
    sample: RevisitSample


class IssueUnit(Protocol):
    """One open transaction of the issue use cases."""

    def load_issue(self, key: str, *, for_update: bool = False) -> Issue | None:
        """By global id or human number; `for_update` locks the row where that exists."""
        ...

    def next_number(self, year: int) -> int:
        """The next sequence number of `year`'s human issue numbers: gapless, handed out in
        commit order (writers serialise on it)."""
        ...

    def insert_issue(self, issue: Issue) -> None: ...

    def update_issue(self, issue: Issue, *, expected_version: int) -> None:
        """Optimistic: raises Conflict if the stored version moved meanwhile."""
        ...

    def append_event(self, writer: str, event: Event, *, own: bool) -> None:
        """`own`: written by this node (published on its stream); else replicated."""
        ...

    def events_of(self, issue_id: str) -> list[StoredEvent]:
        """The issue's events in version order."""
        ...

    def list_issues(self, f: IssueFilter) -> tuple[list[Issue], int]:
        """The page of issues matching `f`, newest first, and how many match in all (-1 when
        `f.count` is False; at most `f.count_limit` when that is set)."""
        ...

    def count_by_light(self, now: datetime) -> list[LightCount]:
        """Issue counts per origin, owner, state and light at `now` (one aggregate)."""
        ...

    def all_issues(self) -> Iterable[Issue]: ...

    def summary_parts(self, now: datetime) -> dict[str, OriginPart]:
        """As SummaryReads.summary_parts."""
        ...

    def transfer_pending(self, issue_id: str) -> bool:
        """Whether an ownership transfer of the issue waits for its receiver (the issue is
        frozen meanwhile; directives do not freeze it)."""
        ...

    def submission(self, principal: str, idempotency_key: str) -> str | None:
        """The id of the issue `principal` submitted with this Idempotency-Key, if any."""
        ...

    def add_submission(self, *, principal: str, idempotency_key: str, issue_id: str,
                       at: datetime) -> None:
        """Remember the key; the same key of the same principal twice is a
        ConstraintViolation of the write."""
        ...

    def add_revisit_sample(self, *, node: str, period: str, sample: RevisitSample, actor: str,
                           at: datetime) -> int:
        """Keep a drawn sample; returns its id."""
        ...

    def revisit_sample(self, sample_id: int) -> StoredSample | None: ...


class IssueStore(Protocol):
    def write(self) -> AbstractContextManager[IssueUnit]:
        """A read-write transaction, committed when the block ends without an error; a
        broken constraint leaves it as ConstraintViolation."""
        ...

    def read(self) -> AbstractContextManager[IssueUnit]:
        """A read-only transaction."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Account:
    """A user account as stored; `role` is a node.app.policy.Role value."""

    username: str
    role: str
    display_name: str
    credit_code: str | None = None
    department: str | None = None
    board: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAccount:
    account: Account
    password_hash: str
    active: bool


class AccountUnit(Protocol):
    """One open transaction of the account use cases."""

    def account(self, username: str) -> StoredAccount | None: ...

    def add_account(self, account: Account, *, password_hash: str, at: datetime) -> None:
        """A new, active account; an existing username or credit code is a
        ConstraintViolation of the write."""
        ...

    def count_accounts(self) -> int: ...


class AccountStore(Protocol):
    def write(self) -> AbstractContextManager[AccountUnit]:
        """A read-write transaction, committed when the block ends without an error; a
        broken constraint leaves it as ConstraintViolation."""
        ...

    def read(self) -> AbstractContextManager[AccountUnit]:
        """A read-only transaction."""
        ...
