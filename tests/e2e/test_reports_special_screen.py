"""A special report (专项报告) in a real browser: a leader logs in through the form, opens
定期报告, orders a special report of November restricted to the tag 融资 through its form
(a span not ended refused first), sees the chosen issues' figures, and downloads its PDF,
which names the span and the choice. A viewer does not see the form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from node.domain.lifecycle import Assign, Resolve, Start, Triage
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.clock import FakeClock
from tests.support.data import LEADER, make_config, submit_cmd

expect.set_options(timeout=20_000)
NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    """November: 用地 resolved, 用地+融资 resolved, 融资 open."""
    clock = FakeClock(datetime.fromisoformat("2026-11-09T10:00:00+08:00"))
    for served in serve(make_config(tmp_path), USERS, clock=clock, reports_every_s=None):
        svc = served.node.services.issues
        for i, tags in enumerate((("用地",), ("用地", "融资"), ("融资",))):
            issue, _ = svc.submit(LEADER, submit_cmd(title=f"十一月诉求{i}"))
            for cmd in (Triage(tags=tags), Assign(department="经信局"), Start()):
                issue = svc.act(LEADER, issue.id, cmd)
            if i < 2:
                svc.act(LEADER, issue.id, Resolve(reply="已办结。"))
        clock.set(NOW)
        yield served


def test_a_leader_orders_a_special_report_through_its_form(
        county: Served, browser: Browser, shots: Path, console: Console,
        tmp_path: Path) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP, accept_downloads=True))
    page.goto(county.base + "/ui/workbench")
    login(page, "leader")
    page.get_by_role("link", name="定期报告").click()
    form = page.locator("#reports-special-form")
    expect(form).to_be_visible()
    form.get_by_label("起始日期").fill("2026-11-01")
    form.get_by_label("截止日期").fill("2026-12-31")
    form.get_by_label("标签（可选").fill("融资")
    form.get_by_role("button", name="生成专项报告").click()
    expect(page.locator("#reports-special-msg")).to_contain_text("尚未结束")
    form.get_by_label("截止日期").fill("2026-11-30")
    form.get_by_role("button", name="生成专项报告").click()
    expect(page.locator("#reports-special-msg")).to_contain_text("专项报告 2026-11-01~2026-11-30#")
    rows = page.locator("#reports-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("专项报告")
    figures = page.locator("#reports-figures")
    expect(figures.locator("tr", has_text="受理件数")).to_contain_text("2")
    expect(figures.locator("tr", has_text="办结件数")).to_contain_text("1")
    page.screenshot(path=shots / "52-reports-special.png", full_page=True)

    with page.expect_download() as caught:
        rows.first.get_by_role("button", name="PDF").click()
    saved = tmp_path / "special.pdf"
    caught.value.save_as(saved)
    text = "\n".join(p.extract_text() for p in PdfReader(saved).pages)
    assert "长兴县2026年11月1日至2026年11月30日涉企问题闭环办理专项报告" in text
    assert any(x.startswith("受理件数 2 ") for x in text.splitlines())
    assert "融资" in text

    viewer = console.watch(browser.new_page(viewport=DESKTOP))
    viewer.goto(county.base + "/ui/workbench/reports")
    login(viewer, "viewer")
    expect(viewer.locator("#reports-list tbody tr")).to_have_count(1)
    expect(viewer.locator("#reports-special")).to_be_hidden()
