"""Small interfaces the use cases depend on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from node.domain.audit import AuditRecord
from node.domain.deadlines import Light
from node.domain.index import IndexFact
from node.domain.issue import Event, Issue, State
from node.domain.meetings import Decision
from node.domain.metric_counts import GroupCounts, GroupKey
from node.domain.notifications import Notice
from node.domain.reports import ReportFact
from node.domain.revisits import Logged
from node.domain.sampling import RevisitSample
from node.domain.signin_codes import Counter, IssuedCode
from node.domain.summary import OriginPart
from node.domain.tags import Library, Outcome
from node.domain.units import Unit, UnitEvent

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
    """One write transaction of the replica: what applying an event reads and writes, one
    at a time and by set (ReplicaService applies a batch, of one or more, by set: one
    statement per kind of read or write, whatever the batch's size)."""

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

    # by set

    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]:
        """The local copies held of `ids`, by id, locked until the transaction ends."""
        ...

    def number_holders(self, numbers: Sequence[str]) -> dict[str, str]:
        """Human number → the id of the issue that holds it, for those held."""
        ...

    def chains_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The links held here of (writer, writer_seq) events (left out: not held, or
        unlinked)."""
        ...

    def marks(self, writers: Sequence[str]) -> dict[str, int]:
        """How far each writer's stream is applied here (left out: nothing of it yet)."""
        ...

    def insert_issues(self, batch: Sequence[Issue]) -> None: ...

    def update_issues(self, batch: Sequence[tuple[Issue, Issue]]) -> None:
        """(new snapshot, the copy loaded in this transaction that it replaces) pairs: each
        written if its version is still the loaded one's, else Conflict."""
        ...

    def record_events(self, batch: Sequence[tuple[str, Event, int | None, str | None]]
                      ) -> None:
        """`record_event` for several, in order: (writer, event, writer_seq, link)."""
        ...

    def set_marks(self, marks: dict[str, int], *, at: datetime) -> None: ...


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
        """Each writer's latest linked event held here: writer → (writer_seq, link); and
        "audit:<writer>" → (seq, link) of the latest record of a writer's audit log."""
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

    def last_forwarded_at(self, issue_id: str, kind: str) -> datetime | None:
        """When the latest `kind` transfer of the issue that was not refused was queued."""
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


class TransferBatches(Protocol):
    """The same verbs by set, for a batch of transfers in one transaction: one statement
    per kind of read or write."""

    def load_issues(self, ids: Sequence[str], *, for_update: bool = False
                    ) -> dict[str, Issue]: ...

    def holders_of_numbers(self, numbers: Sequence[str]) -> dict[str, str]: ...

    def histories(self, ids: Sequence[str]) -> dict[str, list[tuple[Event, str]]]: ...

    def insert_issues(self, batch: Sequence[Issue]) -> None: ...

    def update_issues(self, batch: Sequence[tuple[Issue, Issue]]) -> None:
        """(new snapshot, the stored one read in this transaction) pairs."""
        ...

    def append_events(self, batch: Sequence[tuple[str, Event, bool]]) -> None:
        """(writer, event, own) in order."""
        ...

    def find_incoming_many(self, origin: str, transfer_ids: Sequence[str]
                           ) -> dict[str, dict[str, Any]]: ...

    def add_incoming_many(self, origin: str, batch: Sequence[tuple[str, str, dict[str, Any]]],
                          now: datetime) -> None:
        """(transfer id, issue id, answer) rows."""
        ...

    def get_outgoing_many(self, transfer_ids: Sequence[str]) -> dict[str, OutboxRow]: ...

    def finish_outgoing_many(self, batch: Sequence[tuple[str, str, dict[str, Any] | None,
                                                         str | None]], now: datetime) -> None:
        """(transfer id, status, response, error) of pending rows."""
        ...


