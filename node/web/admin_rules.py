"""The rules in force and this node's own rules over HTTP.

* `GET /api/v1/rules` — every rule in force (deadlines by default, per tag and per
  channel; the revisit share; the urge interval; index weights), each with where its value
  comes from (this node's configuration, an administrator's change, or the floor of node X
  version N), the tightest floor on it, and the alarms: own values looser than a floor
  that arrived while the node ran (the floor applies meanwhile).
* `PUT /api/v1/admin/rules` — this node's own rules (deadlines, per tag, per channel,
  revisit share, urge interval); refused with `rule_looser_than_floor`, naming the rule,
  the floor, its version and the node that set it, when looser than a floor: nothing
  changes.

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from node.app.floors import RulesService
from node.domain.errors import NotFound
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS, tags=["administration"])


def _service(services: Services) -> RulesService:
    if services.rules is None:  # pragma: no cover - node.runtime.build always sets it
        raise NotFound("not_found")
    return services.rules


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dispatch_working_days: int | None = Field(default=None, ge=1, le=365)
    resolve_working_days: int | None = Field(default=None, ge=1, le=365)
    review_working_days: int | None = Field(default=None, ge=1, le=365)


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deadlines: StageIn
    per_tag: dict[str, StageIn] = Field(default_factory=dict, max_length=500)
    per_channel: dict[str, StageIn] = Field(default_factory=dict, max_length=50)
    revisit_share: float = Field(gt=0, le=1)
    urge_interval_hours: int = Field(ge=1, le=24 * 30)

    def raw(self) -> dict[str, Any]:
        def stage(s: StageIn) -> dict[str, int]:
            return s.model_dump(exclude_none=True)

        return {"deadlines": stage(self.deadlines),
                "per_tag": {k: stage(v) for k, v in self.per_tag.items()},
                "per_channel": {k: stage(v) for k, v in self.per_channel.items()},
                "revisit_share": self.revisit_share,
                "urge_interval_hours": self.urge_interval_hours}


@router.get("/rules")
def rules_in_force(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """The rules in force, each value with where it comes from."""
    return _service(services).effective(principal)


@router.put("/admin/rules")
def change_rules(body: RulesIn, principal: PrincipalDep,
                 services: ServicesDep) -> dict[str, Any]:
    """This node's own rules; refused when looser than a floor set from above."""
    return _service(services).change(principal, body.raw())
