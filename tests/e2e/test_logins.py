"""Every screen's own login form in a real browser (tests/e2e/browser.py): type the username
and password into the visible inputs, submit, and see what only the signed-in view shows.

Nothing is injected: each test starts in a fresh browser context with empty storage (the
other browser tests put a session into the phone page's storage to time its cold load, so
they never used its form — which threw after its first `await`, issue 12). A wrong
password first, which must leave the form usable with the server's message, then the
right one. The console watch fails a test on any script error. Waiting is expect().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, PASSWORD, USERS, Console, Served, serve
from tests.support.data import make_config, submit_body

COUNTY_TITLE = "厂区扩建用地指标审批进度咨询"
PROVINCE_TITLE = "省级交办：重大项目用能指标协调"
WRONG = "用户名或密码错误"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    for served in serve(make_config(tmp_path_factory.mktemp("county")), USERS):
        served.call("POST", "/issues", submit_body(title=COUNTY_TITLE), user="enterprise")
        yield served


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = make_config(tmp_path_factory.mktemp("province"),
                         node={"code": "330000", "name": "浙江省", "level": "province",
                               "parent": None, "children": ["330100", "330500"]},
                         nats={"enabled": True})
    for served in serve(config, USERS, connect_streams=False):
        served.call("POST", "/issues", submit_body(channel="higher_level",
                                                   title=PROVINCE_TITLE), user="dispatcher")
        yield served


def sign_in(page: Page, user_label: str, username: str, password: str) -> None:
    """Fill the visible login form and submit it, as a person would."""
    tab = page.locator("#tab-password")  # the portal opens on its SMS-code tab
    if tab.count():
        tab.click()
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    form.get_by_label(user_label, exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(password)
    form.get_by_role("button", name="登录", exact=True).click()


@dataclass(frozen=True)
class Screen:
    path: str
    user: str
    user_label: str
    signed_in: Callable[[Page, Served], None]  # what only the signed-in view shows


def portal_signed_in(page: Page, county: Served) -> None:
    expect(page.locator("#user-name")).to_have_text("甲企业 · 企业")
    expect(page.locator("#my-issues li")).to_contain_text([COUNTY_TITLE])


def workbench_signed_in(page: Page, county: Served) -> None:
    expect(page.locator("#user-name")).to_have_text("受理员 · 受理分办员")
    expect(page.locator("#pool-count")).to_have_text("共 1 件")
    expect(page.locator("#pool tbody tr")).to_contain_text([COUNTY_TITLE])


def cockpit_signed_in(page: Page, county: Served) -> None:
    expect(page.locator("#user-name")).to_have_text("领导 · 领导")
    expect(page.locator('[data-kpi="total"] .kpi-value')).to_have_text("1")


SCREENS = {
    "portal": Screen("/ui/portal", "enterprise", "统一社会信用代码", portal_signed_in),
    "workbench": Screen("/ui/workbench", "dispatcher", "用户名", workbench_signed_in),
    "cockpit": Screen("/ui/cockpit", "leader", "用户名", cockpit_signed_in),
}


@pytest.mark.parametrize("name", list(SCREENS))
def test_each_desktop_screen_signs_in_through_its_form(
        name: str, county: Served, browser: Browser, console: Console) -> None:
    screen = SCREENS[name]
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + screen.path)
    expect(page.locator("#app-view")).to_be_hidden()
    username = USERS[screen.user].username

    sign_in(page, screen.user_label, username, "not-the-password")
    expect(page.locator("#login-error")).to_have_text(WRONG)
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#app-view")).to_be_hidden()

    sign_in(page, screen.user_label, username, PASSWORD)
    expect(page.locator("#login-view")).to_be_hidden()
    expect(page.locator("#app-view")).to_be_visible()
    screen.signed_in(page, county)
    page.reload()  # the session lives in the tab's storage
    screen.signed_in(page, county)
    page.context.close()


def test_the_province_leaders_phone_page_signs_in_through_its_form(
        province: Served, browser: Browser, console: Console) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = console.watch(context.new_page())
    page.goto(province.base + "/ui/phone")
    app = page.locator("#app")
    expect(app).to_be_hidden()

    sign_in(page, "用户名", USERS["leader"].username, "not-the-password")
    expect(page.locator("#login-error")).to_have_text(WRONG)
    expect(app).to_be_hidden()

    sign_in(page, "用户名", USERS["leader"].username, PASSWORD)
    expect(page.locator("#login-form")).to_be_hidden()
    expect(app).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    total = province.call("GET", "/summary", user="leader")["total"]
    expect(page.locator("#total-body .big b")).to_have_text(str(total))
    # only a signed-in leader's view lists the issues the province itself handles
    expect(page.locator("#own-list li")).to_contain_text([PROVINCE_TITLE])
    expect(page.locator("#login-form [name=password]")).to_have_value("")  # form reset

    page.reload()  # the session lives in the tab's storage
    expect(page.locator("#own-list li")).to_contain_text([PROVINCE_TITLE])
    page.get_by_role("button", name="退出登录").click()
    expect(page.locator("#login-form")).to_be_visible()
    expect(app).to_be_hidden()
    context.close()
