"""The JSON API as an attack surface: who may see what, hostile text, hostile bodies.

The harness is the API suite's (tests/support/api.py): a county node on its own
SQLite copy with every account logged in. "Nothing changed" is checked on the database
itself — every table's row count, the users table row by row, the list of tables — not
only through the API. The tests that drive the node on PostgreSQL (the production store)
run when its server binaries are installed, like the store suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from markupsafe import escape
from sqlalchemy import text
from starlette.types import Message

from node.runtime import Node, build
from node.store.db import make_engine
from node.web.guards import DEFAULT_MAX_BODY_BYTES
from tests.support.api import (
    API,
    PASSWORD,
    USERS,
    Api,
    Json,
    Template,
    assert_error,
    error_fields,
    pool_unchanged,
    unchanged,
)
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, HOSTILE, make_config, submit_body
from tests.support.db import all_rows, schema_tables, table_counts
from tests.support.pg import fresh_database
from tests.support.served import serving

UNKNOWN = "330522-2026-000999"
SECRETS = ("甲企业有限公司", CODE_A, "13905720001", "厂区扩建项目用地指标审批已两个月")


def raw(api: Api, who: str | None, method: str, path: str, content: bytes,
        content_type: str | None = "application/json", **headers: str) -> Response:
    """A request with a body exactly as given (bytes, any content type)."""
    all_headers = {**api.headers(who), **headers}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    resp: Response = api.client.request(method, f"{API}{path}", content=content,
                                        headers=all_headers)
    return resp


def assert_json_refusal(resp: Response, *statuses: int) -> Json:
    """A 4xx with the product's JSON error body (and not an echo of a huge input)."""
    assert resp.status_code in statuses, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/json")
    error: Json = resp.json()["error"]
    assert error["code"] and error["message"] and error["message_en"]
    assert len(resp.content) < 20_000
    return error


@pytest.fixture
def db(api_node: Node) -> Callable[[], tuple[dict[str, int], list[tuple[Any, ...]]]]:
    """The database as a refused request must leave it: table sizes and the accounts."""
    return lambda: (table_counts(api_node.engine), all_rows(api_node.engine, "users"))


# --------------------------------------------------------------------------- isolation

#: Everything an enterprise could try on an issue, with a body that would be valid.
ISSUE_REQUESTS: list[tuple[str, str, Json | None]] = [
    ("GET", "", None),
    ("POST", "/urge", {"note": "请尽快"}),
    ("POST", "/rate", {"rating": "satisfied", "comment": "满意"}),
    ("POST", "/rate", {"rating": "unsatisfied", "comment": "不满意"}),
    ("POST", "/close", {}),
    ("POST", "/triage", {"tags": ["越权"]}),
    ("POST", "/escalate", {"reason": "越权上报"}),
    ("POST", "/return", {"instructions": "越权退回"}),
    ("POST", "/supervise", {"kind": "urge"}),
    ("POST", "/dispatch", {"to": "330523", "instructions": "越权交办"}),
    ("POST", "/revisit", {"result": "satisfied"}),
]


def test_an_enterprise_cannot_reach_another_enterprises_issue(api: Api, db: Any) -> None:
    issue = api.resolved(api.submit()["id"])  # resolved: ent_a itself could rate or urge
    before = db()
    for key in (issue["id"], issue["number"]):
        with unchanged(api, issue["id"]):
            for method, suffix, body in ISSUE_REQUESTS:
                theirs = api.send(method, f"/issues/{key}{suffix}", body,
                                  headers=api.headers("ent_b"))
                nothing = api.send(method, f"/issues/{UNKNOWN}{suffix}", body,
                                   headers=api.headers("ent_b"))
                # Exactly the answer for an issue that does not exist (node/app/policy.py
                # check_can_view): numbers are sequential, and a 403 would confirm to
                # another enterprise that the issue exists.
                assert theirs.status_code in (403, 404, 409), (suffix, theirs.text)
                assert theirs.status_code == nothing.status_code, suffix
                assert theirs.text == nothing.text.replace(UNKNOWN, key), suffix
                assert not any(s in theirs.text for s in SECRETS), suffix
    # not through the pool, nor its search
    for params in ({}, {"q": "用地"}, {"q": CODE_A}, {"q": issue["number"]}):
        assert api.pool("ent_b", **params)["total"] == 0
    assert db() == before
    # ent_a itself still can
    assert api.act("ent_a", issue["id"], "rate", rating="satisfied")["state"] == "closed"


