"""The 有感指数 over HTTP: the ranking (晾晒比拼) and the external evaluations.

* `GET /api/v1/index?period=2026-11&level=county|city|department` (no period: the month
  running now) — every unit of the level with its index, rank, change against the
  previous period, and each component with its numerator, denominator and weight
  (node/app/index.py).
* `GET /api/v1/index/evaluations?period=2026-11` — the evaluations entered here.
* `PUT /api/v1/index/evaluations` `{unit, period, kind, score, source}` — a leader's or
  an admin's evaluation (基层评价 grassroots, 企业评价 enterprise, 第三方评价 third_party);
  a second one for the same unit, period and kind replaces it (the old kept in the audit
  log).

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.index import IndexService
from node.app.ports import StoredEvaluation
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS)
PeriodQ = Annotated[str, Query(max_length=8, description="2026-11, 2026-Q4 or 2026")]


def _service(services: Services) -> IndexService:
    if services.index is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.index


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(min_length=1, max_length=60, description="a division code, or "
                      "'<origin>|<department>' for a department")
    period: str = Field(max_length=8)
    kind: Literal["grassroots", "enterprise", "third_party"]
    score: float = Field(ge=0, le=100)
    source: str = Field(min_length=1, max_length=200)


class EvaluationOut(BaseModel):
    unit: str
    period: str
    kind: str
    score: float
    source: str
    entered_by: str
    entered_at: datetime

    @staticmethod
    def of(e: StoredEvaluation) -> EvaluationOut:
        return EvaluationOut(unit=e.unit, period=e.period, kind=e.kind, score=e.score,
                             source=e.source, entered_by=e.entered_by, entered_at=e.entered_at)


class EvaluationsOut(BaseModel):
    items: list[EvaluationOut]


@router.get("/index", tags=["metrics"])
def ranking(principal: PrincipalDep, services: ServicesDep, period: PeriodQ = "",
            level: Annotated[str, Query(max_length=12)] = "county") -> dict[str, Any]:
    """The 有感指数 ranking of a period (default: the month running now), every figure
    explained."""
    return _service(services).ranking(principal, period=period, level=level)


@router.get("/index/evaluations", response_model=EvaluationsOut, tags=["metrics"])
def evaluations(principal: PrincipalDep, services: ServicesDep,
                period: PeriodQ) -> EvaluationsOut:
    found = _service(services).evaluations(principal, period=period)
    return EvaluationsOut(items=[EvaluationOut.of(e) for e in found])


@router.put("/index/evaluations", response_model=EvaluationOut, tags=["actions"])
def enter_evaluation(body: EvaluationIn, principal: PrincipalDep,
                     services: ServicesDep) -> EvaluationOut:
    """An external evaluation of a unit for a period (a correction replaces it)."""
    kept = _service(services).enter(principal, unit=body.unit, period=body.period,
                                    kind=body.kind, score=body.score, source=body.source)
    return EvaluationOut.of(kept)
