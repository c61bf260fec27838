"""The event streams as an attack surface: real nats-servers in the leaf topology.

Two lines of defence are proved here. The brokers: a node's NATS user may publish only on
its own subjects, so a county cannot write into another unit's streams. The appliers:
whatever a county publishes on its OWN subjects reaches its city's replicator, which must
refuse anything forged or malformed into the dead-letter table — without changing any issue
and without holding up the next valid event (no poison message).

Waiting is always a poll with a deadline (tests/support/wait.until), never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError
from sqlalchemy import select

from federation.nats.messages import MAX_MESSAGE_BYTES
from federation.nats.server_config import INTEREST_ONLY, leaf_user, node_user
from federation.nats.streams import events_stream, inbound_stream, summary_stream
from federation.nats.subjects import Subject
from node.domain.issue import Actor, ActorKind, event_id_of
from node.domain.lifecycle import submit
from node.store.schema import dead_letters
from node.web.observability import NodeCollector
from tests.support.brokers import LEAF_PASSWORD, PASSWORD
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.db import all_rows
from tests.support.federation import FedNode, Harness, delivered, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

PROVINCE, CITY, COUNTY, SIBLING = "330000", "330500", "330522", "330523"
TOPOLOGY = {PROVINCE: None, CITY: PROVINCE, COUNTY: CITY, SIBLING: CITY}

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- helpers


@asynccontextmanager
async def client(fed: Harness, server: str, user: str, password: str
                 ) -> AsyncIterator[tuple[NATS, list[Exception]]]:
    """A NATS client on `server`'s client port; asynchronous errors are collected."""
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(f"nats://127.0.0.1:{fed.ports[server]['nats']}", user=user,
                            password=password, error_cb=on_error, max_reconnect_attempts=0,
                            allow_reconnect=False, connect_timeout=5)
    try:
        yield nc, errors
    finally:
        await nc.close()


async def stream_messages(node: FedNode, stream: str) -> int:
    assert node.streams.nc is not None
    # a generous budget: on a loaded machine a JetStream API reply can take over the
    # client's default 5 s, and this reads a count, it does not judge a refusal
    info = await node.streams.nc.jetstream(timeout=30).stream_info(stream)
    return int(info.state.messages)


FORGED = b'{"forged": "by 330522"}'


async def holds(node: FedNode, stream: str, subject: str, data: bytes) -> bool:
    """Whether the last message `stream` keeps on `subject` is `data`."""
    assert node.streams.nc is not None
    try:
        last = await node.streams.nc.jetstream(timeout=30).get_last_msg(stream, subject)
    except NotFoundError:
        return False
    return last.data == data


def dead(node: FedNode) -> list[tuple[str, str]]:
    """(subject, error) of every dead letter, in arrival order."""
    with node.node.engine.connect() as conn:
        return [(str(s), str(e)) for s, e in conn.execute(
            select(dead_letters.c.subject, dead_letters.c.error)
            .order_by(dead_letters.c.stream_seq))]


def event_bytes(issue_id: str, version: int, kind: str, payload: dict[str, Any], *,
                at: datetime, writer: str = COUNTY, origin: str | None = None,
                writer_seq: int = 900_001, event_id: str | None = None) -> bytes:
    """An event message as federation/nats/messages.encode writes it, fields as given."""
    return json.dumps({
        "event_id": event_id if event_id is not None else event_id_of(issue_id, version),
        "issue_id": issue_id, "version": version, "kind": kind, "actor": "staff:forger",
        "at": at.isoformat(), "payload": payload, "writer": writer, "writer_seq": writer_seq,
        "origin": origin or writer,
    }, ensure_ascii=False).encode()


def submitted_payload(node: FedNode, issue_id: str, number: str) -> dict[str, Any]:
    """The payload of a well-formed `submitted` event written by `node`."""
    _, event = submit(submit_cmd(), issue_id=issue_id, number=number, node=node.code,
                      actor=Actor(kind=ActorKind.STAFF, id="forger"),
                      now=node.issues.clock.now(), rules=node.issues.rules)
    return dict(event.payload)


async def publish_own(county: FedNode, issue_id: str, data: bytes,
                      origin: str | None = None) -> None:
    """Publish `data` as the county's node user on the county's own event subject."""
    assert county.streams.nc is not None
    subject = Subject.event(county.code, origin or county.code, issue_id).build()
    await county.streams.nc.jetstream().publish(subject, data, timeout=30)


# --------------------------------------------------------------------------- brokers


