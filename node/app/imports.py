"""Importing an issue library or a list of new issues from .xlsx or .csv.

How it works:

1. `read_table` reads the file into rows of cells (an .xlsx through python-calamine, the
   Rust reader: 10,000 rows in about a tenth of the time of openpyxl's read-only mode; a
   .csv as UTF-8 with or without BOM, else GB18030, which is what Excel writes in China).
   The header row names the columns, in Chinese or in English (node/domain/importing.py).
2. Every row is checked by the pure domain (`parse_row`); an external id that an earlier
   row of the same file carries is a problem of the later row. At a node with a catalogue
   of units, a row's board and department must name one of its active units, by id or by
   name (node/app/units.py `resolve`), and are imported as that unit's id. The ids already imported
   (`import_keys`) are looked up: those rows are skipped, so importing the same file twice
   adds nothing.
3. A dry run stops there and reports every problem (row, column, value, reason in Chinese
   and English). A real run with problems writes nothing unless `skip_invalid` is asked
   for (then only the valid rows are written, and the report lists the others).
4. The valid rows are written in batches of `batch` rows, one transaction each: per row the
   issue and its events come from the lifecycle (`importing.history`, each step decided at
   its past date, every event marked imported), with a number of this node for the year
   the issue was received, and its external id → issue (and original number) mapping in
   the same transaction. `progress(done, total)` is called after each batch.

All-or-nothing holds for what is wrong with the file: nothing is written unless every row
passed. A crash between two batches leaves the batches before it committed; running the
same import again completes it (their external ids are known by then). A cancelled run
(`cancelled()` true: the screen's 取消导入, `POST /imports/{job}/cancel`) stops the same way,
between two batches: what it wrote stays, its report says so, and a new run completes it.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any, Protocol

from node.app.clock import new_issue_id
from node.app.policy import Principal, Role
from node.app.ports import Clock
from node.app.units import UnitService
from node.domain.calendar import CST
from node.domain.errors import Forbidden, ValidationError
from node.domain.importing import (
    COLUMNS,
    ImportRow,
    RowProblem,
    duplicate_problem,
    header_keys,
    history,
    missing_columns_error,
    parse_row,
)
from node.domain.issue import Event, Issue
from node.domain.lifecycle import Rules
from node.domain.units import BOARD_KINDS, DEPARTMENT_KINDS
from node.domain.validation import make_credit_code
from node.i18n import message

log = logging.getLogger("zhitong.imports")

#: the most rows one file may have (a city's whole library is ~10,000)
MAX_ROWS = 200_000
IMPORT_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER})
IMPORT_PERMISSION = "import_issues"


class ImportUnit(Protocol):
    """One transaction of the import (node/store/imports.py)."""

    def known_external_ids(self, ids: Sequence[str]) -> dict[str, str]:
        """external id → issue id, for the ids already imported."""
        ...

    def reserve_numbers(self, year: int, k: int) -> int:
        """The first of `k` consecutive sequence numbers of `year`'s issue numbers."""
        ...

    def write_imported(self, batch: Sequence[tuple[Issue, list[Event], str, str | None]],
                       *, actor: str, at: datetime) -> None:
        """(issue, its events, external id, original number): rows, own events, keys."""
        ...


class ImportStore(Protocol):
    def write(self) -> AbstractContextManager[ImportUnit]: ...
    def read(self) -> AbstractContextManager[ImportUnit]: ...


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, kw_only=True, slots=True)
class Table:
    """A file's rows: `rows` are (line number, column key → cell value)."""

    rows: list[tuple[int, dict[str, object]]]
    ignored_columns: tuple[str, ...] = ()


def _kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return "xlsx"
    if lower.endswith(".csv"):
        return "csv"
    raise ValidationError("import_file_type", field="file")


def read_table(data: IO[bytes], name: str) -> Table:
    """The rows of an .xlsx (first sheet) or .csv file; the kind is told by `name`."""
    kind = _kind(name)
    grid = _xlsx_rows(data) if kind == "xlsx" else _csv_rows(data.read())
    lines = iter(grid)
    header: list[str] = []
    line = 0
    for cells in lines:  # the first non-empty row is the header
        line += 1
        if any(_filled(c) for c in cells):
            header = [str(c or "").strip() for c in cells]
            break
    if not header:
        raise ValidationError("import_file_empty", field="file")
    positions, missing = header_keys(header)
    if missing:
        raise missing_columns_error(missing)
    rows: list[tuple[int, dict[str, object]]] = []
    for cells in lines:
        line += 1
        if not any(_filled(c) for c in cells):
            continue
        rows.append((line, {key: cells[i] if i < len(cells) else None
                            for i, key in positions.items()}))
        if len(rows) > MAX_ROWS:
            raise ValidationError("import_too_many_rows", field="file", max_rows=MAX_ROWS)
    ignored = tuple(h for i, h in enumerate(header) if h and i not in positions)
    return Table(rows=rows, ignored_columns=ignored)


