"""The organisation units over the JSON API; thin like node/web/api.py.

* `GET   /api/v1/units` — the units staff dispatch to (`?kind=`, `?node=` a child's code,
  `?active=`), with the name in the request's language (`Accept-Language: en`).
* `GET   /api/v1/admin/units` — the catalogue for its administration (admin only).
* `POST  /api/v1/admin/units` — a new unit of this node (201): slug, kind, names, parent
  (a department's bureau), external code.
* `PATCH /api/v1/admin/units/{id}` — rename, move, recode (only the fields given; `""`
  clears an optional one). Issues hold ids: no issue changes.
* `POST  /api/v1/admin/units/{id}/deactivate`, `/reactivate` — a deactivated unit takes
  no dispatch; what its queue holds stays there.
* `GET   /api/v1/admin/unit-events` — the change log (`?unit=`), newest first.

Use cases: node/app/units.py (UnitService); every change is one `unit_events` row there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from node.app.policy import MANAGE_UNITS, require
from node.app.units import UnitService
from node.domain.units import Unit, UnitKind
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["administration"])
_STRICT = ConfigDict(extra="forbid")
UnitId = Annotated[str, Path(min_length=8, max_length=40)]


def request_lang(request: Request) -> str:
    """"en" when the request prefers English (Accept-Language), else "zh"."""
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def units_of(services: Services) -> UnitService:
    units = services.issues.units
    assert units is not None, "the runtime builds the unit service"
    return units


class UnitOut(BaseModel):
    id: str
    node: str
    kind: str
    name: str  # in the request's language
    name_zh: str
    name_en: str | None
    parent_id: str | None
    parent_name: str | None
    active: bool
    external_code: str | None

    @classmethod
    def of(cls, unit: Unit, lang: str, catalogue: Any) -> UnitOut:
        parent = catalogue.get(unit.parent_id) if unit.parent_id else None
        return cls(id=unit.id, node=unit.node, kind=unit.kind.value, name=unit.name(lang),
                   name_zh=unit.name_zh, name_en=unit.name_en, parent_id=unit.parent_id,
                   parent_name=parent.name(lang) if parent else None, active=unit.active,
                   external_code=unit.external_code)


class UnitIn(BaseModel):
    model_config = _STRICT
    slug: str = Field(min_length=1, max_length=32)
    kind: UnitKind
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str | None = Field(default=None, max_length=80)
    parent_id: str | None = Field(default=None, max_length=40)
    external_code: str | None = Field(default=None, max_length=40)


class UnitPatch(BaseModel):
    model_config = _STRICT
    name_zh: str | None = Field(default=None, min_length=1, max_length=40)
    name_en: str | None = Field(default=None, max_length=80)
    parent_id: str | None = Field(default=None, max_length=40)
    external_code: str | None = Field(default=None, max_length=40)


class UnitEventOut(BaseModel):
    id: int
    unit_id: str
    kind: str
    actor: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any]


def _answer(services: Services, request: Request, found: list[Unit]) -> list[UnitOut]:
    lang = request_lang(request)
    catalogue = units_of(services).catalogue()
    return [UnitOut.of(u, lang, catalogue) for u in found]


@router.get("/units", response_model=list[UnitOut], tags=["units"])
def list_units(
    principal: PrincipalDep, services: ServicesDep, request: Request,
    kind: UnitKind | None = None,
    node: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    active: bool | None = None,
    everywhere: bool = False,
) -> list[UnitOut]:
    """The units of this node (or of a child, `?node=`; every one known here with
    `?everywhere=true`) to dispatch to, filter by and name."""
    service = units_of(services)
    found = (service.known(principal) if everywhere else
             service.list(principal, node=node, kind=kind, active=active))
    return _answer(services, request, found)


@router.get("/admin/units", response_model=list[UnitOut])
def admin_list_units(principal: PrincipalDep, services: ServicesDep, request: Request,
                     kind: UnitKind | None = None) -> list[UnitOut]:
    require(principal, MANAGE_UNITS)
    return _answer(services, request, units_of(services).list(principal, kind=kind))


@router.post("/admin/units", response_model=UnitOut, status_code=201)
def create_unit(body: UnitIn, principal: PrincipalDep, services: ServicesDep,
                request: Request) -> UnitOut:
    made = units_of(services).create(
        principal, slug=body.slug.strip(), kind=body.kind.value, name_zh=body.name_zh,
        name_en=body.name_en, parent_id=(body.parent_id or "").strip() or None,
        external_code=body.external_code)
    return _answer(services, request, [made])[0]


@router.patch("/admin/units/{unit_id}", response_model=UnitOut)
def edit_unit(unit_id: UnitId, body: UnitPatch, principal: PrincipalDep,
              services: ServicesDep, request: Request) -> UnitOut:
    given = body.model_dump(exclude_unset=True)
    changes = {k: (v.strip() or None) if isinstance(v, str) and k != "name_zh" else v
               for k, v in given.items()}
    made = units_of(services).edit(principal, unit_id, **changes)
    return _answer(services, request, [made])[0]


@router.post("/admin/units/{unit_id}/deactivate", response_model=UnitOut)
def deactivate_unit(unit_id: UnitId, principal: PrincipalDep, services: ServicesDep,
                    request: Request) -> UnitOut:
    return _answer(services, request, [units_of(services).deactivate(principal, unit_id)])[0]


@router.post("/admin/units/{unit_id}/reactivate", response_model=UnitOut)
def reactivate_unit(unit_id: UnitId, principal: PrincipalDep, services: ServicesDep,
                    request: Request) -> UnitOut:
    return _answer(services, request, [units_of(services).reactivate(principal, unit_id)])[0]


@router.get("/admin/unit-events", response_model=list[UnitEventOut])
def unit_events(principal: PrincipalDep, services: ServicesDep,
                unit: Annotated[str | None, Query(max_length=40)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[UnitEventOut]:
    found = units_of(services).events(principal, unit, limit=limit)
    return [UnitEventOut(id=e.id, unit_id=e.unit_id, kind=e.kind, actor=e.actor, at=e.at,
                         before=e.before, after=e.after) for e in found]
