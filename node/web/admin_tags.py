"""The tag library (标签库) over the JSON API; thin like node/web/api.py.

* `GET   /api/v1/admin/tags` — the tree: categories (own and from above) with their tags,
  whether the library is in force, the number of pending proposals (staff).
* `POST  /api/v1/admin/tags/categories`, `POST /api/v1/admin/tags` — a new category, a new
  tag under a category (admin; 201).
* `PATCH /api/v1/admin/tags/{id}` — rename a category or tag of this node (admin).
* `POST  /api/v1/admin/tags/{id}/deactivate · reactivate` — nothing is deleted (admin).
* `POST  /api/v1/admin/tags/{id}/merge` — merge this node's tag into another (admin).
* `GET·POST /api/v1/admin/tags/proposals`, `POST …/proposals/{n}/approve · refuse` — a tag
  proposed during triage (whoever may triage) and its decision (leader, admin).
* `GET   /api/v1/admin/tags/changes` — the change log; `GET …/publication` — what this
  node publishes for its subtree.

Use cases: node/app/tags.py (TagService); rules: node/domain/tags.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.ports import TagChangeRow, TagProposal
from node.app.tags import TagService
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=f"{API}/admin/tags", responses=_ERRORS, tags=["administration"])
_STRICT = ConfigDict(extra="forbid")
NameZh = Annotated[str, Field(min_length=1, max_length=30)]
NameEn = Annotated[str | None, Field(default=None, max_length=60)]
EntryId = Annotated[str, Field(min_length=1, max_length=64)]


class CategoryIn(BaseModel):
    model_config = _STRICT
    name_zh: NameZh
    name_en: NameEn = None
    slug: str | None = Field(default=None, max_length=40)


class TagIn(CategoryIn):
    category: EntryId


class RenameIn(BaseModel):
    model_config = _STRICT
    name_zh: NameZh
    name_en: NameEn = None


class MergeIn(BaseModel):
    model_config = _STRICT
    into: EntryId


class ProposalIn(BaseModel):
    model_config = _STRICT
    category: EntryId
    name_zh: NameZh
    name_en: NameEn = None
    issue_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class ProposalOut(BaseModel):
    id: int
    category: str
    name_zh: str
    name_en: str | None
    issue_id: str | None
    note: str | None
    state: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    tag_id: str | None

    @classmethod
    def of(cls, p: TagProposal) -> ProposalOut:
        return cls(id=p.id, category=p.category, name_zh=p.name_zh, name_en=p.name_en,
                   issue_id=p.issue_id, note=p.note, state=p.state, proposed_by=p.proposed_by,
                   proposed_at=p.proposed_at, decided_by=p.decided_by,
                   decided_at=p.decided_at, tag_id=p.tag_id)


class ChangeOut(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    subject: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, c: TagChangeRow) -> ChangeOut:
        return cls(id=c.id, at=c.at, actor=c.actor, kind=c.kind, subject=c.subject,
                   detail=c.detail)


def _tags(s: Any) -> TagService:
    service: TagService | None = s.tags
    assert service is not None, "the runtime wires the tag library"
    return service


@router.get("")
def tree(p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _tags(s).tree(p).as_json()


@router.post("/categories", status_code=201)
def create_category(body: CategoryIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _tags(s).create_category(p, name_zh=body.name_zh, name_en=body.name_en,
                                    slug=body.slug).as_json()


@router.post("", status_code=201)
def create_tag(body: TagIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _tags(s).create_tag(p, category=body.category, name_zh=body.name_zh,
                               name_en=body.name_en, slug=body.slug).as_json()


@router.get("/proposals", response_model=list[ProposalOut])
def proposals(p: PrincipalDep, s: ServicesDep, state: str | None = "pending",
              limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ProposalOut]:
    return [ProposalOut.of(x) for x in _tags(s).proposals(
        p, state=state if state != "all" else None, limit=limit)]


@router.post("/proposals", status_code=201, response_model=ProposalOut)
def propose(body: ProposalIn, p: PrincipalDep, s: ServicesDep) -> ProposalOut:
    return ProposalOut.of(_tags(s).propose(p, category=body.category, name_zh=body.name_zh,
                                           name_en=body.name_en, issue_id=body.issue_id,
                                           note=body.note))


@router.post("/proposals/{proposal_id}/approve", response_model=ProposalOut)
def approve(proposal_id: int, p: PrincipalDep, s: ServicesDep) -> ProposalOut:
    return ProposalOut.of(_tags(s).decide(p, proposal_id, approve=True))


@router.post("/proposals/{proposal_id}/refuse", response_model=ProposalOut)
def refuse(proposal_id: int, p: PrincipalDep, s: ServicesDep) -> ProposalOut:
    return ProposalOut.of(_tags(s).decide(p, proposal_id, approve=False))


@router.get("/changes", response_model=list[ChangeOut])
def changes(p: PrincipalDep, s: ServicesDep,
            limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ChangeOut]:
    return [ChangeOut.of(c) for c in _tags(s).changes(p, limit=limit)]


@router.get("/publication")
def publication(p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _tags(s).publication(p)


@router.patch("/{entry_id}")
def rename(entry_id: str, body: RenameIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    out = _tags(s).rename(p, entry_id, name_zh=body.name_zh, name_en=body.name_en)
    return (out.categories or out.tags)[0].as_json()


@router.post("/{entry_id}/deactivate")
def deactivate(entry_id: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    out = _tags(s).set_active(p, entry_id, False)
    return (out.categories or out.tags)[0].as_json()


@router.post("/{entry_id}/reactivate")
def reactivate(entry_id: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    out = _tags(s).set_active(p, entry_id, True)
    return (out.categories or out.tags)[0].as_json()


@router.post("/{entry_id}/merge")
def merge(entry_id: str, body: MergeIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _tags(s).merge(p, entry_id, body.into).tags[0].as_json()
