"""Importing issues from a spreadsheet: the columns, the check of one row, and the history.

Two jobs use the same file format (one row per issue, the columns of `COLUMNS`, headed by
their Chinese or English names):

* a list of new issues — a 政企恳谈会's minutes, a hotline's log: a row without a state (or
  with 已接收) is entered like a submission of that channel, received at its date;
* a historical library — issues already triaged, dispatched, handled, closed and rated,
  each with its dates: the row's `state` says how far it went.

`parse_row` checks one row and returns either an `ImportRow` or every problem it has (each
with its column, the value as given, and an error code with parameters from the one table
in node/domain/errors.py, so the report reads in Chinese and English from the catalogue).
Nothing is thrown away silently: a value that cannot be read is a problem.

`history` turns an `ImportRow` into the issue and its events, built by the lifecycle
itself — `submit`, then `decide`/`evolve` for each step, each with `now` = that step's past
date — so the snapshot is the fold of its events exactly like a native issue's, deadlines
and lights are computed on the node's calendar, and a replica rebuilds it from the same
events. Every event's payload carries ``imported: true`` (and the first one the external
id), so the timeline shows where it came from. Pure: ids, numbers and `now` are passed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from node.domain.calendar import CST
from node.domain.channels import DEFAULT_CHANNELS
from node.domain.errors import DomainError, ValidationError
from node.domain.issue import Actor, Channel, Event, Issue, Rating, State
from node.domain.lifecycle import (
    Assign,
    Close,
    Command,
    Rate,
    Resolve,
    Rules,
    Start,
    Submit,
    Triage,
    decide,
    evolve,
    submit,
)
from node.domain.validation import (
    MAX_COMMENT,
    MAX_CONTENT,
    MAX_NAME,
    MAX_ORG_UNIT,
    MAX_REPLY,
    MAX_TITLE,
    check_text,
    validate_credit_code,
    validate_phone,
    validate_tags,
)

MAX_EXTERNAL_ID = 64
MAX_ORIGINAL_NUMBER = 40


@dataclass(frozen=True, kw_only=True, slots=True)
class Column:
    key: str  # the English name (also accepted as a header)
    zh: str  # the Chinese header of the template
    required: bool
    explain: str  # what the template's 说明 sheet says about it (Chinese)


COLUMNS: tuple[Column, ...] = (
    Column(key="external_id", zh="外部编号", required=True,
           explain="原系统中的唯一编号；同一编号再次导入不会重复建单"),
    Column(key="number", zh="原编号", required=False,
           explain="原系统的问题编号（选填）；本系统另编新号，并保存对照关系"),
    Column(key="enterprise_name", zh="企业名称", required=True, explain="企业全称"),
    Column(key="credit_code", zh="统一社会信用代码", required=True,
           explain="18 位，校验位须正确"),
    Column(key="contact_phone", zh="联系电话", required=True, explain="手机号或固定电话"),
    Column(key="channel", zh="渠道", required=True,
           explain="线上平台、12345营商环境专线、政企恳谈会、企小帮、部门自报、四下基层、上级交办"),
    Column(key="title", zh="标题", required=True, explain=f"不超过 {MAX_TITLE} 字"),
    Column(key="content", zh="问题内容", required=True, explain=f"不超过 {MAX_CONTENT} 字"),
    Column(key="tags", zh="标签", required=False, explain="多个标签用“、”或“;”分隔"),
    Column(key="received_at", zh="受理时间", required=False,
           explain="如 2025-03-04 09:30（北京时间）；新问题可留空，取导入时间"),
    Column(key="state", zh="状态", required=False,
           explain="已接收（留空同）、已研判、已交办、办理中、已办结、已结案"),
    Column(key="board", zh="板块", required=False, explain="研判时确定的服务板块（选填）"),
    Column(key="triaged_at", zh="研判时间", required=False, explain="留空则同受理时间"),
    Column(key="department", zh="承办部门", required=False, explain="状态为已交办及以后时必填"),
    Column(key="assigned_at", zh="交办时间", required=False, explain="留空则同研判时间"),
    Column(key="resolved_at", zh="办结时间", required=False, explain="状态为已办结、已结案时必填"),
    Column(key="reply", zh="答复意见", required=False, explain="状态为已办结、已结案时必填"),
    Column(key="rating", zh="评价", required=False,
           explain="满意、基本满意（已结案时选填；不满意的问题不应为已结案）"),
    Column(key="rating_comment", zh="评价意见", required=False, explain="选填"),
    Column(key="closed_at", zh="结案时间", required=False,
           explain="已结案时选填，留空则同办结时间"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)

_CHANNELS: dict[str, Channel] = {
    "线上平台": Channel.ONLINE, "线上": Channel.ONLINE, "网上": Channel.ONLINE,
    "12345": Channel.HOTLINE_12345, "12345营商环境专线": Channel.HOTLINE_12345,
    "12345热线": Channel.HOTLINE_12345, "热线": Channel.HOTLINE_12345,
    "政企恳谈会": Channel.MEETING, "恳谈会": Channel.MEETING,
    "企小帮": Channel.VOLUNTEER, "部门自报": Channel.DEPARTMENT,
    "四下基层": Channel.FIELD_VISIT, "上级交办": Channel.HIGHER_LEVEL,
    **{c.zh: c.id for c in DEFAULT_CHANNELS},  # 企业服务热线, 综合窗口, 大数据发现, ...
    **{c.value: c for c in Channel},
}
#: the states an import may leave an issue in, in the order the lifecycle reaches them
_STEPS = (State.RECEIVED, State.TRIAGED, State.ASSIGNED, State.IN_PROGRESS, State.RESOLVED,
          State.CLOSED)
_STATES: dict[str, State] = {
    "已接收": State.RECEIVED, "已受理": State.RECEIVED, "已研判": State.TRIAGED,
    "已交办": State.ASSIGNED, "办理中": State.IN_PROGRESS, "已办结": State.RESOLVED,
    "已结案": State.CLOSED, "已关闭": State.CLOSED,
    **{s.value: s for s in _STEPS},
}
_RATINGS: dict[str, Rating] = {
    "满意": Rating.SATISFIED, "基本满意": Rating.BASICALLY_SATISFIED,
    "不满意": Rating.UNSATISFIED, **{r.value: r for r in Rating},
}
_TAG_SPLIT = re.compile(r"[、;；,，|\n]+")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S",
                 "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
_DATE_ZH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2})[:：时](\d{1,2})分?)?")


@dataclass(frozen=True, kw_only=True, slots=True)
class RowProblem:
    """One thing wrong with one row: `row` is its line in the file (the header is 1),
    `column` the column's key, `value` as given, `code` and `params` the error's."""

    row: int
    column: str
    value: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportRow:
    """A row that passed every check: everything `history` needs."""

    row: int
    external_id: str
    original_number: str | None
    submit: Submit
    state: State
    received_at: datetime | None  # None: now (a new issue without a date)
    board: str | None = None
    triaged_at: datetime | None = None
    department: str | None = None
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    reply: str | None = None
    rating: Rating | None = None
    rating_comment: str | None = None
    closed_at: datetime | None = None

    @property
    def historical(self) -> bool:
        return self.state is not State.RECEIVED


def header_keys(header: list[str]) -> tuple[dict[int, str], list[str]]:
    """Map the file's header cells to column keys: (position → key, required columns that
    are missing). Headers match the Chinese or the English name; unknown ones are ignored."""
    names = {_norm(c.zh): c.key for c in COLUMNS} | {_norm(c.key): c.key for c in COLUMNS}
    found: dict[int, str] = {}
    for i, cell in enumerate(header):
        key = names.get(_norm(cell))
        if key is not None and key not in found.values():
            found[i] = key
    missing = [c.key for c in COLUMNS if c.required and c.key not in found.values()]
    return found, missing


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "_")


def _text(value: object) -> str:
    """A cell as text: spreadsheets give numbers for codes and phones."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value).strip()