class TransferUnit(IssueLedger, TransferOutbox, TransferInbox, DestinationBackoff,
                   TransferBatches, Protocol):
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
    owner: str | None = None  # only issues this unit (a node code) holds now
    origin: str | None = None  # only issues submitted at this unit (a node code)
    tag: str | None = None
    board: str | None = None
    department: str | None = None
    credit_code: str | None = None
    #: only issues in these units' queues (node/domain/units.py queue_of); None: any
    queues: tuple[str, ...] | None = None
    unit: str | None = None  # only issues in this unit's queue now (issues.queue_unit)
    ladder_step: int | None = None  # only issues on this step of the node's ladder
    overdue_at: datetime | None = None  # only issues whose running deadline passed by then
    light: Light | None = None
    red_by: datetime | None = None
    now: datetime | None = None  # required with `light` and `red_by`
    text: str | None = None  # full-text search terms (node/domain/search.py)
    ranked: bool = False  # with `text`: best match first (paged by offset, not `after`)
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
    #: one sample per node and period: 1 is the draw, 2… the re-draws (with their reason)
    draw: int = 1
    reason: str | None = None
    redraw_of: int | None = None


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

    def masters_elsewhere(self, node: str) -> list[str]:
        """并单: the masters another node owns now (escalated) of followers `node` owns that
        are still closed as merged (node/app/merges.py answers them)."""
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

    def metric_groups(self, now: datetime) -> dict[GroupKey, GroupCounts]:
        """The handling metrics' counts per (origin, owner, board, department), kept by
        every issue write, with the recurrence sample and the lights at `now`."""
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
    #: (unit id, role value) of every unit the account belongs to (table account_units)
    units: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitState:
    """What the account use cases need of a unit of the catalogue (node/domain/units.py)."""

    id: str
    node: str
    kind: str
    active: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAccount:
    account: Account
    password_hash: str
    active: bool
    #: bumped when the account is disabled or its password reset (older tokens refused)
    token_generation: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginFailures:
    """Failed sign-ins of one subject ("account:<username>" or "address:<ip>") and the
    back-off (`blocked_until`) or lock (`locked`) they earned (node/app/accounts.py)."""

    subject: str
    failures: int
    last_failure_at: datetime
    blocked_until: datetime | None = None
    locked: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountEvent:
    """One audited change of an account or of a sign-in lock; never password material."""

    at: datetime
    actor: str
    subject: str
    kind: str
    detail: dict[str, Any]
    id: int = 0


class AccountUnit(Protocol):
    """One open transaction of the account use cases."""

    def account(self, username: str) -> StoredAccount | None: ...

    def add_account(self, account: Account, *, password_hash: str, at: datetime) -> None:
        """A new, active account; an existing username or credit code is a
        ConstraintViolation of the write."""
        ...

    def count_accounts(self) -> int: ...

    def list_accounts(self, *, role: str | None, limit: int,
                      offset: int) -> list[StoredAccount]:
        """Accounts by username (of one role, if given)."""
        ...

    def update_account(self, account: Account, *, at: datetime) -> bool:
        """Replace the role, display name, department and board (False: no such user)."""
        ...

    def set_active(self, username: str, active: bool, *, at: datetime) -> bool:
        """Enable or disable; disabling also bumps the token generation."""
        ...

    def set_password(self, username: str, password_hash: str, *, at: datetime) -> bool:
        """A new password hash; bumps the token generation."""
        ...

    def login_failures(self, subject: str, *, for_update: bool = False
                       ) -> LoginFailures | None: ...
    def save_login_failures(self, row: LoginFailures, *, existed: bool) -> None:
        """Replace the row read (`existed`) or insert a new one: an insert that a concurrent
        writer beat is a ConstraintViolation (never an overwrite of its count)."""
        ...

    def clear_login_failures(self, subject: str) -> bool: ...
    def blocked_subjects(self, now: datetime) -> list[LoginFailures]:
        """Subjects locked, or backed off past `now`."""
        ...

    def add_account_event(self, event: AccountEvent) -> None: ...
    def account_events(self, *, subject: str | None, limit: int) -> list[AccountEvent]:
        """Newest first."""
        ...

    def add_membership(self, username: str, unit_id: str, role: str, *,
                       at: datetime) -> None:
        """Bind the account to a unit in a role; an existing binding is a
        ConstraintViolation of the write."""
        ...

    def remove_membership(self, username: str, unit_id: str, role: str) -> bool: ...
    def unit_state(self, unit_id: str) -> UnitState | None:
        """The unit of the catalogue (table units), None when it has no such unit."""
        ...

    def has_units(self, node: str | None) -> bool:
        """Whether the node has a catalogue of units at all (None: any node)."""
        ...

    def units_of_kind(self, kind: str, node: str | None) -> frozenset[str]:
        """The ids of the node's active units of `kind`."""
        ...


