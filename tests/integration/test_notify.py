"""Notifications with real parts: a real HTTP receiver (the SMS gateway and the OA system,
verifying the HMAC and deduplicating on Idempotency-Key), a real SMTP server (aiosmtpd with
STARTTLS and AUTH), the store on SQLite and PostgreSQL, the fake clock for backoff and
lights. The dispatcher is driven step by step (`expand_once`, `deliver_once`)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from node.app.notify import Delivery, NotifyService
from node.domain.errors import IllegalTransition
from node.domain.issue import Actor, ActorKind
from node.domain.lifecycle import (
    Assign,
    Resolve,
    Start,
    Triage,
    Urge,
    decide,
    evolve,
    submit,
)
from node.domain.notifications import Topic
from node.notify.email import message_id
from node.notify.oa import verify
from node.runtime import Node, build
from node.store import repo
from node.store.schema import (
    inbox_messages,
    issues,
    light_transitions,
    notification_deliveries,
    notifications,
)
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, STAFF, make_config, submit_cmd

SECRET = "oa-shared-secret"
PASSWORD = "password123"


# --------------------------------------------------------------------------- receivers


@dataclass
class Receiver:
    """The SMS gateway (/sms) and the OA system (/oa) on 127.0.0.1, port from the OS."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered first, one per request
    calls: list[tuple[str, str]] = field(default_factory=list)  # (path, idempotency key)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → body, once
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers.get("Idempotency-Key", "")
            with state.lock:
                state.calls.append((self.path, key))
                status = state.statuses.pop(0) if state.statuses else 200
                if self.path == "/oa" and not verify(
                        SECRET.encode(), self.headers.get("X-Zhitong-Timestamp", ""), body,
                        self.headers.get("X-Zhitong-Signature", "")):
                    state.bad_signatures += 1
                    status = 401
                if status == 200:
                    state.accepted.setdefault(key, {"path": self.path, **json.loads(body)})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "smtp.pem", tmp / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mailbox:
    port: int
    ca_file: Path
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Mailbox]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(port=_free_port(), ca_file=cert)

    class Handler:
        async def handle_DATA(self, server: SMTPServer, session: Session,
                              envelope: Envelope) -> str:
            assert isinstance(envelope.content, bytes)
            box.messages.append(email.message_from_bytes(envelope.content,
                                                         policy=email.policy.default))
            return "250 OK"

    def authenticate(server: SMTPServer, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"zhitong"
              and auth_data.password == b"mail-pass")
        if ok:
            box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port,
                            tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --------------------------------------------------------------------------- the node


def notify_config(receiver: Receiver, smtp: Mailbox | None = None, **extra: Any
                  ) -> dict[str, Any]:
    section: dict[str, Any] = {
        "enabled": True, "base_url": "http://zt.test", "inbox": {"enabled": True},
        "sms": {"enabled": True, "url": f"{receiver.url}/sms", "signature": "长兴县",
                "timeout_s": 2},
        "oa": {"enabled": True, "url": f"{receiver.url}/oa", "secret": SECRET,
               "timeout_s": 2},
        "max_attempts": 3, "backoff_initial_s": 10, "backoff_max_s": 60,
    }
    if smtp is not None:
        section["email"] = {"enabled": True, "host": "127.0.0.1", "port": smtp.port,
                            "user": "zhitong", "password": "mail-pass",
                            "sender": "zhitong@test.example", "ca_file": str(smtp.ca_file)}
    section.update(extra)
    return section


def make_node(tmp_path: Path, engine: Engine, clock: FakeClock, section: dict[str, Any],
              accounts: bool = True) -> Node:
    node = build(make_config(tmp_path, notify=section), clock=clock, engine=engine)
    if accounts:
        for who in ("dispatcher", "handler", "other_handler", "leader", "admin"):
            node.services.accounts.add(STAFF[who], PASSWORD)
    return node


def notify_of(node: Node) -> NotifyService:
    assert node.services.notify is not None
    return node.services.notify


