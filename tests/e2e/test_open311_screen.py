"""The Open311 client screen in a real browser, through its own forms: an admin signs in
through the login form, opens 「Open311 接入」 from the workbench's navigation, registers a
hotline platform bound to the 12345 channel, reads the key the screen shows once, and that
key then posts a request over HTTP (one issue in the pool, through that channel); the
admin revokes it on the screen and the same key is refused with 403."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, make_config

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def post_request(served: Served, key: str) -> tuple[int, str]:
    body = urllib.parse.urlencode({
        "api_key": key, "service_code": "factors",
        "description": "用电增容申请\n新上生产线需要增容。",
        "phone": "13905720001", "attribute[enterprise_name]": "甲企业有限公司",
        "attribute[credit_code]": CODE_A, "attribute[ticket]": "12345-0099"}).encode()
    req = urllib.request.Request(served.base + "/open311/v2/requests.json", data=body,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_admin_creates_a_client_key_that_then_posts_a_request(
        county: Served, browser: Browser, console: Console, shots: Path) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench")
    login(page, "admin")
    page.get_by_role("link", name="Open311 接入").click()
    expect(page.get_by_role("heading", name="Open311 接入系统", exact=True)).to_be_visible()
    expect(page.locator("#o311-table tbody tr")).to_have_text(["还没有登记接入系统。"])

    form = page.locator("#o311-create-form")
    form.get_by_label("系统名称", exact=True).fill("12345 热线平台")
    form.get_by_label("受理渠道", exact=True).select_option("hotline_12345")
    form.get_by_role("button", name="生成 API 密钥").click()
    expect(page.locator("#o311-flash")).to_have_text("已登记接入系统：12345 热线平台")
    key = page.locator("#o311-key").inner_text()
    assert key.startswith("zt311_") and len(key) > 40
    row = page.locator("#o311-table tbody tr").first
    expect(row).to_contain_text("12345 热线平台")
    expect(row).to_contain_text("12345营商环境专线")
    expect(row).to_contain_text("有效")
    expect(row).to_contain_text(key[:10])
    expect(row).not_to_contain_text(key)
    page.screenshot(path=shots / "open311-clients.png", full_page=True)

    status, text = post_request(county, key)
    assert status == 201, text
    pool = county.call("GET", "/issues", user="dispatcher")
    assert pool["total"] == 1
    [issue] = pool["items"]
    assert (issue["channel"], issue["title"]) == ("hotline_12345", "用电增容申请")
    assert issue["number"] in text

    row.get_by_role("button", name="吊销").click()
    expect(page.locator("#o311-flash")).to_have_text("已吊销 12345 热线平台 的密钥")
    expect(page.locator("#o311-table tbody tr").first).to_contain_text("已吊销")
    status, text = post_request(county, key)
    assert status == 403, text
    assert county.call("GET", "/issues", user="dispatcher")["total"] == 1

    page.goto(county.base + "/ui/workbench/open311?lang=en")
    expect(page.get_by_role("heading", name="Open311 client systems", exact=True)).to_be_visible()
    expect(page.locator("#o311-table tbody tr").first).to_contain_text("Revoked")
