"""The organisation units screen in a real browser, through its own forms: an admin signs in
through the login form, finds the seeded catalogue, creates a department under its bureau,
a dispatcher dispatches an issue to it in the workbench, the admin renames the unit, and the
pool filtered by that unit's queue still shows the issue under the new name; deactivating
the unit takes it out of the dispatch form. Timed: a county admin's first unit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, act, login, serve
from tests.support.data import COUNTY_UNITS, make_config, submit_body

expect.set_options(timeout=15_000)
NEW = "330522.jxj"


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path, units=COUNTY_UNITS), USERS)


def open_units(page: Page, served: Served) -> None:
    page.goto(served.base + "/ui/workbench")
    login(page, "admin")
    page.get_by_role("link", name="组织单元").click()
    expect(page.get_by_role("heading", name="组织单元", exact=True)).to_be_visible()


def test_an_admin_creates_and_renames_a_unit_whose_queue_keeps_its_issue(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    timings: dict[str, float] = {}
    t = time.monotonic()
    admin = console.watch(browser.new_page(viewport=DESKTOP))
    open_units(admin, county)
    rows = admin.locator("#units-table tbody tr")
    expect(rows).to_have_count(len(COUNTY_UNITS))
    expect(admin.locator("#units-table tbody tr[data-unit='330522.bdc']")).to_contain_text(
        "自然资源和规划局")  # its bureau

    create = admin.locator("#unit-create-form")
    create.get_by_label("简码", exact=True).fill("jxj")
    create.get_by_label("类型", exact=True).select_option("department")
    create.get_by_label("中文名称", exact=True).fill("经信局")
    create.get_by_label("英文名称（选填）", exact=True).fill("Economy Bureau")
    create.get_by_label("上级局（选填）", exact=True).select_option(label="自然资源和规划局")
    create.get_by_role("button", name="创建单元").click()
    expect(admin.locator("#units-flash")).to_have_text(f"已创建单元：经信局（{NEW}）")
    expect(rows).to_have_count(len(COUNTY_UNITS) + 1)
    admin.screenshot(path=shots / "units-1-created.png", full_page=True)
    timings["1 sign in, open the catalogue, create a unit"] = time.monotonic() - t

    # a bad slug is refused with the reason, nothing created
    create.get_by_label("简码", exact=True).fill("Bad Slug")
    create.get_by_label("中文名称", exact=True).fill("坏单元")
    create.get_by_role("button", name="创建单元").click()
    expect(admin.locator("#units-error")).to_contain_text("单元编号")
    expect(rows).to_have_count(len(COUNTY_UNITS) + 1)

    # a dispatcher dispatches an issue to the new unit through the workbench's form
    t = time.monotonic()
    issue = county.call("POST", "/issues", submit_body(), user="enterprise")
    desk = console.watch(browser.new_page(viewport=DESKTOP))
    desk.goto(county.base + "/ui/workbench/issues/" + issue["number"])
    login(desk, "dispatcher")
    act(desk, "研判分类", {"标签": "要素保障", "专班/板块（选填）": "330522.b-zhengce"}, "确认研判")
    act(desk, "交办承办部门", {"承办部门": "经信局（部门）"}, "确认交办")
    expect(desk.locator("#facts")).to_contain_text("经信局")  # the name, not the id
    timings["2 dispatch an issue to it in the workbench"] = time.monotonic() - t

    # the admin renames the unit: the issue stays in its queue, under the new name
    t = time.monotonic()
    row = admin.locator(f"#units-table tbody tr[data-unit='{NEW}']")
    row.get_by_role("button", name="编辑").click()
    edit = admin.locator("#unit-edit-form")
    expect(edit.get_by_label("中文名称", exact=True)).to_have_value("经信局")
    edit.get_by_label("中文名称", exact=True).fill("长兴县经济和信息化局")
    edit.get_by_role("button", name="保存修改").click()
    expect(admin.locator("#units-flash")).to_have_text("已保存：长兴县经济和信息化局")
    expect(row).to_contain_text("长兴县经济和信息化局")
    expect(admin.locator("#unit-events-table tbody tr").first).to_contain_text(
        "经信局 → 长兴县经济和信息化局")
    timings["3 rename it"] = time.monotonic() - t

    desk.goto(county.base + "/ui/workbench")
    desk.locator("#filters").get_by_label("所在队列（单元）").select_option(
        label="长兴县经济和信息化局（部门）")
    desk.get_by_role("button", name="筛选").click()
    expect(desk.locator("#pool-count")).to_have_text("共 1 件")
    pool_row = desk.locator("#pool tbody tr").filter(has_text=issue["number"])
    expect(pool_row).to_contain_text("长兴县经济和信息化局")
    desk.screenshot(path=shots / "units-2-queue-after-rename.png", full_page=True)
    assert county.call("GET", f"/issues/{issue['id']}", user="leader")["department"] == NEW

    # deactivated: it is no longer offered to dispatch to
    row.get_by_role("button", name="停用").click()
    expect(admin.locator("#units-flash")).to_have_text("已停用：长兴县经济和信息化局")
    expect(row).to_contain_text("已停用")
    offered = county.call("GET", "/units?kind=department&active=true", user="dispatcher")
    assert NEW not in [u["id"] for u in offered]
    assert console.problems == []
    print("\n[units screen] " + "; ".join(f"{k}: {v:.1f} s" for k, v in timings.items()))
