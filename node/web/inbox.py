"""Notifications over HTTP: each account's in-app inbox, and the operators' outbox.

* `GET /inbox` — the caller's messages, newest first (`unread=true`, `before=<id>` pages),
  with the unread count; `GET /inbox/unread` — the count alone (the workbench's bell);
  `POST /inbox/read` — mark some (`ids`) or all messages read.
* `GET /notifications/outbox` (admin) — deliveries per status and channel, and the parked
  ones (addresses masked); `POST /notifications/outbox/{id}/requeue` (admin) — send a
  parked one again (same idempotency key).
* `GET|PUT /notifications/contacts/{username}` (admin) — where a staff account is reached
  besides the inbox (e-mail, phone, OA account id, language).
* `GET /notifications/templates`, `PUT|DELETE /notifications/templates/{locale}/{topic}`
  (admin) — the message templates in force; edit one, or go back to the default.

Thin, like node/web/api.py: parse, call node.app.notify.NotifyService, shape the answer.
A node without notifications (notify.enabled off) answers an empty inbox, and 404
`notifications_disabled` to the operators' routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.notify import Contact, InboxItem, NotifyService
from node.domain.errors import NotFound
from node.domain.notifications import Topic
from node.web.api import _ERRORS, API, SQL_INTEGER_MAX, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["notifications"])


class InboxItemOut(BaseModel):
    id: int
    topic: str
    issue_id: str
    number: str
    subject: str
    body: str
    created_at: str
    read: bool

    @classmethod
    def of(cls, item: InboxItem) -> InboxItemOut:
        return cls(id=item.id, topic=item.topic, issue_id=item.issue_id, number=item.number,
                   subject=item.subject, body=item.body,
                   created_at=item.created_at.isoformat(), read=item.read_at is not None)


class InboxOut(BaseModel):
    enabled: bool
    unread: int
    items: list[InboxItemOut]


class UnreadOut(BaseModel):
    enabled: bool
    unread: int


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=SQL_INTEGER_MAX)]] | None = Field(
        default=None, max_length=500, description="the messages to mark read; none: all")


class ReadOut(BaseModel):
    marked: int
    unread: int


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9-]{5,20}$")
    oa_id: str | None = Field(default=None, max_length=80, pattern=r"^[^\x00-\x1f]+$")
    locale: Literal["zh-CN", "en"] | None = None


class ContactOut(ContactIn):
    username: str


def _notify(services: Services) -> NotifyService:
    if services.notify is None:
        raise NotFound("notifications_disabled")
    return services.notify


@router.get("/inbox", response_model=InboxOut)
def inbox(
    principal: PrincipalDep,
    services: ServicesDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=SQL_INTEGER_MAX)] = None,
) -> InboxOut:
    """The caller's in-app messages, newest first."""
    if services.notify is None:
        return InboxOut(enabled=False, unread=0, items=[])
    items, count = services.notify.inbox(principal, unread_only=unread, limit=limit,
                                         before=before)
    return InboxOut(enabled=True, unread=count, items=[InboxItemOut.of(i) for i in items])


@router.get("/inbox/unread", response_model=UnreadOut)
def unread(principal: PrincipalDep, services: ServicesDep) -> UnreadOut:
    """How many of the caller's messages are unread (the bell)."""
    if services.notify is None:
        return UnreadOut(enabled=False, unread=0)
    return UnreadOut(enabled=True, unread=services.notify.unread(principal))


@router.post("/inbox/read", response_model=ReadOut)
def mark_read(body: ReadIn, principal: PrincipalDep, services: ServicesDep) -> ReadOut:
    notify = _notify(services)
    marked = notify.mark_read(principal, body.ids)
    return ReadOut(marked=marked, unread=notify.unread(principal))


@router.get("/notifications/outbox", tags=["operations"])
def outbox(principal: PrincipalDep, services: ServicesDep,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """Deliveries per status and channel, and the parked ones (admin)."""
    return _notify(services).outbox_status(principal, limit=limit)


@router.post("/notifications/outbox/{delivery_id}/requeue", tags=["operations"])
def requeue(delivery_id: Annotated[int, Path(ge=1, le=SQL_INTEGER_MAX)],
            principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """Send a parked delivery again, under its same idempotency key (admin)."""
    _notify(services).requeue(principal, delivery_id)
    return {"id": delivery_id, "status": "pending"}


@router.get("/notifications/contacts/{username}", response_model=ContactOut)
def get_contact(username: Annotated[str, Path(max_length=40)], principal: PrincipalDep,
                services: ServicesDep) -> ContactOut:
    c = _notify(services).get_contact(principal, username)
    return ContactOut(username=c.username, email=c.email, phone=c.phone, oa_id=c.oa_id,
                      locale=c.locale)


@router.put("/notifications/contacts/{username}", response_model=ContactOut)
def put_contact(username: Annotated[str, Path(max_length=40)], body: ContactIn,
                principal: PrincipalDep, services: ServicesDep) -> ContactOut:
    """Where a staff account is reached besides the inbox (admin)."""
    _notify(services).set_contact(principal, Contact(
        username=username, email=body.email, phone=body.phone, oa_id=body.oa_id,
        locale=body.locale))
    return ContactOut(username=username, **body.model_dump())


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    body: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f]+$")


@router.get("/notifications/templates")
def list_templates(principal: PrincipalDep, services: ServicesDep) -> list[dict[str, str]]:
    """Every message template (zh-CN, en) in force, and whether it is the default, the
    configuration's or an admin's edit (admin)."""
    return _notify(services).list_templates(principal)


@router.put("/notifications/templates/{locale}/{topic}")
def put_template(locale: Literal["zh-CN", "en"], topic: Topic, body: TemplateIn,
                 principal: PrincipalDep, services: ServicesDep) -> dict[str, str]:
    """Edit one template; `{number}`, `{title}`, `{track_url}`, ... are filled in (admin)."""
    _notify(services).set_template(principal, locale, topic, subject=body.subject,
                                   body=body.body)
    return {"locale": locale, "topic": topic.value, "subject": body.subject,
            "body": body.body, "source": "admin"}


@router.delete("/notifications/templates/{locale}/{topic}", status_code=204)
def reset_template(locale: Literal["zh-CN", "en"], topic: Topic, principal: PrincipalDep,
                   services: ServicesDep) -> None:
    """Back to the configured or default template (admin)."""
    _notify(services).reset_template(principal, locale, topic)
