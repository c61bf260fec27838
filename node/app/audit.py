"""The audit trail: recording who did what, and reading it back (supervisors and admins).

How it is written. Every record goes to the node's append-only audit log
(node.app.ports.AuditLog; node/store/audit.py), which gives it the next `seq` of this node
and its link in the node's audit hash chain (node/domain/chain.py `audit_link`) in the
writing transaction — so `zhitong audit verify` finds any row edited or deleted later.
Three ways in, from the cheapest to keep complete:

* staff changes of issues are recorded by the store itself, as a projection of the event
  log: every event a staff member causes here gets its audit row in the event's own
  transaction, whichever use case wrote it (issues, transfers, intake, imports, meetings,
  revisits) — nothing to remember at each call site, and nothing recorded for a change
  that rolled back;
* a store transaction that changes something else (accounts, units, tags, rules) calls
  `node.store.audit.record_in(conn, AuditRecord(...))`, committed with the change;
* a use case without a write of its own (a login, reading an issue's contact details)
  calls `AuditService.record(...)`: its own transaction. (An export with personal data is
  recorded with its `export_log` row: node/store/imports.py.)

Who and from where. The HTTP adapter binds each request's `Caller` (address, then the
principal once authenticated) in a context variable (`CALLER`); whatever records during
the request takes the role and the address from it when not given. A request refused with
403 to a staff member is recorded by the adapter too (node/web/audit_api.py).

Personal data. Staff answers show an issue's contact phone masked (node/domain/audit.py
`mask_phone`); `ContactReads.read` is the explicit, recorded act of opening it.

Reading. `search` filters by time range, actor, action (exact, or a prefix ending in "."),
target and outcome, newest first, paged by `seq` (keyset); `export` writes the same filter,
every row, as .xlsx (openpyxl write-only) or .csv, like node/app/exports.py. Both need the
`view_audit` permission (supervisors, admins).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from node.app.exports import CSV, XLSX, Export, ExportColumn, Sheet, csv_chunks, xlsx_chunks
from node.app.policy import VIEW_AUDIT, Principal, Role, require
from node.app.ports import AuditLog, AuditQuery, Clock, StoredAudit
from node.app.service import IssueService
from node.domain.audit import (
    CONTACT_READ,
    ENTERPRISE_LOOKUP,
    LOGIN,
    AuditRecord,
    Outcome,
    check_record,
)
from node.domain.calendar import CST
from node.domain.errors import ValidationError
from node.domain.issue import Enterprise

MAX_PAGE = 500
EXPORT_PAGE = 1000
MAX_EXPORT_ROWS = 1_000_000


@dataclass(kw_only=True, slots=True)
class Caller:
    """Who is calling in the current request: the adapter fills it as it learns it (one
    object per request, shared by every context copied from the request's)."""

    address: str | None = None
    username: str | None = None
    role: str | None = None


CALLER: ContextVar[Caller | None] = ContextVar("zhitong_caller", default=None)


def current_caller() -> Caller | None:
    return CALLER.get()


def bind_principal(principal: Principal) -> None:
    """The current request's caller is `principal` (no-op outside a request)."""
    caller = CALLER.get()
    if caller is not None:
        caller.username = principal.username
        caller.role = principal.role.value


def caller_record(record: AuditRecord) -> AuditRecord:
    """`record` with the current caller's role and address where it names none."""
    caller = CALLER.get()
    if caller is None:
        return record
    return replace(record,
                   actor_role=record.actor_role if record.actor_role is not None
                   else caller.role,
                   address=record.address if record.address is not None else caller.address)


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditPage:
    items: list[StoredAudit]
    next_cursor: str | None


AUDIT_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn(key="seq", zh="序号", en="Seq", kind="int"),
    ExportColumn(key="at", zh="时间", en="Time", kind="time"),
    ExportColumn(key="actor", zh="操作人", en="Actor"),
    ExportColumn(key="actor_role", zh="角色", en="Role"),
    ExportColumn(key="address", zh="来源地址", en="Source address"),
    ExportColumn(key="action", zh="操作", en="Action"),
    ExportColumn(key="target_kind", zh="对象类型", en="Target kind"),
    ExportColumn(key="target_id", zh="对象", en="Target"),
    ExportColumn(key="outcome", zh="结果", en="Outcome"),
    ExportColumn(key="detail", zh="详情", en="Detail"),
    ExportColumn(key="chain", zh="链值", en="Chain link"),
)