def _filled(cell: object) -> bool:
    return cell is not None and str(cell).strip() != ""


def _xlsx_rows(data: IO[bytes]) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(data)
        rows: list[list[Any]] = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own errors for any damage
        raise ValidationError("import_file_unreadable", field="file",
                              problem=str(exc)[:200]) from None
    return rows


def _csv_rows(raw: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
        raise ValidationError("import_file_unreadable", field="file", problem="encoding")
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]


# --------------------------------------------------------------------------- the report


@dataclass(kw_only=True, slots=True)
class ImportReport:
    """What an import found and did. `status`: dry_run | done | refused | cancelled (stopped
    between two batches on request: `written` were written, the rest were not)."""

    status: str
    rows: int  # data rows in the file
    valid: int  # rows that passed every check
    existing: int  # rows whose external id was imported before (skipped)
    written: int  # issues created now
    historical: int  # of those, issues imported past `received`
    problems: list[RowProblem] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    @property
    def invalid_rows(self) -> int:
        return len({p.row for p in self.problems})

    def to_dict(self, *, max_problems: int = 1000) -> dict[str, Any]:
        return {
            "status": self.status, "rows": self.rows, "valid": self.valid,
            "invalid": self.invalid_rows, "existing": self.existing,
            "written": self.written, "historical": self.historical,
            "ignored_columns": list(self.ignored_columns),
            "problems": [problem_dict(p) for p in self.problems[:max_problems]],
            "problems_total": len(self.problems),
        }


def problem_dict(p: RowProblem) -> dict[str, Any]:
    """A problem with its column's Chinese name and the reason in both languages."""
    return {"row": p.row, "column": p.column, "column_zh": _ZH.get(p.column, p.column),
            "value": p.value, "code": p.code,
            "reason": message(p.code, {**p.params, "field": _ZH.get(p.column, p.column)},
                              "zh-CN"),
            "reason_en": message(p.code, p.params, "en")}


_ZH = {c.key: c.zh for c in COLUMNS}

Progress = Callable[[int, int], None]


def _never() -> bool:
    return False


