"""The account administration screen in a real browser, through its own forms: an admin
signs in through the login form, creates a handler, who signs in through the workbench's
form; the admin edits the account, disables it (the handler's open tab is refused at
once), enables it and resets its password (the new one works, the old does not); the
handler's failed sign-ins lock the name, which the admin lifts from the screen; the audit
lists every step. The node locks after 3 failures so no test waits for a back-off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, PASSWORD, USERS, Console, Served, serve
from tests.support.data import make_config

expect.set_options(timeout=15_000)
LOCKED = "登录失败次数过多，已暂时锁定"


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path, security={"login_backoff_after": 3, "login_lock_after": 3})
    yield from serve(config, USERS)


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill the login form and send it; returns once the node has answered (the form
    clears the password field when a refusal arrives: the next attempt must not race it)."""
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    form.get_by_label("用户名", exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(password)
    with page.expect_response(lambda r: r.url.endswith("/auth/login")):
        form.get_by_role("button", name="登录", exact=True).click()


def test_an_admin_manages_an_account_through_the_screen(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    started = time.monotonic()
    admin = console.watch(browser.new_page(viewport=DESKTOP))
    admin.goto(county.base + "/ui/workbench")
    sign_in(admin, USERS["admin"].username, PASSWORD)
    expect(admin.locator("#user-name")).to_contain_text("管理员")
    admin.get_by_role("link", name="账号管理").click()
    expect(admin.get_by_role("heading", name="账号管理", exact=True)).to_be_visible()
    expect(admin.locator("#accounts-table tbody tr")).to_have_count(len(USERS) - 1)

    create = admin.locator("#create-form")
    create.get_by_label("账号", exact=True).fill("li")
    create.get_by_label("姓名", exact=True).fill("李承办")
    create.get_by_label("角色", exact=True).select_option("handler")
    create.get_by_label("所属部门", exact=True).fill("经信局")
    create.get_by_label("初始密码", exact=True).fill("li-first-pass")
    create.get_by_role("button", name="创建账号").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已创建账号：李承办（li）")
    li_row = admin.locator('#accounts-table tr[data-username="li"]')
    expect(li_row).to_contain_text("承办人员")
    expect(li_row).to_contain_text("经信局")
    expect(li_row).to_contain_text("正常")

    handler = console.watch(browser.new_page(viewport=DESKTOP))
    handler.goto(county.base + "/ui/workbench")
    sign_in(handler, "li", "li-first-pass")
    expect(handler.locator("#user-name")).to_have_text("李承办 · 承办人员")

    li_row.get_by_role("button", name="编辑").click()
    edit = admin.locator("#edit-form")
    edit.get_by_label("姓名", exact=True).fill("李四")
    edit.get_by_label("所属部门", exact=True).fill("住建局")
    edit.get_by_role("button", name="保存修改").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已保存 li 的修改")
    expect(li_row).to_contain_text("李四")
    expect(li_row).to_contain_text("住建局")

    li_row.get_by_role("button", name="停用").click()
    expect(li_row).to_contain_text("已停用")
    handler.reload()  # the open tab's token is refused at once
    expect(handler.locator("#login-form")).to_be_visible()
    expect(handler.locator("#login-error")).to_have_text("登录已过期，请重新登录")
    sign_in(handler, "li", "li-first-pass")
    expect(handler.locator("#login-error")).to_have_text("用户名或密码错误")

    li_row.get_by_role("button", name="启用").click()
    expect(li_row).to_contain_text("正常")
    li_row.get_by_role("button", name="编辑").click()
    password = admin.locator("#password-form")
    password.get_by_label("新密码", exact=True).fill("li-second-pass")
    password.get_by_role("button", name="重置密码").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已重置 li 的密码，其原有登录已失效")

    sign_in(handler, "li", "li-first-pass")  # the old password: failures 1..3, then locked
    expect(handler.locator("#login-error")).to_have_text("用户名或密码错误")
    sign_in(handler, "li", "li-first-pass")
    sign_in(handler, "li", "li-first-pass")
    expect(handler.locator("#login-error")).to_have_text("用户名或密码错误")
    sign_in(handler, "li", "li-second-pass")  # even the right one waits now
    expect(handler.locator("#login-error")).to_contain_text(LOCKED)

    admin.locator("#accounts-refresh").click()
    locks = admin.locator("#locks-table tbody tr")
    expect(locks).to_have_count(1)
    expect(locks.first).to_contain_text("li")
    expect(li_row).to_contain_text("已锁定")
    admin.screenshot(path=shots / "accounts-locked.png", full_page=True)
    locks.first.get_by_role("button", name="解锁").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已解锁：li")
    expect(admin.locator("#locks-table tbody tr")).to_have_text(
        ["目前没有被限制登录的账号或地址。"])

    sign_in(handler, "li", "li-second-pass")
    expect(handler.locator("#user-name")).to_have_text("李四 · 承办人员")

    audit = admin.locator("#audit-table tbody tr")
    expect(audit.first).to_contain_text("解锁")
    kinds = [admin.locator("#audit-table tbody tr td:nth-child(4)").nth(i).inner_text()
             for i in range(6)]
    assert kinds == ["解锁", "登录失败过多，锁定", "重置密码", "启用", "停用", "修改"]
    assert console.problems == []
    print(f"accounts screen: {time.monotonic() - started:.1f} s")  # for the report
