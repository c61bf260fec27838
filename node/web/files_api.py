"""Files in and out of the JSON API: exports of the pool and the cockpit, and imports.

* `GET /api/v1/issues/export?format=xlsx|csv&<the filters of GET /issues>&lang=` — the whole
  pool of that filter, streamed (node/app/exports.py).
* `GET /api/v1/cockpit/export.xlsx` — the cockpit's tables (units, departments, boards,
  tags, overdue list) from the summary and the metrics, one sheet each.
* `GET /api/v1/imports/template.xlsx` — the import template with its 说明 sheet.
* `POST /api/v1/imports` (multipart: `file`, `dry_run`, `skip_invalid`; admin, dispatcher)
  — starts an import in the background (202, the job); `GET /api/v1/imports/{job}` — its
  progress and, once finished, its report (node/app/imports.py); `POST
  /api/v1/imports/{job}/cancel` stops it between two batches.

Thin like node/web/api.py. This router is included before the main one: its
`/issues/export` would otherwise be taken for an issue key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import StreamingResponse

from node.app.exports import XLSX, ExportColumn, Sheet, xlsx_chunks
from node.app.exports import PoolQuery as _PoolQuery
from node.app.imports import template_xlsx
from node.app.policy import VIEW_METRICS, require
from node.domain.calendar import CST
from node.domain.deadlines import Light
from node.domain.errors import NotFound
from node.domain.issue import State
from node.web import ui
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep
from node.web.schemas import NODE_CODE

router = APIRouter(prefix=API, responses=_ERRORS)

#: the largest file POST /imports takes (a 10,000-row library is about 1 MB as .xlsx)
MAX_IMPORT_BYTES = 50 * 1024 * 1024
IMPORTS_PATH = f"{API}/imports"


def _strings(lang: str) -> dict[str, str]:
    return ui.STRINGS["en" if lang == "en" else "zh-CN"]


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@router.get("/issues/export", tags=["files"], response_class=StreamingResponse)
def export_pool(
    principal: PrincipalDep,
    services: ServicesDep,
    format: Literal["xlsx", "csv"] = "xlsx",
    lang: Literal["zh-CN", "en"] = "zh-CN",
    state: Annotated[list[State] | None, Query()] = None,
    light: Light | None = None,
    tag: Annotated[str | None, Query(max_length=30)] = None,
    board: Annotated[str | None, Query(max_length=60)] = None,
    department: Annotated[str | None, Query(max_length=60)] = None,
    unit: Annotated[str | None, Query(max_length=40,
                                      description="a unit id: the issues in its queue")] = None,
    step: Annotated[int | None, Query(ge=0, le=20, description="a ladder step")] = None,
    origin: Annotated[str | None, Query(pattern=NODE_CODE,
                                        description="submitted at this unit (node code)")] = None,
    owner: Annotated[str | None, Query(pattern=NODE_CODE,
                                       description="held now by this unit (node code)")] = None,
    overdue: bool = False,
    red_within_hours: Annotated[float | None, Query(gt=0, le=24 * 365)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> StreamingResponse:
    """The pool of the filters of `GET /issues`, every row, as .xlsx or .csv: a header
    block (filter, time of export), Chinese column names (English with `lang=en`), China
    time. A viewer's file carries no personal data."""
    exports = services.exports
    if exports is None:
        raise NotFound("not_found")
    query = _PoolQuery(states=tuple(state or ()), light=light, tag=tag, board=board,
                       department=department, unit=unit, step=step, origin=origin,
                       owner=owner, overdue=overdue,
                       red_within=timedelta(hours=red_within_hours)
                       if red_within_hours else None, text=q)
    made = exports.pool(principal, query, format=format, labels=_strings(lang), lang=lang)
    return StreamingResponse(made.chunks, media_type=made.media_type,
                             headers=_attachment(made.filename))


_UNIT_COLUMNS = (
    ExportColumn(key="code", zh="单位代码", en="Code"),
    ExportColumn(key="name", zh="单位", en="Unit"),
    ExportColumn(key="total", zh="问题总数", en="Issues", kind="int"),
    ExportColumn(key="open", zh="在办", en="Open", kind="int"),
    ExportColumn(key="green", zh="绿灯", en="Green", kind="int"),
    ExportColumn(key="yellow", zh="黄灯", en="Yellow", kind="int"),
    ExportColumn(key="red", zh="红灯", en="Red", kind="int"),
    ExportColumn(key="resolution_rate", zh="办结率", en="Resolution rate", kind="int"),
    ExportColumn(key="on_time_rate", zh="按时办结率", en="On-time rate", kind="int"),
    ExportColumn(key="satisfaction_rate", zh="满意率", en="Satisfaction rate", kind="int"),
    # named as the cockpit names them: reopened after an unsatisfied rating, and the
    # problem back at the same enterprise in the same category (node/domain/metrics.py)
    ExportColumn(key="repeat_rate", zh="重办率（不满意重办）", en="Reopen rate", kind="int"),
    ExportColumn(key="recurrence_rate", zh="重发复发率", en="Recurrence rate", kind="int"),
    ExportColumn(key="avg_handling_hours", zh="平均办理时长（小时）", en="Avg handling (h)",
                 kind="int"),
)
_GROUP_COLUMNS = (ExportColumn(key="group", zh="名称", en="Name"), *_UNIT_COLUMNS[2:])
_TAG_COLUMNS = (ExportColumn(key="tag", zh="标签", en="Tag"),
                ExportColumn(key="count", zh="问题数", en="Issues", kind="int"))
_RED_COLUMNS = (ExportColumn(key="number", zh="编号", en="Number"),
                ExportColumn(key="title", zh="标题", en="Title"),
                ExportColumn(key="origin", zh="单位", en="Unit"))