def test_an_enterprise_cannot_submit_as_another(api: Api, db: Any) -> None:
    before = db()
    details = assert_error(api.post("ent_b", "/issues", submit_body(CODE_A)), 422,
                           "invalid_input")
    assert details["field"] == "credit_code"
    assert db() == before


def test_a_viewer_reaches_no_personal_data(api: Api, clock: FakeClock, db: Any) -> None:
    overdue = api.submit(tags=["用地"])
    api.triaged(api.submit()["id"])
    escalated = api.submit()["id"]
    assert api.action("leader", escalated, "escalate", reason="需要市级协调").status_code == 202
    clock.advance(timedelta(days=5))  # the first issue's dispatch deadline has passed: red
    before = db()
    with unchanged(api, overdue["id"]):
        for path in ("/issues", f"/issues/{overdue['id']}", f"/issues/{overdue['number']}",
                     f"/issues?q={urllib.parse.quote('甲企业')}"):
            assert_error(api.get("viewer", path), 403, "forbidden")
        for method, suffix, body in ISSUE_REQUESTS[1:]:
            resp = api.send(method, f"/issues/{overdue['id']}{suffix}", body,
                            headers=api.headers("viewer"))
            # 409 only for a dispatch to a unit that is not a child, whoever asks
            assert_json_refusal(resp, 403, *((409,) if suffix == "/dispatch" else ()))
    summary = api.get("viewer", "/summary")
    assert summary.status_code == 200
    body = summary.json()
    # not vacuous: the overdue issue is there, by number and title only
    assert body["total"] == 3
    assert overdue["number"] in [o["number"] for o in body["overdue"]]
    seen = {"summary": body}
    sample = api.post("leader", "/revisit-samples", {"period": "2026-03", "share": 1})
    assert sample.status_code == 201, sample.text
    sample_path = f"/revisit-samples/{sample.json()['id']}"
    for path in ("/metrics", "/federation/outbox", "/me", sample_path):
        resp = api.get("viewer", path)
        assert resp.status_code == 200, path
        seen[path] = resp.json()
    exposition = api.client.get("/metrics").text  # Prometheus, no login
    for name, value in {**seen, "prometheus": exposition}.items():
        dumped = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in dumped, (name, secret)
    assert db()[1] == before[1]  # only the sample was added
    assert {k: v for k, v in db()[0].items() if k != "revisit_samples"} == {
        k: v for k, v in before[0].items() if k != "revisit_samples"}


# --------------------------------------------------------------------------- hostile text


def _clip(value: str, n: int) -> str:
    return value[:n].strip()


