"""`X-Content-Type-Options: nosniff` on every response of the node (API, screens, static
files, errors): a browser then never guesses a type other than the one declared, so a JSON
body or an uploaded name can never be run as a script or a style sheet.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware): it only adds a header to
the response start message, and leaves streaming bodies (exports) streaming.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NOSNIFF = (b"x-content-type-options", b"nosniff")


class NoSniff:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == _NOSNIFF[0] for k, _ in headers):
                    headers.append(_NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