def _rate(value: Any) -> Any:
    return None if value is None else round(float(value) * 100, 1)


def _group_row(label: str, g: dict[str, Any]) -> list[Any]:
    lights = g.get("counts_by_light", {})
    hours = g.get("avg_handling_hours")
    return [label, g.get("total"), g.get("open"), lights.get("green", 0),
            lights.get("yellow", 0), lights.get("red", 0), _rate(g.get("resolution_rate")),
            _rate(g.get("on_time_rate")), _rate(g.get("satisfaction_rate")),
            _rate(g.get("repeat_rate")), _rate(g.get("recurrence_rate")),
            None if hours is None else round(hours, 1)]


@router.get("/cockpit/export.xlsx", tags=["files"], response_class=StreamingResponse)
def export_cockpit(principal: PrincipalDep, services: ServicesDep,
                   lang: Literal["zh-CN", "en"] = "zh-CN") -> StreamingResponse:
    """The cockpit's tables as one workbook: per unit, per department, per board, top tags
    and the overdue (red) list, with the time they were computed (China time). Metrics
    only: no enterprise data."""
    require(principal, VIEW_METRICS)
    en = lang == "en"
    metrics = services.issues.metrics(principal)
    data = metrics.to_dict()
    names = _names(services)
    at = metrics.as_of.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    header = [f"{services.node_name} ({services.node}) "
              + ("cockpit tables" if en else "驾驶舱报表"),
              ("As of: " if en else "统计时间：") + at
              + (" (China time)" if en else "（北京时间）"),
              ("Rates in %" if en else "比率单位：%")]

    def units() -> Iterator[list[Any]]:
        yield [services.node, services.node_name, *_group_row("", data["overall"])[1:]]
        for code, g in data["by_node"].items():
            if code != services.node:
                yield [code, names.get(code, code), *_group_row("", g)[1:]]

    def groups(key: str) -> Iterator[list[Any]]:
        for label, g in data[key].items():
            yield _group_row(label or ("(none)" if en else "（未指定）"), g)

    def tags() -> Iterator[list[Any]]:
        for t in data["overall"]["top_tags"]:
            yield [t["tag"], t["count"]]

    def red() -> Iterator[list[Any]]:
        summary = services.issues.local_summary() if services.streams is None else (
            services.streams.summaries.latest or services.streams.summaries.compute())
        for line in summary.overdue:
            node = line.get("node", "")
            yield [line.get("number", ""), line.get("title", ""), names.get(node, node)]

    sheets = [
        Sheet(title="Units" if en else "单位", columns=_UNIT_COLUMNS, rows=units(),
              header=header),
        Sheet(title="Departments" if en else "部门", columns=_GROUP_COLUMNS,
              rows=groups("by_department"), header=header),
        Sheet(title="Boards" if en else "板块", columns=_GROUP_COLUMNS,
              rows=groups("by_board"), header=header),
        Sheet(title="Tags" if en else "标签", columns=_TAG_COLUMNS, rows=tags(),
              header=header),
        Sheet(title="Overdue list" if en else "红灯清单", columns=_RED_COLUMNS, rows=red(),
              header=header),
    ]
    stamp = metrics.as_of.astimezone(CST).strftime("%Y%m%d-%H%M")
    return StreamingResponse(xlsx_chunks(sheets, en=en), media_type=XLSX,
                             headers=_attachment(f"zhitong-cockpit-{services.node}-{stamp}.xlsx"))


def _names(services: Any) -> dict[str, str]:
    from node.web.stats_api import subtree_names

    try:
        return subtree_names(services.node, services.node_name)
    except KeyError:
        return {services.node: services.node_name}


@router.get("/imports/template.xlsx", tags=["files"])
def import_template(principal: PrincipalDep, services: ServicesDep) -> Response:
    """The import template: Chinese column names, two example rows, a 说明 sheet."""
    if services.imports is None:
        raise NotFound("not_found")
    services.imports.service.check_allowed(principal)
    return Response(template_xlsx(), media_type=XLSX,
                    headers=_attachment("zhitong-import-template.xlsx"))


@router.post("/imports", status_code=202, tags=["files"])
def start_import(
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description=".xlsx or .csv, the template's columns")],
    dry_run: Annotated[bool, Form()] = False,
    skip_invalid: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Start importing a file (admin, dispatcher): 202 with the job; follow it with
    `GET /imports/{job}`. A dry run checks every row and writes nothing."""
    if services.imports is None:
        raise NotFound("not_found")
    services.imports.service.check_allowed(principal)
    data = file.file.read()
    job = services.imports.start(principal, data, file.filename or "", dry_run=dry_run,
                                 skip_invalid=skip_invalid)
    return job.to_dict()


@router.get("/imports/{job_id}", tags=["files"])
def import_status(job_id: str, principal: PrincipalDep,
                  services: ServicesDep) -> dict[str, Any]:
    """An import's progress (`done` of `total` rows written) and, once finished, its
    report: every bad row with its column, value and reason (Chinese and English)."""
    if services.imports is None:
        raise NotFound("not_found")
    return services.imports.get(principal, job_id[:40]).to_dict()


@router.post("/imports/{job_id}/cancel", status_code=202, tags=["files"])
def cancel_import(job_id: str, principal: PrincipalDep,
                  services: ServicesDep) -> dict[str, Any]:
    """Stop an import (its starter): it stops before its next batch of rows; the batches
    written stay (the report says how many) and importing the file again completes it. A
    finished import is answered as it is."""
    if services.imports is None:
        raise NotFound("not_found")
    return services.imports.cancel(principal, job_id[:40]).to_dict()
