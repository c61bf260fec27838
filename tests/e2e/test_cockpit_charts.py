"""The cockpit's charts in a real browser, and the province phone page naming every unit.

Cockpit (one county node): after logging in through the form, every chart is an ECharts
canvas holding the API's figures (read back with echarts.getInstanceByDom); a new issue
shows in the weekly chart within seconds, without a reload; the page asks nothing of
any other host; printing redraws the charts in ink; clicking the commonest tag's bar
("点进去") opens the workbench's pool filtered by that tag. A 1920×1080 screenshot of the
wall screen lands in test-artifacts/screenshots/.

Phone (the province with all 11 cities and 90 counties of the reference data as child
summaries): every unit is named from the division data the node ships, never a bare code,
with its top tags and overdue count, within the phone budget.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, ViewportSize, expect

from node.domain.summary import IssueLine, decode, encode, summarize
from node.runtime import Node
from tests.e2e.browser import (
    PHONE_BUDGET,
    USERS,
    Console,
    Served,
    login,
    open_phone,
    report_phone,
    serve,
)
from tests.support.data import make_config, submit_body

expect.set_options(timeout=10_000)
WALL: ViewportSize = {"width": 1920, "height": 1080}
CHARTS = ("chart-weekly", "chart-funnel", "chart-channels", "chart-tags", "chart-units",
          "chart-departments")


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def seed(county: Served) -> None:
    """Four issues: tags 要素保障 ×3, 融资 ×1; two channels; one resolved by 经信局."""
    made = []
    for title, channel in (("用地指标审批", "online"), ("用电增容申请", "online"),
                           ("厂房消防验收", "hotline_12345"), ("贷款贴息兑现", "hotline_12345")):
        made.append(county.call("POST", "/issues", submit_body(title=title, channel=channel),
                                user="enterprise" if channel == "online" else "dispatcher"))
    for issue, tags in zip(made, (["要素保障", "用地"], ["要素保障"], ["要素保障"], ["融资"]),
                           strict=True):
        county.call("POST", f"/issues/{issue['id']}/triage", {"tags": tags}, user="dispatcher")
    key = made[0]["id"]
    county.call("POST", f"/issues/{key}/assign", {"department": "经信局"}, user="dispatcher")
    county.call("POST", f"/issues/{key}/start", {}, user="handler")
    county.call("POST", f"/issues/{key}/resolve", {"reply": "已协调，指标本周下达。"},
                user="handler")


def option(page: Page, chart_id: str) -> Any:
    """The chart's current option, as ECharts holds it (throws if there is no chart)."""
    return page.evaluate("""(id) => {
        const chart = echarts.getInstanceByDom(document.getElementById(id));
        const o = chart.getOption();
        return {series: o.series.map((s) => ({type: s.type, name: s.name,
                    data: s.data.map((d) => (d !== null && typeof d === 'object'
                                             ? d : {value: d}))})),
                yAxis: (o.yAxis || []).map((a) => a.data || []),
                textColor: (Array.isArray(o.textStyle) ? o.textStyle[0] : o.textStyle).color,
                canvases: document.querySelectorAll('#' + id + ' canvas').length};
    }""", chart_id)


INK = """(color) => {
    const style = echarts.getInstanceByDom(document.getElementById('chart-weekly'))
        .getOption().textStyle;
    return (Array.isArray(style) ? style[0] : style).color === color;
}"""


def values(series: dict[str, Any]) -> list[Any]:
    return [d["value"] for d in series["data"]]


