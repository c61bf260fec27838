"""The workbench's bell in a real browser: a handler signs in through the login form, sees
the unread count of the notification its department's assignment sent to its in-app inbox,
opens the list, follows nothing, marks all read and sees the count drop to zero."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config, submit_body

TITLE = "园区道路积水影响厂区通行"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = make_config(tmp_path_factory.mktemp("bell"), notify={
        "enabled": True, "inbox": {"enabled": True}, "staff_channels": ["inbox"],
        "enterprise_channels": [], "poll_every_s": 0.2})
    for served in serve(config, USERS):
        issue = served.call("POST", "/issues", submit_body(title=TITLE), user="enterprise")
        served.call("POST", f"/issues/{issue['id']}/triage", {"tags": []}, user="dispatcher")
        served.call("POST", f"/issues/{issue['id']}/assign", {"department": "经信局"},
                    user="dispatcher")
        yield served


def test_the_bell_shows_the_unread_count_and_marks_read(
        browser: Browser, county: Served, console: Console) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = console.watch(context.new_page())
    page.goto(county.base + "/ui/workbench")
    expect(page.locator("#login-form")).to_be_visible()
    login(page, "handler")
    expect(page.locator("#inbox-bell")).to_be_visible()
    expect(page.locator("#inbox-unread")).to_have_text("1")
    page.locator("#inbox-toggle").click()
    expect(page.locator("#inbox-list li.unread")).to_contain_text(["新交办诉求"])
    page.locator("#inbox-read-all").click()
    expect(page.locator("#inbox-unread")).to_have_text("0")
    expect(page.locator("#inbox-list li.unread")).to_have_count(0)
    context.close()
