"""Unit names next to unit ids in the API's answers, in the request's language.

Issues hold unit ids (node/domain/units.py); people read names. `RequestLanguage` (an ASGI
middleware) keeps the request's language — "en" when `Accept-Language` starts with it,
else "zh" — in a context variable, which the thread running a handler inherits, so that
`named` can fill an answer's `*_name` fields without every route passing the request on.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from node.app.units import UnitService
from node.domain.issue import Issue
from node.domain.units import queue_of
from node.web.schemas import IssueOut

LANG: ContextVar[str] = ContextVar("zhitong_request_lang", default="zh")


def lang_of(accept_language: str) -> str:
    first = accept_language.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


class RequestLanguage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or ()).get(b"accept-language", b"")
            LANG.set(lang_of(raw.decode("latin-1")))
        await self.app(scope, receive, send)


def named(out: IssueOut, issue: Issue, units: UnitService | None) -> IssueOut:
    """`out` with the queue's unit id and the names of its units (unknown ids: no name)."""
    out.queue_unit = queue_of(issue)
    if units is None:
        return out
    lang = LANG.get()
    out.board_name = units.name_of(issue.board, lang)
    out.department_name = units.name_of(issue.department, lang)
    out.queue_name = units.name_of(out.queue_unit, lang)
    return out