def test_cockpit_charts_live_print_and_click_through(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    seed(county)
    page = console.watch(browser.new_page(viewport=WALL, reduced_motion="reduce"))
    outside: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith((county.base + "/", "data:", "blob:")):
            outside.append(request.url)

    page.on("request", watch)
    page.goto(county.base + "/ui/cockpit?refresh=1")
    login(page, "leader")
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile("."))
    page.wait_for_function("""() => {
        const c = echarts.getInstanceByDom(document.getElementById('chart-weekly'));
        return c && c.getOption().series.length === 7;
    }""")

    for chart_id in CHARTS:
        assert option(page, chart_id)["canvases"] >= 1, chart_id
    weekly = option(page, "chart-weekly")
    by_name = {s["name"]: s for s in weekly["series"]}
    assert [s["type"] for s in weekly["series"]] == ["bar"] * 5 + ["line"] * 2
    received_now = sum(values(s)[-1] or 0 for s in weekly["series"] if s["type"] == "bar")
    assert received_now == 4  # all four this week, stacked by light mix
    assert values(by_name["已办结"])[-1] == 1
    assert values(by_name["办结"])[-1] == 1
    funnel = option(page, "chart-funnel")["series"][0]["data"]
    assert [(d["name"], d["value"]) for d in funnel] == [
        ("受理", 4), ("研判", 4), ("交办", 1), ("办理", 1), ("办结", 1), ("结案", 0)]
    tags = option(page, "chart-tags")
    assert tags["yAxis"][0] == ["融资", "用地", "要素保障"]  # the commonest on top
    assert values(tags["series"][0]) == [1, 1, 3]
    pie = option(page, "chart-channels")["series"][0]["data"]
    assert sorted((d["name"], d["value"]) for d in pie) == [("12345营商环境专线", 2),
                                                           ("线上平台", 2)]
    units = option(page, "chart-units")
    assert units["yAxis"][0] == ["长兴县"]  # named, not 330522; 1 resolution: not ranked
    assert values(units["series"][0]) == [100]
    depts = option(page, "chart-departments")
    assert depts["yAxis"][0] == ["经信局"]
    expect(page.locator("#rank-note")).to_contain_text("不足 5 件")
    # a tooltip draws on the canvas: nothing the CSP refuses (the console watch would say)
    weekly_box = page.locator("#chart-weekly").bounding_box()
    assert weekly_box is not None
    bx, by = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById(
        'chart-weekly')).convertToPixel({seriesIndex: 1}, [11, 1])""")
    page.mouse.move(weekly_box["x"] + bx, weekly_box["y"] + by)
    page.screenshot(path=shots / "20-cockpit-1920x1080.png")  # the wall screen as it is

    # live: a new issue reaches the weekly chart within seconds, without reloading
    county.call("POST", "/issues", submit_body(title="出口退税办理时间长"), user="enterprise")
    page.wait_for_function("""() => {
        const o = echarts.getInstanceByDom(document.getElementById('chart-weekly')).getOption();
        return o.series.filter((s) => s.type === 'bar')
            .reduce((n, s) => n + (s.data[s.data.length - 1] || 0), 0) === 5;
    }""")

    # printable: on paper the charts are redrawn in ink, and back on screen afterwards
    assert option(page, "chart-weekly")["textColor"] == "#e8eef8"
    page.emulate_media(media="print")
    page.wait_for_function(INK, arg="#1f2329")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi: charts resize
    page.wait_for_function("""() => echarts.getInstanceByDom(document.getElementById(
        'chart-weekly')).getWidth() === document.getElementById('chart-weekly').clientWidth""")
    page.screenshot(path=shots / "22-cockpit-print.png", full_page=True)
    page.pdf(path=shots.parent / "cockpit-charts.pdf", format="A4", print_background=True)
    page.set_viewport_size(WALL)
    page.emulate_media(media="screen")
    page.wait_for_function(INK, arg="#e8eef8")

    # "点进去": the commonest tag's bar opens the pool filtered by it
    box = page.locator("#chart-tags").bounding_box()
    assert box is not None
    x, y = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('chart-tags'))
        .convertToPixel({seriesIndex: 0}, [1, 2])""")  # [count 1 → inside the bar, row 2]
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page).to_have_url(re.compile(r"/ui/workbench\?tag=%E8%A6%81%E7%B4%A0%E4%BF%9D%E9%9A%9C$"))
    expect(page.locator("#q-tag")).to_have_value("要素保障")
    rows = page.locator("#pool tbody tr")
    expect(rows).to_have_count(3)
    for title in ("用地指标审批", "用电增容申请", "厂房消防验收"):
        expect(page.locator("#pool")).to_contain_text(title)
    expect(page.locator("#pool")).not_to_contain_text("贷款贴息兑现")
    assert outside == []


# --------------------------------------------------------------------------- the province


