"""The organisation as one file over the JSON API; thin like node/web/api.py.

* `GET  /api/v1/admin/organisation` — this node's organisation (`zhitong-organisation/1`:
  units, its own categories and tags, its own rules) as a JSON file to download.
* `POST /api/v1/admin/organisation/import?dry_run=true` — a file exported elsewhere (a
  city's template): checked as a whole, the steps reported; with `dry_run=false` applied.
  Bad input is refused with the field named and nothing written.

Use cases: node/app/organisation.py.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from node.app.organisation import OrganisationService
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["administration"])


def organisation_of(services: Services) -> OrganisationService:
    units = services.issues.units
    assert units is not None, "the runtime builds the unit service"
    return OrganisationService(units=units, tags=services.tags, rules=services.rules,
                               node=services.node, node_name=services.node_name,
                               clock=services.issues.clock)


@router.get("/admin/organisation")
def export_organisation(s: ServicesDep, p: PrincipalDep) -> Response:
    doc = organisation_of(s).export(p)
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2).encode(),
        media_type="application/json",
        headers={"Content-Disposition":
                 f'attachment; filename="organisation-{s.node}.json"'})


@router.post("/admin/organisation/import")
def import_organisation(s: ServicesDep, p: PrincipalDep,
                        document: dict[str, Any] = Body(...),  # noqa: B008
                        dry_run: bool = Query(True)) -> dict[str, Any]:
    return organisation_of(s).import_(p, document, dry_run=dry_run).as_json()
