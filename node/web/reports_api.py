"""Periodic reports (月报、季报、年报) over HTTP: list, read, download, generate on demand.

* `GET /api/v1/reports?kind=month` — the reports kept here, newest period first.
* `GET /api/v1/reports/{id}` — one report with its content (the figures of its files).
* `GET /api/v1/reports/{id}/pdf` and `/xlsx` — the file, as kept (`ETag` and
  `X-Content-SHA256`: its SHA-256).
* `POST /api/v1/reports` `{kind, period, replace}` — a leader's or an admin's report of an
  ended period: 201 when made now, 200 with the kept one (unless `replace`);
  `{kind: "special", from, to, tags?, units?, replace}` a special report (专项报告) of the
  days from–to (at most a year, ended) restricted to the chosen tags and units.

The schedule makes each period's report by itself (node/app/reports.py). Thin like
node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from node.app.ports import StoredReport
from node.app.reports import ReportService
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

SQL_INTEGER_MAX = 2**31 - 1  # reports.id is an INTEGER column

router = APIRouter(prefix=API, responses=_ERRORS)
KindQ = Literal["month", "quarter", "year", "special"]


def _service(services: Services) -> ReportService:
    if services.reports is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.reports


class ReportOut(BaseModel):
    id: int
    node: str
    kind: str
    period: str
    version: int
    trigger: str  # schedule | demand
    actor: str
    as_of: datetime
    created_at: datetime
    pdf_sha256: str
    xlsx_sha256: str
    pdf_size: int
    xlsx_size: int
    pdf_url: str
    xlsx_url: str

    @staticmethod
    def of(r: StoredReport) -> ReportOut:
        return ReportOut(
            id=r.id, node=r.node, kind=r.kind, period=r.period, version=r.version,
            trigger=r.trigger, actor=r.actor, as_of=r.as_of, created_at=r.created_at,
            pdf_sha256=r.pdf_sha256, xlsx_sha256=r.xlsx_sha256, pdf_size=r.pdf_size,
            xlsx_size=r.xlsx_size, pdf_url=f"{API}/reports/{r.id}/pdf",
            xlsx_url=f"{API}/reports/{r.id}/xlsx")


class ReportDetailOut(ReportOut):
    content: dict[str, Any]


class ReportsOut(BaseModel):
    items: list[ReportOut]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["month", "quarter", "year", "special"]
    period: str | None = Field(None, max_length=8,
                               description="2026-11, 2026-Q4 or 2026 (China time)")
    replace: bool = False
    # a special report (kind "special"): the days, and optionally tags and units
    first: str | None = Field(None, alias="from", max_length=10, description="2026-01-01")
    last: str | None = Field(None, alias="to", max_length=10, description="2026-03-31")
    tags: list[str] | None = Field(None, max_length=50)
    units: list[str] | None = Field(None, max_length=50, description="unit ids or codes")


ReportId = Annotated[int, Path(ge=1, le=SQL_INTEGER_MAX)]


@router.get("/reports", response_model=ReportsOut, tags=["metrics"])
def list_reports(principal: PrincipalDep, services: ServicesDep,
                 kind: Annotated[KindQ | None, Query()] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReportsOut:
    """The reports kept here, newest period first."""
    found = _service(services).reports(principal, kind=kind, limit=limit)
    return ReportsOut(items=[ReportOut.of(r) for r in found])


@router.post("/reports", response_model=ReportDetailOut, status_code=201, tags=["actions"],
             responses={200: {"model": ReportDetailOut, "description": "kept before"}})
def generate_report(body: GenerateIn, principal: PrincipalDep, services: ServicesDep,
                    response: Response) -> ReportDetailOut:
    """The report of an ended period, made now (201) or as kept (200)."""
    stored, created = _service(services).generate(
        principal, body.kind, body.period, replace=body.replace, first=body.first,
        last=body.last, tags=body.tags, units=body.units)
    if not created:
        response.status_code = 200
    return ReportDetailOut(**ReportOut.of(stored).model_dump(), content=stored.content)


@router.get("/reports/{report_id}", response_model=ReportDetailOut, tags=["metrics"])
def get_report(report_id: ReportId, principal: PrincipalDep,
               services: ServicesDep) -> ReportDetailOut:
    stored = _service(services).get(principal, report_id)
    return ReportDetailOut(**ReportOut.of(stored).model_dump(), content=stored.content)


@router.get("/reports/{report_id}/{fmt}", tags=["metrics"],
            responses={200: {"content": {"application/pdf": {}}}})
def download_report(report_id: ReportId, fmt: Literal["pdf", "xlsx"], principal: PrincipalDep,
                    services: ServicesDep) -> Response:
    """The report's PDF (A4, Chinese font embedded) or .xlsx, as kept."""
    d = _service(services).download(principal, report_id, fmt)
    return Response(d.data, media_type=d.media_type, headers={
        "Content-Disposition": f'attachment; filename="{d.filename}"',
        "ETag": f'"{d.sha256}"', "X-Content-SHA256": d.sha256,
        "Cache-Control": "private, max-age=0"})
