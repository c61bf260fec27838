"""People and roles per unit, and the rejection review's four eyes, over real HTTP.

A county node (330522) with a catalogue of units runs through `node.runtime.running()`
(tests/support/served.py) on SQLite and on PostgreSQL, with the fake clock; every account
but the first admin is made through the admin API, with its units and roles. Each refusal
is checked to change nothing: the issue's version and timeline stay as they were.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.app.policy import Membership, Principal, Role
from node.config import load_config
from node.domain.errors import Unauthenticated
from node.i18n import message
from node.runtime import Running, build
from tests.support.clock import FakeClock
from tests.support.data import COUNTY_UNITS, make_config, submit_body
from tests.support.served import serving

PASSWORD = "unit-roles-pass-1"
NODE = "330522"
JXJ, TAX, REVIEW = f"{NODE}.jxj", f"{NODE}.shuiwu", f"{NODE}.yshj"
UNITS = [*COUNTY_UNITS, {"slug": "jxj", "kind": "department", "name_zh": "经信局"}]

#: username → (account role, [(unit, role)])
ACCOUNTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "disp": ("dispatcher", []),
    "h_jxj": ("handler", [(JXJ, "handler")]),
    "h_tax": ("handler", [(TAX, "handler")]),
    "rev": ("reviewer", [(REVIEW, "reviewer")]),
    "rev_lead": ("leader", [(REVIEW, "leader")]),
    "rev_out": ("reviewer", [(JXJ, "reviewer")]),  # a reviewer, but not of the review unit
    "lead": ("leader", []),
}


def refused(resp: httpx.Response, status: int, code: str) -> None:
    """A refusal with `status` whose text is the catalogue's for `code` (the body's `code`
    is the public family: node/domain/errors.py)."""
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message_en"] == message(code, error["details"], "en"), error


@dataclass
class Site:
    running: Running
    client: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        if who not in self.tokens:
            resp = self.client.post("/auth/login", json={"username": who,
                                                         "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            self.tokens[who] = resp.json()["access_token"]
        return self.tokens[who]

    def call(self, who: str, method: str, path: str, body: dict[str, Any] | None = None,
             **params: Any) -> httpx.Response:
        return self.client.request(method, path, json=body, params=params or None,
                                   headers={"Authorization": f"Bearer {self.token(who)}"})

    def ok(self, who: str, method: str, path: str, body: dict[str, Any] | None = None,
           status: int = 200, **params: Any) -> Any:
        resp = self.call(who, method, path, body, **params)
        assert resp.status_code == status, resp.text
        return resp.json()

    def act(self, who: str, key: str, action: str, **body: Any) -> httpx.Response:
        return self.call(who, "POST", f"/issues/{key}/{action}", body)

    def state(self, key: str) -> tuple[int, int, str]:
        """(version, timeline length, state) as the store holds them (read by the admin)."""
        issue = self.ok("admin", "GET", f"/issues/{key}")
        return issue["version"], len(issue["timeline"]), issue["state"]

    def assigned(self, department: str) -> str:
        """A new issue dispatched to `department`; its id."""
        issue = self.ok("disp", "POST", "/issues", submit_body(), status=201)
        self.ok("disp", "POST", f"/issues/{issue['id']}/triage", {"tags": []})
        self.ok("disp", "POST", f"/issues/{issue['id']}/assign", {"department": department})
        return str(issue["id"])


@pytest.fixture
def site(tmp_path: Path, db_url: str, clock: FakeClock) -> Iterator[Site]:
    config = make_config(tmp_path, units=UNITS, database={"url": db_url})
    with serving(config, clock=clock, http_port=0, auto_escalate_every_s=None,
                 reports_every_s=None, connect_streams=False) as running:
        running.services.accounts.add(
            Principal(username="admin", role=Role.ADMIN, display_name="管理员"), PASSWORD)
        with httpx.Client(base_url=f"http://127.0.0.1:{running.http_port}/api/v1",
                          timeout=20) as client:
            s = Site(running=running, client=client)
            for username, (role, units) in ACCOUNTS.items():
                s.ok("admin", "POST", "/admin/accounts", {
                    "username": username, "password": PASSWORD, "role": role,
                    "display_name": username,
                    "units": [{"unit": u, "role": r} for u, r in units]}, status=201)
            yield s


# --------------------------------------------------------------------------- scope


def test_a_handler_sees_and_acts_on_its_own_units_queue_only(site: Site) -> None:
    mine, theirs = site.assigned(JXJ), site.assigned(TAX)
    pool = site.ok("h_jxj", "GET", "/issues")
    assert [i["id"] for i in pool["items"]] == [mine]
    assert pool["total"] == 1
    assert {i["id"] for i in site.ok("h_tax", "GET", "/issues")["items"]} == {theirs}
    found = site.ok("h_jxj", "GET", "/issues", q="用地")  # a search, ranked: the same scope
    assert [i["id"] for i in found["items"]] == [mine]
    exported = site.call("h_jxj", "GET", "/issues/export", format="csv")
    assert exported.status_code == 200, exported.text
    numbers = {site.ok("admin", "GET", f"/issues/{k}")["number"]: k for k in (mine, theirs)}
    assert [n for n in numbers if n in exported.text] == [
        n for n, k in numbers.items() if k == mine]

    before = site.state(theirs)
    resp = site.call("h_jxj", "GET", f"/issues/{theirs}")
    assert resp.status_code == 404, resp.text
    unknown = site.call("h_jxj", "GET", "/issues/330522-2026-999999")
    assert unknown.status_code == 404
    assert resp.json()["error"]["code"] == unknown.json()["error"]["code"]  # no tell
    for action, body in (("start", {}), ("reject", {"reason": "不属于本部门"})):
        resp = site.act("h_jxj", theirs, action, **body)
        assert resp.status_code in (403, 404), resp.text
    assert site.state(theirs) == before  # nothing changed

    assert site.act("h_jxj", mine, "start").status_code == 200
    assert site.state(mine)[2] == "in_progress"
    # everyone with a node-wide role still sees both
    assert {i["id"] for i in site.ok("lead", "GET", "/issues")["items"]} == {mine, theirs}


def test_an_account_without_units_keeps_its_role_as_before(site: Site) -> None:
    site.ok("admin", "POST", "/admin/accounts", {
        "username": "h_old", "password": PASSWORD, "role": "handler",
        "display_name": "old", "department": TAX}, status=201)
    mine, other = site.assigned(TAX), site.assigned(JXJ)
    assert {i["id"] for i in site.ok("h_old", "GET", "/issues")["items"]} == {mine, other}
    before = site.state(other)
    resp = site.act("h_old", other, "start")
    refused(resp, 403, "not_your_department")
    assert site.state(other) == before
    assert site.act("h_old", mine, "start").status_code == 200


# --------------------------------------------------------------------------- review


def _rejected(site: Site, who: str, department: str = JXJ) -> str:
    key = site.assigned(department)
    assert site.act(who, key, "reject", reason="不属于受理范围").status_code == 200
    return key


def test_a_self_confirmed_rejection_is_refused_and_changes_nothing(site: Site) -> None:
    key = _rejected(site, "rev_lead")  # a leader of the review unit rejects it himself
    before = site.state(key)
    for decision in ("confirm", "overturn"):
        resp = site.act("rev_lead", key, "review", decision=decision)
        refused(resp, 403, "own_rejection")
    assert site.state(key) == before
    issue = site.ok("rev_lead", "GET", f"/issues/{key}")
    assert "confirm_rejection" not in issue["allowed_actions"]
    # another member of the review unit confirms it
    assert site.act("rev", key, "review", decision="confirm").status_code == 200
    assert site.state(key)[2] == "closed"


def test_a_reviewer_outside_the_review_unit_is_refused(site: Site) -> None:
    key = _rejected(site, "h_jxj")
    before = site.state(key)
    for who in ("rev_out", "lead"):  # a reviewer of another unit; a leader of none
        refused(site.act(who, key, "review", decision="confirm"), 403, "not_review_unit")
    assert site.state(key) == before


def test_a_reviewer_of_the_review_unit_confirms_and_overturns(site: Site) -> None:
    confirmed, overturned = _rejected(site, "h_jxj"), _rejected(site, "h_jxj")
    timeline = site.ok("rev", "GET", f"/issues/{confirmed}")["timeline"]
    assert timeline[-1]["actor"] == "staff:h_jxj"
    assert site.act("rev", confirmed, "review", decision="confirm",
                    comment="确不属于受理范围").status_code == 200
    assert site.state(confirmed)[2] == "closed"
    assert site.act("rev_lead", overturned, "review", decision="overturn").status_code == 200
    assert site.state(overturned)[2] == "triaged"


def test_an_overdue_review_is_red_and_listed_for_the_review_units_leader(
        site: Site, clock: FakeClock) -> None:
    late = _rejected(site, "h_jxj")
    clock.advance(timedelta(days=1))
    fresh = _rejected(site, "h_tax", TAX)
    pending = site.ok("rev_lead", "GET", "/reviews")
    assert [r["id"] for r in pending] == [late, fresh]
    assert [r["rejected_by"] for r in pending] == ["staff:h_jxj", "staff:h_tax"]
    assert site.ok("rev_lead", "GET", "/reviews", overdue="true") == []

    # 2 working days after the first rejection (Mon 09:00 CST): due Tue 24:00; Thu is late
    clock.advance(timedelta(days=2))
    assert site.ok("admin", "GET", f"/issues/{late}")["light"] == "red"
    overdue = site.ok("rev_lead", "GET", "/reviews", overdue="true")
    assert [(r["id"], r["light"], r["overdue"]) for r in overdue] == [(late, "red", True)]
    assert [i["id"] for i in site.ok("admin", "GET", "/issues", state="rejected",
                                     light="red")["items"]] == [late]
    # who answers for reviews sees the list; a handler and a reviewer elsewhere do not
    assert [r["id"] for r in site.ok("rev", "GET", "/reviews", overdue="true")] == [late]
    for who in ("h_jxj", "rev_out", "lead"):
        resp = site.call(who, "GET", "/reviews", overdue="true")
        assert resp.status_code == 403, (who, resp.text)


# --------------------------------------------------------------------------- administration


def test_an_admin_binds_and_unbinds_units_with_validation_and_audit(site: Site) -> None:
    body = site.ok("admin", "POST", "/admin/accounts/h_jxj/units",
                   {"unit": TAX, "role": "handler"}, status=201)
    assert body["units"] == [{"unit": JXJ, "role": "handler"}, {"unit": TAX, "role": "handler"}]
    theirs = site.assigned(TAX)
    assert theirs in {i["id"] for i in site.ok("h_jxj", "GET", "/issues")["items"]}

    for unit, role, status, code in (
            (TAX, "handler", 409, "membership_exists"),
            (f"{NODE}.nope", "handler", 422, "membership_unit_unknown"),
            ("330523.jxj", "handler", 422, "membership_unit_unknown"),
            (JXJ, "enterprise", 422, "membership_role_invalid")):
        refused(site.call("admin", "POST", "/admin/accounts/h_jxj/units",
                          {"unit": unit, "role": role}), status, code)
    resp = site.call("h_tax", "POST", "/admin/accounts/h_jxj/units",
                     {"unit": JXJ, "role": "leader"})
    assert resp.status_code == 403

    body = site.ok("admin", "DELETE", f"/admin/accounts/h_jxj/units/{TAX}/handler")
    assert body["units"] == [{"unit": JXJ, "role": "handler"}]
    resp = site.call("h_jxj", "GET", f"/issues/{theirs}")
    assert resp.status_code == 404  # at once: the principal is read with every request
    refused(site.call("admin", "DELETE", f"/admin/accounts/h_jxj/units/{TAX}/handler"),
            404, "membership_not_found")

    kinds = [(e["kind"], e["detail"]) for e in
             site.ok("admin", "GET", "/admin/account-events", username="h_jxj")]
    assert kinds[:2] == [("membership_removed", {"unit": TAX, "role": "handler"}),
                         ("membership_added", {"unit": TAX, "role": "handler"})]
    assert ("membership_added", {"unit": JXJ, "role": "handler"}) in kinds
    # and in the node's audit trail (H5's mirror of account_events), with who did it
    trail = site.ok("admin", "GET", "/audit", action="account.membership_removed")["items"]
    assert [(a["actor"], a["target_id"], a["detail"]) for a in trail] == [
        ("staff:admin", "h_jxj", {"unit": TAX, "role": "handler"})]


def test_an_inactive_unit_takes_no_new_member(site: Site) -> None:
    services = site.running.services
    units = services.issues.units
    assert units is not None
    admin = services.accounts.principal("admin")
    units.deactivate(admin, TAX)
    refused(site.call("admin", "POST", "/admin/accounts/rev/units",
                      {"unit": TAX, "role": "viewer"}), 422, "membership_unit_inactive")


# --------------------------------------------------------------------------- the CLI


def test_the_cli_adds_an_account_in_a_unit_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f"""
[node]
code = "{NODE}"
name = "长兴县"
level = "county"
parent = "330500"
data_dir = "{tmp_path / 'data'}"

[[units]]
slug = "jxj"
kind = "department"
name_zh = "经信局"
""", encoding="utf-8")

    def add(username: str, unit: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "node.cli", "user", "add", "--config", str(config),
             "--username", username, "--role", "handler", "--unit", unit, "--password-stdin"],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
            cwd=Path(__file__).resolve().parents[2])

    done = add("h_cli", JXJ)
    assert done.returncode == 0, done.stderr
    refused = add("h_bad", f"{NODE}.nope")
    assert refused.returncode != 0 and f"{NODE}.nope" in refused.stderr
    node = build(load_config(config))
    try:
        principal = node.services.accounts.principal("h_cli")
        assert principal.memberships == (Membership(unit=JXJ, role=Role.HANDLER),)
        with pytest.raises(Unauthenticated):
            node.services.accounts.principal("h_bad")  # nothing was written
    finally:
        node.engine.dispose()
