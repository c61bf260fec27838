"""The intake screen (综合受理) in a real browser: log in through the form, enter one issue
from a 政企恳谈会 with the meeting and its date, then a meeting's three-row table (one row
first refused and marked, nothing saved), and find them all in the pool."""

from __future__ import annotations

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


def test_enter_a_meeting_issue_and_a_meeting_table(county: Served, browser: Browser,
                                                   shots: Path, console: Console) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench")
    login(page, "dispatcher")
    page.get_by_role("link", name="综合受理").click()
    expect(page.get_by_role("heading", name="综合受理：录入诉求")).to_be_visible()

    # one issue from a 政企恳谈会, with the meeting and its date
    form = page.locator("#intake-form")
    form.get_by_label("受理渠道").select_option(label="政企恳谈会")
    form.get_by_label("会议名称", exact=False).fill("第12期政企恳谈会")
    form.get_by_label("会议日期", exact=False).fill("2026-02-27")
    form.get_by_label("统一社会信用代码").fill(CODE_A)
    form.get_by_label("企业名称").fill("德清甲企业有限公司")
    form.get_by_label("联系电话").fill("13800000001")
    form.get_by_label("诉求标题").fill("厂房扩建用地指标")
    form.get_by_label("诉求内容（原汁原味记录）").fill("企业计划扩建二期厂房，需新增用地指标。")
    form.get_by_role("button", name="提交受理").click()
    expect(page.locator("#intake-done")).to_contain_text("已受理，编号 330522-")
    one = county.call("GET", "/issues", user="dispatcher")["items"][0]
    assert (one["channel"], one["channel_fields"]) == (
        "meeting", {"meeting": "第12期政企恳谈会", "meeting_date": "2026-02-27"})

    # the lookup fills in name and phone from that issue
    form.get_by_label("企业名称").fill("")
    form.get_by_role("button", name="按信用代码查找").click()
    expect(form.get_by_label("企业名称")).to_have_value("德清甲企业有限公司")

    # a meeting's table: three rows, one common issue; the first try has a bad phone
    batch = page.locator("#batch-form")
    expect(batch.get_by_label("受理渠道")).to_have_value("meeting")
    batch.get_by_label("会议名称", exact=False).fill("第13期政企恳谈会")
    batch.get_by_label("会议日期", exact=False).fill("2026-03-06")
    batch.get_by_role("button", name="添加一行").click()
    batch.get_by_role("button", name="添加一行").click()
    rows = batch.locator("#batch-rows tr")
    expect(rows).to_have_count(3)
    values = [
        ("德清乙企业有限公司", CODE_A, "13800000002", "电力增容", "二期厂房需要电力增容。"),
        ("德清丙企业有限公司", CODE_A, "12", "招工难", "一线工人缺口五十人。"),
        ("德清经济开发区", None, None, "园区物流成本高", "多家企业反映物流成本上涨。"),
    ]
    for i, (name, code, phone, title, content) in enumerate(values):
        row = rows.nth(i)
        if code is None:
            row.get_by_label("共性问题", exact=False).check()
            row.get_by_label("问题对象").select_option(label="园区")
        else:
            row.get_by_label("统一社会信用代码").fill(code)
            row.get_by_label("联系电话").fill(phone or "")
        row.get_by_label("企业名称").fill(name)
        row.get_by_label("诉求标题").fill(title)
        row.get_by_label("诉求内容（原汁原味记录）").fill(content)
    batch.get_by_role("button", name="全部提交").click()
    expect(page.locator("#batch-error")).to_be_visible()
    expect(rows.nth(1).locator(".row-error")).not_to_be_empty()
    expect(rows.nth(0).locator(".row-error")).to_be_empty()
    assert county.call("GET", "/issues", user="dispatcher")["total"] == 1  # nothing saved
    page.screenshot(path=shots / "intake-batch-refused.png", full_page=True)

    rows.nth(1).get_by_label("联系电话").fill("13800000003")
    batch.get_by_role("button", name="全部提交").click()
    expect(page.locator("#batch-result")).to_contain_text("已受理 3 条")
    page.screenshot(path=shots / "intake-batch-done.png", full_page=True)

    page.get_by_role("link", name="诉求池").click()
    for title in ("厂房扩建用地指标", "电力增容", "招工难", "园区物流成本高"):
        expect(page.get_by_text(title).first).to_be_visible()
    pool = county.call("GET", "/issues", user="dispatcher")
    assert pool["total"] == 4
    common = [i for i in pool["items"] if i["subject_kind"] != "enterprise"]
    assert [(i["subject_kind"], i["enterprise"], i["channel_fields"]) for i in common] == [
        ("park", {"name": "德清经济开发区", "credit_code": "", "contact_phone": ""},
         {"meeting": "第13期政企恳谈会", "meeting_date": "2026-03-06"})]
    # its page names the park and the meeting, and shows no credit code or phone
    page.get_by_role("link", name=common[0]["number"]).click()
    facts = page.locator("#facts")
    expect(facts).to_contain_text("德清经济开发区 · 共性问题（园区）")
    expect(facts).to_contain_text("政企恳谈会（第13期政企恳谈会 · 2026-03-06）")
    expect(facts).not_to_contain_text("信用代码")
    assert console.problems == []