class AccountStore(Protocol):
    def write(self) -> AbstractContextManager[AccountUnit]:
        """A read-write transaction, committed when the block ends without an error; a
        broken constraint leaves it as ConstraintViolation."""
        ...

    def read(self) -> AbstractContextManager[AccountUnit]:
        """A read-only transaction."""
        ...


# --------------------------------------------------------------------------- statistics
#
# What the cockpit's charts (node/app/stats.py) need of the store: aggregates computed by
# the database, never the issues themselves. node/store/stats.py implements it in SQL.


@dataclass(frozen=True, kw_only=True, slots=True)
class Tally:
    """One cell of an aggregate: `count` issues (or issues' events) of origin unit `origin`
    and `department` ("" for none) in `week` (0 opens the window; -1: not per week), for
    `measure` and its `key` (a light mix, on time or late, a channel, a tag, a stage)."""

    measure: str
    week: int
    origin: str
    department: str
    key: str
    count: int


class StatsSource(Protocol):
    def tallies(self, *, start: datetime, weeks: int, recent: datetime, now: datetime,
                top_tags: int) -> list[Tally]:
        """One read transaction of aggregates: per week from `start` (`weeks` of them)
        issues received (key: their light mix at `now`), resolved (key: on_time | late) and
        closed; for the issues received since `recent`: channels, the `top_tags` commonest
        tags, and how many reached each stage of handling."""
        ...


# --------------------------------------------------------------------------- revisits
#
# Revisit acceptance (node/app/revisits.py): the draws of a period and the supervision
# office's tasks, written in the same transaction as the issues' events.
# node/store/revisits.py implements it.


@dataclass(frozen=True, kw_only=True, slots=True)
class RevisitTask:
    """One sampled issue to revisit by `due`; `state`: open, done or superseded (its sample
    was re-drawn before it was done)."""

    id: int
    sample_id: int
    issue_id: str
    number: str
    title: str
    issue_state: State
    state: str
    due: datetime
    created_at: datetime
    attempts: int = 0
    result: str | None = None
    contact: str | None = None
    note: str | None = None
    done_at: datetime | None = None
    done_by: str | None = None


class RevisitUnit(IssueUnit, Protocol):
    def draws_of(self, node: str, period: str) -> list[StoredSample]:
        """Every draw of `node` for `period`, first draw first."""
        ...

    def draw(self, sample_id: int) -> StoredSample | None: ...

    def add_draw(self, *, node: str, period: str, sample: RevisitSample, actor: str,
                 at: datetime, draw: int, reason: str | None, redraw_of: int | None) -> int:
        """Keep a draw; a second row with the same node, period and draw number is a
        ConstraintViolation of the write (two first draws at once)."""
        ...

    def supersede_tasks(self, *, node: str, period: str, at: datetime) -> int:
        """Mark the open tasks of the period's earlier draws superseded; how many."""
        ...

    def add_task(self, *, sample_id: int, issue_id: str, due: datetime, at: datetime) -> int: ...

    def task(self, task_id: int, *, for_update: bool = False) -> RevisitTask | None: ...

    def tasks(self, *, node: str, sample_id: int | None = None,
              period: str | None = None) -> list[RevisitTask]:
        """The tasks of one sample or of every draw of a period, by due time."""
        ...

    def record_attempt(self, task_id: int, *, state: str, result: str, contact: str | None,
                       note: str | None, at: datetime, by: str) -> None:
        """Store a revisit's outcome on its task (`state` done, or open after an attempt)."""
        ...

    def histories(self, *, resolved_since: datetime) -> dict[str, list[Logged]]:
        """The events (version order, with writer and writer_seq) of every issue resolved
        at or after the instant — every issue that can be in a frame of a period starting
        then."""
        ...


class RevisitStore(Protocol):
    def write(self) -> AbstractContextManager[RevisitUnit]: ...

    def read(self) -> AbstractContextManager[RevisitUnit]: ...


# --------------------------------------------------------------------------- joint meeting
#
# The joint meeting's decisions (node/app/meetings.py); node/store/meetings.py implements it.


class MeetingUnit(IssueUnit, Protocol):
    def decisions(self, node: str, meeting: date) -> list[Decision]: ...

    def add_decision(self, decision: Decision, *, node: str, actor: str,
                     at: datetime) -> None:
        """Keep a decision; a second one for the same meeting and issue is a
        ConstraintViolation of the write."""
        ...