class AuditService:
    def __init__(self, *, log: AuditLog, clock: Clock, node: str) -> None:
        self.log = log
        self.clock = clock
        self.node = node

    # ----------------------------------------------------------------- recording

    def record(self, action: str, *, actor: Principal | str | None = None,
               target_kind: str | None = None, target_id: str | None = None,
               outcome: Outcome = Outcome.SUCCESS, detail: Mapping[str, Any] | None = None,
               role: str | None = None, address: str | None = None) -> StoredAudit:
        """Keep one record now, in its own transaction. `actor`: a principal, an actor
        label, or (None) the current request's caller."""
        if isinstance(actor, Principal):
            label, role = actor.actor.label(), role or actor.role.value
        elif actor is None:
            caller = CALLER.get()
            label = f"staff:{caller.username}" if caller and caller.username else "system"
        else:
            label = actor
        record = check_record(caller_record(AuditRecord(
            at=self.clock.now(), actor=label, actor_role=role, address=address,
            action=action, target_kind=target_kind, target_id=target_id, outcome=outcome,
            detail=dict(detail or {}))))
        return self.log.append(record)

    def login(self, username: str, *, address: str | None, principal: Principal | None,
              refused: str | None = None) -> None:
        """A sign-in: `principal` when it succeeded, else the code it was refused with."""
        self.record(LOGIN, actor=f"account:{username}",
                    role=principal.role.value if principal is not None else None,
                    address=address, target_kind="account", target_id=username,
                    outcome=Outcome.SUCCESS if refused is None else Outcome.REFUSED,
                    detail={} if refused is None else {"reason": refused})

    def enterprise_lookup(self, principal: Principal, credit_code: str) -> None:
        """Intake's look-up of an enterprise's name and phone under its credit code."""
        self.record(ENTERPRISE_LOOKUP, actor=principal, target_kind="enterprise",
                    target_id=credit_code)

    # ----------------------------------------------------------------- reading

    def search(self, principal: Principal, query: AuditQuery, *,
               cursor: str | None = None) -> AuditPage:
        require(principal, VIEW_AUDIT)
        query = _checked(query, cursor)
        found = self.log.search(replace(query, limit=query.limit + 1))
        more = len(found) > query.limit
        items = found[:query.limit]
        return AuditPage(items=items,
                         next_cursor=str(items[-1].seq) if more and items else None)

    def export(self, principal: Principal, query: AuditQuery, *, format: str,
               lang: str = "zh-CN") -> Export:
        require(principal, VIEW_AUDIT)
        query = _checked(query, None)
        now = self.clock.now()
        en = lang == "en"
        header = [
            f"{self.node} " + ("audit trail" if en else "审计日志"),
            ("Filter: " if en else "筛选条件：") + _describe(query),
            ("Exported at: " if en else "导出时间：")
            + now.astimezone(CST).strftime("%Y-%m-%d %H:%M")
            + (" (China time)" if en else "（北京时间）"),
            ("Exported by: " if en else "导出人：") + principal.username,
        ]
        sheet = Sheet(title="Audit" if en else "审计日志", columns=AUDIT_COLUMNS,
                      rows=self._rows(query), header=header)
        stamp = now.astimezone(CST).strftime("%Y%m%d-%H%M")
        name = f"zhitong-audit-{self.node}-{stamp}.{format}"
        if format == "csv":
            return Export(filename=name, media_type=CSV, chunks=csv_chunks(sheet, en=en))
        return Export(filename=name, media_type=XLSX, chunks=xlsx_chunks([sheet], en=en))

    def _rows(self, query: AuditQuery) -> Iterator[list[Any]]:
        before, sent = query.before_seq, 0
        while sent < MAX_EXPORT_ROWS:
            page = self.log.search(replace(query, before_seq=before, limit=EXPORT_PAGE))
            for s in page:
                r = s.record
                yield [s.seq, r.at, r.actor, r.actor_role, r.address, r.action,
                       r.target_kind, r.target_id, r.outcome.value,
                       _detail_text(r.detail), s.chain]
            sent += len(page)
            if len(page) < EXPORT_PAGE:
                return
            before = page[-1].seq


class ContactReads:
    """Opening an issue's contact details: the explicit act that staff answers, which show
    the phone masked, leave to the reader — recorded for staff."""

    def __init__(self, *, issues: IssueService, audit: AuditService | None) -> None:
        self.issues = issues
        self.audit = audit

    def read(self, principal: Principal, key: str) -> tuple[str, Enterprise]:
        """An issue's id and enterprise (name, credit code, phone), for whoever may view the
        issue; a staff member's read is recorded (an enterprise reads its own freely)."""
        issue = self.issues.get(principal, key).issue
        if principal.role is not Role.ENTERPRISE and self.audit is not None:
            self.audit.record(CONTACT_READ, actor=principal, target_kind="issue",
                              target_id=issue.id, detail={"number": issue.number})
        return issue.id, issue.enterprise


def _checked(query: AuditQuery, cursor: str | None) -> AuditQuery:
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError("invalid_input", field="limit")
    if query.since is not None and query.since.tzinfo is None:  # a form's time: China time
        query = replace(query, since=query.since.replace(tzinfo=CST))
    if query.until is not None and query.until.tzinfo is None:
        query = replace(query, until=query.until.replace(tzinfo=CST))
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 19:
            raise ValidationError("cursor_invalid", field="cursor")
        query = replace(query, before_seq=int(cursor))
    return query


def _detail_text(detail: Mapping[str, Any]) -> str:
    return json.dumps(dict(detail), ensure_ascii=False, sort_keys=True) if detail else ""


def _describe(query: AuditQuery) -> str:
    parts = [f"{k}={v.isoformat() if isinstance(v, datetime) else v}"
             for k, v in (("since", query.since), ("until", query.until),
                          ("actor", query.actor), ("action", query.action),
                          ("target_kind", query.target_kind), ("target_id", query.target_id),
                          ("outcome", query.outcome)) if v is not None]
    return ", ".join(parts) or "—"
