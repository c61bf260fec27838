"""The node's gRPC server: Federation (Escalate, Return, TransferBatch, Direct, Fetch,
Watermark, FetchAttachment), health, reflection.

Every call first establishes who is calling: with mutual TLS the caller is the node code in
its certificate's common name, and it must equal the origin the message claims
(PERMISSION_DENIED otherwise). Only then is the message decoded by federation/codec.py
(INVALID_ARGUMENT for anything malformed or oversized) and handed to the synchronous
transfer use cases (node.app.transfers) in a worker thread; their answer is encoded back.
In insecure development mode the claimed origin is trusted, loudly. `_run` is the one
place where a refusal becomes a gRPC status. Decoding and encoding a transfer go through
the transfer use cases' probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from federation import codec
from federation.failures import CODE_KEY, describe, to_status
from node.app.probes import Stage
from node.app.transfers import UP_KINDS, Transfer, TransferService
from node.domain.errors import ERRORS, DomainError, Forbidden, Unauthenticated
from node.domain.issue import Action
from node.i18n import message

if TYPE_CHECKING:
    from node.app.attachments import AttachmentService

log = logging.getLogger("zhitong.federation.server")

SERVICE_NAME = codec.SERVICE_NAME
#: The transport accepts more than the contract allows, so an oversized request reaches the
#: handler and is refused with INVALID_ARGUMENT and a message, not a bare transport error.
MAX_TRANSPORT_BYTES = 4 * codec.MAX_REQUEST_BYTES

T = TypeVar("T")


class FederationServicer(codec.FederationServicer):
    def __init__(self, transfers: TransferService, *, insecure: bool,
                 watermark: Callable[[str], int] | None = None,
                 attachments: AttachmentService | None = None) -> None:
        self.transfers = transfers
        self.insecure = insecure
        self.watermark = watermark
        self.attachments = attachments

    def _caller(self, context: grpc.aio.ServicerContext[Any, Any], claimed: str) -> str:
        if self.insecure:
            return claimed
        names = list(context.auth_context().get("x509_common_name") or [])
        if len(names) != 1:
            raise Unauthenticated("no_client_certificate")
        caller = bytes(names[0]).decode()
        if claimed and claimed != caller:
            raise Forbidden("certificate_mismatch", caller=caller, claimed=claimed)
        return caller

    async def _run(self, context: grpc.aio.ServicerContext[Any, Any],
                   work: Callable[[], Awaitable[T]]) -> T:
        """Run one call; every refusal or failure ends it with its gRPC status here."""
        try:
            return await work()
        except _Abort as exc:  # an adapter's own refusal (a row of the table, no class)
            spec = ERRORS[exc.code]
            await context.abort(grpc.StatusCode[spec.grpc],
                                f"{exc.code}: {message(exc.code, {}, 'en')}",
                                ((CODE_KEY, exc.code),))
        except DomainError as exc:  # codec.CodecError is a ValidationError: INVALID_ARGUMENT
            # the stable code and its parameters travel in trailing metadata, so the sender
            # rebuilds the typed error and parks or retries by its type (federation/failures.py)
            status, details, metadata = to_status(exc)
            log.info("refused %s: %s", context.peer(), details)
            await context.abort(status, details, metadata)
        except grpc.aio.AbortError:
            raise  # the call was already ended with its status
        except Exception as exc:
            # a bug or a failing dependency (the database), never the caller's message: a
            # clean INTERNAL (which the sender retries) instead of a bare UNKNOWN, and the
            # traceback stays in this node's log
            log.exception("failed %s", context.peer())
            status, details, metadata = to_status(exc)
            await context.abort(status, details, metadata)
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    async def Escalate(self, request: codec.EscalateRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> codec.TransferAccepted:
        async def work() -> codec.TransferAccepted:
            caller = self._caller(context, request.origin_node)
            if caller not in self.transfers.children:
                raise Forbidden("caller_not_child", caller=caller)
            with self.transfers.probe.timed(Stage.SERVER_DECODE):
                transfer = codec.transfer_from_pb(request, kind=Action.ESCALATE)
            accepted = await asyncio.to_thread(self.transfers.accept_escalation, transfer,
                                               caller)
            log.info("escalation %s of %s from %s accepted (duplicate=%s)",
                     transfer.transfer_id, transfer.issue.id, caller, accepted.duplicate,
                     extra={"issue_id": transfer.issue.id, "peer": caller})
            with self.transfers.probe.timed(Stage.SERVER_ENCODE_REPLY):
                return codec.accepted_to_pb(accepted)

        return await self._run(context, work)

    async def Return(self, request: codec.ReturnRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> codec.TransferAccepted:
        async def work() -> codec.TransferAccepted:
            caller = self._caller(context, request.origin_node)
            if caller != self.transfers.parent:
                raise Forbidden("caller_not_parent", caller=caller)
            with self.transfers.probe.timed(Stage.SERVER_DECODE):
                transfer = codec.transfer_from_pb(request, kind=Action.RETURN)
            accepted = await asyncio.to_thread(self.transfers.accept_return, transfer, caller)
            log.info("return %s of %s from %s accepted (duplicate=%s)",
                     transfer.transfer_id, transfer.issue.id, caller, accepted.duplicate,
                     extra={"issue_id": transfer.issue.id, "peer": caller})
            with self.transfers.probe.timed(Stage.SERVER_ENCODE_REPLY):
                return codec.accepted_to_pb(accepted)

        return await self._run(context, work)

    async def TransferBatch(self, request: codec.TransferEnvelope,
                            context: grpc.aio.ServicerContext[Any, Any]
                            ) -> codec.TransferEnvelopeResult:
        """An envelope of transfers: the caller and the envelope are checked for the whole
        call; each item is decoded, checked and accepted or refused on its own, all in one
        transaction of the transfer use cases (TransferService.accept_batch)."""
        async def work() -> codec.TransferEnvelopeResult:
            caller = self._caller(context, request.origin_node)
            if caller not in self.transfers.children and caller != self.transfers.parent:
                raise Forbidden("caller_not_child", caller=caller)
            with self.transfers.probe.timed(Stage.SERVER_DECODE):
                envelope = codec.envelope_from_pb(request)
            transfers = [item for item in envelope.items if isinstance(item, Transfer)]
            answers = iter(await asyncio.to_thread(self.transfers.accept_batch, transfers,
                                                   caller) if transfers else ())
            outcomes = [(tid, next(answers) if isinstance(item, Transfer) else item)
                        for tid, item in zip(envelope.transfer_ids, envelope.items,
                                             strict=True)]
            refused = [(tid, a) for tid, a in outcomes if isinstance(a, DomainError)]
            log.info("batch %s from %s: %d transfer(s), %d refused", envelope.batch_id,
                     caller, len(outcomes), len(refused), extra={"peer": caller})
            for tid, exc in refused:
                log.info("batch %s from %s: transfer %s refused: %s", envelope.batch_id,
                         caller, tid, describe(exc), extra={"peer": caller})
            with self.transfers.probe.timed(Stage.SERVER_ENCODE_REPLY):
                return codec.envelope_result_to_pb(envelope.batch_id, outcomes)

        return await self._run(context, work)

    async def Fetch(self, request: codec.FetchRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> codec.FetchResponse:
        async def work() -> codec.FetchResponse:
            caller = self._caller(context, "")
            if self.insecure:
                raise Unauthenticated("fetch_needs_certificate")
            issue_id, after_version = codec.fetch_request_from_pb(request)
            issue, history = await asyncio.to_thread(self.transfers.fetch, issue_id, caller,
                                                     after_version)
            return codec.fetch_response_to_pb(issue, history)

        return await self._run(context, work)

    async def Watermark(self, request: codec.WatermarkRequest,
                        context: grpc.aio.ServicerContext[Any, Any]) -> codec.WatermarkResponse:
        async def work() -> codec.WatermarkResponse:
            caller = self._caller(context, "")
            if self.insecure or caller not in self.transfers.children:
                raise Forbidden("watermark_not_allowed")
            if self.watermark is None:
                raise _Abort("streams_not_running")
            through = await asyncio.to_thread(self.watermark, caller)
            return codec.watermark_to_pb(through)

        return await self._run(context, work)

    async def Direct(self, request: codec.DirectiveRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> codec.DirectiveReply:
        async def work() -> codec.DirectiveReply:
            caller = self._caller(context, request.origin_node)
            up = request.kind in UP_KINDS
            if (caller not in self.transfers.children) if up else (
                    caller != self.transfers.parent):
                raise Forbidden("directive_not_allowed", caller=caller, kind=request.kind[:20])
            directive = codec.directive_from_pb(request)
            accepted = await asyncio.to_thread(self.transfers.accept_directive, directive,
                                               caller)
            return codec.directive_accepted_to_pb(accepted)

        return await self._run(context, work)


    async def FetchAttachment(self, request: codec.AttachmentRequest,
                              context: grpc.aio.ServicerContext[Any, Any]
                              ) -> AsyncIterator[codec.AttachmentChunk]:
        """An attachment's bytes in chunks, for a peer that may hold the issue
        (node/app/attachments.py `servable`); a node without the bytes fetches them from
        the next node towards their origin first (relayed, verified, cached)."""
        attachments = self.attachments

        async def prepare() -> tuple[Any, int, str]:
            caller = self._caller(context, "")
            if self.insecure:
                raise Unauthenticated("fetch_needs_certificate")
            if attachments is None:
                raise _Abort("streams_not_running")
            sha256, issue_key, _ = codec.attachment_request_from_pb(request)
            meta = await asyncio.to_thread(attachments.servable, caller, sha256, issue_key)
            await attachments.ensure_local(meta)
            source = await asyncio.to_thread(attachments.open, meta)
            log.info("attachment %s of %s to %s", meta.id, meta.issue_id, caller,
                     extra={"issue_id": meta.issue_id, "peer": caller})
            return source, meta.size, meta.content_type

        source, size, content_type = await self._run(context, prepare)
        try:
            first = True
            while True:
                data = await asyncio.to_thread(source.read, codec.ATTACHMENT_CHUNK_BYTES)
                if not data and not first:
                    return
                yield codec.attachment_chunk_to_pb(
                    data, size=size if first else 0,
                    content_type=content_type if first else "")
                first = False
                if not data:
                    return
        finally:
            source.close()


class _Abort(Exception):
    """A refusal of this adapter's own, by its code in the error table."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def build_server(
    transfers: TransferService,
    *,
    address: str,
    credentials: grpc.ServerCredentials | None,
    watermark: Callable[[str], int] | None = None,
    attachments: AttachmentService | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server with the Federation, health and reflection services; returns the port."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_TRANSPORT_BYTES),
        ("grpc.max_send_message_length", MAX_TRANSPORT_BYTES),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ])
    codec.add_federation_servicer(  # type: ignore[no-untyped-call]
        FederationServicer(transfers, insecure=credentials is None, watermark=watermark,
                           attachments=attachments),
        server)
    health_servicer = health.aio.HealthServicer()
    codec.add_health_servicer(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if credentials is None:
        log.warning("gRPC on %s WITHOUT TLS (insecure development mode): callers are not "
                    "authenticated", address)
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    server._zhitong_health = health_servicer  # type: ignore[attr-defined]
    return server, port


async def mark_serving(server: grpc.aio.Server) -> None:
    health_servicer = server._zhitong_health  # type: ignore[attr-defined]
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, codec.HEALTH_SERVING)
