"""The live hub's fan-out without a server: a log in memory stands in for the event log.

Pure units of node/app/live.py in one event loop: which subscriber is given which event,
exactly once and in order across a replay, a full queue dropping its subscriber with a
final `reload` (the commit side never waits), heartbeats, closing, tickets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.app.live import (
    BYE,
    HEARTBEAT,
    INBOX,
    ISSUE,
    RELOAD,
    LiveHub,
    Message,
    Subscriber,
    Tickets,
)
from node.app.policy import Principal, Role
from node.domain.errors import RuleViolation, Unauthenticated
from node.domain.issue import Actor, ActorKind, Event, Issue
from node.domain.lifecycle import submit
from tests.support.data import (
    CODE_A,
    CODE_B,
    ENTERPRISE_A,
    ENTERPRISE_B,
    STAFF,
    make_config,
    submit_cmd,
)

NODE = "330522"
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
RULES = make_config(Path("/nonexistent")).rules()
DISP = STAFF["dispatcher"]
VIEWER = STAFF["viewer"]


class Log:
    """An event log in memory (node.app.ports.LiveSource)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, Event, Issue]] = []
        self.unread: dict[str, int] = {}
        self.reads = 0

    def head(self) -> int:
        return self.rows[-1][0] if self.rows else 0

    def changes_after(self, seq: int, limit: int) -> list[tuple[int, Event, Issue]]:
        self.reads += 1
        return [r for r in self.rows if r[0] > seq][:limit]

    def unread_counts(self, usernames: Sequence[str]) -> dict[str, int]:
        return {u: n for u, n in self.unread.items() if u in usernames}

    def add(self, code: str = CODE_A) -> int:
        n = len(self.rows) + 1
        issue, event = submit(submit_cmd(code), issue_id=f"{NODE}-{n}",
                              number=f"{NODE}-2026-{n:06d}", node=NODE,
                              actor=Actor(kind=ActorKind.STAFF, id="d"), now=T0, rules=RULES)
        self.rows.append((n, event, issue))
        return n


async def take(hub: LiveHub, sub: Subscriber, n: int, *, skip_beats: bool = True
               ) -> list[Message]:
    out: list[Message] = []
    while len(out) < n:
        msg = await asyncio.wait_for(hub.next(sub), 5)
        if not (skip_beats and msg.kind == HEARTBEAT):
            out.append(msg)
    return out


async def settled(hub: LiveHub) -> None:
    """Until the reader has nothing pending (it reads in a thread: wait, with a deadline)."""
    async with asyncio.timeout(5):
        while hub._pending or (hub._lock is not None and hub._lock.locked()):
            await asyncio.sleep(0.01)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_each_subscriber_is_given_the_events_it_may_see() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log, inbox=False)
        disp, a, b, viewer = [await hub.subscribe(p)
                              for p in (DISP, ENTERPRISE_A, ENTERPRISE_B, VIEWER)]
        mine, theirs = log.add(CODE_A), log.add(CODE_B)
        hub.committed()
        got = await take(hub, disp, 2)
        assert [m.seq for m in got] == [mine, theirs]
        assert got[0].kind == ISSUE and got[0].data["kind"] == "submitted"
        assert [m.seq for m in await take(hub, a, 1)] == [mine]
        assert [m.seq for m in await take(hub, b, 1)] == [theirs]
        await settled(hub)
        assert a.queue.empty() and b.queue.empty()
        assert viewer.queue.empty()  # no pool to see: no issue at all
        hub.close()
        assert (await take(hub, a, 1))[0].kind == BYE

    run(main())


def test_a_commit_with_nobody_listening_costs_nothing() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log)
        sub = await hub.subscribe(DISP)
        await settled(hub)
        hub.unsubscribe(sub)
        reads = log.reads
        for _ in range(100):
            log.add()
            hub.committed()
        await asyncio.sleep(0)  # let a (wrongly) scheduled wake-up run
        assert not hub._pending
        assert log.reads == reads
        hub.close()

    run(main())


def test_replay_and_reader_together_give_each_event_once_in_order() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log, inbox=False)
        seen = log.add()
        missed = [log.add(), log.add()]
        sub = await hub.subscribe(DISP)
        later = log.add()  # after subscribing, before the replay: both hold it
        hub.committed()
        replayed = await hub.replay(sub, seen)
        assert [m.seq for m in replayed] == [*missed, later]
        after = log.add()
        hub.committed()
        assert [m.seq for m in await take(hub, sub, 1)] == [after]  # `later` not twice
        hub.close()

    run(main())


