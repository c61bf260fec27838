"""Named retry policies. Short retries live inside a call; long outages belong to the
persisted, capped, jittered backoff of the outbox (node/app/transfers/types.py: Backoff)."""

from __future__ import annotations

import grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from federation.failures import is_retryable


def _transient(exc: BaseException) -> bool:
    """A failed call worth repeating at once: what the error table (or, for a failure
    without a known code, the gRPC status) says may succeed if simply tried again."""
    return isinstance(exc, grpc.RpcError) and is_retryable(exc)


def short_call_retries(attempts: int = 3) -> AsyncRetrying:
    """A blip: up to `attempts` tries, up to 0.1 s → 1 s apart (full jitter), retryable
    failures only."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception(_transient),
        reraise=True,
    )
