"""The one mapping from domain errors to HTTP status codes and the JSON error body.

Body: {"error": {"code": stable machine code, "message": Chinese, "message_en": English,
"details": {...}}}. Request-shape problems found by FastAPI/pydantic get the same body
with code "invalid_input" and 422.
"""

from __future__ import annotations

import math
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


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
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
