"""A county copies its city's organisation (units, tags, rules) as one file: real SQLite
stores for both nodes, the use cases and the JSON API."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.app.organisation import OrganisationService
from node.domain.errors import ValidationError
from node.runtime import Node, build
from tests.support.api import Api
from tests.support.clock import FakeClock
from tests.support.data import COUNTY_UNITS, STAFF, make_config

ADMIN = STAFF["admin"]
CITY, COUNTY = "330500", "330522"


def organisation(node: Node) -> OrganisationService:
    s = node.services
    assert s.issues.units is not None
    return OrganisationService(units=s.issues.units, tags=s.tags, rules=s.rules,
                               node=s.node, node_name=s.node_name, clock=s.issues.clock)


@pytest.fixture
def city(tmp_path: Path, clock: FakeClock) -> Iterator[Node]:
    node = build(make_config(tmp_path / "city", node={
        "code": CITY, "name": "湖州市", "level": "city", "parent": "330000"},
        units=COUNTY_UNITS), clock=clock)
    try:
        assert node.services.tags is not None
        category = node.services.tags.create_category(ADMIN, name_zh="要素保障",
                                                      name_en="Factor supply")
        node.services.tags.create_tag(ADMIN, category=category.id, name_zh="用地审批")
        node.services.tags.create_tag(ADMIN, category=category.id, name_zh="用电接入")
        yield node
    finally:
        node.engine.dispose()


@pytest.fixture
def county(tmp_path: Path, clock: FakeClock) -> Iterator[Node]:
    node = build(make_config(tmp_path / "county"), clock=clock)
    try:
        yield node
    finally:
        node.engine.dispose()


def units_of(node: Node) -> dict[str, tuple[str, str, str | None, bool]]:
    units = node.services.issues.units
    assert units is not None
    return {u.id: (u.kind.value, u.name_zh, u.parent_id, u.active)
            for u in units.catalogue().values() if u.node == node.services.node}


def tags_of(node: Node) -> set[tuple[str, str]]:
    assert node.services.tags is not None
    lib = node.services.tags.tree(ADMIN).library
    return {(lib.categories[t.category].name_zh, t.name_zh) for t in lib.tags.values()}


def test_a_county_copies_its_citys_template(city: Node, county: Node) -> None:
    doc = organisation(city).export(ADMIN)
    assert doc["format"] == "zhitong-organisation/1" and doc["node"] == CITY
    assert {u["slug"] for u in doc["units"]} == {u["slug"] for u in COUNTY_UNITS}
    before = units_of(county)

    dry = organisation(county).import_(ADMIN, json.loads(json.dumps(doc)), dry_run=True)
    assert dry.units == {"create": len(COUNTY_UNITS)}
    assert dry.tags == {"create_category": 1, "create_tag": 2}
    assert units_of(county) == before and tags_of(county) == set()  # a dry run writes nothing

    done = organisation(county).import_(ADMIN, doc, dry_run=False)
    assert done.as_json() == {**dry.as_json(), "dry_run": False}  # what the dry run said
    copied = units_of(county)
    assert copied[f"{COUNTY}.bdc"] == ("department", "不动产登记中心", f"{COUNTY}.zrzyj", True)
    assert {i.split(".", 1)[1] for i in copied} >= {u["slug"] for u in COUNTY_UNITS}
    assert tags_of(county) == {("要素保障", "用地审批"), ("要素保障", "用电接入")}

    again = organisation(county).import_(ADMIN, doc, dry_run=False)  # nothing twice
    assert again.units == {"same": len(COUNTY_UNITS)} and again.tags == {"same": 2}
    assert units_of(county) == copied and len(tags_of(county)) == 2

    # the city renames a unit and deactivates another: the county follows on the next copy
    assert city.services.issues.units is not None
    city.services.issues.units.edit(ADMIN, f"{CITY}.shuiwu", name_zh="税务分局")
    city.services.issues.units.deactivate(ADMIN, f"{CITY}.dcs")
    changed = organisation(county).import_(
        ADMIN, organisation(city).export(ADMIN), dry_run=False)
    assert changed.units == {"update": 2, "same": len(COUNTY_UNITS) - 2}
    assert units_of(county)[f"{COUNTY}.shuiwu"][1] == "税务分局"
    assert units_of(county)[f"{COUNTY}.dcs"][3] is False


def bad(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(doc)
    change(broken)
    return broken


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d.update(format="zhitong-organisation/9"), "format"),
    (lambda d: d.update(node="33a500"), "node"),
    (lambda d: d["units"].append(dict(d["units"][0])), "units"),
    (lambda d: d["units"][0].update(kind="ministry"), "units[0]"),
    (lambda d: d["units"][0].update(slug="Bad Slug"), "units[0]"),
    (lambda d: d["units"][0].update(parent="nowhere"), "units[0].parent"),
    (lambda d: d["units"][0].update(name_zh="x" * 101), "units[0].name_zh"),
    (lambda d: d["units"][0].update(active="yes"), "units[0].active"),
    (lambda d: d.update(units=[{"slug": "a", "kind": "department", "name_zh": "甲",
                                "parent": "b"},
                               {"slug": "b", "kind": "department", "name_zh": "乙",
                                "parent": "a"}]), "units"),
    (lambda d: d["categories"][0]["tags"].append("用地"), "categories[0].tags[2]"),
    (lambda d: d.update(rules=[1]), "rules"),
])
def test_a_bad_file_is_refused_whole_with_the_field_named(
        city: Node, county: Node, change: Any, field: str) -> None:
    doc = organisation(city).export(ADMIN)
    before = units_of(county), tags_of(county)
    with pytest.raises(ValidationError) as refused:
        organisation(county).import_(ADMIN, bad(doc, change), dry_run=False)
    assert refused.value.code == "organisation_invalid" and refused.value.field == field
    assert (units_of(county), tags_of(county)) == before


def test_a_unit_of_another_kind_under_the_same_slug_is_a_conflict(
        city: Node, county: Node) -> None:
    assert county.services.issues.units is not None
    county.services.issues.units.create(ADMIN, slug="hub", kind="board", name_zh="综合板块")
    before = units_of(county)
    with pytest.raises(ValidationError) as refused:
        organisation(county).import_(ADMIN, organisation(city).export(ADMIN), dry_run=False)
    assert refused.value.code == "organisation_conflict"
    assert units_of(county) == before


def test_over_the_api_only_an_admin_exports_and_imports(api: Api) -> None:
    exported = api.get("admin", "/admin/organisation")
    assert exported.status_code == 200
    assert "organisation-330522.json" in exported.headers["content-disposition"]
    doc = exported.json()
    assert api.get("handler", "/admin/organisation").status_code == 403
    assert api.post("dispatcher", "/admin/organisation/import", doc).status_code == 403
    dry = api.post("admin", "/admin/organisation/import", doc)  # dry run by default
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    broken = api.post("admin", "/admin/organisation/import", {"format": "nope"})
    assert broken.status_code == 422
    error = broken.json()["error"]
    assert "organisation file is invalid (format)" in error["message_en"]
    assert "组织配置文件有误" in error["message"]


def test_the_cli_exports_and_dry_runs_an_import(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "node.toml"
    cfg.write_text(f'[node]\ncode = "{COUNTY}"\nname = "长兴县"\nlevel = "county"\n'
                   f'parent = "330500"\ndata_dir = "{tmp_path / "data"}"\n\n'
                   '[[units]]\nslug = "shuiwu"\nkind = "department"\nname_zh = "税务局"\n',
                   encoding="utf-8")
    out = tmp_path / "org.json"
    root = Path(__file__).resolve().parents[2]

    def zhitong(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=root,
                              capture_output=True, text=True, timeout=60)

    assert zhitong("org", "export", "--config", str(cfg), "--output", str(out)).returncode == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [u["slug"] for u in doc["units"]] == ["shuiwu"]
    dry = zhitong("org", "import", str(out), "--config", str(cfg))
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["units"] == {"same": 1}
    out.write_text("{not json", encoding="utf-8")
    refused = zhitong("org", "import", str(out), "--config", str(cfg), "--apply")
    assert refused.returncode == 2 and "not a readable JSON file" in refused.stderr
