"""Exporting the pool (any filter of GET /issues) and the cockpit's tables to .xlsx / .csv.

How it works: `ExportService.pool` pages through the pool with the keyset cursor
(`IssueFilter.after`), `PAGE` issues per read transaction and never a count, so no long
transaction is held and no more than one page is in memory. A `.csv` is a generator of
encoded chunks, one per page, that the HTTP layer streams as it comes; an `.xlsx` is
written by openpyxl's write-only mode (rows go to a temporary file as they are appended)
into a `SpooledTemporaryFile` (in memory up to 8 MiB, then on disk), which is then
streamed in chunks. Either way 100,000 rows need a few MB of memory (tests/integration/
test_exports.py measures it).

Each file opens with a header block — what it is, the filter in words, the time of the
export (China time), who exported it — then a blank row and the column names (Chinese, or
English with `lang="en"`); dates are China time. A viewer (read-only, metrics only) gets
no personal data: the enterprise's name, credit code, contact phone, the issue's text and
the reply are left out, as the summary a viewer sees carries no enterprise data. Every
export that does carry personal data is recorded (`ExportRecorder`: who, when, the filter,
the row count) once its last row is written — until an audit log exists.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from node.app.policy import (
    VIEW_METRICS,
    VIEW_POOL,
    Principal,
    Role,
    can,
    queue_scope,
    require,
)
from node.app.ports import Clock, IssueFilter, IssueStore, PoolPosition
from node.app.units import UnitService
from node.domain.calendar import CST, WorkCalendar
from node.domain.deadlines import Light
from node.domain.errors import Forbidden
from node.domain.issue import Issue, State
from node.domain.lifecycle import current_light

PAGE = 1000
CHUNK_BYTES = 256 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


class ExportRecorder(Protocol):
    def record(self, *, actor: str, at: datetime, format: str, filter: dict[str, Any],
               rows: int, personal: bool) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportColumn:
    key: str
    zh: str
    en: str
    personal: bool = False
    kind: str = "text"  # text | time | int


POOL_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn(key="number", zh="编号", en="Number"),
    ExportColumn(key="title", zh="标题", en="Title"),
    ExportColumn(key="state", zh="状态", en="State"),
    ExportColumn(key="light", zh="灯色", en="Light"),
    ExportColumn(key="channel", zh="渠道", en="Channel"),
    ExportColumn(key="enterprise_name", zh="企业名称", en="Enterprise", personal=True),
    ExportColumn(key="credit_code", zh="统一社会信用代码", en="Credit code", personal=True),
    ExportColumn(key="contact_phone", zh="联系电话", en="Contact phone", personal=True),
    ExportColumn(key="tags", zh="标签", en="Tags"),
    ExportColumn(key="board", zh="板块", en="Board"),
    ExportColumn(key="department", zh="承办部门", en="Department"),
    ExportColumn(key="origin", zh="来源单位", en="Origin unit"),
    ExportColumn(key="owner", zh="承办单位", en="Owner unit"),
    ExportColumn(key="received_at", zh="受理时间", en="Received", kind="time"),
    ExportColumn(key="due", zh="当前时限", en="Due", kind="time"),
    ExportColumn(key="resolved_at", zh="办结时间", en="Resolved", kind="time"),
    ExportColumn(key="closed_at", zh="结案时间", en="Closed", kind="time"),
    ExportColumn(key="rating", zh="评价", en="Rating"),
    ExportColumn(key="urge_count", zh="催办次数", en="Urges", kind="int"),
    ExportColumn(key="reopen_count", zh="重办次数", en="Reopened", kind="int"),
    ExportColumn(key="content", zh="问题内容", en="Content", personal=True),
    ExportColumn(key="reply", zh="答复意见", en="Reply", personal=True),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolQuery:
    """The filters of GET /issues, as the export takes them."""

    states: tuple[State, ...] = ()
    light: Light | None = None
    tag: str | None = None
    board: str | None = None
    department: str | None = None
    unit: str | None = None  # a unit id: the issues in its queue now
    step: int | None = None  # a ladder step
    origin: str | None = None  # a node code: submitted there
    owner: str | None = None  # a node code: held there now
    overdue: bool = False
    red_within: timedelta | None = None
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.states:
            out["state"] = [s.value for s in self.states]
        for key in ("tag", "board", "department", "unit", "origin", "owner", "text"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.step is not None:
            out["step"] = self.step
        if self.light is not None:
            out["light"] = self.light.value
        if self.overdue:
            out["overdue"] = True
        if self.red_within is not None:
            out["red_within_hours"] = self.red_within / timedelta(hours=1)
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Sheet:
    """One table of a workbook: a header block, column names, rows."""

    title: str
    columns: Sequence[ExportColumn]
    rows: Iterator[list[Any]]
    header: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Export:
    """A file being produced: `chunks` yields its bytes; `filename` and `media_type` for
    the HTTP answer."""

    filename: str
    media_type: str
    chunks: Iterator[bytes]
    personal: bool = field(default=False)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def china_time(moment: datetime | None) -> datetime | None:
    """A naive China-time datetime (spreadsheets keep no offset)."""
    return None if moment is None else moment.astimezone(CST).replace(tzinfo=None)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


class ExportService:
    def __init__(self, *, store: IssueStore, recorder: ExportRecorder, clock: Clock,
                 node: str, node_name: str, calendar: WorkCalendar,
                 units: UnitService | None = None) -> None:
        self.store = store
        self.units = units  # unit ids are exported as the units' names
        self.recorder = recorder
        self.clock = clock
        self.node = node
        self.node_name = node_name
        self.calendar = calendar

    # ----------------------------------------------------------------- the pool

    def pool(self, principal: Principal, query: PoolQuery, *, format: str,
             labels: Mapping[str, str], lang: str = "zh-CN") -> Export:
        """The pool matching `query`, every row, as `format` (xlsx | csv)."""
        if principal.role is Role.ENTERPRISE:
            raise Forbidden("role_not_permitted", permission=VIEW_POOL, role=principal.role.value)
        if not can(principal, VIEW_POOL):
            require(principal, VIEW_METRICS)  # a viewer: the redacted export
        personal = can(principal, VIEW_POOL)
        if not personal and query.text:  # the text index holds names, contents and replies
            raise Forbidden("role_not_permitted", permission=VIEW_POOL,
                            role=principal.role.value)
        columns = [c for c in POOL_COLUMNS if personal or not c.personal]
        now = self.clock.now()
        en = lang == "en"
        header = [
            f"{self.node_name} ({self.node}) " + ("issue pool export" if en else "问题池导出"),
            ("Filter: " if en else "筛选条件：") + _describe(query, labels, en),
            ("Exported at: " if en else "导出时间：") + _stamp(now)
            + (" (China time)" if en else "（北京时间）"),
            ("Exported by: " if en else "导出人：") + principal.username,
        ]
        if not personal:
            header.append("Personal data left out (viewer)" if en
                          else "已去除企业及个人信息（只读角色）")
        counted = [0]

        def rows() -> Iterator[list[Any]]:
            for issue in self._issues(query, now, queue_scope(principal)):
                counted[0] += 1
                yield self._row(issue, columns, now, labels, lang="en" if en else "zh")

        def finished() -> None:
            if personal:
                self.recorder.record(actor=principal.actor.label(), at=now, format=format,
                                     filter=query.as_dict(), rows=counted[0], personal=True)

        sheet = Sheet(title="问题池" if not en else "Pool", columns=columns, rows=rows(),
                      header=header)
        stamp = now.astimezone(CST).strftime("%Y%m%d-%H%M")
        name = f"zhitong-pool-{self.node}-{stamp}.{format}"
        if format == "csv":
            return Export(filename=name, media_type=CSV, personal=personal,
                          chunks=_after(csv_chunks(sheet, en=en), finished))
        return Export(filename=name, media_type=XLSX, personal=personal,
                      chunks=_after(xlsx_chunks([sheet], en=en), finished))

    def _issues(self, query: PoolQuery, now: datetime,
                queues: tuple[str, ...] | None = None) -> Iterator[Issue]:
        after: PoolPosition | None = None
        while True:
            f = IssueFilter(states=query.states, tag=query.tag, board=query.board,
                            department=query.department, queues=queues,
                            unit=query.unit, ladder_step=query.step,
                            origin=query.origin, owner=query.owner,
                            overdue_at=now if query.overdue else None, light=query.light,
                            red_by=now + query.red_within if query.red_within else None,
                            now=now, text=query.text, after=after, limit=PAGE, count=False)
            with self.store.read() as unit:
                page, _ = unit.list_issues(f)
            yield from page
            if len(page) < PAGE:
                return
            last = page[-1]
            after = PoolPosition(received_at=last.received_at, id=last.id)

    def _unit(self, unit_id: str | None, lang: str) -> str:
        if not unit_id:
            return ""
        return (self.units.name_of(unit_id, lang) if self.units else None) or unit_id

    def _row(self, issue: Issue, columns: Sequence[ExportColumn], now: datetime,
             labels: Mapping[str, str], lang: str = "zh") -> list[Any]:
        light = current_light(issue, now, self.calendar)
        values: dict[str, Any] = {
            "number": issue.number, "title": issue.title,
            "state": labels.get(f"state.{issue.state.value}", issue.state.value),
            "light": labels.get(f"light.{light.value if light else 'none'}", ""),
            "channel": labels.get(f"channel.{issue.channel.value}", issue.channel.value),
            "enterprise_name": issue.enterprise.name,
            "credit_code": issue.enterprise.credit_code,
            "contact_phone": issue.enterprise.contact_phone,
            "tags": "、".join(issue.tags), "board": self._unit(issue.board, lang),
            "department": self._unit(issue.department, lang), "origin": issue.origin,
            "owner": issue.owner, "received_at": issue.received_at,
            "due": issue.deadline.due if issue.deadline and light is not None else None,
            "resolved_at": issue.resolved_at, "closed_at": issue.closed_at,
            "rating": labels.get(f"rating.{issue.rating.value}", issue.rating.value)
            if issue.rating else "",
            "urge_count": issue.urge_count, "reopen_count": issue.reopen_count,
            "content": issue.content, "reply": issue.reply or "",
        }
        return [values[c.key] for c in columns]


def _describe(query: PoolQuery, labels: Mapping[str, str], en: bool) -> str:
    parts: list[str] = []
    if query.states:
        parts.append(("state = " if en else "状态 = ") + "/".join(
            labels.get(f"state.{s.value}", s.value) for s in query.states))
    if query.light is not None:
        parts.append(("light = " if en else "灯色 = ")
                     + labels.get(f"light.{query.light.value}", query.light.value))
    for key, zh in (("tag", "标签"), ("board", "板块"), ("department", "承办部门"),
                    ("unit", "所在单位"), ("origin", "来源单位"), ("owner", "承办单位"),
                    ("text", "关键词")):
        value = getattr(query, key)
        if value:
            parts.append(f"{key if en else zh} = {value}")
    if query.step is not None:
        parts.append(f"ladder step = {query.step}" if en else f"层级 = {query.step}")
    if query.overdue:
        parts.append("overdue" if en else "已超期")
    if query.red_within is not None:
        hours = query.red_within / timedelta(hours=1)
        parts.append(f"red within {hours:g} h" if en else f"{hours:g} 小时内转红")
    if not parts:
        return "all issues" if en else "全部问题"
    return "; ".join(parts) if en else "；".join(parts)


def _after(chunks: Iterator[bytes], done: Callable[[], None]) -> Iterator[bytes]:
    """`chunks`, then `done()` once the last one was taken (not on an abandoned download)."""
    yield from chunks
    done()


# --------------------------------------------------------------------------- writers


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return china_time(value)
    return value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    # a cell a spreadsheet would run as a formula is quoted as text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_chunks(sheet: Sheet, *, en: bool = False) -> Iterator[bytes]:
    """A CSV (UTF-8 with BOM: Excel in China opens it right) in chunks of about CHUNK_BYTES."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    for line in sheet.header:
        writer.writerow([line])
    if sheet.header:
        writer.writerow([])
    writer.writerow([c.en if en else c.zh for c in sheet.columns])
    for row in sheet.rows:
        writer.writerow([_csv_text(v) for v in row])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_chunks(sheets: Sequence[Sheet], *, en: bool = False) -> Iterator[bytes]:
    """A workbook written row by row (openpyxl write-only) into a spooled temporary file,
    then read back in chunks."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title[:31])
        for i, column in enumerate(sheet.columns):
            width = 20 if column.kind == "time" else 14 if column.kind == "text" else 10
            ws.column_dimensions[_letter(i)].width = width
        for line in sheet.header:
            ws.append([line])
        if sheet.header:
            ws.append([])
        names = []
        for column in sheet.columns:
            cell = WriteOnlyCell(ws, value=column.en if en else column.zh)
            cell.font = bold
            names.append(cell)
        ws.append(names)
        times = [i for i, c in enumerate(sheet.columns) if c.kind == "time"]
        for row in sheet.rows:
            values = [_cell(v) for v in row]
            for i in times:
                if values[i] is not None:
                    cell = WriteOnlyCell(ws, value=values[i])
                    cell.number_format = "yyyy-mm-dd hh:mm"
                    values[i] = cell
            ws.append(values)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
        book.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK_BYTES):
            yield chunk


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    letter: str = get_column_letter(i + 1)
    return letter
