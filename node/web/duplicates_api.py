"""Likely duplicates and 并单 over HTTP.

* `GET /api/v1/issues/{key}/duplicates` — the likely duplicates of an issue held here
  (node/app/duplicates.py), best first, each with its score and whether it can be merged.
* `POST /api/v1/duplicates` — the same for an issue about to be registered (intake): its
  title, content and the enterprise's credit code.
* `POST /api/v1/issues/{key}/merge` — merge `followers` into the issue `key` (a
  dispatcher's, node/app/merges.py); every follower is closed as merged.
* `POST /api/v1/issues/{key}/unmerge` — a leader undoes the merge follower `key` is in.
* `GET /api/v1/issues/{key}/merges` — the merges the issue is or was in, from its events.
* `GET /api/v1/clusters/proposals`, `POST /api/v1/clusters`, `GET /api/v1/clusters[/{id}]`
  — 共性问题 at a city: similar open issues of two or more counties, confirmed as one
  cluster handled by one common issue of the city (node/app/clusters.py).
* `GET /api/v1/clusters/cross-city` — at a province: likely duplicates across cities, from
  the keyed signatures the cities' summaries carry (node/app/similarity.py).

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from node.app import similarity
from node.app.clusters import ClusterRecord, ClusterService
from node.app.duplicates import Candidate, DuplicateService
from node.app.merges import MergeService
from node.domain.clusters import MAX_MEMBERS
from node.domain.deadlines import Light
from node.domain.errors import NotFound
from node.domain.issue import State, SubjectKind
from node.domain.merging import MAX_FOLLOWERS, MAX_MERGE_NOTE, MergeLink
from node.domain.validation import MAX_CONTENT, MAX_TITLE
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep, _out
from node.web.schemas import IssueOut

router = APIRouter(prefix=API, responses=_ERRORS, tags=["issues"])


def _duplicates(services: Services) -> DuplicateService:
    if services.duplicates is None:  # node.runtime.build always sets it
        raise NotFound("not_found")
    return services.duplicates


def _merges(services: Services) -> MergeService:
    issues = services.issues
    return MergeService(store=issues.store, node=services.node, clock=issues.clock)


class CandidateOut(BaseModel):
    id: str
    number: str
    title: str
    enterprise_name: str
    owner: str
    state: State
    light: Light | None
    received_at: datetime
    score: float
    same_enterprise: bool
    mergeable: bool


class CandidatesOut(BaseModel):
    items: list[CandidateOut]


def _candidates(services: Services, found: list[Candidate]) -> CandidatesOut:
    light_of = services.issues.light_of
    return CandidatesOut(items=[CandidateOut(
        id=c.issue.id, number=c.issue.number, title=c.issue.title,
        enterprise_name=c.issue.enterprise.name, owner=c.issue.owner, state=c.issue.state,
        light=light_of(c.issue), received_at=c.issue.received_at, score=c.score,
        same_enterprise=c.same_enterprise, mergeable=c.mergeable) for c in found])


class DraftIn(BaseModel):
    title: str = Field(default="", max_length=MAX_TITLE)
    content: str = Field(default="", max_length=MAX_CONTENT)
    credit_code: str | None = Field(default=None, max_length=18)


class MergeIn(BaseModel):
    followers: list[str] = Field(min_length=1, max_length=MAX_FOLLOWERS)
    note: str | None = Field(default=None, max_length=MAX_MERGE_NOTE)


class UnmergeIn(BaseModel):
    note: str | None = Field(default=None, max_length=MAX_MERGE_NOTE)


class MergedOut(BaseModel):
    master: IssueOut
    followers: list[IssueOut]


class MergeLinkOut(BaseModel):
    master: str
    master_number: str
    follower: str
    follower_number: str
    merged_at: datetime
    merged_by: str
    unmerged_at: datetime | None
    unmerged_by: str | None

    @staticmethod
    def of(link: MergeLink) -> MergeLinkOut:
        return MergeLinkOut(master=link.master, master_number=link.master_number,
                            follower=link.follower, follower_number=link.follower_number,
                            merged_at=link.merged_at, merged_by=link.merged_by,
                            unmerged_at=link.unmerged_at, unmerged_by=link.unmerged_by)


@router.get("/issues/{key}/duplicates", response_model=CandidatesOut)
def issue_duplicates(key: str, p: PrincipalDep, s: ServicesDep) -> CandidatesOut:
    """疑似重复: the issues held here that likely say the same as this one."""
    return _candidates(s, _duplicates(s).for_issue(p, key))


@router.post("/duplicates", response_model=CandidatesOut)
def draft_duplicates(body: DraftIn, p: PrincipalDep, s: ServicesDep) -> CandidatesOut:
    """疑似重复 at intake: the issues held here like the one about to be registered."""
    return _candidates(s, _duplicates(s).for_text(p, title=body.title, content=body.content,
                                                  credit_code=body.credit_code))


@router.post("/issues/{key}/merge", response_model=MergedOut)
def merge(key: str, body: MergeIn, p: PrincipalDep, s: ServicesDep) -> MergedOut:
    """并单: merge the followers into this issue; they are closed as merged."""
    done = _merges(s).merge(p, key, body.followers, note=body.note)
    light_of = s.issues.light_of
    return MergedOut(master=_out(s, p, done.master, light_of(done.master)),
                     followers=[_out(s, p, f, light_of(f)) for f in done.followers])


@router.post("/issues/{key}/unmerge", response_model=MergedOut)
def unmerge(key: str, body: UnmergeIn, p: PrincipalDep, s: ServicesDep) -> MergedOut:
    """撤销并单: the follower `key` back in its state from before the merge."""
    done = _merges(s).unmerge(p, key, note=body.note)
    light_of = s.issues.light_of
    return MergedOut(master=_out(s, p, done.master, light_of(done.master)),
                     followers=[_out(s, p, f, light_of(f)) for f in done.followers])


@router.get("/issues/{key}/merges", response_model=list[MergeLinkOut])
def merges(key: str, p: PrincipalDep, s: ServicesDep) -> list[MergeLinkOut]:
    """The merges this issue is or was in, as master or follower."""
    return [MergeLinkOut.of(link) for link in _merges(s).links(p, key)]


# --------------------------------------------------------------------------- 共性问题


def _clusters(services: Services) -> ClusterService:
    found = services.duplicates.clusters if services.duplicates is not None else None
    if found is None:  # node.runtime.build always sets it
        raise NotFound("not_found")
    return found


class ProposalOut(BaseModel):
    origins: list[str]
    score: float
    members: list[CandidateOut]


class ClusterIn(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    members: list[str] = Field(min_length=2, max_length=MAX_MEMBERS)
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    subject_kind: SubjectKind = SubjectKind.REGION


class ClusterMemberOut(BaseModel):
    id: str
    number: str
    origin: str


class ClusterOut(BaseModel):
    id: str
    title: str
    common_issue_id: str
    created_by: str
    created_at: datetime
    members: list[ClusterMemberOut]

    @staticmethod
    def of(c: ClusterRecord) -> ClusterOut:
        return ClusterOut(id=c.id, title=c.title, common_issue_id=c.common_issue_id,
                          created_by=c.created_by, created_at=c.created_at,
                          members=[ClusterMemberOut(id=i, number=n, origin=o)
                                   for i, n, o in c.members])


class ClusterCreatedOut(BaseModel):
    cluster: ClusterOut
    common_issue: IssueOut


@router.get("/clusters/proposals", response_model=list[ProposalOut])
def cluster_proposals(p: PrincipalDep, s: ServicesDep) -> list[ProposalOut]:
    """共性问题 proposed: similar open issues of two or more counties held here."""
    out = []
    for found in _clusters(s).proposals(p):
        members = _candidates(s, [Candidate(issue=i, score=found.proposal.score,
                                            same_enterprise=False, mergeable=False)
                                  for i in found.issues]).items
        out.append(ProposalOut(origins=list(found.proposal.origins),
                               score=found.proposal.score, members=members))
    return out


class CrossCityIssueOut(BaseModel):
    city: str
    node: str  # the unit of origin
    number: str


class CrossCityOut(BaseModel):
    a: CrossCityIssueOut
    b: CrossCityIssueOut
    similarity: float = Field(ge=0, le=1)


@router.get("/clusters/cross-city", response_model=list[CrossCityOut])
def cross_city_proposals(p: PrincipalDep, s: ServicesDep) -> list[CrossCityOut]:
    """At a province: pairs of open issues of two different cities that look alike, from
    the keyed signatures in the cities' summaries alone (no text reaches the province);
    each city confirms from the texts it holds. Empty where no summaries arrive."""
    children = s.streams.summaries.children if s.streams is not None else {}
    return [CrossCityOut.model_validate(x) for x in similarity.proposals(p, children)]


@router.post("/clusters", response_model=ClusterCreatedOut, status_code=201)
def create_cluster(body: ClusterIn, p: PrincipalDep, s: ServicesDep) -> ClusterCreatedOut:
    """Confirm a 共性问题 cluster: one common issue here handles every member."""
    record, common = _clusters(s).create(p, title=body.title, members=body.members,
                                         content=body.content, subject_kind=body.subject_kind)
    return ClusterCreatedOut(cluster=ClusterOut.of(record),
                             common_issue=_out(s, p, common, s.issues.light_of(common)))


@router.get("/clusters", response_model=list[ClusterOut])
def list_clusters(p: PrincipalDep, s: ServicesDep) -> list[ClusterOut]:
    return [ClusterOut.of(c) for c in _clusters(s).list(p)]


@router.get("/clusters/{cluster_id}", response_model=ClusterOut)
def get_cluster(cluster_id: str, p: PrincipalDep, s: ServicesDep) -> ClusterOut:
    return ClusterOut.of(_clusters(s).get(p, cluster_id))
