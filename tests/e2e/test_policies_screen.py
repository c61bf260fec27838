"""The policy library screen in a real browser, through its own forms: an admin signs in
through the login form and enters a policy in the 政策库 screen (a bad date range is
refused in Chinese first); a dry-run upload reports the bad row and writes nothing; a
leader opens an issue tagged 用电 and sees the policy suggested, attaches it to the
reply; a dispatcher records the enterprise's industry and size on the intake screen (refused
until the enterprise's consent is ticked); the enterprise signs in to the portal and sees
the policy under 可能适用的政策, and tells its size itself with consent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import Browser, expect

from node.domain.policies import FIELDS
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def bad_sheet(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([f.zh for f in FIELDS])
    sheet.append(["融资担保补贴", "长兴县金融办", "长金〔2026〕1号", "2026-01-01", "", "融资",
                  "", "巨型", "", "担保费补贴。", ""])
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return path


def test_a_policy_entered_in_the_screen_is_suggested_on_a_matching_issue(
    county: Served, browser: Browser, console: Console, shots: Path, tmp_path: Path
) -> None:
    admin = console.watch(browser.new_page(viewport=DESKTOP))
    admin.goto(county.base + "/ui/workbench")
    login(admin, "admin")
    admin.get_by_role("link", name="政策库").click()
    expect(admin.get_by_role("heading", name="政策库", exact=True)).to_be_visible()
    expect(admin.locator("#policies-table")).to_contain_text("没有符合条件的政策")

    form = admin.locator("#policy-form")
    form.get_by_label("政策名称", exact=True).fill("长兴县企业用电增容支持措施")
    form.get_by_label("发文机关", exact=True).fill("长兴县人民政府办公室")
    form.get_by_label("文号", exact=True).fill("长政办发〔2026〕8号")
    form.get_by_label("生效日期", exact=True).fill("2026-12-01")
    form.get_by_label("失效日期", exact=True).fill("2026-01-01")
    form.get_by_label("标签", exact=True).fill("用电")
    form.get_by_label("政策摘要", exact=True).fill("新增用电容量的接入费用减半。")
    form.get_by_role("button", name="保存政策").click()
    expect(admin.locator("#policies-error")).to_have_text("失效日期早于生效日期（2026-12-01）")
    form.get_by_label("失效日期", exact=True).fill("2027-12-31")
    form.get_by_role("checkbox", name="小型").check()
    form.get_by_role("button", name="保存政策").click()
    expect(admin.locator("#policies-flash")).to_have_text("已录入政策“长兴县企业用电增容支持措施”。")
    row = admin.locator("#policies-table tbody tr").first
    expect(row).to_contain_text("长政办发〔2026〕8号")
    expect(row).to_contain_text("规模：小型")
    expect(row).to_contain_text("有效")

    upload = admin.locator("#policies-import-form")
    upload.get_by_label("文件（.xlsx 或 .csv）").set_input_files(bad_sheet(tmp_path / "p.xlsx"))
    upload.get_by_role("button", name="开始").click()
    expect(admin.locator("#policies-import-status")).to_contain_text("试导入完成，未写入任何数据")
    problems = admin.locator("#policies-import-problems tbody tr")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text("企业规模")
    expect(problems.first).to_contain_text("“巨型”不是企业规模")
    expect(admin.locator("#policies-table tbody tr")).to_have_count(1)
    admin.screenshot(path=shots / "policies-library.png", full_page=True)

    issue = county.call("POST", "/issues", submit_body(CODE_A, title="新产线用电增容",
                                                       tags=["用电"]), user="enterprise")
    staff = console.watch(browser.new_page(viewport=DESKTOP))
    staff.goto(county.base + f"/ui/workbench/issues/{issue['number']}")
    login(staff, "leader")
    card = staff.locator("#policies-card")
    expect(card).to_be_visible()
    suggested = card.locator("li.policy-item")
    expect(suggested).to_have_count(1)
    expect(suggested.first).to_contain_text("长兴县企业用电增容支持措施")
    expect(suggested.first).to_contain_text("匹配标签：用电")
    expect(suggested.first).to_contain_text("需向企业核实：企业规模")
    suggested.first.get_by_role("button", name="附到答复").click()
    expect(suggested.first).to_contain_text("已附到答复")
    staff.screenshot(path=shots / "policies-issue.png", full_page=True)

    # intake staff record the enterprise's industry and size, with its consent
    intake = console.watch(browser.new_page(viewport=DESKTOP))
    intake.goto(county.base + "/ui/workbench/intake")
    login(intake, "dispatcher")
    record = intake.locator("#intake-profile-form")
    record.get_by_label("统一社会信用代码", exact=True).fill(CODE_A)
    record.get_by_label("所属行业", exact=True).select_option(label="制造业")
    record.get_by_label("企业规模", exact=True).select_option(label="大型")
    record.get_by_role("button", name="保存企业信息").click()
    expect(intake.locator("#intake-profile-result")).to_contain_text("企业同意后才能保存")
    record.get_by_role("checkbox", name="企业已同意记录其行业和规模信息").check()
    record.get_by_role("button", name="保存企业信息").click()
    expect(intake.locator("#intake-profile-result")).to_have_text(f"已记录 {CODE_A} 的行业和规模。")
    recorded = county.call("GET", f"/enterprise-profile?credit_code={CODE_A}", user="dispatcher")
    assert recorded["industry"] == "C" and recorded["size"] == "large"

    portal = console.watch(browser.new_page(viewport=DESKTOP))
    portal.goto(county.base + f"/ui/portal/issues/{issue['number']}")
    login(portal, "enterprise", label="统一社会信用代码")
    section = portal.locator("#policies-card")
    expect(section.get_by_role("heading", name="可能适用的政策")).to_be_visible()
    expect(section.locator("#policies-recommended")).to_contain_text("长兴县企业用电增容支持措施")
    # a large enterprise: the policy for small ones is recommended, not matched
    expect(section.locator("#policies-matches")).to_have_count(0)
    profile = section.locator("#profile-form")
    profile.get_by_label("企业规模", exact=True).select_option(label="小型")
    profile.get_by_role("checkbox").check()
    profile.get_by_role("button", name="保存").click()
    expect(section.locator("#profile-result")).to_contain_text("已保存")
    portal.screenshot(path=shots / "policies-portal.png", full_page=True)
    saved = county.call("GET", "/enterprise-profile", user="enterprise")
    assert saved["consented"] is True and saved["size"] == "small"
    assert console.problems == []
