"""回访验收 on the operations page, in a real browser: log in through the form, draw the
month's sample with the sampling form, see a second draw refused, record an unsatisfied
revisit through the task form (the issue reopens), re-draw with a leader's reason and see
both draws side by side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from node.domain.calendar import CST
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def _resolved(county: Served, title: str) -> dict[str, str]:
    issue: dict[str, str] = county.call("POST", "/issues", submit_body(title=title),
                                        user="enterprise")
    key = issue["id"]
    county.call("POST", f"/issues/{key}/triage", {"tags": ["惠企政策"]}, user="dispatcher")
    county.call("POST", f"/issues/{key}/assign", {"department": "经信局"}, user="dispatcher")
    county.call("POST", f"/issues/{key}/start", {}, user="handler")
    county.call("POST", f"/issues/{key}/resolve", {"reply": "已办结。"}, user="handler")
    return issue


def test_revisit_tasks_through_the_operations_page(county: Served, browser: Browser,
                                                   shots: Path, console: Console) -> None:
    first = _resolved(county, "高企奖励资金尚未到位")
    second = _resolved(county, "厂房消防验收排期")
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench/operations")
    login(page, "leader")
    expect(page.get_by_role("heading", name="回访验收")).to_be_visible()
    month = datetime.now(CST).strftime("%Y-%m")
    expect(page.get_by_label("月份", exact=True)).to_have_value(month)
    expect(page.locator("#revisit-draws")).to_contain_text("该月尚未抽样。")

    # the month's draw, with the sampling form: both issues become revisit tasks
    page.get_by_label("抽样比例（%）").fill("100")
    page.get_by_role("button", name="抽取").click()
    expect(page.locator("#sample-result")).to_contain_text("已办结 2 件，抽中 2 件")
    tasks = page.locator("#revisit-tasks tbody tr")
    expect(tasks).to_have_count(2)
    expect(page.locator("#revisit-tasks")).to_contain_text("高企奖励资金尚未到位")
    expect(page.locator("#revisit-tasks [data-task-state=open]")).to_have_count(2)
    expect(page.locator("#revisit-draws tbody tr")).to_have_count(1)
    expect(page.locator("#revisit-draws")).to_contain_text("首次抽样")

    # a second draw of the month is refused, and says why
    page.get_by_role("button", name="抽取").click()
    expect(page.locator("#sample-error")).to_contain_text("回访样本已抽取")

    # the result form: incomplete first, then 不满意 by phone with a note
    form = page.locator("#revisit-result-form")
    form.get_by_role("button", name="保存回访结果").click()
    expect(page.locator("#revisit-result-msg")).to_have_text("请选择任务、回访结果和回访方式")
    form.get_by_label("回访任务").select_option(label=f"{first['number']} · 高企奖励资金尚未到位")
    form.get_by_label("不满意").check()
    form.get_by_label("回访方式").select_option(label="电话")
    form.get_by_label("回访记录").fill("企业反映资金仍未到账")
    form.get_by_role("button", name="保存回访结果").click()
    expect(page.locator("#revisit-result-msg")).to_have_text(
        f"已登记：{first['number']} 不满意")
    done = page.locator("#revisit-tasks tbody tr", has_text=first["number"])
    expect(done).to_contain_text("已完成")
    expect(done).to_contain_text("不满意（电话）")
    expect(done).to_contain_text("重新办理")  # the issue's state: reopened
    issue = county.call("GET", f"/issues/{first['id']}", user="leader")
    assert (issue["state"], issue["timeline"][-1]["kind"]) == ("reopened", "revisit_reopen")
    assert issue["timeline"][-1]["payload"]["note"] == "企业反映资金仍未到账"
    expect(form.get_by_label("回访任务").locator("option")).to_have_count(2)  # one left
    expect(page.locator("#revisit-draws")).to_contain_text("已完成 1/2，超期 0")

    # a leader's re-draw: refused without a reason, kept next to the first with one
    redraw = page.locator("#revisit-redraw-form")
    redraw.get_by_role("button", name="重新抽样").click()
    expect(page.locator("#revisit-redraw-msg")).to_have_text("请填写重抽理由")
    redraw.get_by_label("重抽理由").fill("首次抽样比例填写错误，经领导批准重新抽样")
    redraw.get_by_role("button", name="重新抽样").click()
    expect(page.locator("#revisit-redraw-msg")).to_contain_text("已重新抽样：样本")
    draws = page.locator("#revisit-draws tbody tr")
    expect(draws).to_have_count(2)
    expect(draws.nth(0)).to_contain_text("首次抽样")
    expect(draws.nth(1)).to_contain_text("第 2 次（重抽）")
    expect(draws.nth(1)).to_contain_text("首次抽样比例填写错误")
    expect(page.locator("#revisit-tasks [data-task-state=superseded]")).to_have_count(1)
    assert second["number"]  # the second issue stays in the re-drawn frame
    page.screenshot(path=shots / "30-revisit-tasks.png", full_page=True)
