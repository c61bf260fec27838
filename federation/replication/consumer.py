"""The replicator: the NATS pull consumer that feeds the replica service and acks.

A durable pull consumer on the node's inbound stream. Each fetched batch is applied in one
transaction (node/app/replica.py decides, per event, applied / duplicate / gap / owned /
refused, and writes the batch by set: each touched issue once, the events in one insert)
and acknowledged only after the commit; anything unusual in a batch falls back to
one message and one transaction at a time. A settled event is acknowledged; a gap the
replica service could not repair is redelivered later; a refusal, a malformed message and
one still failing after `MAX_DELIVER` deliveries are parked in the dead-letter table and
terminated, so one poison message never blocks the rest. Gaps parked that way are retried
(`run_retries`) until the peer answers. Fetching, handling and every acknowledgement go
through the probe (node/app/probes.py), which sees the event ids (`Nats-Msg-Id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from federation.nats import messages
from federation.nats.progress import ACK_WAIT_S, in_progress
from federation.nats.subjects import Subject, SubjectError, SubjectKind
from federation.replication.waits import wait_any
from node.app.ports import Clock, DeadLetters
from node.app.probes import NO_PROBE, Probe, Stage
from node.app.replica import CHAIN_BROKEN, Applied, IncomingEvent, Outcome, ReplicaService
from node.domain.errors import ValidationError
from node.i18n import operator_text

log = logging.getLogger("zhitong.federation.streams")

MAX_DELIVER = 20
GAP = "gap not repaired"  # dead letters with this reason are retried (Replicator.run_retries)
# Failures that repeat identically on every delivery: parked at once, never retried.
DETERMINISTIC: tuple[type[BaseException], ...] = (
    KeyError, ValueError, TypeError, AttributeError, RecursionError, OverflowError,
    ValidationError)
FETCH_BATCH = 256
FETCH_WAIT_S = 20.0  # the long poll for the next message; a message ends it at once
# the server's idle heartbeats during it (proof of a live consumer); the server refuses a
# pull request whose heartbeat is not under half its expiry
FETCH_HEARTBEAT_S = 8.0
STOP_GRACE_S = 1.0  # on stop, how long a pending pull may still end with a message
DRAIN_WAIT_S = 0.05  # then what else is there (no wait when anything is)


class Replicator:
    def __init__(self, replica: ReplicaService, dead_letters: DeadLetters, clock: Clock, *,
                 stream: str, durable: str = "apply", probe: Probe = NO_PROBE,
                 fetch_wait_s: float = FETCH_WAIT_S,
                 fetch_heartbeat_s: float = FETCH_HEARTBEAT_S) -> None:
        self.fetch_wait_s = fetch_wait_s
        self.fetch_heartbeat_s = fetch_heartbeat_s
        self.replica = replica
        self.dead_letters = dead_letters
        self.clock = clock
        self.stream = stream
        self.durable = durable
        self.probe = probe
        self.on_change: Callable[[], None] = lambda: None
        self.resubscribe = asyncio.Event()
        self.applied = 0
        self.last_lag_s = 0.0  # event time → applied here, for the last applied event
        self.last_message_at = time.monotonic()
        self.parked_gaps = True  # until the first look at the dead-letter table

    def watermark(self, writer: str) -> int:
        return self.replica.watermark(writer)

    # ---- dead letters

    def _dead_letter(self, msg: Msg, error: str) -> None:
        meta = msg.metadata
        self.dead_letters.park(
            stream=meta.stream, stream_seq=meta.sequence.stream, subject=msg.subject,
            error=error,
            data=msg.data[:messages.MAX_MESSAGE_BYTES].decode("utf-8", "replace"),
            at=self.clock.now())
        if error.startswith(GAP):
            self.parked_gaps = True
        log.warning("dead-lettered %s #%d: %s", meta.stream, meta.sequence.stream, error)

    def dead_letters_waiting(self) -> int:
        """Parked messages not (yet) resolved: what an operator has to look at."""
        return self.dead_letters.waiting()

    def chain_breaks(self) -> int:
        """Parked messages that broke their writer's hash chain (an alarm: a child's
        history was rewritten, or a message forged)."""
        return self.dead_letters.waiting_with(f"refused: {CHAIN_BROKEN}")

    # ---- parked gaps: retried until the peer answers

    def _settle(self, row_id: int, result: Applied) -> None:
        if result.outcome is Outcome.REFUSED:
            self.dead_letters.refuse(row_id, f"refused: {result.detail}")
        else:
            self.dead_letters.resolve(row_id, at=self.clock.now())

    async def retry_parked(self, *, limit: int = 200) -> int:
        """Apply the events parked as unrepaired gaps, now that a peer may answer: a status
        event that overtook the record of our own transfer, with the parent unreachable
        for longer than the redeliveries lasted, would otherwise leave the replica behind
        its owner until the owner happens to write again. Returns how many resolved."""
        rows = await asyncio.to_thread(self.dead_letters.parked, GAP, limit)
        resolved = 0
        pending = len(rows) == limit
        for row_id, subject, data in rows:
            try:
                m = messages.decode(data.encode("utf-8"))
            except Exception as exc:
                await asyncio.to_thread(
                    self._settle, row_id,
                    Applied(outcome=Outcome.REFUSED, detail=f"malformed: {operator_text(exc)}"))
                continue
            result = await self.replica.receive(m, subject_writer=_subject_writer(subject))
            if result.outcome is Outcome.GAP:
                pending = True
                continue
            await asyncio.to_thread(self._settle, row_id, result)
            if result.outcome is not Outcome.REFUSED:
                resolved += 1
                log.info("parked event for %s applied after all (%s)", m.event.issue_id,
                         result.outcome, extra={"issue_id": m.event.issue_id})
                if result.outcome is Outcome.APPLIED:
                    self.on_change()
        self.parked_gaps = pending
        return resolved

    async def run_retries(self, stop: asyncio.Event, wake: asyncio.Event, *,
                          period_s: float = 30.0, min_interval_s: float = 1.0) -> None:
        """Retry parked gaps every `period_s`, and soon after a local commit (e.g. the
        record of a transfer whose answer had been lost) while any are parked."""
        while not stop.is_set():
            if self.parked_gaps:
                try:
                    await self.retry_parked()
                except Exception as exc:
                    log.info("retrying parked events failed: %r", exc)
                await wait_any(stop, asyncio.Event(), min_interval_s)
            await wait_any(stop, wake, period_s)

    # ---- messages

    async def handle_batch(self, batch: list[Msg]) -> None:
        """Apply a fetched batch in one transaction; acknowledge after the commit.

        Anything unusual (a malformed message, a gap, a refusal, an exception) makes the
        batch fall back to `handle`, one message and one transaction at a time."""
        with self.probe.timed(Stage.REPLICATOR_BATCH, [_msg_id(msg) for msg in batch]):
            await self._handle_batch(batch)

    async def _handle_batch(self, batch: list[Msg]) -> None:
        items: list[tuple[IncomingEvent, str | None]] = []
        for msg in batch:
            try:
                items.append((messages.decode(msg.data), _subject_writer(msg.subject)))
            except Exception:  # anything odd: the careful path below names it
                items = []
                break
        results: list[Applied] | None = None
        if items:
            try:
                results = await asyncio.to_thread(self.replica.apply_many, items)
            except Exception:  # nothing committed: message by message below
                results = None
        if results is None:
            for msg in batch:
                await self.handle(msg)
            return
        for msg, (m, _), result in zip(batch, items, results, strict=True):
            if result.outcome.settled:
                await self._ack(msg, m, result)
            else:  # a gap to repair or a refusal to park: the careful path
                await self.handle(msg)

    async def _ack(self, msg: Msg, m: IncomingEvent, result: Applied) -> None:
        # Not ack_sync: the commit already happened; a lost ack only means a redelivery,
        # which the version check turns into a duplicate.
        with self.probe.timed(Stage.REPLICATOR_ACK):
            await msg.ack()
        self.last_message_at = time.monotonic()
        if result.outcome is Outcome.APPLIED:
            self._count_applied(m)

    def _count_applied(self, m: IncomingEvent) -> None:
        self.applied += 1
        self.last_lag_s = max(0.0, (self.clock.now() - m.event.at).total_seconds())
        self.on_change()

    async def handle(self, msg: Msg) -> None:
        with self.probe.timed(Stage.REPLICATOR_HANDLE, (_msg_id(msg),)):
            await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        self.last_message_at = time.monotonic()
        try:
            m = messages.decode(msg.data)
            result = await self.replica.receive(m,
                                                subject_writer=_subject_writer(msg.subject))
        except messages.MessageError as exc:
            await asyncio.to_thread(self._dead_letter, msg, f"malformed: {operator_text(exc)}")
            await msg.term()
            return
        except DETERMINISTIC as exc:  # the same message fails the same way every time
            await asyncio.to_thread(self._dead_letter, msg, f"does not apply: {exc!r}"[:2000])
            await msg.term()
            return
        except Exception as exc:  # e.g. a constraint or the database: maybe passing
            if msg.metadata.num_delivered >= MAX_DELIVER:
                await asyncio.to_thread(self._dead_letter, msg, f"apply kept failing: {exc!r}")
                await msg.term()
            else:
                log.warning("applying %s failed (%r); redelivery later", msg.subject, exc)
                await msg.nak(delay=min(30.0, 2.0 * msg.metadata.num_delivered))
            return
        if result.outcome.settled:
            if result.outcome is Outcome.OWNED:
                log.warning("ignored %s: %s", m.event_id, result.detail,
                            extra={"issue_id": m.event.issue_id})
            with self.probe.timed(Stage.REPLICATOR_ACK):
                await msg.ack_sync()
            if result.outcome is Outcome.APPLIED:
                self._count_applied(m)
        elif result.outcome is Outcome.REFUSED:
            await asyncio.to_thread(self._dead_letter, msg, f"refused: {result.detail}")
            await msg.term()
        elif msg.metadata.num_delivered >= MAX_DELIVER:
            await asyncio.to_thread(self._dead_letter, msg, f"{GAP}: {result.detail}")
            await msg.term()
        else:
            await msg.nak(delay=min(30.0, 0.5 * msg.metadata.num_delivered))

    # ---- the consumer loop

    async def _fetch(self, sub: Any, stop: asyncio.Event) -> list[Msg] | None:
        """The next messages, as soon as there are any; None when `stop` or `resubscribe`
        interrupts the wait.

        A long poll for ONE message, then whatever else is already there (no wait): a
        lingering pull for a whole batch would hold the first message until the batch
        fills or the request expires (nats-py), i.e. add up to `fetch_wait_s` of lag at low
        rates. Idle heartbeats make a quiet but healthy consumer end in FetchTimeoutError,
        and the long wait keeps idle nodes idle."""
        fetch = asyncio.ensure_future(self._fetch_now(sub))
        interrupts = [asyncio.ensure_future(stop.wait()),
                      asyncio.ensure_future(self.resubscribe.wait())]
        try:
            await asyncio.wait([fetch, *interrupts], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in interrupts:
                waiter.cancel()
        if not fetch.done():
            # Give the pull request a moment to end with a message rather than cancel it at
            # once: the server would still deliver into it, to a subscription that is gone,
            # and those messages would wait out the ack timeout (ACK_WAIT_S) before anyone saw
            # them. While messages flow one ends it quickly; what it brings is handed back.
            try:
                late = await asyncio.wait_for(asyncio.shield(fetch), timeout=STOP_GRACE_S)
            except Exception:
                fetch.add_done_callback(lambda f: f.cancelled() or f.exception())
                fetch.cancel()
                return None
            for msg in late:
                with contextlib.suppress(Exception):
                    await msg.nak()
            return None
        result: list[Msg] = fetch.result()
        return result

    async def _fetch_now(self, sub: Any) -> list[Msg]:
        """Whatever is there (one request under load); else a long poll for ONE message,
        then whatever else has come."""
        try:
            ready: list[Msg] = await sub.fetch(FETCH_BATCH, timeout=DRAIN_WAIT_S)
            return ready
        except (TimeoutError, FetchTimeoutError, nats.errors.TimeoutError):
            pass
        first: list[Msg] = await sub.fetch(1, timeout=self.fetch_wait_s,
                                           heartbeat=self.fetch_heartbeat_s)
        try:
            more: list[Msg] = await sub.fetch(FETCH_BATCH - 1, timeout=DRAIN_WAIT_S)
        except (TimeoutError, FetchTimeoutError, nats.errors.TimeoutError):
            more = []
        return first + more

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *,
                  watchdog_s: float = 30.0) -> None:
        """Fetch in a loop; re-create the subscription when it goes silent (nats.py #504)."""
        while not stop.is_set():
            try:
                sub = await js.pull_subscribe(
                    "", durable=self.durable, stream=self.stream,
                    config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
                                          max_deliver=MAX_DELIVER + 5,
                                          deliver_policy=DeliverPolicy.ALL,
                                          max_ack_pending=4 * FETCH_BATCH))
            except Exception as exc:
                log.info("inbound consumer not ready (%s); retrying", exc)
                await wait_any(stop, asyncio.Event(), 1.0)
                continue
            healthy_until = time.monotonic() + watchdog_s
            self.resubscribe.clear()
            while (not stop.is_set() and not self.resubscribe.is_set()
                   and time.monotonic() < healthy_until):
                try:
                    with self.probe.timed(Stage.REPLICATOR_FETCH):
                        batch = await self._fetch(sub, stop)
                    if batch is None:
                        break  # stopping, or asked to re-subscribe
                except FetchTimeoutError:
                    healthy_until = time.monotonic() + watchdog_s  # an answer: alive
                    continue
                except Exception as exc:
                    log.info("inbound fetch failed (%s)", exc)
                    await wait_any(stop, asyncio.Event(), 0.5)
                    continue
                healthy_until = time.monotonic() + watchdog_s
                try:
                    async with in_progress(batch):
                        await self.handle_batch(batch)
                except Exception:
                    # e.g. the database is unavailable: never let a batch stop the consumer;
                    # unacknowledged messages are redelivered (dead-lettered after
                    # MAX_DELIVER)
                    log.exception("applying a batch of %d failed; will be redelivered",
                                  len(batch))
                    for msg in batch:
                        with contextlib.suppress(Exception):
                            if msg.metadata.num_delivered >= MAX_DELIVER:
                                await asyncio.to_thread(
                                    self._dead_letter, msg, "apply kept failing")
                                await msg.term()
                            else:
                                await msg.nak(delay=2.0)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def _msg_id(msg: Msg) -> str:
    """The event id a message carries as its `Nats-Msg-Id` ("" without one)."""
    headers = msg.headers
    return headers.get("Nats-Msg-Id", "") if headers else ""


def _subject_writer(subject: str) -> str | None:
    """The writer an event's subject names (the broker's permissions vouch for it)."""
    try:
        parsed = Subject.parse(subject)
    except SubjectError:
        return None
    return parsed.writer if parsed.kind is SubjectKind.EVENT else None
