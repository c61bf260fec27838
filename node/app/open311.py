"""Open311 GeoReport v2: the use cases behind /open311 (node/web/open311.py).

Who may do what:

* **Client systems** (a hotline platform, a third-party app) are registered by an admin
  (`create_client`): a name and the intake channel its requests come in by (one of the
  node's configured channels, node/domain/channels.py). The answer carries the API key
  once; the store keeps only its SHA-256 (a random 256-bit key needs no slow hash) and its
  first characters to recognise it. An admin lists and revokes clients; a revoked key is
  refused exactly like an unknown one (403 `open311_key_invalid`).
* **POST requests** (`submit`): the key is checked first (a bad key learns nothing about
  services), then the request is built into an `IntakeEntry` of the key's channel and taken
  in through the staff intake use case (node/app/intake.py → IssueService.submit), so every
  rule of a new issue applies, its notifications are written and the search index is kept,
  all in the issue's transaction. The client acts as a principal of role `intake` named
  `open311-<client id>`, so the timeline names the client system. Whom the request concerns
  comes as attributes (node/domain/open311.py `ATTRIBUTES`: subject_kind, enterprise_name,
  credit_code, title), the phone as the standard `phone`, the channel's own fields (a
  hotline's ticket number, a meeting's date) as attribute[<field key>]; an unknown
  attribute is refused. `address_string` and `media_url` are kept as lines of the content;
  `lat`/`long`, `email`, `first_name`, `last_name`, `device_id`, `account_id` are not kept
  (the issue has no place for them, and a contact person is personal data).
* **Resubmitting.** Open311 has no idempotency key. A client that sends the HTTP header
  `Idempotency-Key` gets, for the same key again, the request it created the first time
  (200 instead of 201, same `service_request_id`): keys are per client system (the
  submissions table, keyed by the client's principal). Without the header every POST is a
  new issue.
* **Public reads** (`requests`, `request`, `updates`; no key): issues raised at this node,
  whatever tier owns them now. They never carry the enterprise's name, credit code, phone
  or contact; the description is the title, and the title, reply and rejection reason are
  published through `redact` (node/domain/open311.py). The issue's content is never
  published: enterprises write business and personal details into it.

The catalogue comes from one function, `catalogue_source`: the categories of the node's
tag library (node/domain/tags.py) once it is in force, until then the default categories
plus the node's configured tags.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from node.app.intake import IntakeEntry, IntakeService
from node.app.policy import MANAGE_USERS, Principal, Role, require
from node.app.ports import Clock, Open311Client, Open311Store, RequestQuery
from node.domain.channels import ChannelSpec
from node.domain.errors import Forbidden, NotFound, ValidationError
from node.domain.issue import Channel, Issue, State, SubjectKind
from node.domain.open311 import (
    ATTRIBUTES,
    DEFAULT_SERVICES,
    Service,
    Status,
    check_catalogue,
    query_window,
    redact,
    service_of,
    states_of,
    status_of,
)
from node.domain.tags import Library
from node.domain.validation import MAX_CONTENT, MAX_TAG, MAX_TITLE, check_text

__all__ = [
    "KEY_PREFIX",
    "NewRequest",
    "Open311Service",
    "Open311Setup",
    "PublicRequest",
    "PublicUpdate",
    "RequestsFilter",
    "catalogue_source",
    "hash_key",
    "library_services",
]

KEY_PREFIX = "zt311_"
MAX_KEY = 100
MAX_IDS = 50  # service_request_id values in one GET
DEFAULT_PAGE = 100
MAX_PAGE = 500
MAX_UPDATES = 1000
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_ATTRIBUTE_CODES = frozenset(a.code for a in ATTRIBUTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def catalogue_source(tags: Iterable[str] = (), *,
                     library: Callable[[], Library] | None = None
                     ) -> Callable[[], tuple[Service, ...]]:
    """The one place the service catalogue comes from.

    Once the node's tag library is in force (node/domain/tags.py: it holds a category),
    each active category with an active tag is a service: its code is the category's id,
    its tags the names of its active tags (a new request gets the first by name). Before
    that: the default categories, plus one service for each tag the node configures (e.g.
    `deadlines.per_tag`) that none of them names (its code: "tag-" and the first 8 hex
    digits of the tag's SHA-256)."""
    covered = {t for s in DEFAULT_SERVICES for t in s.tags}
    extra = tuple(
        Service(code="tag-" + hashlib.sha256(tag.encode()).hexdigest()[:8], zh=tag, en=tag,
                tags=(tag,), group="营商环境")
        for tag in dict.fromkeys(tags) if tag not in covered and len(tag) <= MAX_TAG)
    defaults = check_catalogue(DEFAULT_SERVICES + extra)

    def from_library() -> tuple[Service, ...]:
        held = library() if library is not None else None
        if held is None or not held.in_force:
            return defaults
        return library_services(held)

    return from_library


def library_services(held: Library) -> tuple[Service, ...]:
    """The services of a tag library: its active categories that hold an active tag."""
    names: dict[str, list[str]] = {}
    for tag in held.tags.values():
        if tag.active and tag.merged_into is None:
            names.setdefault(tag.category, []).append(tag.name_zh)
    out = []
    for cat in sorted(held.categories.values(), key=lambda c: (c.name_zh, c.id)):
        if cat.active and names.get(cat.id):
            out.append(Service(code=cat.id, zh=cat.name_zh, en=cat.name_en or cat.name_zh,
                               tags=tuple(sorted(names[cat.id])), group="标签库"))
    return check_catalogue(tuple(out))


@dataclass(frozen=True, kw_only=True, slots=True)
class Open311Setup:
    """What the composition root gives the Open311 endpoint."""

    store: Open311Store
    catalogue: Callable[[], tuple[Service, ...]] = field(default_factory=catalogue_source)
    contact: str = ""  # discovery.json's `contact`


@dataclass(frozen=True, kw_only=True, slots=True)
class NewRequest:
    """A POST requests as sent (every value text, attributes by code)."""

    service_code: str | None
    description: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    phone: str | None = None
    address_string: str | None = None
    media_url: str | None = None
    jurisdiction_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestsFilter:
    """A GET requests as sent, parsed."""

    ids: tuple[str, ...] = ()
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[Status, ...] = ()
    page: int = 1
    page_size: int = DEFAULT_PAGE
    jurisdiction_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicRequest:
    service_request_id: str
    status: Status
    status_notes: str | None
    service_code: str | None
    service_name: str | None
    description: str | None
    agency_responsible: str
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicUpdate:
    update_id: str
    service_request_id: str
    status: Status
    updated_datetime: datetime
    description: str | None


def _text(name: str, value: str | None, max_len: int, *, required: bool = False) -> str:
    if value is None or not value.strip():
        if required:
            raise ValidationError("open311_parameter_required", field=name)
        return ""
    out = check_text(name, value, max_len=max_len, required=False)
    return out or ""


def _title(description: str) -> str:
    first = description.strip().splitlines()[0].strip()
    return first if len(first) <= MAX_TITLE else first[:MAX_TITLE - 1] + "…"


class Open311Service:
    def __init__(self, *, setup: Open311Setup, intake: IntakeService,
                 channels: tuple[ChannelSpec, ...], node: str, node_name: str,
                 clock: Clock) -> None:
        self.store = setup.store
        self._catalogue = setup.catalogue
        self.contact = setup.contact
        self.intake = intake
        self.channels = {c.id: c for c in channels}
        self.node = node
        self.node_name = node_name
        self.clock = clock

    # ------------------------------------------------------------------ catalogue

    def services(self) -> tuple[Service, ...]:
        return self._catalogue()

    def service(self, code: str) -> Service:
        found = next((s for s in self.services() if s.code == code), None)
        if found is None:
            raise NotFound("open311_service_not_found", service_code=code[:64])
        return found

    def fields_of(self, channel: Channel) -> ChannelSpec | None:
        return self.channels.get(channel)

    def check_jurisdiction(self, jurisdiction_id: str | None) -> None:
        given = _text("jurisdiction_id", jurisdiction_id, 200)
        if given not in ("", self.node):
            raise NotFound("open311_jurisdiction_unknown", jurisdiction_id=given[:20])

    # ------------------------------------------------------------------ client systems

    def create_client(self, principal: Principal, *, name: str,
                      channel: str) -> tuple[Open311Client, str]:
        """A new client system and its API key (shown this once)."""
        require(principal, MANAGE_USERS)
        name = _text("name", name, 100, required=True)
        try:
            bound = Channel(channel)
        except ValueError:
            raise ValidationError("channel_not_configured", field="channel",
                                  channel=channel[:20]) from None
        if bound not in self.channels:
            raise ValidationError("channel_not_configured", field="channel",
                                  channel=bound.value)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        client = Open311Client(id=secrets.token_hex(6), name=name, channel=bound.value,
                               key_hint=key[:len(KEY_PREFIX) + 4],
                               created_at=self.clock.now(), created_by=principal.username)
        with self.store.write() as unit:
            unit.add_client(client, key_hash=hash_key(key))
        return client, key

    def clients(self, principal: Principal) -> list[Open311Client]:
        require(principal, MANAGE_USERS)
        with self.store.read() as unit:
            return unit.clients()

    def revoke(self, principal: Principal, client_id: str) -> Open311Client:
        """Revoke a client's key at once (revoking it again changes nothing)."""
        require(principal, MANAGE_USERS)
        with self.store.write() as unit:
            if unit.client(client_id) is None:
                raise NotFound("open311_client_not_found", client=client_id[:20])
            unit.revoke_client(client_id, at=self.clock.now(), by=principal.username)
            found = unit.client(client_id)
        assert found is not None
        return found

    def authenticate(self, api_key: str | None) -> Open311Client:
        """The client of an active key; anything else is 403 (unknown and revoked alike)."""
        if not api_key or len(api_key) > MAX_KEY or not api_key.startswith(KEY_PREFIX):
            raise Forbidden("open311_key_invalid")
        with self.store.read() as unit:
            client = unit.client_by_key(hash_key(api_key))
        if client is None or client.revoked_at is not None:
            raise Forbidden("open311_key_invalid")
        return client

    @staticmethod
    def principal_of(client: Open311Client) -> Principal:
        return Principal(username=f"open311-{client.id}", role=Role.INTAKE,
                         display_name=client.name)

    # ------------------------------------------------------------------ POST requests

    def entry(self, client: Open311Client, request: NewRequest) -> IntakeEntry:
        """The intake entry of a request of `client` (checked; nothing written)."""
        self.check_jurisdiction(request.jurisdiction_id)
        code = _text("service_code", request.service_code, 64, required=True)
        service = next((s for s in self.services() if s.code == code), None)
        if service is None:
            raise ValidationError("open311_service_code_unknown", field="service_code",
                                  service_code=code)
        description = _text("description", request.description, MAX_CONTENT, required=True)
        channel = Channel(client.channel)
        spec = self.channels.get(channel)
        field_keys = {f.key for f in spec.fields} if spec is not None else set()
        attrs = dict(request.attributes)
        for key in attrs:
            if key not in _ATTRIBUTE_CODES and key not in field_keys:
                raise ValidationError("open311_parameter_invalid",
                                      field=f"attribute[{key[:40]}]", value=key[:40])
        kind_text = attrs.get("subject_kind") or SubjectKind.ENTERPRISE.value
        try:
            kind = SubjectKind(kind_text)
        except ValueError:
            raise ValidationError("open311_parameter_invalid", field="attribute[subject_kind]",
                                  value=kind_text[:40]) from None
        name = _text("attribute[enterprise_name]", attrs.get("enterprise_name"), 100,
                     required=True)
        common = kind is not SubjectKind.ENTERPRISE
        credit_code = "" if common else _text("attribute[credit_code]",
                                              attrs.get("credit_code"), 40, required=True)
        phone = "" if common else _text("phone", request.phone, 40, required=True)
        title = _text("attribute[title]", attrs.get("title"), MAX_TITLE) or _title(description)
        content = description
        extra = [(label, _text(key, value, 500)) for key, label, value in (
            ("address_string", "地址", request.address_string),
            ("media_url", "附件", request.media_url))]
        lines = [f"{label}：{value}" for label, value in extra if value]
        if lines:
            content = "\n\n".join([description, "\n".join(lines)])
        return IntakeEntry(
            channel=channel, subject_kind=kind, name=name, credit_code=credit_code,
            contact_phone=phone, title=title, content=content, tags=(service.tags[0],),
            fields={k: v for k, v in attrs.items() if k in field_keys})

    def submit(self, api_key: str | None, request: NewRequest, *,
               idempotency_key: str | None = None) -> tuple[Issue, bool]:
        """Take a request in; (issue, created) — a repeated Idempotency-Key of the same
        client returns the first issue."""
        client = self.authenticate(api_key)
        entry = self.entry(client, request)
        return self.intake.submit(self.principal_of(client), entry,
                                  idempotency_key=idempotency_key)

    # ------------------------------------------------------------------ public reads

    def public(self, issue: Issue) -> PublicRequest:
        service = service_of(issue, self.services())
        status = status_of(issue.state)
        notes = issue.reply if status is Status.CLOSED else issue.rejection_reason
        if issue.department or issue.board:
            agency = issue.department or issue.board or ""
        else:
            agency = self.node_name if issue.owner == self.node else issue.owner
        running = issue.deadline is not None and status is Status.OPEN
        return PublicRequest(
            service_request_id=issue.number, status=status,
            status_notes=redact(notes, issue.enterprise, issue.subject_kind),
            service_code=service.code if service else None,
            service_name=service.zh if service else None,
            description=redact(issue.title, issue.enterprise, issue.subject_kind),
            agency_responsible=agency, requested_datetime=issue.received_at,
            updated_datetime=issue.updated_at,
            expected_datetime=issue.deadline.due if running and issue.deadline else None)

    def requests(self, f: RequestsFilter) -> list[PublicRequest]:
        self.check_jurisdiction(f.jurisdiction_id)
        if f.ids:
            # the spec: service_request_id overrides every other argument
            if len(f.ids) > MAX_IDS:
                raise ValidationError("open311_parameter_invalid", field="service_request_id",
                                      value=f"{len(f.ids)} > {MAX_IDS}")
            query = RequestQuery(origin=self.node, start=_EARLIEST, end=_LATEST,
                                 numbers=f.ids, limit=MAX_IDS)
        else:
            start, end = query_window(f.start, f.end, now=self.clock.now())
            tags: tuple[str, ...] = ()
            if f.service_code is not None:
                found = next((s for s in self.services() if s.code == f.service_code), None)
                if found is None:
                    raise ValidationError("open311_service_code_unknown", field="service_code",
                                          service_code=f.service_code[:64])
                tags = found.tags
            states = tuple(s for status in dict.fromkeys(f.statuses) for s in states_of(status))
            if not 1 <= f.page_size <= MAX_PAGE:
                raise ValidationError("open311_parameter_invalid", field="page_size",
                                      value=str(f.page_size))
            if not 1 <= f.page <= 10_000:
                raise ValidationError("open311_parameter_invalid", field="page",
                                      value=str(f.page))
            query = RequestQuery(origin=self.node, start=start, end=end, tags=tags,
                                 states=states, limit=f.page_size,
                                 offset=(f.page - 1) * f.page_size)
        with self.store.read() as unit:
            found_issues = unit.requests(query)
        return [self.public(i) for i in found_issues]

    def request(self, service_request_id: str, *,
                jurisdiction_id: str | None = None) -> PublicRequest:
        self.check_jurisdiction(jurisdiction_id)
        with self.store.read() as unit:
            issue = unit.request(self.node, service_request_id)
        if issue is None:
            raise NotFound("open311_request_not_found",
                           service_request_id=service_request_id[:40])
        return self.public(issue)

    def updates(self, start: datetime | None, end: datetime | None, *,
                jurisdiction_id: str | None = None) -> list[PublicUpdate]:
        """Every step of the requests in the window (each event that carries the issue's
        state: a transition, an urge, a supervision), oldest first, at most MAX_UPDATES.
        Its description is the reply or the rejection reason, redacted; nothing else of
        the event (staff notes) is published."""
        self.check_jurisdiction(jurisdiction_id)
        start, end = query_window(start, end, now=self.clock.now())
        with self.store.read() as unit:
            found = unit.updates(origin=self.node, start=start, end=end, limit=MAX_UPDATES)
        out = []
        for issue, event in found:
            state = event.payload.get("state")
            if not isinstance(state, str):
                continue
            note = event.payload.get("reply") or event.payload.get("reason")
            out.append(PublicUpdate(
                update_id=f"{issue.number}-v{event.version}",
                service_request_id=issue.number, status=status_of(State(state)),
                updated_datetime=event.at,
                description=redact(note if isinstance(note, str) else None,
                                   issue.enterprise, issue.subject_kind)))
        return out
