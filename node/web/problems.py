"""Domain errors as HTTP answers: the status from the one error table, the JSON error body
with the texts from the message catalogue.

Body: {"error": {"code": the error's public code, "message": Chinese, "message_en": English,
"details": {...}}} — `code` is what the API always answered (`invalid_input`, `not_found`,
`urge_too_soon`, ...; see node/domain/errors.py for public versus stable codes), the texts
come from node/i18n keyed by the stable code. Request-shape problems found by
FastAPI/pydantic get the same body with code "invalid_input" and 422; a body over the
node's size limit "body_too_large" and 413 (node/web/guards.py); anything unexpected
"internal" and 500, with a request id in the details and the log, and nothing of the
exception itself.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.domain.errors import ERRORS, DomainError, spec_of
from node.i18n import error_texts, message

log = logging.getLogger(__name__)


def status_of(exc: DomainError) -> int:
    return spec_of(exc).http


def error_body(
    code: str, zh: str, en: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": zh, "message_en": en, "details": details or {}}}


def coded_body(code: str, params: dict[str, Any] | None = None,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of an error the adapter raises itself: `code`'s public code and texts."""
    zh, en = message(code, params, "zh-CN"), message(code, params, "en")
    return error_body(ERRORS[code].public_code, zh, en, details)


def domain_response(exc: DomainError) -> JSONResponse:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429 and isinstance(exc.details.get("retry_after"), int):
        headers["Retry-After"] = str(exc.details["retry_after"])
    elif status == 429 and "next_allowed_at" in exc.details:
        wait = datetime.fromisoformat(exc.details["next_allowed_at"]) - datetime.now(UTC)
        headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
    zh, en = error_texts(exc)
    return JSONResponse(
        error_body(exc.public_code, zh, en, exc.details),
        status_code=status,
        headers=headers or None,
    )


class BodyTooLarge(StarletteHTTPException):
    """Raised while a request body is received, once it has crossed the limit. An HTTP
    exception so that FastAPI lets it through its body parsing unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail="request body too large")
        self.limit = limit


def too_large_response(limit: int) -> JSONResponse:
    # the rest of the body is not read: the connection cannot carry another request
    return JSONResponse(
        coded_body("body_too_large", {"max_bytes": limit}, {"max_bytes": limit}),
        status_code=ERRORS["body_too_large"].http,
        headers={"Connection": "close"},
    )


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(request: Request) -> str:
    """The reverse proxy's X-Request-ID when it sent a sane one, else a fresh id."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large_response(exc.limit)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        """The last resort for a bug: logged in full, answered with nothing of it. (Starlette
        still re-raises the exception after the answer is sent, for the server's log.)"""
        rid = request_id(request)
        # the route's template; an unmatched path quoted (it may hold line breaks)
        route = getattr(request.scope.get("route"), "path", None) or repr(request.url.path)
        log.error("unhandled %s in %s %s (request %s)", type(exc).__name__, request.method,
                  route, rid, exc_info=exc, extra={"request_id": rid})
        return JSONResponse(
            coded_body("internal", {"request_id": rid}, {"request_id": rid}),
            status_code=ERRORS["internal"].http,
            headers={"X-Request-ID": rid},
        )

    @app.exception_handler(RequestValidationError)
    async def _shape(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                # A body that is not JSON at all is located at a character offset: name it
                # "body" rather than a number.
                "field": "body"
                if err.get("type") == "json_invalid"
                else ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
                "problem": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        first = problems[0]["field"] if problems else ""
        return JSONResponse(
            coded_body("request_invalid", {"field": first}, {"problems": problems}),
            status_code=ERRORS["request_invalid"].http,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(coded_body(code, {"detail": str(exc.detail)}),
                            status_code=exc.status_code)
