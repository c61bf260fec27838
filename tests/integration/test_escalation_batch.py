"""Escalation as one ordered envelope per batch (TransferBatch), over gRPC with mutual TLS.

A queued batch ships as one call, is accepted in one transaction of the parent and recorded
in one of the child; a refused item is refused alone, with the typed error a unary call
would carry; items apply in envelope order; a re-sent envelope adds nothing; a parent
without TransferBatch gets unary calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select, update

from federation import codec
from federation.failures import error_fields, from_fields
from federation.sender import Sender
from node.app.service import IssueService
from node.app.transfers import Accepted, TransferService
from node.domain.errors import Forbidden, ValidationError
from node.domain.issue import State
from node.domain.lifecycle import Triage
from node.store.chains import verify_store
from node.store.db import make_engine
from node.store.migrate import ensure_schema
from node.store.outbox import TransferRecords
from node.store.records import IssueRecords
from node.store.repo import Store
from node.store.schema import events, issue_counts, issues, transfers_in, transfers_out
from tests.support.clock import FakeClock
from tests.support.data import LEADER, make_config, submit_cmd
from tests.support.federation import FedNode, federation, stub_as
from tests.support.flows import submit_and_escalate
from tests.support.pg import fresh_database
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}
COUNTY, CITY, OTHER = "330522", "330500", "330523"


def count_rows(node: FedNode, table: Any) -> int:
    with node.node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@contextmanager
def write_transactions(engine: Engine) -> Iterator[list[int]]:
    """How many write transactions (BEGIN IMMEDIATE) `engine` ran inside the block."""
    seen = [0]

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            seen[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def requests_of(child: FedNode, destination: str) -> list[codec.EscalateRequest]:
    """The escalations `child` would send to `destination` now, as its sender builds them."""
    out = []
    for item in child.transfers.due(destination, 50):
        assert item.transfer is not None
        request = codec.transfer_to_pb(item.transfer)
        assert isinstance(request, codec.EscalateRequest)
        out.append(request)
    return out


def envelope(origin: str, *requests: codec.EscalateRequest,
             batch_id: str = "b1") -> codec.TransferEnvelope:
    return codec.TransferEnvelope(batch_id=batch_id, origin_node=origin,
                                  items=[codec.TransferItem(escalate=r) for r in requests])


@asynccontextmanager
async def fake_peer(method: str, handler: Callable[..., Awaitable[Any]],
                    request: Any, response: Any) -> AsyncIterator[Callable[[], grpc.aio.Channel]]:
    """A plain-text gRPC server on a free loopback port answering only `method` with
    `handler`; yields the channel factory a Sender uses to reach it, stops it after."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        codec.SERVICE_NAME, {method: grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield lambda: grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)


def event_seqs(node: FedNode, issue_id: str) -> list[int]:
    with node.node.engine.connect() as conn:
        return [int(s) for s in conn.execute(select(events.c.seq).where(
            events.c.issue_id == issue_id).order_by(events.c.version)).scalars()]


