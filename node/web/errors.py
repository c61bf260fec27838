"""The one mapping from domain errors to HTTP status codes and the JSON error body.

Body: {"error": {"code": stable machine code, "message": Chinese, "message_en": English,
"details": {...}}}. Request-shape problems found by FastAPI/pydantic get the same body
with code "invalid_input" and 422; a body over the node's size limit "body_too_large" and
413 (node/web/guards.py); anything unexpected "internal" and 500, with a request id in
the details and the log, and nothing of the exception itself.
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

from node.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
)

log = logging.getLogger(__name__)

STATUS: list[tuple[type[DomainError], int]] = [
    (ValidationError, 422),
    (IllegalTransition, 409),
    (Conflict, 409),
    (RuleViolation, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (Unauthenticated, 401),
]


def status_of(exc: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            if isinstance(exc, RuleViolation) and exc.code == "urge_too_soon":
                return 429
            return status
    return 400


def error_body(
    code: str, zh: str, en: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": zh, "message_en": en, "details": details or {}}}


def domain_response(exc: DomainError) -> JSONResponse:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429 and "next_allowed_at" in exc.details:
        wait = datetime.fromisoformat(exc.details["next_allowed_at"]) - datetime.now(UTC)
        headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
    return JSONResponse(
        error_body(exc.code, exc.message_zh, exc.message_en, exc.details),
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
        error_body(
            "body_too_large",
            f"请求内容过大：最多 {limit} 字节",
            f"request body too large: at most {limit} bytes",
            {"max_bytes": limit},
        ),
        status_code=413,
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
            error_body(
                "internal",
                "服务器内部错误，请稍后重试；如一再出现，请把请求编号告知管理员",
                "internal server error; please try again later, and give the request id "
                "to the administrator if it keeps happening",
                {"request_id": rid},
            ),
            status_code=500,
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
            error_body(
                "invalid_input",
                f"请求内容不合法：{first}",
                f"invalid request: {first}",
                {"problems": problems},
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("not_found", "未找到", "not found"),
                 405: ("method_not_allowed", "不支持该请求方法", "method not allowed")}
        code, zh, en = codes.get(exc.status_code, ("http_error", "请求错误", str(exc.detail)))
        return JSONResponse(error_body(code, zh, en), status_code=exc.status_code)
