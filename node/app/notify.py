"""Notifications: the dispatcher, the light scanner, the inbox and the operators' view.

How it works, and what a crash leaves behind:

1. *Outbox.* An event this node writes may cause a notice (node/domain/notifications.py);
   the store's projection writes it in the event's own transaction, so a refused or failed
   action leaves none and a committed one always has its notice. Replicated events never
   notify. The light scanner (`scan_lights_once`) records each yellow/red transition of a
   running deadline once (a unique key per issue, deadline and colour) with its notice, in
   one transaction — also while nobody touches the issue.
2. *Expansion* (`expand_once`, one transaction per notice): the notice's groups become
   accounts, each (recipient, channel) one delivery row with its one idempotency key
   (`delivery_key`), inserted if absent. A crash before the commit redoes it with the same
   keys. In-app inbox messages are written right there (the inbox is this database).
3. *Delivery* (`deliver_once`): a bounded batch of due rows is sent concurrently, each
   call under the adapter's timeout, outside any transaction; then the outcome is
   recorded: delivered, or the attempt counted with a capped, jittered exponential backoff
   persisted in the row, or parked after `max_attempts` (or at once for a refusal no retry
   can fix). A crash between sending and recording leaves the row pending: it is sent
   again under the same key, so a receiver that deduplicates on it (HTTP `Idempotency-Key`,
   e-mail `Message-ID`) shows the message once. An operator can re-queue a parked row.

The dispatcher runs in its own task (node/runtime.py): a slow or failing gateway delays
only other notifications, never a user's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from node.app.policy import MANAGE_USERS, Principal, require
from node.app.ports import Clock
from node.app.transfers import Backoff
from node.domain.errors import NotFound, ValidationError
from node.domain.issue import Issue
from node.domain.notifications import (
    DEFAULT_TEMPLATES,
    LOCALES,
    Colour,
    Group,
    Member,
    Notice,
    NotifyRules,
    QuietHours,
    Topic,
    delivery_key,
    members,
    notice_for_light,
    notice_for_refused,
    render,
    template_names,
)

log = logging.getLogger("zhitong.notify")

ENTERPRISE = "enterprise:"
USER = "user:"


# --------------------------------------------------------------------------- adapters


@dataclass(frozen=True, kw_only=True, slots=True)
class OutgoingMessage:
    """What an adapter sends. `idempotency_key` is the same on every attempt: send it to
    the receiver (HTTP `Idempotency-Key`, e-mail `Message-ID`) so that it can deduplicate."""

    idempotency_key: str
    channel: str
    recipient: str  # user:<name> | enterprise:<credit code>
    address: str  # phone, e-mail address, OA account id
    locale: str
    topic: str
    subject: str
    body: str
    params: Mapping[str, str]
    issue_id: str


class DeliveryFailed(Exception):
    """The receiver did not take the message. `permanent`: no retry can fix it (parked)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class ChannelAdapter(Protocol):
    """One way to reach people (node/notify/: SMS gateway, SMTP, OA webhook).

    `send` returns once the receiver has accepted the message and raises DeliveryFailed
    (or any exception: counted as a retryable failure) otherwise. It may be called again
    for a message it already delivered (a crash before the outcome was recorded): the
    receiver deduplicates on `message.idempotency_key`."""

    name: str
    timeout_s: float

    async def send(self, message: OutgoingMessage) -> None: ...


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredNotice:
    id: int
    notice: Notice


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    username: str
    email: str | None = None
    phone: str | None = None
    oa_id: str | None = None
    locale: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewDelivery:
    idempotency_key: str
    recipient: str
    channel: str
    address: str
    locale: str


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxItem:
    id: int
    username: str
    topic: str
    issue_id: str
    number: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewInboxItem:
    username: str
    idempotency_key: str
    topic: str
    issue_id: str
    number: str
    subject: str
    body: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """What one notice becomes (`NotifyService._plan`)."""

    notice_id: int
    deliveries: Sequence[NewDelivery]
    inbox: Sequence[NewInboxItem]


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    id: int
    idempotency_key: str
    notice_key: str
    topic: str
    issue_id: str
    params: Mapping[str, str]
    recipient: str
    channel: str
    address: str
    locale: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    delivery_id: int
    error: str | None  # None: delivered
    retry_at: datetime | None  # None with an error: parked


