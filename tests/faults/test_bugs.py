"""Product bugs found by fault injection, kept as regression tests. An open bug is pinned by
a strict xfail (the test states the correct behaviour and starts failing the suite as XPASS
once the bug is fixed — then the marker goes).

Fixed: a forged event reusing a number is refused and parked at once (and any message
whose apply keeps raising is parked after MAX_DELIVER); a status event parked as an
unrepaired gap is applied once the peer answers again (Replicator.run_retries).

Where a production constant would make a test slow (`MAX_DELIVER`, the broker's
duplicate window) the test lowers it and says why the production value only delays the
same outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from federation import codec
from federation.nats import messages
from federation.nats import streams as nats_streams
from federation.nats.server_config import node_user
from federation.nats.streams import events_stream
from federation.replication import consumer as replication
from node.app.ports import StoredEvent
from node.app.replica import IncomingEvent
from node.domain.issue import event_id_of
from node.domain.lifecycle import Triage
from node.domain.topology import Place
from node.store import repo
from node.store.schema import dead_letters, issues
from tests.faults.cluster import CITY, COUNTY, FaultFederation, fault_federation
from tests.faults.workload import LEADER
from tests.support.brokers import PASSWORD
from tests.support.data import submit_cmd
from tests.support.federation import FedNode, stub_as
from tests.support.wait import until

pytestmark = pytest.mark.timeout(120)


def row_of(sn: FedNode, issue_id: str) -> dict[str, Any] | None:
    with sn.node.engine.connect() as conn:
        found = conn.execute(select(issues).where(issues.c.id == issue_id)).mappings().first()
    return dict(found) if found is not None else None


def dead_subjects(sn: FedNode) -> list[str]:
    with sn.node.engine.connect() as conn:
        return [str(s) for s in conn.execute(select(dead_letters.c.subject)).scalars()]


def count_deliveries(sn: FedNode, seen: list[tuple[str, int]]) -> None:
    """Record (subject, delivery count) of every message the node's replicator handles."""
    replicator = sn.streams.replicator
    handle = replicator.handle

    async def counting(msg: Msg) -> None:
        seen.append((msg.subject, msg.metadata.num_delivered))
        await handle(msg)

    replicator.handle = counting  # type: ignore[method-assign]


# --------------------------------------------------------------------------- 1


async def test_a_node_stops_cleanly_while_its_nats_server_is_down(tmp_path: Path) -> None:
    async with fault_federation(tmp_path) as fed:
        county = fed.nodes[COUNTY]
        nc = county.streams.nc
        assert nc is not None
        fed.stop_server(COUNTY)
        # the replicator's fetch requests pile up in the client's reconnect buffer
        await until(lambda: nc.is_reconnecting and nc.pending_data_size > 0,
                    what="the client buffering while it reconnects")
        # node.runtime.running() closes the streams first on shutdown: in time, cleanly
        assert await fed.stop_node(COUNTY) == []
        assert nc.is_closed


# --------------------------------------------------------------------------- 2


async def test_a_forged_event_reusing_a_number_is_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production: 20 deliveries ~2 s apart; 2 shows the same path in seconds.
    monkeypatch.setattr(replication, "MAX_DELIVER", 2)
    async with fault_federation(tmp_path) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        first, _ = county.issues.submit(LEADER, submit_cmd(title="第一件"))
        await until(lambda: row_of(city, first.id) is not None, what="replication")
        with county.node.engine.connect() as conn:
            [stored] = [s for s in repo.events_of(conn, first.id) if s.event.version == 1]
        clash = f"{COUNTY}-{uuid.uuid4().hex}"  # a new issue that reuses first's number
        event = dataclasses.replace(stored.event, issue_id=clash)
        forged = StoredEvent(seq=0, event_id=event_id_of(clash, 1), node=COUNTY,
                             event=event, writer_seq=10**6)
        subject = f"zt.{COUNTY}.ev.{COUNTY}.{clash}"
        seen: list[tuple[str, int]] = []
        count_deliveries(city, seen)
        nc = await nats.connect(fed.servers[COUNTY].url, user=node_user(COUNTY),
                                password=PASSWORD)
        try:
            await nc.jetstream().publish(subject, messages.encode(forged, COUNTY), timeout=5)
        finally:
            await nc.close()
        after, _ = county.issues.submit(LEADER, submit_cmd(title="第二件"))
        await until(lambda: row_of(city, after.id) is not None,
                    what="later events flow past the bad message")

        def settled() -> bool:  # dead-lettered, or delivered once more than MAX_DELIVER
            return subject in dead_subjects(city) or any(
                s == subject and n > replication.MAX_DELIVER for s, n in seen)

        await until(settled, timeout_s=30, what="the bad message to be settled")
        assert subject in dead_subjects(city), (
            f"delivered {max(n for s, n in seen if s == subject)}× (MAX_DELIVER = "
            f"{replication.MAX_DELIVER}) and still not dead-lettered")
        assert row_of(city, clash) is None
        assert [n for s, n in seen if s == subject] == [1], "refused at once, not retried"


