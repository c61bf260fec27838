"""Calls to a peer's Federation service other than the outbox's: gap repair and watermark.

`PeerClient` gets its channels from the runtime (one per peer, with the peer's TLS name
and the transport limits) and speaks only app and domain types: requests and answers are
translated by federation/codec.py, which decodes a fetched history as strictly as any
message from another node. Errors are the calls' own `grpc.aio.AioRpcError`s.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from federation import codec
from node.domain.issue import Event, Issue


class PeerClient:
    def __init__(self, channel: Callable[[str], grpc.aio.Channel], *, timeout_s: float) -> None:
        """`channel(peer)`: the (cached) channel to that peer's gRPC server."""
        self._channel = channel
        self.timeout_s = timeout_s

    def _stub(self, peer: str) -> codec.FederationStub:
        return codec.FederationStub(self._channel(peer))  # type: ignore[no-untyped-call]

    async def fetch(self, peer: str, issue_id: str, after_version: int
                    ) -> tuple[Issue, list[tuple[Event, str]]]:
        """An issue's snapshot and its events after `after_version` (gap repair)."""
        reply = await self._stub(peer).Fetch(codec.fetch_request_to_pb(issue_id, after_version),
                                             timeout=self.timeout_s)
        return codec.fetch_response_from_pb(reply)

    async def watermark(self, peer: str) -> int:
        """How far the peer (this node's parent) has applied this node's own events."""
        reply = await self._stub(peer).Watermark(codec.watermark_request_to_pb(),
                                                 timeout=self.timeout_s)
        return codec.watermark_from_pb(reply)
