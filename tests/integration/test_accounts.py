"""Account administration and sign-in that resists guessing, through the JSON API.

The node runs on a copy of the API template (tests/support/api.py) with the fake clock, so
back-off waits pass by moving the clock, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from node.app import accounts as accounts_module
from node.app.auth import dummy_hash, verify_password
from node.app.policy import Principal, Role
from node.runtime import Node
from tests.support.api import API, PASSWORD, Api, assert_error
from tests.support.clock import FakeClock

NEW = {"username": "zhang", "password": "first-pass-1", "role": "handler",
       "display_name": "张三", "department": "住建局"}


def login(api: Api, username: str, password: str) -> Response:
    return api.login(username, password)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def created(api: Api, **overrides: Any) -> dict[str, Any]:
    resp = api.post("admin", "/admin/accounts", {**NEW, **overrides})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def events(api: Api, username: str) -> list[dict[str, Any]]:
    resp = api.get("admin", "/admin/account-events", username=username)
    assert resp.status_code == 200, resp.text
    out: list[dict[str, Any]] = resp.json()
    return out


# --------------------------------------------------------------------------- administration


def test_an_admin_creates_lists_edits_disables_and_enables_an_account(api: Api) -> None:
    body = created(api)
    assert (body["username"], body["role"], body["department"], body["active"]) == (
        "zhang", "handler", "住建局", True)
    assert "password" not in body and "password_hash" not in body
    assert "zhang" in [a["username"] for a in api.get("admin", "/admin/accounts").json()]
    assert [a["username"] for a in api.get("admin", "/admin/accounts", role="leader").json()] \
        == ["leader"]
    token = login(api, "zhang", NEW["password"]).json()["access_token"]
    me = api.send("GET", "/me", headers=bearer(token)).json()
    assert (me["role"], me["department"]) == ("handler", "住建局")

    resp = api.send("PATCH", "/admin/accounts/zhang",
                    {"display_name": "张三丰", "role": "leader", "department": ""},
                    headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["display_name"], resp.json()["role"], resp.json()["department"]) == (
        "张三丰", "leader", None)
    me = api.send("GET", "/me", headers=bearer(token)).json()  # same token, new role at once
    assert (me["role"], me["display_name"]) == ("leader", "张三丰")

    assert api.post("admin", "/admin/accounts/zhang/disable").json()["active"] is False
    assert_error(login(api, "zhang", NEW["password"]), 401, "unauthenticated")
    assert api.post("admin", "/admin/accounts/zhang/enable").json()["active"] is True
    assert login(api, "zhang", NEW["password"]).status_code == 200

    kinds = [e["kind"] for e in events(api, "zhang")]
    assert kinds == ["enabled", "disabled", "updated", "created"]  # newest first
    latest = events(api, "zhang")
    assert all(e["actor"] == "admin" for e in latest)
    assert latest[2]["detail"] == {"display_name": ["张三", "张三丰"],
                                   "role": ["handler", "leader"],
                                   "department": ["住建局", None]}
    assert "first-pass-1" not in str(latest) and "scrypt" not in str(latest)


def test_only_an_admin_administers_accounts(api: Api) -> None:
    for who in ("leader", "dispatcher", "handler", "viewer", "ent_a"):
        assert_error(api.get(who, "/admin/accounts"), 403, "forbidden")
        assert_error(api.post(who, "/admin/accounts", NEW), 403, "forbidden")
        assert_error(api.post(who, "/admin/accounts/handler/disable"), 403, "forbidden")
        assert_error(api.post(who, "/admin/accounts/handler/password",
                              {"password": "another-1"}), 403, "forbidden")
        assert_error(api.post(who, "/admin/accounts/handler/unlock"), 403, "forbidden")
        assert_error(api.get(who, "/admin/lockouts"), 403, "forbidden")
    assert_error(api.get(None, "/admin/accounts"), 401, "unauthenticated")
    assert api.get("handler", "/me").json()["role"] == "handler"  # nothing changed
    assert [e["kind"] for e in events(api, "handler")] == ["created"]


def test_refusals_of_administration_write_nothing(api: Api) -> None:
    created(api)
    assert_error(api.post("admin", "/admin/accounts", NEW), 409, "conflict")
    assert_error(api.post("admin", "/admin/accounts", {**NEW, "username": "x", "role": "boss"}),
                 422, "invalid_input")
    assert_error(api.post("admin", "/admin/accounts", {**NEW, "username": "y",
                                                       "password": "short"}),
                 422, "invalid_input")
    assert_error(api.post("admin", "/admin/accounts/nobody/disable"), 404, "not_found")
    assert_error(api.post("admin", "/admin/accounts/admin/disable"), 409,
                 "own_account_protected")
    resp = api.send("PATCH", "/admin/accounts/admin", {"role": "viewer"},
                    headers=api.headers("admin"))
    assert_error(resp, 409, "own_account_protected")
    assert [a["username"] for a in api.get("admin", "/admin/accounts").json()].count("x") == 0
    assert api.get("admin", "/me").json()["role"] == "admin"


def test_a_disabled_account_is_refused_at_once(api: Api) -> None:
    assert api.get("handler", "/me").status_code == 200
    assert api.post("admin", "/admin/accounts/handler/disable").status_code == 200
    assert_error(api.get("handler", "/me"), 401, "unauthenticated")
    assert_error(api.get("handler", "/issues"), 401, "unauthenticated")
    # re-enabled: the old token stays dead (its generation moved on); a new login works
    assert api.post("admin", "/admin/accounts/handler/enable").status_code == 200
    assert_error(api.get("handler", "/me"), 401, "unauthenticated")
    token = login(api, "handler", PASSWORD).json()["access_token"]
    assert api.send("GET", "/me", headers=bearer(token)).status_code == 200


def test_a_password_reset_ends_the_old_sessions(api: Api) -> None:
    old = login(api, "dispatcher", PASSWORD).json()["access_token"]
    resp = api.post("admin", "/admin/accounts/dispatcher/password", {"password": "brand-new-9"})
    assert resp.status_code == 200, resp.text
    for token in (old, api.headers("dispatcher")["Authorization"].split()[1]):
        error = assert_error(api.send("GET", "/me", headers=bearer(token)), 401,
                             "unauthenticated")
        assert error == {}
    assert resp.json()["active"] is True
    assert_error(login(api, "dispatcher", PASSWORD), 401, "unauthenticated")
    assert login(api, "dispatcher", "brand-new-9").status_code == 200
    assert events(api, "dispatcher")[0]["kind"] == "password_reset"
    assert "brand-new-9" not in str(events(api, "dispatcher"))


# --------------------------------------------------------------------------- guessing


def test_repeated_failures_back_off_then_lock_and_an_admin_lifts_it(
    api: Api, clock: FakeClock
) -> None:
    for _ in range(5):
        assert_error(login(api, "leader", "wrong-guess"), 401, "unauthenticated")
    # the 5th failure earned a 1 s wait: even the right password must wait
    resp = login(api, "leader", PASSWORD)
    assert_error(resp, 429, "login_throttled")
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["details"] == {"retry_after": 1}
    waits = []
    for _ in range(5):  # failures 6..10: waits 2, 4, 8, 16 s, then the lock
        clock.advance(timedelta(seconds=3600))
        assert_error(login(api, "leader", "wrong-guess"), 401, "unauthenticated")
        waits.append(login(api, "leader", "wrong-guess"))
    assert [r.status_code for r in waits] == [429] * 5
    assert [r.headers["retry-after"] for r in waits[:4]] == ["2", "4", "8", "16"]
    locked = assert_error(waits[4], 429, "login_locked")
    assert locked["retry_after"] == 3600
    assert_error(login(api, "leader", PASSWORD), 429, "login_locked")
    assert api.get("leader", "/me").status_code == 200  # a running session is not touched

    out = api.get("admin", "/admin/lockouts").json()
    assert [(x["kind"], x["name"], x["locked"], x["failures"]) for x in out] == [
        ("account", "leader", True, 10)]
    leader = api.get("admin", "/admin/accounts/leader").json()
    assert leader["locked"] is True and leader["blocked_until"]
    assert events(api, "leader")[0]["kind"] == "locked"
    assert events(api, "leader")[0]["actor"] == "system"

    assert api.post("admin", "/admin/accounts/leader/unlock").json() == {"lifted": True}
    assert login(api, "leader", PASSWORD).status_code == 200
    assert api.get("admin", "/admin/lockouts").json() == []
    assert [e["kind"] for e in events(api, "leader")[:2]] == ["unlocked", "locked"]


def test_a_lock_passes_after_the_configured_time_and_success_clears_the_count(
    api: Api, clock: FakeClock
) -> None:
    for _ in range(10):
        login(api, "viewer", "wrong-guess")
        clock.advance(timedelta(minutes=10))
    assert_error(login(api, "viewer", PASSWORD), 429, "login_locked")
    clock.advance(timedelta(hours=1))
    assert login(api, "viewer", PASSWORD).status_code == 200
    for _ in range(4):  # counting starts again from zero
        assert_error(login(api, "viewer", "wrong-guess"), 401, "unauthenticated")
    assert login(api, "viewer", PASSWORD).status_code == 200


def test_unknown_names_are_counted_alike(api: Api) -> None:
    answers = [login(api, "nobody-here", "guess") for _ in range(6)]
    assert [r.status_code for r in answers] == [401] * 5 + [429]
    assert answers[0].json()["error"] == login(api, "leader", "wrong").json()["error"]


def test_one_address_is_limited_across_usernames(api_node: Node, clock: FakeClock) -> None:
    with TestClient(api_node.app, client=("203.0.113.7", 50000)) as client:
        def attempt(username: str, password: str = "guess-123") -> Response:
            resp: Response = client.post(f"{API}/auth/login",
                                          json={"username": username, "password": password})
            return resp
        # 20 different names, one failure each: no name is throttled, the address is
        assert [attempt(f"user{i}").status_code for i in range(20)] == [401] * 20
        blocked = attempt("leader", PASSWORD)
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "1"
        clock.advance(timedelta(seconds=2))
        assert attempt("leader", PASSWORD).status_code == 200  # right: not counted
    with TestClient(api_node.app, client=("198.51.100.9", 50000)) as other:
        ok = other.post(f"{API}/auth/login", json={"username": "leader", "password": PASSWORD})
        assert ok.status_code == 200  # another address is not affected


def test_an_admin_lifts_an_address_lock(api: Api, api_node: Node) -> None:
    api_node.services.accounts.rules = accounts_module.SignInRules(
        address_backoff_after=3, address_lock_after=3)
    with TestClient(api_node.app, client=("203.0.113.8", 50000)) as client:
        for i in range(3):
            client.post(f"{API}/auth/login", json={"username": f"u{i}", "password": "x" * 8})
        resp = client.post(f"{API}/auth/login",
                           json={"username": "leader", "password": PASSWORD})
        assert_error(resp, 429, "login_locked")
        kinds = {(x["kind"], x["name"]) for x in api.get("admin", "/admin/lockouts").json()}
        assert ("address", "203.0.113.8") in kinds
        lifted = api.post("admin", "/admin/lockouts/unlock-address", {"address": "203.0.113.8"})
        assert lifted.json() == {"lifted": True}
        resp = client.post(f"{API}/auth/login",
                           json={"username": "leader", "password": PASSWORD})
        assert resp.status_code == 200


def test_the_count_survives_a_restart(api_node: Node, api: Api, tmp_path: Any,
                                      clock: FakeClock) -> None:
    for _ in range(5):
        login(api, "handler", "wrong-guess")
    from node.runtime import build
    again = build(api_node.config, clock=clock, engine=api_node.engine)
    with TestClient(again.app) as client:
        resp = client.post(f"{API}/auth/login",
                           json={"username": "handler", "password": PASSWORD})
    assert_error(resp, 429, "login_throttled")


def test_an_unknown_user_costs_the_same_password_check(api: Api, api_node: Node) -> None:
    """Equal work: the password of an unknown (or disabled) name is verified against the
    dummy hash, through the same seam as a real one."""
    checked: list[str] = []

    def counting(password: str, stored: str) -> bool:
        checked.append("dummy" if stored == dummy_hash() else "real")
        return verify_password(password, stored)

    api_node.services.accounts.verify = counting
    login(api, "leader", "wrong-guess")
    login(api, "ghost-user", "wrong-guess")
    api.post("admin", "/admin/accounts/viewer/disable")
    login(api, "viewer", PASSWORD)
    assert checked == ["real", "dummy", "dummy"]


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/me", "/api/v1/issues/nope",
                                  "/ui/workbench", "/ui/workbench/accounts",
                                  "/ui/static/zt.js"])
def test_every_response_says_nosniff(api: Api, path: str) -> None:
    resp = api.client.get(path, headers=api.headers("admin"))
    assert resp.status_code == (404 if path.endswith("nope") else 200), path
    assert resp.headers["x-content-type-options"] == "nosniff"
    refused = api.client.post(f"{API}/auth/login", json={"username": "a", "password": "b"})
    assert refused.headers["x-content-type-options"] == "nosniff"


def test_the_demo_logins_share_one_hash_and_each_signs_in(tmp_path: Path) -> None:
    """`ensure_demo_accounts` hashes the public demo password once (one scrypt per process,
    not seven per unit); every login still verifies, and a second call adds nothing."""
    from node.config import load_config
    from node.demo import DEMO_PASSWORD, ensure_demo_accounts
    from node.runtime import build

    config = load_config(Path(__file__).resolve().parents[2] / "deploy" / "county" / "node.toml", {
        "ZHITONG__NODE__CODE": "330522", "ZHITONG__NODE__NAME": "长兴县",
        "ZHITONG__NODE__DATA_DIR": str(tmp_path), "ZHITONG__DATABASE__URL": "null",
        "ZHITONG__NATS__ENABLED": "false", "ZHITONG__FEDERATION__ENABLED": "false",
        "ZHITONG__NOTIFY__ENABLED": "false"})
    node = build(config)
    try:
        logins = ensure_demo_accounts(node.services.accounts, "330522")
        assert ensure_demo_accounts(node.services.accounts, "330522") == logins
        assert node.services.accounts.count() == len(logins) == 7
        for username, _role, password in logins:
            assert password == DEMO_PASSWORD
            signed = node.services.accounts.sign_in(username, password)
            assert signed.principal.username == username
        with pytest.raises(ValueError, match="password_hash"):
            node.services.accounts.add(Principal(
                username="zhao", role=Role.HANDLER, display_name="赵"),
                "a-password-1", password_hash="plain")
        assert node.services.accounts.count() == 7
    finally:
        node.engine.dispose()
