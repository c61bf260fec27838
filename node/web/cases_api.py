"""Reviews (问题复盘) and the case library (案例库) over HTTP.

* `GET /api/v1/cases?kind=&tag=&unit=&q=&limit=&offset=` — the published cases this node
  holds (its own and its subtree's: a city its counties', the province what its cities'
  summaries carried), newest first; `unit` is a division code (the origin) or a unit id.
* `GET /api/v1/cases/{id}` — one published case.
* `POST /api/v1/case-reviews` — open a review of a closed issue, or of a 共性问题 cluster
  whose common issue is closed (`subject_kind: cluster`) (leaders, admins).
* `GET /api/v1/case-reviews?subject=` — the reviews of one issue; `GET …/{id}` one review.
* `PATCH /api/v1/case-reviews/{id}` — edit a draft (`version`: the one the edit is based on).
* `POST /api/v1/case-reviews/{id}/publish` — publish as 典型案例 (`exemplary`) or 负面案例
  (`negative`), with tags; `consent` records that the enterprise agreed to be named.

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.cases import CaseService
from node.domain.cases import (
    MAX_CASE_TEXT,
    MAX_CASE_TITLE,
    MAX_MEASURE_TEXT,
    MAX_MEASURES,
    MAX_NOTE,
    MAX_REFERENCE,
    Draft,
    Measure,
    MeasureKind,
    Review,
)
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS)

Kind = Literal["exemplary", "negative"]


def _service(services: Services) -> CaseService:
    if services.cases is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.cases


class MeasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["rule", "policy", "procedure"]
    text: str = Field(max_length=MAX_MEASURE_TEXT * 2)
    reference: str = Field(max_length=MAX_REFERENCE * 2,
                           description="document number, link or rule id of the change")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=MAX_CASE_TITLE * 2)
    root_cause: str | None = Field(default=None, max_length=MAX_CASE_TEXT * 2)
    gap: str | None = Field(default=None, max_length=MAX_CASE_TEXT * 2,
                            description="the policy or rule gap")
    measures: list[MeasureIn] = Field(default_factory=list, max_length=MAX_MEASURES * 2)
    outcome: str | None = Field(default=None, max_length=MAX_CASE_TEXT * 2)
    tags: list[str] = Field(default_factory=list, max_length=40)
    unit: str | None = Field(default=None, max_length=120)

    def draft(self) -> Draft:
        return Draft(title=self.title, root_cause=self.root_cause, gap=self.gap,
                     measures=tuple(Measure(kind=MeasureKind(m.kind), text=m.text,
                                            reference=m.reference) for m in self.measures),
                     outcome=self.outcome, tags=tuple(self.tags), unit=self.unit)


class ReviewIn(DraftIn):
    subject_kind: Literal["issue", "cluster"] = "issue"
    subject: str = Field(min_length=1, max_length=64, description="issue id or number")


class EditIn(DraftIn):
    version: int = Field(ge=1)


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    kind: Kind
    tags: list[str] | None = Field(default=None, max_length=40)
    consent: str | None = Field(
        default=None, max_length=MAX_NOTE * 2,
        description="the enterprise agreed to be named: how (recorded with who and when)")


class ReviewOut(BaseModel):
    id: str
    state: str
    version: int
    subject: dict[str, Any]
    title: str
    root_cause: str | None
    gap: str | None
    measures: list[dict[str, str]]
    outcome: str | None
    tags: list[str]
    unit: str | None
    kind: str | None
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str
    published_by: str | None
    published_at: str | None
    consent: dict[str, str] | None

    @staticmethod
    def of(r: Review) -> ReviewOut:
        s, d = r.subject, r.draft
        return ReviewOut(
            id=r.id, state=r.state.value, version=r.version,
            subject={"kind": s.kind.value, "id": s.id, "number": s.number, "title": s.title},
            title=d.title, root_cause=d.root_cause, gap=d.gap,
            measures=[{"kind": m.kind.value, "text": m.text, "reference": m.reference}
                      for m in d.measures],
            outcome=d.outcome, tags=list(d.tags), unit=d.unit,
            kind=r.kind.value if r.kind else None, created_by=r.created_by,
            created_at=r.created_at.isoformat(), updated_by=r.updated_by,
            updated_at=r.updated_at.isoformat(), published_by=r.published_by,
            published_at=r.published_at.isoformat() if r.published_at else None,
            consent=None if r.consent is None else {
                "recorded_by": r.consent.recorded_by, "at": r.consent.at.isoformat(),
                "note": r.consent.note})


class PublishedOut(BaseModel):
    review: ReviewOut
    case: dict[str, Any]


class CasesOut(BaseModel):
    items: list[dict[str, Any]]
    total: int


@router.get("/cases", response_model=CasesOut, tags=["metrics"])
def list_cases(principal: PrincipalDep, services: ServicesDep,
               kind: Kind | None = None,
               tag: Annotated[str | None, Query(max_length=30)] = None,
               unit: Annotated[str | None, Query(max_length=60)] = None,
               q: Annotated[str | None, Query(max_length=100)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> CasesOut:
    """The case library: 典型案例 (exemplary) and 负面案例 (negative), newest first."""
    page = _service(services).list(principal, kind=kind, tag=tag or None, unit=unit or None,
                                   q=q or None, limit=limit, offset=offset)
    return CasesOut(items=page.items, total=page.total)


@router.get("/cases/{case_id}", tags=["metrics"])
def get_case(case_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return _service(services).case(principal, case_id)


@router.post("/case-reviews", response_model=ReviewOut, status_code=201, tags=["actions"])
def open_review(body: ReviewIn, principal: PrincipalDep, services: ServicesDep) -> ReviewOut:
    """复盘: open a review of a closed issue."""
    return ReviewOut.of(_service(services).open_review(
        principal, subject_kind=body.subject_kind, subject=body.subject, draft=body.draft()))


@router.get("/case-reviews", response_model=list[ReviewOut], tags=["actions"])
def reviews_of(principal: PrincipalDep, services: ServicesDep,
               subject: Annotated[str, Query(min_length=1, max_length=64)],
               subject_kind: Literal["issue", "cluster"] = "issue") -> list[ReviewOut]:
    """The reviews of one issue (id or number) or 共性问题 cluster."""
    return [ReviewOut.of(r) for r in _service(services).reviews_of(principal, subject,
                                                                   subject_kind)]


@router.get("/case-reviews/{review_id}", response_model=ReviewOut, tags=["actions"])
def get_review(review_id: str, principal: PrincipalDep, services: ServicesDep) -> ReviewOut:
    return ReviewOut.of(_service(services).get_review(principal, review_id))


@router.patch("/case-reviews/{review_id}", response_model=ReviewOut, tags=["actions"])
def edit_review(review_id: str, body: EditIn, principal: PrincipalDep,
                services: ServicesDep) -> ReviewOut:
    return ReviewOut.of(_service(services).edit(principal, review_id, body.draft(),
                                                expected_version=body.version))


@router.post("/case-reviews/{review_id}/publish", response_model=PublishedOut,
             tags=["actions"])
def publish_review(review_id: str, body: PublishIn, principal: PrincipalDep,
                   services: ServicesDep) -> PublishedOut:
    """Publish as 典型案例 (exemplary) or 负面案例 (negative)."""
    review, form = _service(services).publish(
        principal, review_id, kind=body.kind, tags=body.tags, consent_note=body.consent,
        expected_version=body.version)
    return PublishedOut(review=ReviewOut.of(review), case=form)
