"""Revisit acceptance (回访验收) over HTTP: a period's draws, the supervision office's tasks,
their results, and the audit of a draw from the issue events this node holds.

* `GET /api/v1/revisit-samples?period=YYYY-MM` — every draw of the period here, first draw
  first (a leader's re-draws next to it with their reason), each with its tasks' progress.
  (`POST /revisit-samples` and `GET /revisit-samples/{id}` are in node/web/api.py.)
* `GET /api/v1/revisit-tasks?sample=N` or `?period=YYYY-MM` — the tasks by due time, each
  with `overdue`, and the counts (total, done, open, overdue, superseded).
* `POST /api/v1/revisit-tasks/{id}/result` — 满意 / 基本满意 / 不满意 (or 未联系上), how the
  enterprise was reached and a note: a revisit event on the issue; 不满意 reopens it.
* `GET /api/v1/revisit-audit?node=330522&period=YYYY-MM` — at a parent (or the node
  itself): the node's draws rebuilt from the replicated events, each verified (frame
  digest and size, selection re-drawn from seed and share, a re-draw's reason) with its
  completion.

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.ports import RevisitTask
from node.app.revisits import RevisitService, progress
from node.domain.errors import NotFound
from node.domain.issue import ContactMethod, RevisitResult
from node.domain.revisits import DrawAudit
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep
from node.web.schemas import SampleOut

SQL_INTEGER_MAX = 2**31 - 1  # revisit_tasks.id and revisit_samples.id are INTEGER columns

router = APIRouter(prefix=API, responses=_ERRORS)

Period = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="month, YYYY-MM (CST)")]


def _service(services: Services) -> RevisitService:
    if services.revisits is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.revisits


class ProgressOut(BaseModel):
    total: int
    done: int
    open: int
    overdue: int
    superseded: int


class DrawOut(SampleOut):
    progress: ProgressOut


class DrawsOut(BaseModel):
    period: str
    draws: list[DrawOut]  # first draw first; a re-draw names `redraw_of` and `reason`


class TaskOut(BaseModel):
    id: int
    sample_id: int
    issue_id: str
    number: str
    title: str
    issue_state: str
    state: str  # open | done | superseded
    due: datetime
    overdue: bool
    created_at: datetime
    attempts: int
    result: str | None
    contact: str | None
    note: str | None
    done_at: datetime | None
    done_by: str | None

    @staticmethod
    def of(task: RevisitTask, now: datetime) -> TaskOut:
        return TaskOut(
            id=task.id, sample_id=task.sample_id, issue_id=task.issue_id,
            number=task.number, title=task.title, issue_state=task.issue_state.value,
            state=task.state, due=task.due, overdue=task.state == "open" and task.due <= now,
            created_at=task.created_at, attempts=task.attempts, result=task.result,
            contact=task.contact, note=task.note, done_at=task.done_at, done_by=task.done_by,
        )


class TasksOut(BaseModel):
    items: list[TaskOut]
    counts: ProgressOut


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: RevisitResult
    contact: ContactMethod
    note: str | None = Field(default=None, max_length=2000)


class AuditOut(BaseModel):
    sample: int
    draw: int
    period: str
    seed: str
    share_exact: str
    method: str
    reason: str | None
    redraw_of: int | None
    drawn_at: datetime
    drawn_by: str
    frame_size_claimed: int
    frame_size: int  # the frame rebuilt here
    selected: list[str]  # the issues carrying the draw's mark
    expected: list[str]  # the selection re-drawn here
    verified: bool
    problems: list[str]  # frame_differs, selection_differs, redraw_without_reason, …
    done: int
    results: dict[str, str]  # issue id → final revisit result of this draw

    @staticmethod
    def of(a: DrawAudit) -> AuditOut:
        m = a.mark
        return AuditOut(
            sample=m.sample, draw=m.draw, period=m.period, seed=m.seed,
            share_exact=str(m.share), method=m.method, reason=m.reason,
            redraw_of=m.redraw_of, drawn_at=a.drawn_at, drawn_by=a.drawn_by,
            frame_size_claimed=m.frame_size, frame_size=len(a.frame),
            selected=list(a.marked), expected=list(a.expected), verified=a.verified,
            problems=a.problems(), done=len(a.done), results=dict(a.done),
        )


class AuditsOut(BaseModel):
    node: str
    period: str
    draws: list[AuditOut]


@router.get("/revisit-samples", response_model=DrawsOut, tags=["metrics"])
def list_draws(period: Period, principal: PrincipalDep, services: ServicesDep) -> DrawsOut:
    """The period's draws: the first one and any re-draw next to it, with their tasks."""
    out = [DrawOut(**SampleOut.of(d).model_dump(), progress=ProgressOut(**_fields(p)))
           for d, p in _service(services).draws(principal, period)]
    return DrawsOut(period=period, draws=out)


def _fields(p: object) -> dict[str, int]:
    return {k: getattr(p, k) for k in ("total", "done", "open", "overdue", "superseded")}


@router.get("/revisit-tasks", response_model=TasksOut, tags=["metrics"])
def list_tasks(
    principal: PrincipalDep,
    services: ServicesDep,
    sample: Annotated[int | None, Query(ge=1, le=SQL_INTEGER_MAX)] = None,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> TasksOut:
    """The supervision office's revisit tasks of one draw (or of a period), by due time."""
    service = _service(services)
    tasks = service.tasks(principal, sample_id=sample, period=period)
    now = service.now()
    return TasksOut(items=[TaskOut.of(t, now) for t in tasks],
                    counts=ProgressOut(**_fields(progress(tasks, now))))


@router.post("/revisit-tasks/{task_id}/result", response_model=TaskOut, tags=["actions"])
def record_result(
    task_id: Annotated[int, Path(ge=1, le=SQL_INTEGER_MAX)],
    body: ResultIn,
    principal: PrincipalDep,
    services: ServicesDep,
) -> TaskOut:
    """回访结果: recorded as a revisit event on the issue; 不满意 reopens it."""
    service = _service(services)
    task = service.record(principal, task_id, result=body.result, contact=body.contact,
                          note=body.note)
    return TaskOut.of(task, service.now())


@router.get("/revisit-audit", response_model=AuditsOut, tags=["metrics"])
def audit_draws(
    node: Annotated[str, Query(pattern=r"^\d{6}$", description="division code")],
    period: Period,
    principal: PrincipalDep,
    services: ServicesDep,
) -> AuditsOut:
    """A node's draws of the period rebuilt from the issue events held here, verified."""
    found = _service(services).audit(principal, node=node, period=period)
    return AuditsOut(node=node, period=period, draws=[AuditOut.of(a) for a in found])
