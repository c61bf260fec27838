"""The reconciler: re-publish what the parent has not applied (the dedupe window is short).

It asks the parent how far it has applied this node's stream (gRPC Watermark) and, when
the parent stayed behind the same mark across two checks while this node's broker does
not hold everything published either, marks everything beyond as unpublished, so that
the publisher sends it again. The re-send goes through the probe (node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from federation.replication.waits import wait_any
from node.app.ports import EventOutbox
from node.app.probes import NO_PROBE, Probe, Stage

log = logging.getLogger("zhitong.federation.streams")


class Reconciler:
    """Re-publish what the parent has not seen (the broker's dedupe window is short)."""

    def __init__(self, outbox: EventOutbox, code: str,
                 watermark: Callable[[], Awaitable[int]], *,
                 own_stream_messages: Callable[[], Awaitable[int]] | None = None,
                 probe: Probe = NO_PROBE) -> None:
        self.outbox = outbox
        self.code = code
        self.watermark = watermark
        self.own_stream_messages = own_stream_messages
        self.probe = probe
        self._suspect: int | None = None

    def _behind(self, through: int) -> int:
        return self.outbox.published_through(self.code) - through

    def _resend(self, through: int) -> int:
        with self.probe.timed(Stage.RECONCILER_RESEND):
            count = self.outbox.republish_after(self.code, through)
        self.probe.mark(Stage.RECONCILER_RESENT, count=count)
        return count

    async def check_once(self) -> int:
        """Returns how many events were scheduled for re-publishing."""
        through = await self.watermark()
        behind = await asyncio.to_thread(self._behind, through)
        if behind <= 0:
            self._suspect = None
            return 0
        # Only when the parent stayed behind the same mark across two checks: events in
        # flight through the broker must not be sent twice for nothing.
        if self._suspect != through:
            self._suspect = through
            return 0
        self._suspect = None
        if self.own_stream_messages is not None:
            published = through + behind
            if await self.own_stream_messages() >= published:
                # our broker holds every event we published: only the link to the parent is
                # down (or slow), and re-publishing would only add copies to our own stream
                return 0
        count = await asyncio.to_thread(self._resend, through)
        log.warning("parent has applied our stream through %d; re-publishing %d events",
                    through, count)
        return count

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, *, period_s: float = 30.0
                  ) -> None:
        while not stop.is_set():
            try:
                if await self.check_once():
                    wake.set()
            except Exception as exc:
                log.info("reconciliation skipped: %s", exc)
            await wait_any(stop, asyncio.Event(), period_s)