@dataclass(frozen=True, kw_only=True, slots=True)
class LightCandidate:
    issue: Issue
    yellow_at: datetime
    red_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class RefusedForward:
    """An enterprise's urge or rating forwarded up and refused by the owner."""

    transfer_id: str
    kind: str  # enterprise_urge | rate
    error: str
    at: datetime  # when it was forwarded
    issue: Issue


class NotifyStore(Protocol):
    """What the notification use cases need of the store (node/store/notifications.py)."""

    def unexpanded(self, limit: int) -> list[StoredNotice]: ...
    def members(self) -> list[Member]: ...
    def contacts(self) -> dict[str, Contact]: ...
    def enterprise_of(self, issue_id: str) -> tuple[str, str] | None:
        """(credit code, phone on record) of an issue held here."""
        ...

    def expand(self, plans: Sequence[Plan], *, now: datetime) -> None:
        """One transaction: each plan's deliveries and inbox messages (each if absent),
        and its notice marked expanded."""
        ...

    def due(self, now: datetime, limit: int) -> list[Delivery]: ...
    def defer(self, delivery_ids: Sequence[int], until: datetime) -> None:
        """Move pending deliveries to `until` without counting an attempt (quiet hours)."""
        ...

    def next_attempt_at(self) -> datetime | None:
        """When the earliest pending delivery falls due (None: nothing pending)."""
        ...

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        """One transaction: each attempt counted; delivered (`error` None), else retried
        at `retry_at`, or parked (`retry_at` None)."""
        ...

    def light_candidates(self, now: datetime, limit: int) -> list[LightCandidate]:
        """Issues this node owns whose running deadline reached yellow or red at `now` with
        a transition not yet recorded."""
        ...

    def record_light(self, issue: Issue, colour: Colour, notice: Notice | None, *,
                     now: datetime) -> bool:
        """Record the transition once (with its notice); False if it was already."""
        ...

    def refused_forwards(self, limit: int) -> list[RefusedForward]:
        """An enterprise's urges and ratings of issues raised here that this node forwarded
        up and the owner refused, not yet told (no notice `refused:<transfer id>`)."""
        ...

    def add_notice(self, notice: Notice) -> bool:
        """Insert the notice unless its key is taken; whether it was inserted."""
        ...

    def outbox_counts(self) -> dict[tuple[str, str], int]: ...
    def deliveries(self, status: str, limit: int) -> list[Delivery]: ...
    def requeue(self, delivery_id: int, *, now: datetime) -> bool: ...
    def inbox(self, username: str, *, unread_only: bool, limit: int,
              before: int | None) -> list[InboxItem]: ...
    def unread(self, username: str) -> int: ...
    def mark_read(self, username: str, ids: Sequence[int] | None, *, now: datetime) -> int: ...
    def set_contact(self, contact: Contact, *, now: datetime) -> None: ...
    def get_contact(self, username: str) -> Contact | None: ...
    def account_exists(self, username: str) -> bool: ...
    def templates(self) -> dict[tuple[str, Topic], tuple[str, str]]:
        """The templates an admin edited."""
        ...

    def set_template(self, locale: str, topic: Topic, subject: str, body: str, *,
                     actor: str, now: datetime) -> None: ...
    def delete_template(self, locale: str, topic: Topic) -> bool: ...


# --------------------------------------------------------------------------- the service


@dataclass(kw_only=True)
class NotifySettings:
    node: str
    rules: NotifyRules
    inbox: bool = True
    enterprise_channels: tuple[str, ...] = ("sms",)
    staff_channels: tuple[str, ...] = ("inbox", "email", "oa")
    locale: str = "zh-CN"
    max_attempts: int = 8
    batch_size: int = 50
    poll_every_s: float = 60.0
    light_scan_every_s: float = 60.0
    templates: Mapping[tuple[str, Topic], tuple[str, str]] = field(default_factory=dict)
    #: SMS held back in these hours (China time), except the topics in `quiet_exempt`
    quiet_hours: QuietHours | None = None
    quiet_exempt: frozenset[str] = frozenset()