class MeetingStore(Protocol):
    def write(self) -> AbstractContextManager[MeetingUnit]: ...

    def read(self) -> AbstractContextManager[MeetingUnit]: ...


# --------------------------------------------------------------------------- units
#
# The organisation units (node/app/units.py); node/store/units.py implements them.


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredUnitEvent:
    """A row of the units' change log."""

    id: int
    unit_id: str
    kind: str
    actor: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any]


class UnitUnit(Protocol):
    def units(self, node: str | None = None) -> list[Unit]:
        """Every unit (of `node` only, when given), by id."""
        ...

    def unit(self, unit_id: str) -> Unit | None: ...

    def insert_unit(self, unit: Unit, *, at: datetime) -> None: ...

    def update_unit(self, unit: Unit, *, at: datetime) -> None: ...

    def append_unit_event(self, event: UnitEvent) -> None: ...

    def unit_events(self, unit_id: str | None = None, *, limit: int = 200
                    ) -> list[StoredUnitEvent]:
        """The change log, newest first."""
        ...

    def count_units(self, node: str) -> int: ...

    def replace_units_of(self, node: str, found: Sequence[Unit], *, at: datetime) -> None:
        """Replace the units kept for another node (a child's published catalogue)."""
        ...


class UnitStore(Protocol):
    def write(self) -> AbstractContextManager[UnitUnit]: ...

    def read(self) -> AbstractContextManager[UnitUnit]: ...


# --------------------------------------------------------------------------- audit trail
#
# The append-only, hash-chained audit log (node/app/audit.py); node/store/audit.py
# implements it (and records staff events in their own transaction, as a projection).


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAudit:
    """An audit record at its place in its writer's log, with its link."""

    writer: str
    seq: int
    record: AuditRecord
    chain: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditQuery:
    """A filter of the audit log; newest first, `before_seq` continues a page."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("issue.")
    target_kind: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    before_seq: int | None = None
    limit: int = 100


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> StoredAudit:
        """Keep `record` as the next of this node's audit log, in its own transaction."""
        ...

    def search(self, query: AuditQuery) -> list[StoredAudit]:
        """This node's records matching `query`, newest (highest seq) first."""
        ...


# --------------------------------------------------------------------------- reports
#
# Periodic reports (node/app/reports.py): the facts of the issues a period's figures need,
# and the reports kept with their files. node/store/reports.py implements it.


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredReport:
    """A kept report: its content (node.domain.reports.Report.to_dict) and its files'
    digests and sizes (the bytes are read by `report_file`)."""

    id: int
    node: str
    kind: str
    period: str
    version: int
    trigger: str  # schedule | demand
    actor: str
    as_of: datetime
    created_at: datetime
    content: dict[str, Any]
    pdf_sha256: str
    xlsx_sha256: str
    pdf_size: int
    xlsx_size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportFiles:
    content: dict[str, Any]
    pdf: bytes
    xlsx: bytes
    as_of: datetime


class ReportUnit(Protocol):
    def report_facts(self, *, since: datetime, now: datetime,
                     unit_of: Callable[[str], str]) -> list[ReportFact]:
        """One fact per issue received, resolved or closed at or after `since`, or running
        and red at `now` (the light at `now`); `unit_of(origin)` names the unit it counts
        for."""
        ...

    def period_active(self, start: datetime, end: datetime) -> bool:
        """Whether any issue was received, resolved or closed in [start, end)."""
        ...

    def report(self, node: str, kind: str, period: str) -> StoredReport | None: ...

    def report_by_id(self, report_id: int) -> StoredReport | None: ...

    def reports(self, node: str, *, kind: str | None, limit: int) -> list[StoredReport]:
        """The `limit` last made."""
        ...

    def report_file(self, report_id: int, fmt: str) -> bytes | None:
        """The bytes of the report's "pdf" or "xlsx"."""
        ...

    def add_report(self, *, node: str, kind: str, period: str, trigger: str, actor: str,
                   at: datetime, files: ReportFiles) -> int:
        """Keep a new report (version 1); one for the same node, kind and period already
        kept is a ConstraintViolation of the write."""
        ...

    def replace_report(self, report_id: int, *, trigger: str, actor: str, at: datetime,
                       files: ReportFiles) -> None:
        """Regenerated: new content and files, version + 1."""
        ...

    def add_notice(self, notice: Notice) -> bool:
        """Put the report's notice in the notifications outbox, in this transaction, unless
        one of its key is there (False)."""
        ...