async def test_a_message_whose_apply_keeps_raising_is_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production: 20 deliveries ~2 s apart; 2 shows the same path in seconds.
    monkeypatch.setattr(replication, "MAX_DELIVER", 2)
    async with fault_federation(tmp_path) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        replica = city.streams.replicator.replica
        fold = replica._fold
        doomed: set[str] = set()

        def failing_fold(conn: Any, local: Any, m: IncomingEvent) -> Any:
            if m.event.issue_id in doomed:  # e.g. a database that keeps failing this row
                raise OperationalError("INSERT", {}, Exception("disk I/O error"))
            return fold(conn, local, m)

        monkeypatch.setattr(replica, "_fold", failing_fold)
        seen: list[tuple[str, int]] = []
        count_deliveries(city, seen)
        bad = county.issues.submit(LEADER, submit_cmd(title="写不进去"))[0]
        doomed.add(bad.id)  # before the publisher gets to it: the submit only queued it
        subject = f"zt.{COUNTY}.ev.{COUNTY}.{bad.id}"
        after, _ = county.issues.submit(LEADER, submit_cmd(title="后一件"))
        await until(lambda: row_of(city, after.id) is not None,
                    what="later events flow past the failing message")
        await until(lambda: subject in dead_subjects(city), timeout_s=30,
                    what="the failing message to be dead-lettered")
        deliveries = [n for s, n in seen if s == subject]
        assert max(deliveries) == replication.MAX_DELIVER, deliveries
        assert row_of(city, bad.id) is None


# --------------------------------------------------------------------------- 3


def short_duplicate_window(seconds: float) -> Callable[[Place], Sequence[StreamConfig]]:
    original = nats_streams.stream_configs

    def configs(place: Place) -> Sequence[StreamConfig]:
        own, *rest = original(place)
        return (dataclasses.replace(own, duplicate_window=seconds), *rest)

    return configs


async def test_a_leaf_outage_does_not_multiply_the_county_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production: a 120 s window and a 30 s period; 1 s and 0.5 s give the same in seconds.
    monkeypatch.setattr(nats_streams, "stream_configs", short_duplicate_window(1.0))
    async with fault_federation(tmp_path) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        first, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: row_of(city, first.id) is not None, what="replication")
        assert fed.leaf_proxy is not None
        fed.leaf_proxy.cut()
        fed.note("leaf link cut; gRPC still up")
        backlog = [county.issues.submit(LEADER, submit_cmd(title=f"断链期间 {i}"))[0].id
                   for i in range(5)]
        await asyncio.sleep(6)  # the outage (a timed fault); the reconciler runs meanwhile
        assert county.streams.nc is not None
        info = await county.streams.nc.jetstream().stream_info(events_stream(COUNTY))
        fed.leaf_proxy.restore()
        held = info.state.messages
        fed.note(f"ZT_EV_{COUNTY} holds {held} messages for {1 + len(backlog)} events")
        assert held == 1 + len(backlog)


# --------------------------------------------------------------------------- 4


async def escalate_behind_the_senders_back(fed: FaultFederation, issue_id: str) -> None:
    """The county's Escalate reaches the city and is accepted, but its answer never gets
    back (what a reset right after the request looks like): the outbox row stays pending."""
    county = fed.nodes[COUNTY]
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    [item] = county.transfers.due(CITY, 1)
    assert item.transfer is not None
    request = codec.transfer_to_pb(item.transfer)
    assert isinstance(request, codec.EscalateRequest)
    channel, stub = stub_as(county.tls, fed[CITY].grpc_address, CITY)
    async with channel:
        await stub.Escalate(request, timeout=5)


async def test_a_replica_converges_after_a_status_event_overtook_a_lost_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production: 20 deliveries with 0.5 s × n nak delays (~95 s); 3 takes ~2 s.
    monkeypatch.setattr(replication, "MAX_DELIVER", 3)
    async with fault_federation(tmp_path) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        county.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
        await until(lambda: (row_of(city, issue.id) or {}).get("version") == 2,
                    what="replica at the city")
        seen: list[tuple[str, int]] = []
        count_deliveries(county, seen)
        assert fed.grpc_proxy is not None
        fed.grpc_proxy.cut()  # the county cannot reach the city over gRPC from now on
        await escalate_behind_the_senders_back(fed, issue.id)
        fed.note("escalation accepted by the city; the county never heard the answer")

        def city_event_settled() -> bool:  # the city's `receive` (v4) given up on, or not
            return any(n >= replication.MAX_DELIVER for s, n in seen if s.startswith(
                f"zt.{CITY}.ev.")) or bool(dead_subjects(county))

        await until(city_event_settled, timeout_s=30, what="the city's event at the county")
        fed.grpc_proxy.restore()
        fed.note(f"gRPC restored; dead letters at the county: {dead_subjects(county)}")
        await until(lambda: (row_of(county, issue.id) or {}).get("owner") == CITY,
                    timeout_s=30, what="the county records the transfer")

        def converged() -> bool:
            return row_of(county, issue.id) == row_of(city, issue.id)

        try:
            await until(converged, timeout_s=8, what="the county's copy to converge")
        finally:
            mine, theirs = row_of(county, issue.id) or {}, row_of(city, issue.id) or {}
            fed.note(f"county v{mine.get('version')} {mine.get('state')}, city "
                     f"v{theirs.get('version')} {theirs.get('state')}")
