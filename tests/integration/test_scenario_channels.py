"""The issue's scenario across a real three-tier federation (county 330522 → city 330500 →
province 330000, real nats-servers and gRPC with mutual TLS, every node's HTTP API on
127.0.0.1, a real HTTP SMS gateway that the county's notification dispatcher posts to).

A 政企恳谈会 issue is entered by county staff at intake; the enterprise — which has no
account yet — signs in at its county with a one-time code it reads from its SMS, sees the
issue in its list; the county escalates it, the city resolves it; the county (the
enterprise's home node: its phone lives there) texts it the reply exactly once; the
enterprise rates it at its county, and the rating is recorded by the owner (the city)
exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from node.app.intake import IntakeEntry, IntakeService
from node.domain.channels import DEFAULT_CHANNELS
from node.domain.issue import Channel, Rating, State
from node.domain.lifecycle import Assign, Close, Resolve, Start, Triage, Urge
from node.store.schema import events
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, ENTERPRISE_A, LEADER, submit_cmd
from tests.support.federation import FedNode, delivered, federation, nats_federation
from tests.support.sms_gateway import Gateway, sms_gateway
from tests.support.wait import until

pytestmark = pytest.mark.timeout(300)

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500"}
COUNTY, CITY = "330522", "330500"
PHONE = "13905720001"
REPLY = "已协调自然资源局，二期用地指标将在下季度调剂解决。"
API = "/api/v1"
PASSWORD = "password123"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with sms_gateway() as state:
        yield state


def county_notify(gateway: Gateway) -> dict[str, Any]:
    """Notifications on at the county, SMS through the test gateway (as test_notify)."""
    return {"notify": {"enabled": True, "base_url": "http://zt.test",
                       "inbox": {"enabled": True}, "staff_channels": ["inbox"],
                       "sms": {"enabled": True, "url": gateway.url, "signature": "长兴县",
                               "timeout_s": 2}}}


def replies_to(gateway: Gateway, phone: str) -> list[dict[str, Any]]:
    """The reply messages the gateway took for `phone` (not codes, not receipts)."""
    with gateway.lock:
        return [b for b in gateway.bodies
                if b["phone"] == phone and "reply" in b["params"]]


def own_events(node: FedNode, issue_id: str, kind: str) -> list[Any]:
    """The events of `kind` on the issue that `node` itself wrote."""
    with node.node.engine.connect() as conn:
        return list(conn.execute(select(events).where(
            events.c.issue_id == issue_id, events.c.kind == kind,
            events.c.node == node.code)).all())


def events_of(node: FedNode, issue_id: str) -> int:
    with node.node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events).where(
            events.c.issue_id == issue_id)).scalar_one())


async def test_a_meeting_issue_followed_by_sms_escalated_resolved_above_and_rated(
        tmp_path: Path, clock: FakeClock, gateway: Gateway) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock,
                               sections={COUNTY: county_notify(gateway)}) as fed:
        county, city = fed[COUNTY], fed[CITY]

        # 1. county staff enter the meeting's issue at intake (综合受理, 政企恳谈会)
        intake = IntakeService(issues=county.issues, channels=DEFAULT_CHANNELS)
        issue, _ = intake.submit(LEADER, IntakeEntry(
            channel=Channel.MEETING, name="长兴甲企业有限公司", credit_code=CODE_A,
            contact_phone=PHONE, title="厂房扩建用地指标",
            content="企业计划扩建二期厂房，需新增用地指标。",
            fields={"meeting": "第12期政企恳谈会", "meeting_date": "2026-02-27"}))
        issue_id, number = str(issue.id), issue.number
        assert issue.channel is Channel.MEETING

        base = f"http://127.0.0.1:{county.running.http_port}{API}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            # 2. the enterprise signs in by SMS code at its county and sees the issue
            asked = await http.post("/auth/enterprise/code", json={"credit_code": CODE_A})
            assert asked.status_code == 202, asked.text
            await until(lambda: len(gateway.codes_to(PHONE)) == 1, timeout_s=30,
                        what="the sign-in code texted by the county")
            [digits] = gateway.codes_to(PHONE)
            verified = await http.post("/auth/enterprise/verify",
                                       json={"credit_code": CODE_A, "code": digits})
            assert verified.status_code == 200, verified.text
            assert verified.json()["role"] == "enterprise"
            auth = {"Authorization": f"Bearer {verified.json()['access_token']}"}
            page = (await http.get("/issues", headers=auth)).json()
            assert [i["number"] for i in page["items"]] == [number]

            # 3. escalated to the city, which accepts it
            county.issues.act(LEADER, issue_id, Triage(tags=("用地",)))
            county.transfers.request_escalation(LEADER, issue_id, "用地指标需市级统筹")
            await until(lambda: county.issues.get(LEADER, issue_id).issue.owner == CITY,
                        timeout_s=60, what="the county sees the city own the issue")
            assert city.issues.get(LEADER, issue_id).issue.owner == CITY

            # 4. resolved at the city
            for command in (Triage(tags=("用地",)), Assign(department="市自然资源局"),
                            Start(), Resolve(reply=REPLY)):
                city.issues.act(LEADER, issue_id, command)
            resolved_at = city.issues.get(LEADER, issue_id).issue.version

            # 5. the county applies the city's events and texts the enterprise the reply
            await until(lambda: len(replies_to(gateway, PHONE)) >= 1, timeout_s=60,
                        what="the reply SMS sent by the county")
            assert county.issues.get(LEADER, issue_id).issue.state is State.RESOLVED
            assert county.issues.get(LEADER, issue_id).issue.version == resolved_at
            [reply] = replies_to(gateway, PHONE)
            assert REPLY in reply["params"]["reply"] or REPLY in reply["text"]
            assert reply["key"] and reply["sign_name"] == "长兴县"

            # 6. the enterprise rates it at its county: forwarded, recorded by the city
            detail = (await http.get(f"/issues/{number}", headers=auth)).json()
            assert "accept" in detail["allowed_actions"]  # offered here, done above
            rated = await http.post(f"/issues/{number}/rate", headers=auth,
                                    json={"rating": Rating.SATISFIED.value,
                                          "comment": "解决得很及时"})
            assert rated.status_code == 202, rated.text

            def rated_at_city() -> bool:
                return city.issues.get(LEADER, issue_id).issue.rating is Rating.SATISFIED

            await until(rated_at_city, timeout_s=60, what="the rating recorded by the city")
            [accept] = own_events(city, issue_id, "accept")
            assert CODE_A in accept.actor  # the enterprise's own action, recorded above
            await until(lambda: county.issues.get(LEADER, issue_id).issue.rating
                        is Rating.SATISFIED, timeout_s=60,
                        what="the rating replicated back to the county")
            at_city = city.issues.get(LEADER, issue_id).issue
            assert county.issues.get(LEADER, issue_id).issue.version == at_city.version
            assert events_of(county, issue_id) == events_of(city, issue_id)
            assert own_events(county, issue_id, "accept") == []  # recorded only above

            # nothing more is sent: one reply, one code, and the rate transfer is done
            await delivered(county, CITY)
            assert len(replies_to(gateway, PHONE)) == 1
            assert len(gateway.codes_to(PHONE)) == 1


# ------------------------------------------------------------- an enterprise's urge above


async def login(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    resp = await http.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def urges_at(node: FedNode, issue_id: str) -> list[Any]:
    """The enterprise's urges `node` recorded as the owner."""
    return [e for e in own_events(node, issue_id, "urge") if e.actor.startswith("enterprise")]