class ReportStore(Protocol):
    def write(self) -> AbstractContextManager[ReportUnit]: ...

    def read(self) -> AbstractContextManager[ReportUnit]: ...


# --------------------------------------------------------------------------- enterprise sign-in
#
# One-time sign-in codes of enterprises (node/app/enterprise_signin.py);
# node/store/signin_codes.py implements it.


@dataclass(frozen=True, kw_only=True, slots=True)
class NewSignInCode:
    credit_code: str
    phone: str | None
    digest: str  # node.domain.signin_codes.code_digest: never the digits
    via: str
    issued_by: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeMessage:
    """The SMS that carries a code: one delivery of the notification outbox, sent by its
    dispatcher (node/app/notify.py) under its own idempotency key."""

    idempotency_key: str
    recipient: str  # enterprise:<credit code>
    phone: str
    locale: str
    params: dict[str, str]


class SignInCodeUnit(Protocol):
    def phone_on_record(self, credit_code: str, node: str) -> tuple[str, str] | None:
        """(phone, enterprise name) of the newest issue raised at `node` on the credit code
        (through any channel), None if there is none."""
        ...

    def counters(self, subjects: Sequence[str], *, for_update: bool = False
                 ) -> dict[str, Counter]: ...
    def save_counter(self, counter: Counter, *, existed: bool) -> None:
        """Replace the row read (`existed`) or insert one: an insert a concurrent writer
        beat is a ConstraintViolation of the write."""
        ...

    def add_code(self, code: NewSignInCode) -> int: ...
    def latest_code(self, credit_code: str, *, for_update: bool = False
                    ) -> IssuedCode | None: ...
    def count_guess(self, code_id: int) -> None: ...
    def use_code(self, code_id: int, *, at: datetime) -> None: ...
    def mark_sms(self, code_id: int, *, phone: str) -> None:
        """The code is (being) texted to `phone`: an SMS code, accepted from now on."""
        ...

    def queue_sms(self, code_id: int, message: CodeMessage, *, at: datetime) -> None:
        """The code's SMS in the notification outbox (a notice and its one delivery)."""
        ...

    def enterprise_account(self, credit_code: str) -> StoredAccount | None: ...
    def add_enterprise_account(self, account: Account, *, password_hash: str,
                               at: datetime) -> None:
        """A new enterprise account and its audit row; a taken username or credit code is
        a ConstraintViolation of the write."""
        ...

    def purge(self, now: datetime) -> None:
        """Forget what no rule reads any more: expired codes' digits in the outbox (their
        unsent SMS parked), codes a day old, counters of past windows."""
        ...


class SignInCodeStore(Protocol):
    def write(self) -> AbstractContextManager[SignInCodeUnit]: ...

    def read(self) -> AbstractContextManager[SignInCodeUnit]: ...


# --------------------------------------------------------------------------- the tag library


@dataclass(frozen=True, kw_only=True, slots=True)
class TagProposal:
    """A new tag proposed during triage, waiting for a leader (node/app/tags.py)."""

    id: int
    category: str
    name_zh: str
    name_en: str | None
    issue_id: str | None
    note: str | None
    state: str  # pending | approved | refused
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    tag_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TagChangeRow:
    id: int
    at: datetime
    actor: str
    kind: str
    subject: str
    detail: dict[str, Any]


class TagLibraryReads(Protocol):
    """What triage and the counting edges read: the node's library, in one read."""

    def library(self) -> Library: ...


class TagUnit(Protocol):
    def library(self) -> Library: ...

    def save(self, outcome: Outcome, *, actor: str, at: datetime) -> None:
        """Write the outcome's entries (upsert), their history (former names, merges) and
        its changes to the change log, in this transaction."""
        ...

    def add_proposal(self, *, category: str, name_zh: str, name_en: str | None,
                     issue_id: str | None, note: str | None, by: str, at: datetime) -> int: ...
    def proposal(self, proposal_id: int, *, for_update: bool = False
                 ) -> TagProposal | None: ...
    def proposals(self, state: str | None, limit: int) -> list[TagProposal]: ...
    def decide_proposal(self, proposal_id: int, *, state: str, by: str, at: datetime,
                        tag_id: str | None) -> None: ...
    def changes(self, limit: int) -> list[TagChangeRow]: ...


