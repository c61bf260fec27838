"""E-mail over SMTP: STARTTLS, then AUTH, then one message (smtplib, in a worker thread).

The message's `Message-ID` is `<idempotency key@node.zhitong>`, the same on every attempt,
so a mail system (or a reader's client) that deduplicates on it shows a resent message
once. A 5xx answer to the recipient or the data is permanent (parked); anything else —
a timeout, a refused connection, a 4xx — is tried again with backoff.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from node.app.notify import DeliveryFailed, OutgoingMessage
from node.notify.settings import EmailSettings


def message_id(idempotency_key: str, node: str) -> str:
    return f"<{idempotency_key}@{node}.zhitong>"


class SmtpMailer:
    name = "email"

    def __init__(self, settings: EmailSettings, *, node: str) -> None:
        assert settings.host is not None and settings.sender is not None
        self.settings = settings
        self.node = node
        self.timeout_s = settings.timeout_s + 1  # smtplib's own socket timeout fires first
        self._password = settings.secret()

    def _context(self) -> ssl.SSLContext:
        ca = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def build(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = str(self.settings.sender)
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(message.idempotency_key, self.node)
        mail["X-Zhitong-Topic"] = message.topic
        mail.set_content(message.body)
        return mail

    def _send(self, message: OutgoingMessage) -> None:
        s = self.settings
        assert s.host is not None
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if s.user:
                    smtp.login(s.user, self._password or "")
                smtp.send_message(self.build(message))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"SMTP login refused: {exc.smtp_code}", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryFailed(f"SMTP refused the recipient: {codes}",
                                 permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP answered {exc.smtp_code}",
                                 permanent=exc.smtp_code >= 500) from None

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._send, message)
