"""晾晒比拼 in a real browser: a province holding its cities' summaries with the 有感指数
sums of a constructed history (November and October 2026; the streams are not connected,
the test puts the cities' latest summaries where the NATS reader would). A leader logs in
through the form, opens 晾晒比拼 from the workbench's navigation, asks for November's
county ranking through the form and sees the counties in the expected order with every
component's numerator/denominator and weight, the change against October, and the county
below the minimum sample unranked; then enters an evaluation through the form. The phone
page, logged in through its own form, shows each city's and county's rank."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from node.domain.summary import Summary, decode, encode, summarize
from node.runtime import Node
from tests.e2e.browser import PASSWORD, USERS, Console, Served, login, serve
from tests.support.clock import FakeClock
from tests.support.data import make_config

expect.set_options(timeout=20_000)
NOW = datetime.fromisoformat("2026-11-25T10:00:00+08:00")


def sums(done: int, of: int) -> dict[str, int]:
    return {"resolution_num": done, "resolution_den": of, "on_time_num": done,
            "on_time_den": of}


#: unit → period → sums: index = mean(resolution, on_time) with only those two present
HISTORY: dict[str, dict[str, dict[str, Any]]] = {
    "330500": {"2026-11": sums(21, 22), "2026-10": sums(18, 20)},
    "330522": {"2026-11": sums(9, 10), "2026-10": sums(10, 10)},  # 长兴县 90, was 1st
    "330521": {"2026-11": sums(10, 10), "2026-10": sums(8, 10)},  # 德清县 100, was 2nd
    "330523": {"2026-11": sums(2, 2)},  # 安吉县: 2 resolutions, under the minimum of 5
    "330100": {"2026-11": sums(5, 10), "2026-10": sums(5, 10)},
    "330106": {"2026-11": sums(5, 10), "2026-10": sums(5, 10)},  # 西湖区 50, 3rd both
}


def with_index(s: Summary) -> Summary:
    kids = {k: replace(v, index=HISTORY.get(k, {})) for k, v in s.children.items()}
    return replace(s, index=HISTORY.get(s.node, {}), children=kids)


def put_city_summaries(node: Node) -> None:
    now = node.services.issues.clock.now()
    huzhou = summarize("330500", [], now=now, by_origin=True)
    huzhou = replace(huzhou, children={c: summarize(c, [], now=now)
                                       for c in ("330521", "330522", "330523")})
    hangzhou = summarize("330100", [], now=now, by_origin=True)
    hangzhou = replace(hangzhou, children={"330106": summarize("330106", [], now=now)})
    assert node.streams is not None
    node.streams.summaries.children = {s.node: decode(encode(with_index(s)))
                                       for s in (huzhou, hangzhou)}
    node.streams.summaries.refold()


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path, node={"code": "330000", "name": "浙江省", "level": "province",
                                         "parent": None, "children": ["330100", "330500"]},
                         nats={"enabled": True})
    for served in serve(config, USERS, connect_streams=False, clock=FakeClock(NOW)):
        put_city_summaries(served.node)
        yield served


def test_the_ranking_screen_and_the_phone_page_show_the_ranks(
        province: Served, browser: Browser, shots: Path, console: Console) -> None:
    page = console.watch(browser.new_page(viewport={"width": 1600, "height": 900}))
    page.goto(province.base + "/ui/workbench")
    login(page, "leader")
    page.get_by_role("link", name="晾晒比拼").click()
    expect(page.get_by_role("heading", name="浙江省 · 有感指数晾晒比拼")).to_be_visible()
    form = page.locator("#ranking-form")
    form.get_by_label("周期").fill("2026-11")
    form.get_by_label("层级").select_option(label="区县")
    form.get_by_role("button", name="查看排名").click()
    rows = page.locator("#ranking-table tbody tr")
    expect(rows.locator(".unit-name")).to_have_text(["德清县", "长兴县", "西湖区", "安吉县"])
    expect(rows.locator("td:first-child")).to_have_text(["1", "2", "3", "—"])
    expect(rows.locator(".index")).to_have_text(["100.00", "90.00", "50.00", "100.00"])
    expect(rows.locator(".rank-change")).to_have_text(["↑1", "↓1", "＝", "—"])
    changxing = rows.filter(has_text="长兴县")
    expect(changxing.locator("[data-component=resolution]")).to_have_text("90.0 9/10")
    expect(changxing.locator("[data-component=on_time]")).to_have_text("90.0 9/10")
    expect(rows.filter(has_text="安吉县")).to_contain_text("办结不足 5 件，不排名")
    expect(page.locator("#ranking-table thead")).to_contain_text("办结率 ×20")
    expect(page.locator("#ranking-meta")).to_contain_text("对比 2026-10")
    page.screenshot(path=shots / "60-ranking.png", full_page=True)

    # an enterprise evaluation of 西湖区 for November counts in its index at once
    ev = page.locator("#eval-form")
    ev.get_by_label("单位代码").fill("330106")
    ev.get_by_label("周期").fill("2026-11")
    ev.get_by_label("评价类别").select_option(label="企业评价")
    ev.get_by_label("分数").fill("100")
    ev.get_by_label("来源").fill("省营商办企业问卷")
    ev.get_by_role("button", name="保存评价").click()
    expect(page.locator("#eval-msg")).to_contain_text("已保存 330106 2026-11 的评价")
    expect(rows.locator(".unit-name")).to_have_text(["德清县", "长兴县", "西湖区", "安吉县"])
    xihu = rows.filter(has_text="西湖区")
    expect(xihu.locator("[data-component=eval_enterprise]")).to_contain_text("省营商办企业问卷")
    # (50·20 + 50·20 + 100·7) / 47 = 57.45
    expect(xihu.locator(".index")).to_have_text("57.45")

    form.get_by_label("层级").select_option(label="地市")
    form.get_by_role("button", name="查看排名").click()
    expect(rows.locator(".unit-name")).to_have_text(["湖州市", "杭州市"])

    # the phone page, signed in through its own form
    phone = console.watch(browser.new_page(viewport={"width": 390, "height": 844},
                                           is_mobile=True, has_touch=True))
    phone.goto(province.base + "/ui/phone")
    f = phone.locator("#login-form")
    f.get_by_label("用户名", exact=True).fill(USERS["viewer"].username)
    f.get_by_label("密码", exact=True).fill(PASSWORD)
    f.get_by_role("button", name="登录").click()
    cities = phone.locator("#units > ul > li")
    expect(cities).to_have_count(2)
    huzhou = cities.filter(has_text="湖州市")
    expect(huzhou.locator("summary .rank")).to_have_text("第 1 名")
    expect(cities.filter(has_text="杭州市").locator("summary .rank")).to_have_text("第 2 名")
    huzhou.locator("summary").tap()
    counties = huzhou.locator(".sub > li")
    expect(counties.filter(has_text="德清县").locator(".rank")).to_have_text("第 1 名")
    expect(counties.filter(has_text="长兴县").locator(".rank")).to_have_text("第 2 名")
    expect(counties.filter(has_text="安吉县").locator(".rank")).to_have_text("未排名")
    phone.screenshot(path=shots / "61-phone-ranks.png", full_page=True)
