"""node/store/bulk.py writes exactly what SQLAlchemy's insert writes, on both backends.

The same rows go in once through `conn.execute(insert(table), rows)` and once through
`bulk.insert_rows` (keys changed so both fit); read back as the driver's raw values, every
other column is equal: the JSON text, the datetime text, the boolean, a default a row left
out. On PostgreSQL `insert_rows` is SQLAlchemy's own path; on SQLite it is the DB-API's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert

from node.domain.calendar import WorkCalendar
from node.domain.issue import Actor, ActorKind
from node.domain.lifecycle import Rules, submit
from node.runtime import Node
from node.store import bulk, repo
from node.store.schema import events, issue_tags, issues
from tests.support.data import submit_cmd

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def raw(node: Node, table: str, key: str, value: str) -> dict[str, Any]:
    with node.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {key} = ?"
                                   if conn.dialect.name == "sqlite" else
                                   f"SELECT * FROM {table} WHERE {key} = %s", (value,)).one()
        return dict(row._mapping)


def test_bulk_rows_are_the_rows_sqlalchemy_writes(node: Node) -> None:
    actor = Actor(kind=ActorKind.ENTERPRISE, id="x")
    rules = Rules(calendar=WorkCalendar())
    a, _ = submit(submit_cmd(tags=("用电", "融资")), issue_id="330522-a",
                   number="330522-2026-000001", node="330522", actor=actor, now=T0,
                   rules=rules)
    b, _ = submit(submit_cmd(tags=("用电", "融资")), issue_id="330522-b",
                  number="330522-2026-000002", node="330522", actor=actor, now=T0,
                  rules=rules)
    with repo.Store(node.engine).write() as conn:
        calendar = repo.calendar_of(conn)
        conn.execute(insert(issues), [repo.issue_row(a, calendar)])
        bulk.insert_rows(conn, issues, [repo.issue_row(b, calendar)])
        conn.execute(insert(issue_tags), repo.tag_rows(a))
        bulk.insert_rows(conn, issue_tags, repo.tag_rows(b))
        event: dict[str, Any] = {
            "seq": 900_001, "event_id": "330522-a@9", "issue_id": "330522-a", "version": 9,
            "node": "330522", "kind": "resolve", "actor": "staff:leader",
            "at": (T0 + timedelta(hours=3)).astimezone(CST),  # an offset other than UTC
            "payload": {"reply": "已协调供电公司，“双回路”改造完成", "n": 2**70, "none": None,
                        "list": [1, "二", True]},
            "writer_seq": None, "chain": None}  # "published" left to its default
        conn.execute(insert(events), [event])
        bulk.insert_rows(conn, events, [{**event, "seq": 900_002,
                                         "event_id": "330522-b@9", "issue_id": "330522-b"}])

    issue_a, issue_b = (raw(node, "issues", "id", i) for i in ("330522-a", "330522-b"))
    assert {k: v for k, v in issue_a.items() if k not in ("id", "number")} == \
        {k: v for k, v in issue_b.items() if k not in ("id", "number")}
    ev_a, ev_b = (raw(node, "events", "event_id", e) for e in ("330522-a@9", "330522-b@9"))
    assert {k: v for k, v in ev_a.items() if k not in ("seq", "event_id", "issue_id")} == \
        {k: v for k, v in ev_b.items() if k not in ("seq", "event_id", "issue_id")}
    assert ev_b["published"] in (False, 0)  # the column's default, given by bulk too
    with repo.Store(node.engine).read() as conn:  # and both read back as the same event
        [read_a], [read_b] = (repo.events_of(conn, i) for i in ("330522-a", "330522-b"))
    assert read_a.event.payload == read_b.event.payload == event["payload"]
    assert read_a.event.at == read_b.event.at == event["at"]


def test_bulk_refuses_rows_that_differ_and_naive_instants(node: Node) -> None:
    with pytest.raises(KeyError, match="differ"), repo.Store(node.engine).write() as conn:
        bulk.insert_rows(conn, issue_tags, [
            {"issue_id": "x", "tag": "t", "received_at": T0}, {"issue_id": "y", "tag": "t"}])
    with pytest.raises(KeyError, match="no column colour"), repo.Store(node.engine).write() as conn:
        bulk.insert_rows(conn, issue_tags, [{"issue_id": "x", "tag": "t", "colour": 1}])
    with pytest.raises(Exception, match="naive"), repo.Store(node.engine).write() as conn:
        bulk.insert_rows(conn, issue_tags, [
            {"issue_id": "x", "tag": "t", "received_at": datetime(2026, 1, 1)}])
    with node.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM issue_tags").scalar_one() == 0