@pytest.mark.parametrize("h", HOSTILE)
def test_hostile_text_in_every_field_is_stored_verbatim(
    api: Api, api_node: Node, h: str
) -> None:
    tables, users = schema_tables(api_node.engine), all_rows(api_node.engine, "users")
    h30, h60 = _clip(h, 30), _clip(h, 60)
    body = submit_body(enterprise_name=h, title=h, content=h, tags=[h30],
                       channel="hotline_12345")
    first = api.post("dispatcher", "/issues", body, **{"Idempotency-Key": h})
    assert first.status_code == 201, first.text
    key = first.json()["id"]
    again = api.post("dispatcher", "/issues", body, **{"Idempotency-Key": h})
    assert (again.status_code, again.json()["id"]) == (200, key)
    assert h not in first.headers.values()  # nothing of the key is echoed in headers

    steps: list[tuple[str, str, Json]] = [
        ("dispatcher", "triage", {"tags": [h30], "board": h60, "note": h}),
        ("dispatcher", "assign", {"department": h60, "board": h60, "note": h}),
        ("leader", "start", {"note": h}),
        ("leader", "ladder", {"note": h}),
        ("leader", "urge", {"note": h}),
        ("leader", "resolve", {"reply": h}),
        ("ent_a", "rate", {"rating": "unsatisfied", "comment": h}),
        ("leader", "reject", {"reason": h}),
        ("admin", "review", {"decision": "overturn", "comment": h}),  # four eyes
        ("leader", "assign", {"department": h60, "note": h}),
        ("leader", "start", {"note": h}),
        ("leader", "resolve", {"reply": h}),
        ("leader", "close", {"note": h}),
        ("leader", "revisit", {"result": "unreachable", "note": h}),
    ]
    for who, action, payload in steps:
        resp = api.action(who, key, action, **payload)
        assert resp.status_code == 200, (action, resp.text)
        assert resp.headers["content-type"] == "application/json"

    other = api.submit()["id"]  # refused or queued federation requests, with the text
    with unchanged(api, other):
        for action, payload, status in (
            ("return", {"instructions": h}, 409),
            ("supervise", {"note": h}, 409),
            ("dispatch", {"to": "330523", "instructions": h}, 409),
            ("dispatch", {"to": h[:6].ljust(6, "x"), "instructions": h}, 409),
        ):
            assert_json_refusal(api.action("leader", other, action, **payload), status)
    assert api.action("leader", other, "escalate", reason=h).status_code == 202
    assert_json_refusal(api.post("leader", "/revisit-samples", {"period": h}), 422)
    assert_json_refusal(api.send("POST", "/auth/login",
                                 {"username": h[:40], "password": h}), 401)
    assert_json_refusal(api.get("leader", f"/issues/{urllib.parse.quote(h, safe='')}"), 404)

    # every filter takes the text literally; the full-text search finds it by its words
    # (a text of punctuation only has none: it finds nothing, and never everything)
    words = any(ch.isalnum() for ch in h)
    assert api.pool_ids(q=h) == ([key] if words else [])
    for params in ({"tag": h30}, {"board": h60}, {"department": h60}):
        assert api.pool_ids(**params) == [key], params

    stored = api.issue(key)
    assert (stored["title"], stored["content"], stored["enterprise"]["name"]) == (h, h, h)
    assert (stored["tags"], stored["board"], stored["department"]) == ([h30], h60, h60)
    assert (stored["reply"], stored["rating_comment"], stored["state"]) == (h, h, "closed")
    notes = {(e["kind"], k): v for e in stored["timeline"] for k, v in e["payload"].items()
             if k in ("note", "reason", "comment", "reply")}
    assert set(notes.values()) == {h}
    assert len(notes) >= 10
    seen_by_enterprise = api.issue(key, who="ent_a")
    assert seen_by_enterprise["reply"] == h and seen_by_enterprise["title"] == h

    # nothing executed: the same tables, the same accounts, an intact database
    assert schema_tables(api_node.engine) == tables
    assert all_rows(api_node.engine, "users") == users
    assert api.pool()["total"] == 2
    with api_node.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"


def test_search_wildcards_are_literal(api: Api) -> None:
    percent = api.submit(title="完成率 100% 的问题")["id"]
    underscore = api.submit(title="文件名 a_b 的问题")["id"]
    plain = api.submit(title="普通问题")["id"]
    # the full-text search looks for words (punctuation is none): a LIKE wildcard never
    # matches everything, and what is around it is found as text
    assert api.pool_ids(q="%") == api.pool_ids(q="_") == api.pool_ids(q="\\") == []
    assert api.pool_ids(q="100%") == [percent]
    assert api.pool_ids(q="a_b") == [underscore]
    assert set(api.pool_ids(q="问题")) == {percent, underscore, plain}


