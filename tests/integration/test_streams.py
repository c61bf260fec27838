"""Event streams over NATS JetStream with real nats-server processes in the leaf topology."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError
from sqlalchemy import func, select

from federation.nats.streams import events_stream
from node.domain.issue import State
from node.domain.lifecycle import Assign, Resolve, Start, Triage, Urge
from node.store.schema import dead_letters, events, issues
from tests.support.brokers import PASSWORD
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode, delivered, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}

pytestmark = pytest.mark.timeout(240)


def rows(node: FedNode, table: object, *where: object) -> int:
    with node.node.engine.connect() as conn:
        stmt = select(func.count()).select_from(table)  # type: ignore[arg-type]
        for w in where:
            stmt = stmt.where(w)  # type: ignore[arg-type]
        return int(conn.execute(stmt).scalar_one())


def versions(node: FedNode) -> dict[str, int]:
    with node.node.engine.connect() as conn:
        return {str(i): int(v) for i, v in conn.execute(select(issues.c.id, issues.c.version))}


async def test_county_issues_replicate_to_the_city_and_summaries_reach_the_province(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = (fed.nodes[c] for c in ("330522", "330500", "330000"))
        issue, _ = county.issues.submit(LEADER, submit_cmd(tags=("要素保障",)))
        for cmd in (Triage(tags=("要素保障",)), Assign(department="经信局"), Start()):
            county.issues.act(LEADER, issue.id, cmd)
        await until(lambda: replica_version(city, issue.id) == 4, what="city replica v4")
        replica = city.issues.get(LEADER, issue.id).issue
        assert replica == county.issues.get(LEADER, issue.id).issue  # the full record
        assert replica.owner == "330522"
        # visible and searchable in the city's pool, read-only there
        assert city.issues.list_issues(LEADER, text="用地").total == 1
        with pytest.raises(Exception, match="replica_read_only"):
            city.issues.act(LEADER, issue.id, Resolve(reply="x"))
        # the province gets no county record, only the summary
        assert rows(province, issues) == 0

        def province_sees(total: int) -> bool:
            latest = province.streams.summaries.latest
            if latest is None:
                return False
            kids = latest.children.get("330500")
            return latest.total == total and kids is not None and "330522" in kids.children
        await until(lambda: province_sees(1), what="province summary")
        body = province.streams.summaries.latest.to_dict()  # type: ignore[union-attr]
        assert body["states"] == {"in_progress": 1}
        text = str(body)
        assert "甲企业" not in text and issue.enterprise.credit_code not in text  # no PD
        # the city's summaries were pushed to the province as published (no poll wait)
        assert province.streams.summary_feed.pushes >= 1


async def test_a_status_change_at_the_province_reaches_the_originating_county(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = (fed.nodes[c] for c in ("330522", "330500", "330000"))
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        county.transfers.request_escalation(LEADER, issue.id, "需要市级协调")
        county.node.notifier("330500")
        await delivered(county, "330500")
        city.transfers.request_escalation(LEADER, issue.id, "需要省级协调")
        await delivered(city, "330000")
        top = province.issues.act(LEADER, issue.id, Triage(tags=("跨市协调",)))
        top = province.issues.act(LEADER, issue.id, Assign(department="省发改委"))
        for node in (city, county):  # the origin and every tier in between

            def caught_up(n: FedNode = node) -> bool:
                return bool(replica_version(n, issue.id) == top.version)

            await until(caught_up, what=f"status at {node.code}")
            seen = node.issues.get(LEADER, issue.id).issue
            assert (seen.state, seen.owner, seen.department) == (
                State.ASSIGNED, "330000", "省发改委")


async def test_a_county_offline_for_a_week_catches_up_in_order(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes["330522"], fed.nodes["330500"]
        fed.servers["330500"].stop()  # the county's uplink is gone
        ids = []
        for _day in range(7):  # a simulated week offline
            clock.advance(timedelta(days=1))
            for _ in range(5):
                issue, _ = county.issues.submit(LEADER, submit_cmd())
                county.issues.act(LEADER, issue.id, Urge())
                ids.append(issue.id)
        # the county kept working on its own broker: everything is published locally
        await until(lambda: rows(county, events, events.c.published.is_(False)) == 0,
                    what="county publishes locally")
        fed.start_server("330500")
        await until(lambda: all(replica_version(city, i) == 2 for i in ids), timeout_s=60,
                    what="city catches up")
        assert rows(city, issues) == len(ids)
        with city.node.engine.connect() as conn:
            applied = conn.execute(select(events.c.issue_id, events.c.version)
                                   .where(events.c.node == "330522")
                                   .order_by(events.c.seq)).all()
        assert len(applied) == 2 * len(ids) == len(set(applied))  # each once
        firsts = [i for i, v in applied if v == 1]
        assert firsts == ids  # in the county's order


async def test_sigkill_of_any_nats_server_loses_and_duplicates_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes["330522"], fed.nodes["330500"]
        ids = []
        for round_, victim in enumerate(("330522", "330500", "330522")):
            for i in range(20):
                issue, _ = county.issues.submit(LEADER, submit_cmd())
                ids.append(issue.id)
                if i == 7:
                    fed.servers[victim].kill()
                if i == 13:
                    fed.start_server(victim)
            clock.advance(timedelta(minutes=5 + round_))
        await until(lambda: rows(county, events, events.c.published.is_(False)) == 0,
                    timeout_s=60, what="county drains its outbox")
        await until(lambda: rows(city, issues) == len(ids), timeout_s=90,
                    what="every issue at the city")
        expected = versions(county)
        await until(lambda: versions(city) == expected, timeout_s=60, what="replicas agree")
        assert rows(city, dead_letters) == 0


async def test_a_county_cannot_publish_on_another_countys_subjects(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        port = fed.ports["330522"]["nats"]
        errors: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)

        nc = await nats.connect(f"nats://127.0.0.1:{port}", user="node330522",
                                password=PASSWORD, error_cb=on_error)
        try:
            js = nc.jetstream()
            with pytest.raises((NatsError, Exception)):
                await js.publish("zt.330523.ev.330523.forged", b"{}", timeout=2)
            await nc.publish("zt.330523.ev.330523.forged", b"{}")
            await nc.flush()
            await until(lambda: bool(errors), what="permissions violation")
            assert "permissions violation" in str(errors[0]).lower()
            other = fed.nodes["330523"]
            js_other = other.streams.nc.jetstream()  # type: ignore[union-attr]
            info = await js_other.stream_info(events_stream("330523"))
            assert info.state.messages == 0
        finally:
            await nc.close()


async def test_a_province_assigned_issue_is_tracked_back_up(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        city, province = fed.nodes["330500"], fed.nodes["330000"]
        issue, _ = province.issues.submit(LEADER, submit_cmd(title="省领导交办"))
        province.transfers.request_dispatch(LEADER, issue.id, "330500", "请市级牵头")
        await delivered(province, "330500")
        city.issues.act(LEADER, issue.id, Triage(tags=("省交办",)))
        # a city issue of its own, written between two changes of the assigned one
        other, _ = city.issues.submit(LEADER, submit_cmd())
        done = city.issues.act(LEADER, issue.id, Assign(department="市发改委"))
        await until(lambda: replica_version(province, issue.id) == done.version,
                    what="province tracks its assigned issue")
        seen = province.issues.get(LEADER, issue.id).issue
        assert (seen.state, seen.department, seen.owner) == (State.ASSIGNED, "市发改委", "330500")
        # the city's own issue was published before the last change, yet never came up
        assert replica_version(province, other.id) == 0


async def test_the_closed_loop_across_tiers_with_the_enterprise_at_its_county(
    tmp_path: Path, clock: FakeClock
) -> None:
    from node.domain.issue import Rating
    from node.domain.lifecycle import Rate
    from tests.support.data import ENTERPRISE_A

    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes["330522"], fed.nodes["330500"]
        issue, _ = county.issues.submit(ENTERPRISE_A, submit_cmd())
        county.transfers.request_escalation(LEADER, issue.id, "涉及市级部门")
        await delivered(county, "330500")
        for cmd in (Triage(tags=("要素保障",)), Assign(department="市自然资源局"), Start()):
            city.issues.act(LEADER, issue.id, cmd)
        resolved = city.issues.act(LEADER, issue.id, Resolve(reply="已协调解决，详见回复。"))
        await until(lambda: replica_version(county, issue.id) == resolved.version,
                    what="the resolution reaches the county")
        assert county.issues.get(ENTERPRISE_A, issue.id).issue.reply == "已协调解决，详见回复。"
        # the enterprise rates where it submitted; the owner (the city) records it once
        county.transfers.request_upward(ENTERPRISE_A, issue.id,
                                        Rate(rating=Rating.SATISFIED, comment="满意"))
        await delivered(county, "330500")
        closed = city.issues.get(LEADER, issue.id).issue
        assert (closed.state, closed.rating, closed.owner) == (
            State.CLOSED, Rating.SATISFIED, "330500")
        last = city.issues.get(LEADER, issue.id).timeline[-1].event
        assert (last.actor.kind.value, last.actor.id) == ("enterprise", ENTERPRISE_A.credit_code)
        await until(lambda: replica_version(county, issue.id) == closed.version,
                    what="the closure reaches the county")
        assert county.issues.get(ENTERPRISE_A, issue.id).issue.state is State.CLOSED
        # another enterprise cannot rate it through the county
        from tests.support.data import ENTERPRISE_B
        with pytest.raises(Exception, match="issue_not_found"):
            county.transfers.request_upward(ENTERPRISE_B, issue.id, Rate(rating=Rating.UNSATISFIED))
