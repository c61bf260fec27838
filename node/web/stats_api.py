"""The cockpit's and the phone page's reads: weekly series and the names of the units.

* `GET /api/v1/stats/series?weeks=N` — intake and closure per week with the light mix,
  the stage funnel, top tags, channels, county and department rankings with their trend
  (node/app/stats.py; aggregates in SQL, node/store/stats.py).
* `GET /api/v1/stats/units` — the subtree summary cut to what the province's phone page
  shows, each unit named: counts, lights, the rates' numerators and denominators, the
  overdue count and the top tags (no overdue list, no full tag table, no states): about a
  fifth of /summary, so all 11 cities and 90 counties of Zhejiang stay within the phone
  page's budget.
* `GET /api/v1/divisions` — code → name of this node and every unit below it, from the
  division reference data the node ships (node/data/zhejiang_divisions.csv, the same file
  `zhitong up --topology zhejiang` is built from); the node's own name is its
  configuration's. A unit the file does not know is left out: screens show its code.

Thin like node/web/api.py: resolve the caller, call one use case, shape the answer.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from node.app.policy import VIEW_METRICS, require
from node.app.stats import DEFAULT_WEEKS, MAX_WEEKS
from node.domain.errors import NotFound
from node.domain.summary import RATES, Summary, tag_line
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS)


@router.get("/stats/series", tags=["metrics"])
def stats_series(
    principal: PrincipalDep,
    services: ServicesDep,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS, description="weeks shown, the current "
                                "one included")] = DEFAULT_WEEKS,
) -> dict[str, Any]:
    """Per week (CST, Monday first): issues received (by their light mix now), resolved (on
    time) and closed; for the window: stage funnel, top-10 tags, channels; counties and
    departments ranked by on-time resolution with the change against the weeks before."""
    if services.stats is None:
        raise NotFound("not_found")
    result: dict[str, Any] = services.stats.series(principal, weeks=weeks).to_dict()
    return result


@cache
def _reference() -> dict[str, tuple[str, str | None]]:
    """code → (name, parent) of the shipped division reference data."""
    text = resources.files("node.data").joinpath("zhejiang_divisions.csv").read_text("utf-8")
    return {row["code"]: (row["name"], row["parent"] or None)
            for row in csv.DictReader(text.splitlines())}


def subtree_names(node: str, node_name: str) -> dict[str, str]:
    """The names of `node` and of every unit of the reference data below it."""
    ref = _reference()

    def below(code: str) -> bool:
        seen = 0
        parent = ref[code][1]
        while parent is not None and seen < 8:
            if parent == node:
                return True
            parent = ref[parent][1] if parent in ref else None
            seen += 1
        return False

    names = {code: name for code, (name, _) in ref.items() if below(code)}
    names[node] = node_name
    return dict(sorted(names.items()))


@router.get("/divisions", tags=["metrics"])
def divisions(principal: PrincipalDep, services: ServicesDep,
              response: Response) -> dict[str, Any]:
    """Code → name of this node and the units below it (reference data, no personal data)."""
    require(principal, VIEW_METRICS)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return {"node": services.node, "names": subtree_names(services.node, services.node_name)}


BRIEF_TAGS = 5


def brief(summary: Summary, names: dict[str, str], *, depth: int) -> dict[str, Any]:
    """What the phone page shows of `summary` and, `depth` levels down, of its children."""
    keys = [f"{r}_{part}" for r in RATES for part in ("num", "den")]
    out: dict[str, Any] = {
        "node": summary.node, "name": names.get(summary.node), "total": summary.total,
        "lights": dict(summary.lights), "overdue": summary.lights.get("red", 0),
        "sums": {k: summary.sums[k] for k in keys if k in summary.sums},
        "top_tags": [tag_line(summary, t, c) for t, c in summary.top_tags(BRIEF_TAGS)],
    }
    if depth > 0:
        out["children"] = {code: brief(child, names, depth=depth - 1)
                           for code, child in summary.children.items()}
    return out


@router.get("/stats/units", tags=["metrics"])
def units(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """The subtree's units (two levels down), named, with counts, lights, rate sums, the
    overdue count and the top tags: the province's phone page in one small answer."""
    require(principal, VIEW_METRICS)
    if services.streams is not None:
        source = services.streams.summaries
        latest = source.latest or source.compute()
    else:
        latest = services.issues.local_summary()
    answer = brief(latest, subtree_names(services.node, services.node_name), depth=2)
    answer["as_of"] = latest.as_of.isoformat()
    return answer
