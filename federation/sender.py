"""One sender per destination: drains the transfer outbox in order, one batch in flight.

`drain_once()` reads the next pending transfers for its destination (at most
`batch_size`) from the transfer use cases (node.app.transfers), ships them concurrently
(encoded by federation/codec.py) — each call with a deadline and short tenacity retries
for blips — and records each answer in its own transaction: accepted → the ownership
change is recorded; refused (an error no retry can fix: `_refusal` decides from the typed
error the peer sent, federation/failures.py) → the row is parked and the issue unfrozen;
unreachable → the destination's persisted backoff moves on and the rest waits. The backoff
(capped, jittered, stored in the database) survives restarts and resets as soon as the
destination answers again. `run()` loops over `drain_once()`, waking on new work or after a
short poll, and logs a stuck destination. Its stages (drain, ship, encode, decode the reply)
go through the transfer use cases' probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc

from federation import codec
from federation.failures import RemoteError, from_rpc_error, is_retryable
from federation.retry import short_call_retries
from node.app.probes import Stage
from node.app.transfers import Accepted, DirectiveAccepted, Outgoing, TransferService
from node.domain.errors import DomainError

log = logging.getLogger("zhitong.federation.sender")


@dataclass(frozen=True, kw_only=True, slots=True)
class DrainResult:
    delivered: int = 0
    refused: int = 0
    failed: int = 0  # not reached: left pending, destination backing off
    waiting: bool = False  # nothing was tried because the backoff has not expired
    next_at: datetime | None = None  # when the backoff (if any) expires


class Sender:
    def __init__(
        self,
        transfers: TransferService,
        *,
        destination: str,
        channel_factory: Callable[[], grpc.aio.Channel],
        batch_size: int = 16,
        call_timeout_s: float = 5.0,
        retry_attempts: int = 3,
        stuck_after: timedelta = timedelta(hours=1),
    ) -> None:
        self.transfers = transfers
        self.destination = destination
        self._channel_factory = channel_factory
        self._channel: grpc.aio.Channel | None = None
        self.batch_size = batch_size
        self.call_timeout_s = call_timeout_s
        self.retry_attempts = retry_attempts
        self.stuck_after = stuck_after
        self.wake = asyncio.Event()
        self._last_stuck_log = 0.0

    def _stub(self) -> codec.FederationStub:
        if self._channel is None:
            self._channel = self._channel_factory()
        return codec.FederationStub(self._channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _ship(self, item: Outgoing) -> Accepted | DirectiveAccepted:
        with self.transfers.probe.timed(Stage.SENDER_SHIP):
            return await self._ship_one(item)

    async def _ship_one(self, item: Outgoing) -> Accepted | DirectiveAccepted:
        if item.directive is not None:
            return await self._direct(item)
        assert item.transfer is not None
        with self.transfers.probe.timed(Stage.SENDER_ENCODE):
            request = codec.transfer_to_pb(item.transfer)
        stub = self._stub()
        method = stub.Escalate if isinstance(request, codec.EscalateRequest) else stub.Return
        async for attempt in short_call_retries(self.retry_attempts):
            with attempt:
                reply = await method(request, timeout=self.call_timeout_s)
                with self.transfers.probe.timed(Stage.SENDER_DECODE_REPLY):
                    return codec.accepted_from_pb(reply)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _direct(self, item: Outgoing) -> DirectiveAccepted:
        assert item.directive is not None
        request = codec.directive_to_pb(item.directive)
        stub = self._stub()
        async for attempt in short_call_retries(self.retry_attempts):
            with attempt:
                reply = await stub.Direct(request, timeout=self.call_timeout_s)
                return codec.directive_accepted_from_pb(reply)
        raise AssertionError("unreachable")  # pragma: no cover

    async def drain_once(self) -> DrainResult:
        with self.transfers.probe.timed(Stage.SENDER_DRAIN):
            return await self._drain_once()

    async def _drain_once(self) -> DrainResult:
        next_at = await asyncio.to_thread(self.transfers.next_attempt_at, self.destination)
        if next_at is not None and self.transfers.clock.now() < next_at:
            return DrainResult(waiting=True, next_at=next_at)
        batch = await asyncio.to_thread(self.transfers.due, self.destination, self.batch_size)
        if not batch:
            return DrainResult()
        answers = await asyncio.gather(*(self._ship(item) for item in batch),
                                       return_exceptions=True)
        delivered = refused = 0
        unreached: list[str] = []
        last_error = ""
        for item, answer in zip(batch, answers, strict=True):
            tid = item.row.transfer_id
            if isinstance(answer, Accepted | DirectiveAccepted):
                await asyncio.to_thread(self.transfers.record_accepted, tid, answer)
                delivered += 1
            elif isinstance(answer, grpc.aio.AioRpcError) and _refusal(answer):
                error = _describe(answer)
                log.warning("transfer %s of %s refused by %s: %s", tid, item.row.issue_id,
                            self.destination, error,
                            extra={"issue_id": item.row.issue_id, "peer": self.destination})
                await asyncio.to_thread(self.transfers.record_refused, tid, error)
                refused += 1
            elif isinstance(answer, grpc.aio.AioRpcError):
                unreached.append(tid)
                last_error = _describe(answer)
            else:
                raise answer  # a bug, not a network condition
        if unreached:
            next_at = await asyncio.to_thread(self.transfers.record_failure, self.destination,
                                              unreached, last_error)
            log.warning("%d transfer(s) to %s not delivered (%s); next attempt at %s",
                        len(unreached), self.destination, last_error, next_at.isoformat())
        elif refused and not delivered:
            # the peer answered; an accepted transfer already reset the backoff in its own
            # transaction, a refusal did not
            await asyncio.to_thread(self.transfers.record_reachable, self.destination)
        return DrainResult(delivered=delivered, refused=refused, failed=len(unreached))

    async def run(self, stop: asyncio.Event, *, poll_s: float = 1.0,
                  idle_poll_s: float = 15.0) -> None:
        """Drain until `stop` is set. Never raises for network trouble.

        Every transfer queued wakes the sender (TransferService.on_queued), so an empty
        outbox is only re-checked every `idle_poll_s` (a safety net that keeps idle nodes
        idle); while backing off or after a failure it looks again within `poll_s`."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            # cleared before the drain, not after it: a transfer queued while a drain is in
            # flight must wake the next round (clearing after lost it for idle_poll_s)
            self.wake.clear()
            try:
                result = await self.drain_once()
            except Exception:
                log.exception("sender to %s failed; retrying", self.destination)
                result = DrainResult(waiting=True)
            if result.delivered or result.refused:
                continue  # more may be waiting
            await self._report_stuck(loop.time())
            if result.next_at is not None:
                until = (result.next_at - self.transfers.clock.now()).total_seconds()
                timeout = min(poll_s, max(0.05, until))
            elif result.waiting or result.failed:
                timeout = poll_s
            else:
                timeout = idle_poll_s
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self.wake.wait())
            await asyncio.wait({stop_wait, wake_wait}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            for fut in (stop_wait, wake_wait):
                fut.cancel()
        await self.close()

    async def _report_stuck(self, mono_now: float) -> None:
        if mono_now - self._last_stuck_log < 600:
            return
        status = await asyncio.to_thread(self.transfers.outbox_status, self.stuck_after)
        dest = status["destinations"].get(self.destination)
        if dest and dest["stuck"]:
            self._last_stuck_log = mono_now
            log.error("destination %s is STUCK: %d transfer(s) pending, oldest %.0f s; "
                      "last error: %s", self.destination, dest["depth"], dest["oldest_age_s"],
                      dest["last_error"])


def _refusal(error: grpc.aio.AioRpcError) -> bool:
    """Park (True) or retry later (False): the one place the sender decides it — from the
    typed error the peer sent in trailing metadata (or, without one, from the status)."""
    return not is_retryable(from_rpc_error(error))


def _describe(error: grpc.aio.AioRpcError) -> str:
    """The text kept with a parked row or a destination's backoff: the stable code first
    (what an operator greps for and the screens translate), then the peer's details."""
    typed = from_rpc_error(error)
    code = typed.code if isinstance(typed, DomainError | RemoteError) else None
    prefix = error.code().name if code is None else f"{error.code().name} {code}"
    return f"{prefix}: {error.details()}"
