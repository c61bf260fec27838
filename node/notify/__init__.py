"""Notification channel adapters (node.app.notify.ChannelAdapter) and their settings.

* `sms.HttpSmsGateway` — SMS through an HTTP gateway: one JSON POST per message.
* `email.SmtpMailer` — e-mail over SMTP with STARTTLS and AUTH (smtplib, in a thread).
* `oa.OaWebhook` — a JSON POST to the OA system, signed with HMAC-SHA256.

Plugging in a province's SMS platform: write a class with `name`, `timeout_s` and
`async send(message: OutgoingMessage) -> None` that returns once the platform accepted
the message and raises `DeliveryFailed(reason, permanent=...)` otherwise (permanent: no
retry can fix it, e.g. an unknown template; the delivery is parked at once). Pass
`message.idempotency_key` to the platform as its request or "out id" so that a resent
message (after a timeout, or a crash before the outcome was recorded) is recognised; then
return it from `adapters(...)` below under its channel name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.notify.settings import NotifySection

if TYPE_CHECKING:
    from node.app.notify import ChannelAdapter, NotifyService
    from node.app.ports import Clock
    from node.store.repo import Store


def adapters(settings: NotifySection, *, node: str) -> dict[str, ChannelAdapter]:
    """The adapters of the channels the settings enable (the in-app inbox needs none)."""
    from node.notify.email import SmtpMailer
    from node.notify.oa import OaWebhook
    from node.notify.sms import HttpSmsGateway

    out: dict[str, ChannelAdapter] = {}
    if settings.sms.enabled:
        out["sms"] = HttpSmsGateway(settings.sms)
    if settings.email.enabled:
        out["email"] = SmtpMailer(settings.email, node=node)
    if settings.oa.enabled:
        out["oa"] = OaWebhook(settings.oa, node=node)
    return out


def build_notify(settings: NotifySection, *, node: str, store: Store, clock: Clock
                 ) -> NotifyService | None:
    """The node's notifications, wired (node/runtime.py): the outbox projection registered
    on `store`, the use cases with the enabled adapters; None when `notify.enabled` is off
    (then nothing is written and nothing sent)."""
    if not settings.enabled:
        return None
    from node.app.notify import NotifyService, NotifySettings
    from node.app.transfers import Backoff
    from node.domain.notifications import DEFAULT_GROUPS, NotifyRules, Topic
    from node.store.notifications import NotificationProjection, SqlNotifyStore

    groups = {**DEFAULT_GROUPS, **settings.recipients}
    rules = NotifyRules(groups=groups, base_url=settings.base_url)
    store.projections.append(NotificationProjection(rules, node))
    templates: dict[tuple[str, Topic], tuple[str, str]] = {
        (locale, topic): (t.subject, t.body)
        for locale, by_topic in settings.templates.items() for topic, t in by_topic.items()}
    return NotifyService(
        store=SqlNotifyStore(store, node),
        settings=NotifySettings(
            node=node, rules=rules, inbox=settings.inbox.enabled,
            enterprise_channels=settings.enterprise_channels,
            staff_channels=settings.staff_channels, locale=settings.locale,
            max_attempts=settings.max_attempts, batch_size=settings.batch_size,
            poll_every_s=settings.poll_every_s,
            light_scan_every_s=settings.light_scan_every_s, templates=templates,
            quiet_hours=settings.sms.quiet(), quiet_exempt=frozenset(settings.sms.quiet_exempt)),
        clock=clock, adapters=adapters(settings, node=node),
        backoff=Backoff(initial_s=settings.backoff_initial_s, max_s=settings.backoff_max_s),
        subscribe=store.after_commit.append)