# (action, state the issue must be in first, the body's text fields)
TEXT_FIELDS: list[tuple[str, str, Json]] = [
    ("triage", "received", {"tags": ["标签"], "board": "工业板块", "note": "说明"}),
    ("assign", "triaged", {"department": "经信局", "board": "工业板块", "note": "说明"}),
    ("start", "assigned", {"note": "说明"}),
    ("resolve", "in_progress", {"reply": "答复"}),
    ("reject", "received", {"reason": "理由"}),
    ("ladder", "triaged", {"note": "说明"}),
    ("urge", "received", {"note": "说明"}),
    ("close", "resolved", {"note": "说明"}),
    ("revisit", "resolved", {"result": "satisfied", "note": "说明"}),
    ("rate", "resolved", {"rating": "satisfied", "comment": "评价"}),
    ("escalate", "received", {"reason": "理由"}),
]
CONTROL = ["\x00", "\x1b[31m", "\x7f", "\ud800"]


def _in_state(api: Api, state: str) -> str:
    key: str = api.submit()["id"]
    steps: dict[str, Callable[[str], Json]] = {
        "received": lambda k: {}, "triaged": api.triaged, "assigned": api.assigned,
        "in_progress": api.in_progress, "resolved": api.resolved,
    }
    steps[state](key)
    return key


def _cases() -> Iterator[Any]:
    for action, state, body in TEXT_FIELDS:
        for field in body:
            if field in ("result", "rating"):
                continue
            yield pytest.param(action, state, body, field, id=f"{action}-{field}")


@pytest.mark.parametrize(("action", "state", "body", "field"), list(_cases()))
def test_control_characters_in_any_action_text_are_refused(
    api: Api, db: Any, action: str, state: str, body: Json, field: str
) -> None:
    key = _in_state(api, state)
    who = "ent_a" if action == "rate" else "leader"
    before = db()
    with unchanged(api, key):
        for bad in CONTROL:
            value = [f"坏{bad}"] if field == "tags" else f"坏{bad}"
            resp = raw(api, who, "POST", f"/issues/{key}/{action}",
                       json.dumps({**body, field: value}).encode())
            assert_json_refusal(resp, 422)
    assert db() == before


@pytest.mark.parametrize("field", ["enterprise_name", "title", "content", "tags"])
def test_control_characters_in_a_submission_are_refused(api: Api, db: Any, field: str) -> None:
    before = db()
    for bad in CONTROL:
        value: Any = [f"坏{bad}"] if field == "tags" else f"坏{bad}"
        resp = raw(api, "ent_a", "POST", "/issues",
                   json.dumps(submit_body(**{field: value})).encode())
        assert_json_refusal(resp, 422)
    assert db() == before


# --------------------------------------------------------------------------- bodies

FIVE_MB = 5 * 1024 * 1024
LIMIT = DEFAULT_MAX_BODY_BYTES  # the test node's limit: the default (1 MiB)


