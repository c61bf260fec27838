"""One sender per destination: drains the transfer outbox in order, one batch in flight.

`drain_once()` reads the next pending transfers for its destination (at most
`batch_size`) from the transfer use cases (node.app.transfers) and ships the transfers
among them as ONE ordered envelope (TransferBatch, encoded by federation/codec.py: as many
as fit in one request's size, the rest wait for the next drain), the directives as unary
Direct calls beside it — each call with a deadline and short tenacity retries for blips.
The peer answers per item; all answers are recorded in ONE transaction (record_batch):
accepted → the ownership change is recorded; refused (an error no retry can fix: decided
from the typed error the peer sent, per item in the envelope's answer or per call in
trailing metadata, federation/failures.py) → the row is parked and the issue unfrozen;
unreachable → the destination's persisted backoff moves on and the rest waits. The backoff
(capped, jittered, stored in the database) survives restarts and resets as soon as the
destination answers again. A peer without TransferBatch (an older node) gets one unary
Escalate/Return per transfer, as before. `run()` loops over `drain_once()`, waking on new
work or after a short poll, and logs a stuck destination. Its stages (drain, ship, encode,
decode the reply) go through the transfer use cases' probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
import uuid6

from federation import codec
from federation.failures import RemoteError, describe, from_rpc_error, is_retryable, status_of
from federation.retry import short_call_retries
from node.app.probes import Stage
from node.app.transfers import Accepted, DirectiveAccepted, Outgoing, TransferService
from node.domain.errors import DomainError

log = logging.getLogger("zhitong.federation.sender")

#: What a shipped item came back with: its acceptance, the typed refusal of that item in an
#: envelope (DomainError, RemoteError), or the failed call's error.
Answer = Accepted | DirectiveAccepted | BaseException


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
        batched: bool = True,
    ) -> None:
        self.transfers = transfers
        self.destination = destination
        self._channel_factory = channel_factory
        self._channel: grpc.aio.Channel | None = None
        self.batch_size = batch_size
        self.call_timeout_s = call_timeout_s
        self.retry_attempts = retry_attempts
        self.stuck_after = stuck_after
        #: ship transfers in one envelope per drain (TransferBatch), else one call each
        self.batched = batched
        self.wake = asyncio.Event()
        self._last_stuck_log = -600.0
        self._last_stuck_check = -60.0

    def _stub(self) -> codec.FederationStub:
        if self._channel is None:
            self._channel = self._channel_factory()
        return codec.FederationStub(self._channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _ship(self, item: Outgoing) -> Accepted | DirectiveAccepted:
        """One unary call: a directive, or a transfer to a peer without TransferBatch."""
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

    async def _ship_each(self, items: list[Outgoing]) -> list[tuple[Outgoing, Answer]]:
        """Unary calls, concurrently: per item its answer or the call's error."""
        answers = await asyncio.gather(*(self._ship(item) for item in items),
                                       return_exceptions=True)
        return list(zip(items, answers, strict=True))

    async def _ship_batch(self, items: list[Outgoing]) -> list[tuple[Outgoing, Answer]]:
        """The transfers among `items` in one envelope (TransferBatch), as many as fit
        (codec.pack_envelope; the rest wait for the next drain): per shipped item its
        acceptance, the typed error the peer refused it with, or — when the whole call
        failed — the call's error. A peer that does not know TransferBatch (an older node:
        UNIMPLEMENTED without a code) gets unary calls from then on."""
        if not items:
            return []
        with self.transfers.probe.timed(Stage.SENDER_ENCODE):
            request, n = codec.pack_envelope(
                uuid6.uuid7().hex, self.transfers.node,
                [item.transfer for item in items if item.transfer is not None])
        shipped = items[:n]
        keys = [item.row.transfer_id for item in shipped]
        stub = self._stub()
        try:
            with self.transfers.probe.timed(Stage.SENDER_SHIP, keys):
                async for attempt in short_call_retries(self.retry_attempts):
                    with attempt:
                        reply = await stub.TransferBatch(request, timeout=self.call_timeout_s)
        except grpc.aio.AioRpcError as exc:
            typed = from_rpc_error(exc)
            if exc.code() is grpc.StatusCode.UNIMPLEMENTED and (
                    isinstance(typed, RemoteError) and typed.code is None):
                log.warning("%s does not know TransferBatch: unary calls from now on",
                            self.destination, extra={"peer": self.destination})
                self.batched = False
                return await self._ship_each(shipped)
            return [(item, exc) for item in shipped]
        try:
            with self.transfers.probe.timed(Stage.SENDER_DECODE_REPLY):
                outcomes = codec.envelope_result_from_pb(reply)
        except DomainError:  # a malformed answer (codec.CodecError)
            outcomes = []
        if [tid for tid, _ in outcomes] != keys:
            # not an answer to what was sent: nothing is recorded, the batch is sent again
            # after the destination's backoff
            error = RemoteError(grpc.StatusCode.INTERNAL,
                                f"answer to batch {request.batch_id} does not match it")
            return [(item, error) for item in shipped]
        return [(item, answer) for item, (_, answer) in zip(shipped, outcomes, strict=True)]

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
        enveloped = [item for item in batch if item.transfer is not None] if self.batched else []
        singles = [item for item in batch if item.transfer is None or not self.batched]
        envelope, one_by_one = await asyncio.gather(self._ship_batch(enveloped),
                                                    self._ship_each(singles))
        accepted: list[tuple[str, Accepted | DirectiveAccepted]] = []
        refused: list[tuple[str, str]] = []
        unreached: list[str] = []
        last_error = ""
        for item, answer in sorted([*envelope, *one_by_one], key=lambda p: p[0].row.seq):
            tid = item.row.transfer_id
            if isinstance(answer, Accepted | DirectiveAccepted):
                accepted.append((tid, answer))
                continue
            if isinstance(answer, grpc.aio.AioRpcError):
                park, error = _refusal(answer), _describe(answer)
            elif isinstance(answer, DomainError | RemoteError):  # one item of an envelope
                park, error = not is_retryable(answer), _describe_item(answer)
            else:
                raise answer  # a bug, not a network condition
            if park:
                log.warning("transfer %s of %s refused by %s: %s", tid, item.row.issue_id,
                            self.destination, error,
                            extra={"issue_id": item.row.issue_id, "peer": self.destination})
                refused.append((tid, error))
            else:
                unreached.append(tid)
                last_error = error
        if accepted or refused:
            # the peer answered: the backoff is reset with the answers (in the same
            # transaction), unless something is left for it to retry
            await asyncio.to_thread(self.transfers.record_batch, self.destination, accepted,
                                    refused, reachable=bool(accepted) or not unreached)
        if unreached:
            next_at = await asyncio.to_thread(self.transfers.record_failure, self.destination,
                                              unreached, last_error)
            log.warning("%d transfer(s) to %s not delivered (%s); next attempt at %s",
                        len(unreached), self.destination, last_error, next_at.isoformat())
        return DrainResult(delivered=len(accepted), refused=len(refused),
                           failed=len(unreached))

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
            if result.waiting or result.failed:  # an empty outbox cannot be stuck
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
        """Log a stuck destination at most every 10 min, looking at most once a minute (the
        status reads the whole outbox summary; a backing-off sender loops every `poll_s`)."""
        if mono_now - self._last_stuck_log < 600 or mono_now - self._last_stuck_check < 60:
            return
        self._last_stuck_check = mono_now
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


def _describe_item(error: DomainError | RemoteError) -> str:
    """The same text for one refused item of an envelope (the status it would have had)."""
    if isinstance(error, RemoteError):
        code = f" {error.code}" if error.code else ""
        return f"{error.status.name}{code}: {error.details}"
    return f"{status_of(error).name} {error.code}: {describe(error)}"
