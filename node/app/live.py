"""Live screens: server-sent event streams fed from the event log, one reader per node.

How it works. Every committed write calls `LiveHub.committed` (a `Store.after_commit`
listener, from whichever thread wrote): while someone is connected it wakes the hub's one
reader task in the event loop (`call_soon_threadsafe`; while a wake-up is pending a commit
does nothing more), so a commit costs a flag test and, at most, one wake-up — whatever the
number of streams. The reader reads the event log after its cursor (local `seq`, in
batches), each event with its issue as held now, and puts into each subscriber's queue the
events that subscriber may see: `check_can_view` of node/app/policy.py per event and
account, the very rule of GET /issues/{key} (an enterprise its own issues, a handler of
units their queues), evaluated on the issue as it is now; for staff, also the unread count
of their inbox when it changed. The reader never waits for a stream: queues are bounded
and a subscriber whose queue is full is dropped with a final `reload` message naming the
`seq` to resume from (the screen reloads its data and reconnects from there).

Resuming. A message's id is its event's `seq`. A stream opened with a last id replays the
events after it from the log (at most `replay_limit` events of the log; further behind →
a `reload` message naming the head), then follows the reader. Each subscriber keeps the
last seq it was given and skips anything older, so what both the replay and the reader
hold is sent exactly once, in `seq` order (`seq` is handed out in commit order:
node/store/repo.py `next_counter`).

Idle costs nothing but the heartbeat: the reader wakes every `heartbeat_s` (also while
commits keep it busy) to put a heartbeat into every queue — the web layer writes it as an
SSE comment — and ends streams older than `max_age_s` with a final `bye`: the screen then
reconnects with a fresh ticket, so a stream never outlives its account's tokens for long.

Tickets. EventSource cannot send an Authorization header, and the screens keep their bearer
token in sessionStorage (no cookie): a screen trades its token for a `Tickets` ticket —
random, single-use, valid `ttl_s` seconds — and opens the stream with it in the URL. The
long-lived token never appears in a URL or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from node.app.policy import Principal, Role, check_can_view
from node.app.ports import LiveSource
from node.domain.errors import Forbidden, NotFound, RuleViolation, Unauthenticated
from node.domain.issue import Event, Issue

log = logging.getLogger(__name__)

ISSUE = "issue"  # an issue changed: which one, which event (the screen reads it again)
INBOX = "inbox"  # the account's unread count
RELOAD = "reload"  # too far behind or too slow: reload the data, resume from `seq`
BYE = "bye"  # the stream ends (node stopping, stream too old): reconnect with a new ticket
HEARTBEAT = "heartbeat"  # an SSE comment: keeps proxies from closing an idle stream


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    data: dict[str, Any]
    #: the SSE id: the `seq` of the event (or of the place to resume from)
    seq: int | None = None
    #: the stream ends after it
    final: bool = False
    #: what an adapter derives from the message (its wire frame), made once for every
    #: stream the message goes to
    derived: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)


HEARTBEAT_MESSAGE = Message(kind=HEARTBEAT, data={})


def issue_message(seq: int, event: Event, issue: Issue) -> Message:
    """What a screen is told of a change: enough to know whether to read the issue again,
    nothing it could not read through the API (no payload, no actor)."""
    return Message(kind=ISSUE, seq=seq, data={
        "seq": seq, "issue_id": issue.id, "number": issue.number, "version": event.version,
        "kind": event.kind, "at": event.at.isoformat(), "state": issue.state.value,
        "issue_version": issue.version})


def visible(principal: Principal, issue: Issue) -> bool:
    """Whether `principal` may read `issue` (GET /issues/{key} would answer it)."""
    try:
        check_can_view(principal, issue)
    except (NotFound, Forbidden):
        return False
    return True


# --------------------------------------------------------------------------- tickets


class Tickets:
    """Single-use stream tickets: ticket → (username, token generation) for `ttl_s`."""

    def __init__(self, *, ttl_s: float = 30.0, max_open: int = 10_000) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self.max_open = max_open
        self._open: dict[str, tuple[str, int, datetime]] = {}
        self._lock = threading.Lock()  # the API's routes run in a thread pool

    def issue(self, username: str, generation: int, *, now: datetime) -> str:
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            for key in [k for k, (_, _, until) in self._open.items() if until < now]:
                del self._open[key]
            while len(self._open) >= self.max_open:  # the oldest first (insertion order)
                del self._open[next(iter(self._open))]
            self._open[ticket] = (username, generation, now + self.ttl)
        return ticket

    def redeem(self, ticket: str, *, now: datetime) -> tuple[str, int]:
        """(username, generation) of a valid ticket, which is used up."""
        with self._lock:
            found = self._open.pop(ticket, None)
        if found is None or found[2] < now:
            raise Unauthenticated("live_ticket_invalid")
        return found[0], found[1]


# --------------------------------------------------------------------------- the hub


@dataclass(eq=False, slots=True)
class Subscriber:
    principal: Principal
    queue: asyncio.Queue[Message]
    opened_at: float  # the event loop's clock
    #: the seq of the last event given to this subscriber
    cursor: int = 0
    unread: int | None = None
    gone: bool = False


@dataclass(slots=True)
class HubStats:
    wakeups: int = 0
    reads: int = 0
    delivered: int = 0
    dropped: int = 0


class LiveHub:
    """The node's one fan-out of committed changes to its open streams."""

    def __init__(self, source: LiveSource, *, queue_size: int = 256, per_user: int = 5,
                 replay_limit: int = 500, batch: int = 500, heartbeat_s: float = 25.0,
                 max_age_s: float = 3600.0, inbox: bool = True) -> None:
        self.source = source
        self.queue_size = queue_size
        self.per_user = per_user
        self.replay_limit = replay_limit
        self.batch = batch
        self.heartbeat_s = heartbeat_s
        self.max_age_s = max_age_s
        self.inbox = inbox
        self.stats = HubStats()
        self._subs: set[Subscriber] = set()
        self._count: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending = False
        self._cursor: int | None = None
        self._closed = False

    @property
    def streams(self) -> int:
        return len(self._subs)

    # -- from any thread

    def committed(self) -> None:
        """A write committed (a Store.after_commit listener, any thread): wake the reader
        if anyone listens and no wake-up is pending yet."""
        loop, wake = self._loop, self._wake
        if not self._subs or self._pending or loop is None or wake is None:
            return
        self._pending = True
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop is closed: the node is stopping
            self._pending = False

    # -- in the event loop

    def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task = self._loop.create_task(self._run(), name="live-hub")

    def admit(self, principal: Principal) -> None:
        """Refuse a stream over the per-account limit (429 before the stream starts)."""
        if self._count[principal.username] >= self.per_user:
            raise RuleViolation("live_streams_limit", max_streams=self.per_user)

    async def subscribe(self, principal: Principal) -> Subscriber:
        self._start()
        assert self._lock is not None and self._loop is not None
        sub = Subscriber(principal=principal, queue=asyncio.Queue(self.queue_size),
                         opened_at=self._loop.time())
        if self._closed:
            sub.queue.put_nowait(Message(kind=BYE, data={}, final=True))
            return sub
        async with self._lock:
            if self._cursor is None or not self._subs:
                # nobody listened: start from the head; the subscriber's replay covers
                # anything older it asks for
                self._cursor = await asyncio.to_thread(self.source.head)
            if self._closed:  # closed while the head was read: `close` never saw it
                sub.queue.put_nowait(Message(kind=BYE, data={}, final=True))
                return sub
            self._subs.add(sub)
            self._count[principal.username] += 1
        self._poke()  # a commit between the head read and now woke nobody
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subs:
            self._subs.discard(sub)
            self._count[sub.principal.username] -= 1
            if self._count[sub.principal.username] <= 0:
                del self._count[sub.principal.username]
        sub.gone = True

    async def replay(self, sub: Subscriber, after: int) -> list[Message]:
        """The events after `after` that `sub` may see, from the log — or one `reload`
        naming the head when more than `replay_limit` events were missed."""
        changes = await asyncio.to_thread(self.source.changes_after, after,
                                          self.replay_limit + 1)
        if len(changes) > self.replay_limit:
            head = await asyncio.to_thread(self.source.head)
            sub.cursor = max(sub.cursor, head)
            return [Message(kind=RELOAD, seq=head, data={"seq": head, "reason": "behind"})]
        out = [issue_message(seq, event, issue) for seq, event, issue in changes
               if seq > sub.cursor and visible(sub.principal, issue)]
        sub.cursor = max(sub.cursor, after, changes[-1][0] if changes else 0)
        return out

    async def next(self, sub: Subscriber) -> Message:
        """The subscriber's next message (older events than it was given are skipped)."""
        while True:
            msg = await sub.queue.get()
            if self._fresh(sub, msg):
                return msg

    async def next_batch(self, sub: Subscriber, limit: int = 100) -> list[Message]:
        """The next message and those already queued behind it (up to `limit`, ending at
        a final one): written to the stream at once, one send for a burst of changes."""
        out = [await self.next(sub)]
        while len(out) < limit and not out[-1].final and not sub.queue.empty():
            msg = sub.queue.get_nowait()
            if self._fresh(sub, msg):
                out.append(msg)
        return out

    @staticmethod
    def _fresh(sub: Subscriber, msg: Message) -> bool:
        if msg.kind == ISSUE and msg.seq is not None:
            if msg.seq <= sub.cursor:
                return False
            sub.cursor = msg.seq
        return True

    def close(self) -> None:
        """End every stream (`bye`) and the reader: the node is stopping."""
        self._closed = True
        for sub in list(self._subs):
            self._end(sub, Message(kind=BYE, data={}, final=True))
        if self._task is not None:
            self._task.cancel()

    # -- the reader

    def _poke(self) -> None:
        if self._wake is not None:
            self._pending = True
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None and self._loop is not None
        last_beat = self._loop.time()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.heartbeat_s)
            except TimeoutError:
                pass
            else:
                self._wake.clear()
                self._pending = False
                self.stats.wakeups += 1
                if self._subs:
                    try:
                        await self._read()
                    except Exception:  # a failed read must not end every stream
                        log.exception("live: reading the event log failed")
            if self._loop.time() - last_beat >= self.heartbeat_s:
                last_beat = self._loop.time()
                self._beat(last_beat)

    async def _read(self) -> None:
        assert self._lock is not None
        async with self._lock:
            while self._subs:
                cursor = self._cursor or 0
                changes = await asyncio.to_thread(self.source.changes_after, cursor,
                                                  self.batch)
                self.stats.reads += 1
                if changes:
                    self._cursor = changes[-1][0]
                    self._fan_out(changes)
                if len(changes) < self.batch:
                    break
            staff = sorted({s.principal.username for s in self._subs
                            if s.principal.role is not Role.ENTERPRISE})
            if self.inbox and staff:
                counts = await asyncio.to_thread(self.source.unread_counts, staff)
                for sub in list(self._subs):
                    if sub.principal.role is Role.ENTERPRISE:
                        continue
                    n = counts.get(sub.principal.username, 0)
                    if sub.unread != n:
                        sub.unread = n
                        self._put(sub, Message(kind=INBOX, data={"unread": n}))

    def _fan_out(self, changes: list[tuple[int, Event, Issue]]) -> None:
        seen: dict[tuple[str, str], bool] = {}  # (account, issue id) → visible, this batch
        messages = [issue_message(seq, event, issue) for seq, event, issue in changes]
        resume = changes[-1][0]
        for sub in list(self._subs):
            for (_, _, issue), msg in zip(changes, messages, strict=True):
                key = (sub.principal.username, issue.id)
                if key not in seen:
                    seen[key] = visible(sub.principal, issue)
                if seen[key] and not self._put(sub, msg, resume=resume):
                    break

    def _put(self, sub: Subscriber, msg: Message, *, resume: int | None = None) -> bool:
        """Queue `msg` without waiting; a full queue drops the subscriber (False)."""
        if sub.gone:
            return False
        try:
            sub.queue.put_nowait(msg)
        except asyncio.QueueFull:
            at = resume if resume is not None else (self._cursor or 0)
            self.stats.dropped += 1
            self._end(sub, Message(kind=RELOAD, seq=at, final=True,
                                   data={"seq": at, "reason": "slow"}))
            return False
        if msg.kind == ISSUE:
            self.stats.delivered += 1
        return True

    def _end(self, sub: Subscriber, last: Message) -> None:
        """Empty the subscriber's queue and leave it `last` alone; forget the subscriber."""
        self.unsubscribe(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(last)

    def _beat(self, now: float) -> None:
        for sub in list(self._subs):
            if now - sub.opened_at >= self.max_age_s:
                self._end(sub, Message(kind=BYE, data={"reason": "age"}, final=True))
                continue
            if not sub.queue.full():
                sub.queue.put_nowait(HEARTBEAT_MESSAGE)


@dataclass(frozen=True, slots=True)
class Live:
    """The node's live streams: the hub and the tickets that open them."""

    hub: LiveHub
    tickets: Tickets = field(default_factory=Tickets)
