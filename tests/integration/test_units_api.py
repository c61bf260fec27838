"""Organisation units through the JSON API: the catalogue seeded from `[[units]]`, its
administration (admin only, every change an event), dispatch to unit ids only, the ladder's
queues, the pool by unit and by step, and names in the request's language."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from node.runtime import Node, build
from node.store.db import make_engine
from tests.support.api import Api, Template, assert_error, copy_sqlite
from tests.support.clock import FakeClock
from tests.support.data import COUNTY_UNITS, make_config

TAX = "330522.shuiwu"


@pytest.fixture
def unit_node(tmp_path: Path, clock: FakeClock, api_template: Template) -> Iterator[Node]:
    """The API test node (330522, every test account) with a small centre's catalogue."""
    config = make_config(tmp_path, units=COUNTY_UNITS)
    database = tmp_path / "n.sqlite3"
    copy_sqlite(api_template.database, database)
    config.secret_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(api_template.secret, config.secret_path)
    engine = make_engine(f"sqlite:///{database}")
    try:
        yield build(config, clock=clock, engine=engine)
    finally:
        engine.dispose()


@pytest.fixture
def uapi(unit_node: Node, api_template: Template) -> Iterator[Api]:
    with TestClient(unit_node.app) as client:
        yield Api(client, api_template.tokens)


def test_the_catalogue_is_seeded_and_named_in_the_request_language(uapi: Api) -> None:
    resp = uapi.get("dispatcher", "/units")
    assert resp.status_code == 200
    found = {u["id"]: u for u in resp.json()}
    assert len(found) == len(COUNTY_UNITS)
    assert found[TAX]["name"] == "税务局" and found[TAX]["kind"] == "department"
    assert found["330522.bdc"]["parent_id"] == "330522.zrzyj"
    assert found["330522.bdc"]["parent_name"] == "自然资源和规划局"
    en = uapi.send("GET", "/units", headers={**uapi.headers("dispatcher"),
                                             "Accept-Language": "en-GB,en;q=0.9"})
    assert {u["id"]: u["name"] for u in en.json()}[TAX] == "Tax Bureau"
    boards = uapi.get("dispatcher", "/units", kind="board").json()
    assert [u["id"] for u in boards] == ["330522.b-zhengce"]
    # the figures' readers name units too; every unit known here with ?everywhere=
    assert uapi.get("viewer", "/units", everywhere="true").status_code == 200
    assert_error(uapi.get("ent_a", "/units"), 403, "forbidden")


def test_dispatch_takes_only_an_active_unit_of_a_fitting_kind(uapi: Api) -> None:
    key = uapi.submit()["id"]
    uapi.act("dispatcher", key, "triage", tags=["用地"], board="330522.b-zhengce")
    version = uapi.issue(key)["version"]
    for department, says in (("税务局", "不是本节点单元目录中的单元"),
                             ("330521.shuiwu", "不是本节点单元目录中的单元"),
                             ("330522.b-zhengce", "的类型是 board")):
        resp = uapi.action("dispatcher", key, "assign", department=department)
        details = assert_error(resp, 422, "invalid_input")
        assert details["field"] == "department" and details["unit"] == department, details
        assert resp.json()["error"]["message"].count(department) == 1
        assert says in resp.json()["error"]["message"]
    bad_board = uapi.action("dispatcher", key, "triage", tags=["用地"], board="330522.shuiwu")
    assert_error(bad_board, 422, "invalid_input")
    assert uapi.issue(key)["version"] == version  # nothing written
    # a deactivated unit takes no dispatch
    assert uapi.post("admin", f"/admin/units/{TAX}/deactivate").status_code == 200
    assert_error(uapi.action("dispatcher", key, "assign", department=TAX), 422,
                 "invalid_input")
    assert uapi.post("admin", f"/admin/units/{TAX}/reactivate").status_code == 200
    done = uapi.act("dispatcher", key, "assign", department=TAX)
    assert (done["department"], done["department_name"]) == (TAX, "税务局")
    assert (done["board"], done["board_name"]) == ("330522.b-zhengce", "政策板块")
    assert done["queue_unit"] == TAX and done["queue_name"] == "税务局"
    en = uapi.send("GET", f"/issues/{key}", headers={**uapi.headers("leader"),
                                                     "Accept-Language": "en"}).json()
    assert (en["department_name"], en["board_name"]) == ("Tax Bureau", "Policy Board")


