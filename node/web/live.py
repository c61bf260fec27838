"""Live updates over HTTP: server-sent events (text/event-stream) for the screens.

* `POST /live/ticket` (bearer token) — a single-use ticket, valid a few seconds, that opens
  one stream: EventSource cannot send an Authorization header and the screens keep their
  token in sessionStorage, so the ticket travels in the stream's URL instead of the token.
* `GET /live?ticket=…` — the caller's stream (node/app/live.py says what flows and why it
  is cheap). Resumes after the `Last-Event-ID` header or, for a screen that opens a new
  EventSource after a ticket expired, the `after` parameter (the last id it saw).

Frames: `id: <seq>` (issue events and `reload` only), `event: issue|inbox|reload|bye`,
`data: <one JSON line>`; heartbeats are SSE comments (`: hb`). The route is async: the
stream is a coroutine in the event loop, not a thread of the pool; the few blocking reads
(the ticket's account, the replay) run in threads.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from node.app.audit import bind_principal
from node.app.live import HEARTBEAT, Live, Message
from node.domain.errors import NotFound, Unauthenticated
from node.web.api import _ERRORS, API, SQL_INTEGER_MAX, Services, ServicesDep, _bearer

router = APIRouter(prefix=API, responses=_ERRORS, tags=["live"])


class TicketOut(BaseModel):
    ticket: str
    expires_in: int
    url: str  # where to open the stream (relative to the node)


def _live(services: Services) -> Live:
    if services.live is None:
        raise NotFound("not_found")
    return services.live


def encode(msg: Message) -> bytes:
    """One SSE frame; json.dumps writes no newline, so `data` is one line. A message goes
    to every stream that may see it: its frame is made once (kept on the message)."""
    if msg.kind == HEARTBEAT:
        return b": hb\n\n"
    frame = msg.derived.get("sse")
    if frame is None:
        frame = msg.derived["sse"] = _encode(msg)
    return frame


def _encode(msg: Message) -> bytes:
    head = f"id: {msg.seq}\n" if msg.seq is not None else ""
    data = json.dumps(msg.data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {msg.kind}\ndata: {data}\n\n".encode()


@router.post("/live/ticket", response_model=TicketOut)
def ticket(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TicketOut:
    """A single-use ticket for one stream (GET /live?ticket=…), valid a few seconds."""
    live = _live(services)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("login_required")
    username, generation = services.tokens.claims(credentials.credentials)
    principal = services.accounts.principal(username, generation)  # a live account
    bind_principal(principal)
    value = live.tickets.issue(username, generation, now=services.issues.clock.now())
    return TicketOut(ticket=value, expires_in=int(live.tickets.ttl.total_seconds()),
                     url=f"{API}/live?ticket={value}")


def _resume(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip().isdigit():
        return min(int(last_event_id.strip()), SQL_INTEGER_MAX)
    return after


@router.get("/live", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(
    services: ServicesDep,
    ticket: Annotated[str, Query(min_length=1, max_length=100)],
    after: Annotated[int | None, Query(ge=0, le=SQL_INTEGER_MAX,
                                       description="the last event id seen")] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    """The caller's server-sent events: issue changes it may see, its inbox count."""
    live = _live(services)
    username, generation = live.tickets.redeem(ticket, now=services.issues.clock.now())
    principal = await run_in_threadpool(services.accounts.principal, username, generation)
    hub = live.hub
    hub.admit(principal)
    resume = _resume(last_event_id, after)

    async def frames() -> AsyncIterator[bytes]:
        sub = await hub.subscribe(principal)
        try:
            yield b"retry: 5000\n\n"
            if resume is not None:
                for msg in await hub.replay(sub, resume):
                    yield encode(msg)
            while True:
                batch = await hub.next_batch(sub)
                yield b"".join(encode(msg) for msg in batch)
                if batch[-1].final:
                    return
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(frames(), media_type="text/event-stream", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
