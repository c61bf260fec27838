"""疑似重复 and 并单 on the workbench's issue page, in a real browser: a dispatcher logs in
through the form, sees the likely duplicate of the issue, ticks it and merges it into this
issue; a leader opens the follower's page and undoes the merge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_B, make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_merge_and_unmerge_from_the_issue_page(county: Served, browser: Browser, shots: Path,
                                               console: Console) -> None:
    master = county.call("POST", "/issues", submit_body(
        title="厂区用电报装进度缓慢",
        content="我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。"),
        user="enterprise")
    follower = county.call("POST", "/issues", submit_body(
        CODE_B, enterprise_name="乙企业有限公司", contact_phone="13905720002",
        title="新厂房用电报装迟迟未办",
        content="公司新建厂房申请用电报装两个多月了，供电部门一直没有来现场勘查，投产时间一再推迟。"),
        user="dispatcher")
    unrelated = county.call("POST", "/issues", submit_body(
        title="企业招工难问题", content="园区企业普遍反映技术工人招聘困难，希望政府组织招聘会。"),
        user="enterprise")

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{county.base}/ui/workbench/issues/{master['number']}")
    login(page, "dispatcher")
    card = page.locator("#duplicates-card")
    expect(card.get_by_role("heading", name="疑似重复")).to_be_visible()
    row = card.locator(f"li.merge-item[data-id='{follower['id']}']")
    expect(row).to_contain_text(follower["number"])
    expect(row).to_contain_text("相似度")
    expect(card).not_to_contain_text(unrelated["number"])
    row.get_by_label("并入").check()
    page.screenshot(path=shots / "merge-candidates.png", full_page=True)
    card.get_by_role("button", name="并单", exact=True).click()
    expect(page.locator("#merges-list")).to_contain_text(follower["number"])
    expect(page.locator("#timeline")).to_contain_text("并单（并入诉求）")
    merged = county.call("GET", f"/issues/{follower['id']}", user="leader")
    assert (merged["state"], merged["outcome"]) == ("closed", "merged")

    # a leader undoes it from the follower's page: the follower is open again
    lead = console.watch(browser.new_page(viewport=DESKTOP))
    lead.goto(f"{county.base}/ui/workbench/issues/{follower['number']}")
    login(lead, "leader")
    link = lead.locator(f"#merges-list li.merge-link[data-follower='{follower['number']}']")
    expect(link).to_contain_text("本诉求已并入主件")
    expect(lead.locator("#timeline")).to_contain_text("并单办结")
    link.get_by_role("button", name="撤销并单").click()
    expect(lead.locator("#merges-list")).to_contain_text("已撤销")
    expect(lead.locator("#timeline")).to_contain_text("撤销并单")
    lead.screenshot(path=shots / "merge-undone.png", full_page=True)
    back = county.call("GET", f"/issues/{follower['id']}", user="leader")
    assert (back["state"], back["outcome"]) == ("received", None)


def test_intake_shows_the_likely_duplicates_before_registering(
        county: Served, browser: Browser, console: Console) -> None:
    earlier = county.call("POST", "/issues", submit_body(
        title="厂区用电报装进度缓慢",
        content="我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。"),
        user="enterprise")
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{county.base}/ui/workbench/intake")
    login(page, "dispatcher")
    page.locator("#intake-title").fill("新厂房用电报装迟迟未办")
    page.locator("#intake-content").fill("公司新建厂房申请用电报装两个多月了，供电部门一直没有来现场勘查。")
    shown = page.locator("#intake-duplicates")
    expect(shown).to_contain_text("疑似重复")
    expect(shown.locator(f"li[data-id='{earlier['id']}']")).to_contain_text(earlier["number"])
