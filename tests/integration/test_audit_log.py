"""The audit trail, on SQLite and PostgreSQL, through the JSON API of a real node.

A login (right and wrong, with the caller's address), a staff action, a read of an
issue's contact details (and the masked phone everywhere else), an export with personal
data, an account change and a refused request are each one record of the hash-chained
audit log; supervisors and admins read and export it, viewers and handlers are refused;
a row edited with plain SQL is found by `zhitong audit verify` (exit 1, naming its seq).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select, update

from node.app.policy import Principal, Role
from node.domain.audit import mask_contacts, mask_phone
from node.domain.chain import GENESIS, audit_link
from node.runtime import Node, build
from node.store.audit import verify_engine
from node.store.db import make_engine
from node.store.schema import audit_log
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, ENTERPRISE_A, STAFF, make_config, submit_body

API = "/api/v1"
PASSWORD = "password123"
PHONE = "13905720001"
ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = Principal(username="supervisor", role=Role.SUPERVISOR, display_name="督查室")
PEOPLE = {**{k: STAFF[k] for k in ("admin", "leader", "viewer", "handler")},
          "supervisor": SUPERVISOR, "ent_a": ENTERPRISE_A}


class Client:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}

    def login(self, who: str, password: str = PASSWORD) -> Any:
        return self.client.post(f"{API}/auth/login",
                                json={"username": PEOPLE[who].username, "password": password})

    def as_(self, who: str) -> dict[str, str]:
        if who not in self.tokens:
            resp = self.login(who)
            assert resp.status_code == 200, resp.text
            self.tokens[who] = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(f"{API}{path}", headers=self.as_(who), params=params)

    def post(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"{API}{path}", headers=self.as_(who), json=body or {})

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.get("admin", "/audit", **params)
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        return items


@pytest.fixture
def http(node: Node) -> Iterator[Client]:
    for principal in PEOPLE.values():
        node.services.accounts.add(principal, PASSWORD)
    with TestClient(node.app) as client:
        yield Client(client)


def submitted(http: Client) -> dict[str, Any]:
    resp = http.post("ent_a", "/issues", submit_body(CODE_A))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --------------------------------------------------------------------------- recording


def test_logins_right_and_wrong_are_recorded_with_the_address(http: Client) -> None:
    assert http.login("leader", "wrong-password").status_code == 401
    assert http.login("leader").status_code == 200
    records = http.audit(action="login", target_id="leader")
    assert [(r["outcome"], r["actor"], r["address"]) for r in records] == [
        ("success", "account:leader", "testclient"), ("refused", "account:leader", "testclient")]
    assert records[0]["actor_role"] == "leader"
    assert records[1]["detail"] == {"reason": "wrong_password"}


def test_a_staff_action_is_recorded_in_its_transaction(http: Client) -> None:
    issue = submitted(http)
    resp = http.post("leader", f"/issues/{issue['id']}/triage", {"tags": ["用电"]})
    assert resp.status_code == 200, resp.text
    [record] = http.audit(target_kind="issue", target_id=issue["id"], action="issue.")
    assert (record["action"], record["actor"], record["actor_role"], record["address"]) == (
        "issue.triage", "staff:leader", "leader", "testclient")
    assert record["detail"]["version"] == 2
    # the enterprise's submission is no staff act: not in the log
    assert not http.audit(action="issue.receive")


def test_the_phone_is_masked_unless_the_contact_is_opened_and_that_is_recorded(
        http: Client) -> None:
    issue = submitted(http)
    masked = mask_phone(PHONE)
    assert masked == "139****0001"
    detail = http.get("leader", f"/issues/{issue['id']}")
    assert PHONE not in detail.text and detail.json()["enterprise"]["contact_phone"] == masked
    pool = http.get("leader", "/issues")
    assert PHONE not in pool.text
    assert PHONE in http.get("ent_a", f"/issues/{issue['id']}").text  # its own, unmasked
    assert not http.audit(action="contact.read")

    contact = http.get("leader", f"/issues/{issue['number']}/contact")
    assert contact.status_code == 200, contact.text
    assert contact.json()["contact_phone"] == PHONE
    [record] = http.audit(action="contact.read")
    assert (record["actor"], record["target_kind"], record["target_id"],
            record["detail"]) == ("staff:leader", "issue", issue["id"],
                                  {"number": issue["number"]})
    # a viewer may not open it (nor the issue): refused, and the refusal recorded too
    assert http.get("viewer", f"/issues/{issue['id']}/contact").status_code == 403
    [refused] = http.audit(outcome="refused", actor="viewer")
    assert refused["action"] == "GET /api/v1/issues/{key}/contact"
    assert (refused["target_id"], refused["detail"]["code"]) == (issue["id"], "forbidden")


def test_an_export_with_personal_data_and_an_account_change_are_recorded(
        http: Client) -> None:
    submitted(http)
    resp = http.get("leader", "/issues/export", format="csv")
    assert resp.status_code == 200 and PHONE in resp.text
    [export] = http.audit(action="export.personal")
    assert (export["actor"], export["target_id"], export["detail"]["rows"]) == (
        "staff:leader", "csv", 1)
    assert http.post("admin", "/admin/accounts/handler/disable").status_code == 200
    [change] = http.audit(action="account.disabled")
    assert (change["actor"], change["target_kind"], change["target_id"]) == (
        "staff:admin", "account", "handler")


# --------------------------------------------------------------------------- reading


def test_viewers_and_handlers_are_refused_supervisors_and_admins_read(http: Client) -> None:
    for who in ("viewer", "handler", "leader", "ent_a"):
        assert http.get(who, "/audit").status_code == 403, who
        assert http.get(who, "/audit/export").status_code == 403, who
    assert http.get("supervisor", "/audit").status_code == 200
    assert http.get("admin", "/audit").status_code == 200


def test_pages_by_keyset_and_filters_by_time(http: Client, clock: FakeClock) -> None:
    for _ in range(5):
        assert http.login("leader", "wrong-password").status_code == 401
    first = http.get("admin", "/audit", action="login", limit=2).json()
    second = http.get("admin", "/audit", action="login", limit=2,
                      cursor=first["next_cursor"]).json()
    seqs = [r["seq"] for r in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 4
    now = clock.now()
    assert http.audit(action="login", until=(now.replace(year=2000)).isoformat()) == []
    assert len(http.audit(action="login", since=(now.replace(year=2000)).isoformat(),
                          target_id="leader")) == 5


def test_the_export_writes_every_filtered_row(http: Client) -> None:
    for _ in range(3):
        http.login("leader", "wrong-password")
    resp = http.get("admin", "/audit/export", format="csv", action="login", lang="en")
    assert resp.status_code == 200, resp.text
    rows = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
    header = rows.index(["Seq", "Time", "Actor", "Role", "Source address", "Action",
                         "Target kind", "Target", "Outcome", "Detail", "Chain link"])
    body = rows[header + 1:]
    assert len(body) == 3 + 1  # three failures and the admin's own sign-in
    assert {r[5] for r in body} == {"login"}
    xlsx = http.get("admin", "/audit/export", format="xlsx", action="login")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    values = [r for r in sheet.iter_rows(values_only=True) if len(r) > 5 and r[5] == "login"]
    assert len(values) == 4


# --------------------------------------------------------------------------- the chain


def test_records_are_chained_and_an_edited_row_is_found_by_verify(
        http: Client, node: Node, tmp_path: Path) -> None:
    issue = submitted(http)
    http.post("leader", f"/issues/{issue['id']}/triage", {"tags": ["用电"]})
    http.get("leader", f"/issues/{issue['id']}/contact")
    engine: Engine = node.engine
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 4
    [(writer, count, found)] = verify_engine(engine)
    assert (writer, count, found) == ("330522", len(rows), None)

    toml = tmp_path / "verify.toml"
    toml.write_text(f'[node]\ncode = "330522"\nname = "长兴县"\nlevel = "county"\n'
                    f'parent = "330500"\ndata_dir = "{tmp_path / "data"}"\n\n'
                    f'[database]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n',
                    encoding="utf-8")

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "node.cli", "audit", "verify",
                               "--config", str(toml)], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)

    ok = verify()
    assert ok.returncode == 0, ok.stderr
    assert f"ok: audit log 330522: {len(rows)} records, chain intact" in ok.stdout
    victim = rows[2]
    with engine.begin() as conn:  # behind the product's back: whose read it was
        conn.execute(update(audit_log).where(audit_log.c.seq == victim["seq"])
                     .values(actor="staff:nobody"))
    broken = verify()
    assert broken.returncode == 1
    assert (f"BROKEN: audit log 330522 record {victim['seq']} (audit:{victim['seq']})"
            in broken.stderr)


def test_a_deleted_last_row_is_found_too(node: Node, http: Client) -> None:
    http.login("leader")
    http.login("leader", "wrong")
    with node.engine.begin() as conn:
        last = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc())
                            .limit(1)).scalar_one()
        conn.execute(audit_log.delete().where(audit_log.c.seq == last))
    [(_, _, found)] = verify_engine(node.engine)
    assert found is not None and found.writer_seq == last


def test_the_first_link_starts_from_genesis(node: Node, http: Client) -> None:
    http.login("leader")
    with node.engine.connect() as conn:
        first = conn.execute(select(audit_log).where(audit_log.c.seq == 1)).mappings().one()
    from node.store.audit import _stored

    stored = _stored(first)
    assert audit_link(GENESIS, "330522", 1, stored.record) == first["chain"]


def test_masking() -> None:
    assert mask_phone("0572-6012345") == "057*******45"
    assert mask_phone("") == ""
    assert mask_contacts({"enterprise": {"contact_phone": PHONE, "name": "甲"}}) == {
        "enterprise": {"contact_phone": "139****0001", "name": "甲"}}


def test_a_fresh_node_on_the_same_store_continues_the_chain(tmp_path: Path, db_url: str,
                                                           clock: FakeClock) -> None:
    engine = make_engine(db_url)
    try:
        first = build(make_config(tmp_path), clock=clock, engine=engine)
        assert first.services.audit is not None
        first.services.audit.record("unit.created", actor="staff:admin", target_kind="unit",
                                    target_id="330522.jxj")
        again = build(make_config(tmp_path), clock=clock, engine=engine)
        assert again.services.audit is not None
        again.services.audit.record("unit.renamed", actor="staff:admin", target_kind="unit",
                                    target_id="330522.jxj", detail={"to": "经信局"})
        [(_, count, found)] = verify_engine(engine)
        assert (count, found) == (2, None)
    finally:
        engine.dispose()


def test_the_summary_carries_the_audit_head_and_a_rewrite_is_seen(node: Node,
                                                                 http: Client) -> None:
    from dataclasses import replace

    from node.app.rollup import Rollup
    from node.domain.summary import decode, encode, rewritten_chains
    from node.runtime import place_of
    from node.store import repo
    from node.store.audit import head
    from node.store.eventlog import SqlIssueScan

    http.login("leader")
    svc = node.services.issues
    summary = Rollup(SqlIssueScan(repo.Store(node.engine)), place_of(node.config), svc.clock,
                     svc.rules.calendar, children_send_summaries=False).compute()
    with node.engine.connect() as conn:
        audit = head(conn, "330522")
    assert audit is not None and summary.chains["audit:330522"] == audit
    sent = decode(encode(summary))  # as a parent receives it
    assert sent.chains["audit:330522"] == audit
    rewritten = replace(sent, chains={**sent.chains, "audit:330522": (audit[0], GENESIS)})
    assert rewritten_chains(sent, rewritten) == ["audit:330522"]


def test_an_import_is_one_record_per_batch_not_one_per_imported_event(node: Node) -> None:
    from tests.integration.test_imports import run, table
    from tests.support.imports import closed_row, new_row

    done = run(node, table(closed_row("I1"), new_row("I2")))
    assert done.written == 2
    with node.engine.connect() as conn:
        rows = conn.execute(select(audit_log)).mappings().all()
    assert [(r["action"], r["target_kind"], r["detail"]["issues"]) for r in rows] == [
        ("import.issues", "import", 2)]
    assert rows[0]["detail"]["external_ids"] == ["I1", "I2"]