class NotifyService:
    """The notification use cases over a NotifyStore and the configured adapters."""

    def __init__(self, *, store: NotifyStore, settings: NotifySettings, clock: Clock,
                 adapters: Mapping[str, ChannelAdapter], backoff: Backoff,
                 subscribe: Callable[[Callable[[], None]], None] | None = None) -> None:
        """`subscribe(listener)`: call `listener` after every committed write (from any
        thread): the dispatcher is woken by it instead of waiting for its period."""
        self.store = store
        self.subscribe = subscribe
        self.settings = settings
        self.clock = clock
        self.adapters = dict(adapters)
        self.backoff = backoff
        #: a test seam: called after a successful send, before its outcome is recorded (a
        #: raise there is a crash between the two: the delivery stays pending)
        self.after_send: Callable[[Delivery], None] | None = None
        self.wake = asyncio.Event()
        #: the templates in force: the configured ones, then those an admin edited (read
        #: again at every batch, so an edit applies to every message not sent yet)
        self.templates: dict[tuple[str, Topic], tuple[str, str]] = dict(settings.templates)

    def _enabled(self, channel: str) -> bool:
        return (channel == "inbox" and self.settings.inbox) or channel in self.adapters

    # -- expansion

    def expand_once(self) -> int:
        """Turn waiting notices into deliveries; returns how many notices were expanded."""
        notices = self.store.unexpanded(self.settings.batch_size)
        if not notices:
            return 0
        self._load_templates()
        staff = self.store.members()
        contacts = self.store.contacts()
        plans = []
        for stored in notices:
            deliveries, inbox = self._plan(stored.notice, staff, contacts)
            plans.append(Plan(notice_id=stored.id, deliveries=deliveries, inbox=inbox))
        self.store.expand(plans, now=self.clock.now())  # one transaction per batch
        return len(notices)

    def _plan(self, notice: Notice, staff: list[Member], contacts: dict[str, Contact]
              ) -> tuple[list[NewDelivery], list[NewInboxItem]]:
        s = self.settings
        deliveries: dict[str, NewDelivery] = {}
        inbox: list[NewInboxItem] = []
        issue = notice.params
        for group in notice.groups:
            if group is Group.ENTERPRISE:
                found = self.store.enterprise_of(notice.issue_id)
                if found is None:
                    continue
                code, phone = found
                for channel in s.enterprise_channels:
                    if channel == "sms" and phone and self._enabled(channel):
                        key = delivery_key(s.node, notice.key, ENTERPRISE + code, channel)
                        deliveries[key] = NewDelivery(
                            idempotency_key=key, recipient=ENTERPRISE + code,
                            channel=channel, address=phone, locale=s.locale)
                continue
            names = members(group, staff, department=issue.get("department") or None,
                            board=issue.get("board") or None)
            for username in names:
                contact = contacts.get(username, Contact(username=username))
                locale = contact.locale or s.locale
                for channel in s.staff_channels:
                    if not self._enabled(channel):
                        continue
                    address = {"inbox": username, "email": contact.email,
                               "oa": contact.oa_id or username, "sms": contact.phone
                               }.get(channel)
                    if not address:
                        continue
                    key = delivery_key(s.node, notice.key, USER + username, channel)
                    if channel == "inbox":
                        subject, body = render(notice.topic, locale, notice.params,
                                               self.templates)
                        inbox.append(NewInboxItem(
                            username=username, idempotency_key=key, topic=notice.topic.value,
                            issue_id=notice.issue_id, number=issue.get("number", ""),
                            subject=subject[:200], body=body))
                    deliveries[key] = NewDelivery(idempotency_key=key, recipient=USER + username,
                                                  channel=channel, address=address,
                                                  locale=locale)
        return list(deliveries.values()), inbox

    # -- delivery

    async def deliver_once(self) -> int:
        """Send one bounded batch of due deliveries concurrently, then record every
        outcome in one transaction; returns how many were attempted."""
        now = self.clock.now()
        batch = await asyncio.to_thread(self.store.due, now, self.settings.batch_size)
        fetched = len(batch)
        quiet = self.settings.quiet_hours
        until = quiet.until(now) if quiet is not None else None
        if until is not None:
            held = [d for d in batch
                    if d.channel == "sms" and d.topic not in self.settings.quiet_exempt]
            if held:
                await asyncio.to_thread(self.store.defer, [d.id for d in held], until)
                batch = [d for d in batch if d not in held]
        if batch:
            await asyncio.to_thread(self._load_templates)
            outcomes = await asyncio.gather(*(self._send(d) for d in batch))
            await asyncio.to_thread(self._record, [o for o in outcomes if o is not None])
        return fetched

    def message_of(self, d: Delivery) -> OutgoingMessage:
        subject, body = render(Topic(d.topic), d.locale, d.params, self.templates)
        return OutgoingMessage(idempotency_key=d.idempotency_key, channel=d.channel,
                               recipient=d.recipient, address=d.address, locale=d.locale,
                               topic=d.topic, subject=subject, body=body, params=d.params,
                               issue_id=d.issue_id)

    async def _send(self, d: Delivery) -> tuple[Delivery, str | None, bool] | None:
        """(delivery, error or None, permanent); None: nothing to record (a crash)."""
        adapter = self.adapters.get(d.channel)
        if adapter is None:  # the channel was switched off since the row was planned
            return d, "channel not configured", True
        try:
            await asyncio.wait_for(adapter.send(self.message_of(d)), adapter.timeout_s)
        except DeliveryFailed as exc:
            return d, str(exc), exc.permanent
        except Exception as exc:  # a timeout, a refused connection, ...: try again later
            return d, repr(exc)[:500], False
        if self.after_send is not None:
            try:
                self.after_send(d)
            except Exception:
                log.warning("crash simulated after sending %s", d.idempotency_key)
                return None
        return d, None, False

    def _record(self, outcomes: Sequence[tuple[Delivery, str | None, bool]]) -> None:
        now = self.clock.now()
        results: list[Outcome] = []
        for d, error, permanent in outcomes:
            if error is None:
                results.append(Outcome(delivery_id=d.id, error=None, retry_at=None))
                continue
            attempts = d.attempts + 1
            retry_at = (None if permanent or attempts >= self.settings.max_attempts
                        else now + self.backoff.delay(attempts))
            if retry_at is None:
                log.warning("notification %s (%s) parked after %d attempts: %s",
                            d.idempotency_key, d.channel, attempts, error)
            results.append(Outcome(delivery_id=d.id, error=error, retry_at=retry_at))
        if results:
            self.store.record(results, now=now)

    async def run(self, stop: asyncio.Event, *, period_s: float = 60.0) -> None:
        """Expand and deliver until `stop`: woken by every commit, else when the earliest
        pending delivery falls due (a retry's backoff, quiet hours' end), at the latest
        after `period_s` — an idle node does not poll."""
        while not stop.is_set():
            self.wake.clear()
            wait_s = period_s
            try:
                await asyncio.to_thread(self.expand_once)
                while await self.deliver_once() >= self.settings.batch_size \
                        and not stop.is_set():
                    pass
                due = await asyncio.to_thread(self.store.next_attempt_at)
                if due is not None:
                    ahead = (due - self.clock.now()).total_seconds()
                    wait_s = min(period_s, max(0.05, ahead))
            except Exception:
                log.exception("notification dispatch failed")
            with contextlib.suppress(TimeoutError):
                waiters = [asyncio.ensure_future(stop.wait()),
                           asyncio.ensure_future(self.wake.wait())]
                try:
                    await asyncio.wait(waiters, timeout=wait_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()

    async def run_all(self, stop: asyncio.Event) -> None:
        """The dispatcher and the light scanner, until `stop` (node/runtime.py)."""
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self.wake.set)

        if self.subscribe is not None:
            self.subscribe(wake)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.run(stop, period_s=self.settings.poll_every_s))
                tg.create_task(self.run_light_scanner(
                    stop, period_s=self.settings.light_scan_every_s))
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the adapters' connections (those that keep any: an optional `close`)."""
        for adapter in self.adapters.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    # -- lights

    def scan_lights_once(self) -> int:
        """Record every yellow/red transition reached by now, once, with its notice;
        returns how many notices were written."""
        now = self.clock.now()
        written = 0
        for c in self.store.light_candidates(now, self.settings.batch_size * 10):
            colours = [Colour.RED, Colour.YELLOW] if c.red_at <= now else [Colour.YELLOW]
            for colour in colours:
                # a yellow passed unseen while it was already red is recorded, not sent
                notice = (notice_for_light(c.issue, colour, self.settings.rules, now=now)
                          if colour is colours[0] else None)
                if self.store.record_light(c.issue, colour, notice, now=now) and notice:
                    written += 1
        if written:
            self.wake.set()
        return written

    def scan_refusals_once(self) -> int:
        """Tell the enterprise of each of its forwarded urges or ratings the owner refused
        (once per transfer: the notice's key); returns how many notices were written."""
        written = 0
        for r in self.store.refused_forwards(self.settings.batch_size):
            notice = notice_for_refused(r.issue, transfer_id=r.transfer_id, kind=r.kind,
                                        error=r.error, at=r.at, rules=self.settings.rules)
            if notice is not None and self.store.add_notice(notice):
                written += 1
        if written:
            self.wake.set()
        return written

    async def run_light_scanner(self, stop: asyncio.Event, *, period_s: float = 60.0) -> None:
        """The light scanner, and the refusals of forwarded acts, every `period_s`."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.scan_lights_once)
                await asyncio.to_thread(self.scan_refusals_once)
            except Exception:
                log.exception("light scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period_s)

    # -- inbox (every signed-in account: its own messages)

    def inbox(self, principal: Principal, *, unread_only: bool = False, limit: int = 50,
              before: int | None = None) -> tuple[list[InboxItem], int]:
        items = self.store.inbox(principal.username, unread_only=unread_only, limit=limit,
                                 before=before)
        return items, self.store.unread(principal.username)

    def unread(self, principal: Principal) -> int:
        return self.store.unread(principal.username)

    def mark_read(self, principal: Principal, ids: Sequence[int] | None) -> int:
        return self.store.mark_read(principal.username, ids, now=self.clock.now())

    # -- operators (admin)

    def outbox_status(self, principal: Principal, *, limit: int = 100) -> dict[str, Any]:
        require(principal, MANAGE_USERS)
        counts: dict[str, dict[str, int]] = {}
        for (status, channel), n in sorted(self.store.outbox_counts().items()):
            counts.setdefault(status, {})[channel] = n
        parked = self.store.deliveries("parked", limit)
        return {"counts": counts, "parked": [_public(d) for d in parked]}

    def requeue(self, principal: Principal, delivery_id: int) -> None:
        require(principal, MANAGE_USERS)
        if not self.store.requeue(delivery_id, now=self.clock.now()):
            raise NotFound("notification_not_parked", delivery_id=delivery_id)
        self.wake.set()

    def set_contact(self, principal: Principal, contact: Contact) -> None:
        require(principal, MANAGE_USERS)
        if not self.store.account_exists(contact.username):
            raise NotFound("notify_account_unknown", username=contact.username)
        self.store.set_contact(contact, now=self.clock.now())

    def get_contact(self, principal: Principal, username: str) -> Contact:
        require(principal, MANAGE_USERS)
        return self.store.get_contact(username) or Contact(username=username)

    def _load_templates(self) -> None:
        self.templates = {**self.settings.templates, **self.store.templates()}

    def list_templates(self, principal: Principal) -> list[dict[str, str]]:
        """Every (locale, topic) with the template in force and where it comes from."""
        require(principal, MANAGE_USERS)
        edited = self.store.templates()
        out = []
        for locale in LOCALES:
            for topic in Topic:
                key = (locale, topic)
                source = ("admin" if key in edited else
                          "config" if key in self.settings.templates else "default")
                subject, body = (edited.get(key) or self.settings.templates.get(key)
                                 or DEFAULT_TEMPLATES[key])
                out.append({"locale": locale, "topic": topic.value, "subject": subject,
                            "body": body, "source": source})
        return out

    def set_template(self, principal: Principal, locale: str, topic: Topic, *,
                     subject: str, body: str) -> None:
        """An admin's edit of one template (zh-CN or en); `{name}` fields as the defaults."""
        require(principal, MANAGE_USERS)
        if locale not in LOCALES:
            raise ValidationError("template_malformed", field="locale")
        for name, text in (("subject", subject), ("body", body)):
            try:
                template_names(text)
            except ValueError:
                raise ValidationError("template_malformed", field=name) from None
        self.store.set_template(locale, topic, subject, body, actor=principal.username,
                                now=self.clock.now())
        self._load_templates()

    def reset_template(self, principal: Principal, locale: str, topic: Topic) -> None:
        require(principal, MANAGE_USERS)
        self.store.delete_template(locale, topic)
        self._load_templates()

    def counts(self) -> dict[tuple[str, str], int]:
        """(status, channel) → deliveries, for /metrics."""
        return self.store.outbox_counts()


def _mask(address: str) -> str:
    """An address as operators see it in lists: enough to recognise, not to copy."""
    if len(address) <= 4:
        return "*" * len(address)
    return address[:3] + "*" * (len(address) - 5) + address[-2:]


def _public(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "idempotency_key": d.idempotency_key, "notice": d.notice_key,
            "topic": d.topic, "issue_id": d.issue_id, "number": d.params.get("number"),
            "recipient": d.recipient, "channel": d.channel, "address": _mask(d.address),
            "status": d.status, "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat(), "last_error": d.last_error,
            "created_at": d.created_at.isoformat()}
