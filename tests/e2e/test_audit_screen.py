"""The audit trail in a real browser, through the screens' own forms: an admin signs in
through the login form, opens an issue (its phone masked), reveals the contact with
"显示联系方式", goes to the audit screen through the workbench's menu and finds that read
through the filter form — with the address it came from — and exports the filtered log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, make_config, submit_body

expect.set_options(timeout=15_000)
PHONE = "13905720001"


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_a_revealed_contact_is_found_on_the_audit_screen(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    issue = county.call("POST", "/issues", submit_body(CODE_A), user="enterprise")
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{county.base}/ui/workbench/issues/{issue['number']}")
    login(page, "admin")
    phone = page.locator("#contact-phone")
    expect(phone).to_have_text("139****0001")
    assert PHONE not in page.content()
    with page.expect_response(lambda r: r.url.endswith("/contact")):
        page.get_by_role("button", name="显示联系方式").click()
    expect(phone).to_have_text(PHONE)
    expect(page.get_by_role("button", name="显示联系方式")).to_have_count(0)

    page.locator("#subnav").get_by_role("link", name="审计").click()
    expect(page.get_by_role("heading", name="审计日志", exact=True)).to_be_visible()
    expect(page.locator("#audit-table tbody tr.audit-row").first).to_be_visible()
    form = page.locator("#audit-filter")
    form.get_by_label("操作", exact=True).fill("contact.read")
    form.get_by_label("对象类型", exact=True).select_option("issue")
    form.get_by_label("对象", exact=True).fill(issue["id"])
    with page.expect_response(lambda r: "/api/v1/audit?" in r.url):
        form.get_by_role("button", name="查询").click()
    rows = page.locator("#audit-table tbody tr.audit-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("staff:admin")
    expect(rows.first).to_contain_text("contact.read")
    expect(rows.first).to_contain_text("127.0.0.1")
    expect(rows.first).to_contain_text(issue["number"])
    page.screenshot(path=shots / "40-audit-contact-read.png", full_page=True)

    with page.expect_download() as download:
        form.get_by_role("button", name="导出 Excel").click()
    saved = download.value.path()
    assert saved is not None and saved.stat().st_size > 1000
    assert download.value.suggested_filename.startswith("zhitong-audit-330522-")

    page.goto(f"{county.base}/ui/workbench/audit?lang=en")
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
