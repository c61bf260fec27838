"""Named retry policies. Short retries live inside a call; long outages belong to the
persisted, capped, jittered backoff of the outbox (federation/transfers.py: Backoff)."""

from __future__ import annotations

import grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from federation.errors import RETRYABLE


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in RETRYABLE


def short_call_retries(attempts: int = 3) -> AsyncRetrying:
    """A blip: up to `attempts` tries, up to 0.1 s → 1 s apart (full jitter), transient codes
    only."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception(_transient),
        reraise=True,
    )
