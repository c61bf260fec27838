"""The node's gRPC server: Federation (Escalate, Return, Fetch), health, reflection.

Every call first establishes who is calling: with mutual TLS the caller is the node code in
its certificate's common name, and it must equal the origin the message claims
(PERMISSION_DENIED otherwise). Only then is the message decoded (INVALID_ARGUMENT for
anything malformed or oversized) and handed to the synchronous transfer use cases in a
worker thread. In insecure development mode the claimed origin is trusted, loudly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from federation import codec
from federation.errors import describe, status_of
from federation.transfers import TransferService
from federation.wire.v1 import federation_pb2 as pb
from federation.wire.v1 import federation_pb2_grpc as pb_grpc
from node.domain.errors import DomainError
from node.domain.issue import Action

log = logging.getLogger("zhitong.federation.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Federation"].full_name
#: The transport accepts more than the contract allows, so an oversized request reaches the
#: handler and is refused with INVALID_ARGUMENT and a message, not a bare transport error.
MAX_TRANSPORT_BYTES = 4 * codec.MAX_REQUEST_BYTES

T = TypeVar("T")


class FederationServicer(pb_grpc.FederationServicer):
    def __init__(self, transfers: TransferService, *, insecure: bool,
                 watermark: Callable[[str], int] | None = None) -> None:
        self.transfers = transfers
        self.insecure = insecure
        self.watermark = watermark

    def _caller(self, context: grpc.aio.ServicerContext[Any, Any], claimed: str) -> str:
        if self.insecure:
            return claimed
        names = list(context.auth_context().get("x509_common_name") or [])
        if len(names) != 1:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
        caller = bytes(names[0]).decode()
        if claimed and claimed != caller:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"certificate names {caller}, the message claims {claimed}")
        return caller

    async def _run(self, context: grpc.aio.ServicerContext[Any, Any],
                   work: Callable[[], Awaitable[T]]) -> T:
        try:
            return await work()
        except _Abort as exc:
            await _abort(context, exc.code, exc.detail)
        except DomainError as exc:  # codec.CodecError is a ValidationError: INVALID_ARGUMENT
            log.info("refused %s: %s", context.peer(), describe(exc))
            await _abort(context, status_of(exc), describe(exc))
        except grpc.aio.AbortError:
            raise  # the call was already ended with its status
        except Exception:
            # a bug or a failing dependency (the database), never the caller's message: a
            # clean INTERNAL (which the sender retries) instead of a bare UNKNOWN, and the
            # traceback stays in this node's log
            log.exception("failed %s", context.peer())
            await _abort(context, grpc.StatusCode.INTERNAL, "internal error (logged)")

    async def Escalate(self, request: pb.EscalateRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> pb.TransferAccepted:
        async def work() -> pb.TransferAccepted:
            caller = self._caller(context, request.origin_node)
            if caller not in self.transfers.children:
                raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                             f"{caller} is not a configured child of this node")
            transfer = codec.transfer_from_pb(request, kind=Action.ESCALATE)
            response = await asyncio.to_thread(self.transfers.accept_escalation, transfer,
                                               caller)
            log.info("escalation %s of %s from %s accepted (duplicate=%s)",
                     transfer.transfer_id, transfer.issue.id, caller, response["duplicate"],
                     extra={"issue_id": transfer.issue.id, "peer": caller})
            return codec.accepted_to_pb(response)

        return await self._run(context, work)

    async def Return(self, request: pb.ReturnRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> pb.TransferAccepted:
        async def work() -> pb.TransferAccepted:
            caller = self._caller(context, request.origin_node)
            if caller != self.transfers.parent:
                raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                             f"{caller} is not this node's parent")
            transfer = codec.transfer_from_pb(request, kind=Action.RETURN)
            response = await asyncio.to_thread(self.transfers.accept_return, transfer, caller)
            log.info("return %s of %s from %s accepted (duplicate=%s)",
                     transfer.transfer_id, transfer.issue.id, caller, response["duplicate"],
                     extra={"issue_id": transfer.issue.id, "peer": caller})
            return codec.accepted_to_pb(response)

        return await self._run(context, work)

    async def Fetch(self, request: pb.FetchRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> pb.FetchResponse:
        async def work() -> pb.FetchResponse:
            caller = self._caller(context, "")
            if self.insecure:
                raise _Abort(grpc.StatusCode.UNAUTHENTICATED,
                             "Fetch needs a client certificate (insecure mode)")
            issue_id = codec.check_identifier(request.issue_id, "issue_id")
            issue, history = await asyncio.to_thread(self.transfers.fetch, issue_id, caller,
                                                     request.after_version)
            return codec.fetch_response_to_pb(issue, history)

        return await self._run(context, work)


    async def Watermark(self, request: pb.WatermarkRequest,
                        context: grpc.aio.ServicerContext[Any, Any]) -> pb.WatermarkResponse:
        async def work() -> pb.WatermarkResponse:
            caller = self._caller(context, "")
            if self.insecure or caller not in self.transfers.children:
                raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                             "only a configured child, with its certificate, may ask")
            if self.watermark is None:
                raise _Abort(grpc.StatusCode.UNIMPLEMENTED, "this node runs no event streams")
            through = await asyncio.to_thread(self.watermark, caller)
            return pb.WatermarkResponse(through=through)

        return await self._run(context, work)


    async def Direct(self, request: pb.DirectiveRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> pb.DirectiveAccepted:
        async def work() -> pb.DirectiveAccepted:
            caller = self._caller(context, request.origin_node)
            up = request.kind in codec.UP_KINDS
            if (caller not in self.transfers.children) if up else (
                    caller != self.transfers.parent):
                raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                             f"{caller} may not send {request.kind[:20]!r} here")
            directive = codec.directive_from_pb(request)
            r = await asyncio.to_thread(self.transfers.accept_directive, directive, caller)
            return pb.DirectiveAccepted(transfer_id=r["transfer_id"], handled_by=r["handled_by"],
                                        forwarded=r["forwarded"], duplicate=r["duplicate"])

        return await self._run(context, work)


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode,
                 detail: str) -> NoReturn:
    await context.abort(code, detail)
    raise AssertionError("unreachable")  # pragma: no cover - abort raises


def build_server(
    transfers: TransferService,
    *,
    address: str,
    credentials: grpc.ServerCredentials | None,
    watermark: Callable[[str], int] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server with the Federation, health and reflection services; returns the port."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_TRANSPORT_BYTES),
        ("grpc.max_send_message_length", MAX_TRANSPORT_BYTES),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ])
    pb_grpc.add_FederationServicer_to_server(  # type: ignore[no-untyped-call]
        FederationServicer(transfers, insecure=credentials is None, watermark=watermark),
        server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
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
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