async def drain_all(node: FedNode) -> int:
    """Send `node`'s transfers to the city envelope by envelope; how many were accepted."""
    accepted = 0
    while (result := await node.drain(CITY)).delivered or result.refused:
        accepted += result.delivered
    return accepted


async def test_an_urge_is_forwarded_at_once_and_too_soon_is_429_wherever_owned(
        tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        county.node.services.accounts.add(ENTERPRISE_A, PASSWORD)
        issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
        county.issues.act(LEADER, issue.id, Triage(tags=("用地",)))
        county.transfers.request_escalation(LEADER, issue.id, "需市级统筹")
        base = f"http://127.0.0.1:{county.running.http_port}{API}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            auth = await login(http, CODE_A)

            async def urge() -> httpx.Response:
                return await http.post(f"/issues/{issue.number}/urge", headers=auth,
                                       json={"note": "请加快"})

            # the first moments: the escalation is queued, the urge goes behind it
            first = await urge()
            assert first.status_code == 202, first.text
            again = await urge()  # within 24 h: the same 429 the owner would answer
            assert again.status_code == 429, again.text
            assert again.json()["error"]["code"] == "urge_too_soon"
            next_allowed = again.json()["error"]["details"]["next_allowed_at"]
            assert await drain_all(county) == 2  # the escalation, then the urge
            assert county.issues.get(LEADER, issue.id).issue.owner == CITY
            assert len(urges_at(city, issue.id)) == 1

            # owned above, the replica not yet updated by the city: still 429 here ...
            third = await urge()
            assert third.status_code == 429, third.text
            assert third.json()["error"]["details"]["next_allowed_at"] == next_allowed
            # ... and a day later forwarded (not refused as escalated or read-only)
            clock.advance(timedelta(hours=25))
            later = await urge()
            assert later.status_code == 202, later.text
            assert (await urge()).status_code == 429
            assert await drain_all(county) == 1
        assert len(urges_at(city, issue.id)) == 2
        assert county.transfers.outbox_status(timedelta(hours=1))["refused"] == []


async def test_a_forwarded_urge_the_owner_refuses_is_told_to_the_enterprise_once(
        tmp_path: Path, clock: FakeClock, gateway: Gateway) -> None:
    """The city closed the issue; the county's replica (gRPC only: not yet told) still
    shows it escalated, so the enterprise's urge is forwarded and the city refuses it: the
    county texts the enterprise that its urge was not accepted, once."""
    async with federation(tmp_path, TOPOLOGY, clock, start=()) as fed:
        fed.sections[COUNTY] = county_notify(gateway)
        city, county = await fed.start_node(CITY), await fed.start_node(COUNTY)
        issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
        county.issues.act(LEADER, issue.id, Triage(tags=("用地",)))
        county.transfers.request_escalation(LEADER, issue.id, "需市级统筹")
        assert await drain_all(county) == 1
        for command in (Triage(tags=("用地",)), Assign(department="市自然资源局"), Start(),
                        Resolve(reply=REPLY), Close()):
            city.issues.act(LEADER, issue.id, command)
        forwarding = county.node.services.forwarding
        done = forwarding.enterprise_act(ENTERPRISE_A, issue.id, Urge(note="请加快"),
                                         expected_version=None)
        assert done.transfer_id is not None  # accepted here: 202
        assert await drain_all(county) == 0
        [refused] = county.transfers.outbox_status(timedelta(hours=1))["refused"]
        assert "illegal_transition" in refused["error"]

        notify = county.node.services.notify
        assert notify is not None
        notify.scan_refusals_once()  # the light scanner's round, now

        def told() -> list[dict[str, Any]]:
            with gateway.lock:
                return [b for b in gateway.bodies if b["phone"] == PHONE
                        and b["params"].get("action_zh") == "催办"]

        await until(lambda: len(told()) == 1, timeout_s=30, what="the refusal texted")
        [sms] = told()
        assert issue.number in sms["text"] and "未被办理单位受理" in sms["text"]
        assert notify.scan_refusals_once() == 0  # once per forwarded act
        assert len(told()) == 1