async def test_a_queued_batch_is_one_call_one_parent_and_one_child_transaction(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        ids = [submit_and_escalate(county) for _ in range(6)]
        sender = county.federation.senders[CITY]
        calls: list[str] = []
        stub = sender._stub()
        original = stub.TransferBatch

        async def counted(request: codec.TransferEnvelope, **kw: Any) -> Any:
            calls.append(request.batch_id)
            return await original(request, **kw)

        stub.TransferBatch = counted
        sender._stub = lambda: stub  # type: ignore[method-assign]
        with write_transactions(city.node.engine) as at_city, \
                write_transactions(county.node.engine) as at_county:
            result = await sender.drain_once()
        assert (result.delivered, result.refused, result.failed) == (6, 0, 0)
        assert len(calls) == 1
        assert at_city[0] == 1 and at_county[0] == 1
        # exactly once, in envelope (= outbox) order at the city
        assert count_rows(city, issues) == 6 and count_rows(city, transfers_in) == 6
        firsts = [event_seqs(city, i) for i in ids]
        assert all(len(s) == 4 for s in firsts)
        assert [s[0] for s in firsts] == sorted(s[0] for s in firsts)
        assert all(a[-1] < b[0] for a, b in itertools.pairwise(firsts))
        for issue_id in ids:
            at_county_issue = county.issues.get(LEADER, issue_id).issue
            assert (at_county_issue.state, at_county_issue.owner) == (State.ESCALATED, CITY)
            assert city.issues.get(LEADER, issue_id).issue.state is State.RECEIVED
        assert county.transfers.next_attempt_at(CITY) is None
        # the own events both sides wrote in their batch transactions continue their chains
        for node, own in ((city, CITY), (county, COUNTY)):
            [checked] = [c for c in verify_store(node.node.engine, own) if c.writer == own]
            assert checked.found is None and checked.events >= 6


async def test_a_refused_item_is_refused_alone_and_a_resent_envelope_adds_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, OTHER)) as fed:
        county, other, city = fed[COUNTY], fed[OTHER], fed[CITY]
        for _ in range(2):
            submit_and_escalate(county)
        submit_and_escalate(other)
        first, second = requests_of(county, CITY)
        [foreign] = requests_of(other, CITY)  # 安吉县's issue, sent by 长兴县 as its own
        foreign.origin_node = foreign.transfer.node = COUNTY
        malformed = codec.EscalateRequest()
        malformed.CopyFrom(second)
        malformed.issue.title = "被篡改的标题"  # the snapshot no longer folds from its history
        sent = envelope(COUNTY, first, malformed, second, foreign, first)
        channel, stub = stub_as(county.tls, f"127.0.0.1:{city.federation.port}", CITY)
        async with channel:
            reply = await stub.TransferBatch(sent, timeout=10)
            again = await stub.TransferBatch(sent, timeout=10)
            other_id = envelope(COUNTY, first, second, batch_id="b2")
            third = await stub.TransferBatch(other_id, timeout=10)
        outcomes = codec.envelope_result_from_pb(reply)
        assert reply.batch_id == "b1"
        assert [tid for tid, _ in outcomes] == [first.transfer_id, second.transfer_id,
                                                second.transfer_id, foreign.transfer_id,
                                                first.transfer_id]
        accepted_first, bad, accepted_second, stolen, repeated = (a for _, a in outcomes)
        assert isinstance(accepted_first, Accepted) and not accepted_first.duplicate
        assert isinstance(accepted_second, Accepted) and not accepted_second.duplicate
        assert isinstance(repeated, Accepted) and repeated.duplicate
        assert repeated.version == accepted_first.version == 4
        # the typed errors a unary call would carry, rebuilt per item
        assert isinstance(bad, ValidationError) and bad.code == "federation_message_invalid"
        assert reply.outcomes[1].refused.status == "INVALID_ARGUMENT"
        assert isinstance(stolen, Forbidden) and stolen.code == "caller_not_owner"
        assert reply.outcomes[3].refused.status == "PERMISSION_DENIED"
        assert json.loads(reply.outcomes[3].refused.params_json)["caller"] == COUNTY
        # a re-sent envelope, same id or not: the same answers, nothing added
        assert [o.WhichOneof("outcome") for o in again.outcomes] == [
            "accepted", "refused", "accepted", "refused", "accepted"]
        assert all(o.accepted.duplicate for o in again.outcomes if o.HasField("accepted"))
        assert all(o.accepted.duplicate for o in third.outcomes)
        assert count_rows(city, issues) == 2 and count_rows(city, transfers_in) == 2
        assert count_rows(city, events) == 8
        # the county's sender then delivers them: duplicates, recorded once
        assert (await county.drain(CITY)).delivered == 2
        assert count_rows(city, issues) == 2 and count_rows(city, transfers_in) == 2