def _no_progress(done: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- the use case


class ImportService:
    def __init__(self, *, store: ImportStore, node: str, rules: Rules, clock: Clock,
                 ids: Callable[[str], str] = new_issue_id, batch: int = 500,
                 units: UnitService | None = None) -> None:
        self.store = store
        #: the organisation units: a row's board and department name units of this node
        self.units = units
        self.node = node
        self.rules = rules
        self.clock = clock
        self._ids = ids
        self.batch = batch

    def check_allowed(self, principal: Principal) -> None:
        if principal.role not in IMPORT_ROLES:
            raise Forbidden("role_not_permitted", permission=IMPORT_PERMISSION,
                            role=principal.role.value)

    def run(self, principal: Principal, table: Table, *, dry_run: bool = False,
            skip_invalid: bool = False, progress: Progress = _no_progress,
            cancelled: Callable[[], bool] = _never) -> ImportReport:
        """Check every row, then (unless a dry run, or a refused all-or-nothing run) write
        the valid rows not imported before, stopping between two batches once `cancelled()`;
        see the module's docstring."""
        self.check_allowed(principal)
        now = self.clock.now()
        valid, problems = self._check(table, now)
        with self.store.read() as unit:
            known = unit.known_external_ids([r.external_id for r in valid])
        fresh = [r for r in valid if r.external_id not in known]
        report = ImportReport(status="dry_run", rows=len(table.rows), valid=len(valid),
                              existing=len(valid) - len(fresh), written=0, historical=0,
                              problems=problems, ignored_columns=table.ignored_columns)
        if dry_run:
            return report
        if problems and not skip_invalid:
            report.status = "refused"
            return report
        total = len(fresh)
        progress(0, total)
        report.status = "done"
        attempted = 0
        for start in range(0, total, self.batch):
            if cancelled():
                report.status = "cancelled"
                break
            chunk = fresh[start:start + self.batch]
            attempted += len(chunk)
            written = self._write(principal, chunk, now)
            report.written += written
            report.historical += sum(1 for r in chunk if r.historical)
            progress(min(start + len(chunk), total), total)
        # imported before (or meanwhile, by a concurrent run); rows a cancel left are not
        report.existing = len(valid) - report.written - (total - attempted)
        return report

    def _check(self, table: Table, now: datetime) -> tuple[list[ImportRow], list[RowProblem]]:
        valid: list[ImportRow] = []
        problems: list[RowProblem] = []
        first_row: dict[str, int] = {}
        for line, cells in table.rows:
            parsed = parse_row(line, cells, now=now)
            if isinstance(parsed, list):
                problems.extend(parsed)
                continue
            earlier = first_row.get(parsed.external_id)
            if earlier is not None:
                problems.append(duplicate_problem(line, parsed.external_id, earlier))
                continue
            first_row[parsed.external_id] = line
            resolved = self._with_units(line, parsed)
            if isinstance(resolved, RowProblem):
                problems.append(resolved)
                continue
            valid.append(resolved)
        return valid, problems

    def _with_units(self, line: int, row: ImportRow) -> ImportRow | RowProblem:
        """`row` with its board and department as unit ids (by id or by name), when this
        node has a catalogue (node/app/units.py)."""
        if self.units is None or not self.units.has_catalogue():
            return row
        changes: dict[str, Any] = {}
        for name, kinds in (("board", BOARD_KINDS), ("department", DEPARTMENT_KINDS)):
            value = getattr(row, name)
            if value is None:
                continue
            try:
                changes[name] = self.units.resolve(value, kinds, name)
            except ValidationError as exc:
                return RowProblem(row=line, column=name, value=value, code=exc.code,
                                  params={k: v for k, v in exc.params.items() if k != "field"})
        return replace(row, **changes) if changes else row

    def _write(self, principal: Principal, rows: list[ImportRow], now: datetime) -> int:
        """One batch in one transaction; rows imported meanwhile (a concurrent run of the
        same file) are skipped. Returns how many issues it created."""
        actor = principal.actor
        with self.store.write() as unit:
            known = unit.known_external_ids([r.external_id for r in rows])
            rows = [r for r in rows if r.external_id not in known]
            years = Counter((r.received_at or now).astimezone(CST).year for r in rows)
            next_seq = {year: unit.reserve_numbers(year, k) for year, k in sorted(years.items())}
            batch: list[tuple[Issue, list[Event], str, str | None]] = []
            for r in rows:
                year = (r.received_at or now).astimezone(CST).year
                seq = next_seq[year]
                next_seq[year] = seq + 1
                issue, events = history(r, issue_id=self._ids(self.node),
                                        number=f"{self.node}-{year}-{seq:06d}",
                                        node=self.node, actor=actor, now=now, rules=self.rules)
                batch.append((issue, events, r.external_id, r.original_number))
            unit.write_imported(batch, actor=actor.label(), at=now)
        return len(batch)


# --------------------------------------------------------------------------- the template


def template_xlsx() -> bytes:
    """The import template: the header row (Chinese names), two example rows (a new issue
    from a meeting, a closed and rated one from a library), and a 说明 sheet explaining
    every column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "问题清单"
    sheet.append([c.zh for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for example in _EXAMPLES:
        sheet.append([example.get(c.key, "") for c in COLUMNS])
    for i, c in enumerate(COLUMNS):
        sheet.column_dimensions[_letter(i)].width = max(12, len(c.zh) * 2 + 4)
    notes = book.create_sheet("说明")
    notes.append(["列名", "英文列名", "是否必填", "说明"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for c in COLUMNS:
        notes.append([c.zh, c.key, "必填" if c.required else "选填", c.explain])
    notes.append([])
    notes.append(["", "", "", "第一行为列名（中文或英文均可）；每行一个问题。状态留空或为“已接收”"
                  "的行按新问题受理；其余按历史问题导入，依各时间补记办理过程。"])
    notes.append(["", "", "", "先用“试导入”检查：每个有问题的单元格都会列出行号、列名和原因，"
                  "不写入任何数据。"])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 18
    notes.column_dimensions["D"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    letter: str = get_column_letter(i + 1)
    return letter


_EXAMPLES: tuple[Mapping[str, str], ...] = (
    {"external_id": "KTH-2025-11-001", "enterprise_name": "长兴示例机械有限公司",
     "credit_code": make_credit_code("91330522MA2AAAAA1"), "contact_phone": "13905720001",
     "channel": "政企恳谈会", "title": "厂房扩建用地指标",
     "content": "恳谈会上提出：扩建项目用地指标尚未落实。",
     "tags": "要素保障、用地", "received_at": "2025-11-20 09:30"},
    {"external_id": "HZ-2025-000123", "number": "HZ2025-000123",
     "enterprise_name": "长兴示例纺织有限公司",
     "credit_code": make_credit_code("91330522MA2BBBBB2"),
     "contact_phone": "0572-6012345", "channel": "12345营商环境专线",
     "title": "电力增容审批", "content": "新产线需电力增容，申请已提交一个月。",
     "tags": "要素保障", "received_at": "2025-03-04 10:00", "state": "已结案",
     "board": "要素保障", "triaged_at": "2025-03-04 15:00", "department": "供电公司",
     "assigned_at": "2025-03-05 09:00", "resolved_at": "2025-03-18 17:00",
     "reply": "增容方案已批复，3 月底前送电。", "rating": "满意",
     "closed_at": "2025-03-20 10:00"},
)


def iter_progress_lines(done: int, total: int, *, width: int = 30) -> str:
    """A text progress bar for the command line: `[#####.....]  1500/10000  15%`."""
    share = 1.0 if total == 0 else done / total
    filled = int(width * share)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>7}/{total}  {share:4.0%}"


def rows_of(lines: Iterator[tuple[int, dict[str, object]]]) -> Table:
    """A table from rows built in code (tests, benchmarks, the demo)."""
    return Table(rows=list(lines))


# --------------------------------------------------------------------------- jobs


@dataclass(kw_only=True, slots=True)
class ImportJob:
    """An import running (or done) in the background, for the upload screen's progress."""

    id: str
    username: str
    name: str
    state: str = "reading"  # reading | checking | writing | finished | failed
    done: int = 0
    total: int = 0
    report: ImportReport | None = None
    error: Exception | None = None
    cancel_requested: bool = False  # asked to stop: it does between two batches

    def to_dict(self) -> dict[str, Any]:
        from node.domain.errors import DomainError
        from node.i18n import error_texts

        out: dict[str, Any] = {"id": self.id, "name": self.name, "state": self.state,
                               "done": self.done, "total": self.total,
                               "cancel_requested": self.cancel_requested,
                               "report": self.report.to_dict() if self.report else None}
        if self.error is not None:
            zh, en = (error_texts(self.error) if isinstance(self.error, DomainError)
                      else ("导入失败", "import failed"))
            out["error"] = {"code": getattr(self.error, "code", "internal"), "message": zh,
                            "message_en": en}
        return out


class ImportJobs:
    """Imports started from the upload screen, each in a thread of its own; the screen
    polls `get`. Kept in memory: a job is worth looking at while its screen is open (the
    issues it wrote stay, and a repeated upload skips them). At most `keep` jobs are kept."""

    def __init__(self, service: ImportService, *, keep: int = 50) -> None:
        import threading

        self.service = service
        self.keep = keep
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def start(self, principal: Principal, data: bytes, name: str, *, dry_run: bool,
              skip_invalid: bool) -> ImportJob:
        import secrets
        import threading

        self.service.check_allowed(principal)
        _kind(name)  # refuse a wrong file type at once
        job = ImportJob(id=secrets.token_urlsafe(12), username=principal.username, name=name)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.pop(next(iter(self._jobs)))

        def progress(done: int, total: int) -> None:
            job.state, job.done, job.total = "writing", done, total

        def work() -> None:
            try:
                table = read_table(io.BytesIO(data), name)
                job.state, job.total = "checking", len(table.rows)
                job.report = self.service.run(principal, table, dry_run=dry_run,
                                              skip_invalid=skip_invalid, progress=progress,
                                              cancelled=lambda: job.cancel_requested)
                job.state = "finished"
            except Exception as exc:  # shown on the screen; a DomainError with its text
                from node.domain.errors import DomainError

                if not isinstance(exc, DomainError):
                    log.exception("import %s of %s failed", job.id, name)
                job.error = exc
                job.state = "failed"

        threading.Thread(target=work, name=f"import-{job.id}", daemon=True).start()
        return job

    def get(self, principal: Principal, job_id: str) -> ImportJob:
        from node.domain.errors import NotFound

        self.service.check_allowed(principal)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.username != principal.username:
            raise NotFound("import_job_not_found", job=job_id[:40])
        return job

    def cancel(self, principal: Principal, job_id: str) -> ImportJob:
        """Ask the job to stop (its starter only): a running import stops before its next
        batch, keeping what it wrote; a finished or failed one is left as it is."""
        job = self.get(principal, job_id)
        if job.state not in ("finished", "failed"):
            job.cancel_requested = True
        return job