def test_a_renamed_unit_keeps_its_queue_and_every_change_is_an_event(uapi: Api) -> None:
    key = uapi.submit()["id"]
    uapi.act("dispatcher", key, "triage", tags=["用地"])
    uapi.act("dispatcher", key, "assign", department=TAX)
    resp = uapi.send("PATCH", f"/admin/units/{TAX}", {"name_zh": "国家税务总局长兴县税务局"},
                     headers=uapi.headers("admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["name_zh"] == "国家税务总局长兴县税务局"
    page = uapi.pool("leader", unit=TAX)
    assert [i["id"] for i in page["items"]] == [key]
    assert page["items"][0]["department_name"] == "国家税务总局长兴县税务局"
    events = uapi.get("admin", "/admin/unit-events", unit=TAX).json()
    assert [e["kind"] for e in events] == ["renamed", "created"]
    assert events[0]["before"]["name_zh"] == "税务局"
    assert events[0]["actor"] == "staff:admin"


def test_creating_units_is_for_admins_and_checked(uapi: Api) -> None:
    body = {"slug": "jxj", "kind": "department", "name_zh": "经济和信息化局",
            "parent_id": "330522.zrzyj"}
    assert_error(uapi.post("leader", "/admin/units", body), 403, "forbidden")
    made = uapi.post("admin", "/admin/units", body)
    assert made.status_code == 201, made.text
    assert made.json()["id"] == "330522.jxj"
    assert_error(uapi.post("admin", "/admin/units", body), 409, "conflict")
    bad = uapi.post("admin", "/admin/units", {**body, "slug": "x", "parent_id": "330522.hub"})
    assert assert_error(bad, 422, "invalid_input")["field"] == "parent_id"
    assert_error(uapi.post("admin", "/admin/units", {**body, "slug": "Bad!"}), 422,
                 "invalid_input")
    assert uapi.get("admin", "/admin/units").status_code == 200
    assert_error(uapi.get("dispatcher", "/admin/units"), 403, "forbidden")


def test_each_ladder_step_moves_the_issue_into_its_units_queue(uapi: Api) -> None:
    key = uapi.submit()["id"]
    uapi.act("dispatcher", key, "triage", tags=["用地"])
    uapi.act("dispatcher", key, "assign", department=TAX)
    queues = []
    for _ in range(3):
        out = uapi.act("leader", key, "ladder")
        queues.append((out["ladder_step"], out["queue_unit"], out["queue_name"]))
    assert queues == [(1, "330522.hub", "综合窗口"), (2, "330522.doudi", "兜底办"),
                      (3, "330522.lianxi", "联席会议")]
    assert uapi.issue(key)["department"] == TAX  # the dispatch stays on record
    assert uapi.pool_ids("leader", unit="330522.lianxi") == [key]
    assert uapi.pool_ids("leader", unit=TAX) == []
    assert uapi.pool_ids("leader", step=3) == [key]
    assert uapi.pool_ids("leader", step=0) == []


def test_an_imported_row_names_units_by_name_or_id_and_an_unknown_one_is_a_problem(
        unit_node: Node) -> None:
    from node.app.imports import Table
    from tests.support.data import STAFF
    from tests.support.imports import closed_row

    imports = unit_node.services.imports
    assert imports is not None
    rows = [closed_row("U1", board="政策板块", department="税务局"),
            closed_row("U2", board="330522.z-touzi", department=TAX),
            closed_row("U3", board="政策板块", department="供电公司")]
    report = imports.service.run(STAFF["admin"], Table(rows=[(i + 2, r)
                                                             for i, r in enumerate(rows)]),
                                 skip_invalid=True)
    assert (report.written, [(p.row, p.column, p.code) for p in report.problems]) == (
        2, [(4, "department", "unit_unknown")])
    leader = STAFF["leader"]
    found = unit_node.services.issues.list_issues(leader, in_unit=TAX).items
    assert sorted(i.board or "" for i, _ in found) == ["330522.b-zhengce", "330522.z-touzi"]


def test_the_pool_export_takes_the_unit_and_step_filters_of_the_pool(uapi: Api) -> None:
    import csv
    import io

    laddered = uapi.submit()["id"]
    uapi.act("dispatcher", laddered, "triage", tags=["用地"])
    uapi.act("dispatcher", laddered, "assign", department=TAX)
    for _ in range(3):
        uapi.act("leader", laddered, "ladder")
    at_tax = uapi.submit()["id"]
    uapi.act("dispatcher", at_tax, "triage", tags=["用地"])
    uapi.act("dispatcher", at_tax, "assign", department=TAX)

    def exported(**query: object) -> tuple[str, set[str]]:
        resp = uapi.get("leader", "/issues/export", format="csv", **query)
        assert resp.status_code == 200, resp.text
        rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert rows[5][0] == "编号"
        return rows[1][0], {r[0] for r in rows[6:]}

    number = {key: uapi.issue(key)["number"] for key in (laddered, at_tax)}
    described, found = exported(unit="330522.lianxi")
    assert found == {number[laddered]} and described == "筛选条件：所在单位 = 330522.lianxi"
    assert exported(unit=TAX)[1] == {number[at_tax]}
    described, found = exported(step=3)
    assert found == {number[laddered]} and described == "筛选条件：层级 = 3"
    assert exported(step=0)[1] == {number[at_tax]}
    assert_error(uapi.get("leader", "/issues/export", format="csv", step=99), 422,
                 "invalid_input")