async def test_the_sender_parks_a_refused_item_and_delivers_the_rest(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        ids = [submit_and_escalate(county) for _ in range(3)]
        # the middle transfer names another destination in its event: the city refuses it
        with county.node.engine.begin() as conn:
            row = conn.execute(select(transfers_out.c.transfer_id, transfers_out.c.event)
                               .where(transfers_out.c.issue_id == ids[1])).one()
            changed = dict(row.event)
            changed["payload"] = {**changed["payload"], "to": "330000"}
            conn.execute(update(transfers_out).where(
                transfers_out.c.transfer_id == row.transfer_id).values(event=changed))
        with write_transactions(county.node.engine) as at_county:
            result = await county.drain(CITY)
        assert (result.delivered, result.refused, result.failed) == (2, 1, 0)
        assert at_county[0] == 1  # accepted and refused recorded together
        refused = county.transfers.outbox_status(timedelta(hours=1))["refused"]
        assert [r["issue_id"] for r in refused] == [ids[1]]
        assert refused[0]["error"].startswith("INVALID_ARGUMENT transfer_misaddressed")
        assert not county.transfers.is_pending(ids[1])  # unfrozen
        assert county.issues.get(LEADER, ids[1]).issue.owner == COUNTY
        for issue_id in (ids[0], ids[2]):
            assert county.issues.get(LEADER, issue_id).issue.owner == CITY
        assert count_rows(city, issues) == 2
        assert county.transfers.next_attempt_at(CITY) is None


async def test_whole_envelope_refusals(tmp_path: Path, clock: FakeClock) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY, OTHER)) as fed:
        county, other, city = fed[COUNTY], fed[OTHER], fed[CITY]
        submit_and_escalate(county)
        [request] = requests_of(county, CITY)
        address = f"127.0.0.1:{city.federation.port}"

        async def refused(owner: FedNode, msg: codec.TransferEnvelope) -> grpc.StatusCode:
            channel, stub = stub_as(owner.tls, address, CITY)
            async with channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.TransferBatch(msg, timeout=10)
            return info.value.code()

        # 安吉县's certificate, claiming to be 长兴县
        assert await refused(other, envelope(COUNTY, request)) is (
            grpc.StatusCode.PERMISSION_DENIED)
        assert await refused(county, envelope(COUNTY)) is grpc.StatusCode.INVALID_ARGUMENT
        too_many = envelope(COUNTY, *([request] * (codec.MAX_BATCH_ITEMS + 1)))
        assert await refused(county, too_many) is grpc.StatusCode.INVALID_ARGUMENT
        assert await refused(county, envelope(COUNTY, request, batch_id="")) is (
            grpc.StatusCode.INVALID_ARGUMENT)
        assert count_rows(city, issues) == 0 and count_rows(city, transfers_in) == 0
        # 安吉县 as itself: each item is refused (not its issue), the call is answered
        channel, stub = stub_as(other.tls, address, CITY)
        async with channel:
            reply = await stub.TransferBatch(envelope(OTHER, request), timeout=10)
        assert reply.outcomes[0].refused.code == "origin_mismatch"
        assert count_rows(city, issues) == 0


