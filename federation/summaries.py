"""Subtree summaries on NATS: read and watch the children's, publish the node's own.

The summary itself is a use case (node/app/rollup.py: computed from the store, folded with
the children's); this adapter moves it. The node's summary is published on
`zt.<code>.sum` (the parent sources it) whenever it changes; a province reads its
children's latest from its summary stream and also gets each new one pushed as it is
published. A child's summary that does not decode, or that cannot be read, is skipped by
the rollup and never stops this node from publishing its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from federation.nats.streams import summary_stream
from federation.nats.subjects import Subject
from node.app.rollup import Rollup
from node.domain.summary import encode
from node.domain.topology import Place

log = logging.getLogger("zhitong.federation.summaries")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class SummaryFeed:
    def __init__(self, rollup: Rollup, place: Place) -> None:
        self.rollup = rollup
        self.place = place
        self._read_seq: dict[str, int] = {}  # per child, the stream sequence last looked at
        self.changed = asyncio.Event()  # a local commit: re-scan (debounced)
        self.pushed = asyncio.Event()  # a child's summary arrived by push
        self.pushes = 0  # children's summaries received by push

    async def read_children(self, js: JetStreamContext) -> bool:
        """Refresh the children's latest summaries from the stream; True when any changed."""
        changed = False
        for child in self.place.children:
            try:
                msg = await js.get_last_msg(summary_stream(self.place.code),
                                            Subject.summary(child).build())
            except NotFoundError:
                continue
            except Exception as exc:  # the stream is unreachable: keep what we have
                log.info("summary of %s not read: %s", child, exc)
                continue
            if msg.seq is not None:
                if self._read_seq.get(child) == msg.seq:
                    continue  # already looked at (and counted, if it was malformed)
                self._read_seq[child] = msg.seq
            changed = self.rollup.accept(child, msg.data or b"") or changed
        return changed

    async def watch_children(self, nc: NATS) -> list[Any]:
        """Core subscriptions to the children's summary subjects: a child's new summary
        reaches this node as it is published (the leaf link lets `zt.<child>.sum` up), so
        the province re-folds at once instead of at its next poll of the stream."""
        subs = []
        for child in self.place.children:
            async def arrived(msg: Msg, child: str = child) -> None:
                self.pushes += 1
                if self.rollup.accept(child, msg.data):
                    self.pushed.set()

            subs.append(await nc.subscribe(Subject.summary(child).build(), cb=arrived))
        return subs

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *,
                  nc: NATS | None = None, debounce_s: float = 0.3, poll_s: float = 2.0,
                  refresh_s: float = 60.0) -> None:
        """Publish the summary whenever it changes.

        The local part is re-scanned after a local change (debounced) and every
        `refresh_s` (lights turn yellow and red as time passes, without any write); a
        province re-folds (cheap) as soon as a child's summary is pushed to it, and also
        reads them from its stream every `poll_s` (what it missed while disconnected). An
        idle node thus scans once a minute, not every poll."""
        # a city watches too: its counties' summaries bring their published cases
        # (node/app/cases.py), kept at once rather than at the next minute's re-scan
        if nc is not None and self.place.children:
            try:
                await self.watch_children(nc)
            except Exception as exc:  # the stream poll still covers it
                log.info("children's summaries not watched: %r", exc)
        last_sent: bytes | None = None
        compute_s = 0.0
        scanned_at = -refresh_s
        rescan = True
        while not stop.is_set():
            try:
                # a city folds no child summary (it replicates its counties in full), yet
                # reads them: they carry the chain heads and the units' catalogues
                children_changed = (await self.read_children(js)
                                    and self.rollup.children_send_summaries)
                if self.pushed.is_set():
                    self.pushed.clear()
                    children_changed = True
                if rescan or time.monotonic() - scanned_at >= refresh_s:
                    started = time.monotonic()
                    summary = await asyncio.to_thread(self.rollup.compute)
                    scanned_at = time.monotonic()
                    compute_s = scanned_at - started
                    rescan = False
                elif children_changed or self.rollup.latest is None:
                    summary = self.rollup.refold()
                else:
                    summary = self.rollup.latest
                comparable = encode(replace(summary, as_of=EPOCH))  # ignore the timestamp
                if comparable != last_sent:
                    await js.publish(Subject.summary(self.place.code).build(), encode(summary),
                                     timeout=5)
                    last_sent = comparable
            except Exception as exc:
                log.info("summary not published: %s", exc)
            waiters = [asyncio.ensure_future(stop.wait()),
                       asyncio.ensure_future(self.changed.wait()),
                       asyncio.ensure_future(self.pushed.wait())]
            timeout = poll_s if self.rollup.children_send_summaries else refresh_s
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self.changed.is_set():
                self.changed.clear()
                rescan = True
                # debounce: one publish for a burst; and never spend more than ~20 % of
                # the time recomputing, however fast changes arrive
                await asyncio.sleep(max(debounce_s, 4 * compute_s))
