"""Enterprise sign-in by SMS code, with real parts: the node over HTTP (TestClient), the
store on SQLite and PostgreSQL, a real HTTP SMS gateway on 127.0.0.1 that the notification
dispatcher posts to (the code is read from the text it received), the fake clock for
expiry and windows. Also the staff-recorded rating of a phone revisit."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from node.app.notify import NotifyService
from node.domain.signin_codes import Counter
from node.runtime import Node, build
from node.store.schema import (
    audit_log,
    notification_deliveries,
    notifications,
    signin_codes,
    users,
)
from node.store.signin_codes import SignInCodeRecords
from tests.support.data import CODE_A, CODE_B, STAFF, make_config, submit_cmd
from tests.support.served import serving
from tests.support.sms_gateway import Gateway, sms_gateway
from tests.support.wait import until_sync

API = "/api/v1"
PASSWORD = "password123"
PHONE = "13800000001"


# --------------------------------------------------------------------------- the node


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with sms_gateway() as state:
        yield state


def make_node(tmp_path: Path, engine: Engine, clock: Any, gateway: Gateway,
              **security: Any) -> Node:
    notify = {"enabled": True, "base_url": "http://zt.test", "inbox": {"enabled": True},
              "sms": {"enabled": True, "url": gateway.url, "signature": "长兴县",
                      "timeout_s": 2}, "staff_channels": ["inbox"]}
    node = build(make_config(tmp_path, notify=notify, security=security), clock=clock,
                 engine=engine)
    for who in ("dispatcher", "leader", "handler"):
        node.services.accounts.add(STAFF[who], PASSWORD)
    return node


@pytest.fixture
def node(tmp_path: Path, engine: Engine, clock: Any, gateway: Gateway) -> Node:
    return make_node(tmp_path, engine, clock, gateway)


@pytest.fixture
def client(node: Node) -> Iterator[TestClient]:
    with TestClient(node.app) as c:
        yield c


def notify_of(node: Node) -> NotifyService:
    assert node.services.notify is not None
    return node.services.notify


async def drain(node: Node) -> None:
    service = notify_of(node)
    service.expand_once()
    await service.deliver_once()


def staff_token(client: TestClient, who: str = "dispatcher") -> dict[str, str]:
    resp = client.post(f"{API}/auth/login", json={"username": who, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def intake(client: TestClient, code: str = CODE_A, phone: str = PHONE,
           channel: str = "meeting", **extra: Any) -> dict[str, Any]:
    """An issue entered by staff at intake (政企恳谈会 by default)."""
    fields = {"meeting": ["第12期政企恳谈会", "2026-02-27"]}.get(channel)
    body = {"channel": channel, "name": "长兴甲企业有限公司", "credit_code": code,
            "contact_phone": phone, "title": "厂房扩建用地指标",
            "content": "企业计划扩建二期厂房，需新增用地指标。",
            "fields": {"meeting": fields[0], "meeting_date": fields[1]} if fields else {},
            **extra}
    resp = client.post(f"{API}/intake", json=body, headers=staff_token(client))
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def ask(client: TestClient, code: str = CODE_A) -> Response:
    resp: Response = client.post(f"{API}/auth/enterprise/code", json={"credit_code": code})
    return resp


def verify(client: TestClient, digits: str, code: str = CODE_A) -> Response:
    resp: Response = client.post(f"{API}/auth/enterprise/verify",
                                 json={"credit_code": code, "code": digits})
    return resp


def wrong(digits: str) -> str:
    return f"{(int(digits) + 1) % 1_000_000:06d}"


def error_code(resp: Response) -> str:
    return str(resp.json()["error"]["code"])


# --------------------------------------------------------------------------- the store


def test_the_store_keeps_digests_counters_and_purges(engine: Engine, clock: Any,
                                                     node: Node) -> None:
    from node.store.repo import Store
    records = SignInCodeRecords(Store(engine))
    now = clock.now()
    with records.write() as unit:
        unit.save_counter(Counter(subject="req-credit:X", window_start=now, count=1,
                                  last_at=now), existed=False)
    with records.write() as unit:
        [row] = unit.counters(["req-credit:X", "none"], for_update=True).values()
        unit.save_counter(Counter(subject=row.subject, window_start=row.window_start,
                                  count=row.count + 1, last_at=now), existed=True)
    with records.read() as unit:
        assert unit.counters(["req-credit:X"])["req-credit:X"].count == 2
        assert unit.latest_code(CODE_A) is None
        assert unit.enterprise_account(CODE_A) is None
    from node.app.ports import ConstraintViolation
    with pytest.raises(ConstraintViolation), records.write() as unit:  # a lost first insert
        unit.save_counter(Counter(subject="req-credit:X", window_start=now, count=1,
                                  last_at=now), existed=False)
    clock.advance(timedelta(hours=3))
    with records.write() as unit:
        unit.purge(clock.now())
    with records.read() as unit:
        assert unit.counters(["req-credit:X"]) == {}


# --------------------------------------------------------------------------- signing in


async def test_an_enterprise_of_a_meeting_issue_signs_in_by_sms_and_sees_it(
        node: Node, client: TestClient, gateway: Gateway, engine: Engine, clock: Any) -> None:
    issue = intake(client)  # entered by staff from a meeting: no account exists yet
    with engine.connect() as conn:
        assert conn.execute(select(users).where(users.c.credit_code == CODE_A)).first() is None
    resp = ask(client)
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"status": "sent_if_known", "expires_in": 300, "resend_after": 60}
    assert gateway.bodies == []  # never sent in the request's path
    await drain(node)
    [digits] = gateway.codes_to(PHONE)
    [sms] = gateway.codes()
    assert sms["sign_name"] == "长兴县" and "5分钟" in sms["text"]
    assert sms["key"].startswith("zt1-") and sms["id"] == sms["key"]
    with engine.connect() as conn:  # stored hashed: the digits are in no code row
        [row] = conn.execute(select(signin_codes)).all()
        assert digits not in json.dumps([str(v) for v in row])
        assert row.via == "sms" and row.phone == PHONE
    resp = verify(client, digits)
    assert resp.status_code == 200, resp.text
    session = resp.json()
    assert session["role"] == "enterprise" and session["display_name"] == "长兴甲企业有限公司"
    assert set(session) == {"access_token", "token_type", "expires_in", "role",
                            "display_name"}  # the staff login's shape
    auth = {"Authorization": f"Bearer {session['access_token']}"}
    me = client.get(f"{API}/me", headers=auth).json()
    assert (me["role"], me["credit_code"], me["username"]) == ("enterprise", CODE_A, CODE_A)
    page = client.get(f"{API}/issues", headers=auth).json()
    assert [i["number"] for i in page["items"]] == [issue["number"]]
    detail = client.get(f"{API}/issues/{issue['number']}", headers=auth)
    assert detail.status_code == 200
    urge = client.post(f"{API}/issues/{issue['number']}/urge", json={"note": "请加快"},
                       headers=auth)
    assert urge.status_code == 200, urge.text  # it may follow and urge it
    # the code is good once
    assert verify(client, digits).status_code == 401
    # a second sign-in reuses the account
    clock.advance(timedelta(seconds=61))
    assert ask(client).status_code == 202
    await drain(node)
    assert verify(client, gateway.codes_to(PHONE)[-1]).status_code == 200
    with engine.connect() as conn:
        assert len(conn.execute(select(users).where(users.c.credit_code == CODE_A)).all()) == 1
        logins = conn.execute(select(audit_log.c.action, audit_log.c.target_id,
                                     audit_log.c.outcome)
                              .where(audit_log.c.target_id == CODE_A)
                              .order_by(audit_log.c.seq)).all()
    assert [tuple(r) for r in logins] == [("account.created", CODE_A, "success"),
                                          ("login", CODE_A, "success"),
                                          ("login", CODE_A, "refused"),
                                          ("login", CODE_A, "success")]


async def test_an_unknown_credit_code_is_answered_the_same_and_nothing_is_sent(
        node: Node, client: TestClient, gateway: Gateway, engine: Engine) -> None:
    intake(client)
    known, unknown = ask(client, CODE_A), ask(client, CODE_B)
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    await drain(node)
    assert len(gateway.codes()) == 1  # only the known one's phone got a text
    with engine.connect() as conn:
        assert len(conn.execute(select(signin_codes.c.notice_id).where(
            signin_codes.c.notice_id.is_not(None))).all()) == 1
    # guessing for the unknown code: the same refusal as a wrong guess for the known one
    a, b = verify(client, "123456", CODE_A), verify(client, "123456", CODE_B)
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.status_code == 401 and error_code(a) == "unauthenticated"
    # asking again too soon: the same 429 for both
    c, d = ask(client, CODE_A), ask(client, CODE_B)
    assert (c.status_code, c.json(), c.headers["Retry-After"]) == \
        (d.status_code, d.json(), d.headers["Retry-After"])
    assert c.status_code == 429


async def test_a_code_expires(node: Node, client: TestClient, gateway: Gateway,
                              clock: Any, engine: Engine) -> None:
    intake(client)
    ask(client)
    await drain(node)
    [digits] = gateway.codes_to(PHONE)
    clock.advance(timedelta(minutes=5, seconds=1))
    resp = verify(client, digits)
    assert resp.status_code == 401
    assert resp.json()["error"]["message"]
    # the next request scrubs the expired code's digits from the outbox
    assert ask(client).status_code == 202
    with engine.connect() as conn:
        params = [r.params for r in conn.execute(
            select(notifications).where(notifications.c.topic == "sign_in_code"))]
    assert {"expired": "1"} in params and not any(digits in json.dumps(p) for p in params)


async def test_an_unsent_code_expires_unsent(node: Node, client: TestClient,
                                             gateway: Gateway, clock: Any,
                                             engine: Engine) -> None:
    intake(client)
    ask(client)
    clock.advance(timedelta(minutes=6))
    ask(client)  # purges the first: its SMS is parked, not sent late
    await drain(node)
    with engine.connect() as conn:
        statuses = sorted(r.status for r in conn.execute(select(notification_deliveries)))
    assert statuses == ["delivered", "delivered", "parked"]  # the receipt, the second code
    assert len(gateway.codes()) == 1


async def test_five_wrong_guesses_burn_the_code(node: Node, client: TestClient,
                                                gateway: Gateway) -> None:
    intake(client)
    ask(client)
    await drain(node)
    [digits] = gateway.codes_to(PHONE)
    for _ in range(5):
        assert verify(client, wrong(digits)).status_code == 401
    assert verify(client, digits).status_code == 401  # the right one, too late


async def test_wrong_guesses_per_phone_and_per_address_are_limited(
        tmp_path: Path, engine: Engine, clock: Any, gateway: Gateway) -> None:
    node = make_node(tmp_path, engine, clock, gateway, signin_failures_per_phone=3,
                     signin_failures_per_address=6, signin_code_attempts=5)
    with TestClient(node.app) as client:
        intake(client)
        ask(client)
        await drain(node)
        [digits] = gateway.codes_to(PHONE)
        for _ in range(3):
            assert verify(client, wrong(digits)).status_code == 401
        limited = verify(client, digits)  # the phone's limit: even the right code waits
        assert limited.status_code == 429 and error_code(limited) == "signin_too_many"
        assert 0 < int(limited.headers["Retry-After"]) <= 3600
        for _ in range(3):  # another credit code from the same address: 6 in all
            assert verify(client, "000000", CODE_B).status_code == 401
        blocked = verify(client, "000000", CODE_B)
        assert blocked.status_code == 429
        clock.advance(timedelta(hours=1, seconds=1))  # a new window for both
        ask(client)
        await drain(node)
        fresh = gateway.codes_to(PHONE)[-1]
        assert verify(client, fresh).status_code == 200


async def test_codes_per_credit_code_address_and_phone_are_limited(
        tmp_path: Path, engine: Engine, clock: Any, gateway: Gateway) -> None:
    node = make_node(tmp_path, engine, clock, gateway, signin_codes_per_credit_code=2,
                     signin_codes_per_phone=2, signin_codes_per_address=5,
                     signin_code_resend_s=0)
    with TestClient(node.app) as client:
        intake(client, CODE_A)
        intake(client, CODE_B)  # the same phone on record
        assert [ask(client, CODE_A).status_code for _ in range(3)] == [202, 202, 429]
        third = ask(client, CODE_B)  # the phone had its two: the same answer, no text
        assert third.status_code == 202
        await drain(node)
        assert len(gateway.codes_to(PHONE)) == 2
        ask(client, CODE_B)
        over = ask(client, CODE_B)  # 5 requests from this address in the window
        assert over.status_code == 429 and error_code(over) == "signin_too_many"


async def test_a_code_given_at_the_window_signs_in(node: Node, client: TestClient,
                                                   gateway: Gateway) -> None:
    refused = client.post(f"{API}/auth/enterprise/window-code", json={"credit_code": CODE_B},
                          headers=staff_token(client, "handler"))
    assert refused.status_code == 403
    given = client.post(f"{API}/auth/enterprise/window-code", json={"credit_code": CODE_B},
                        headers=staff_token(client))
    assert given.status_code == 201, given.text
    assert given.headers["Cache-Control"] == "no-store"
    digits = given.json()["code"]
    assert re.fullmatch(r"\d{6}", digits)
    resp = verify(client, digits, CODE_B)
    assert resp.status_code == 200, resp.text
    assert resp.json()["display_name"] == CODE_B  # no issue yet: named by its code
    with node.engine.connect() as conn:
        given_by = conn.execute(select(audit_log.c.actor).where(
            audit_log.c.action == "signin.window_code")).scalars().all()
        assert given_by == ["staff:dispatcher"]
        assert digits not in json.dumps([str(v) for v in conn.execute(select(audit_log))])
    assert gateway.codes() == []


async def test_password_logins_stay_for_staff_and_sms_accounts_have_none(
        node: Node, client: TestClient, gateway: Gateway) -> None:
    intake(client)
    ask(client)
    await drain(node)
    assert verify(client, gateway.codes_to(PHONE)[0]).status_code == 200
    staff = client.post(f"{API}/auth/login", json={"username": "leader", "password": PASSWORD})
    assert staff.status_code == 200
    guess = client.post(f"{API}/auth/login", json={"username": CODE_A,
                                                    "password": PASSWORD})
    assert guess.status_code == 401


def test_a_served_node_answers_known_and_unknown_codes_alike_and_texts_the_known(
        tmp_path: Path, gateway: Gateway) -> None:
    """Over real HTTP (the node served as in production, its dispatcher running): the
    answer for a known and an unknown credit code is the same and takes the same time
    (medians printed for the report; checked loosely: both do the same writes, the SMS is
    queued after the answer), and the dispatcher texts the known one's phone."""
    notify = {"enabled": True, "base_url": "http://zt.test", "poll_every_s": 0.2,
              "sms": {"enabled": True, "url": gateway.url, "timeout_s": 2}}
    security = {"signin_codes_per_credit_code": 1000, "signin_codes_per_phone": 1000,
                "signin_codes_per_address": 100_000, "signin_code_resend_s": 0,
                "signin_failures_per_address": 100_000, "signin_failures_per_phone": 1000}
    config = make_config(tmp_path, notify=notify, security=security)
    timings: dict[str, list[float]] = {CODE_A: [], CODE_B: []}
    with serving(config, http_port=0, auto_escalate_every_s=None,
                 reports_every_s=None) as served:
        served.services.issues.submit(STAFF["leader"], submit_cmd(CODE_A))
        base = f"http://127.0.0.1:{served.http_port}{API}"
        with httpx.Client(base_url=base, timeout=10) as http:
            answers = {code: http.post("/auth/enterprise/code", json={"credit_code": code})
                       for code in (CODE_A, CODE_B)}
            assert answers[CODE_A].status_code == answers[CODE_B].status_code == 202
            assert answers[CODE_A].content == answers[CODE_B].content
            until_sync(lambda: len(gateway.codes()) == 1, what="the known code's SMS")
            for i in range(60):
                for code in ((CODE_A, CODE_B) if i % 2 else (CODE_B, CODE_A)):
                    start = time.perf_counter()
                    resp = http.post("/auth/enterprise/code", json={"credit_code": code})
                    timings[code].append(time.perf_counter() - start)
                    assert resp.status_code == 202
            until_sync(lambda: len(gateway.codes()) == 61, what="every known code's SMS")
            guesses: dict[str, list[float]] = {CODE_A: [], CODE_B: []}
            for i in range(40):  # a wrong code: for a sent code, and for an unsent one
                for code in ((CODE_A, CODE_B) if i % 2 else (CODE_B, CODE_A)):
                    start = time.perf_counter()
                    resp = http.post("/auth/enterprise/verify",
                                     json={"credit_code": code, "code": "000000"})
                    guesses[code].append(time.perf_counter() - start)
                    assert resp.status_code == 401
    assert {b["phone"] for b in gateway.codes()} == {"13905720001"}
    known = statistics.median(timings[CODE_A]) * 1000
    unknown = statistics.median(timings[CODE_B]) * 1000
    print(f"request-code over HTTP, median of 60: known {known:.2f} ms, "
          f"unknown {unknown:.2f} ms")
    assert 0.5 < known / unknown < 2.0
    known_v = statistics.median(guesses[CODE_A]) * 1000
    unknown_v = statistics.median(guesses[CODE_B]) * 1000
    print(f"wrong code over HTTP, median of 40: known {known_v:.2f} ms, "
          f"unknown {unknown_v:.2f} ms")
    assert 0.5 < known_v / unknown_v < 2.0
