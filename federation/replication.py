"""Event streams at run time: publish the node's log, apply what flows in, reconcile.

* **Publisher** — the SQL event table is the truth and the outbox. Own events not yet
  acknowledged by the broker (`published = false`) are published in writer order with the
  event id as `Nats-Msg-Id`; only a PubAck counts, and the flag is set after it. A crash in
  between re-publishes: the broker drops repeats inside its window, the appliers beyond it.
* **Replicator** — a durable pull consumer on the node's inbound stream. Each message is
  applied in one transaction and acknowledged only after the commit: a version at or below
  the replica's is a duplicate (ack), the next version is applied, a higher one is a gap
  repaired by a gRPC Fetch from a peer. An event must be written by the issue's current
  owner, and nothing from outside ever changes an issue this node owns. Malformed messages
  and ones still failing after `MAX_DELIVER` deliveries go to the dead-letter table.
* **Reconciler** — asks the parent how far it has applied this node's stream
  (gRPC Watermark) and marks everything beyond as unpublished, so the publisher re-sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from sqlalchemy import func, insert, select, update

from federation.nats import messages
from federation.nats.streams import Place, event_subject, inbound_stream
from node.app.ports import Clock
from node.domain.errors import ValidationError
from node.domain.identity import check_new_issue, check_snapshot
from node.domain.issue import Event, Issue
from node.domain.lifecycle import create, evolve
from node.store import repo
from node.store.repo import Store
from node.store.schema import dead_letters, events, issues, replication_marks

log = logging.getLogger("zhitong.federation.streams")

MAX_DELIVER = 20
GAP = "gap not repaired"  # dead letters with this reason are retried (Replicator.run_retries)
# Failures that repeat identically on every delivery: parked at once, never retried.
DETERMINISTIC: tuple[type[BaseException], ...] = (
    KeyError, ValueError, TypeError, AttributeError, RecursionError, OverflowError,
    ValidationError)
FETCH_BATCH = 256
FETCH_WAIT_S = 5.0  # the long poll for the next message; a message ends it at once
# the server's idle heartbeats during it (proof of a live consumer); the server refuses a
# pull request whose heartbeat is not under half its expiry
FETCH_HEARTBEAT_S = 2.0
STOP_GRACE_S = 1.0  # on stop, how long a pending pull may still end with a message
DRAIN_WAIT_S = 0.05  # then what else is there (no wait when anything is)

Fetcher = Callable[[str, str, int], Awaitable[tuple[Issue, list[tuple[Event, str]]]]]


# --------------------------------------------------------------------------- publisher


class Publisher:
    def __init__(self, store: Store, code: str, *, window: int = 256) -> None:
        self.store = store
        self.code = code
        self.window = window
        self.wake = asyncio.Event()

    def _pending(self) -> list[tuple[repo.StoredEvent, str]]:
        with self.store.read() as conn:
            found = repo.unpublished(conn, self.window)
            origins = dict(conn.execute(
                select(issues.c.id, issues.c.origin)
                .where(issues.c.id.in_({s.event.issue_id for s in found}))).all())
        return [(s, origins[s.event.issue_id]) for s in found]

    def _mark(self, seqs: list[int]) -> None:
        with self.store.write() as conn:
            repo.mark_published(conn, seqs)

    async def publish_once(self, js: JetStreamContext) -> int:
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return 0
        results = await asyncio.gather(*(
            js.publish(event_subject(self.code, origin, s.event.issue_id),
                       messages.encode(s, origin), headers={"Nats-Msg-Id": s.event_id},
                       timeout=5)
            for s, origin in pending), return_exceptions=True)
        done: list[int] = []
        for (stored, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("publish of %s not acknowledged: %r", stored.event_id, result)
                break  # keep writer order: the rest goes again next round
            done.append(stored.seq)
        if done:
            await asyncio.to_thread(self._mark, done)
        return len(done)

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *, poll_s: float = 2.0
                  ) -> None:
        # Woken by every local commit (Store.after_commit); the poll only catches writes
        # from another process (e.g. `zhitong demo seed`) — and costs CPU on idle nodes.
        while not stop.is_set():
            try:
                if await self.publish_once(js):
                    continue
            except Exception:
                log.exception("publisher failed; retrying")
            await _wait_any(stop, self.wake, poll_s)


# --------------------------------------------------------------------------- replicator


@dataclass(frozen=True, kw_only=True, slots=True)
class Applied:
    outcome: str  # applied | duplicate | gap | owned | refused
    detail: str = ""


class Replicator:
    def __init__(self, store: Store, place: Place, clock: Clock, *,
                 fetch: Fetcher | None = None, parent: str | None = None,
                 durable: str = "apply") -> None:
        self.store = store
        self.place = place
        self.clock = clock
        self.fetch = fetch
        self.parent = parent
        self.durable = durable
        self.on_change: Callable[[], None] = lambda: None
        self.resubscribe = asyncio.Event()
        self.applied = 0
        self.last_lag_s = 0.0  # event time → applied here, for the last applied event
        self.last_message_at = time.monotonic()
        self.parked_gaps = True  # until the first look at the dead-letter table

    # ---- one event, one transaction

    def apply(self, m: messages.EventMessage, *, subject_writer: str | None = None) -> Applied:
        with self.store.write() as conn:
            return self._apply_in(conn, m, subject_writer)

    def apply_many(self, items: list[tuple[messages.EventMessage, str | None]]
                   ) -> list[Applied]:
        """A fetched batch in ONE transaction (the catch-up path); any exception rolls the
        whole batch back and the caller falls back to one message at a time."""
        with self.store.write() as conn:
            return [self._apply_in(conn, m, writer) for m, writer in items]

    def _apply_in(self, conn: Any, m: messages.EventMessage,
                  subject_writer: str | None) -> Applied:
        if subject_writer is not None and subject_writer != m.writer:
            return Applied(outcome="refused", detail="writer differs from the subject")
        local = repo.load_issue(conn, m.event.issue_id, for_update=True)
        result = self._decide(local, m)
        if result.outcome == "applied":
            try:
                issue = self._fold(conn, local, m)
            except ValidationError as exc:
                return Applied(outcome="refused", detail=f"{exc.field}: {exc.message_en}")
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                return Applied(outcome="refused", detail=f"does not apply: {exc!r}"[:500])
            if local is None:
                repo.insert_issue(conn, issue)
            else:
                repo.update_issue(conn, issue, expected_version=local.version)
            repo.append_event(conn, m.writer, m.event, writer_seq=m.writer_seq)
        if result.outcome in ("applied", "duplicate", "owned"):
            self._advance_mark(conn, m.writer, m.writer_seq)
        return result

    def _fold(self, conn: Any, local: Issue | None, m: messages.EventMessage) -> Issue:
        """The replica after `m`, checked like any input: a new issue must be minted in its
        writer's namespace, and the snapshot must pass the checks HTTP input gets."""
        if local is None:
            issue = create(m.event)
            if issue.origin != m.writer:
                raise ValidationError("issue.origin", "新诉求必须由其来源单位发布",
                                      "a new issue must be published by its origin")
            check_new_issue(issue, sender=m.writer, receiver=self.place.code)
            if repo.holder_of_number(conn, issue.number) is not None:
                raise ValidationError("issue.number", "该受理号已被其他诉求占用",
                                      "another issue already holds this number")
        else:
            issue = evolve(local, m.event)
            if (issue.id, issue.number, issue.origin) != (local.id, local.number,
                                                           local.origin):
                raise ValidationError("issue.number", "事件不能改变诉求的编号或来源",
                                      "an event may not change an issue's id, number or "
                                      "origin")
        check_snapshot(issue)
        return issue

    def _decide(self, local: Issue | None, m: messages.EventMessage) -> Applied:
        e = m.event
        if local is None:
            if e.version != 1:
                return Applied(outcome="gap", detail="unknown issue")
            if e.kind != "submitted" or e.payload.get("owner") != m.writer:
                return Applied(outcome="refused", detail="a new issue must come from its owner")
            return Applied(outcome="applied")
        if e.version <= local.version:
            return Applied(outcome="duplicate")
        if e.version > local.version + 1:
            # Also when this node still owns it: a parent's event can overtake the record
            # of our own transfer (the RPC answered, the local commit is a moment later).
            return Applied(outcome="gap", detail=f"have v{local.version}, got v{e.version}")
        if local.owner == self.place.code:
            return Applied(outcome="owned", detail="this node owns the issue")
        if local.owner != m.writer:
            return Applied(outcome="refused",
                           detail=f"written by {m.writer}, but {local.owner} owns the issue")
        return Applied(outcome="applied")

    def _advance_mark(self, conn: Any, writer: str, writer_seq: int | None) -> None:
        if writer not in self.place.children or writer_seq is None:
            return  # only a child's full stream is contiguous
        through = conn.execute(select(replication_marks.c.through_seq).where(
            replication_marks.c.writer == writer)).scalar_one_or_none()
        now = self.clock.now()
        if through is None:
            if writer_seq == 1:
                conn.execute(insert(replication_marks).values(writer=writer, through_seq=1,
                                                              updated_at=now))
            return
        if writer_seq == through + 1:
            # also swallow what was already applied beyond (e.g. events that came by gRPC)
            conn.execute(update(replication_marks).where(replication_marks.c.writer == writer)
                         .values(through_seq=writer_seq, updated_at=now))

    def watermark(self, writer: str) -> int:
        return watermark(self.store, writer)

    # ---- gap repair

    async def repair(self, m: messages.EventMessage) -> bool:
        """Fetch what the replica lacks from a peer and apply it; True if it worked."""
        if self.fetch is None:
            return False
        peer = m.writer if m.writer in (*self.place.children, self.parent) else self.parent
        if peer is None:
            return False
        local_version = await asyncio.to_thread(self._local_version, m.event.issue_id)
        try:
            _issue, history = await self.fetch(peer, m.event.issue_id, local_version)
        except Exception as exc:
            log.info("gap repair of %s from %s failed: %s", m.event.issue_id, peer, exc)
            return False
        for event, writer in history:
            result = await asyncio.to_thread(
                self.apply, messages.EventMessage(event=event, writer=writer, writer_seq=None,
                                                  origin=m.origin))
            if result.outcome in ("gap", "refused"):
                return False
        return True

    def _local_version(self, issue_id: str) -> int:
        with self.store.read() as conn:
            issue = repo.load_issue(conn, issue_id)
        return issue.version if issue else 0

    # ---- the consumer loop

    def _dead_letter(self, msg: Msg, error: str) -> None:
        meta = msg.metadata
        with self.store.write() as conn:
            exists = conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.stream == meta.stream,
                dead_letters.c.stream_seq == meta.sequence.stream)).scalar_one()
            if not exists:
                conn.execute(insert(dead_letters).values(
                    stream=meta.stream, stream_seq=meta.sequence.stream,
                    subject=msg.subject[:200], error=error[:2000],
                    data=msg.data[:messages.MAX_MESSAGE_BYTES].decode("utf-8", "replace"),
                    at=self.clock.now()))
        if error.startswith(GAP):
            self.parked_gaps = True
        log.warning("dead-lettered %s #%d: %s", meta.stream, meta.sequence.stream, error)

    def dead_letters_waiting(self) -> int:
        """Parked messages not (yet) resolved: what an operator has to look at."""
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.resolved_at.is_(None))).scalar_one())

    # ---- parked gaps: retried until the peer answers

    def _parked(self, limit: int) -> list[tuple[int, str, str]]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(dead_letters.c.id, dead_letters.c.subject, dead_letters.c.data)
                .where(dead_letters.c.resolved_at.is_(None),
                       dead_letters.c.error.like(GAP + "%"))
                .order_by(dead_letters.c.id).limit(limit)).all()
        return [(int(r.id), str(r.subject), str(r.data)) for r in rows]

    def _settle(self, row_id: int, result: Applied) -> None:
        with self.store.write() as conn:
            values: dict[str, Any] = (
                {"resolved_at": self.clock.now()} if result.outcome != "refused"
                else {"error": f"refused: {result.detail}"[:2000]})
            conn.execute(update(dead_letters).where(dead_letters.c.id == row_id)
                         .values(**values))

    async def retry_parked(self, *, limit: int = 200) -> int:
        """Apply the events parked as unrepaired gaps, now that a peer may answer: a status
        event that overtook the record of our own transfer, with the parent unreachable
        for longer than the redeliveries lasted, would otherwise leave the replica behind
        its owner until the owner happens to write again. Returns how many resolved."""
        rows = await asyncio.to_thread(self._parked, limit)
        resolved = 0
        pending = len(rows) == limit
        for row_id, subject, data in rows:
            try:
                m = messages.decode(data.encode("utf-8"))
            except Exception as exc:
                await asyncio.to_thread(self._settle, row_id,
                                        Applied(outcome="refused", detail=f"malformed: {exc}"))
                continue
            writer = _subject_writer(subject)
            result = await asyncio.to_thread(self.apply, m, subject_writer=writer)
            if result.outcome == "gap" and await self.repair(m):
                result = await asyncio.to_thread(self.apply, m, subject_writer=writer)
            if result.outcome == "gap":
                pending = True
                continue
            await asyncio.to_thread(self._settle, row_id, result)
            if result.outcome != "refused":
                resolved += 1
                log.info("parked event for %s applied after all (%s)", m.event.issue_id,
                         result.outcome, extra={"issue_id": m.event.issue_id})
                if result.outcome == "applied":
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
                await _wait_any(stop, asyncio.Event(), min_interval_s)
            await _wait_any(stop, wake, period_s)

    async def handle_batch(self, batch: list[Msg]) -> None:
        """Apply a fetched batch in one transaction; acknowledge after the commit.

        Anything unusual (a malformed message, a gap, a refusal, an exception) makes the
        batch fall back to `handle`, one message and one transaction at a time."""
        items: list[tuple[messages.EventMessage, str | None]] = []
        for msg in batch:
            try:
                items.append((messages.decode(msg.data), _subject_writer(msg.subject)))
            except Exception:  # anything odd: the careful path below names it
                items = []
                break
        results: list[Applied] | None = None
        if items:
            try:
                results = await asyncio.to_thread(self.apply_many, items)
            except Exception:  # nothing committed: message by message below
                results = None
        if results is None:
            for msg in batch:
                await self.handle(msg)
            return
        for msg, (m, _), result in zip(batch, items, results, strict=True):
            if result.outcome in ("applied", "duplicate", "owned"):
                await self._ack(msg, m, result)
            else:  # a gap to repair or a refusal to park: the careful path
                await self.handle(msg)

    async def _ack(self, msg: Msg, m: messages.EventMessage, result: Applied) -> None:
        # Not ack_sync: the commit already happened; a lost ack only means a redelivery,
        # which the version check turns into a duplicate.
        await msg.ack()
        self.last_message_at = time.monotonic()
        if result.outcome == "applied":
            self.applied += 1
            self.last_lag_s = max(0.0, (self.clock.now() - m.event.at).total_seconds())
            self.on_change()

    async def handle(self, msg: Msg) -> None:
        self.last_message_at = time.monotonic()
        try:
            m = messages.decode(msg.data)
            writer_token = _subject_writer(msg.subject)
            result = await asyncio.to_thread(self.apply, m, subject_writer=writer_token)
            if result.outcome == "gap" and await self.repair(m):
                result = await asyncio.to_thread(self.apply, m, subject_writer=writer_token)
        except messages.MessageError as exc:
            await asyncio.to_thread(self._dead_letter, msg, f"malformed: {exc}")
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
        if result.outcome in ("applied", "duplicate", "owned"):
            if result.outcome == "owned":
                log.warning("ignored %s: %s", m.event_id, result.detail,
                            extra={"issue_id": m.event.issue_id})
            await msg.ack_sync()
            if result.outcome == "applied":
                self.applied += 1
                self.last_lag_s = max(0.0, (self.clock.now() - m.event.at).total_seconds())
                self.on_change()
        elif result.outcome == "refused":
            await asyncio.to_thread(self._dead_letter, msg, f"refused: {result.detail}")
            await msg.term()
        elif msg.metadata.num_delivered >= MAX_DELIVER:
            await asyncio.to_thread(self._dead_letter, msg, f"{GAP}: {result.detail}")
            await msg.term()
        else:
            await msg.nak(delay=min(30.0, 0.5 * msg.metadata.num_delivered))

    async def _fetch(self, sub: Any, stop: asyncio.Event) -> list[Msg] | None:
        """The next messages, as soon as there are any; None when `stop` or `resubscribe`
        interrupts the wait.

        A long poll for ONE message, then whatever else is already there (no wait): a
        lingering pull for a whole batch would hold the first message until the batch
        fills or the request expires (nats-py), i.e. add up to FETCH_WAIT_S of lag at low
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
            # and those messages would wait out the ack timeout (30 s) before anyone saw
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

    @staticmethod
    async def _fetch_now(sub: Any) -> list[Msg]:
        """Whatever is there (one request under load); else a long poll for ONE message,
        then whatever else has come."""
        try:
            ready: list[Msg] = await sub.fetch(FETCH_BATCH, timeout=DRAIN_WAIT_S)
            return ready
        except (TimeoutError, FetchTimeoutError, nats.errors.TimeoutError):
            pass
        first: list[Msg] = await sub.fetch(1, timeout=FETCH_WAIT_S, heartbeat=FETCH_HEARTBEAT_S)
        try:
            more: list[Msg] = await sub.fetch(FETCH_BATCH - 1, timeout=DRAIN_WAIT_S)
        except (TimeoutError, FetchTimeoutError, nats.errors.TimeoutError):
            more = []
        return first + more

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *,
                  watchdog_s: float = 30.0) -> None:
        """Fetch in a loop; re-create the subscription when it goes silent (nats.py #504)."""
        stream = inbound_stream(self.place.code)
        while not stop.is_set():
            try:
                sub = await js.pull_subscribe(
                    "", durable=self.durable, stream=stream,
                    config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30,
                                          max_deliver=MAX_DELIVER + 5,
                                          deliver_policy=DeliverPolicy.ALL,
                                          max_ack_pending=4 * FETCH_BATCH))
            except Exception as exc:
                log.info("inbound consumer not ready (%s); retrying", exc)
                await _wait_any(stop, asyncio.Event(), 1.0)
                continue
            healthy_until = time.monotonic() + watchdog_s
            self.resubscribe.clear()
            while (not stop.is_set() and not self.resubscribe.is_set()
                   and time.monotonic() < healthy_until):
                try:
                    batch = await self._fetch(sub, stop)
                    if batch is None:
                        break  # stopping, or asked to re-subscribe
                except FetchTimeoutError:
                    healthy_until = time.monotonic() + watchdog_s  # an answer: alive
                    continue
                except Exception as exc:
                    log.info("inbound fetch failed (%s)", exc)
                    await _wait_any(stop, asyncio.Event(), 0.5)
                    continue
                healthy_until = time.monotonic() + watchdog_s
                try:
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


