"""The audit trail over HTTP: who is calling, contact details on request, and the log.

* `CallerContext` (pure ASGI middleware) binds each request's `Caller` (node/app/audit.py:
  its address now, its principal once the bearer token is resolved, in node/web/api.py) so
  whatever is recorded during the request carries the role and the source address; and it
  records every API request refused with 403 to a staff member (`outcome` refused, the
  route as the action, the error code in the detail) after the answer has been sent.
* `GET /api/v1/issues/{key}/contact` — the issue's contact details (name, credit code,
  phone) unmasked: staff answers elsewhere show the phone masked (138****1234), and this
  read is recorded (`contact.read`).
* `GET /api/v1/audit` — the log, newest first, filtered by time range (`since`, `until`),
  `actor`, `action` (exact, or a prefix ending in "."), `target_kind`/`target_id`,
  `outcome`; keyset pages through `cursor` (a page's `next_cursor`). Supervisors, admins.
* `GET /api/v1/audit/export?format=xlsx|csv&lang=` — the same filter, every row, streamed.

Thin: parse, call one use case, shape the answer.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.app.audit import CALLER, AuditService, Caller
from node.app.ports import AuditQuery, StoredAudit
from node.domain.audit import Outcome
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS)

_STAFF_ROLES_EXCLUDED = frozenset({"enterprise"})
_MAX_ERROR_BODY = 16 * 1024


class CallerContext:
    """Bind the request's caller for the audit trail; record 403s refused to staff."""

    def __init__(self, app: ASGIApp, *, audit: AuditService | None) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        caller = Caller(address=client[0] if client else None)
        token = CALLER.set(caller)
        status = [0]
        body = bytearray()

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif (message["type"] == "http.response.body" and status[0] == 403
                  and len(body) < _MAX_ERROR_BODY):
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watched)
            if (status[0] == 403 and self.audit is not None and caller.username
                    and caller.role not in _STAFF_ROLES_EXCLUDED
                    and scope["path"].startswith(API)):
                await run_in_threadpool(self._refused, scope, caller, bytes(body))
        finally:
            CALLER.reset(token)

    def _refused(self, scope: Scope, caller: Caller, body: bytes) -> None:
        assert self.audit is not None
        route = getattr(scope.get("route"), "path", None) or "?"
        params = scope.get("path_params") or {}
        key = params.get("key")
        try:
            error = json.loads(body)["error"]
            detail: dict[str, Any] = {"code": str(error["code"])}
            if isinstance(error.get("details"), dict):
                detail["details"] = json.loads(json.dumps(error["details"], default=str))
        except (ValueError, KeyError, TypeError):
            detail = {}
        self.audit.record(f"{scope['method']} {route}", actor=f"staff:{caller.username}",
                          target_kind="issue" if key else None,
                          target_id=str(key)[:120] if key else None,
                          outcome=Outcome.REFUSED, detail=detail)


class ContactOut(BaseModel):
    issue_id: str
    name: str
    credit_code: str
    contact_phone: str


@router.get("/issues/{key}/contact", response_model=ContactOut, tags=["issues"])
def contact(key: str, principal: PrincipalDep, services: ServicesDep) -> ContactOut:
    """显示联系方式: an issue's contact details, unmasked. Recorded in the audit trail."""
    issue_id, enterprise = services.contacts.read(principal, key)
    return ContactOut(issue_id=issue_id, name=enterprise.name,
                      credit_code=enterprise.credit_code,
                      contact_phone=enterprise.contact_phone)


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    actor_role: str | None
    address: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    outcome: str
    detail: dict[str, Any]
    chain: str

    @staticmethod
    def of(s: StoredAudit) -> AuditOut:
        r = s.record
        return AuditOut(seq=s.seq, at=r.at, actor=r.actor, actor_role=r.actor_role,
                        address=r.address, action=r.action, target_kind=r.target_kind,
                        target_id=r.target_id, outcome=r.outcome.value,
                        detail=dict(r.detail), chain=s.chain)


class AuditPageOut(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = None


def _service(services: Any) -> AuditService:
    if services.audit is None:
        raise NotFound("not_found")
    audit: AuditService = services.audit
    return audit


Text = Annotated[str | None, Query(max_length=120)]


def _query(since: datetime | None, until: datetime | None, actor: str | None,
           action: str | None, target_kind: str | None, target_id: str | None,
           outcome: Outcome | None, limit: int = 100) -> AuditQuery:
    # an empty form field filters nothing
    return AuditQuery(since=since, until=until, actor=actor or None, action=action or None,
                      target_kind=target_kind or None, target_id=target_id or None,
                      outcome=outcome.value if outcome else None, limit=limit)


@router.get("/audit", response_model=AuditPageOut, tags=["audit"])
def audit_log(
    principal: PrincipalDep,
    services: ServicesDep,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: Text = None,
    action: Text = None,
    target_kind: Annotated[str | None, Query(max_length=20)] = None,
    target_id: Text = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditPageOut:
    """审计日志: newest first; times without a zone are China time. Supervisors, admins."""
    page = _service(services).search(
        principal, _query(since, until, actor, action, target_kind, target_id, outcome, limit),
        cursor=cursor)
    return AuditPageOut(items=[AuditOut.of(s) for s in page.items],
                        next_cursor=page.next_cursor)


@router.get("/audit/export", tags=["audit", "files"], response_class=StreamingResponse)
def audit_export(
    principal: PrincipalDep,
    services: ServicesDep,
    format: Literal["xlsx", "csv"] = "xlsx",
    lang: Literal["zh-CN", "en"] = "zh-CN",
    since: datetime | None = None,
    until: datetime | None = None,
    actor: Text = None,
    action: Text = None,
    target_kind: Annotated[str | None, Query(max_length=20)] = None,
    target_id: Text = None,
    outcome: Outcome | None = None,
) -> StreamingResponse:
    """The audit log of the same filters as `GET /audit`, every row, as .xlsx or .csv."""
    made = _service(services).export(
        principal, _query(since, until, actor, action, target_kind, target_id, outcome),
        format=format, lang=lang)
    return StreamingResponse(made.chunks, media_type=made.media_type, headers={
        "Content-Disposition": f'attachment; filename="{made.filename}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
