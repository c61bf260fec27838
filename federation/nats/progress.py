"""Keeping fetched JetStream messages from redelivery while they are worked on.

A pull consumer's `ack_wait` is how long the server waits for an acknowledgement before
it delivers a message again. It is also how late a message comes back when the node that
fetched it died, or when a pull's messages reached a subscription that was just replaced:
the shorter it is, the sooner such a message is seen. A batch that takes longer than that
to apply (a gap repaired over gRPC, a slow disk) would be redelivered while still being
applied — harmless, the version check makes it a duplicate, but wasted work. So the
consumers use a short `ack_wait` and, while a batch is in hand, tell the server every
third of it that its unacknowledged messages are still being worked on (`+WPI`, which
resets the server's timer and may be sent any number of times).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from nats.aio.msg import Msg

#: seconds the server waits for an acknowledgement before delivering a message again
ACK_WAIT_S = 10.0


async def _keep(batch: Sequence[Msg], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)  # a timer, not a wait for a condition
        for msg in batch:
            if not msg.is_acked:
                with contextlib.suppress(Exception):  # the connection: redelivered, fine
                    await msg.in_progress()


@asynccontextmanager
async def in_progress(batch: Sequence[Msg], *, ack_wait_s: float = ACK_WAIT_S
                      ) -> AsyncIterator[None]:
    """While the body runs, every `ack_wait_s / 3` s mark the batch's messages not yet
    acknowledged (or nak'd, or terminated) as in progress."""
    keeper = asyncio.create_task(_keep(batch, ack_wait_s / 3))
    try:
        yield
    finally:
        keeper.cancel()
        await asyncio.wait([keeper])  # ends it; an outer cancellation still propagates
