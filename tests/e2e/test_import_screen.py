"""The import screen in a real browser: log in through the form, download the template,
a dry run that lists the bad row, then the import with skip-invalid and its progress; the
cockpit's .xlsx button downloads its workbook; the pool's export buttons download the
filtered pool, and a city's pool filters by the county an issue came from."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from playwright.sync_api import Browser, expect

from node.domain.importing import COLUMNS
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config
from tests.support.imports import closed_row, new_row

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def library(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([c.zh for c in COLUMNS])
    rows = [closed_row("W1"), new_row("W2"), new_row("W3", channel="微信")]
    for r in rows:
        sheet.append([r.get(c.key) for c in COLUMNS])
    book.save(path)
    return path


def test_import_a_library_through_the_screen(county: Served, browser: Browser, shots: Path,
                                             console: Console, tmp_path: Path) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP, accept_downloads=True))
    page.goto(county.base + "/ui/workbench")
    login(page, "dispatcher")
    page.get_by_role("link", name="导入问题").click()
    expect(page.get_by_role("heading", name="导入问题清单与历史问题库")).to_be_visible()

    with page.expect_download() as got:
        page.get_by_role("button", name="下载模板（.xlsx）").click()
    assert got.value.suggested_filename == "zhitong-import-template.xlsx"
    template = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()), read_only=True)
    assert template.sheetnames == ["问题清单", "说明"]

    page.get_by_label("文件", exact=True).set_input_files(str(library(tmp_path / "library.xlsx")))
    expect(page.get_by_label("试导入（只检查，不写入）")).to_be_checked()
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#import-outcome")).to_have_text("试导入完成，未写入数据")
    bad = page.locator("#import-problems tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.first).to_contain_text("4")
    expect(bad.first).to_contain_text("渠道")
    expect(bad.first).to_contain_text("微信")
    page.screenshot(path=shots / "import-dry-run.png", full_page=True)
    assert county.call("GET", "/issues", user="dispatcher")["total"] == 0

    page.get_by_label("试导入（只检查，不写入）").uncheck()
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#import-outcome")).to_have_text("文件有误，未导入任何数据")
    assert county.call("GET", "/issues", user="dispatcher")["total"] == 0

    page.get_by_label("跳过有误的行", exact=False).check()
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#import-outcome")).to_have_text("导入完成")
    expect(page.locator("#import-written")).to_have_text("2")
    expect(page.locator("#import-status")).to_have_text("已完成")
    expect(page.locator("#import-progress")).to_have_attribute("value", "2")
    page.screenshot(path=shots / "import-done.png", full_page=True)
    assert county.call("GET", "/issues", user="dispatcher")["total"] == 2

    page.get_by_role("link", name="驾驶舱").click()
    expect(page.locator("#export-xlsx")).to_be_visible()
    with page.expect_download() as got:
        page.get_by_role("button", name="导出全部报表（Excel）").click()
    book = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()), read_only=True)
    assert "单位" in book.sheetnames
    assert console.problems == []


def test_the_pool_exports_what_its_filter_shows(county: Served, browser: Browser,
                                               console: Console) -> None:
    from node.app.imports import Table
    from tests.support.data import STAFF

    imports = county.node.services.imports
    assert imports is not None
    report = imports.service.run(STAFF["admin"], Table(rows=[
        (2, closed_row("X1")), (3, new_row("X2")), (4, new_row("X3"))]))
    assert report.written == 3
    page = console.watch(browser.new_page(viewport=DESKTOP, accept_downloads=True))
    page.goto(county.base + "/ui/workbench")
    login(page, "leader")
    expect(page.locator("#pool tbody tr")).to_have_count(3)
    page.locator("#q-state").select_option("closed")
    page.locator("#filters button[type=submit]").click()
    expect(page.locator("#pool tbody tr")).to_have_count(1)
    with page.expect_download() as got:
        page.get_by_role("button", name="导出 Excel").click()
    assert got.value.suggested_filename.startswith("zhitong-pool-")
    sheet = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()), read_only=True).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[1][0] == "筛选条件：状态 = 已结案"
    assert [r[2] for r in rows[6:]] == ["已结案"]
    with page.expect_download() as got:
        page.get_by_role("button", name="导出 CSV").click()
    text = Path(got.value.path()).read_bytes().decode("utf-8-sig")
    assert got.value.suggested_filename.endswith(".csv") and "已结案" in text
    assert console.problems == []


def test_a_city_filters_and_exports_its_pool_by_county(tmp_path: Path, browser: Browser,
                                                      console: Console) -> None:
    """At a city the pool offers 来源单位 and 承办单位 (its counties and itself): a leader
    picks 德清县 and sees, then exports, that county's issues only."""
    from sqlalchemy import insert, select

    from node.app.imports import Table
    from node.store import repo
    from node.store.schema import issues
    from tests.support.data import STAFF

    config = make_config(tmp_path, node={
        "code": "330500", "name": "湖州市", "level": "city", "parent": "330000",
        "children": ["330521", "330522"]})
    for city in serve(config, USERS):
        imports = city.node.services.imports
        assert imports is not None
        assert imports.service.run(STAFF["admin"], Table(rows=[
            (2, new_row("C1")), (3, new_row("C2"))])).written == 2
        with city.node.engine.begin() as conn:  # a replica of a 德清县 issue
            row = dict(conn.execute(select(issues).limit(1)).one()._mapping)
            conn.execute(insert(issues), [{**row, "id": "330521-r1", "origin": "330521",
                                           "owner": "330521", "title": "德清县的问题",
                                           "number": "330521-2026-000001"}])
            repo.rebuild_counts(conn)  # the row went around the store: recount
        page = console.watch(browser.new_page(viewport=DESKTOP, accept_downloads=True))
        page.goto(city.base + "/ui/workbench")
        login(page, "leader")
        expect(page.locator("#pool tbody tr")).to_have_count(3)
        origin = page.get_by_label("来源单位", exact=True)
        expect(origin).to_be_visible()
        origin.select_option("330521")
        page.locator("#filters button[type=submit]").click()
        expect(page.locator("#pool tbody tr")).to_have_count(1)
        expect(page.locator("#pool-count")).to_have_text("共 1 件")
        expect(page.locator("#pool tbody tr").first).to_contain_text("德清县的问题")
        assert "origin=330521" in page.url
        with page.expect_download() as got:
            page.get_by_role("button", name="导出 CSV").click()
        lines = Path(got.value.path()).read_bytes().decode("utf-8-sig").splitlines()
        assert lines[1] == "筛选条件：来源单位 = 330521"
        assert [line.split(",")[0] for line in lines[6:]] == ["330521-2026-000001"]
        assert console.problems == []