def rows(engine: Engine, table: Any, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table).where(*where)).all())


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def drain(service: NotifyService) -> None:
    service.expand_once()
    await service.deliver_once()


# --------------------------------------------------------------------------- tests


async def test_receipt_sms_retried_after_a_500_is_delivered_once_under_one_key(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver))
    service = notify_of(node)
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    assert count(engine, notifications) == 1  # written with the submit
    receiver.statuses = [500]
    await drain(service)
    [d] = rows(engine, notification_deliveries)
    assert (d.channel, d.status, d.attempts, d.address) == ("sms", "pending", 1, "13905720001")
    assert d.next_attempt_at > clock.now()  # the backoff is in the row
    assert service.store.next_attempt_at() == d.next_attempt_at  # the dispatcher sleeps till then
    assert await service.deliver_once() == 0  # not due yet
    clock.advance(dt.timedelta(seconds=61))
    assert await service.deliver_once() == 1
    [d] = rows(engine, notification_deliveries)
    assert (d.status, d.attempts) == ("delivered", 2)
    keys = [k for _, k in receiver.calls]
    assert keys == [d.idempotency_key, d.idempotency_key]
    [body] = receiver.accepted.values()
    assert body["phone"] == "13905720001" and body["sign_name"] == "长兴县"
    assert issue.number in body["text"] and f"/ui/portal/issues/{issue.number}" in body["text"]
    await drain(service)
    assert len(receiver.calls) == 2  # nothing more
    assert service.store.next_attempt_at() is None  # nothing pending: it sleeps its period


async def test_assignment_mails_and_signals_the_department_and_fills_the_inbox(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver,
        smtp: Mailbox) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver, smtp,
                                                            enterprise_channels=[]))
    service = notify_of(node)
    admin = STAFF["admin"]
    from node.app.notify import Contact
    service.set_contact(admin, Contact(username="handler", email="handler@test.example",
                                       oa_id="oa-handler-7"))
    issues_ = node.services.issues
    issue, _ = issues_.submit(STAFF["leader"], submit_cmd())
    issues_.act(STAFF["dispatcher"], issue.id, Triage(tags=("用地",)))
    issues_.act(STAFF["dispatcher"], issue.id, Assign(department="经信局"))
    await drain(service)
    # only the department's member: e-mail, OA, inbox (other_handler is of 住建局)
    delivered = rows(engine, notification_deliveries)
    assert sorted((d.recipient, d.channel, d.status) for d in delivered) == [
        ("user:handler", "email", "delivered"), ("user:handler", "inbox", "delivered"),
        ("user:handler", "oa", "delivered")]
    [mail] = smtp.messages
    key = next(d.idempotency_key for d in delivered if d.channel == "email")
    assert mail["Message-ID"] == message_id(key, "330522")
    assert mail["To"] == "handler@test.example" and issue.number in str(mail["Subject"])
    assert smtp.logins == ["zhitong"]
    [oa] = receiver.accepted.values()
    assert oa["recipient"] == "oa-handler-7" and oa["number"] == issue.number
    assert receiver.bad_signatures == 0
    [msg] = rows(engine, inbox_messages)
    assert msg.username == "handler" and "经信局" in msg.body


