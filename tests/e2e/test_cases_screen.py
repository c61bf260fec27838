"""Reviews and the case library in a real browser: a leader logs in through the form on the
staff page of a closed issue, follows its 问题复盘 link to the 案例库 screen (the issue
number filled in), writes the review, saves it, publishes it as 典型案例 without the
enterprise's consent, finds it in the library, and sees it in the cockpit's 典型案例 list
— never the enterprise's name — while the overdue list is titled 超期督办清单. Over a
real `zhitong up` federation, a case a county leader publishes on the county's screen shows
in the city's cockpit (负面案例), brought by the county's summary, without the name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from node.demo import demo_companies
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.e2e.federation_helpers import (
    CITY,
    COUNTY,
    DEMO_PASSWORD,
    Federation,
    running_federation,
)
from tests.support.data import make_config, submit_body

expect.set_options(timeout=10_000)
NAME = "甲企业有限公司"  # submit_body's enterprise


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def closed_issue(county: Served) -> dict[str, str]:
    issue: dict[str, str] = county.call("POST", "/issues", submit_body(title="用电增容审批慢"),
                                        user="enterprise")
    key = issue["id"]
    county.call("POST", f"/issues/{key}/triage", {"tags": ["用电"]}, user="dispatcher")
    county.call("POST", f"/issues/{key}/assign", {"department": "经信局"}, user="dispatcher")
    county.call("POST", f"/issues/{key}/start", {}, user="handler")
    county.call("POST", f"/issues/{key}/resolve", {"reply": "已并联审批。"}, user="handler")
    county.call("POST", f"/issues/{key}/close", {}, user="dispatcher")
    return issue


def test_a_leader_reviews_publishes_and_sees_the_case_in_the_cockpit(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    issue = closed_issue(county)
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{county.base}/ui/workbench/issues/{issue['number']}")
    login(page, "leader")
    link = page.locator("#case-review-link")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(f"{county.base}/ui/workbench/cases?subject={issue['number']}")
    form = page.locator("#case-review-form")
    expect(form.get_by_label("诉求编号")).to_have_value(issue["number"])
    form.get_by_label("案例标题").fill(f"{NAME}用电增容：串联审批改并联")
    form.get_by_label("根本原因").fill(f"{NAME}的增容申请在两个部门间串联审批")
    form.get_by_label("政策或制度短板").fill("没有并联办理的规定")
    form.get_by_label("类型", exact=True).select_option("procedure")
    form.get_by_label("修订或出台了什么").fill("增容审批改为并联办理")
    form.get_by_label("文号或链接").fill("长政办发〔2026〕12号")
    form.get_by_label("成效").fill("办理时限压缩到 10 个工作日")
    form.get_by_label("标签（逗号分隔）").fill("用电，审批")
    form.get_by_role("button", name="保存复盘").click()
    expect(page.locator("#review-msg")).to_have_text("复盘已保存")
    publish = page.locator("#case-publish-form")
    expect(publish).to_be_visible()
    publish.get_by_label("案例类型").select_option("exemplary")
    publish.get_by_role("button", name="发布").click()
    expect(page.locator("#review-msg")).to_have_text("已发布为典型案例")
    expect(publish).to_be_hidden()  # published: no second publication
    item = page.locator("#cases-list .case-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("某企业用电增容：串联审批改并联")
    expect(item).to_contain_text("长政办发〔2026〕12号")
    expect(item).not_to_contain_text(NAME)
    page.screenshot(path=str(shots / "cases-screen.png"), full_page=True)

    page.goto(f"{county.base}/ui/cockpit")  # the same tab: the staff session carries over
    red = page.locator("#cases-exemplary .case-item")
    expect(red).to_have_count(1)
    expect(red).to_contain_text("某企业用电增容：串联审批改并联")
    expect(red).not_to_contain_text(NAME)
    expect(page.locator("#cases-negative .empty")).to_have_text("暂无案例")
    expect(page.locator("#red-h")).to_have_text("超期督办清单")
    expect(page.locator("#cases-exemplary-h")).to_have_text("典型案例（红榜）")


# ---------------------------------------------- the city's cockpit, over `zhitong up`


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("zhitong-up-cases")) as running:
        yield running


def demo_login(page: Page, username: str = "leader", display_name: str = "兜底办 陈主任") -> None:
    form = page.locator("#login-form")
    form.get_by_label("用户名", exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#user-name")).to_contain_text(display_name)


@pytest.mark.timeout(240)
def test_a_countys_published_case_is_in_the_citys_cockpit(
        browser: Browser, fed: Federation, console: Console) -> None:
    company = demo_companies(COUNTY)[0]
    _, issue = fed.call(COUNTY, "POST", "/issues", {
        "enterprise_name": company.name, "credit_code": company.credit_code,
        "contact_phone": company.phone, "channel": "hotline_12345",
        "title": f"{company.name}出口退税材料反复退回", "content": "退税材料被退回三次。"},
        user="dispatcher")
    number = str(issue["number"])
    for action, body in (("triage", {"tags": ["要素保障"]}),
                         ("assign", {"department": f"{COUNTY}.jxj"}), ("start", {}),
                         ("resolve", {"reply": "已一次性告知材料清单并退付。"}), ("close", {})):
        fed.call(COUNTY, "POST", f"/issues/{number}/{action}", body, user="leader")
    title = f"{company.name}退税材料反复退回"
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{fed.url(COUNTY)}/ui/workbench/cases?subject={number}")
    demo_login(page)
    form = page.locator("#case-review-form")
    form.get_by_label("案例标题").fill(title)
    form.get_by_label("根本原因").fill("材料清单未一次性告知")
    form.get_by_label("成效").fill("材料一次告知，退付时限压缩一半")
    form.get_by_role("button", name="保存复盘").click()
    expect(page.locator("#review-msg")).to_have_text("复盘已保存")
    publish = page.locator("#case-publish-form")
    publish.get_by_label("案例类型").select_option("negative")
    publish.get_by_role("button", name="发布").click()
    expect(page.locator("#review-msg")).to_have_text("已发布为负面案例")

    city = console.watch(browser.new_page(viewport=DESKTOP))
    city.goto(f"{fed.url(CITY)}/ui/cockpit?refresh=2")
    demo_login(city)
    black = city.locator("#cases-negative .case-item")
    expect(black).to_have_count(1, timeout=90_000)  # the county's summary brings it
    expect(black).to_contain_text("某企业退税材料反复退回")
    expect(black).not_to_contain_text(company.name)
    expect(city.locator("#red-h")).to_have_text("超期督办清单")
