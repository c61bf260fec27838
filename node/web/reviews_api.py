"""Rejections waiting for review (否定报备 联审) over HTTP.

* `GET /api/v1/reviews?overdue=true` — this node's rejected issues waiting for review,
  the longest waiting first: who rejected each (who may not review it), the reason, the
  review's due time and light, and whether it is overdue (RED); `overdue=true` keeps only
  the overdue ones. For the review unit's leader and reviewers, admins and supervisors
  (node/app/reviews.py); the review itself is `POST /issues/{id}/review`.

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from node.app.reviews import PendingReview, ReviewService
from node.domain.deadlines import Light
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["issues"])


def _service(services: Services) -> ReviewService:
    issues = services.issues
    return ReviewService(store=issues.store, node=services.node, rules=issues.rules,
                         clock=issues.clock)


class PendingReviewOut(BaseModel):
    id: str
    number: str
    title: str
    department: str | None
    rejection_reason: str | None
    rejected_by: str | None
    rejected_at: datetime | None
    due: datetime | None
    light: Light | None
    overdue: bool

    @staticmethod
    def of(r: PendingReview) -> PendingReviewOut:
        i = r.issue
        return PendingReviewOut(id=i.id, number=i.number, title=i.title,
                                department=i.department, rejection_reason=i.rejection_reason,
                                rejected_by=i.rejected_by,
                                rejected_at=i.deadline.start if i.deadline else None,
                                due=r.due, light=r.light, overdue=r.overdue)


@router.get("/reviews", response_model=list[PendingReviewOut])
def pending_reviews(principal: PrincipalDep, services: ServicesDep,
                    overdue: bool = False) -> list[PendingReviewOut]:
    return [PendingReviewOut.of(r) for r in _service(services).pending(principal,
                                                                       overdue=overdue)]
