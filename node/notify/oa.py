"""The OA webhook: a JSON POST signed with HMAC-SHA256, which the receiver can verify.

    POST <notify.oa.url>
    Content-Type: application/json
    Idempotency-Key: zt1-…
    X-Zhitong-Node: 330522
    X-Zhitong-Timestamp: 1764678000                       (Unix seconds)
    X-Zhitong-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    {"id": "zt1-…", "recipient": "<OA account>", "topic": "urged", "subject": "…",
     "body": "…", "issue_id": "…", "number": "…", "link": "…"}

Verifying (the receiver): recompute the HMAC over the timestamp, a dot and the raw body
bytes exactly as received, compare in constant time (`hmac.compare_digest`), refuse a
timestamp more than five minutes off, and deduplicate on `Idempotency-Key` — the same
message may arrive again after a timeout. Answers as for the SMS gateway (node/notify/sms.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from node.app.notify import OutgoingMessage
from node.notify.settings import OaSettings
from node.notify.sms import PooledHttp, check_status

if TYPE_CHECKING:
    import httpx


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Zhitong-Signature header value of `body` sent at `timestamp`."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, header: str, *,
           now: float | None = None, tolerance_s: float = 300) -> bool:
    """What a receiver checks (a reference implementation, used by the tests)."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class OaWebhook(PooledHttp):
    name = "oa"

    def __init__(self, settings: OaSettings, *, node: str) -> None:
        assert settings.url is not None
        self.url = settings.url
        self.node = node
        self.timeout_s = settings.timeout_s
        self._client: httpx.AsyncClient | None = None
        self._secret = settings.shared_secret()


    async def send(self, message: OutgoingMessage) -> None:
        body = json.dumps({
            "id": message.idempotency_key, "recipient": message.address,
            "topic": message.topic, "subject": message.subject, "body": message.body,
            "issue_id": message.issue_id, "number": message.params.get("number"),
            "link": message.params.get("work_url"),
        }, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": message.idempotency_key,
                   "X-Zhitong-Node": self.node, "X-Zhitong-Timestamp": timestamp,
                   "X-Zhitong-Signature": signature(self._secret, timestamp, body)}
        response = await self._http().post(self.url, content=body, headers=headers)
        check_status(response, "OA webhook")