class TagStore(Protocol):
    def write(self) -> AbstractContextManager[TagUnit]: ...

    def read(self) -> AbstractContextManager[TagUnit]: ...


# --------------------------------------------------------------------------- Open311
#
# Open311 GeoReport v2 (node/app/open311.py): the registered client systems and their keys
# (stored hashed), and the public lookups of requests; node/store/open311.py implements it.


@dataclass(frozen=True, kw_only=True, slots=True)
class Open311Client:
    """A client system allowed to post requests; its key is known by its hash only."""

    id: str
    name: str
    channel: str  # a node.domain.issue.Channel value: the channel its requests come in by
    key_hint: str  # the key's first characters, to recognise it in a list
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestQuery:
    """Issues raised at `origin`, received in [start, end], newest first."""

    origin: str
    start: datetime
    end: datetime
    numbers: tuple[str, ...] = ()  # any of these human numbers (none: every number)
    tags: tuple[str, ...] = ()  # carrying any of these tags (none: any)
    states: tuple[State, ...] = ()  # in any of these states (none: any)
    limit: int = 100
    offset: int = 0


class Open311Unit(Protocol):
    def add_client(self, client: Open311Client, *, key_hash: str) -> None:
        """A new client; a key hash already held is a ConstraintViolation of the write."""
        ...

    def clients(self) -> list[Open311Client]:
        """Every client, newest first."""
        ...

    def client(self, client_id: str) -> Open311Client | None: ...
    def client_by_key(self, key_hash: str) -> Open311Client | None: ...
    def revoke_client(self, client_id: str, *, at: datetime, by: str) -> bool:
        """Revoke once (False: no such client or already revoked)."""
        ...

    def requests(self, q: RequestQuery) -> list[Issue]: ...
    def request(self, origin: str, number: str) -> Issue | None:
        """The issue raised at `origin` with that human number."""
        ...

    def updates(self, *, origin: str, start: datetime, end: datetime,
                limit: int) -> list[tuple[Issue, Event]]:
        """Events at [start, end] of the issues raised at `origin`, oldest first, each
        with its issue as held now."""
        ...


class Open311Store(Protocol):
    def write(self) -> AbstractContextManager[Open311Unit]: ...

    def read(self) -> AbstractContextManager[Open311Unit]: ...


class LiveSource(Protocol):
    """What the live streams read (node/app/live.py): the event log by local `seq`, each
    event with its issue as held now, and the unread inbox counts of some accounts."""

    def head(self) -> int:
        """The highest `seq` of the event log (0: empty)."""
        ...

    def changes_after(self, seq: int, limit: int) -> list[tuple[int, Event, Issue]]:
        """At most `limit` events after `seq`, in `seq` order, with their issues now."""
        ...

    def unread_counts(self, usernames: Sequence[str]) -> dict[str, int]:
        """Unread in-app messages of these accounts (absent: none, or no inbox)."""
        ...


# --------------------------------------------------------------------------- 有感指数
#
# The index's facts and its external evaluations (node/app/index.py);
# node/store/index.py implements it.


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredEvaluation:
    unit: str
    period: str
    kind: str  # grassroots | enterprise | third_party
    score: float
    source: str
    entered_by: str
    entered_at: datetime


class IndexUnit(Protocol):
    def index_facts(self, *, since: datetime, now: datetime,
                    unit_of: Callable[[str], str]) -> list[IndexFact]:
        """ReportUnit.report_facts with each issue's revisit result."""
        ...

    def evaluations(self, periods: Sequence[str]) -> list[StoredEvaluation]: ...

    def put_evaluation(self, evaluation: StoredEvaluation) -> StoredEvaluation | None:
        """Keep `evaluation`, replacing the one of its unit, period and kind: the one
        replaced (None: it is new)."""
        ...

    def audit(self, record: AuditRecord) -> None:
        """Keep `record` in the audit log inside this transaction."""
        ...


class IndexStore(Protocol):
    def write(self) -> AbstractContextManager[IndexUnit]: ...

    def read(self) -> AbstractContextManager[IndexUnit]: ...