async def test_a_parent_without_transfer_batch_gets_unary_calls(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        ids = [submit_and_escalate(county) for _ in range(3)]
        # an older city: its Federation service knows Escalate but not TransferBatch
        channel, upstream = stub_as(county.tls, f"127.0.0.1:{city.federation.port}", CITY)

        async def escalate(request: codec.EscalateRequest, _context: Any) -> Any:
            return await upstream.Escalate(request, timeout=5)

        try:
            async with fake_peer("Escalate", escalate, codec.EscalateRequest,
                                 codec.TransferAccepted) as connect:
                sender = Sender(county.transfers, destination=CITY, channel_factory=connect)
                result = await sender.drain_once()
                await sender.close()
        finally:
            await channel.close()
        assert (result.delivered, result.refused, result.failed) == (3, 0, 0)
        assert not sender.batched
        assert count_rows(city, issues) == 3
        for issue_id in ids:
            assert county.issues.get(LEADER, issue_id).issue.owner == CITY


def test_an_item_error_carries_what_the_trailing_metadata_does() -> None:
    exc = Forbidden("caller_not_owner", caller="330523", issue_id="330522-x")
    status, details, code, params = error_fields(exc)
    assert (status, code) == (grpc.StatusCode.PERMISSION_DENIED, "caller_not_owner")
    back = from_fields(status.name, details, code, params)
    assert isinstance(back, Forbidden) and back.params == exc.params
    assert not back.retryable
    unknown = from_fields("UNAVAILABLE", "peer gone", "", b"")
    assert getattr(unknown, "retryable", False)
    internal = error_fields(RuntimeError("secret"))
    assert internal[2] == "internal" and "secret" not in internal[1]


# --------------------------------------------------------------------------- the use case


@dataclass
class Tier:
    engine: Engine
    records: TransferRecords
    issues: IssueService
    transfers: TransferService


def make_tier(root: Path, engine: Engine, clock: FakeClock, code: str, parent: str | None,
              children: frozenset[str]) -> Tier:
    ensure_schema(engine)
    store = Store(engine)
    rules = make_config(root).rules()
    records = TransferRecords(store)
    return Tier(engine=engine, records=records,
                issues=IssueService(store=IssueRecords(store), node=code, rules=rules,
                                    clock=clock),
                transfers=TransferService(store=records, node=code, parent=parent,
                                          children=children, rules=rules, clock=clock))


def consistent_counts(engine: Engine) -> bool:
    with engine.connect() as conn:
        total = conn.execute(select(func.coalesce(func.sum(issue_counts.c.n), 0))).scalar_one()
        return int(total) == int(conn.execute(
            select(func.count()).select_from(issues)).scalar_one())


def test_accept_batch_in_one_transaction_on_each_backend(
    tmp_path: Path, engine: Engine, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    """The city on the parametrised backend, the county on a second database of it."""
    if engine.dialect.name == "postgresql":
        county_url = fresh_database(request.getfixturevalue("pg_admin_url"))
    else:
        county_url = f"sqlite:///{tmp_path / 'county.sqlite3'}"
    county_engine = make_engine(county_url)
    try:
        county = make_tier(tmp_path, county_engine, clock, COUNTY, CITY, frozenset())
        city = make_tier(tmp_path, engine, clock, CITY, "330000", frozenset({COUNTY}))
        ids = []
        for _ in range(3):
            issue, _ = county.issues.submit(LEADER, submit_cmd())
            county.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
            county.transfers.request_escalation(LEADER, issue.id, "本级无法解决")
            ids.append(str(issue.id))
        items = county.transfers.due(CITY, 10)
        transfers = [item.transfer for item in items if item.transfer is not None]
        wrong = dataclasses.replace(transfers[1].transfer, payload={
            **transfers[1].transfer.payload, "to": "330000"})
        misaddressed = dataclasses.replace(transfers[1], transfer=wrong)
        answers = city.transfers.accept_batch(
            [transfers[0], misaddressed, transfers[2], transfers[0]], COUNTY)
        assert [type(a).__name__ for a in answers] == [
            "Accepted", "ValidationError", "Accepted", "Accepted"]
        first, refused, third, repeated = answers
        assert isinstance(refused, ValidationError) and refused.code == "transfer_misaddressed"
        assert isinstance(first, Accepted) and isinstance(repeated, Accepted)
        assert isinstance(third, Accepted)
        assert repeated.duplicate and repeated.to_json(with_duplicate=False) == first.to_json(
            with_duplicate=False)
        with engine.connect() as conn:
            assert {r for r in conn.execute(select(issues.c.id)).scalars()} == {
                ids[0], ids[2]}
        assert consistent_counts(engine)
        # recorded at the county in one transaction: two delivered, one parked
        accepted = [(items[0].row.transfer_id, first), (items[2].row.transfer_id, third)]
        assert county.transfers.record_batch(
            CITY, accepted, [(items[1].row.transfer_id, "INVALID_ARGUMENT x")]) == 2
        assert county.transfers.record_batch(CITY, accepted) == 0  # idempotent
        assert [county.issues.get(LEADER, i).issue.owner for i in ids] == [
            CITY, COUNTY, CITY]
        assert [county.issues.get(LEADER, i).issue.state for i in ids] == [
            State.ESCALATED, State.TRIAGED, State.ESCALATED]
        assert consistent_counts(county_engine)
        with county_engine.connect() as conn:
            statuses = dict(conn.execute(select(transfers_out.c.issue_id,
                                                transfers_out.c.status)).all())
            own = conn.execute(select(events.c.writer_seq).where(
                events.c.kind == "escalate").order_by(events.c.seq)).scalars().all()
        assert [statuses[i] for i in ids] == ["delivered", "refused", "delivered"]
        assert len(own) == 2 and None not in own and own[1] == own[0] + 1

    finally:
        county_engine.dispose()


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=800))
def test_arbitrary_envelopes_decode_or_are_refused(data: bytes) -> None:
    """Whatever arrives decodes to an envelope (whose items are transfers or their
    refusals) or is refused as a whole with a validation error — never anything else."""
    try:
        msg = codec.TransferEnvelope.FromString(data)
    except DecodeError:
        return  # grpc refuses these before the servicer runs
    try:
        envelope = codec.envelope_from_pb(msg)
    except ValidationError:
        return
    assert len(envelope.items) == len(envelope.transfer_ids) == len(msg.items)