# --------------------------------------------------------------------------- reconciler


class Reconciler:
    """Re-publish what the parent has not seen (the broker's dedupe window is short)."""

    def __init__(self, store: Store, code: str, watermark: Callable[[], Awaitable[int]], *,
                 own_stream_messages: Callable[[], Awaitable[int]] | None = None) -> None:
        self.store = store
        self.code = code
        self.watermark = watermark
        self.own_stream_messages = own_stream_messages
        self._suspect: int | None = None

    def _behind(self, through: int) -> int:
        with self.store.read() as conn:
            published_max = int(conn.execute(
                select(func.max(events.c.writer_seq)).where(
                    events.c.node == self.code, events.c.published.is_(True))
            ).scalar_one() or 0)
        return published_max - through

    def _resend(self, through: int) -> int:
        with self.store.write() as conn:
            return repo.mark_unpublished_from(conn, self.code, through)

    async def check_once(self) -> int:
        """Returns how many events were scheduled for re-publishing."""
        through = await self.watermark()
        behind = await asyncio.to_thread(self._behind, through)
        if behind <= 0:
            self._suspect = None
            return 0
        # Only when the parent stayed behind the same mark across two checks: events in
        # flight through the broker must not be sent twice for nothing.
        if self._suspect != through:
            self._suspect = through
            return 0
        self._suspect = None
        if self.own_stream_messages is not None:
            published = through + behind
            if await self.own_stream_messages() >= published:
                # our broker holds every event we published: only the link to the parent is
                # down (or slow), and re-publishing would only add copies to our own stream
                return 0
        count = await asyncio.to_thread(self._resend, through)
        log.warning("parent has applied our stream through %d; re-publishing %d events",
                    through, count)
        return count

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, *, period_s: float = 30.0
                  ) -> None:
        while not stop.is_set():
            try:
                if await self.check_once():
                    wake.set()
            except Exception as exc:
                log.info("reconciliation skipped: %s", exc)
            await _wait_any(stop, asyncio.Event(), period_s)


def watermark(store: Store, writer: str) -> int:
    """How far this node has applied `writer`'s stream (the Watermark RPC's answer)."""
    with store.read() as conn:
        return int(conn.execute(select(replication_marks.c.through_seq).where(
            replication_marks.c.writer == writer)).scalar_one_or_none() or 0)


def _subject_writer(subject: str) -> str | None:
    """The writer token of `zt.<writer>.ev.<origin>.<issue id>`."""
    parts = subject.split(".")
    return parts[1] if len(parts) >= 5 else None


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    wake.clear()
