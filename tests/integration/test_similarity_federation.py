"""Duplicates across cities from keyed signatures alone, over a real federation: two cities
hold reworded copies of one complaint (and unrelated ones); the province, which holds no
text of theirs, proposes the cross-city pair from the signatures in the cities' summaries
and nothing else — no title, content or enterprise name reaches it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from node.app.similarity import proposals
from node.domain.summary import encode
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.wait import until

PROVINCE, HUZHOU, HANGZHOU = "330000", "330500", "330100"
TOPOLOGY = {PROVINCE: None, HUZHOU: PROVINCE, HANGZHOU: PROVINCE}
POWER = ("厂区用电报装进度缓慢",
         "我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。")
POWER_AGAIN = ("高压用电报装无人勘查",
               "我们新厂房的高压用电报装申请两个月了，供电公司还没安排现场勘查，影响投产。")
LABOUR = ("企业招工难问题", "园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。")
ROAD = ("园区道路破损", "工业园区主干道路面破损严重，大货车通行困难，雨天积水，请尽快维修。")

pytestmark = pytest.mark.timeout(300)


def submit(node: FedNode, text: tuple[str, str]) -> str:
    issue, _ = node.issues.submit(LEADER, replace(submit_cmd(title=text[0]), content=text[1]))
    return issue.number


async def test_the_province_finds_a_cross_city_pair_from_keyed_signatures_alone(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        huzhou, hangzhou, province = fed.nodes[HUZHOU], fed.nodes[HANGZHOU], fed.nodes[PROVINCE]
        a = submit(huzhou, POWER)
        submit(huzhou, LABOUR)
        b = submit(hangzhou, POWER_AGAIN)
        submit(hangzhou, ROAD)
        for city in (huzhou, hangzhou):
            city.node.streams.summary_feed.changed.set()  # type: ignore[union-attr]
        rollup = province.node.streams.summaries  # type: ignore[union-attr]

        def held() -> bool:
            return all(len(rollup.children[c].signatures) == 2 for c in (HUZHOU, HANGZHOU)
                       if c in rollup.children) and len(rollup.children) == 2

        await until(held, timeout_s=60, what="both cities' signatures at the province")
        found = proposals(LEADER, rollup.children)
        pairs = {(x["a"]["number"], x["b"]["number"]) for x in found}
        assert pairs == {(b, a)} or pairs == {(a, b)}, found  # the one cross-city pair
        [pair] = found
        assert {pair["a"]["city"], pair["b"]["city"]} == {HUZHOU, HANGZHOU}
        assert pair["similarity"] >= 0.15
        # what reached the province: numbers, units and signatures, never the texts
        for code in (HUZHOU, HANGZHOU):
            sent = encode(rollup.children[code]).decode()
            for text in (POWER, POWER_AGAIN, LABOUR, ROAD):
                for part in text:
                    assert part not in sent
            assert "甲企业" not in sent