async def test_an_answer_that_does_not_match_the_envelope_records_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(COUNTY,)) as fed:
        county = fed[COUNTY]
        ids = [submit_and_escalate(county) for _ in range(2)]

        async def wrong(_request: codec.TransferEnvelope, _context: Any) -> Any:
            return codec.TransferEnvelopeResult(batch_id="other")  # no outcomes

        async with fake_peer("TransferBatch", wrong, codec.TransferEnvelope,
                             codec.TransferEnvelopeResult) as connect:
            sender = Sender(county.transfers, destination=CITY, retry_attempts=1,
                            channel_factory=connect)
            result = await sender.drain_once()
            await sender.close()
        assert (result.delivered, result.refused, result.failed) == (0, 0, 2)
        assert all(county.transfers.is_pending(i) for i in ids)
        assert county.transfers.next_attempt_at(CITY) is not None  # backing off
        assert sender.batched


async def test_an_item_refused_with_a_retryable_error_is_sent_again_later(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with federation(tmp_path, TOPOLOGY, clock, start=(CITY, COUNTY)) as fed:
        county, city = fed[COUNTY], fed[CITY]
        ids = [submit_and_escalate(county) for _ in range(3)]
        # the city answers, but the middle item lost a race there (a retryable refusal)
        channel, upstream = stub_as(county.tls, f"127.0.0.1:{city.federation.port}", CITY)

        async def raced(request: codec.TransferEnvelope, _context: Any) -> Any:
            reply = await upstream.TransferBatch(request, timeout=5)
            middle = reply.outcomes[1]
            middle.ClearField("accepted")
            middle.refused.CopyFrom(codec.ItemError(
                code="concurrent_update", status="ABORTED", details="lost a race",
                params_json=b'{"issue_id":"x","expected_version":3}'))
            return reply

        try:
            async with fake_peer("TransferBatch", raced, codec.TransferEnvelope,
                                 codec.TransferEnvelopeResult) as connect:
                sender = Sender(county.transfers, destination=CITY, channel_factory=connect)
                result = await sender.drain_once()
                await sender.close()
        finally:
            await channel.close()
        assert (result.delivered, result.refused, result.failed) == (2, 0, 1)
        assert [county.transfers.is_pending(i) for i in ids] == [False, True, False]
        next_at = county.transfers.next_attempt_at(CITY)
        assert next_at is not None  # backing off
        # later, through the real sender: the city already holds it, answered as a duplicate
        clock.set(next_at + timedelta(seconds=1))
        assert (await county.drain(CITY)).delivered == 1
        assert count_rows(city, issues) == 3 and count_rows(city, transfers_in) == 3
        assert county.issues.get(LEADER, ids[1]).issue.owner == CITY


async def test_an_idle_sender_leaves_the_outbox_status_alone(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty outbox cannot be stuck: the idle loop reads only what is due, and a
    backing-off destination's status is read once a minute, not every round."""
    async with federation(tmp_path, TOPOLOGY, clock, start=(COUNTY,)) as fed:
        county = fed[COUNTY]
        status_reads: list[str] = []
        real_status = county.transfers.outbox_status

        def counted(stuck_after: timedelta) -> dict[str, Any]:
            status_reads.append("read")
            return real_status(stuck_after)

        monkeypatch.setattr(county.transfers, "outbox_status", counted)
        sender = Sender(county.transfers, destination=CITY, retry_attempts=1,
                        call_timeout_s=0.5,
                        channel_factory=lambda: grpc.aio.insecure_channel("127.0.0.1:1"))
        rounds = 0
        real_drain = sender.drain_once

        async def drain_counted() -> Any:
            nonlocal rounds
            rounds += 1
            return await real_drain()

        monkeypatch.setattr(sender, "drain_once", drain_counted)
        stop = asyncio.Event()
        loop = asyncio.create_task(sender.run(stop, poll_s=0.01, idle_poll_s=0.01))
        try:
            await until(lambda: rounds >= 20, what="20 idle rounds")
            assert status_reads == []
            submit_and_escalate(county)  # the city is down: it fails, then backs off
            sender.wake.set()
            start = rounds
            await until(lambda: rounds >= start + 20, what="20 rounds backing off")
            assert county.transfers.next_attempt_at(CITY) is not None
            assert status_reads == ["read"]
        finally:
            stop.set()
            await loop
