"""Waiting on a condition with a deadline: the one way tests wait (never a bare sleep).

`until` (async) and `until_sync` check `predicate` every `interval_s` until it holds and
return the seconds that took; past `timeout_s` they raise AssertionError naming `what`.
The async one also takes a predicate that returns an awaitable (a JetStream query, say).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(predicate: Callable[[], bool | Awaitable[bool]], *, timeout_s: float = 30.0,
                what: str = "condition", interval_s: float = 0.05) -> float:
    started = time.monotonic()
    while True:
        answer = predicate()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)  # the polling interval, inside the deadline


def until_sync(predicate: Callable[[], bool], *, timeout_s: float = 30.0,
               what: str = "condition", interval_s: float = 0.05) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)  # the polling interval, inside the deadline
    return time.monotonic() - started
