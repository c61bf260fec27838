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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from node.app.ports import Clock, IssueScan, TagLibraryReads
from node.app.probes import NO_PROBE, Probe, Stage
from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.summary import (
    AUDIT_HEAD,
    Summary,
    decode,
    fold,
    from_parts,
    rewritten_chains,
)
from node.domain.topology import Place
from node.i18n import operator_text

log = logging.getLogger("zhitong.app.rollup")


class UnitCatalogueFeed(Protocol):
    """What the summaries carry of the organisation units (node/app/units.py UnitService)."""

    def published(self) -> list[dict[str, Any]]: ...

    def adopt(self, child: str, records: Sequence[Mapping[str, Any]]) -> int: ...


class CaseLibraryFeed(Protocol):
    """What the summaries carry of the case library (node/app/cases.py CaseService)."""

    def published(self) -> list[dict[str, Any]]: ...

    def adopt(self, child: str, records: Sequence[Mapping[str, Any]]) -> int: ...


class Rollup:
    def __init__(self, scan: IssueScan, place: Place, clock: Clock,
                 calendar: WorkCalendar, *, children_send_summaries: bool,
                 probe: Probe = NO_PROBE, tags: TagLibraryReads | None = None,
                 units: UnitCatalogueFeed | None = None) -> None:
        self.scan = scan
        #: the case library (node/app/cases.py): this node's published cases and its
        #: subtree's travel in its summary; a child's are kept (set by the runtime)
        self.cases: CaseLibraryFeed | None = None
        #: the organisation units: this node's travel in its summary; a child's are kept
        self.units = units
        #: the tag library: the summary counts tags by its ids and names them
        self.tags = tags
        self._tag_names: dict[str, str] = {}
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
        #: the 有感指数's sums per unit (node/app/index.py `summary_index`): set at a city,
        #: whose summary carries them for itself and each county
        self.index: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None
        #: keyed signatures of the subtree's open issues (node/app/similarity.py): set at a
        #: city, whose summary carries them for the province's cross-city duplicates
        self.signatures: Callable[[], Sequence[Mapping[str, str]]] | None = None
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
            heads = {w: head for w, head in view.chain_heads().items()
                     if mine(w.removeprefix(AUDIT_HEAD))}  # event and audit chains
        library = self.tags.library() if self.tags is not None else None
        self._tag_names = library.names_map() if library is not None else {}
        self._own = replace(from_parts(self.place.code, parts, now=now,
                                       by_origin=not self.children_send_summaries,
                                       tag_key=library.canonical_map() if library else None,
                                       tag_names=self._tag_names),
                            chains=heads,
                            units=tuple(self.units.published()) if self.units else ())
        if self.cases is not None:
            try:
                self._own = replace(self._own, cases=tuple(self.cases.published()))
            except Exception:  # never stops the summary: it goes without the cases
                log.exception("the published cases of %s were not read", self.place.code)
        if self.signatures is not None:
            try:
                self._own = replace(self._own, signatures=tuple(self.signatures()))
            except Exception:  # never stops the summary: it goes without the signatures
                log.exception("the signatures of %s were not computed", self.place.code)
        if self.index is not None and not self.children_send_summaries:
            try:
                self._own = with_index(self._own, self.index())
            except Exception:  # never stops the summary: it goes without the index sums
                log.exception("the index sums of %s were not computed", self.place.code)
        return self.refold()

    def refold(self) -> Summary:
        """The summary from the last local scan and the children's latest (cheap)."""
        if self._own is None:
            return self.compute()
        summary = (fold(self._own, self.children.values(), names=self._tag_names)
                   if self.children_send_summaries else self._own)
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
        if self.units is not None and summary.units:
            try:  # the child's catalogue, so that its unit ids have names here
                self.units.adopt(child, summary.units)
            except Exception:  # never stops the summaries
                log.exception("the units published by %s were not kept", child)
        if self.cases is not None:
            try:  # the child's (and its subtree's) published cases, kept in the library
                self.cases.adopt(child, summary.cases)
            except Exception:  # never stops the summaries
                log.exception("the cases published by %s were not kept", child)
        return True


def with_index(summary: Summary, sums: Mapping[str, Mapping[str, Any]]) -> Summary:
    """`summary` and its children with the index sums of their units (`sums`: unit →
    period key → sums)."""
    kids = {code: replace(kid, index=dict(sums.get(code, {})))
            for code, kid in summary.children.items()}
    return replace(summary, index=dict(sums.get(summary.node, {})), children=kids)
