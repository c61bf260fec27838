"""Periodic reports (月报、季报、年报): generated after each period closes, kept, listed, served.

How it works: `run_due(now)` — called by the runtime's report task every few minutes, and
by tests with their own `now` — takes, for each kind, the last complete period
(node/domain/reports.py `due_period`, `grace` after its end so late replicated events are
in) and, when this node keeps no report of it yet, builds and renders it and keeps it.
Idempotent and restart-safe through the store: one row per (node, kind, period) under a
unique index, so running twice, two processes racing, or a restart half-way make one
report (a loser's ConstraintViolation is the answer "already there"). Only the last
complete period is made: a node down for two months catches up the last month, not both
(a leader generates an older one on demand). A period in which no issue was received,
resolved or closed gets no scheduled report (a new node, a local federation's demo: no
burst of empty reports at start; a leader can still make one).

`generate` is the same for a period a leader or an admin names (`GENERATE_REPORT`); an
existing report is returned unchanged unless `replace` (then version + 1, new figures). A
period that has not ended is refused (`report_period_open`): its report would take the
period's key before the period's figures are complete. A special report (专项报告, kind
"special") is made the same way for a chosen span of at most a year and optionally chosen
tags and units (node/domain/reports.py `Special`); it is kept under a key per choice.

Where notifications are on, each report made (scheduled or on demand) is told to the node's
leaders (topic `report_ready`: in-app inbox, e-mail where configured) with links to it; the
notice is written in the transaction that keeps the report, under a key per report, so a
report is told once — never twice, not after a regeneration nor a lost race.

Figures: one read of the store's facts since the earliest instant the report compares with
(the same period a year before), folded by the pure domain; at a node whose children send
summaries only (the province) the child units come from their latest summaries. The
有感指数 ranking is node/app/index.py's own (`index`, wired by the runtime), never recomputed
here: the report's ranking is the one GET /api/v1/index answers for the period. Rendering
(node/app/report_files.py) happens outside the write transaction (SQLite has one writer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from node.app.policy import GENERATE_REPORT, VIEW_METRICS, Principal, require
from node.app.ports import (
    Clock,
    ConstraintViolation,
    ReportFiles,
    ReportStore,
    ReportUnit,
    StoredReport,
)
from node.app.report_files import title_for, to_pdf, to_xlsx
from node.domain.errors import NotFound, RuleViolation, ValidationError
from node.domain.issue import OPEN_STATES
from node.domain.notifications import NotifyRules, notice_for_report
from node.domain.reports import (
    KINDS,
    RECURRENCE_WINDOW,
    Kind,
    Period,
    Report,
    Special,
    SummaryRow,
    build,
    due_period,
    earliest_needed,
    parse_period,
    special,
)
from node.domain.summary import Summary
from node.domain.topology import Place, ancestors_of

log = logging.getLogger("zhitong.app.reports")

SYSTEM = "system"  # the actor of a scheduled report
FORMATS = {"pdf": "application/pdf",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_OPEN = frozenset(s.value for s in OPEN_STATES)


@dataclass(frozen=True, kw_only=True, slots=True)
class Download:
    report: StoredReport
    fmt: str
    data: bytes
    filename: str
    media_type: str
    sha256: str


class ReportService:
    def __init__(self, *, store: ReportStore, node: str, node_name: str, clock: Clock,
                 place: Place, font: Path, min_sample: int,
                 names: Mapping[str, str] | None = None,
                 summaries: Callable[[], Summary | None] | None = None,
                 recurrence_window: timedelta = RECURRENCE_WINDOW,
                 grace: timedelta = timedelta(minutes=10),
                 kinds: tuple[Kind, ...] = KINDS) -> None:
        self.store = store
        self.node = node
        self.node_name = node_name
        self.clock = clock
        self.place = place
        self.font = font
        self.min_sample = min_sample
        self.names = dict(names or {})
        self.summaries = summaries
        self.recurrence_window = recurrence_window
        self.grace = grace
        self.kinds = kinds
        #: the 有感指数 ranking of a period as of an instant (node/app/index.py `table`),
        #: set by the runtime once the index exists; None: reports without it
        self.index: Callable[[Period, datetime], dict[str, Any]] | None = None
        #: the notification rules where notifications are on (set by the runtime): each
        #: report made is told to the leaders, its notice written with the report
        self.notify_rules: NotifyRules | None = None

    # ------------------------------------------------------------------ content

    def unit_of(self, origin: str) -> str:
        """The child unit an issue of `origin` counts for (this node for its own)."""
        if origin == self.node or origin in self.place.children:
            return origin
        return next((a for a in ancestors_of(origin) if a in self.place.children), origin)

    def _summary_rows(self) -> list[SummaryRow]:
        if self.place.full_children or self.summaries is None:
            return []
        latest = self.summaries()
        if latest is None:
            return []
        return [SummaryRow(unit=code, as_of=s.as_of, total=s.total,
                           open=sum(n for st, n in s.states.items() if st in _OPEN),
                           overdue=s.lights.get("red", 0), sums=dict(s.sums),
                           top_tags=tuple(s.top_tags(5)))
                for code, s in latest.children.items() if code in self.place.children]

    def content(self, period: Period, now: datetime) -> Report:
        """The report of `period` as of `now` (pure fold of one read). A special report has
        no index ranking: the index is kept per month, quarter and year, of every issue."""
        # a province ranks its children by their summaries; the issues it holds itself
        # (escalated to it) are its own row, whichever county they came from
        unit_of = self.unit_of if self.place.full_children else (lambda _: self.node)
        with self.store.read() as unit:
            facts = unit.report_facts(since=earliest_needed(period), now=now,
                                      unit_of=unit_of)
        return build(facts, node=self.node, node_name=self.node_name, period=period,
                     as_of=now, min_sample=self.min_sample, names=self.names,
                     summaries=self._summary_rows(), window=self.recurrence_window,
                     index=self.index(period, now)
                     if self.index is not None and not isinstance(period, Special) else None)

    def render(self, period: Period, now: datetime) -> ReportFiles:
        report = self.content(period, now)
        return ReportFiles(content=report.to_dict(), pdf=to_pdf(report, font=self.font),
                           xlsx=to_xlsx(report), as_of=now)

    # ------------------------------------------------------------------ making them

    def _keep(self, period: Period, files: ReportFiles, *, trigger: str, actor: str,
              now: datetime, replace: bool) -> tuple[StoredReport, bool]:
        kind, key = period.kind.value, period.key
        try:
            with self.store.write() as unit:
                existing = unit.report(self.node, kind, key)
                if existing is None:
                    report_id = unit.add_report(node=self.node, kind=kind, period=key,
                                                trigger=trigger, actor=actor, at=now,
                                                files=files)
                    created = True
                elif replace:
                    report_id = existing.id
                    unit.replace_report(existing.id, trigger=trigger, actor=actor, at=now,
                                        files=files)
                    created = True
                else:
                    created = False
                if created:
                    self._tell(unit, report_id, period, trigger=trigger, now=now)
        except ConstraintViolation:  # another writer kept the period's report first
            created = False
        with self.store.read() as unit:
            stored = unit.report(self.node, kind, key)
        assert stored is not None
        return stored, created

    def _tell(self, unit: ReportUnit, report_id: int, period: Period, *, trigger: str,
              now: datetime) -> None:
        """The report's notice to the leaders, in the transaction that keeps the report;
        its key names the report, so a regeneration tells no one a second time."""
        if self.notify_rules is None:
            return
        notice = notice_for_report(
            report_id=report_id, node=self.node, node_name=self.node_name,
            kind=period.kind.value, period=period.key,
            title=title_for(self.node_name, period), trigger=trigger, at=now,
            rules=self.notify_rules)
        if notice is not None:
            unit.add_notice(notice)

    def _existing(self, period: Period) -> StoredReport | None:
        with self.store.read() as unit:
            return unit.report(self.node, period.kind.value, period.key)

    def run_due(self, now: datetime | None = None) -> list[StoredReport]:
        """Make the report of each kind's last complete period that is not kept yet;
        the ones made now."""
        now = now if now is not None else self.clock.now()
        made: list[StoredReport] = []
        for kind in self.kinds:
            period = due_period(kind, now - self.grace)
            if self._existing(period) is not None:
                continue
            with self.store.read() as unit:  # (a busy node answers at its first issue)
                active = unit.period_active(period.start, period.end)
            if not active:  # nothing received, resolved or closed: no report (yet)
                continue
            stored, created = self._keep(period, self.render(period, now), trigger="schedule",
                                         actor=SYSTEM, now=now, replace=False)
            if created:
                log.info("report %s %s of %s made", kind.value, period.key, self.node)
                made.append(stored)
        return made

    def generate(self, principal: Principal, kind: str, period: str | None, *,
                 replace: bool = False, first: Any = None, last: Any = None,
                 tags: Any = None, units: Any = None) -> tuple[StoredReport, bool]:
        """A leader's or an admin's report of a named, ended period — or, for kind
        "special", of the days `first`–`last` and the chosen tags and units (专项报告, kept
        once per choice); True when made now. Every check before anything is written."""
        require(principal, GENERATE_REPORT)
        chose = first is not None or last is not None or bool(tags) or bool(units)
        p: Period
        if kind == Kind.SPECIAL.value:
            if period:
                raise ValidationError("report_special_invalid", field="period",
                                      problem="a special report takes from and to")
            p = special(first, last, tags=tags, units=units)
        elif chose:
            raise ValidationError("report_special_invalid", field="kind",
                                  problem="only a special report takes from, to, tags, units")
        else:
            p = parse_period(kind, period or "")
        now = self.clock.now()
        if p.end > now:
            raise RuleViolation("report_period_open", period=p.key, end=p.end.isoformat())
        if not replace and (kept := self._existing(p)) is not None:
            return kept, False
        return self._keep(p, self.render(p, now), trigger="demand", actor=principal.username,
                          now=now, replace=replace)

    # ------------------------------------------------------------------ reading them

    def reports(self, principal: Principal, *, kind: str | None = None,
                limit: int = 100) -> list[StoredReport]:
        """The reports kept here: the period that ended last first (a month before the
        quarter and the year ending with it)."""
        require(principal, VIEW_METRICS)
        if kind is not None:
            kind = Kind(kind).value
        with self.store.read() as unit:
            found = unit.reports(self.node, kind=kind, limit=limit)

        def order(r: StoredReport) -> tuple[float, int]:  # latest end first, month first
            p = parse_period(r.kind, r.period)
            return (-p.end.timestamp(), (*KINDS, Kind.SPECIAL).index(p.kind))
        return sorted(found, key=order)

    def get(self, principal: Principal, report_id: int) -> StoredReport:
        require(principal, VIEW_METRICS)
        with self.store.read() as unit:
            stored = unit.report_by_id(report_id)
        if stored is None or stored.node != self.node:
            raise NotFound("not_found")
        return stored

    def download(self, principal: Principal, report_id: int, fmt: str) -> Download:
        stored = self.get(principal, report_id)
        with self.store.read() as unit:
            data = unit.report_file(report_id, fmt)
        if data is None:  # pragma: no cover - both files are NOT NULL
            raise NotFound("not_found")
        return Download(report=stored, fmt=fmt, data=data, media_type=FORMATS[fmt],
                        filename=f"zhitong-{stored.node}-{stored.kind}-"
                                 f"{stored.period.replace('~', '_').replace('#', '-')}.{fmt}",
                        sha256=stored.pdf_sha256 if fmt == "pdf" else stored.xlsx_sha256)
