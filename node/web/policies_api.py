"""The policy library (政策库) and matching over the JSON API; thin like node/web/api.py.

* `GET   /api/v1/policies?tag=&q=&all=` — the library (own and from above), in force only
  unless `all` (staff).
* `POST  /api/v1/policies` — enter a policy (leader, admin; 201); `GET·PATCH
  /api/v1/policies/{id}`; `POST …/{id}/withdraw · restore` (this node's own only).
* `GET   /api/v1/policies/template.xlsx`; `POST /api/v1/policies/import` (multipart: file,
  dry_run) — every bad row with row, column, value and reason; all-or-nothing.
* `GET   /api/v1/issues/{key}/policies` — the policies that may apply to the issue and the
  ones attached to its reply (whoever may see the issue: staff, its enterprise);
  `POST …/policies` `{policy_id}` attaches one, `DELETE …/policies/{id}` detaches it (who
  may handle the issue here).
* `GET·PUT /api/v1/enterprise-profile` — an enterprise's industry and size for matching,
  kept only with `consent: true` (the enterprise itself; staff who register issues, with
  `credit_code`).

Use cases: node/app/policies.py; rules: node/domain/policies.py.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from node.app.policies import PolicyService, StoredPolicy, read_policy_table, template_xlsx
from node.app.policy import MANAGE_POLICIES, require
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["policies"])
_STRICT = ConfigDict(extra="forbid")
PolicyId = Annotated[str, Field(min_length=1, max_length=40)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PolicyIn(BaseModel):
    """A policy as entered; the checks and their Chinese messages are the domain's."""

    model_config = _STRICT
    title: str | None = Field(default=None, max_length=1000)
    issuer: str | None = Field(default=None, max_length=1000)
    doc_number: str | None = Field(default=None, max_length=1000)
    valid_from: str | None = Field(default=None, max_length=40)
    valid_to: str | None = Field(default=None, max_length=40)
    tags: list[str] | str | None = None
    industries: list[str] | str | None = None
    sizes: list[str] | str | None = None
    regions: list[str] | str | None = None
    summary: str | None = Field(default=None, max_length=5000)
    link: str | None = Field(default=None, max_length=2000)


class AttachIn(BaseModel):
    model_config = _STRICT
    policy_id: PolicyId


class ProfileIn(BaseModel):
    model_config = _STRICT
    credit_code: str | None = Field(default=None, max_length=40)
    industry: str | None = Field(default=None, max_length=40)
    size: str | None = Field(default=None, max_length=20)
    consent: bool = False


def _policies(s: Any) -> PolicyService:
    service: PolicyService | None = getattr(s, "policies", None)
    if service is None:
        raise NotFound("not_found")
    return service


def _out(row: StoredPolicy, node: str, service: PolicyService) -> dict[str, Any]:
    from node.domain.policies import in_force

    return {**row.policy.as_json(), "from_above": row.policy.origin != node,
            "in_force": in_force(row.policy, service.today()),
            "created_by": row.created_by, "updated_at": row.updated_at.isoformat()}


@router.get("/policies")
def list_policies(p: PrincipalDep, s: ServicesDep,
                  tag: Annotated[str | None, Query(max_length=64)] = None,
                  q: Annotated[str | None, Query(max_length=100)] = None,
                  all: Annotated[bool, Query()] = False) -> dict[str, Any]:
    service = _policies(s)
    rows = service.entries(p, tag=tag or None, query=q or None, include_inactive=all)
    return {"node": s.node, "policies": [_out(r, s.node, service) for r in rows]}


@router.post("/policies", status_code=201)
def create_policy(body: PolicyIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    service = _policies(s)
    created = service.create(p, body.model_dump())
    return _out(service.get(p, created.id), s.node, service)


@router.get("/policies/template.xlsx")
def policy_template(p: PrincipalDep, s: ServicesDep) -> Response:
    _policies(s)
    require(p, MANAGE_POLICIES)
    return Response(template_xlsx(), media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename=zhitong-policies-template.xlsx"})


@router.post("/policies/import")
def import_policies(p: PrincipalDep, s: ServicesDep,
                    file: Annotated[UploadFile, File(description=".xlsx or .csv")],
                    dry_run: Annotated[bool, Form()] = True) -> dict[str, Any]:
    """Check (dry run, the default) or import a policy spreadsheet: nothing is written
    unless every row passes."""
    service = _policies(s)
    require(p, MANAGE_POLICIES)
    table = read_policy_table(io.BytesIO(file.file.read()), file.filename or "")
    return service.import_table(p, table, dry_run=dry_run).to_dict()


@router.get("/policies/{policy_id}")
def get_policy(policy_id: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    service = _policies(s)
    return _out(service.get(p, policy_id[:40]), s.node, service)


@router.patch("/policies/{policy_id}")
def update_policy(policy_id: str, body: PolicyIn, p: PrincipalDep,
                  s: ServicesDep) -> dict[str, Any]:
    service = _policies(s)
    service.update(p, policy_id[:40], body.model_dump(exclude_unset=True))
    return _out(service.get(p, policy_id[:40]), s.node, service)


@router.post("/policies/{policy_id}/withdraw")
def withdraw_policy(policy_id: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    service = _policies(s)
    service.set_active(p, policy_id[:40], False)
    return _out(service.get(p, policy_id[:40]), s.node, service)


@router.post("/policies/{policy_id}/restore")
def restore_policy(policy_id: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    service = _policies(s)
    service.set_active(p, policy_id[:40], True)
    return _out(service.get(p, policy_id[:40]), s.node, service)


@router.get("/issues/{key}/policies")
def issue_policies(key: str, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _policies(s).for_issue(p, key[:64])


@router.post("/issues/{key}/policies")
def attach_policy(key: str, body: AttachIn, p: PrincipalDep,
                  s: ServicesDep) -> dict[str, Any]:
    return _policies(s).attach(p, key[:64], body.policy_id)


@router.delete("/issues/{key}/policies/{policy_id}")
def detach_policy(key: str, policy_id: str, p: PrincipalDep,
                  s: ServicesDep) -> dict[str, Any]:
    return _policies(s).detach(p, key[:64], policy_id[:40])


@router.get("/enterprise-profile")
def get_profile(p: PrincipalDep, s: ServicesDep,
                credit_code: Annotated[str | None, Query(max_length=40)] = None
                ) -> dict[str, Any]:
    return _policies(s).profile(p, credit_code)


@router.put("/enterprise-profile")
def put_profile(body: ProfileIn, p: PrincipalDep, s: ServicesDep) -> dict[str, Any]:
    return _policies(s).set_profile(p, credit_code=body.credit_code, industry=body.industry,
                                    size=body.size, consent=body.consent)