def test_too_far_behind_is_one_reload_naming_the_head() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log, replay_limit=3, inbox=False)
        for _ in range(5):
            log.add()
        sub = await hub.subscribe(DISP)
        assert await hub.replay(sub, 0) == [
            Message(kind=RELOAD, seq=5, data={"seq": 5, "reason": "behind"})]
        hub.close()

    run(main())


def test_a_full_queue_drops_its_subscriber_with_reload_never_waiting() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log, queue_size=4, inbox=False)
        slow = await hub.subscribe(DISP)
        hub.queue_size = 256
        fast = await hub.subscribe(STAFF["leader"])
        for _ in range(10):
            log.add()
        hub.committed()
        got = await take(hub, fast, 10)
        assert [m.seq for m in got] == list(range(1, 11))
        await settled(hub)
        assert hub.stats.dropped == 1
        assert hub.streams == 1
        final = await take(hub, slow, 1)
        assert final[0].kind == RELOAD and final[0].final
        assert final[0].data == {"seq": 10, "reason": "slow"}
        hub.close()

    run(main())


def test_inbox_counts_are_sent_when_they_change() -> None:
    async def main() -> None:
        log = Log()
        hub = LiveHub(log)
        log.unread["dispatcher"] = 2
        disp = await hub.subscribe(DISP)
        a = await hub.subscribe(ENTERPRISE_A)
        assert (await take(hub, disp, 1))[0] == Message(kind=INBOX, data={"unread": 2})
        hub.committed()  # nothing changed: nothing sent
        await settled(hub)
        log.unread["dispatcher"] = 3
        hub.committed()
        assert (await take(hub, disp, 1))[0].data == {"unread": 3}
        assert a.queue.empty()
        hub.close()

    run(main())


def test_heartbeats_and_the_age_limit() -> None:
    async def main() -> None:
        hub = LiveHub(Log(), heartbeat_s=0.05, max_age_s=0.3, inbox=False)
        sub = await hub.subscribe(DISP)
        beat = await take(hub, sub, 1, skip_beats=False)
        assert beat[0].kind == HEARTBEAT
        while True:  # heartbeats until the stream is too old, then `bye`
            msg = (await take(hub, sub, 1, skip_beats=False))[0]
            if msg.kind != HEARTBEAT:
                break
        assert msg.kind == BYE and msg.final
        hub.close()

    run(main())


def test_streams_per_account_are_limited() -> None:
    async def main() -> None:
        hub = LiveHub(Log(), per_user=2)
        for _ in range(2):
            hub.admit(DISP)
            await hub.subscribe(DISP)
        with pytest.raises(RuleViolation) as refused:
            hub.admit(DISP)
        assert refused.value.code == "live_streams_limit"
        hub.admit(Principal(username="x", role=Role.LEADER, display_name="x"))
        hub.close()

    run(main())


def test_tickets_are_single_use_and_expire() -> None:
    tickets = Tickets(ttl_s=30)
    t = tickets.issue("disp", 3, now=T0)
    assert tickets.redeem(t, now=T0 + timedelta(seconds=29)) == ("disp", 3)
    with pytest.raises(Unauthenticated):
        tickets.redeem(t, now=T0)  # used up
    late = tickets.issue("disp", 3, now=T0)
    with pytest.raises(Unauthenticated):
        tickets.redeem(late, now=T0 + timedelta(seconds=31))
    with pytest.raises(Unauthenticated):
        tickets.redeem("guess", now=T0)
    small = Tickets(max_open=2)
    first = small.issue("a", 0, now=T0)
    small.issue("b", 0, now=T0)
    small.issue("c", 0, now=T0)  # the oldest open one makes room
    with pytest.raises(Unauthenticated):
        small.redeem(first, now=T0)


class SlowHead(Log):
    """A log whose head read waits for a gate: a stream subscribes while the node stops."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.gate = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def head(self) -> int:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.reading.set)
        assert self.gate.wait(5)
        return super().head()


def test_a_stream_subscribing_while_the_hub_closes_is_ended_too() -> None:
    """The node stops (close) while a new stream reads the head: that stream must get its
    `bye` as well, or the HTTP server would wait for it forever and the node never stop."""

    async def main() -> None:
        log = SlowHead()
        log.loop = asyncio.get_running_loop()
        hub = LiveHub(log, inbox=False)
        pending = asyncio.create_task(hub.subscribe(DISP))
        await asyncio.wait_for(log.reading.wait(), 5)
        hub.close()
        log.gate.set()
        sub = await asyncio.wait_for(pending, 5)
        assert [m.kind for m in await take(hub, sub, 1)] == [BYE]
        assert hub.streams == 0

    run(main())
