"""Calls to a peer's Federation service other than the outbox's: gap repair, watermark,
and an attachment's bytes (FetchAttachment, a server stream).

`PeerClient` gets its channels from the runtime (one per peer, with the peer's TLS name
and the transport limits) and speaks only app and domain types: requests and answers are
translated by federation/codec.py, which decodes a fetched history as strictly as any
message from another node. Errors are the calls' own `grpc.aio.AioRpcError`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from federation import codec
from node.domain.issue import Event, Issue


class PeerClient:
    def __init__(self, channel: Callable[[str], grpc.aio.Channel], *, timeout_s: float,
                 node: str = "", stream_timeout_s: float = 300.0) -> None:
        """`channel(peer)`: the (cached) channel to that peer's gRPC server; `node`: this
        node's code (named in requests that carry it)."""
        self._channel = channel
        self.timeout_s = timeout_s
        self.node = node
        self.stream_timeout_s = stream_timeout_s

    def _stub(self, peer: str) -> codec.FederationStub:
        return codec.FederationStub(self._channel(peer))  # type: ignore[no-untyped-call]

    async def fetch(self, peer: str, issue_id: str, after_version: int
                    ) -> tuple[Issue, list[tuple[Event, str]]]:
        """An issue's snapshot and its events after `after_version` (gap repair)."""
        reply = await self._stub(peer).Fetch(codec.fetch_request_to_pb(issue_id, after_version),
                                             timeout=self.timeout_s)
        return codec.fetch_response_from_pb(reply)

    async def fetch_attachment(self, peer: str, sha256: str, issue_id: str
                               ) -> AsyncIterator[bytes]:
        """An attachment's bytes from `peer`, chunk by chunk as they arrive (the caller
        verifies the hash and keeps nothing of a cut stream); the whole call has
        `stream_timeout_s`."""
        call = self._stub(peer).FetchAttachment(
            codec.attachment_request_to_pb(sha256, issue_id, self.node),
            timeout=self.stream_timeout_s)
        try:
            async for chunk in call:
                yield codec.attachment_chunk_from_pb(chunk)
        finally:
            call.cancel()

    async def watermark(self, peer: str) -> int:
        """How far the peer (this node's parent) has applied this node's own events."""
        reply = await self._stub(peer).Watermark(codec.watermark_request_to_pb(),
                                                 timeout=self.timeout_s)
        return codec.watermark_from_pb(reply)