def parse_when(value: object) -> datetime | None:
    """A date or time of a cell (China time unless it says otherwise); None when empty.
    ValueError when it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=CST)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=CST)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    zh = _DATE_ZH.fullmatch(text)
    if zh:
        y, m, d, hh, mm = zh.groups()
        return datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0), tzinfo=CST)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 - China time below
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)


class _Row:
    """Collects the problems of one row while its values are read."""

    def __init__(self, row: int, cells: Mapping[str, object]) -> None:
        self.row = row
        self.cells = cells
        self.problems: list[RowProblem] = []

    def raw(self, key: str) -> str:
        return _text(self.cells.get(key))

    def fail(self, key: str, code: str, **params: Any) -> None:
        self.problems.append(RowProblem(row=self.row, column=key, value=self.raw(key)[:200],
                                        code=code, params={"field": key, **params}))

    def checked(self, key: str, check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except DomainError as exc:
            self.problems.append(RowProblem(row=self.row, column=key,
                                            value=self.raw(key)[:200], code=exc.code,
                                            params={**exc.params, "field": key}))
            return None

    def text(self, key: str, max_len: int, *, required: bool) -> str | None:
        result: str | None = self.checked(key, check_text, key, self.raw(key), max_len=max_len,
                                          required=required)
        return result

    def choice(self, key: str, table: Mapping[str, Any], *, required: bool) -> Any:
        raw = self.raw(key)
        if not raw:
            if required:
                self.fail(key, "text_required")
            return None
        found = table.get(unicodedata.normalize("NFKC", raw).strip())
        if found is None:
            found = table.get(raw.lower())
        if found is None:
            self.fail(key, "import_value_unknown")
        return found

    def when(self, key: str, now: datetime) -> datetime | None:
        try:
            moment = parse_when(self.cells.get(key))
        except (ValueError, OverflowError):
            self.fail(key, "import_date_invalid")
            return None
        if moment is not None and moment > now:
            self.fail(key, "import_date_in_future")
            return None
        return moment


def parse_row(row: int, cells: Mapping[str, object], *, now: datetime
              ) -> ImportRow | list[RowProblem]:
    """Check one row (`cells`: column key → the cell's value) against every rule."""
    r = _Row(row, cells)
    external_id = r.text("external_id", MAX_EXTERNAL_ID, required=True)
    original = r.text("number", MAX_ORIGINAL_NUMBER, required=False)
    name = r.text("enterprise_name", MAX_NAME, required=True)
    code = phone = None
    if r.raw("credit_code"):
        code = r.checked("credit_code", validate_credit_code, r.raw("credit_code"))
    else:
        r.fail("credit_code", "text_required")
    if r.raw("contact_phone"):
        phone = r.checked("contact_phone", validate_phone, r.raw("contact_phone"),
                          "contact_phone")
    else:
        r.fail("contact_phone", "text_required")
    channel = r.choice("channel", _CHANNELS, required=True)
    title = r.text("title", MAX_TITLE, required=True)
    content = r.text("content", MAX_CONTENT, required=True)
    tags: tuple[str, ...] = ()
    if r.raw("tags"):
        parts = [p for p in _TAG_SPLIT.split(r.raw("tags")) if p.strip()]
        tags = r.checked("tags", validate_tags, [p.strip() for p in parts]) or ()
    state = r.choice("state", _STATES, required=False) or State.RECEIVED
    received_at = r.when("received_at", now)
    board = r.text("board", MAX_ORG_UNIT, required=False)
    triaged_at = r.when("triaged_at", now)
    department = r.text("department", MAX_ORG_UNIT, required=False)
    assigned_at = r.when("assigned_at", now)
    resolved_at = r.when("resolved_at", now)
    reply = r.text("reply", MAX_REPLY, required=False)
    rating = r.choice("rating", _RATINGS, required=False)
    rating_comment = r.text("rating_comment", MAX_COMMENT, required=False)
    closed_at = r.when("closed_at", now)

    step = _STEPS.index(state)
    if step >= 1 and received_at is None and not r.raw("received_at"):
        r.fail("received_at", "import_needs_value", state=state.value)
    if step >= 2 and not department:
        r.fail("department", "import_needs_value", state=state.value)
    if step >= 4:
        if resolved_at is None and not r.raw("resolved_at"):
            r.fail("resolved_at", "import_needs_value", state=state.value)
        if not reply:
            r.fail("reply", "import_needs_value", state=state.value)
    if rating is not None and state is not State.CLOSED:
        r.fail("rating", "import_rating_needs_closed")
    if rating is Rating.UNSATISFIED:
        r.fail("rating", "import_rating_unsatisfied_closed")
    # the dates in the order the lifecycle went through them (an empty one is the one before)
    order = [("received_at", received_at), ("triaged_at", triaged_at if step >= 1 else None),
             ("assigned_at", assigned_at if step >= 2 else None),
             ("resolved_at", resolved_at if step >= 4 else None),
             ("closed_at", closed_at if step >= 5 else None)]
    last: tuple[str, datetime] | None = None
    for key, moment in order:
        if moment is None:
            continue
        if last is not None and moment < last[1]:
            r.fail(key, "import_date_before", before=last[0])
        last = (key, moment)
    if r.problems:
        return r.problems
    assert external_id and name and title and content and code and phone and channel
    return ImportRow(
        row=row, external_id=external_id, original_number=original,
        submit=Submit(enterprise_name=name, credit_code=code, contact_phone=phone,
                      channel=channel, title=title, content=content, tags=tags),
        state=state, received_at=received_at, board=board, triaged_at=triaged_at,
        department=department, assigned_at=assigned_at, resolved_at=resolved_at, reply=reply,
        rating=rating, rating_comment=rating_comment, closed_at=closed_at)


def history(row: ImportRow, *, issue_id: str, number: str, node: str, actor: Actor,
            now: datetime, rules: Rules) -> tuple[Issue, list[Event]]:
    """The issue of `row` and its events, each step decided by the lifecycle at its past
    date (`now` only for a new issue without a date), every event marked imported."""
    received = row.received_at or now
    issue, first = submit(row.submit, issue_id=issue_id, number=number, node=node,
                          actor=actor, now=received, rules=rules)
    first = _imported(first, external_id=row.external_id,
                      original_number=row.original_number)
    out = [first]
    step = _STEPS.index(row.state)
    triaged = row.triaged_at or received
    assigned = row.assigned_at or triaged
    resolved = row.resolved_at or assigned
    closed = row.closed_at or resolved
    commands: list[tuple[Command, datetime]] = []
    if step >= 1:
        commands.append((Triage(tags=row.submit.tags, board=row.board), triaged))
    if step >= 2:
        assert row.department is not None
        commands.append((Assign(department=row.department, board=row.board), assigned))
    if step >= 3:
        commands.append((Start(), assigned))
    if step >= 4:
        assert row.reply is not None
        commands.append((Resolve(reply=row.reply), resolved))
    if step >= 5:
        if row.rating is not None:
            commands.append((Rate(rating=row.rating, comment=row.rating_comment), closed))
        else:
            commands.append((Close(), closed))
    for command, at in commands:
        event = _imported(decide(issue, command, actor=actor, now=at, rules=rules))
        issue = evolve(issue, event)
        out.append(event)
    return issue, out


def _imported(event: Event, **extra: str | None) -> Event:
    payload = {**event.payload, "imported": True,
               **{k: v for k, v in extra.items() if v is not None}}
    return Event(issue_id=event.issue_id, version=event.version, kind=event.kind,
                 actor=event.actor, at=event.at, payload=payload)


def duplicate_problem(row: int, external_id: str, first_row: int) -> RowProblem:
    """The problem of a row whose external id an earlier row of the same file has."""
    return RowProblem(row=row, column="external_id", value=external_id,
                      code="import_external_id_repeated",
                      params={"field": "external_id", "first_row": first_row})


def missing_columns_error(missing: list[str]) -> ValidationError:
    zh = {c.key: c.zh for c in COLUMNS}
    return ValidationError("import_columns_missing", field="file",
                           columns=[f"{zh[k]} ({k})" for k in missing])
