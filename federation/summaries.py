"""Subtree summaries: compute on change (debounced), publish, fold the children's.

A node whose children replicate in full (a city) computes its subtree summary straight
from its store, with one child summary per unit of origin. A node whose children send
only summaries (the province) folds the children's latest published summaries with its
own issues. Either way the result is published on `zt.<code>.sum` (the parent sources it)
and kept in memory for the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from federation.nats.streams import Place, summary_stream, summary_subject
from node.app.ports import Clock
from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.summary import Summary, decode, encode, fold, summarize, summary_line
from node.store import repo
from node.store.repo import Store

log = logging.getLogger("zhitong.federation.summaries")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Summaries:
    def __init__(self, store: Store, place: Place, clock: Clock, calendar: WorkCalendar, *,
                 children_send_summaries: bool) -> None:
        self.store = store
        self.place = place
        self.clock = clock
        self.calendar = calendar
        self.children_send_summaries = children_send_summaries
        self.children: dict[str, Summary] = {}
        self.latest: Summary | None = None
        self.changed = asyncio.Event()

    def compute(self) -> Summary:
        now = self.clock.now()
        subtree = set(self.place.subtree)
        with self.store.read() as conn:
            lines = [summary_line(i, now, self.calendar) for i in repo.all_issues(conn)
                     if (i.origin == self.place.code if self.children_send_summaries
                         else i.origin in subtree)]
        own = summarize(self.place.code, lines, now=now,
                        by_origin=not self.children_send_summaries)
        summary = fold(own, self.children.values()) if self.children_send_summaries else own
        self.latest = summary
        return summary

    async def read_children(self, js: JetStreamContext) -> bool:
        """Refresh the children's latest summaries; True when any changed."""
        changed = False
        for child in self.place.children:
            try:
                msg = await js.get_last_msg(summary_stream(self.place.code),
                                            summary_subject(child))
            except NotFoundError:
                continue
            try:
                summary = decode(msg.data or b"")
            except ValidationError as exc:
                log.warning("ignored a malformed summary from %s: %s", child, exc.message_en)
                continue
            if summary.node != child:
                log.warning("ignored a summary of %s published as %s", summary.node, child)
                continue
            if self.children.get(child) != summary:
                self.children[child] = summary
                changed = True
        return changed

    async def run(self, js: JetStreamContext, stop: asyncio.Event, *,
                  debounce_s: float = 0.3, poll_s: float = 2.0) -> None:
        last_sent: bytes | None = None
        compute_s = 0.0
        while not stop.is_set():
            try:
                if self.children_send_summaries:
                    await self.read_children(js)
                started = time.monotonic()
                summary = await asyncio.to_thread(self.compute)
                compute_s = time.monotonic() - started
                body = encode(summary)
                comparable = encode(replace(summary, as_of=EPOCH))  # ignore the timestamp
                if comparable != last_sent:
                    await js.publish(summary_subject(self.place.code), body, timeout=5)
                    last_sent = comparable
            except Exception as exc:
                log.info("summary not published: %s", exc)
            waiters = [asyncio.ensure_future(stop.wait()),
                       asyncio.ensure_future(self.changed.wait())]
            await asyncio.wait(waiters, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self.changed.is_set():
                self.changed.clear()
                # debounce: one publish for a burst; and never spend more than ~20 % of
                # the time recomputing, however fast changes arrive
                await asyncio.sleep(max(debounce_s, 4 * compute_s))
