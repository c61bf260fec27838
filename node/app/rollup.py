"""The node's subtree summary: computed from the store, folded with the children's.

A node whose children replicate in full (a city) computes its subtree summary straight
from its store (counts the store keeps per unit of origin, updated by every issue write),
with one child summary per unit of origin. A node whose children send
only summaries (the province) folds the children's latest summaries with its own issues.
The NATS side (federation/summaries.py) hands the children's summaries in (`accept`) and
publishes `latest`; the API reads it.

A child's summary is foreign input: one that does not decode is counted in `malformed`
and skipped — the child's last good summary, if any, stays — and never stops this node
from computing its own. Each scan goes through the probe (node/app/probes.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

from node.app.ports import Clock, IssueScan
from node.app.probes import NO_PROBE, Probe, Stage
from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.summary import Summary, decode, fold, from_parts, rewritten_chains
from node.domain.topology import Place
from node.i18n import operator_text

log = logging.getLogger("zhitong.app.rollup")


class Rollup:
    def __init__(self, scan: IssueScan, place: Place, clock: Clock,
                 calendar: WorkCalendar, *, children_send_summaries: bool,
                 probe: Probe = NO_PROBE) -> None:
        self.scan = scan
        self.place = place
        self.clock = clock
        self.calendar = calendar
        self.children_send_summaries = children_send_summaries
        self.probe = probe
        self.children: dict[str, Summary] = {}
        #: summaries ignored per child (malformed, or published under another child's name)
        self.malformed: Counter[str] = Counter()
        #: per writer, how often a child's summary showed its chain head rewritten
        self.rewritten: Counter[str] = Counter()
        self.latest: Summary | None = None
        self._own: Summary | None = None  # the local part, from the last read
        self._last_bad: dict[str, bytes] = {}  # per child, the last summary ignored

    def compute(self) -> Summary:
        """Read the local part from the store and fold the children's.

        The store keeps each unit of origin's counts in the transactions that write its
        issues, and reads the lights and the overdue list from the running rows (indexed):
        the cost depends on the number of units and of running issues, not on every issue
        the node holds."""
        with self.probe.timed(Stage.ROLLUP_COMPUTE):
            return self._compute()

    def _compute(self) -> Summary:
        now = self.clock.now()
        subtree = set(self.place.subtree)
        mine = ((lambda origin: origin == self.place.code) if self.children_send_summaries
                else (lambda origin: origin in subtree))
        with self.scan.read() as view:
            parts = {o: part for o, part in view.summary_parts(now).items() if mine(o)}
            heads = {w: head for w, head in view.chain_heads().items() if mine(w)}
        self._own = replace(from_parts(self.place.code, parts, now=now,
                                       by_origin=not self.children_send_summaries),
                            chains=heads)
        return self.refold()

    def refold(self) -> Summary:
        """The summary from the last local scan and the children's latest (cheap)."""
        if self._own is None:
            return self.compute()
        summary = (fold(self._own, self.children.values()) if self.children_send_summaries
                   else self._own)
        self.latest = summary
        return summary

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
            problem = f"malformed: {operator_text(exc)}"
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
        if child in self.children:
            for writer in rewritten_chains(self.children[child], summary):
                self.rewritten[writer] += 1
                log.error("the hash chain head of %s, vouched for by %s, went back or "
                          "changed in place: that history was rewritten", writer, child)
        self.children[child] = summary
        return True
