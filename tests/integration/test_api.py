"""The JSON API under /api/v1, end to end through HTTP (FastAPI TestClient, SQLite store).

Every refusal is checked three ways: the status code, the stable error `code` of the body
{"error": {"code", "message", "message_en", "details"}}, and that nothing was written (the
issue's version, state and timeline length, or the pool total for submissions, are the
same before and after). Time only moves through the FakeClock; nothing sleeps.

The default clock starts on Monday 2026-03-02 09:00 CST. With the default policy a new
issue's dispatch deadline is the end (24:00 CST) of the 2nd working day after the day of
receipt, i.e. Wednesday 2026-03-04 24:00 CST = 16:00 UTC.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from node.app.auth import TokenSigner
from node.app.policy import Principal
from node.app.service import IssueService
from node.config import ConfigError
from node.domain.sampling import RevisitSample, verify_revisit_sample
from node.runtime import Node, build
from node.store.db import make_engine
from node.web.api import create_app
from node.web.guards import DEFAULT_MAX_BODY_BYTES
from tests.support.api import (
    API,
    PASSWORD,
    Api,
    Json,
    Template,
    assert_error,
    error_fields,
    pool_unchanged,
    unchanged,
)
from tests.support.clock import FakeClock
from tests.support.data import (
    CODE_A,
    CODE_B,
    make_config,
    submit_body,
)

NUMBER_1 = "330522-2026-000001"
DISPATCH_DUE = datetime.fromisoformat("2026-03-04T16:00:00+00:00")  # Wed 24:00 CST


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- 1 closed loop


def test_full_closed_loop(api: Api) -> None:
    resp = api.post("ent_a", "/issues", submit_body())
    assert resp.status_code == 201, resp.text
    issue = resp.json()
    key = issue["id"]
    assert resp.headers["location"] == f"{API}/issues/{key}"
    assert issue["number"] == NUMBER_1
    assert key.startswith("330522-")
    assert (issue["state"], issue["light"], issue["version"]) == ("received", "green", 1)
    assert issue["deadline"]["kind"] == "dispatch"
    assert parse_ts(issue["deadline"]["due"]) == DISPATCH_DUE
    assert issue["enterprise"]["credit_code"] == CODE_A
    assert issue["owner"] == issue["origin"] == "330522"

    issue = api.act("dispatcher", key, "triage", tags=["用地", "审批"], board="工业板块")
    assert (issue["state"], issue["tags"], issue["board"]) == (
        "triaged", ["用地", "审批"], "工业板块"
    )
    issue = api.act("dispatcher", key, "assign", department="经信局", note="请尽快办理")
    assert (issue["state"], issue["department"]) == ("assigned", "经信局")
    assert issue["board"] == "工业板块"
    assert issue["deadline"]["kind"] == "resolve"
    issue = api.act("handler", key, "start")
    assert issue["state"] == "in_progress"
    reply = "已协调自然资源局，用地指标本周内下达。"
    issue = api.act("handler", key, "resolve", reply=reply)
    assert (issue["state"], issue["reply"], issue["deadline"], issue["light"]) == (
        "resolved", reply, None, None
    )
    assert issue["resolved_at"] is not None
    issue = api.act("ent_a", key, "rate", rating="satisfied", comment="感谢")
    assert (issue["state"], issue["outcome"], issue["rating"]) == (
        "closed", "resolved", "satisfied"
    )
    assert issue["closed_at"] is not None
    assert issue["allowed_actions"] == []

    by_id = api.issue(key)
    by_number = api.issue(NUMBER_1)
    assert by_id == by_number
    timeline = by_id["timeline"]
    assert [e["kind"] for e in timeline] == [
        "submitted", "triage", "assign", "start", "resolve", "accept"
    ]
    assert [e["version"] for e in timeline] == list(range(1, 7))
    assert by_id["version"] == 6
    seqs = [e["seq"] for e in timeline]
    assert seqs == sorted(set(seqs))
    assert [e["actor"] for e in timeline] == [
        f"enterprise:{CODE_A}", "staff:dispatcher", "staff:dispatcher",
        "staff:handler", "staff:handler", f"enterprise:{CODE_A}",
    ]
    assert all(e["event_id"] == f"{key}@{e['version']}" for e in timeline)
    # The enterprise reads its own issue, by number too.
    assert api.issue(NUMBER_1, who="ent_a")["state"] == "closed"


def test_login_and_me(api: Api) -> None:
    resp = api.login("handler", PASSWORD)
    assert resp.status_code == 200
    token = resp.json()
    assert (token["token_type"], token["role"], token["display_name"]) == (
        "bearer", "handler", "承办"
    )
    assert token["expires_in"] > 0
    me = api.send(
        "GET", "/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert (me["username"], me["department"], me["node"]) == ("handler", "经信局", "330522")


# --------------------------------------------------------------------------- 2 reopen


def test_unsatisfied_rating_reopens_and_loops_again(api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    issue = api.act("ent_a", key, "rate", rating="unsatisfied", comment="没有解决")
    assert (issue["state"], issue["reopen_count"], issue["rating"]) == (
        "reopened", 1, "unsatisfied"
    )
    assert issue["deadline"]["kind"] == "dispatch"
    assert issue["outcome"] is None

    issue = api.act("dispatcher", key, "triage", tags=["用地"])
    assert issue["state"] == "triaged"
    issue = api.act("dispatcher", key, "assign", department="经信局")
    assert (issue["state"], issue["deadline"]["kind"]) == ("assigned", "resolve")
    api.act("handler", key, "start")
    api.act("handler", key, "resolve", reply="二次办理：已落实。")
    issue = api.act("ent_a", key, "rate", rating="basically_satisfied")
    assert (issue["state"], issue["outcome"], issue["reopen_count"]) == ("closed", "resolved", 1)
    assert [e["version"] for e in api.issue(key)["timeline"]] == list(range(1, 12))


# --------------------------------------------------------------------------- 3 rejection


@pytest.mark.parametrize("body", [{}, {"reason": "   "}], ids=["missing", "blank"])
def test_reject_needs_a_reason(api: Api, body: Json) -> None:
    key = api.submit()["id"]
    with unchanged(api, key):
        details = assert_error(api.action("dispatcher", key, "reject", **body), 422,
                               "invalid_input")
    assert "reason" in error_fields(details)


def _rejected(api: Api) -> str:
    key: str = api.submit()["id"]
    issue = api.act("dispatcher", key, "reject", reason="不属于涉企问题受理范围")
    assert (issue["state"], issue["rejection_reason"]) == ("rejected", "不属于涉企问题受理范围")
    assert issue["deadline"]["kind"] == "review"
    return key


def test_rejection_confirmed_by_leader_closes(api: Api) -> None:
    key = _rejected(api)
    with unchanged(api, key):
        details = assert_error(
            api.action("dispatcher", key, "review", decision="confirm"), 403, "forbidden"
        )
    assert details["permission"] == "confirm_rejection"
    issue = api.act("leader", key, "review", decision="confirm", comment="同意")
    assert (issue["state"], issue["outcome"], issue["deadline"]) == ("closed", "rejected", None)
    assert issue["closed_at"] is not None


def test_rejection_overturned_by_leader_goes_back_to_triage(api: Api) -> None:
    key = _rejected(api)
    with unchanged(api, key):
        assert_error(api.action("dispatcher", key, "review", decision="overturn"), 403,
                     "forbidden")
    issue = api.act("leader", key, "review", decision="overturn", comment="应予受理")
    assert (issue["state"], issue["rejection_reason"], issue["outcome"]) == (
        "triaged", None, None
    )
    assert issue["deadline"]["kind"] == "dispatch"


def test_review_with_unknown_decision_is_422(api: Api) -> None:
    key = _rejected(api)
    with unchanged(api, key):
        details = assert_error(api.action("leader", key, "review", decision="maybe"), 422,
                               "invalid_input")
    assert "decision" in error_fields(details)


# --------------------------------------------------------------------------- 4 401


def _other_key_token(username: str) -> str:
    return TokenSigner(b"a-different-node-key-0123456789ab", ttl_seconds=3600).issue(username)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token",
        "Bearer ",
        "Basic bGVhZGVyOnBhc3N3b3JkMTIz",
        "other-key",
    ],
    ids=["none", "malformed", "empty", "basic", "other-key"],
)
def test_unauthenticated_requests_are_401(api: Api, authorization: str | None) -> None:
    key = api.submit()["id"]
    if authorization == "other-key":
        authorization = f"Bearer {_other_key_token('leader')}"
    headers = {} if authorization is None else {"Authorization": authorization}
    calls: list[tuple[str, str, Json | None]] = [
        ("GET", f"/issues/{key}", None),
        ("GET", "/issues", None),
        ("GET", "/me", None),
        ("GET", "/metrics", None),
        ("POST", "/revisit-samples", {"period": "2026-03"}),
        ("POST", f"/issues/{key}/triage", {"tags": ["用地"]}),
        ("POST", "/issues", submit_body()),
    ]
    with unchanged(api, key), pool_unchanged(api):
        for method, path, body in calls:
            resp = api.send(method, path, body, headers=headers)
            assert_error(resp, 401, "unauthenticated")
            assert resp.headers["www-authenticate"] == "Bearer"


def test_token_for_unknown_account_is_401(api: Api, api_node: Node) -> None:
    token = api_node.services.tokens.issue("ghost")
    resp = api.send("GET", "/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, "unauthenticated")
    assert resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("username", "password"),
    [("leader", "wrong-password"), ("nobody", PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
def test_bad_login_is_401_with_the_same_message(api: Api, username: str, password: str) -> None:
    resp = api.login(username, password)
    error = resp.json()["error"]
    assert_error(resp, 401, "unauthenticated")
    assert resp.headers["www-authenticate"] == "Bearer"
    # No account enumeration: both refusals read the same.
    assert error["message_en"] == "wrong username or password"


# --------------------------------------------------------------------------- 5 403


def test_enterprise_cannot_read_or_urge_another_enterprises_issue(api: Api) -> None:
    key = api.submit()["id"]
    unknown = "330522-2026-000999"
    missing = api.get("ent_b", f"/issues/{unknown}").json()
    with unchanged(api, key):
        # 404, exactly as for a number that does not exist: numbers are sequential, and a
        # 403 would tell another enterprise that the issue exists.
        for asked, resp in ((key, api.get("ent_b", f"/issues/{key}")),
                            (NUMBER_1, api.get("ent_b", f"/issues/{NUMBER_1}")),
                            (key, api.action("ent_b", key, "urge"))):
            assert assert_error(resp, 404, "not_found") == {"issue": asked}
            assert resp.json()["error"]["message"] == missing["error"]["message"].replace(
                unknown, asked)
    assert api.pool_ids("ent_b") == []


def test_enterprise_submitting_under_another_credit_code_is_422(api: Api) -> None:
    with pool_unchanged(api):
        details = assert_error(api.post("ent_a", "/issues", submit_body(CODE_B)), 422,
                               "invalid_input")
    assert details["field"] == "credit_code"


def test_viewer_cannot_list_or_read_the_pool(api: Api) -> None:
    key = api.submit()["id"]
    assert_error(api.get("viewer", "/issues"), 403, "forbidden")
    with unchanged(api, key):
        assert_error(api.get("viewer", f"/issues/{key}"), 403, "forbidden")


def test_handler_of_another_department_cannot_act(api: Api) -> None:
    key = api.submit()["id"]
    api.in_progress(key)
    with unchanged(api, key):
        details = assert_error(
            api.action("other_handler", key, "resolve", reply="越权办结"), 403, "forbidden"
        )
        assert details["department"] == "经信局"
        assert_error(api.action("other_handler", key, "reject", reason="越权退回"), 403,
                     "forbidden")
    assert api.act("handler", key, "resolve", reply="本部门办结")["state"] == "resolved"


def test_handler_cannot_act_before_assignment(api: Api) -> None:
    key = api.submit()["id"]
    with unchanged(api, key):
        assert_error(api.action("handler", key, "reject", reason="未交办"), 403, "forbidden")


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("triage", {"tags": ["用地"]}),
        ("assign", {"department": "经信局"}),
        ("reject", {"reason": "自行撤回"}),
        ("ladder", {}),
        ("close", {}),
    ],
)
def test_enterprise_cannot_take_staff_actions(api: Api, action: str, body: Json) -> None:
    key = api.submit()["id"]
    with unchanged(api, key):
        assert_error(api.action("ent_a", key, action, **body), 403, "forbidden")


def test_staff_cannot_rate_on_behalf_of_the_enterprise(api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    with unchanged(api, key):
        assert_error(api.action("leader", key, "rate", rating="satisfied"), 403, "forbidden")


# --------------------------------------------------------------------------- 6 404


@pytest.mark.parametrize(
    "key", ["330522-00000000000000000000000000000000", "330522-2026-999999"],
    ids=["id", "number"],
)
def test_unknown_issue_is_404(api: Api, key: str) -> None:
    api.submit()
    with pool_unchanged(api):
        details = assert_error(api.get("leader", f"/issues/{key}"), 404, "not_found")
        assert details["issue"] == key
        assert_error(api.action("dispatcher", key, "triage", tags=["用地"]), 404, "not_found")


def test_unknown_route_and_method_answer_json(api: Api) -> None:
    assert_error(api.get("leader", "/no-such-route"), 404, "not_found")
    assert_error(api.client.get("/no-such-route"), 404, "not_found")
    assert_error(api.client.delete(f"{API}/issues"), 405, "method_not_allowed")


def test_unknown_revisit_sample_is_404(api: Api) -> None:
    assert_error(api.get("leader", "/revisit-samples/999"), 404, "not_found")


@pytest.mark.parametrize(("sample_id", "status", "code"), [
    (2**63 - 1, 404, "not_found"),  # the largest id a BIGINT holds: looked up, not there
    (2**63, 422, "invalid_input"),  # beyond it: refused before the store
    (2**200, 422, "invalid_input"),
    (0, 422, "invalid_input"),
    (-1, 422, "invalid_input"),
])
def test_an_out_of_range_revisit_sample_id_is_refused(
    api: Api, sample_id: int, status: int, code: str
) -> None:
    assert_error(api.get("leader", f"/revisit-samples/{sample_id}"), status, code)


# --------------------------------------------------------------------------- 7 409


def test_illegal_transition_is_409_naming_state_and_action(api: Api) -> None:
    key = api.submit()["id"]
    with unchanged(api, key):
        details = assert_error(api.action("leader", key, "start"), 409, "illegal_transition")
    assert details == {"state": "received", "action": "start"}


def test_closed_issue_refuses_further_actions(api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    api.act("ent_a", key, "rate", rating="satisfied")
    refused: list[tuple[str, str, Json]] = [
        ("ent_a", "urge", {}),
        ("ent_a", "rate", {"rating": "unsatisfied"}),
        ("dispatcher", "triage", {"tags": ["用地"]}),
        ("handler", "resolve", {"reply": "再次办结"}),
    ]
    with unchanged(api, key):
        for who, action, body in refused:
            details = assert_error(api.action(who, key, action, **body), 409,
                                   "illegal_transition")
            assert details["state"] == "closed"


def test_stale_expected_version_is_409_conflict(api: Api) -> None:
    key = api.submit()["id"]
    api.act("dispatcher", key, "triage", tags=["用地"], expected_version=1)  # now v2
    with unchanged(api, key):
        details = assert_error(
            api.action("dispatcher", key, "assign", department="经信局", expected_version=1),
            409, "conflict",
        )
    assert details["current_version"] == 2
    issue = api.act("dispatcher", key, "assign", department="经信局", expected_version=2)
    assert issue["version"] == 3


def test_ladder_beyond_the_last_step_escalates_to_the_parent(api: Api) -> None:
    key = api.submit()["id"]
    api.triaged(key)
    for step in (1, 2, 3):
        assert api.act("leader", key, "ladder", note=f"第{step}次提级")["ladder_step"] == step
    timeline = api.issue(key)["timeline"]
    assert [e["payload"]["step_name"] for e in timeline if e["kind"] == "ladder_up"] == [
        "service_centre", "catch_all_office", "joint_meeting"
    ]
    with unchanged(api, key):  # queued, not yet accepted: the issue itself is unchanged
        resp = api.action("leader", key, "ladder")
        assert resp.status_code == 202, resp.text
        assert resp.headers["X-Transfer-Id"]
    outbox = api.get("leader", "/federation/outbox").json()
    assert outbox["destinations"]["330500"]["depth"] == 1
    # frozen while the transfer is pending
    assert_error(api.action("leader", key, "urge"), 409, "transfer_pending")
    assert_error(api.action("leader", key, "escalate", reason="再次上报"), 409,
                 "transfer_pending")


# --------------------------------------------------------------------------- 8 422

_BAD_CHECK = CODE_A[:17] + ("0" if CODE_A[17] != "0" else "1")


def _raw(content: bytes) -> Json:
    return {"content": content, "headers": {"Content-Type": "application/json"}}


def _body(**overrides: Any) -> Json:
    return {"json": submit_body(**overrides)}


def _without(name: str) -> Json:
    body = submit_body()
    del body[name]
    return {"json": body}


# (request keyword arguments, the field the error must name; None: no particular field)
SUBMIT_422: list[Any] = [
    pytest.param(_body(credit_code=_BAD_CHECK), "credit_code", id="credit-code-check-char"),
    pytest.param(_body(credit_code="9133052"), "credit_code", id="credit-code-length"),
    pytest.param(
        _body(contact_phone="123"), "contact_phone", id="phone",
    ),
    pytest.param(_body(title="题" * 101), "title", id="title-101-chars"),
    pytest.param(_body(title="题" * 401), "title", id="title-over-schema-limit"),
    pytest.param(_body(title="   "), "title", id="title-blank"),
    pytest.param(_without("title"), "title", id="title-missing"),
    pytest.param(_body(channel="fax"), "channel", id="unknown-channel"),
    pytest.param(_body(channel="hotline_12345"), "channel", id="enterprise-offline-channel"),
    pytest.param(_body(unexpected="x"), "unexpected", id="extra-field"),
    pytest.param(_body(tags="用地"), "tags", id="tags-not-a-list"),
    pytest.param(_body(tags=[f"标签{i}" for i in range(11)]), "tags", id="too-many-tags"),
    pytest.param(_body(tags=["签" * 31]), "tags", id="tag-too-long"),
    pytest.param({}, None, id="empty-body"),
    pytest.param(_raw(b'{"title": '), None, id="invalid-json"),
    pytest.param(_raw(b"[]"), None, id="json-array"),
    pytest.param(_body(content="正文\x07响铃"), "content", id="control-char-bel"),
    pytest.param(_body(content="正文\x00空字符"), "content", id="control-char-nul"),
    pytest.param(
        _raw(json.dumps(submit_body(content="半个\ud800代理")).encode()), "content",
        id="lone-surrogate",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "field"), SUBMIT_422)
def test_invalid_submission_is_422(api: Api, request_kwargs: Json, field: str | None) -> None:
    headers = {**api.headers("ent_a"), **request_kwargs.get("headers", {})}
    kwargs = {k: v for k, v in request_kwargs.items() if k != "headers"}
    with pool_unchanged(api):
        resp = api.client.post(f"{API}/issues", headers=headers, **kwargs)
        details = assert_error(resp, 422, "invalid_input")
    if field is not None:
        assert field in error_fields(details), details
    else:
        assert details["problems"]


def test_title_of_exactly_100_chars_is_accepted(api: Api) -> None:
    assert api.submit(title="题" * 100)["title"] == "题" * 100


def test_line_breaks_and_tabs_are_allowed_and_normalised(api: Api) -> None:
    issue = api.submit(content="第一行\r\n第二行\t缩进")
    assert issue["content"] == "第一行\n第二行\t缩进"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"light": "purple"},
        {"state": "bogus"},
        {"overdue": "perhaps"},
        {"q": "长" * 101},
    ],
    ids=["limit-0", "limit-501", "offset-negative", "light", "state", "overdue", "q-long"],
)
def test_invalid_list_query_is_422(api: Api, params: Json) -> None:
    details = assert_error(api.get("leader", "/issues", **params), 422, "invalid_input")
    (name,) = params
    assert any(f.startswith(f"query.{name}") for f in error_fields(details)), details


# (who, action, body, the field the error must name), on an issue where `action` is legal
ACTION_422: list[Any] = [
    pytest.param("dispatcher", "triage", {"tags": "用地"}, "tags", id="tags-not-a-list"),
    pytest.param("dispatcher", "triage", {}, "tags", id="tags-missing"),
    pytest.param("dispatcher", "triage", {"tags": ["用地"], "board": "板" * 61}, "board",
                 id="board-too-long"),
    pytest.param("dispatcher", "triage", {"tags": ["用地"], "expected_version": 0},
                 "expected_version", id="expected-version-0"),
    pytest.param("dispatcher", "triage", {"tags": ["用地"], "note": "备注\x1b"}, "note",
                 id="note-control-char"),
    pytest.param("dispatcher", "assign", {"department": "  "}, "department",
                 id="department-blank"),
    pytest.param("dispatcher", "reject", {"reason": "理" * 1001}, "reason",
                 id="reason-too-long"),
    pytest.param("handler", "resolve", {"reply": " \n "}, "reply", id="reply-blank"),
    pytest.param("ent_a", "urge", {"unexpected": 1}, "unexpected", id="extra-field"),
    pytest.param("ent_a", "rate", {"rating": "great"}, "rating", id="unknown-rating"),
]
SETUP = {"assign": Api.triaged, "resolve": Api.in_progress, "rate": Api.resolved}


@pytest.mark.parametrize(("who", "action", "body", "field"), ACTION_422)
def test_invalid_action_body_is_422(
    api: Api, who: str, action: str, body: Json, field: str
) -> None:
    key = api.submit()["id"]
    if action in SETUP:
        SETUP[action](api, key)
    with unchanged(api, key):
        details = assert_error(api.action(who, key, action, **body), 422, "invalid_input")
    assert field in error_fields(details), details


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "leader"}, {"username": "", "password": PASSWORD},
     {"username": "leader", "password": PASSWORD, "remember": True}],
    ids=["empty", "no-password", "empty-username", "extra-field"],
)
def test_malformed_login_is_422(api: Api, body: Json) -> None:
    assert_error(api.send("POST", "/auth/login", body), 422, "invalid_input")


# --------------------------------------------------------------------------- 9 urge / 429


def test_enterprise_urge_is_limited_to_once_per_24_hours(api: Api, clock: FakeClock) -> None:
    key = api.submit()["id"]
    first_at = clock.now()
    assert api.act("ent_a", key, "urge", note="请加快")["urge_count"] == 1

    clock.advance(timedelta(hours=1))
    with unchanged(api, key):
        details = assert_error(api.action("ent_a", key, "urge"), 429, "urge_too_soon")
    assert parse_ts(details["next_allowed_at"]) == first_at + timedelta(hours=24)

    clock.advance(timedelta(hours=22, minutes=59))  # 1 minute short of 24 h
    with unchanged(api, key):
        assert_error(api.action("ent_a", key, "urge"), 429, "urge_too_soon")

    clock.advance(timedelta(minutes=1))  # exactly 24 h after the first urge
    issue = api.act("ent_a", key, "urge")
    assert issue["urge_count"] == 2


def test_staff_urges_are_not_rate_limited(api: Api, clock: FakeClock) -> None:
    key = api.submit()["id"]
    api.act("ent_a", key, "urge")
    for expected in (2, 3):
        assert api.act("leader", key, "urge", note="领导督办")["urge_count"] == expected
    # Staff urges do not move the enterprise's own 24 h window.
    clock.advance(timedelta(hours=24))
    assert api.act("ent_a", key, "urge")["urge_count"] == 4


# --------------------------------------------------------------------------- 10 idempotency


def test_same_idempotency_key_returns_the_first_issue(api: Api) -> None:
    first = api.post("ent_a", "/issues", submit_body(), **{"Idempotency-Key": "k-1"})
    again = api.post("ent_a", "/issues", submit_body(), **{"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["number"] == NUMBER_1
    assert again.headers["location"] == first.headers["location"]
    assert api.pool()["total"] == 1
    assert len(api.issue(first.json()["id"])["timeline"]) == 1


def test_different_idempotency_keys_create_two_issues(api: Api) -> None:
    ids = {
        api.post("ent_a", "/issues", submit_body(), **{"Idempotency-Key": key}).json()["id"]
        for key in ("k-1", "k-2")
    }
    assert len(ids) == 2
    assert api.pool()["total"] == 2


def test_idempotency_keys_are_scoped_per_account(api: Api) -> None:
    a = api.post("ent_a", "/issues", submit_body(), **{"Idempotency-Key": "same"})
    b = api.post("ent_b", "/issues", submit_body(CODE_B), **{"Idempotency-Key": "same"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["enterprise"]["credit_code"] == CODE_B


def test_overlong_idempotency_key_is_422(api: Api) -> None:
    with pool_unchanged(api):
        resp = api.post("ent_a", "/issues", submit_body(), **{"Idempotency-Key": "k" * 81})
        assert_error(resp, 422, "invalid_input")


# --------------------------------------------------------------------------- 11 pool filters


def test_pool_filters_and_pagination(api: Api, clock: FakeClock) -> None:
    land = api.submit(title="用地指标审批")["id"]
    clock.advance(timedelta(minutes=1))
    loan = api.submit("ent_b", CODE_B, title="贷款贴息申请", enterprise_name="乙企业有限公司")["id"]
    clock.advance(timedelta(minutes=1))
    fire = api.submit(title="消防验收排期")["id"]
    clock.advance(timedelta(minutes=1))
    api.act("dispatcher", land, "triage", tags=["用地", "审批"], board="工业板块")
    api.act("dispatcher", land, "assign", department="经信局")
    api.act("dispatcher", fire, "triage", tags=["消防"])
    api.act("dispatcher", fire, "assign", department="住建局")

    def ids(who: str = "leader", **params: Any) -> set[str]:
        return set(api.pool_ids(who, **params))

    assert ids() == {land, loan, fire}
    assert ids(state="received") == {loan}
    assert ids(state=["received", "assigned"]) == {land, loan, fire}
    assert ids(tag="用地") == {land}
    assert ids(tag="消防") == {fire}
    assert ids(tag="不存在") == set()
    assert ids(board="工业板块") == {land}
    assert ids(department="住建局") == {fire}
    assert ids(department="经信局", tag="用地") == {land}
    assert ids(q="消防") == {fire}
    assert ids(q="乙企业") == {loan}
    assert ids(q="2026-000002") == {loan}
    assert ids(q="%") == set()  # LIKE wildcards are matched literally
    assert ids(q="_") == set()
    assert ids(q="\\") == set()

    # An enterprise's list is its own issues, whatever it filters by.
    assert ids("ent_a") == {land, fire}
    assert ids("ent_b") == {loan}
    assert ids("ent_b", q="消防") == set()
    assert ids("handler") == {land, loan, fire}

    # Newest first; total counts all matches, not the page.
    page = api.pool(limit=2, offset=0)
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [i["id"] for i in page["items"]] == [fire, loan]
    page = api.pool(limit=2, offset=2)
    assert (page["total"], [i["id"] for i in page["items"]]) == (3, [land])
    assert api.pool(limit=2, offset=5)["items"] == []

    # Nothing is overdue yet; then the dispatch deadline of the unassigned issue passes.
    assert ids(overdue="true") == set()
    clock.set(DISPATCH_DUE + timedelta(minutes=1))
    assert ids(overdue="true") == {loan}
    assert ids(overdue="true", state="received") == {loan}
    assert ids("ent_a", overdue="true") == set()
    assert api.issue(loan)["light"] == "red"


def test_pool_light_filter(api: Api, clock: FakeClock) -> None:
    # Dispatch deadlines: received Mon 09:00 → due Wed 24:00; Tue 10:00 → due Thu 24:00.
    red = api.submit(title="红灯")["id"]  # at Mon 09:00 CST
    clock.advance(timedelta(hours=25))  # Tue 10:00 CST
    yellow = api.submit(title="黄灯")["id"]
    clock.advance(timedelta(hours=48))  # Thu 10:00 CST: 48 of 62 working hours used
    green = api.submit(title="绿灯")["id"]
    api.resolved(api.submit(title="已办结")["id"])  # no running deadline: no light

    assert api.pool_ids(light="red") == [red]
    assert api.pool_ids(light="yellow") == [yellow]
    assert api.pool_ids(light="green") == [green]
    assert api.pool_ids(overdue="true") == [red]
    assert api.pool(light="green", limit=1)["total"] == 1
    assert api.pool()["total"] == 4
    lights = {i["id"]: i["light"] for i in api.pool()["items"]}
    assert (lights[red], lights[yellow], lights[green]) == ("red", "yellow", "green")


# --------------------------------------------------------------------------- 12 openapi


def test_openapi_lists_every_route(api: Api) -> None:
    resp = api.client.get(f"{API}/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    def served(routes: list[Any]) -> Iterator[APIRoute]:  # through included routers too
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif (included := getattr(r, "original_router", None)) is not None:
                yield from served(included.routes)

    routes = {  # every API route the app serves, whichever router module holds it
        (r.path, m.lower())
        for r in served(api.client.app.routes)  # type: ignore[attr-defined]
        if r.path.startswith(API)
        for m in r.methods or ()
    }
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routes and all(path.startswith(API) for path, _ in routes)
    assert routes == documented
    for path in ("/issues", "/issues/{key}", "/issues/{key}/triage", "/auth/login",
                 "/health", "/metrics", "/revisit-samples", "/revisit-samples/{sample_id}"):
        assert f"{API}{path}" in doc["paths"]
    assert "ErrorOut" in doc["components"]["schemas"]


def test_openapi_limits_are_the_domains_and_one_past_them_is_refused(api: Api) -> None:
    from node.domain.validation import MAX_CONTENT, MAX_REPLY, MAX_TAGS, MAX_TITLE
    schemas = api.client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    for model in ("SubmitIn", "IntakeIn"):
        props = schemas[model]["properties"]
        assert (props["title"]["maxLength"], props["content"]["maxLength"],
                props["tags"]["maxItems"]) == (MAX_TITLE, MAX_CONTENT, MAX_TAGS), model
    assert schemas["TriageIn"]["properties"]["tags"]["maxItems"] == MAX_TAGS
    assert schemas["ResolveIn"]["properties"]["reply"]["maxLength"] == MAX_REPLY
    with pool_unchanged(api):
        for over in ({"title": "题" * (MAX_TITLE + 1)}, {"content": "文" * (MAX_CONTENT + 1)},
                     {"tags": [f"标签{i}" for i in range(MAX_TAGS + 1)]}):
            assert_error(api.client.post(f"{API}/issues", json=submit_body(**over),
                                         headers=api.headers("ent_a")), 422, "invalid_input")
    assert api.submit(title="题" * MAX_TITLE, content="文" * MAX_CONTENT,
                      tags=[f"标签{i}" for i in range(MAX_TAGS)])["number"]


def test_health_needs_no_auth_and_no_docs_are_served(api: Api) -> None:
    resp = api.client.get(f"{API}/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "node": "330522", "name": "长兴县"}
    for path in ("/docs", "/redoc", "/openapi.json", f"{API}/docs"):
        assert_error(api.client.get(path), 404, "not_found")


# --------------------------------------------------------------------------- 13 hostile text

HOSTILE = [
    "<script>alert(1)</script>",
    "'; DROP TABLE issues; --",
    "\" OR 1=1; --",
    "Robert'); DELETE FROM events; --",
    "{{7*7}} ${7*7} %s %n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_and_returned_verbatim(api: Api, text: str) -> None:
    issue = api.submit(title=text, content=f"正文：{text}", enterprise_name=text)
    again = api.issue(issue["id"], who="ent_a")
    assert (again["title"], again["content"], again["enterprise"]["name"]) == (
        text, f"正文：{text}", text
    )
    assert api.pool_ids(q=text) == [issue["id"]]
    # The table is still there and still takes writes.
    assert api.submit(title="后续诉求")["number"] == "330522-2026-000002"
    assert api.pool()["total"] == 2
    tag = text[:30].strip()
    reply = api.act("dispatcher", issue["id"], "triage", tags=[tag], note=text)
    assert reply["tags"] == [tag]


def test_chinese_text_round_trips(api: Api) -> None:
    text = "企业反映：厂区“用地指标”审批滞后，涉及金额１２３万元（全角数字）、𠀀扩展字。"
    issue = api.submit(title="审批滞后问题", content=text, tags=["用地", "营商环境"])
    again = api.issue(issue["number"])
    assert again["content"] == text
    assert again["tags"] == ["用地", "营商环境"]
    assert again["timeline"][0]["payload"]["content"] == text
    raw = api.get("leader", f"/issues/{issue['id']}")
    assert raw.headers["content-type"] == "application/json"
    assert text in raw.content.decode("utf-8")


def test_credit_code_is_normalised(api: Api) -> None:
    issue = api.submit(credit_code=f" {CODE_A.lower()} ")
    assert issue["enterprise"]["credit_code"] == CODE_A


# --------------------------------------------------------------------------- 14 allowed_actions


def test_allowed_actions_reflect_the_callers_role(api: Api) -> None:
    key = api.submit()["id"]
    assert api.issue(key, who="ent_a")["allowed_actions"] == ["urge"]
    dispatcher = api.issue(key, who="dispatcher")["allowed_actions"]
    assert "triage" in dispatcher and "reject" in dispatcher
    assert "confirm_rejection" not in dispatcher and "urge" not in dispatcher

    api.act("dispatcher", key, "reject", reason="重复提交")
    assert api.issue(key, who="dispatcher")["allowed_actions"] == []
    leader = api.issue(key, who="leader")["allowed_actions"]
    assert {"confirm_rejection", "overturn_rejection"} <= set(leader)
    assert api.issue(key, who="ent_a")["allowed_actions"] == ["urge"]


def test_allowed_actions_of_a_resolved_issue(api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    assert api.issue(key, who="ent_a")["allowed_actions"] == ["accept", "reopen"]
    assert set(api.issue(key, who="dispatcher")["allowed_actions"]) == {"close", "revisit"}
    assert api.issue(key, who="handler")["allowed_actions"] == []


def test_handler_is_offered_the_actions_on_its_departments_issue(api: Api) -> None:
    key = api.submit()["id"]
    api.in_progress(key)
    listed = api.issue(key, who="handler")["allowed_actions"]
    assert set(listed) == {"resolve", "reject"}


def test_allowed_actions_respect_the_handlers_department(api: Api) -> None:
    key = api.submit()["id"]
    api.assigned(key)  # to 经信局
    assert api.issue(key, who="other_handler")["allowed_actions"] == []


# --------------------------------------------------------------------------- 15 revisit samples


def _resolve_many(api: Api, n: int) -> list[str]:
    keys = []
    for i in range(n):
        key = api.submit(title=f"诉求{i}")["id"]
        api.resolved(key)
        keys.append(key)
    return keys


def test_revisit_sample_draw_and_read_back(api: Api) -> None:
    keys = _resolve_many(api, 5)
    api.submit(title="未办结")  # not resolved: outside the frame
    resp = api.post("leader", "/revisit-samples", {"period": "2026-03", "share": 0.4})
    assert resp.status_code == 201, resp.text
    drawn = resp.json()
    assert (drawn["period"], drawn["share"], drawn["frame_size"]) == ("2026-03", 0.4, 5)
    assert len(drawn["selected"]) == 2
    assert set(drawn["selected"]) <= set(keys)

    stored = api.get("viewer", f"/revisit-samples/{drawn['id']}")
    assert stored.status_code == 200, stored.text
    row = stored.json()
    assert row["seed"] == drawn["seed"]
    assert sorted(row["frame"]) == sorted(keys)
    assert row["selected"] == drawn["selected"]
    assert row["period"] == "2026-03"
    # Anyone can re-draw from the stored seed and frame and get the same selection.
    assert verify_revisit_sample(RevisitSample(
        seed=row["seed"], share=Fraction(row["share_exact"]), frame=tuple(row["frame"]),
        selected=tuple(row["selected"]),
    ))


def test_revisit_sample_of_another_month_is_empty(api: Api) -> None:
    _resolve_many(api, 1)
    drawn = api.post("leader", "/revisit-samples", {"period": "2026-02"}).json()
    assert (drawn["frame_size"], drawn["selected"]) == (0, [])


def test_revisit_sample_share_reads_back_as_posted(api: Api) -> None:
    drawn = api.post("leader", "/revisit-samples", {"period": "2026-03", "share": 0.4}).json()
    row = api.get("leader", f"/revisit-samples/{drawn['id']}").json()
    assert row["share"] == drawn["share"]


def test_every_sampled_issue_can_be_revisited(api: Api) -> None:
    keys = _resolve_many(api, 2)
    api.act("ent_a", keys[0], "rate", rating="unsatisfied")  # reopened, open again
    drawn = api.post("leader", "/revisit-samples", {"period": "2026-03", "share": 1}).json()
    for key in drawn["selected"]:
        resp = api.action("dispatcher", key, "revisit", result="satisfied")
        assert resp.status_code == 200, resp.text


def test_revisit_sample_months_are_cst_months(api: Api, clock: FakeClock) -> None:
    clock.set(datetime.fromisoformat("2026-03-31T23:30:00+08:00"))
    march = _resolve_many(api, 1)
    clock.set(datetime.fromisoformat("2026-04-01T00:30:00+08:00"))  # still March in UTC
    april = _resolve_many(api, 1)
    for period, expected in (("2026-03", march), ("2026-04", april)):
        drawn = api.post("leader", "/revisit-samples", {"period": period, "share": 1}).json()
        assert (drawn["frame_size"], drawn["selected"]) == (1, expected)


def test_numbers_follow_the_cst_year(api: Api, clock: FakeClock) -> None:
    clock.set(datetime.fromisoformat("2026-12-31T23:59:00+08:00"))
    assert api.submit()["number"] == "330522-2026-000001"
    clock.set(datetime.fromisoformat("2027-01-01T00:00:00+08:00"))  # 2026-12-31 in UTC
    assert api.submit()["number"] == "330522-2027-000001"
    assert api.submit()["number"] == "330522-2027-000002"


def test_revisit_records_the_result(api: Api) -> None:
    key = _resolve_many(api, 1)[0]
    issue = api.act("dispatcher", key, "revisit", result="unreachable", note="电话未接通")
    assert (issue["revisit_result"], issue["state"]) == ("unreachable", "resolved")


@pytest.mark.parametrize("who", ["dispatcher", "handler", "viewer", "ent_a"])
def test_only_leaders_draw_revisit_samples(api: Api, who: str) -> None:
    resp = api.post(who, "/revisit-samples", {"period": "2026-03", "share": 0.4})
    assert_error(resp, 403, "forbidden")


def test_enterprise_cannot_read_revisit_samples_or_metrics(api: Api) -> None:
    drawn = api.post("leader", "/revisit-samples", {"period": "2026-03"}).json()
    assert_error(api.get("ent_a", f"/revisit-samples/{drawn['id']}"), 403, "forbidden")
    assert_error(api.get("ent_a", "/metrics"), 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-00"}, "period"),
        ({"period": "March"}, "period"),
        ({"period": "2026-3"}, "period"),
        ({"period": "2026-03", "share": 0}, "share"),
        ({"period": "2026-03", "share": 1.5}, "share"),
        ({}, "period"),
    ],
    ids=["month-13", "month-00", "word", "one-digit-month", "share-0", "share-over-1",
         "missing"],
)
def test_bad_revisit_sample_request_is_422(api: Api, body: Json, field: str) -> None:
    details = assert_error(api.post("leader", "/revisit-samples", body), 422, "invalid_input")
    assert field in error_fields(details)


# --------------------------------------------------------------------------- 16 metrics


def test_metrics_for_viewer_not_for_enterprise(api: Api) -> None:
    api.submit()
    api.resolved(api.submit()["id"])
    resp = api.get("viewer", "/metrics")
    assert resp.status_code == 200, resp.text
    overall = resp.json()["overall"]
    assert overall["total"] == 2
    assert overall["counts_by_state"]["resolved"] == 1
    assert overall["counts_by_state"]["received"] == 1
    assert_error(api.get("ent_a", "/metrics"), 403, "forbidden")


# --------------------------------------------------------------------------- operations


def test_prometheus_metrics_count_requests_and_show_the_outbox(api: Api) -> None:
    key = api.submit()["id"]
    api.triaged(key)
    api.action("leader", key, "escalate", reason="需要市级协调")
    body = api.client.get("/metrics").text
    assert 'zhitong_http_requests_total{method="POST",route="/api/v1/issues",status="201"}' in body
    assert 'zhitong_outbox_depth{destination="330500"} 1.0' in body
    assert "zhitong_outbox_oldest_age_seconds" in body
    assert "/issues/" + key not in body  # routes, never raw paths with ids


def test_an_unexpected_error_is_a_json_500_that_tells_nothing(
    api_node: Node, api_template: Template, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "password_hash=scrypt$abc at /srv/zhitong/node.py line 12"

    def broken(self: object, principal: Principal) -> None:
        raise RuntimeError(secret)

    monkeypatch.setattr(IssueService, "metrics", broken)
    with TestClient(api_node.app, raise_server_exceptions=False) as client:
        api = Api(client, api_template.tokens)
        with caplog.at_level(logging.ERROR, logger="node.web.problems"):
            resp = api.get("leader", "/metrics")
            traced = api.client.get(f"{API}/metrics", headers={
                **api.headers("leader"), "X-Request-ID": "proxy-7f3a.1"})
            odd = api.client.get(f"{API}/metrics", headers={
                **api.headers("leader"), "X-Request-ID": "<script> and more"})
        details = assert_error(resp, 500, "internal")
        assert secret not in resp.text and "RuntimeError" not in resp.text
        assert set(details) == {"request_id"}
        assert resp.headers["x-request-id"] == details["request_id"]
        # the log has the whole story, under the same id; a proxy's id is used when sane
        assert [r.request_id for r in caplog.records] == [  # type: ignore[attr-defined]
            details["request_id"], "proxy-7f3a.1", odd.json()["error"]["details"]["request_id"]]
        assert all(r.exc_info and str(r.exc_info[1]) == secret for r in caplog.records)
        assert "/api/v1/metrics" in caplog.records[0].getMessage()
        assert assert_error(traced, 500, "internal") == {"request_id": "proxy-7f3a.1"}
        assert "script" not in odd.text
        assert 'route="/api/v1/metrics",status="500"} 3.0' in api.client.get("/metrics").text
        # nothing else is affected
        assert api.get("leader", "/me").status_code == 200
    # tests still see the exception itself (TestClient's default)
    with TestClient(api_node.app) as client, pytest.raises(RuntimeError, match="password"):
        client.get(f"{API}/metrics", headers=Api(client, api_template.tokens).headers("leader"))


def test_the_body_limit_is_configurable(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="max_body_bytes"):
        make_config(tmp_path, http={"max_body_bytes": 1000})
    config = make_config(tmp_path, http={"max_body_bytes": 64 * 1024})
    assert make_config(tmp_path).http.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    engine = make_engine(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    try:
        services = replace(build(config, clock=clock, engine=engine).services,
                           max_body_bytes=config.http.max_body_bytes)
        with TestClient(create_app(services)) as client:
            resp = client.post(f"{API}/auth/login", content=b" " * (64 * 1024 + 1),
                               headers={"Content-Type": "application/json"})
            details = assert_error(resp, 413, "body_too_large")
            assert details == {"max_bytes": 64 * 1024}
    finally:
        engine.dispose()


def test_a_node_runs_with_its_configured_body_limit(tmp_path: Path, clock: FakeClock) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    try:
        node = build(make_config(tmp_path, http={"max_body_bytes": 64 * 1024}), clock=clock,
                     engine=engine)
        assert node.services.max_body_bytes == 64 * 1024
    finally:
        engine.dispose()


def test_allowed_actions_follow_federation(api: Api) -> None:
    key = api.submit()["id"]
    offered = api.issue(key, who="leader")["allowed_actions"]
    assert "escalate" in offered  # this county has a parent
    assert "return" not in offered  # it did not come from a child
    resp = api.action("leader", key, "escalate", reason="需要市级协调")
    assert resp.status_code == 202, resp.text
    assert api.issue(key, who="leader")["allowed_actions"] == []  # frozen while pending


def test_summary_depth_and_gzip(api: Api) -> None:
    api.submit()
    headers = api.headers("viewer")
    flat = api.client.get("/api/v1/summary?depth=0", headers=headers).json()
    assert flat["total"] == 1 and "children" not in flat
    resp = api.client.get("/api/v1/summary", headers={**headers, "Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.json()["total"] == 1