@pytest.mark.parametrize("body", [
    pytest.param(submit_body(title="题" * (FIVE_MB // 3)), id="title"),
    pytest.param(submit_body(content="长" * (FIVE_MB // 3)), id="content"),
    pytest.param(submit_body(tags=["标签"] * (FIVE_MB // 8)), id="tags"),
    pytest.param({**submit_body(), "padding": "x" * FIVE_MB}, id="unknown-field"),
    pytest.param(submit_body(enterprise_name=["甲"] * (FIVE_MB // 6)), id="wrong-type"),
])
def test_a_five_megabyte_submission_is_refused(api: Api, db: Any, body: Json) -> None:
    before = db()
    content = json.dumps(body, ensure_ascii=False).encode()
    assert len(content) >= FIVE_MB
    assert_json_refusal(raw(api, "ent_a", "POST", "/issues", content), 413, 422)
    assert db() == before


def test_a_five_megabyte_action_body_is_refused(api: Api, db: Any) -> None:
    key = api.submit()["id"]
    before = db()
    with unchanged(api, key):
        for action, field in (("urge", "note"), ("reject", "reason"), ("triage", "tags")):
            value: Any = ["x"] * (FIVE_MB // 6) if field == "tags" else "x" * FIVE_MB
            resp = raw(api, "leader", "POST", f"/issues/{key}/{action}",
                       json.dumps({field: value}).encode())
            assert_json_refusal(resp, 413, 422)
    assert db() == before


def test_an_oversized_body_is_refused_whatever_it_holds(api: Api, db: Any) -> None:
    before = db()
    content = json.dumps(submit_body()).encode()
    padded = content[:-1] + b" " * FIVE_MB + b"}"
    error = assert_json_refusal(raw(api, "ent_a", "POST", "/issues", padded), 413)
    assert error["code"] == "body_too_large"
    assert error["details"] == {"max_bytes": LIMIT}
    assert db() == before


def _padded(size: int) -> bytes:
    """A valid submission, whitespace-padded to exactly `size` bytes."""
    content = json.dumps(submit_body()).encode()
    return content[:-1] + b" " * (size - len(content)) + b"}"


def test_a_body_of_exactly_the_limit_is_accepted_one_byte_more_is_not(
    api: Api, db: Any
) -> None:
    before = db()
    over = raw(api, "ent_a", "POST", "/issues", _padded(LIMIT + 1))
    assert assert_json_refusal(over, 413)["code"] == "body_too_large"
    assert over.headers["connection"] == "close"  # the rest of the body is never read
    assert db() == before
    at = raw(api, "ent_a", "POST", "/issues", _padded(LIMIT))
    assert at.status_code == 201, at.text
    assert api.pool()["total"] == 1


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    content = _padded(total)
    for i in range(0, len(content), size):
        yield content[i:i + size]


@pytest.mark.parametrize(("what", "content", "headers"), [
    pytest.param("chunked", lambda: _chunks(2 * LIMIT), {}, id="chunked-no-length"),
    # declared small, sent large: the bytes received count, not the claim
    pytest.param("lie", lambda: _padded(2 * LIMIT), {"Content-Length": "100"},
                 id="content-length-lie"),
    # declared large: refused up front, whatever follows
    pytest.param("claim", lambda: _padded(1000), {"Content-Length": str(100 * LIMIT)},
                 id="content-length-claim"),
])
def test_an_oversized_body_is_refused_however_it_is_sent(
    api: Api, db: Any, what: str, content: Callable[[], Any], headers: dict[str, str]
) -> None:
    key = api.submit()["id"]
    before = db()
    with unchanged(api, key):
        for path in ("/issues", f"/issues/{key}/triage", "/auth/login"):
            body = content()
            resp = api.client.post(f"{API}{path}", content=body, headers={
                **api.headers("leader"), "Content-Type": "application/json", **headers})
            assert assert_json_refusal(resp, 413)["code"] == "body_too_large", (what, path)
            if what == "chunked":
                assert "content-length" not in resp.request.headers
                assert resp.request.headers["transfer-encoding"] == "chunked"
    assert db() == before


def _asgi_request(path: str, headers: dict[str, str], chunks: Iterator[bytes],
                  app: Any) -> tuple[int, bytes, int]:
    """Drive the app at the ASGI level with a body delivered chunk by chunk: the status,
    the response body and how many chunks the app pulled."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": f"{API}{path}", "raw_path": f"{API}{path}".encode(),
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


def test_a_streamed_body_is_cut_off_as_soon_as_it_crosses_the_limit(
    api: Api, api_node: Node, db: Any
) -> None:
    """An endless chunked body: the app stops pulling right after the limit is crossed."""
    before = db()
    chunk = 64 * 1024
    endless = itertools.chain([json.dumps(submit_body()).encode()[:-1]],
                              itertools.repeat(b" " * chunk))
    status, body, pulled = _asgi_request(
        "/issues", {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                    **api.headers("ent_a")}, endless, api_node.app)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "body_too_large"
    assert pulled <= LIMIT // chunk + 2
    # a declared length over the limit: nothing is pulled at all
    status, body, pulled = _asgi_request(
        "/issues", {"Content-Type": "application/json", "Content-Length": str(LIMIT + 1),
                    **api.headers("ent_a")}, iter([_padded(LIMIT + 1)]), api_node.app)
    assert (status, pulled) == (413, 0)
    assert json.loads(body)["error"]["code"] == "body_too_large"
    assert db() == before


@pytest.fixture
def server(api_node: Node) -> Iterator[tuple[str, int]]:
    """The node on a loopback port, run as `zhitong node run` runs it (its database and
    signing key: the session's tokens hold)."""
    with serving(api_node.config, clock=api_node.services.issues.clock,
                 engine=api_node.engine, http_port=0) as node:
        yield "127.0.0.1", node.http_port


def _http_exchange(address: tuple[str, int], head: bytes, body: Iterator[bytes]) -> bytes:
    """Send a request head and body pieces over a socket; the bytes the server answered."""
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for piece in body:
                conn.sendall(piece)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                answer += chunk
        return answer


def test_a_real_server_refuses_oversized_bodies(
    server: tuple[str, int], api: Api, db: Any
) -> None:
    before = db()
    head = (f"POST {API}/issues HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
            f"Authorization: {api.headers('ent_a')['Authorization']}\r\n")
    # a declared length over the limit: answered without a byte of the body being sent
    answer = _http_exchange(server, f"{head}Content-Length: {FIVE_MB}\r\n\r\n".encode(),
                            iter(()))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"code":"body_too_large"' in answer
    # chunked: cut off once the limit is crossed
    chunked = (f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in _chunks(2 * LIMIT))
    answer = _http_exchange(server, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(),
                            itertools.chain(chunked, [b"0\r\n\r\n"]))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"code":"body_too_large"' in answer
    assert db() == before
    # and a body under the limit goes through the same way
    ok = _http_exchange(server, f"{head}Transfer-Encoding: chunked\r\nConnection: close"
                        "\r\n\r\n".encode(),
                        itertools.chain((f"{len(c):x}\r\n".encode() + c + b"\r\n"
                                         for c in _chunks(LIMIT // 2)), [b"0\r\n\r\n"]))
    assert ok.startswith(b"HTTP/1.1 201 "), ok[:300]


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b'{"title": "a",}', id="trailing-comma"),
    pytest.param(b"{'title': 'a'}", id="single-quotes"),
    pytest.param(b"[]", id="array"),
    pytest.param(b"null", id="null"),
    pytest.param(b'"a string"', id="string"),
    pytest.param(b"12345", id="number"),
    pytest.param(b'{"title": NaN}', id="nan"),
    pytest.param(b"\xff\xfe\x00{", id="not-utf8"),
    pytest.param(b'{"title": "\\ud800"}', id="lone-surrogate"),
    pytest.param(b"{" * 100_000, id="deeply-nested-open"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
    pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="deeply-nested-objects"),
])
def test_malformed_json_is_refused(api: Api, db: Any, content: bytes) -> None:
    key = api.submit()["id"]
    before = db()
    with unchanged(api, key):
        assert_json_refusal(raw(api, "ent_a", "POST", "/issues", content), 400, 422)
        assert_json_refusal(raw(api, "leader", "POST", f"/issues/{key}/triage", content),
                            400, 422)
        assert_json_refusal(raw(api, None, "POST", "/auth/login", content), 400, 422)
    assert db() == before


@pytest.mark.parametrize(("content_type", "content"), [
    pytest.param("text/plain", None, id="text-plain"),
    pytest.param("application/x-www-form-urlencoded", None, id="form-with-json"),
    pytest.param("application/x-www-form-urlencoded",
                 urllib.parse.urlencode(submit_body()).encode(), id="form"),
    pytest.param("multipart/form-data; boundary=zz",
                 b'--zz\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--zz--\r\n',
                 id="multipart"),
    pytest.param("application/xml", b"<issue><title>x</title></issue>", id="xml"),
    pytest.param("text/html", b"<script>alert(1)</script>", id="html"),
])
def test_a_wrong_content_type_is_refused(
    api: Api, db: Any, content_type: str, content: bytes | None
) -> None:
    before = db()
    body = content if content is not None else json.dumps(submit_body()).encode()
    with pool_unchanged(api):
        assert_json_refusal(raw(api, "ent_a", "POST", "/issues", body, content_type), 415, 422)
    assert db() == before


@pytest.mark.parametrize("key", [
    pytest.param("k" * 81, id="too-long"),
    pytest.param("   ", id="blank"),
    pytest.param("a\x01b", id="control-char"),
    pytest.param("a\x7fb", id="delete-char"),
])
def test_a_bad_idempotency_key_is_refused(api: Api, db: Any, key: str) -> None:
    before = db()
    resp = api.client.post(f"{API}/issues", json=submit_body(),
                           headers={**api.headers("ent_a"), "Idempotency-Key": key})
    assert_json_refusal(resp, 422)
    assert db() == before


def test_idempotency_keys_are_data_not_code(api: Api, api_node: Node) -> None:
    ids = set()
    keys = ("'; DROP TABLE submissions; --", "k\tk", "<script>", "%00", "*",
            "k\r\nX-Injected: 1")  # header injection: it stays one value, never a header
    for key in keys:
        headers = {**api.headers("ent_a"), "Idempotency-Key": key}
        first = api.client.post(f"{API}/issues", json=submit_body(), headers=headers)
        again = api.client.post(f"{API}/issues", json=submit_body(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 200), key
        assert first.json()["id"] == again.json()["id"]
        assert "x-injected" not in first.headers and "x-injected" not in again.headers
        ids.add(first.json()["id"])
    assert len(ids) == len(keys)
    assert "submissions" in schema_tables(api_node.engine)


# --------------------------------------------------------------------------- NUL bytes


@pytest.fixture
def backend_api(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                clock: FakeClock) -> Iterator[Api]:
    """The API on SQLite or on PostgreSQL, answering 500s instead of raising them."""
    if backend == "sqlite":
        node: Node = request.getfixturevalue("api_node")
        template: Template = request.getfixturevalue("api_template")
        with TestClient(node.app, raise_server_exceptions=False) as client:
            yield Api(client, template.tokens)
        return
    url = fresh_database(request.getfixturevalue("pg_admin_url"))
    engine = make_engine(url)
    try:
        node = build(make_config(tmp_path), clock=clock, engine=engine)
        with TestClient(node.app, raise_server_exceptions=False) as client:
            tokens = {}
            for who in ("leader", "ent_a"):
                node.services.accounts.add(USERS[who], PASSWORD)
                login = client.post(f"{API}/auth/login",
                                    json={"username": USERS[who].username,
                                          "password": PASSWORD})
                tokens[who] = login.json()["access_token"]
            yield Api(client, tokens)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
])
def test_nul_characters_anywhere_are_a_clear_refusal(backend_api: Api) -> None:
    """PostgreSQL cannot hold NUL in text (psycopg refuses it): every such request must be
    refused before the store sees it, never a 500, on either backend alike."""
    api = backend_api
    key = api.submit()["id"]
    requests: list[tuple[str, Callable[[], Response]]] = [
        ("login", lambda: api.send("POST", "/auth/login",
                                   {"username": "lea\x00der", "password": PASSWORD})),
        ("idempotency", lambda: api.client.post(
            f"{API}/issues", json=submit_body(),
            headers={**api.headers("ent_a"), "Idempotency-Key": "a\x00b"})),
        *[(name, lambda name=name: api.get("leader", "/issues", **{name: "a\x00b"}))
          for name in ("q", "tag", "board", "department")],
        ("key", lambda: api.get("leader", "/issues/330522-2026-00%00001")),
        ("key-action", lambda: api.action("leader", "330522%00", "urge")),
        ("enterprise-key", lambda: api.get("ent_a", f"/issues/{key}%00")),
    ]
    answers = {name: call() for name, call in requests}
    failures = {name: (r.status_code, r.text[:80]) for name, r in answers.items()
                if r.status_code >= 500 or not r.headers["content-type"].startswith(
                    "application/json")}
    assert failures == {}
    assert {name: r.status_code for name, r in answers.items()} == {
        "login": 422, "idempotency": 422, "q": 422, "tag": 422, "board": 422,
        "department": 422, "key": 404, "key-action": 404, "enterprise-key": 404}
    assert api.pool()["total"] == 1


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_a_url_are_refused_before_anything_runs(
    api: Api, db: Any, bad: str
) -> None:
    key = api.submit()["id"]
    quoted = urllib.parse.quote(bad)
    before = db()
    with unchanged(api, key):
        for name in ("q", "tag", "board", "department", "light", "limit"):
            resp = api.get("leader", "/issues", **{name: f"a{bad}b"})
            error = assert_json_refusal(resp, 422)
            assert (error["code"], error["details"]["field"]) == ("invalid_input", name)
            assert bad not in resp.text
        # a key that cannot exist: the answer to any unknown path, without the key in it
        for path in (f"/issues/{key}{quoted}", f"/issues/{quoted}", f"/issues/{key}{quoted}/x",
                     f"/revisit-samples/1{quoted}", f"/no-such{quoted}"):
            for who in ("leader", "ent_a", None):
                resp = api.get(who, path)
                assert assert_error(resp, 404, "not_found") == {}, (path, who)
                assert bad not in resp.text
        for method, suffix, body in ISSUE_REQUESTS:
            resp = api.send(method, f"/issues/{key}{quoted}{suffix}", body,
                            headers=api.headers("leader"))
            assert_error(resp, 404, "not_found")
    assert db() == before
    # and the same texts without the control character are fine
    assert api.pool(q="a b")["total"] == 0
    assert api.get("leader", "/issues", q="a\tb\nc").status_code == 200


def test_control_characters_in_a_login_are_refused(api: Api, db: Any) -> None:
    before = db()
    for field in ("username", "password"):
        for bad in CONTROL:
            body = {"username": "leader", "password": PASSWORD, field: f"lea{bad}der"}
            resp = raw(api, None, "POST", "/auth/login", json.dumps(body).encode())
            error = assert_json_refusal(resp, 422)
            assert field in error_fields(error["details"]), (field, bad, error)
    assert db() == before
    assert api.login("leader", PASSWORD).status_code == 200


# --------------------------------------------------------------------------- screens


@pytest.mark.parametrize("h", HOSTILE[:3])
def test_a_key_reflected_in_a_screen_is_escaped(api: Api, h: str) -> None:
    for screen in ("portal", "workbench"):
        resp = api.client.get(f"/ui/{screen}/issues/{urllib.parse.quote(h, safe='')}")
        if resp.status_code == 404:  # a "/" in the key: no such screen, a JSON 404
            assert_json_refusal(resp, 404)
            continue
        assert resp.status_code == 200
        assert h not in resp.text and str(escape(h)) in resp.text
        assert "script-src 'self'" in resp.headers["content-security-policy"]


def test_tokens_do_not_cross_enterprises(api: Api) -> None:
    """A token names its account; nothing in a request can widen what it may see."""
    key = api.submit()["id"]
    for header in ({"X-Credit-Code": CODE_A}, {"X-Forwarded-User": "ent_a"},
                   {"X-Role": "admin"}):
        resp = api.client.get(f"{API}/issues/{key}",
                              headers={**api.headers("ent_b"), **header})
        assert_error(resp, 404, "not_found")
    resp = api.client.get(f"{API}/issues", params={"credit_code": CODE_A},
                          headers=api.headers("ent_b"))
    assert resp.status_code == 200 and resp.json()["total"] == 0
    assert CODE_B != CODE_A