async def test_a_wrong_signature_is_refused_and_parked_at_once(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    section = notify_config(receiver, staff_channels=["oa"])
    section["oa"] = {**section["oa"], "secret": "not-the-shared-secret"}
    node = make_node(tmp_path, engine, clock, section)
    service = notify_of(node)
    issue, _ = node.services.issues.submit(STAFF["leader"], submit_cmd())
    node.services.issues.act(STAFF["leader"], issue.id,
                             Urge(note="请加快"))
    await drain(service)
    parked = rows(engine, notification_deliveries, notification_deliveries.c.channel == "oa")
    assert parked and all(d.status == "parked" and d.attempts == 1 for d in parked)
    assert receiver.bad_signatures == len(parked)
    assert not [b for b in receiver.accepted.values() if b["path"] == "/oa"]


async def test_a_receiver_down_backs_off_then_parks_visible_to_operators_and_requeued(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    section = notify_config(receiver)
    section["sms"] = {**section["sms"], "url": f"http://127.0.0.1:{_free_port()}/sms"}
    node = make_node(tmp_path, engine, clock, section)
    service = notify_of(node)
    node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    service.expand_once()
    waits = []
    for attempt in range(1, 4):
        assert await service.deliver_once() == 1
        [d] = rows(engine, notification_deliveries)
        assert d.attempts == attempt
        waits.append(d.next_attempt_at - clock.now())
        clock.advance(dt.timedelta(seconds=61))
    assert d.status == "parked" and "ConnectError" in (d.last_error or "")
    assert dt.timedelta(seconds=5) <= waits[0] <= dt.timedelta(seconds=10)
    assert waits[1] <= dt.timedelta(seconds=20)
    assert await service.deliver_once() == 0
    with TestClient(node.app) as client:
        token = client.post("/api/v1/auth/login", json={
            "username": "admin", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = client.get("/api/v1/notifications/outbox", headers=auth).json()
        assert body["counts"]["parked"] == {"sms": 1}
        [shown] = body["parked"]
        assert shown["address"] != "13905720001" and shown["address"].startswith("139")
        assert "zhitong_notifications{channel=\"sms\",status=\"parked\"} 1.0" in \
            client.get("/metrics").text
        handler = client.post("/api/v1/auth/login", json={
            "username": "handler", "password": PASSWORD}).json()["access_token"]
        assert client.get("/api/v1/notifications/outbox",
                          headers={"Authorization": f"Bearer {handler}"}).status_code == 403
        resp = client.post(f"/api/v1/notifications/outbox/{shown['id']}/requeue", headers=auth)
        assert resp.status_code == 200, resp.text
        assert client.post(f"/api/v1/notifications/outbox/{shown['id']}/requeue",
                           headers=auth).status_code == 404
    [d] = rows(engine, notification_deliveries)
    assert (d.status, d.attempts) == ("pending", 0)


async def test_a_crash_between_send_and_record_resends_under_the_same_key(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    service = notify_of(node)
    node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    crashes: list[str] = []

    def crash(d: Delivery) -> None:
        if not crashes:
            crashes.append(d.idempotency_key)
            raise RuntimeError("killed between send and record")

    service.after_send = crash
    await drain(service)
    [d] = rows(engine, notification_deliveries)
    assert d.status == "pending" and d.attempts == 0  # nothing recorded
    # a restarted node: a new service over the same database
    restarted = make_node(tmp_path / "again", engine, clock, notify_config(receiver),
                          accounts=False)
    await drain(notify_of(restarted))
    [d] = rows(engine, notification_deliveries)
    assert d.status == "delivered"
    assert [k for _, k in receiver.calls] == [crashes[0], crashes[0]]
    assert len(receiver.accepted) == 1  # the receiver, deduplicating, shows one


async def test_a_refused_or_failed_action_leaves_no_notice(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    issue, _ = node.services.issues.submit(STAFF["leader"], submit_cmd())
    before = count(engine, notifications)
    with pytest.raises(IllegalTransition):
        node.services.issues.act(STAFF["leader"], issue.id, Resolve(reply="好"))
    assert count(engine, notifications) == before
    store = notify_of(node).store.store  # type: ignore[attr-defined]
    new, event = submit(submit_cmd(), issue_id="330522-0190a0a0-0000-7000-8000-000000000001",
                        number="330522-2026-000099", node="330522",
                        actor=Actor(kind=ActorKind.ENTERPRISE, id=ENTERPRISE_A.username),
                        now=clock.now(), rules=node.config.rules())
    with pytest.raises(RuntimeError), store.write() as conn:
        repo.insert_issue(conn, new)
        repo.append_event(conn, "330522", event, own=True)
        assert conn.execute(select(func.count()).select_from(notifications)).scalar_one() \
            == before + 1  # written in the transaction ...
        raise RuntimeError("the use case fails after writing")
    assert count(engine, notifications) == before  # ... and rolled back with it


async def test_replicated_events_notify_nobody(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    store = notify_of(node).store.store  # type: ignore[attr-defined]
    new, event = submit(submit_cmd(), issue_id="330521-0190a0a0-0000-7000-8000-000000000002",
                        number="330521-2026-000001", node="330521",
                        actor=Actor(kind=ActorKind.ENTERPRISE, id=ENTERPRISE_A.username),
                        now=clock.now(), rules=node.config.rules())
    with store.write() as conn:
        repo.insert_issue(conn, new)
        repo.append_event(conn, "330521", event, own=False)
    assert count(engine, notifications) == 0


async def test_a_reply_written_above_is_told_to_the_enterprise_at_its_home_node(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    """The city resolves an issue the county raised and escalated: the county applies the
    city's replicated events and tells its enterprise (whose contact lives here) — only
    the enterprise, once; the staff steps written above tell nobody here."""
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    store = notify_of(node).store.store  # type: ignore[attr-defined]
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    assert [n.topic for n in rows(engine, notifications)] == ["receipt"]
    city = Actor(kind=ActorKind.STAFF, id="city-handler")
    rules = node.config.rules()
    current = issue
    for command in (Triage(tags=("用电",)), Assign(department="经信局"), Start(),
                    Resolve(reply="已协调供电公司，三日内接电。")):
        event = decide(current, command, actor=city, now=clock.now(), rules=rules)
        current = evolve(current, event)
        with store.write() as conn:  # as the replica applies it: written by the city
            repo.update_issue(conn, current, expected_version=current.version - 1)
            repo.append_event(conn, "330500", event, own=False)
    notices = rows(engine, notifications)
    assert sorted(n.topic for n in notices) == ["receipt", "resolved"]
    [resolved] = [n for n in notices if n.topic == "resolved"]
    assert resolved.groups == ["enterprise"]
    assert "三日内接电" in resolved.params["reply"]


async def test_a_tier_above_never_texts_an_enterprise_of_an_issue_raised_below(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    """The city resolves an issue a county escalated: the city's own resolve event tells
    its staff groups, never the enterprise (its home county does, from the replica) — so
    the enterprise gets one message, and the phone is used only where it lives."""
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    store = notify_of(node).store.store  # type: ignore[attr-defined]
    here = node.config.node.code
    new, event = submit(submit_cmd(), issue_id="330523-0190a0a0-0000-7000-8000-000000000007",
                        number="330523-2026-000007", node="330523",
                        actor=Actor(kind=ActorKind.ENTERPRISE, id=ENTERPRISE_A.username),
                        now=clock.now(), rules=node.config.rules())
    with store.write() as conn:  # as if escalated here from another unit
        repo.insert_issue(conn, replace(new, owner=here))
        repo.append_event(conn, "330523", event, own=False)
    current = replace(new, owner=here)
    staff = Actor(kind=ActorKind.STAFF, id="handler")
    for command in (Triage(tags=("用电",)), Assign(department="经信局"), Start(),
                    Resolve(reply="已办结。")):
        step = decide(current, command, actor=staff, now=clock.now(), rules=node.config.rules())
        current = evolve(current, step)
        with store.write() as conn:
            repo.update_issue(conn, current, expected_version=current.version - 1)
            repo.append_event(conn, here, step, own=True)
    assert all("enterprise" not in n.groups for n in rows(engine, notifications))


async def test_an_imported_history_notifies_nobody(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    store = notify_of(node).store.store  # type: ignore[attr-defined]
    new, event = submit(submit_cmd(), issue_id="330522-0190a0a0-0000-7000-8000-000000000009",
                        number="330522-2025-000009", node="330522",
                        actor=Actor(kind=ActorKind.STAFF, id="importer"),
                        now=clock.now(), rules=node.config.rules())
    imported = replace(event, payload={**event.payload, "imported": True})
    with store.write() as conn:
        repo.insert_issue(conn, new)
        repo.append_event(conn, "330522", imported, own=True)
    assert count(engine, notifications) == 0


async def test_yellow_and_red_notify_once_per_transition_while_nobody_acts(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver, enterprise_channels=[],
                                                            staff_channels=["inbox"]))
    service = notify_of(node)
    issue, _ = node.services.issues.submit(STAFF["leader"], submit_cmd())
    issues_ = node.services.issues
    issues_.act(STAFF["dispatcher"], issue.id, Triage(tags=()))
    issues_.act(STAFF["dispatcher"], issue.id, Assign(department="经信局"))
    issues_.act(STAFF["handler"], issue.id, Start())
    [row] = rows(engine, issues)
    assert service.scan_lights_once() == 0  # green
    clock.set(row.light_yellow_at + dt.timedelta(minutes=1))
    assert service.scan_lights_once() == 1
    assert service.scan_lights_once() == 0
    clock.set(row.light_red_at + dt.timedelta(minutes=1))
    assert service.scan_lights_once() == 1
    assert service.scan_lights_once() == 0
    service.expand_once()
    topics = sorted((m.username, m.topic) for m in rows(engine, inbox_messages)
                    if m.topic.startswith("light"))
    # the handler of 经信局 and the node's leader (admin is no leader), once per colour
    assert topics == [("handler", "light_red"), ("handler", "light_yellow"),
                      ("leader", "light_red"), ("leader", "light_yellow")]
    assert sorted(t.colour for t in rows(engine, light_transitions)) == ["red", "yellow"]


async def test_a_red_reached_unseen_records_yellow_without_sending_it(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    service = notify_of(node)
    node.services.issues.submit(STAFF["leader"], submit_cmd())
    [row] = rows(engine, issues)
    clock.set(row.light_red_at + dt.timedelta(hours=1))
    assert service.scan_lights_once() == 1
    assert sorted((t.colour, t.notified) for t in rows(engine, light_transitions)) == [
        ("red", True), ("yellow", False)]
    [notice] = [n for n in rows(engine, notifications) if n.topic.startswith("light")]
    assert notice.topic == "light_red"


async def test_inbox_api_counts_and_marks_read(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver, enterprise_channels=[],
                                                            staff_channels=["inbox"]))
    service = notify_of(node)
    issues_ = node.services.issues
    for _ in range(2):
        issue, _ = issues_.submit(STAFF["leader"], submit_cmd())
        issues_.act(STAFF["dispatcher"], issue.id, Triage(tags=()))
        issues_.act(STAFF["dispatcher"], issue.id, Assign(department="经信局"))
    service.expand_once()
    service.expand_once()  # idempotent: nothing twice
    with TestClient(node.app) as client:
        token = client.post("/api/v1/auth/login", json={
            "username": "handler", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/inbox/unread", headers=auth).json() == {
            "enabled": True, "unread": 2}
        page = client.get("/api/v1/inbox", headers=auth).json()
        assert page["unread"] == 2 and [i["topic"] for i in page["items"]] == ["assigned"] * 2
        first = page["items"][0]["id"]
        marked = client.post("/api/v1/inbox/read", json={"ids": [first]}, headers=auth).json()
        assert marked == {"marked": 1, "unread": 1}
        assert len(client.get("/api/v1/inbox", params={"unread": "true"},
                              headers=auth).json()["items"]) == 1
        assert client.post("/api/v1/inbox/read", json={}, headers=auth).json() == {
            "marked": 1, "unread": 0}
        other = client.post("/api/v1/auth/login", json={
            "username": "other_handler", "password": PASSWORD}).json()["access_token"]
        assert client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {other}"}
                          ).json()["items"] == []
        assert client.get("/api/v1/inbox").status_code == 401


def test_a_node_without_notifications_writes_none_and_answers_an_empty_inbox(
        tmp_path: Path, engine: Engine, clock: FakeClock) -> None:
    node = build(make_config(tmp_path), clock=clock, engine=engine)
    assert node.services.notify is None
    node.services.accounts.add(STAFF["handler"], PASSWORD)
    node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    assert count(engine, notifications) == 0
    with TestClient(node.app) as client:
        token = client.post("/api/v1/auth/login", json={
            "username": "handler", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/inbox/unread", headers=auth).json() == {
            "enabled": False, "unread": 0}
        assert client.get("/api/v1/notifications/outbox",
                          headers=auth).status_code == 404


async def test_a_gateway_failing_half_the_calls_still_shows_each_message_once(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver, max_attempts=10),
                     accounts=False)
    service = notify_of(node)
    numbers = {node.services.issues.submit(ENTERPRISE_A, submit_cmd())[0].number
               for _ in range(12)}
    receiver.statuses = [500, 200] * 12 + [503] * 6
    service.expand_once()
    for _ in range(12):
        await service.deliver_once()
        clock.advance(dt.timedelta(minutes=2))
        if all(d.status == "delivered" for d in rows(engine, notification_deliveries)):
            break
    delivered = rows(engine, notification_deliveries)
    assert len(delivered) == 12 and {d.status for d in delivered} == {"delivered"}
    # every expected (event, recipient, channel) exactly once, nothing unexpected
    assert set(receiver.accepted) == {d.idempotency_key for d in delivered}
    assert {next(n for n in numbers if n in b["text"]) for b in receiver.accepted.values()} \
        == numbers
    assert len(receiver.calls) > len(receiver.accepted)  # there were retries


async def test_an_admin_edits_a_template_and_the_next_message_uses_it(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    node = make_node(tmp_path, engine, clock, notify_config(receiver))
    service = notify_of(node)
    with TestClient(node.app) as client:
        def token(user: str) -> dict[str, str]:
            t = client.post("/api/v1/auth/login", json={
                "username": user, "password": PASSWORD}).json()["access_token"]
            return {"Authorization": f"Bearer {t}"}

        admin = token("admin")
        listed = client.get("/api/v1/notifications/templates", headers=admin).json()
        assert len(listed) == 2 * len(Topic) and {t["source"] for t in listed} == {"default"}
        url = "/api/v1/notifications/templates/zh-CN/receipt"
        bad = client.put(url, json={"subject": "x {number", "body": "y"}, headers=admin)
        assert bad.status_code == 422
        assert client.put(url, json={"subject": "回执 {number}", "body": "已收到：{number}"},
                          headers=token("leader")).status_code == 403
        ok = client.put(url, json={"subject": "回执 {number}", "body": "已收到：{number}"},
                        headers=admin)
        assert ok.status_code == 200, ok.text
        issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd())
        await drain(service)
        [body] = receiver.accepted.values()
        assert body["text"] == f"已收到：{issue.number}"
        assert client.delete(url, headers=admin).status_code == 204
        listed = client.get("/api/v1/notifications/templates", headers=admin).json()
        assert {t["source"] for t in listed} == {"default"}


async def test_sms_in_quiet_hours_waits_for_the_morning_and_is_sent_once(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    section = notify_config(receiver)
    section["sms"] = {**section["sms"], "quiet_hours": "22:00-08:00"}
    node = make_node(tmp_path, engine, clock, section)
    service = notify_of(node)
    clock.set(dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC))  # 23:30 CST
    node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    await drain(service)
    assert [p for p, _ in receiver.calls if p == "/sms"] == []  # nobody woken at night
    [d] = rows(engine, notification_deliveries, notification_deliveries.c.channel == "sms")
    morning = dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)  # 08:00 CST
    assert (d.status, d.attempts) == ("pending", 0)  # held, not failed
    assert d.next_attempt_at.replace(tzinfo=dt.UTC) == morning
    clock.set(morning - dt.timedelta(minutes=1))
    assert await service.deliver_once() == 0
    clock.set(morning)
    await drain(service)
    [d] = rows(engine, notification_deliveries, notification_deliveries.c.channel == "sms")
    assert (d.status, d.attempts) == ("delivered", 1)
    assert [p for p, _ in receiver.calls].count("/sms") == 1


def test_quiet_hours_are_checked_at_the_boundary() -> None:
    from node.domain.notifications import QuietHours

    night = QuietHours.parse("22:00-08:00")
    cst = dt.timezone(dt.timedelta(hours=8))
    assert night.until(dt.datetime(2026, 3, 2, 21, 59, tzinfo=cst)) is None
    assert night.until(dt.datetime(2026, 3, 2, 22, 0, tzinfo=cst)) == dt.datetime(
        2026, 3, 3, 8, 0, tzinfo=cst)
    assert night.until(dt.datetime(2026, 3, 3, 7, 59, tzinfo=cst)) == dt.datetime(
        2026, 3, 3, 8, 0, tzinfo=cst)
    assert night.until(dt.datetime(2026, 3, 3, 8, 0, tzinfo=cst)) is None
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.until(dt.datetime(2026, 3, 3, 12, 10, tzinfo=cst)) == dt.datetime(
        2026, 3, 3, 13, 30, tzinfo=cst)
    for bad in ("22:00", "25:00-08:00", "08:00-08:00", "night"):
        with pytest.raises(ValueError):
            QuietHours.parse(bad)


async def test_an_account_bound_to_a_unit_is_told_of_what_enters_its_queue(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    from node.app.policy import Membership, Principal, Role

    node = make_node(tmp_path, engine, clock, notify_config(receiver, enterprise_channels=[]))
    service = notify_of(node)
    accounts = node.services.accounts
    accounts.add(Principal(username="bound", role=Role.VIEWER, display_name="王"), PASSWORD)
    accounts.add_membership(STAFF["admin"], "bound",
                            Membership(unit="330522.jxj", role=Role.HANDLER))
    issues_ = node.services.issues
    issue, _ = issues_.submit(STAFF["leader"], submit_cmd())
    issues_.act(STAFF["dispatcher"], issue.id, Triage(tags=("用地",)))
    issues_.act(STAFF["dispatcher"], issue.id, Assign(department="330522.jxj"))
    await drain(service)
    told = {(m.username, m.topic) for m in rows(engine, inbox_messages)}
    assert ("bound", "assigned") in told  # a member of the unit, whatever its own role
    assert not any(u == "handler" for u, _ in told)  # 经信局's free-text member is not


async def test_a_forwarded_rating_the_owner_refused_is_told_to_the_enterprise_once(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver) -> None:
    """A rating this node forwarded up and the owner refused (a parked `rate` row of its
    transfer outbox) becomes one notice to the enterprise, texted once under one key."""
    from node.store.schema import transfers_out
    node = make_node(tmp_path, engine, clock, notify_config(receiver), accounts=False)
    service = notify_of(node)
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    await drain(service)  # the receipt
    with engine.begin() as conn:
        conn.execute(transfers_out.insert().values(
            transfer_id="t-refused", seq=1, issue_id=issue.id, kind="rate",
            destination="330500", event={}, status="refused", attempts=1,
            last_error="FAILED_PRECONDITION: illegal_transition", created_at=clock.now()))
    assert service.scan_refusals_once() == 1
    assert service.scan_refusals_once() == 0  # once per forwarded act
    [notice] = rows(engine, notifications, notifications.c.topic == "forward_refused")
    assert (notice.key, notice.groups) == ("refused:t-refused", ["enterprise"])
    await drain(service)
    texts = [b["text"] for b in receiver.accepted.values() if "评价" in b["text"]]
    assert len(texts) == 1 and issue.number in texts[0] and "诉求状态已变化" in texts[0]
