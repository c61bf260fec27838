"""Full-text search from the pool screen, in a real browser: a dispatcher logs in through
the form and types a word into the pool's search field; 用电 finds the issue that holds it
only in its content (with the word marked in a snippet of the content) and not the others,
税 (one character) and ISO9001 (mixed text) find theirs, and the search combines with the
state filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def search(page: Page, words: str, state: str = "") -> None:
    page.locator("#q-text").fill(words)
    page.locator("#q-state").select_option(state)
    page.get_by_role("button", name="筛选").click()


def test_a_dispatcher_searches_the_pool_for_chinese_words(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    power = county.call("POST", "/issues", submit_body(
        title="产线扩容咨询", content="园区用电负荷不足，影响三条产线。"), user="dispatcher")
    tax = county.call("POST", "/issues", submit_body(
        title="增值税留抵退税咨询", content="希望了解办理流程。"), user="dispatcher")
    iso = county.call("POST", "/issues", submit_body(
        title="认证补贴咨询", content="申请ISO9001认证补贴的材料清单"), user="dispatcher")
    loan = county.call("POST", "/issues", submit_body(
        title="融资贷款咨询", content="希望对接银行。"), user="dispatcher")

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{county.base}/ui/workbench")
    login(page, "dispatcher")
    pool = page.locator("#pool")
    expect(pool).to_contain_text(loan["number"])  # the whole pool first

    search(page, "用电")
    expect(pool).not_to_contain_text(loan["number"])  # the search's result is in
    expect(pool.locator("tbody tr")).to_have_count(1)
    expect(pool).to_contain_text(power["number"])
    snippet = pool.locator(".snippet[data-field='content']")
    expect(snippet.locator("mark")).to_have_text("用电")
    expect(page.locator("#pool-count")).to_have_text("共 1 件")
    page.screenshot(path=shots / "pool-search.png", full_page=True)

    search(page, "税")
    expect(pool).to_contain_text(tax["number"])  # the new result is in before counting
    expect(pool.locator("tbody tr")).to_have_count(1)
    search(page, "ISO9001")
    expect(pool).to_contain_text(iso["number"])
    expect(pool.locator("tbody tr")).to_have_count(1)

    # with the state filter: nothing resolved holds 用电, the received one does
    search(page, "用电", state="resolved")
    expect(pool.locator("td.empty")).to_be_visible()
    expect(page.locator("#pool-count")).to_have_text("共 0 件")
    search(page, "用电", state="received")
    expect(pool).to_contain_text(power["number"])
    expect(pool.locator("tbody tr")).to_have_count(1)
    expect(pool.locator("td.empty")).to_have_count(0)
