"""The joint meeting (联席会议) over HTTP.

* `GET /api/v1/meetings/next?date=YYYY-MM-DD` — the meeting's date (default: the first
  working Monday of next month) and its agenda: every open issue here at the ladder step
  the configuration names (`meeting.step`, default `joint_meeting`), each with its decision
  once recorded.
* `POST /api/v1/meetings/{date}/decisions` — for one issue on the agenda: the leader in
  charge, the decision, a deadline (not before the meeting).
* `POST /api/v1/meetings/{date}/escalations` `{issue}` — what the meeting cannot solve,
  escalated to the next tier in one step with the meeting's decision as the reason (202,
  like `POST /issues/{key}/escalate`).

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from node.app.meetings import Agenda, MeetingService
from node.domain.errors import NotFound
from node.domain.meetings import Decision
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep, _outcome
from node.web.schemas import IssueOut

router = APIRouter(prefix=API, responses=_ERRORS)


def _service(services: Services) -> MeetingService:
    if services.meetings is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.meetings


class DecisionOut(BaseModel):
    meeting: date
    issue_id: str
    leader: str
    decision: str
    deadline: date

    @staticmethod
    def of(d: Decision) -> DecisionOut:
        return DecisionOut(meeting=d.meeting, issue_id=d.issue_id, leader=d.leader,
                           decision=d.decision, deadline=d.deadline)


class AgendaItemOut(BaseModel):
    issue_id: str
    number: str
    title: str
    state: str
    department: str | None
    decision: DecisionOut | None


class AgendaOut(BaseModel):
    meeting: date
    step: str
    items: list[AgendaItemOut]

    @staticmethod
    def of(a: Agenda) -> AgendaOut:
        return AgendaOut(meeting=a.meeting, step=a.step, items=[
            AgendaItemOut(issue_id=i.id, number=i.number, title=i.title, state=i.state.value,
                          department=i.department,
                          decision=DecisionOut.of(d) if d is not None else None)
            for i, d in a.items])


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issue: str = Field(min_length=1, max_length=64, description="issue id or number")
    leader: str = Field(max_length=100, description="the leader in charge (牵头领导)")
    decision: str = Field(max_length=1000)
    deadline: date


@router.get("/meetings/next", response_model=AgendaOut, tags=["metrics"])
def next_meeting(principal: PrincipalDep, services: ServicesDep,
                 on: Annotated[date | None, Query(alias="date")] = None) -> AgendaOut:
    """The joint meeting's agenda: the issues at its ladder step, with their decisions."""
    return AgendaOut.of(_service(services).agenda(principal, on))


@router.post("/meetings/{meeting}/decisions", response_model=DecisionOut, status_code=201,
             tags=["actions"])
def record_decision(meeting: date, body: DecisionIn, principal: PrincipalDep,
                    services: ServicesDep) -> DecisionOut:
    """The meeting's decision on one issue: the leader in charge, what, by when."""
    made = _service(services).decide(principal, meeting, body.issue, leader=body.leader,
                                     decision=body.decision, deadline=body.deadline)
    return DecisionOut.of(made)


class EscalationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issue: str = Field(min_length=1, max_length=64, description="issue id or number")


@router.post("/meetings/{meeting}/escalations", response_model=IssueOut, status_code=202,
             tags=["federation"])
def escalate_unsolved(meeting: date, body: EscalationIn, principal: PrincipalDep,
                      services: ServicesDep, response: Response) -> IssueOut:
    """上报: what the meeting cannot solve, to the next tier with its decision."""
    done = _service(services).escalate(principal, meeting, body.issue,
                                       via=services.forwarding)
    return _outcome(services, principal, done, response)
