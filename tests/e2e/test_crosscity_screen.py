"""The province cockpit's 跨市疑似重复 card in a real browser: a province leader logs in
through the form and sees the one pair of two cities' reworded complaints, found from the
keyed signatures the cities' summaries carry (put into the province's rollup as the
summaries arrive; NATS itself is covered in tests/integration/test_similarity_federation.py),
named by city, with the similarity, and no pair of unrelated issues."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from node.domain.duplicates import compact, minhash
from node.domain.summary import Summary, encode
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config

KEY = b"zhitong-e2e-federation-key-00001"
POWER = "我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。"
POWER_AGAIN = "我们新厂房的高压用电报装申请两个月了，供电公司还没安排现场勘查，影响投产。"
LABOUR = "园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。"
ROAD = "工业园区主干道路面破损严重，大货车通行困难，雨天积水，请尽快维修。"
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

expect.set_options(timeout=10_000)


def city_summary(code: str, issues: list[tuple[str, str, str]]) -> bytes:
    """A city's summary as it would publish it: (number, unit, text) → signatures only."""
    return encode(Summary(node=code, as_of=AT, signatures=tuple(
        {"number": n, "node": u, "sig": compact(minhash(text, KEY))} for n, u, text in issues)))


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path, node={"code": "330000", "name": "浙江省", "level": "province",
                                         "parent": None, "children": ["330100", "330500"]},
                         nats={"enabled": True})
    for served in serve(config, USERS, connect_streams=False):
        streams = served.node.streams
        assert streams is not None
        assert streams.summaries.accept("330500", city_summary("330500", [
            ("330522-2026-000017", "330522", POWER), ("330500-2026-000003", "330500", LABOUR)]))
        assert streams.summaries.accept("330100", city_summary("330100", [
            ("330106-2026-000042", "330106", POWER_AGAIN),
            ("330100-2026-000008", "330100", ROAD)]))
        yield served


def test_a_province_leader_sees_the_cross_city_pair_in_the_cockpit(
        province: Served, browser: Browser, console: Console) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{province.base}/ui/cockpit")
    login(page, "leader")
    card = page.locator("#crosscity")
    expect(card).to_be_visible()
    expect(page.locator("#crosscity-h")).to_have_text("跨市疑似重复（待两市核实）")
    items = page.locator("#crosscity-list .crosscity-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("330522-2026-000017")
    expect(items.first).to_contain_text("330106-2026-000042")
    expect(items.first).to_contain_text("湖州市")
    expect(items.first).to_contain_text("杭州市")
    expect(items.first).to_contain_text("相似度约")
    expect(card).not_to_contain_text("330500-2026-000003")  # unrelated: not proposed
    assert not console.problems, console.problems
