"""共性问题 at a city, on both backends: two counties' similar issues (replicas held at the
city) are proposed as one cluster, not the unrelated ones nor a single county's; the
dispatcher confirms it as one common issue of the city, which links every member; a
member is in one cluster only, and the refusals write nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from node.app.clusters import ClusterService
from node.domain.errors import Forbidden, RuleViolation, ValidationError
from node.domain.issue import SubjectKind
from node.runtime import Node, build
from node.store.schema import issue_cluster_members, issues
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, STAFF, make_config
from tests.support.replicas import held_replica

CITY = {"code": "330500", "name": "湖州市", "level": "city", "parent": "330000",
        "children": ["330522", "330521"]}
POWER = ("厂区用电报装进度缓慢",
         "我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。")
POWER_B = ("新厂房用电报装迟迟未办",
           "公司新建厂房申请用电报装两个多月了，供电部门一直没有来现场勘查，投产时间一再推迟。")
LABOUR = ("企业招工难问题", "园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。")
FLOOD = ("厂区道路积水严重", "雨季厂区门口道路积水，车辆无法通行，影响企业正常生产经营。")


@pytest.fixture
def city(tmp_path: Path, engine: Engine, clock: FakeClock) -> Node:
    return build(make_config(tmp_path, node=CITY), clock=clock, engine=engine)


def replica(node: Node, county: str, n: int, text: tuple[str, str], code: str = CODE_A) -> str:
    """A county's issue as the city holds it: written by the county's replicated events."""
    return held_replica(node, county, n, text, code).id


def clusters_of(node: Node) -> ClusterService:
    assert node.services.duplicates is not None and node.services.duplicates.clusters
    return node.services.duplicates.clusters


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_two_counties_similar_issues_become_one_cluster_handled_once(city: Node) -> None:
    a = replica(city, "330522", 1, POWER)
    b = replica(city, "330521", 2, POWER_B, CODE_B)
    replica(city, "330522", 3, LABOUR)
    replica(city, "330521", 4, FLOOD, CODE_B)
    replica(city, "330522", 5, POWER)  # similar, but alone it is one county's: joins a
    service = clusters_of(city)
    dispatcher = STAFF["dispatcher"]
    [proposal] = service.proposals(dispatcher)
    assert set(proposal.proposal.members) == {a, b, "330522-replica-5"}
    assert proposal.proposal.origins == ("330521", "330522") and proposal.proposal.score >= 0.2

    record, common = service.create(dispatcher, title="新厂房用电报装慢（共性问题）",
                                    members=[a, b])
    assert (common.owner, common.origin, common.subject_kind) == (
        "330500", "330500", SubjectKind.REGION)
    assert "330522-2026-000001" in common.content and "330521-2026-000002" in common.content
    assert {m[0] for m in record.members} == {a, b}
    assert record.common_issue_id == common.id
    assert service.get(dispatcher, record.id) == record
    assert [c.id for c in service.list(dispatcher)] == [record.id]
    # the members now proposed no more; the rest of the group alone is one county's
    assert service.proposals(dispatcher) == []

    engine = city.engine
    before = (count(engine, issues), count(engine, issue_cluster_members))
    with pytest.raises(RuleViolation) as taken:
        service.create(dispatcher, title="重复归集", members=[a, "330521-replica-4"])
    assert taken.value.code == "cluster_member_taken"
    with pytest.raises(RuleViolation) as one:
        service.create(dispatcher, title="单县", members=["330522-replica-3", "330522-replica-5"])
    assert one.value.code == "cluster_one_unit"
    with pytest.raises(ValidationError):
        service.create(dispatcher, title="一件", members=["330522-replica-3"])
    with pytest.raises(Forbidden):
        service.create(STAFF["handler"], title="无权", members=["330522-replica-3",
                                                                 "330521-replica-4"])
    assert (count(engine, issues), count(engine, issue_cluster_members)) == before


def test_the_cluster_endpoints(city: Node) -> None:
    a = replica(city, "330522", 1, POWER)
    b = replica(city, "330521", 2, POWER_B, CODE_B)
    city.services.accounts.add(STAFF["dispatcher"], "password123")
    with TestClient(city.app) as client:
        token = client.post("/api/v1/auth/login", json={
            "username": "dispatcher", "password": "password123"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        proposals = client.get("/api/v1/clusters/proposals", headers=auth).json()
        assert [{m["id"] for m in p["members"]} for p in proposals] == [{a, b}]
        made = client.post("/api/v1/clusters", headers=auth, json={
            "title": "用电报装共性问题", "members": [a, b]})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["common_issue"]["owner"] == "330500"
        assert {m["id"] for m in body["cluster"]["members"]} == {a, b}
        got = client.get(f"/api/v1/clusters/{body['cluster']['id']}", headers=auth)
        assert got.status_code == 200 and got.json() == body["cluster"]
        assert client.get("/api/v1/clusters/nope", headers=auth).status_code == 404
        again = client.post("/api/v1/clusters", headers=auth, json={
            "title": "用电报装共性问题", "members": [a, b]})
        assert again.status_code == 409 and again.json()["error"]["code"] == \
            "cluster_member_taken"