async def test_a_node_user_cannot_publish_on_another_units_subjects(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        targets = {  # subject → (node, stream that would take it)
            Subject.event(SIBLING, SIBLING, "330523-forged").build(): (SIBLING,
                                                                       events_stream(SIBLING)),
            Subject.event(CITY, CITY, "330500-forged").build(): (CITY, events_stream(CITY)),
            Subject.event(PROVINCE, PROVINCE, "330000-forged").build(): (PROVINCE,
                                                                 events_stream(PROVINCE)),
            Subject.event(PROVINCE, COUNTY, "330522-forged").build(): (PROVINCE,
                                                               events_stream(PROVINCE)),
            Subject.summary(CITY).build(): (CITY, summary_stream(CITY)),
            Subject.summary(PROVINCE).build(): (PROVINCE, summary_stream(PROVINCE)),
        }
        async with client(fed, COUNTY, node_user(COUNTY), PASSWORD) as (nc, errors):
            js = nc.jetstream()

            async def via_jetstream(subject: str) -> None:
                with pytest.raises((NatsTimeoutError, NoRespondersError)):
                    await js.publish(subject, FORGED, timeout=1)

            await asyncio.gather(*(via_jetstream(s) for s in targets))
            for subject in targets:
                await nc.publish(subject, FORGED)
            await nc.flush()
            await until(lambda: len(errors) >= 2 * len(targets), what="permission violations")
        assert all("permissions violation" in str(e).lower() for e in errors)
        for subject, (code, stream) in targets.items():
            assert not await holds(fed.nodes[code], stream, subject, FORGED), subject


async def test_a_county_cannot_administer_another_units_jetstream(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        async with client(fed, COUNTY, node_user(COUNTY), PASSWORD) as (nc, _):
            for subject in (f"$JS.zt{CITY}.API.STREAM.PURGE.{inbound_stream(CITY)}",
                            f"$JS.zt{PROVINCE}.API.STREAM.DELETE.{summary_stream(PROVINCE)}"):
                try:
                    reply = json.loads((await nc.request(subject, b"", timeout=2)).data)
                except (NatsTimeoutError, NoRespondersError):
                    reply = {}
                assert not reply.get("success"), (subject, reply)
        # still there
        await stream_messages(fed.nodes[PROVINCE], summary_stream(PROVINCE))


async def test_a_county_cannot_read_a_siblings_events(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        sibling = fed.nodes[SIBLING]
        leaked: list[str] = []
        routed: list[str] = []

        async def on_leak(msg: Msg) -> None:
            leaked.append(msg.subject)

        async def on_routed(msg: Msg) -> None:
            routed.append(msg.subject)

        async with (client(fed, COUNTY, node_user(COUNTY), PASSWORD) as (county_nc, _),
                    client(fed, CITY, node_user(CITY), PASSWORD) as (city_nc, _)):
            await county_nc.subscribe(f"zt.{SIBLING}.>", cb=on_leak)
            await city_nc.subscribe(f"zt.{SIBLING}.>", cb=on_routed)  # the hub: sees it
            await county_nc.flush()
            await city_nc.flush()
            sibling.issues.submit(LEADER, submit_cmd())
            await until(lambda: bool(routed or leaked), what="the event at the hub")
            with pytest.raises(AssertionError):  # one more hop to the county: 1 s grace
                await until(lambda: bool(leaked), timeout_s=1, what="a leaked event")
        assert leaked == []


async def test_a_leaf_user_cannot_publish_on_the_provinces_subjects(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        province = fed.nodes[PROVINCE]
        before = await stream_messages(province, events_stream(PROVINCE))
        refused = True
        try:
            async with client(fed, CITY, leaf_user(COUNTY), LEAF_PASSWORD) as (nc, _):
                try:
                    await nc.jetstream().publish(
                        Subject.event(PROVINCE, PROVINCE, "330000-forged").build(), b"{}",
                        timeout=2)
                    refused = False
                except (NatsTimeoutError, NoRespondersError):
                    pass
        except (nats.errors.Error, OSError):
            pass  # the connection itself was refused: fine
        assert refused
        assert await stream_messages(province, events_stream(PROVINCE)) == before


@dataclass
class RawLeaf:
    """A leafnode connection spoken by hand, as a county's own server modified to ignore the
    permissions its hub sends it would speak it (a stock nats-server also enforces them on
    its side of the link): only the hub's side of the link stands in its way."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # (subject, payload)
    errors: list[str] = field(default_factory=list)
    closed: bool = False

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())
        await self.writer.drain()

    async def publish(self, subject: str, reply: str, data: bytes) -> None:
        self.writer.write(f"LMSG {subject} {reply} {len(data)}\r\n".encode() + data + b"\r\n")
        await self.writer.drain()

    async def read(self) -> None:
        try:
            while line := await self.reader.readline():
                op, *args = line.decode().split()
                if op in ("LMSG", "HMSG"):
                    data = (await self.reader.readexactly(int(args[-1]) + 2))[:-2]
                    self.messages.append((args[0], data))
                elif op == "PING":
                    await self.send("PONG")
                elif op == "-ERR":
                    self.errors.append(line.decode())
        except (OSError, asyncio.IncompleteReadError):
            pass
        self.closed = True

    def seen(self, prefix: str) -> bool:
        return any(subject.startswith(prefix) for subject, _ in self.messages)


@asynccontextmanager
async def raw_leaf(fed: Harness, *subscriptions: str, code: str = COUNTY
                   ) -> AsyncIterator[RawLeaf]:
    """A RawLeaf on the city's leaf port with `code`'s leaf credentials and certificate,
    subscribed to `subscriptions`. Yields once the link is up: it receives what the real
    county receives, the heartbeats of the consumers that feed the county's inbound stream
    (deliveries addressed `ztsrc.<county>.…`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", fed.ports[CITY]["leaf"])
    await reader.readline()  # INFO, in the clear; then TLS
    tls = fed.root / "tls" / code
    ctx = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    ctx.load_cert_chain(str(tls / "node.pem"), str(tls / "node.key"))
    ctx.check_hostname = False
    await writer.start_tls(ctx)
    leaf = RawLeaf(reader, writer)
    connect = {"user": leaf_user(code), "pass": LEAF_PASSWORD, "name": f"rogue-{code}",
               "headers": True, "protocol": 1}
    await leaf.send(f"CONNECT {json.dumps(connect)}", "PING",
                    *(f"LS+ {s}" for s in (f"ztsrc.{code}.>", *subscriptions)))
    task = asyncio.create_task(leaf.read())
    try:
        await until(lambda: leaf.seen(f"ztsrc.{code}."), what="the raw leaf attached")
        yield leaf
    finally:
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()
        await task


async def test_a_countys_own_server_receives_nothing_of_its_sibling(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        sibling, city = fed.nodes[SIBLING], fed.nodes[CITY]
        routed: list[str] = []

        async def on_routed(msg: Msg) -> None:
            routed.append(msg.subject)

        async with (raw_leaf(fed, ">", f"zt.{SIBLING}.>", f"ztsrc.{CITY}.{SIBLING}.>",
                             f"$JS.FC.ZT_EV_{SIBLING}.>") as leaf,
                    client(fed, CITY, node_user(CITY), PASSWORD) as (city_nc, _)):
            await city_nc.subscribe(f"zt.{SIBLING}.>", cb=on_routed)  # raw events to the hub
            await city_nc.flush()
            issue, _ = sibling.issues.submit(LEADER, submit_cmd())
            # through the hub both ways it travels: published, and sourced by the city
            await until(lambda: bool(routed), what="the sibling's event at the hub")
            await until(lambda: replica_version(city, issue.id) == 1,
                        what="the sibling's event sourced by the city")
            with pytest.raises(AssertionError):  # one more hop to the rogue: 1 s grace
                await until(lambda: any(SIBLING in subject or issue.id.encode() in data
                                        for subject, data in leaf.messages),
                            timeout_s=1, what="a leak")
            assert not leaf.closed and not leaf.errors
            # what does reach it is addressed to the county (or is a bare consumer-creation
            # reply; see federation/nats/server_config.py)
            mine = (f"ztsrc.{COUNTY}.", f"$JS.zt{COUNTY}.API.CONSUMER.CREATE.", "$JSC.R.",
                    f"$JS.FC.ZT_EV_{COUNTY}.", f"$JS.FC.ZT_SUM_{COUNTY}.")
            assert all(subject.startswith(mine) for subject, _ in leaf.messages), sorted(
                {subject for subject, _ in leaf.messages})


async def test_a_countys_own_server_cannot_reach_other_units_jetstream(
    tmp_path: Path, clock: FakeClock
) -> None:
    steal = {"deliver_subject": f"ztsrc.{COUNTY}.steal", "ack_policy": "none"}
    refused = {  # subject → request body: each one a permissions violation at the hub
        f"$JS.zt{CITY}.API.STREAM.PURGE.{inbound_stream(CITY)}": {},
        f"$JS.zt{PROVINCE}.API.STREAM.DELETE.{summary_stream(PROVINCE)}": {},
        f"$JS.zt{PROVINCE}.API.STREAM.INFO.{events_stream(PROVINCE)}": {},
        f"$JS.zt{CITY}.API.CONSUMER.MSG.NEXT.{inbound_stream(CITY)}.apply": {"batch": 1},
        # the province's whole log, and the part about the sibling's issues
        f"$JS.zt{PROVINCE}.API.CONSUMER.CREATE.{events_stream(PROVINCE)}": {
            "stream_name": events_stream(PROVINCE), "config": steal},
        f"$JS.zt{PROVINCE}.API.CONSUMER.CREATE.{events_stream(PROVINCE)}.steal"
        f".zt.{PROVINCE}.ev.{SIBLING}.>": {
            "stream_name": events_stream(PROVINCE),
            "config": {**steal, "name": "steal",
                       "filter_subject": f"zt.{PROVINCE}.ev.{SIBLING}.>"}},
        f"$JS.zt{SIBLING}.API.CONSUMER.CREATE.{events_stream(SIBLING)}": {
            "stream_name": events_stream(SIBLING), "config": steal},
        # forged deliveries into the city's sourcing of the sibling, a forged event
        f"ztsrc.{CITY}.{SIBLING}.S.guess": {},
        Subject.event(SIBLING, SIBLING, "330523-forged").build(): {},
    }
    inert = f"$JS.zt{PROVINCE}.API.CONSUMER.{INTEREST_ONLY}"  # allowed, and does nothing

    def create(name: str, **config: object) -> tuple[str, dict[str, object]]:
        """A consumer creation on the province's log that the link lets through: named in
        the subject, filtered there to the county's own issues; `config` is the body's."""
        return (f"$JS.zt{PROVINCE}.API.CONSUMER.CREATE.{events_stream(PROVINCE)}.{name}"
                f".zt.{PROVINCE}.ev.{COUNTY}.>",
                {"stream_name": events_stream(PROVINCE),
                 "config": {**steal, "deliver_subject": f"ztsrc.{COUNTY}.{name}",
                            "name": name, **config}})

    own = f"zt.{PROVINCE}.ev.{COUNTY}.>"
    answered = [  # (subject, body, success): the JetStream API answers, and checks the body
        (*create("mine", filter_subject=own), True),  # what the county's sources do
        (*create("steal1", filter_subject=f"zt.{PROVINCE}.ev.{SIBLING}.>"), False),
        (*create("steal2"), False),  # unfiltered
        (*create("steal3", filter_subjects=[own, f"zt.{PROVINCE}.ev.{SIBLING}.>"]), False),
    ]
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city, province = (fed.nodes[c] for c in (COUNTY, CITY, PROVINCE))
        issue, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: replica_version(city, issue.id) == 1, what="replication")
        held = await stream_messages(city, inbound_stream(CITY))
        reply = "$JSC.R.rogue"  # a reply subject the link lets down to the county
        for subject, body in refused.items():
            async with raw_leaf(fed, reply) as leaf:  # a fresh one: a violation cuts the link
                await leaf.publish(subject, reply, json.dumps(body).encode())
                await until(lambda: leaf.closed, timeout_s=10, what=f"refusal of {subject}")
                assert any("permissions violation" in e.lower() for e in leaf.errors), (
                    subject, leaf.errors)
                assert not leaf.seen(reply), (subject, leaf.messages)
        async with raw_leaf(fed, reply) as leaf:
            await leaf.publish(inert, reply, b"{}")
            with pytest.raises(AssertionError):
                await until(lambda: leaf.closed or leaf.seen(reply), timeout_s=2,
                            what="anything at all")
            for subject, body, success in answered:
                leaf.messages.clear()
                await leaf.publish(subject, reply, json.dumps(body).encode())
                await until(lambda: leaf.seen(reply), what=f"the answer to {subject}")
                [answer] = [json.loads(data[data.find(b"{"):]) for s, data in leaf.messages
                            if s == reply]
                assert ("error" not in answer) is success, (body, answer)
            assert not leaf.closed and not leaf.errors
        assert await stream_messages(city, inbound_stream(CITY)) == held
        await stream_messages(province, summary_stream(PROVINCE))  # still there
        for code, stream in ((PROVINCE, events_stream(PROVINCE)),
                             (SIBLING, events_stream(SIBLING))):
            owner = fed.nodes[code].streams.nc
            assert owner is not None
            for info in await owner.jetstream().consumers_info(stream):
                assert "steal" not in (info.config.deliver_subject or ""), info
        # the real county's link, with the same leaf user, was not cut with the rogue's
        later, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: replica_version(city, later.id) == 1, what="replication after")


# --------------------------------------------------------------------------- appliers


async def test_forged_events_on_a_countys_own_subject_are_dead_lettered(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        now = clock.now()
        # what the city holds before: an issue it escalated to the province (owned there),
        # and one of its own
        theirs, _ = city.issues.submit(LEADER, submit_cmd())
        city.transfers.request_escalation(LEADER, theirs.id, "需要省级协调")
        await delivered(city, PROVINCE)
        ours, _ = city.issues.submit(LEADER, submit_cmd())
        at_province = fed.nodes[PROVINCE].issues.get(LEADER, theirs.id).issue
        await until(lambda: replica_version(city, theirs.id) == at_province.version,
                    what="the province's receive event back at the city")
        theirs = city.issues.get(LEADER, theirs.id).issue
        assert theirs.owner == PROVINCE
        held = all_rows(city.node.engine, "issues")
        fresh = "330522-forged-0001"
        good = submitted_payload(county, fresh, "330522-2026-900001")
        urge = {"state": "received"}
        forged: list[tuple[str, bytes, str, str]] = [  # (issue id, data, origin, error)
            (fresh, event_bytes(fresh, 1, "submitted", good, at=now, writer=SIBLING,
                                origin=COUNTY),
             COUNTY, "refused: writer differs from the subject"),
            (fresh, event_bytes(fresh, 1, "submitted", good, at=now,
                                event_id=event_id_of(theirs.id, 1)),
             COUNTY, "malformed: event_id does not match"),
            (theirs.id, event_bytes(theirs.id, theirs.version + 1, "urge", urge, at=now,
                                    origin=CITY),
             CITY, f"refused: written by {COUNTY}, but {PROVINCE} owns the issue"),
            (fresh, event_bytes(fresh, 1, "submitted", {**good, "owner": SIBLING}, at=now),
             COUNTY, "refused: a new issue must come from its owner"),
            (fresh, b'{"event_id": "330522-x@1", "issue_id": ', COUNTY, "malformed: not JSON"),
            (fresh, event_bytes(fresh, 1, "submitted", {**good, "content": "长" * 30_000},
                                at=now),
             COUNTY, f"malformed: message larger than {MAX_MESSAGE_BYTES}"),
            (fresh, event_bytes(fresh, 1, "delete_everything", good, at=now), COUNTY,
             "malformed: unknown event kind"),
            (fresh, event_bytes(fresh, 1, "submitted", {"state": "received", "owner": COUNTY},
                                at=now),
             COUNTY, "refused: does not apply"),
            (fresh, event_bytes(fresh, 1, "submitted", good, at=now, writer="'; DROP TABLE"),
             COUNTY, "malformed: bad writer"),
        ]
        for issue_id, data, origin, _ in forged:
            await publish_own(county, issue_id, data, origin)
        # a county event for the city's own issue: acknowledged and ignored ("owned")
        await publish_own(county, ours.id, event_bytes(ours.id, 2, "urge", urge, at=now,
                                                       origin=CITY), CITY)
        # ... and then the next valid event, which nothing above may hold up
        real, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: replica_version(city, real.id) == 1, what="the valid event")
        letters = dead(city)
        assert len(letters) == len(forged), letters
        for (subject, error), (issue_id, _, origin, expected) in zip(letters, forged,
                                                                     strict=True):
            assert error.startswith(expected), (error, expected)
            assert subject == Subject.event(COUNTY, origin, issue_id).build()
        # nothing changed: the rows held before are untouched, and only the valid one came
        after = all_rows(city.node.engine, "issues")
        assert [r for r in after if r[0] != real.id] == held
        assert {r[0] for r in after} == {theirs.id, ours.id, real.id}
        assert city.issues.get(LEADER, ours.id).issue.urge_count == 0


async def test_a_county_cannot_squat_the_citys_numbers_through_its_stream(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        squat = f"330522-{'5' * 32}"  # a well-formed id of the county; the city's number
        payload = submitted_payload(county, squat, f"{CITY}-2026-000001")
        await publish_own(county, squat, event_bytes(squat, 1, "submitted", payload,
                                                     at=clock.now()))
        real, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: replica_version(city, real.id) == 1, what="the next valid event")
        await until(lambda: len(dead(city)) == 1, what="the squatting event parked")
        assert replica_version(city, squat) == 0
        assert dead(city)[0][1].startswith("refused: issue.number"), dead(city)
        mine, _ = city.issues.submit(LEADER, submit_cmd())  # the city's own intake works
        assert mine.number == f"{CITY}-2026-000001"


async def test_replicated_events_are_validated_like_any_other_input(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        forged: list[str] = []
        changes: list[dict[str, Any]] = [
            {"enterprise": {"name": "甲企业", "credit_code": "not-a-credit-code",
                            "contact_phone": "'; DROP TABLE users; --"}},
            {"title": "题" * 500},
            {"title": "\x1b[2J\x1b[31m红色警报"},
        ]
        for i, change in enumerate(changes):
            issue_id = f"330522-{i:032x}"  # a well-formed id: the content is what is wrong
            payload = {**submitted_payload(county, issue_id, f"330522-2026-90000{i}"),
                       **change}
            await publish_own(county, issue_id, event_bytes(issue_id, 1, "submitted", payload,
                                                            at=clock.now(),
                                                            writer_seq=900_001 + i))
            forged.append(issue_id)
        real, _ = county.issues.submit(LEADER, submit_cmd())
        await until(lambda: replica_version(city, real.id) == 1, what="the next valid event")
        # the valid event may commit in the same fetched batch, before the refusals are parked
        await until(lambda: len(dead(city)) == len(forged), what="the forged events parked")
        assert [replica_version(city, i) for i in forged] == [0, 0, 0]
        errors = sorted(error for _, error in dead(city))
        assert [e.split(":")[:2] for e in errors] == [
            ["refused", " enterprise.contact_phone"], ["refused", " title"],
            ["refused", " title"]], errors


async def test_poison_messages_that_crash_the_applier_are_dead_lettered(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes[COUNTY], fed.nodes[CITY]
        nested = "330522-nested"
        await publish_own(county, nested, b"[" * 30_000 + b"]" * 30_000)
        typed = "330522-typed"
        payload = {**submitted_payload(county, typed, "330522-2026-900001"),
                   "tags": [{"$where": "1 == 1"}]}
        await publish_own(county, typed, event_bytes(typed, 1, "submitted", payload,
                                                     at=clock.now()))
        real, _ = county.issues.submit(LEADER, submit_cmd())
        # never blocking: the next valid event is applied at once (not after a redelivery),
        # and the two poison messages before it are parked in the same pass. The valid
        # event may commit in its batch's transaction just before the refused one of the
        # same batch is parked, so both are waited for.
        await until(lambda: replica_version(city, real.id) == 1 and len(dead(city)) == 2,
                    timeout_s=10,
                    what="the next valid event, not held up by the poison before it")
        assert replica_version(city, typed) == 0
        assert [s for s, _ in dead(city)] == [Subject.event(COUNTY, COUNTY, nested).build(),
                                              Subject.event(COUNTY, COUNTY, typed).build()]
        assert metric(city, "zhitong_dead_letters_waiting") == {(): 2.0}


def metric(sn: FedNode, name: str) -> dict[tuple[str, ...], float]:
    """One metric family of the node's /metrics collector: label values → value."""
    family = next(f for f in NodeCollector(sn.node.services).collect() if f.name == name)
    return {tuple(s.labels.values()): s.value for s in family.samples
            if not s.name.endswith("_created")}


async def test_a_malformed_summary_does_not_freeze_the_provinces_summary(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        city, province = fed.nodes[CITY], fed.nodes[PROVINCE]
        assert city.streams.nc is not None and province.streams.nc is not None
        garbage = b"[" * 30_000 + b"]" * 30_000
        await city.streams.nc.jetstream().publish(Subject.summary(CITY).build(), garbage,
                                                  timeout=30)
        province_js = province.streams.nc.jetstream()

        async def arrived() -> bool:
            try:
                last = await province_js.get_last_msg(summary_stream(PROVINCE),
                                                      Subject.summary(CITY).build())
            except Exception:
                return False
            return last.data == garbage

        await until(arrived, what="the city's summary sourced by the province")
        province.issues.submit(LEADER, submit_cmd())

        def counted() -> bool:
            latest = province.streams.summaries.latest
            return latest is not None and latest.total == 1

        await until(counted, timeout_s=5, what="the province's summary counts its issue")
        assert metric(province, "zhitong_summary_malformed") == {(CITY,): 1.0}
