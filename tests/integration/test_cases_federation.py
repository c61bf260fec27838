"""The case library over a real federation (nats-servers; county → city full replication,
city → province summaries): a case a county publishes reaches its city and the province
in the summaries, without the enterprise's name, credit code or phone, and is filtered
there by kind, tag and unit like a local one; a city's own case reaches the province too;
a second county's library stays apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.app.cases import CaseService
from node.domain.cases import Draft, Measure, MeasureKind
from node.domain.lifecycle import Assign, Close, Resolve, Start, Triage
from node.domain.summary import encode
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.wait import until

PROVINCE, CITY, A, B = "330000", "330500", "330522", "330521"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, A: CITY, B: CITY}
NAME, PHONE = "甲企业有限公司", "13905720001"  # tests/support/data.py submit_cmd

pytestmark = pytest.mark.timeout(300)


def cases(node: FedNode) -> CaseService:
    service = node.node.services.cases
    assert service is not None
    return service


def published_case(node: FedNode, title: str, kind: str, tag: str) -> dict[str, object]:
    """A closed issue of `node`, reviewed and published; the published form."""
    issue, _ = node.issues.submit(LEADER, submit_cmd(title=f"{NAME}{title}"))
    for cmd in (Triage(tags=(tag,)), Assign(department="经信局"), Start(),
                Resolve(reply="已办结。"), Close()):
        issue = node.issues.act(LEADER, issue.id, cmd)
    review = cases(node).open_review(LEADER, subject_kind="issue", subject=issue.id, draft=Draft(
        title=f"{NAME}：{title}", root_cause=f"{NAME}（{CODE_A}，{PHONE}）反映的{title}",
        gap="缺少并联办理规定",
        measures=(Measure(kind=MeasureKind.RULE, text="出台并联办理规定",
                          reference="湖政办发〔2026〕8号"),),
        outcome="已形成长效机制", tags=(tag,)))
    _, form = cases(node).publish(LEADER, review.id, kind=kind, tags=None,
                                  consent_note=None, expected_version=review.version)
    return form


def ids(node: FedNode, *, kind: str | None = None, tag: str | None = None,
        unit: str | None = None, q: str | None = None) -> set[str]:
    page = cases(node).list(LEADER, kind=kind, tag=tag, unit=unit, q=q)
    return {str(c["id"]) for c in page.items}


async def test_a_countys_case_reaches_the_city_and_the_province_without_personal_data(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = fed.nodes[A], fed.nodes[CITY], fed.nodes[PROVINCE]
        red = published_case(county, "用电增容审批慢", "exemplary", "用电")
        black = published_case(fed.nodes[B], "退税拖延", "negative", "税费")
        own = published_case(city, "跨县物流许可互认", "exemplary", "物流")

        await until(lambda: {red["id"], black["id"]} <= ids(city), timeout_s=120,
                    what="the counties' cases at the city")
        await until(lambda: {red["id"], black["id"], own["id"]} <= ids(province),
                    timeout_s=120, what="the counties' and the city's cases at the province")
        for node in (city, province):
            held = cases(node).list(LEADER).items
            text = json.dumps(held, ensure_ascii=False)
            for personal in (NAME, CODE_A, PHONE):
                assert personal not in text, (node.code, personal)
            at_node = cases(node).case(LEADER, str(red["id"]))
            assert at_node == red  # the very form the county published
            assert ids(node, kind="negative") == {black["id"]}
            assert ids(node, tag="用电") == {red["id"]}
            assert ids(node, unit=A) == {red["id"]}
            assert ids(node, q="并联") >= {red["id"], black["id"]}
        # what the province was sent: the city's summary, with the cases, and no name
        sent = encode(province.streams.summaries.children[CITY]).decode()
        assert str(red["id"]) in sent and str(own["id"]) in sent
        for personal in (NAME, CODE_A, PHONE):
            assert personal not in sent
        # once: in the city's own cases, not again in each county's summary within it
        assert all("cases" not in k for k in json.loads(sent)["children"].values())
        assert sent.count(str(red["id"])) == 1
        assert ids(city, unit=CITY) == {own["id"]}
        # a county holds its own library only
        assert ids(county) == {red["id"]}
        assert ids(fed.nodes[B]) == {black["id"]}
