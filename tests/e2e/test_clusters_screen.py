"""共性问题 on a city's operations page, in a real browser: a dispatcher logs in through the
form, sees two counties' similar issues (replicas the city holds) proposed as one group and
not the unrelated ones, names the group and confirms it; the confirmed cluster is listed
with its members and links to the one common issue of the city that handles them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request, expect

from node.runtime import Node
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, CODE_B, make_config
from tests.support.replicas import held_replica

expect.set_options(timeout=15_000)

CITY = {"code": "330500", "name": "湖州市", "level": "city", "parent": "330000",
        "children": ["330522", "330521"]}
POWER = ("厂区用电报装进度缓慢",
         "我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。")
POWER_B = ("新厂房用电报装迟迟未办",
           "公司新建厂房申请用电报装两个多月了，供电部门一直没有来现场勘查，投产时间一再推迟。")
LABOUR = ("企业招工难问题", "园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。")


def replica(node: Node, county: str, n: int, text: tuple[str, str], code: str) -> str:
    """A county's issue as the city holds it, written as its replicated events write it."""
    return held_replica(node, county, n, text, code).number


@pytest.fixture
def city(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path, node=CITY), USERS)


def test_a_dispatcher_groups_two_counties_issues_into_one_common_issue(
        city: Served, browser: Browser, shots: Path, console: Console) -> None:
    a = replica(city.node, "330522", 1, POWER, CODE_A)
    b = replica(city.node, "330521", 2, POWER_B, CODE_B)
    other = replica(city.node, "330522", 3, LABOUR, CODE_A)

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{city.base}/ui/workbench/operations")
    login(page, "dispatcher")
    card = page.locator("#clusters-card")
    expect(card.get_by_role("heading", name="共性问题归集")).to_be_visible()
    form = card.locator("form.cluster-proposal")
    expect(form).to_have_count(1)
    expect(form).to_contain_text(a)
    expect(form).to_contain_text(b)
    expect(form).to_contain_text("相似度")
    expect(card).not_to_contain_text(other)
    form.get_by_label("共性问题名称").fill("新厂房用电报装慢（共性问题）")
    page.screenshot(path=shots / "clusters-proposed.png", full_page=True)
    form.get_by_role("button", name="确认归集").click()

    expect(page.locator("#clusters-notice")).to_contain_text("已归集为共性问题 330500-")
    row = page.locator("#clusters-table tr.cluster-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(a)
    expect(row).to_contain_text(b)
    expect(page.locator("#clusters-none")).to_be_visible()  # nothing left to propose
    [cluster] = city.call("GET", "/clusters", user="leader")
    assert {m["number"] for m in cluster["members"]} == {a, b}
    common = city.call("GET", f"/issues/{cluster['common_issue_id']}", user="leader")
    assert (common["owner"], common["title"]) == ("330500", "新厂房用电报装慢（共性问题）")

    # the common issue's page opens from the list
    row.get_by_role("link", name="新厂房用电报装慢（共性问题）").click()
    expect(page.locator("h1.page-title")).to_contain_text("新厂房用电报装慢（共性问题）")
    page.screenshot(path=shots / "clusters-common-issue.png", full_page=True)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_a_county_shows_no_common_issue_card(county: Served, browser: Browser,
                                             console: Console) -> None:
    """The card's script asks nothing at a county (no units below it): no request for
    proposals leaves the page, although the API would answer (an empty list)."""
    page = console.watch(browser.new_page(viewport=DESKTOP))
    asked: list[str] = []

    def seen(request: Request) -> None:
        if "/api/v1/clusters" in request.url:
            asked.append(request.url)

    page.on("request", seen)
    page.goto(f"{county.base}/ui/workbench/operations")
    login(page, "dispatcher")
    expect(page.locator("#outbox table")).to_be_visible()  # the page loaded after sign-in
    page.wait_for_load_state("networkidle")
    expect(page.locator("#clusters-card")).to_be_hidden()
    assert asked == []
    assert county.call("GET", "/clusters/proposals", user="dispatcher") == []
