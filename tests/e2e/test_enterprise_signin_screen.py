"""The portal's sign-in by SMS code in a real browser: an enterprise whose issue staff
entered from a meeting has no account; on the portal's first tab it types its credit
code, asks for a code, reads it from the SMS the node's dispatcher sent to the test's
HTTP gateway, types it in and is signed in — its account made on the spot — with the
meeting issue in its list. A wrong code first shows the refusal in the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, Console, Served, serve
from tests.support.data import CODE_A, STAFF, make_config
from tests.support.sms_gateway import Gateway, sms_gateway
from tests.support.wait import until_sync

TITLE = "恳谈会反映：厂区周边道路积水"
PHONE = "13800000009"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with sms_gateway() as state:
        yield state


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway) -> Iterator[Served]:
    config = make_config(tmp_path_factory.mktemp("sms-signin"), notify={
        "enabled": True, "staff_channels": ["inbox"], "poll_every_s": 0.2,
        "sms": {"enabled": True, "url": gateway.url, "timeout_s": 2}})
    for served in serve(config, {"dispatcher": STAFF["dispatcher"]}):
        served.call("POST", "/intake", {
            "channel": "meeting", "name": "长兴乙企业有限公司", "credit_code": CODE_A,
            "contact_phone": PHONE, "title": TITLE,
            "content": "企业在第12期政企恳谈会上反映厂区周边道路积水。",
            "fields": {"meeting": "第12期政企恳谈会", "meeting_date": "2026-02-27"}},
            user="dispatcher")
        yield served


def test_an_enterprise_signs_in_with_the_code_from_its_sms(
        browser: Browser, county: Served, gateway: Gateway, console: Console,
        shots: Path) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = console.watch(context.new_page())
    page.goto(county.base + "/ui/portal")
    sms_tab = page.get_by_role("tab", name="短信验证码登录")
    expect(sms_tab).to_have_attribute("aria-selected", "true")  # the first tab
    expect(page.locator("#login-form")).to_be_hidden()
    form = page.locator("#sms-form")
    form.get_by_label("统一社会信用代码").fill(CODE_A.lower())  # upper-cased by the page
    form.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#sms-status")).to_contain_text("验证码已发送")
    expect(page.locator("#sms-send")).to_be_disabled()  # counting down to a resend
    expect(page.locator("#sms-send")).to_contain_text("秒后重新获取")
    until_sync(lambda: len(gateway.codes_to(PHONE)) == 1, what="the SMS with the code")
    [code] = gateway.codes_to(PHONE)

    form.get_by_label("短信验证码").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#sms-error")).to_have_text("验证码错误或已失效，请重新获取")
    page.screenshot(path=shots / "portal-sms-signin.png", full_page=True)

    form.get_by_label("短信验证码").fill(code)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#user-name")).to_have_text("长兴乙企业有限公司 · 企业")
    expect(page.locator("#my-issues li")).to_contain_text([TITLE])
    # the password tab is still there for accounts that have one
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("tab", name="密码登录").click()
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#sms-form")).to_be_hidden()
    context.close()
