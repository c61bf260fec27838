"""Live screens in a real browser: changes arrive without a reload (server-sent events).

Four pages, each signed in through its own login form: the dispatcher's workbench pool,
the enterprise's portal issue page, a handler's workbench (its bell) and a leader's
workbench issue page. An action through
the API (triage, assign) and one through another page (the enterprise's urge on the portal)
show up on the others — the pool's row redrawn and marked "已更新", the portal's timeline
grown by the new step, the handler's unread count raised — each awaited on the DOM, and
each page is checked never to have reloaded (a marker set on its window survives).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, PASSWORD, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, make_config, submit_body

TITLE = "园区供电线路改造进度咨询"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = make_config(tmp_path_factory.mktemp("live"), notify={
        "enabled": True, "inbox": {"enabled": True}, "staff_channels": ["inbox"],
        "enterprise_channels": [], "poll_every_s": 0.2})
    yield from serve(config, USERS)


def no_reload(page: Page) -> None:
    page.evaluate("window.__ztSamePage = true")


def same_page(page: Page) -> bool:
    return bool(page.evaluate("window.__ztSamePage === true"))


def test_pool_portal_and_bell_update_without_reload(
        browser: Browser, county: Served, console: Console, shots: Path) -> None:
    issue = county.call("POST", "/issues", submit_body(title=TITLE), user="enterprise")
    key, number = issue["id"], issue["number"]

    pool = console.watch(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    pool.goto(county.base + "/ui/workbench")
    login(pool, "dispatcher")
    row = pool.locator("#pool tbody tr").filter(has_text=number)
    expect(row).to_have_count(1)
    expect(row.locator(".live-mark")).to_have_count(0)

    portal = console.watch(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    portal.goto(f"{county.base}/ui/portal/issues/{number}")
    form = portal.locator("#login-form")
    if portal.locator("#tab-password").count():
        portal.locator("#tab-password").click()
    form.get_by_label("统一社会信用代码", exact=True).fill(CODE_A)
    form.get_by_label("密码", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(portal.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(portal.locator("#timeline li")).to_have_count(1)

    handler = console.watch(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    handler.goto(county.base + "/ui/workbench")
    login(handler, "handler")
    expect(handler.locator("#inbox-bell")).to_be_visible()
    expect(handler.locator("#inbox-unread")).to_have_text("0")
    desk = console.watch(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    desk.goto(f"{county.base}/ui/workbench/issues/{number}")
    login(desk, "leader")
    expect(desk.locator("#timeline li")).to_have_count(1)
    pages = (pool, portal, handler, desk)
    for page in pages:
        no_reload(page)
    # every page's stream is open before anything changes (a later one would replay)
    for page in pages:
        page.wait_for_function("window.ZT.live && window.ZT.live.connected()")

    # -- an action through the API: the portal's timeline and the pool's row -------------
    county.call("POST", f"/issues/{key}/triage", {"tags": ["用电"]}, user="dispatcher")
    expect(portal.locator("#timeline li")).to_have_count(2)
    expect(portal.locator("#timeline li.step-live")).to_have_count(1)
    expect(portal.locator("#timeline li").first).to_contain_text("已更新")
    expect(row.locator(".live-mark")).to_have_text("已更新")
    expect(row).to_contain_text("用电")
    expect(desk.locator("#timeline li")).to_have_count(2)  # the issue page: the new step
    expect(desk.locator("#timeline li.step-live")).to_contain_text("研判")
    pool.screenshot(path=shots / "live-01-pool-updated.png", full_page=True)
    portal.screenshot(path=shots / "live-02-portal-timeline.png", full_page=True)

    # an action form being filled in on the issue page is kept, the change announced
    desk.locator("details.action summary", has_text="催办").click()
    desk.locator("details.action[open] textarea").fill("请尽快联系供电公司")

    # -- an action on another page: the enterprise urges on the portal ------------------
    portal.get_by_role("button", name="催办", exact=True).click()
    expect(portal.locator("#urge-result")).to_have_text("已催办，承办部门将尽快处理。")
    urges = row.locator("td.num")
    expect(urges).to_have_text("1")
    expect(row.locator(".live-mark")).to_have_text("已更新")
    expect(desk.locator("#timeline li")).to_have_count(3)
    expect(desk.locator("#flash")).to_contain_text("此诉求刚有新进展")
    expect(desk.locator("details.action[open] textarea")).to_have_value("请尽快联系供电公司")

    # -- the assignment: the handler's bell, the portal again ---------------------------
    county.call("POST", f"/issues/{key}/assign", {"department": "经信局"}, user="dispatcher")
    expect(handler.locator("#inbox-unread")).to_have_text("1")
    expect(portal.locator("#timeline li")).to_have_count(4)

    # -- a new issue appears in the pool, marked -----------------------------------------
    other = county.call("POST", "/issues", submit_body(title="新增诉求实时出现"),
                        user="enterprise")
    fresh = pool.locator("#pool tbody tr").filter(has_text=other["number"])
    expect(fresh.locator(".live-mark")).to_have_text("已更新")

    for page in pages:
        assert same_page(page), "the page reloaded"
    assert console.problems == []
    assert USERS["handler"].department == "经信局"
