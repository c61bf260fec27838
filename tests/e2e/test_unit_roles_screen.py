"""People bound to units, in a real browser through the screens' own forms: an admin signs
in through the login form, creates an account on the accounts screen, binds it to the
经信局 with the handler role from the account's edit card; that handler signs in through
the workbench's form and its pool shows only the issue in its unit's queue. Then the
operations page shows a rejection waiting for review to the review unit's leader, red
once the review is overdue. The time from the admin's first page to the handler's pool is
printed (the county admin's day-one step for one person)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from node.app.policy import Membership, Principal, Role
from tests.e2e.browser import DESKTOP, PASSWORD, USERS, Console, Served, serve
from tests.support.clock import FakeClock
from tests.support.data import COUNTY_UNITS, make_config, submit_body

expect.set_options(timeout=15_000)
NODE = "330522"
JXJ, TAX, REVIEW = f"{NODE}.jxj", f"{NODE}.shuiwu", f"{NODE}.yshj"
UNITS = [*COUNTY_UNITS, {"slug": "jxj", "kind": "department", "name_zh": "经信局"}]
REVIEW_LEAD = Principal(username="ys_lead", role=Role.LEADER, display_name="营商局 联审组长",
                        memberships=(Membership(unit=REVIEW, role=Role.LEADER),))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def county(tmp_path: Path, clock: FakeClock) -> Iterator[Served]:
    config = make_config(tmp_path, units=UNITS)
    yield from serve(config, {**USERS, "ys_lead": REVIEW_LEAD}, clock=clock,
                     auto_escalate_every_s=None, reports_every_s=None)


def sign_in(page: Page, username: str, password: str) -> None:
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    form.get_by_label("用户名", exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(password)
    form.get_by_role("button", name="登录", exact=True).click()


def dispatched(county: Served, department: str) -> dict[str, str]:
    issue = county.call("POST", "/issues", submit_body(), user="dispatcher")
    county.call("POST", f"/issues/{issue['id']}/triage", {"tags": []}, user="dispatcher")
    county.call("POST", f"/issues/{issue['id']}/assign", {"department": department},
                user="dispatcher")
    return {"id": issue["id"], "number": issue["number"]}


def test_an_admin_binds_a_handler_to_a_unit_who_then_sees_only_its_queue(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    mine, theirs = dispatched(county, JXJ), dispatched(county, TAX)
    started = time.monotonic()
    admin = console.watch(browser.new_page(viewport=DESKTOP))
    admin.goto(county.base + "/ui/workbench/accounts")
    sign_in(admin, USERS["admin"].username, PASSWORD)
    expect(admin.get_by_role("heading", name="账号管理", exact=True)).to_be_visible()

    create = admin.locator("#create-form")
    create.get_by_label("账号", exact=True).fill("wu")
    create.get_by_label("姓名", exact=True).fill("吴承办")
    create.get_by_label("角色", exact=True).select_option("handler")
    create.get_by_label("初始密码", exact=True).fill("wu-first-pass")
    create.get_by_role("button", name="创建账号").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已创建账号：吴承办（wu）")
    row = admin.locator('#accounts-table tr[data-username="wu"]')
    row.get_by_role("button", name="编辑").click()
    expect(admin.locator("#units-table")).to_contain_text("尚未加入任何单元")
    units = admin.locator("#unit-form")
    units.get_by_label("单元", exact=True).select_option(label="经信局")
    units.get_by_label("单元内角色", exact=True).select_option("handler")
    units.get_by_role("button", name="加入单元").click()
    expect(admin.locator("#accounts-flash")).to_have_text("已将 wu 加入：经信局")
    expect(admin.locator("#units-table tbody tr")).to_have_count(1)
    expect(admin.locator("#units-table")).to_contain_text("承办人员")
    expect(row).to_contain_text("经信局 · 承办人员")
    expect(admin.locator("#audit-table")).to_contain_text("加入单元：经信局 · 承办人员")
    admin.screenshot(path=shots / "unit-roles-01-accounts.png", full_page=True)

    handler = console.watch(browser.new_page(viewport=DESKTOP))
    handler.goto(county.base + "/ui/workbench")
    sign_in(handler, "wu", "wu-first-pass")
    expect(handler.locator("#user-name")).to_have_text("吴承办 · 承办人员")
    expect(handler.locator("#pool-count")).to_have_text("共 1 件")
    expect(handler.locator("#pool tbody tr")).to_have_count(1)
    expect(handler.locator("#pool tbody")).to_contain_text(mine["number"])
    expect(handler.locator("#pool tbody")).not_to_contain_text(theirs["number"])
    elapsed = time.monotonic() - started
    handler.screenshot(path=shots / "unit-roles-02-handler-pool.png", full_page=True)
    print(f"\nadmin's first page → bound handler's pool: {elapsed:.1f} s")
    # the other unit's issue, opened by its address, is no issue for this handler
    handler.goto(county.base + f"/ui/workbench/issues/{theirs['id']}")
    expect(handler.locator("body")).not_to_contain_text(str(submit_body()["content"]))


def test_the_review_units_leader_sees_an_overdue_review_in_red(
    county: Served, browser: Browser, console: Console, shots: Path, clock: FakeClock
) -> None:
    key = dispatched(county, JXJ)
    county.call("POST", f"/issues/{key['id']}/reject", {"reason": "不属于受理范围"},
                user="dispatcher")
    clock.advance(timedelta(days=3))  # Mon 09:00 + 3 days: past the 2 working days
    lead = console.watch(browser.new_page(viewport=DESKTOP))
    lead.goto(county.base + "/ui/workbench/operations")
    sign_in(lead, "ys_lead", PASSWORD)
    card = lead.locator("#reviews-card")
    expect(card).to_be_visible()
    expect(lead.locator("#reviews-h")).to_contain_text("1 件已超时")
    late = card.locator("tr.review-overdue")
    expect(late).to_have_count(1)
    expect(late).to_contain_text(key["number"])
    expect(late).to_contain_text("dispatcher")
    expect(late.locator(".light-red")).to_be_visible()
    card.get_by_label("只看已超时").check()
    expect(card.locator("tr.review-overdue")).to_have_count(1)
    lead.screenshot(path=shots / "unit-roles-03-overdue-review.png", full_page=True)
    # a handler is not shown the list
    handler = console.watch(browser.new_page(viewport=DESKTOP))
    handler.goto(county.base + "/ui/workbench/operations")
    sign_in(handler, USERS["handler"].username, PASSWORD)
    expect(handler.locator("#user-name")).to_be_visible()
    expect(handler.locator("#reviews-card")).to_be_hidden()
