"""Staff intake (综合受理) over the JSON API; thin like node/web/api.py.

* `GET  /api/v1/intake/channels` — this node's channels, each with its zh/en names and its
  own fields (config `[intake]`), for the workbench's intake screen.
* `POST /api/v1/intake` — one issue of any configured channel (201; `Idempotency-Key`
  makes a retry safe), an enterprise's or a common one (`subject_kind` industry | park |
  region: no credit code or phone).
* `POST /api/v1/intake/batch` — a meeting's list: every row is created or none is (201 with
  the issues in row order; 422 `intake_rows_invalid` with `details.rows`, one entry per bad
  row: its number, code, field and both texts).
* `GET  /api/v1/enterprises/{credit_code}` — the name and contact of the latest issue at
  this node under that code (404 when none): a form's lookup. Staff who take issues in
  only; enterprises and viewers are refused (403), so personal data stays with them.

Use case: node/app/intake.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from node.app.intake import IntakeEntry
from node.domain.channels import MAX_CHANNEL_FIELD, MAX_CHANNEL_FIELDS
from node.domain.issue import Channel, SubjectKind
from node.domain.validation import MAX_CONTENT, MAX_TAGS, MAX_TITLE
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep, _out
from node.web.schemas import IssueOut

router = APIRouter(prefix=API, responses=_ERRORS, tags=["intake"])
_STRICT = ConfigDict(extra="forbid")


class FieldOut(BaseModel):
    key: str
    zh: str
    en: str
    kind: str
    required: bool
    max_len: int


class ChannelOut(BaseModel):
    id: Channel
    zh: str
    en: str
    fields: list[FieldOut]


class IntakeIn(BaseModel):
    model_config = _STRICT
    channel: Channel
    subject_kind: SubjectKind = SubjectKind.ENTERPRISE
    name: str = Field(max_length=200, description="the enterprise's, or the industry's, "
                                                  "park's or region's name")
    credit_code: str = Field(default="", max_length=40)
    contact_phone: str = Field(default="", max_length=40)
    title: str = Field(max_length=MAX_TITLE)
    content: str = Field(max_length=MAX_CONTENT)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    fields: dict[str, str | None] = Field(default_factory=dict,
                                          max_length=2 * MAX_CHANNEL_FIELDS,
                                          description="the channel's own fields by key "
                                                      f"(each at most {MAX_CHANNEL_FIELD})")

    def entry(self) -> IntakeEntry:
        return IntakeEntry(channel=self.channel, subject_kind=self.subject_kind,
                           name=self.name, credit_code=self.credit_code,
                           contact_phone=self.contact_phone, title=self.title,
                           content=self.content, tags=tuple(self.tags), fields=self.fields)


class IntakeBatchIn(BaseModel):
    model_config = _STRICT
    rows: list[IntakeIn] = Field(max_length=500)


class IntakeBatchOut(BaseModel):
    items: list[IssueOut]


class EnterpriseRecordOut(BaseModel):
    credit_code: str
    name: str
    contact_phone: str
    issue_number: str
    received_at: datetime


@router.get("/intake/channels", response_model=list[ChannelOut])
def channels(principal: PrincipalDep, services: ServicesDep) -> list[ChannelOut]:
    return [ChannelOut(id=c.id, zh=c.zh, en=c.en, fields=[
        FieldOut(key=f.key, zh=f.zh, en=f.en, kind=f.kind.value, required=f.required,
                 max_len=f.max_len) for f in c.fields])
        for c in services.intake.channels(principal)]


@router.post("/intake", response_model=IssueOut, status_code=201)
def intake(body: IntakeIn, principal: PrincipalDep, services: ServicesDep, response: Response,
           idempotency_key: Annotated[str | None, Header(max_length=80)] = None) -> IssueOut:
    """Take one issue in (staff: dispatcher, leader, admin)."""
    issue, created = services.intake.submit(principal, body.entry(),
                                            idempotency_key=idempotency_key)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"{API}/issues/{issue.id}"
    return _out(services, principal, issue, services.issues.light_of(issue))


@router.post("/intake/batch", response_model=IntakeBatchOut, status_code=201)
def intake_batch(body: IntakeBatchIn, principal: PrincipalDep,
                 services: ServicesDep) -> IntakeBatchOut:
    """A meeting's whole list: all rows or none (then every bad row is named)."""
    issues = services.intake.submit_batch(principal, [r.entry() for r in body.rows])
    return IntakeBatchOut(items=[_out(services, principal, i, services.issues.light_of(i))
                                 for i in issues])


@router.get("/enterprises/{credit_code}", response_model=EnterpriseRecordOut)
def enterprise(credit_code: Annotated[str, Path(max_length=40)], principal: PrincipalDep,
               services: ServicesDep) -> EnterpriseRecordOut:
    found = services.intake.enterprise(principal, credit_code)
    if services.audit is not None:  # a read of an enterprise's personal data: audited
        services.audit.enterprise_lookup(principal, found.credit_code)
    return EnterpriseRecordOut(credit_code=found.credit_code, name=found.name,
                               contact_phone=found.contact_phone,
                               issue_number=found.issue_number, received_at=found.received_at)
