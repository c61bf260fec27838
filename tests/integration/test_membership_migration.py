"""Migration 0016 on SQLite and PostgreSQL: an existing store's accounts keep working.

A store at 0015 (its free-text departments already unit ids, as 0015 leaves them) holds a
handler of a department, a leader of a board, a dispatcher of none, an enterprise, a
handler whose department is still free text, and a rejected issue. After 0016 the first
two are members of their units with their roles, the others are members of nothing, and
the rejected issue names who rejected it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from node.store import migrate

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
JXJ, BOARD = "330522.d-0123456789ab", "330522.b-0123456789ab"


def _user(conn: Connection, username: str, role: str, department: str | None = None,
          board: str | None = None, credit_code: str | None = None) -> None:
    conn.execute(text(
        "INSERT INTO users (username, password_hash, role, display_name, board, department, "
        "credit_code, active, created_at, token_generation) VALUES (:u, 'x', :r, :u, :b, "
        ":d, :c, :a, :at, 0)"),
        {"u": username, "r": role, "b": board, "d": department, "c": credit_code, "a": True,
         "at": AT})


def _issue(conn: Connection, issue_id: str, state: str, events: list[tuple[str, str]]) -> None:
    conn.execute(text(
        "INSERT INTO issues (id, number, origin, owner, state, version, enterprise_name, "
        "credit_code, contact_phone, channel, title, content, tags, department, ladder_step, "
        "urge_count, reopen_count, supervision_count, received_at, updated_at) VALUES "
        "(:id, :id, '330522', '330522', :state, :v, 'e', '', '', 'online', 't', 'c', '[]', "
        ":dep, 0, 0, 0, 0, :at, :at)"),
        {"id": issue_id, "state": state, "v": len(events), "dep": JXJ, "at": AT})
    for version, (kind, actor) in enumerate(events, start=1):
        conn.execute(text(
            "INSERT INTO events (seq, event_id, issue_id, version, node, kind, actor, at, "
            "payload, published, writer_seq) VALUES ((SELECT COUNT(*) + 1 FROM events), "
            ":eid, :iid, :v, '330522', :k, :a, :at, :p, :f, NULL)"),
            {"eid": f"{issue_id}@{version}", "iid": issue_id, "v": version, "k": kind,
             "a": actor, "at": AT, "p": json.dumps({"state": state}), "f": False})


def test_0016_binds_existing_accounts_to_their_units_and_names_who_rejected(
        engine: Engine) -> None:
    migrate.upgrade(engine, "0015")
    with engine.begin() as conn:
        _user(conn, "h1", "handler", department=JXJ)
        _user(conn, "l1", "leader", board=BOARD)
        _user(conn, "d1", "dispatcher")
        _user(conn, "h_text", "handler", department="住建局")
        _user(conn, "91330522MA2AAAAA1Y", "enterprise", credit_code="91330522MA2AAAAA1Y")
        _issue(conn, "i-rejected", "rejected",
               [("submitted", "staff:d1"), ("reject", "staff:h1")])
        _issue(conn, "i-open", "assigned", [("submitted", "staff:d1")])
    migrate.upgrade(engine, "0016")
    with engine.connect() as conn:
        members = sorted(tuple(r) for r in conn.execute(text(
            "SELECT username, unit_id, role FROM account_units")))
        rejected = dict(tuple(r) for r in conn.execute(text(
            "SELECT id, rejected_by FROM issues")))
    assert members == [("h1", JXJ, "handler"), ("l1", BOARD, "leader")]
    assert rejected == {"i-rejected": "staff:h1", "i-open": None}
    migrate.upgrade(engine)  # and on to the newest revision
    assert migrate.current_revision(engine) == migrate.HEAD
