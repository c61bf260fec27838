"""The publisher: the node's own events onto its stream, in writer order, exactly once.

The SQL event table is the truth and the outbox. Own events not yet acknowledged by the
broker (`published = false`) are published in writer order with the event id as
`Nats-Msg-Id`; only a PubAck counts, and the flag is set after it. A crash in between
re-publishes: the broker drops repeats inside its duplicate window, the appliers (by
version) beyond it. Each round's stages (read, publish, mark) go through the probe
(node/app/probes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.js import JetStreamContext

from federation.nats import messages
from federation.nats.subjects import Subject
from federation.replication.waits import wait_any
from node.app.ports import EventOutbox, LoggedEvent
from node.app.probes import NO_PROBE, Probe, Stage

log = logging.getLogger("zhitong.federation.streams")


class Publisher:
    def __init__(self, outbox: EventOutbox, code: str, *, window: int = 256,
                 probe: Probe = NO_PROBE) -> None:
        self.outbox = outbox
        self.code = code
        self.window = window
        self.probe = probe
        self.wake = asyncio.Event()

    def _pending(self) -> Sequence[tuple[LoggedEvent, str]]:
        with self.probe.timed(Stage.PUBLISHER_PENDING):
            found = self.outbox.pending(self.window)
        self.probe.mark(Stage.PUBLISHER_PICKED, [s.event_id for s, _ in found])
        return found

    def _mark(self, done: Sequence[LoggedEvent]) -> None:
        with self.probe.timed(Stage.PUBLISHER_MARK, [s.event_id for s in done]):
            self.outbox.mark_published([s.seq for s in done])

    async def publish_once(self, js: JetStreamContext) -> int:
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return 0
        with self.probe.timed(Stage.PUBLISHER_PUBLISH, [s.event_id for s, _ in pending]):
            results = await asyncio.gather(*(
                js.publish(Subject.event(self.code, origin, s.event.issue_id).build(),
                           messages.encode(s, origin), headers={"Nats-Msg-Id": s.event_id},
                           timeout=5)
                for s, origin in pending), return_exceptions=True)
        done: list[LoggedEvent] = []
        for (stored, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("publish of %s not acknowledged: %r", stored.event_id, result)
                break  # keep writer order: the rest goes again next round
            done.append(stored)
        if done:
            await asyncio.to_thread(self._mark, done)
        return len(done)

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *, poll_s: float = 2.0
                  ) -> None:
        # Woken by every local commit (Store.after_commit); the poll only catches writes
        # from another process (e.g. `zhitong demo seed`) — and costs CPU on idle nodes.
        while not stop.is_set():
            try:
                if await self.publish_once(js):
                    continue
            except Exception:
                log.exception("publisher failed; retrying")
            await wait_any(stop, self.wake, poll_s)
