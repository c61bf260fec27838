"""The joint meeting's agenda (联席会议) in a real browser: log in through the form, see the
next meeting's agenda hold exactly the issues at the joint-meeting step, record a decision
through the form, and print the agenda (an A4 PDF of the page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def _laddered(county: Served, title: str, steps: int) -> dict[str, str]:
    issue: dict[str, str] = county.call("POST", "/issues", submit_body(title=title),
                                        user="enterprise")
    county.call("POST", f"/issues/{issue['id']}/triage", {"tags": ["要素保障"]},
                user="dispatcher")
    for _ in range(steps):
        county.call("POST", f"/issues/{issue['id']}/ladder", {}, user="dispatcher")
    return issue


def test_the_agenda_and_a_decision_through_the_meeting_page(
        county: Served, browser: Browser, shots: Path, console: Console,
        tmp_path: Path) -> None:
    on = _laddered(county, "跨部门用地指标协调", 3)
    _laddered(county, "兜底办办理中的诉求", 2)
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench")
    login(page, "leader")
    page.get_by_role("link", name="联席会议").click()
    expect(page.get_by_role("heading", name="长兴县领导联席会议议程")).to_be_visible()
    expected = county.call("GET", "/meetings/next", user="leader")["meeting"]
    expect(page.get_by_label("会议日期")).to_have_value(expected)
    rows = page.locator("#meeting-agenda tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("跨部门用地指标协调")

    form = page.locator("#meeting-decision-form")
    form.get_by_role("button", name="保存会议决定").click()
    expect(page.locator("#meeting-msg")).to_have_text("请填写议题、牵头领导、会议决定和办结时限")
    form.get_by_label("议题").select_option(label=f"{on['number']} · 跨部门用地指标协调")
    form.get_by_label("牵头领导").fill("王副县长")
    form.get_by_label("会议决定").fill("自然资源局牵头，两周内完成指标调剂")
    form.get_by_label("办结时限").fill("2099-01-31")
    form.get_by_role("button", name="保存会议决定").click()
    expect(page.locator("#meeting-msg")).to_have_text("已记录会议决定。")
    expect(rows.first).to_contain_text("王副县长")
    expect(rows.first).to_contain_text("2099-01-31")
    expect(form.get_by_label("议题").locator("option")).to_have_text(["所有议题均已作出决定。"])
    item = county.call("GET", "/meetings/next", user="leader")["items"][0]
    assert item["decision"]["decision"] == "自然资源局牵头，两周内完成指标调剂"

    page.screenshot(path=shots / "31-joint-meeting.png", full_page=True)
    page.emulate_media(media="print")
    expect(page.locator("#meeting-decision-form")).to_be_hidden()  # the sheet only
    pdf = page.pdf(path=str(tmp_path / "agenda.pdf"), format="A4")
    assert pdf.startswith(b"%PDF")
