"""node/store/bulk.py writes exactly what SQLAlchemy's insert writes, on both backends.

The same rows go in once through `conn.execute(insert(table), rows)` and once through
`bulk.insert_rows` (keys changed so both fit); read back as the driver's raw values, every
other column is equal: the JSON text, the datetime text, the boolean, a default a row left
out. On PostgreSQL `insert_rows` is SQLAlchemy's own path; on SQLite it is the DB-API's.
The same for `update_rows` (a new snapshot set through SQLAlchemy's update and through
bulk; the version guard's rowcount, a Conflict of update_issues writing nothing) and for
`select_in` (the values `select(issues)` reads, the issues load_issues builds).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update

from node.domain.calendar import WorkCalendar
from node.domain.errors import Conflict
from node.domain.issue import Actor, ActorKind, Issue, Rating, RevisitResult, State
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


MATCH = {"_id": "id", "_expected": "version"}


def two_issues(node: Node) -> tuple[Issue, Issue]:
    """Two stored issues alike but for id and number."""
    actor = Actor(kind=ActorKind.ENTERPRISE, id="x")
    rules = Rules(calendar=WorkCalendar())
    a, b = (submit(submit_cmd(tags=("用电", "融资")), issue_id=f"330522-{k}",
                   number=f"330522-2026-00000{n}", node="330522", actor=actor, now=T0,
                   rules=rules)[0] for k, n in (("a", 1), ("b", 2)))
    with repo.Store(node.engine).write() as conn:
        repo.insert_issues(conn, [a, b])
    return a, b


def moved(issue: Issue) -> Issue:
    """A later snapshot of `issue` with every kind of column changed (instants in another
    offset than UTC, enums, JSON tags with intake facts, NULLs set and cleared)."""
    return replace(issue, version=issue.version + 3, state=State.CLOSED, owner="330500",
                   tags=("融资", "“双回路”"), channel_fields=(("ticket", "A-1"),),
                   reply="已协调供电公司", rating=Rating.BASICALLY_SATISFIED,
                   rating_comment=None, reopen_count=2,
                   resolved_at=(T0 + timedelta(days=2)).astimezone(CST),
                   closed_at=T0 + timedelta(days=3, microseconds=7), outcome="resolved",
                   revisit_result=RevisitResult.BASICALLY_SATISFIED, came_from="330522",
                   updated_at=T0 + timedelta(days=3), ladder_unit="u1", deadline=None)


def update_row(new: Issue, expected: int, node: Node) -> dict[str, Any]:
    row = repo.issue_row(new, repo.Store(node.engine).calendar)
    row["_id"] = row.pop("id")
    row["_expected"] = expected
    return row


def test_bulk_update_stores_what_sqlalchemy_stores(node: Node) -> None:
    a, b = two_issues(node)
    new_a = moved(a)
    new_b = replace(new_a, id=b.id, number=b.number)
    stmt = (update(issues)
            .where(issues.c.id == bindparam("_id"), issues.c.version == bindparam("_expected"))
            .values({c.name: bindparam(c.name) for c in issues.columns if c.name != "id"}))
    with repo.Store(node.engine).write() as conn:
        assert conn.execute(stmt, [update_row(new_a, a.version, node)]).rowcount == 1
        assert bulk.update_rows(conn, issues, [update_row(new_b, b.version, node)],
                                match=MATCH) == 1
    got_a, got_b = (raw(node, "issues", "id", i) for i in (a.id, b.id))
    assert got_a["version"] == a.version + 3
    assert {k: v for k, v in got_a.items() if k not in ("id", "number")} == \
        {k: v for k, v in got_b.items() if k not in ("id", "number")}
    # and read back: bulk.select_in gives select(issues)'s values, load_issues the issues
    with repo.Store(node.engine).read() as conn:
        by_select = [tuple(r) for r in conn.execute(select(issues).where(
            issues.c.id.in_([a.id, b.id])).order_by(issues.c.id))]
        by_bulk = sorted(tuple(r) for r in bulk.select_in(conn, issues, "id", [b.id, a.id]))
        loaded = repo.load_issues(conn, [b.id, a.id, "330522-none"])
        one_by_one = {i: repo.load_issue(conn, i) for i in (a.id, b.id)}
    assert by_bulk == by_select
    assert loaded == one_by_one == {a.id: new_a, b.id: new_b}


def test_bulk_update_guard_counts_and_a_conflict_writes_nothing(node: Node) -> None:
    a, b = two_issues(node)
    before = [raw(node, "issues", "id", i) for i in (a.id, b.id)]
    rows = [update_row(moved(a), a.version, node),
            update_row(replace(moved(a), id=b.id, number=b.number), b.version + 1, node)]
    with pytest.raises(RuntimeError, match="abort"), repo.Store(node.engine).write() as conn:
        assert bulk.update_rows(conn, issues, rows, match=MATCH) == 1  # b's version moved
        raise RuntimeError("abort")
    with pytest.raises(Conflict), repo.Store(node.engine).write() as conn:
        repo.update_issues(conn, [(moved(a), a), (replace(moved(a), id=b.id, number=b.number),
                                                  replace(b, version=b.version + 1))])
    with pytest.raises(Conflict), repo.Store(node.engine).write() as conn:  # a row gone
        repo.update_issues(conn, [(moved(a), a), (replace(moved(a), id="330522-c",
                                                          number="330522-2026-000003"), b)])
    assert [raw(node, "issues", "id", i) for i in (a.id, b.id)] == before
    with repo.Store(node.engine).read() as conn:
        assert repo.load_issues(conn, [a.id, b.id]) == {a.id: a, b.id: b}
    with pytest.raises(KeyError, match="differ"), repo.Store(node.engine).write() as conn:
        bulk.update_rows(conn, issues, [rows[0], {**rows[1], "colour": 1}], match=MATCH)
    with pytest.raises(KeyError, match="matched by"), repo.Store(node.engine).write() as conn:
        bulk.update_rows(conn, issues, [{"title": "x", "id": a.id}], match=MATCH)
