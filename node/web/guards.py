"""Pure ASGI guards in front of the JSON API: request body size, and control characters.

* `BodyLimit` refuses a request whose body is larger than the node's limit with 413 and
  the JSON error body, before the body is read into memory: a declared Content-Length
  over the limit is refused without reading anything, and the bytes actually received
  are counted (a chunked body, or one longer than its Content-Length claims) and the
  request is refused as soon as the count crosses the limit. Nothing reaches a route
  before its body is complete (FastAPI reads the body before it resolves dependencies),
  so a refused request never writes anything.
* `CleanParams` refuses control characters (NUL above all: PostgreSQL cannot store it in
  text and psycopg raises) in the URL of an API request before any route sees it: in a
  query parameter with 422 naming the parameter (the rule of
  node/domain/validation.check_text, as for free text in a body), in the path with 404 —
  no issue key, sample id or route contains one, exactly like any other malformed key.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.domain.errors import NotFound, ValidationError
from node.domain.validation import check_text
from node.web.problems import BodyTooLarge, domain_response, too_large_response

#: the default limit on a request body; the largest valid request is well under 200 KB
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def declared_length(scope: Scope) -> int | None:
    """The largest Content-Length the request declares; None if none is a number."""
    values = [int(v) for k, v in scope.get("headers", ())
              if k.lower() == b"content-length" and v.strip().isdigit()]
    return max(values) if values else None


class BodyLimit:
    """Refuse request bodies over `max_bytes` (413), counting what is actually received."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 larger: Mapping[str, int] | None = None,
                 limit_of: Callable[[str], int | None] | None = None) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes
        #: exact paths that take larger bodies (file uploads) → their limit
        self.larger = dict(larger or {})
        #: a path's own limit by pattern (an attachment upload: /issues/{key}/attachments)
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        if self.limit_of is not None:
            limit = self.limit_of(scope["path"]) or limit
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await too_large_response(limit)(scope, receive, send)  # nothing read
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # a route reading its body renders this (node/web/problems.py); anything
                    # else lets it escape to the handler below
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large_response(limit)(scope, receive, send)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


class CleanParams:
    """Refuse control characters in the path (404) and query parameters (422) under
    `prefix`, before routing, authentication or the store see them."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            try:
                check_url(scope)
            except (NotFound, ValidationError) as exc:
                await domain_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def check_url(scope: Scope) -> None:
    """Raise NotFound for a control character in the (decoded) path, ValidationError for
    one in a query parameter's value."""
    if _has_control(scope["path"]):
        # the body of any unknown path: a key with a control character cannot exist, and
        # echoing it back would only carry it further
        raise NotFound("not_found")
    for name, value in QueryParams(scope.get("query_string", b"")).multi_items():
        check_param(name, value)


def check_param(field: str, value: str) -> None:
    """ValidationError (422) if `value` holds a character that free text may not hold."""
    check_text(field, value, max_len=max(1, len(value)), required=False)
