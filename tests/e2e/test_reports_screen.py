"""Periodic reports in a real browser: a leader logs in through the form, opens 定期报告 from
the workbench's navigation, makes November's monthly report through the form (a refusal for
a month not ended first), sees its key figures, and downloads the PDF and the workbook —
the PDF opens (pypdf), is A4 and shows the month's figures; its first page is rendered
(pypdfium2) into test-artifacts/ beside the screen's screenshot. A viewer sees the list
but not the form. Then a special report (专项报告) of November restricted to the tag 融资,
ordered through its form (a span not ended refused first): the chosen issues' figures, and
a PDF naming the span and the choice; a viewer does not see that form."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pypdfium2  # type: ignore[import-untyped]
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from node.domain.lifecycle import Assign, Resolve, Start, Triage
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.e2e.conftest import ROOT
from tests.support.clock import FakeClock
from tests.support.data import LEADER, make_config, submit_cmd

expect.set_options(timeout=20_000)
NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
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


def test_a_leader_makes_and_downloads_novembers_report(
        county: Served, browser: Browser, shots: Path, console: Console,
        tmp_path: Path) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP, accept_downloads=True))
    page.goto(county.base + "/ui/workbench")
    login(page, "leader")
    page.get_by_role("link", name="定期报告").click()
    expect(page.get_by_role("heading", name="长兴县定期报告")).to_be_visible()
    expect(page.locator("#reports-list")).to_contain_text("还没有报告")

    form = page.locator("#reports-make-form")
    form.get_by_label("类型").select_option(label="月报")
    form.get_by_label("周期").fill("2026-12")
    form.get_by_role("button", name="生成报告").click()
    expect(page.locator("#reports-make-msg")).to_contain_text("尚未结束")
    form.get_by_label("周期").fill("2026-11")
    form.get_by_role("button", name="生成报告").click()
    expect(page.locator("#reports-make-msg")).to_have_text("2026-11 的报告已生成。")
    rows = page.locator("#reports-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("月报")
    expect(rows.first).to_contain_text("按需生成")
    figures = page.locator("#reports-figures")
    expect(figures.locator("tr", has_text="受理件数")).to_contain_text("3")
    expect(figures.locator("tr", has_text="按时办结率")).to_contain_text("100.0%")
    page.screenshot(path=shots / "50-reports.png", full_page=True)

    with page.expect_download() as caught:
        rows.first.get_by_role("button", name="PDF").click()
    saved = tmp_path / "report.pdf"
    caught.value.save_as(saved)
    assert caught.value.suggested_filename == "zhitong-330522-month-2026-11.pdf"
    reader = PdfReader(saved)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    text = reader.pages[0].extract_text()
    assert "长兴县2026年11月涉企问题闭环办理月度报告" in text
    assert any(x.startswith("受理件数 3 ") for x in text.splitlines())
    assert any(x.startswith("办结件数 2 ") for x in text.splitlines())
    artifacts = ROOT / "test-artifacts"
    (artifacts / "report-month.pdf").write_bytes(saved.read_bytes())
    first = pypdfium2.PdfDocument(str(saved))[0]
    first.render(scale=1.5).to_pil().save(shots / "51-report-first-page.png")

    with page.expect_download() as caught:
        rows.first.get_by_role("button", name="Excel").click()
    book = load_workbook(io.BytesIO(Path(caught.value.path()).read_bytes()))
    assert book.sheetnames[0] == "主要指标"

    # a viewer reads the list, without the form
    viewer = console.watch(browser.new_page(viewport=DESKTOP))
    viewer.goto(county.base + "/ui/workbench/reports")
    login(viewer, "viewer")
    expect(viewer.locator("#reports-list tbody tr")).to_have_count(1)
    expect(viewer.locator("#reports-make")).to_be_hidden()


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
