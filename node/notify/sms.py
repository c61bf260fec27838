"""SMS through an HTTP gateway: one JSON POST per message.

The request (the generic shape; a province's platform gets its own adapter, see
node/notify/__init__.py):

    POST <notify.sms.url>
    Authorization: Bearer <token>            (when configured)
    Idempotency-Key: zt1-…                   (the same on every attempt of this message)
    {"id": "zt1-…", "phone": "139…", "sign_name": "<signature>",
     "template_id": "<template_ids[topic]>" | null, "params": {...}, "text": "…"}

2xx: accepted. 408, 429 and 5xx (and a timeout, a refused connection): tried again later
with backoff. Any other 4xx: refused for good (parked). Gateway operators: deduplicate on
`Idempotency-Key` (= `id`) — Zhitong resends a message whose answer it did not record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.app.notify import DeliveryFailed, OutgoingMessage
from node.domain.notifications import Topic
from node.notify.settings import SmsSettings

if TYPE_CHECKING:  # imported when the first message is sent, not when the node starts
    import httpx


def check_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    permanent = 400 <= status < 500 and status not in (408, 425, 429)
    raise DeliveryFailed(f"{what} answered {status}: {response.text[:200]}",
                         permanent=permanent)


class PooledHttp:
    """One HTTP client (its TLS context and pooled connections) for every message of an
    adapter: a new client per message costs ~50 ms of CPU for the TLS context alone."""

    timeout_s: float
    _client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class HttpSmsGateway(PooledHttp):
    name = "sms"

    def __init__(self, settings: SmsSettings) -> None:
        assert settings.url is not None
        self.url = settings.url
        self.settings = settings
        self.timeout_s = settings.timeout_s
        self._client: httpx.AsyncClient | None = None
        self._token = settings.secret()


    async def send(self, message: OutgoingMessage) -> None:
        headers = {"Idempotency-Key": message.idempotency_key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        template = self.settings.template_ids.get(Topic(message.topic))
        body = {"id": message.idempotency_key, "phone": message.address,
                "sign_name": self.settings.signature, "template_id": template,
                "params": dict(message.params), "text": message.body}
        response = await self._http().post(self.url, json=body, headers=headers)
        check_status(response, "SMS gateway")
