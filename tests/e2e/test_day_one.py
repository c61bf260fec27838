"""A county admin's first day, in a real browser through every administration screen's own
forms: sign in, add a department to the seeded centre, create a handler and bind it to that
department, add a category and a tag to the library, tighten a rule, and find each of those
changes in the audit log; the new handler then signs in and sees the department's queue.
Each step is timed; the times go to test-artifacts/day-one.txt (the note quotes them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, PASSWORD, USERS, Console, Served, serve
from tests.support.data import COUNTY_UNITS, make_config, submit_body

expect.set_options(timeout=15_000)
NODE = "330522"


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path, units=COUNTY_UNITS), USERS,
                     auto_escalate_every_s=None, reports_every_s=None)


def sign_in(page: Page, username: str, password: str) -> None:
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    form.get_by_label("用户名", exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(password)
    form.get_by_role("button", name="登录", exact=True).click()


def open_screen(page: Page, link: str, heading: str) -> None:
    page.locator("#subnav").get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_a_county_admin_sets_up_the_centre_on_day_one(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    steps: list[tuple[str, float]] = []
    mark = time.monotonic()

    def done(step: str) -> None:
        nonlocal mark
        now = time.monotonic()
        steps.append((step, now - mark))
        mark = now

    admin = console.watch(browser.new_page(viewport=DESKTOP))
    admin.goto(county.base + "/ui/workbench")
    sign_in(admin, USERS["admin"].username, PASSWORD)
    expect(admin.locator("#subnav")).to_be_visible()
    done("1 sign in through the form")

    open_screen(admin, "组织单元", "组织单元")
    expect(admin.locator("#units-table tbody tr")).to_have_count(len(COUNTY_UNITS))
    create = admin.locator("#unit-create-form")
    create.get_by_label("简码", exact=True).fill("jxj")
    create.get_by_label("类型", exact=True).select_option("department")
    create.get_by_label("中文名称", exact=True).fill("经信局")
    create.get_by_role("button", name="创建单元").click()
    expect(admin.locator("#units-flash")).to_have_text(f"已创建单元：经信局（{NODE}.jxj）")
    done("2 add a department to the seeded centre (units screen)")

    open_screen(admin, "账号管理", "账号管理")
    account = admin.locator("#create-form")
    account.get_by_label("账号", exact=True).fill("wu")
    account.get_by_label("姓名", exact=True).fill("吴承办")
    account.get_by_label("角色", exact=True).select_option("handler")
    account.get_by_label("初始密码", exact=True).fill("wu-first-pass")
    account.get_by_role("button", name="创建账号").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已创建账号：吴承办（wu）")
    admin.locator('#accounts-table tr[data-username="wu"]').get_by_role(
        "button", name="编辑").click()
    bind = admin.locator("#unit-form")
    bind.get_by_label("单元", exact=True).select_option(label="经信局")
    bind.get_by_label("单元内角色", exact=True).select_option("handler")
    bind.get_by_role("button", name="加入单元").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已将 wu 加入：经信局")
    done("3 create a handler and bind it to the department (accounts screen)")

    open_screen(admin, "标签库", "标签库")
    category = admin.locator("#category-form")
    category.get_by_label("中文名称", exact=True).fill("要素保障")
    category.get_by_role("button", name="创建类别").click()
    expect(admin.locator("#tags-flash")).to_have_text("已创建类别：要素保障")
    tag = admin.locator("#tag-form")
    tag.get_by_label("类别", exact=True).select_option(label="要素保障")
    tag.get_by_label("中文名称", exact=True).fill("用地")
    tag.get_by_role("button", name="创建标签").click()
    expect(admin.locator("#tags-flash")).to_have_text("已创建标签：用地")
    done("4 add a category and a tag (tag library)")

    open_screen(admin, "规则", "现行规则与上级底线")
    rules = admin.locator("#rules-form")
    resolve = rules.get_by_label("办理时限（工作日）", exact=True)
    expect(resolve).to_have_value("15")  # the rules in force have loaded into the form
    resolve.fill("12")
    rules.get_by_role("button", name="保存规则").click()
    expect(admin.locator("#rules-flash")).to_have_text("规则已保存")
    done("5 tighten the resolve deadline to 12 working days (rules screen)")

    open_screen(admin, "审计", "审计日志")
    table = admin.locator("#audit-table tbody")
    for action in ("unit.", "account.", "tag.", "rules.change"):
        expect(table).to_contain_text(action)
    admin.screenshot(path=shots / "day-one-audit.png", full_page=True)
    done("6 find every change in the audit log (audit screen)")

    issue = county.call("POST", "/issues", submit_body(), user="dispatcher")
    county.call("POST", f"/issues/{issue['id']}/triage", {"tags": ["用地"]}, user="dispatcher")
    county.call("POST", f"/issues/{issue['id']}/assign", {"department": f"{NODE}.jxj"},
                user="dispatcher")
    mark = time.monotonic()
    handler = console.watch(browser.new_page(viewport=DESKTOP))
    handler.goto(county.base + "/ui/workbench")
    sign_in(handler, "wu", "wu-first-pass")
    expect(handler.locator("#pool-count")).to_have_text("共 1 件")
    expect(handler.locator("#pool tbody")).to_contain_text(issue["number"])
    done("7 the new handler signs in and sees the department's queue")

    assert console.problems == []
    report = "\n".join(f"{step}: {seconds:.1f} s" for step, seconds in steps)
    total = sum(seconds for _, seconds in steps)
    (shots / "day-one.txt").write_text(f"{report}\ntotal: {total:.1f} s\n", encoding="utf-8")
    print(f"\n[day one]\n{report}\ntotal: {total:.1f} s")
