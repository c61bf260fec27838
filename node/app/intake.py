"""Staff intake (综合受理): issues entered by staff for every configured channel.

Most of the channels are offline — the window, the weekly 政企恳谈会, the 企小帮 visits, the
hotlines, department reports, leaders' visits, issues assigned from above — so staff type
what they hear. `IntakeService` turns one entry of the intake screen into the domain's
`Submit`: the channel must be one this node configures (node/config.py `[intake]`), its own
fields are checked against that channel's spec (node/domain/channels.py), and a common
issue (共性问题: an industry, park or region) is taken without credit code or phone.

* `submit` — one entry, through `IssueService.submit` (its transaction, idempotency key and
  permission checks).
* `submit_batch` — a meeting's whole list at once: every row is checked first with the
  domain's own pure `submit` (nothing is written); if any row is refused, one
  `intake_rows_invalid` error names every bad row with its code, field and both texts, and
  nothing is saved; otherwise `IssueService.submit_many` creates them all in one
  transaction (all or nothing even if the store refuses one).
* `enterprise` — what earlier issues at this node recorded under a credit code (name and
  contact of the latest), for staff filling in a form; never for enterprises or viewers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from node.app.policy import SUBMIT_ANY_CHANNEL, Principal, require
from node.app.ports import IssueFilter
from node.app.service import IssueService
from node.domain.channels import ChannelSpec, validate_channel_fields
from node.domain.errors import DomainError, NotFound, ValidationError
from node.domain.issue import Channel, Issue, SubjectKind
from node.domain.lifecycle import Submit, submit
from node.domain.validation import validate_credit_code
from node.i18n import error_texts

__all__ = ["EnterpriseOnRecord", "IntakeEntry", "IntakeService"]

_PROBE_NODE = "330000"  # any valid division: the dry run of a row builds nothing real


@dataclass(frozen=True, kw_only=True, slots=True)
class IntakeEntry:
    """One issue as staff enter it. For a common issue `name` is the industry's, park's or
    region's name and the credit code and phone are ignored."""

    channel: Channel
    title: str
    content: str
    name: str
    subject_kind: SubjectKind = SubjectKind.ENTERPRISE
    credit_code: str = ""
    contact_phone: str = ""
    tags: tuple[str, ...] = ()
    fields: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class EnterpriseOnRecord:
    credit_code: str
    name: str
    contact_phone: str
    issue_number: str  # the latest issue these come from
    received_at: datetime


class IntakeService:
    def __init__(self, *, issues: IssueService, channels: tuple[ChannelSpec, ...],
                 max_rows: int = 50) -> None:
        self.issues = issues
        self._channels = {c.id: c for c in channels}
        self._order = channels
        self.max_rows = max_rows

    def channels(self, principal: Principal) -> tuple[ChannelSpec, ...]:
        """This node's channels with their fields, in the configured order (staff only)."""
        require(principal, SUBMIT_ANY_CHANNEL)
        return self._order

    def command(self, entry: IntakeEntry) -> Submit:
        """The domain command of an entry: channel configured here, its fields checked."""
        spec = self._channels.get(entry.channel)
        if spec is None:
            raise ValidationError("channel_not_configured", field="channel",
                                  channel=str(entry.channel))
        common = entry.subject_kind is not SubjectKind.ENTERPRISE
        return Submit(
            enterprise_name=entry.name,
            credit_code="" if common else entry.credit_code,
            contact_phone="" if common else entry.contact_phone,
            channel=entry.channel,
            title=entry.title,
            content=entry.content,
            tags=entry.tags,
            subject_kind=entry.subject_kind,
            channel_fields=validate_channel_fields(spec, entry.fields),
        )

    def submit(self, principal: Principal, entry: IntakeEntry, *,
               idempotency_key: str | None = None) -> tuple[Issue, bool]:
        require(principal, SUBMIT_ANY_CHANNEL)
        return self.issues.submit(principal, self.command(entry),
                                  idempotency_key=idempotency_key)

    def submit_batch(self, principal: Principal, entries: list[IntakeEntry]) -> list[Issue]:
        """Every row or none; a refusal names each bad row (1-based) and why."""
        require(principal, SUBMIT_ANY_CHANNEL)
        if not entries:
            raise ValidationError("intake_batch_empty", field="rows")
        if len(entries) > self.max_rows:
            raise ValidationError("intake_batch_too_large", field="rows",
                                  max_rows=self.max_rows)
        commands: list[Submit] = []
        problems: list[dict[str, object]] = []
        now = self.issues.clock.now()
        for n, entry in enumerate(entries, start=1):
            try:
                command = self.command(entry)
                submit(command, issue_id="probe", number="probe", node=_PROBE_NODE,
                       actor=principal.actor, now=now, rules=self.issues.rules)
            except DomainError as exc:
                zh, en = error_texts(exc)
                problems.append({"row": n, "code": exc.code,
                                 "field": exc.params.get("field"),
                                 "message": zh, "message_en": en})
                continue
            commands.append(command)
        if problems:
            raise ValidationError("intake_rows_invalid", field="rows", rows=problems)
        return self.issues.submit_many(principal, commands)

    def enterprise(self, principal: Principal, credit_code: str) -> EnterpriseOnRecord:
        """The name and contact of the latest issue raised at this node under the code."""
        require(principal, SUBMIT_ANY_CHANNEL)
        code = validate_credit_code(credit_code)
        with self.issues.store.read() as unit:
            found, _ = unit.list_issues(IssueFilter(credit_code=code, limit=1, count=False))
        if not found:
            raise NotFound("enterprise_not_found", credit_code=code)
        latest = found[0]
        return EnterpriseOnRecord(credit_code=code, name=latest.enterprise.name,
                                  contact_phone=latest.enterprise.contact_phone,
                                  issue_number=latest.number, received_at=latest.received_at)
