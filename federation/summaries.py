"""Subtree summaries: compute on change (debounced), publish, fold the children's.

A node whose children replicate in full (a city) computes its subtree summary straight
from its store, with one child summary per unit of origin. A node whose children send
only summaries (the province) folds the children's latest published summaries with its
own issues. Either way the result is published on `zt.<code>.sum` (the parent sources it)
and kept in memory for the API.

A child's summary is foreign input: one that does not decode (or that cannot be read) is
logged, counted in `Summaries.malformed` and skipped — the child's last good summary, if
any, stays — and never stops this node from computing and publishing its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from federation.nats.streams import Place, summary_stream, summary_subject
from node.app.ports import Clock
from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.lifecycle import deadline_runs
from node.domain.summary import (
    IssueLine,
    Summary,
    decode,
    encode,
    fold,
    summarize,
    summary_line,
)
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
        #: summaries ignored per child (malformed, or published under another child's name)
        self.malformed: Counter[str] = Counter()
        self._read_seq: dict[str, int] = {}  # per child, the stream sequence last looked at
        self.latest: Summary | None = None
        self._own: Summary | None = None  # the local part, from the last scan
        self._lines: dict[str, tuple[int, IssueLine]] = {}  # static lines, by version
        self.changed = asyncio.Event()
        self.pushed = asyncio.Event()  # a child's summary arrived by push
        self.pushes = 0  # children's summaries received by push
        self._last_bad: dict[str, bytes] = {}  # per child, the last summary ignored

    def compute(self) -> Summary:
        """Scan the store for the local part (the expensive step) and fold the children's.

        Only (id, version, origin) is read for every issue; a full row only for issues
        whose line may have changed: a new version, or a running deadline (its light
        changes with time). Lines of issues with no running deadline — most of a year's
        issues, closed — are kept from the last scan by version."""
        now = self.clock.now()
        subtree = set(self.place.subtree)
        mine = ((lambda origin: origin == self.place.code) if self.children_send_summaries
                else (lambda origin: origin in subtree))
        with self.store.read() as conn:
            heads = [(i, v) for i, v, origin in repo.issue_heads(conn) if mine(origin)]
            stale = [i for i, v in heads if self._lines.get(i, (0, None))[0] != v]
            fresh = {issue.id: issue for issue in repo.issues_by_ids(conn, stale)}
        lines: list[IssueLine] = []
        kept: dict[str, tuple[int, IssueLine]] = {}
        for issue_id, version in heads:
            cached = self._lines.get(issue_id)
            if cached is not None and cached[0] == version:
                lines.append(cached[1])
                kept[issue_id] = cached
                continue
            issue = fresh.get(issue_id)
            if issue is None:  # changed between the two reads: counted next time
                continue
            line = summary_line(issue, now, self.calendar)
            lines.append(line)
            if not deadline_runs(issue):
                kept[issue_id] = (issue.version, line)
        self._lines = kept
        self._own = summarize(self.place.code, lines, now=now,
                              by_origin=not self.children_send_summaries)
        return self.refold()

    def refold(self) -> Summary:
        """The summary from the last local scan and the children's latest (cheap)."""
        if self._own is None:
            return self.compute()
        summary = (fold(self._own, self.children.values()) if self.children_send_summaries
                   else self._own)
        self.latest = summary
        return summary

    async def read_children(self, js: JetStreamContext) -> bool:
        """Refresh the children's latest summaries from the stream; True when any changed."""
        changed = False
        for child in self.place.children:
            try:
                msg = await js.get_last_msg(summary_stream(self.place.code),
                                            summary_subject(child))
            except NotFoundError:
                continue
            except Exception as exc:  # the stream is unreachable: keep what we have
                log.info("summary of %s not read: %s", child, exc)
                continue
            if msg.seq is not None:
                if self._read_seq.get(child) == msg.seq:
                    continue  # already looked at (and counted, if it was malformed)
                self._read_seq[child] = msg.seq
            changed = self.accept(child, msg.data or b"") or changed
        return changed

    def accept(self, child: str, data: bytes) -> bool:
        """Take `child`'s published summary if it is well-formed; True when it changed.
        (The same message arrives twice, pushed and from the stream: a bad one is counted
        once.)"""
        if self._last_bad.get(child) == data:
            return False
        try:
            summary = decode(data)
            problem = (None if summary.node == child
                       else f"a summary of {summary.node} published as {child}")
        except ValidationError as exc:
            problem = f"malformed: {exc.message_en}"
        except Exception as exc:  # decode's contract is ValidationError only: a bug
            log.exception("a summary from %s failed to decode", child)
            problem = f"failed to decode: {exc!r}"
        if problem is not None:
            self.malformed[child] += 1
            self._last_bad[child] = data
            log.warning("ignored a summary from %s: %s", child, problem)
            return False
        if self.children.get(child) == summary:
            return False
        if (child in self.children
                and summary.as_of < self.children[child].as_of):  # an older one, late
            return False
        self.children[child] = summary
        return True

    async def watch_children(self, nc: NATS) -> list[Any]:
        """Core subscriptions to the children's summary subjects: a child's new summary
        reaches this node as it is published (the leaf link lets `zt.<child>.sum` up), so
        the province re-folds at once instead of at its next poll of the stream."""
        subs = []
        for child in self.place.children:
            async def arrived(msg: Msg, child: str = child) -> None:
                self.pushes += 1
                if self.accept(child, msg.data):
                    self.pushed.set()

            subs.append(await nc.subscribe(summary_subject(child), cb=arrived))
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
        if nc is not None and self.children_send_summaries:
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
                children_changed = (await self.read_children(js)
                                    if self.children_send_summaries else False)
                if self.pushed.is_set():
                    self.pushed.clear()
                    children_changed = True
                if rescan or time.monotonic() - scanned_at >= refresh_s:
                    started = time.monotonic()
                    summary = await asyncio.to_thread(self.compute)
                    scanned_at = time.monotonic()
                    compute_s = scanned_at - started
                    rescan = False
                elif children_changed or self.latest is None:
                    summary = self.refold()
                else:
                    summary = self.latest
                comparable = encode(replace(summary, as_of=EPOCH))  # ignore the timestamp
                if comparable != last_sent:
                    await js.publish(summary_subject(self.place.code), encode(summary),
                                     timeout=5)
                    last_sent = comparable
            except Exception as exc:
                log.info("summary not published: %s", exc)
            waiters = [asyncio.ensure_future(stop.wait()),
                       asyncio.ensure_future(self.changed.wait()),
                       asyncio.ensure_future(self.pushed.wait())]
            timeout = poll_s if self.children_send_summaries else refresh_s
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self.changed.is_set():
                self.changed.clear()
                rescan = True
                # debounce: one publish for a burst; and never spend more than ~20 % of
                # the time recomputing, however fast changes arrive
                await asyncio.sleep(max(debounce_s, 4 * compute_s))