def reference() -> list[dict[str, str]]:
    text = resources.files("node.data").joinpath("zhejiang_divisions.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def county_lines(code: str, number: Callable[[], str], now: Any, k: int) -> list[IssueLine]:
    """k + 2 issues of a county: k red (overdue) under 要素保障, one closed, one green."""
    out = []
    for i in range(k + 2):
        state, light = (("assigned", "red") if i < k else
                        ("closed", None) if i == k else ("in_progress", "green"))
        due = now - timedelta(days=1) if light == "red" else now + timedelta(days=3)
        out.append(IssueLine(
            number=number(), title=f"县级诉求{i}", origin=code, state=state, light=light,
            tags=("要素保障", "用地") if light == "red" else ("惠企政策",),
            received_at=now - timedelta(days=10),
            resolved_at=now - timedelta(days=2) if state == "closed" else None,
            resolve_due=now if state == "closed" else due, due=due,
            rating="satisfied" if state == "closed" else None, reopen_count=0, rejected=False))
    return out


def put_zhejiang(node: Node, units: list[dict[str, str]]) -> None:
    """Each city's summary of its counties, as the province's stream side would hold them
    (built by the domain, encoded by the city, decoded here; the streams are not connected)."""
    now = node.services.issues.clock.now()
    seq = iter(range(1, 100_000))

    def numbers(code: str) -> Callable[[], str]:
        return lambda: f"{code}-{now.year}-{next(seq):06d}"

    summaries = []
    for n, city in enumerate(u for u in units if u["level"] == "city"):
        lines: list[IssueLine] = []
        kids = [u["code"] for u in units if u["parent"] == city["code"]]
        for j, code in enumerate(kids):
            lines += county_lines(code, numbers(code), now, (n + j) % 4)
        summaries.append(summarize(city["code"], lines, now=now, by_origin=True))
    assert node.streams is not None
    node.streams.summaries.children = {s.node: decode(encode(s)) for s in summaries}


@pytest.fixture
def zhejiang(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    units = reference()
    cities = [u["code"] for u in units if u["level"] == "city"]
    config = make_config(tmp_path, node={"code": "330000", "name": "浙江省",
                                         "level": "province", "parent": None,
                                         "children": cities},
                         nats={"enabled": True})
    for served in serve(config, USERS, connect_streams=False):
        put_zhejiang(served.node, units)
        yield served, {u["code"]: u["name"] for u in units}


def test_province_phone_names_every_unit_with_tags_and_overdue(
        zhejiang: tuple[Served, dict[str, str]], browser: Browser, shots: Path,
        console: Console) -> None:
    province, names = zhejiang
    summary = province.call("GET", "/summary", user="viewer")
    page, weight, timings = open_phone(browser, province.base + "/ui/phone",
                                       province.token("viewer"))
    console.watch(page)
    report_phone("province 330000 with 11 cities and 90 counties, viewer", weight, timings)
    assert weight < PHONE_BUDGET

    cities = page.locator("#units > ul > li")
    expect(cities).to_have_count(11)
    city_codes = sorted(summary["children"])
    expect(cities.locator("summary .u > b")).to_have_text([names[c] for c in city_codes])
    for det in cities.locator("details").all():
        det.evaluate("(d) => { d.open = true; }")
    counties = page.locator("#units .sub > li")
    expect(counties).to_have_count(90)
    shown = counties.locator(".u > b").all_text_contents()
    assert not [s for s in shown if re.fullmatch(r"\d{6}", s)]  # no bare division code
    expected = [names[k] for c in city_codes for k in sorted(summary["children"][c]["children"])]
    assert shown == expected

    # each unit's overdue count and top tags, as in its summary
    first_city = summary["children"][city_codes[0]]
    city_box = cities.first
    expect(city_box.locator("summary .overdue")).to_have_text(
        f"超期 {first_city['lights'].get('red', 0)} 件")
    expect(city_box.locator("summary .tags")).to_contain_text(first_city["top_tags"][0]["tag"])
    for code, county in summary["children"][city_codes[0]]["children"].items():
        row = counties.filter(has=page.locator(".u > b", has_text=names[code]))
        red = county["lights"].get("red", 0)
        expect(row.locator(".overdue")).to_have_text(f"超期 {red} 件")
        expect(row.locator(".tags")).to_have_text(
            "、".join(t["tag"] for t in county["top_tags"][:3]))
    expect(page.locator("#total-body .overdue")).to_have_text(
        f"超期 {summary['lights'].get('red', 0)} 件")
    page.locator("#units").scroll_into_view_if_needed()
    page.screenshot(path=shots / "21-phone-zhejiang.png")
