"""Migration 0015: a store at 0014 with free-text departments and boards migrates forward —
every issue kept, every text a unit of its owner (same spelling, same id), the issues and
the accounts rewritten to ids, the hash-chained event log untouched. On SQLite and
PostgreSQL (the `engine` fixture is parametrised)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select

from node.domain.lifecycle import Assign, Triage
from node.domain.units import UnitKind, is_unit_id, migrated_id
from node.runtime import build
from node.store import migrate
from node.store.db import make_engine
from tests.support.clock import FakeClock
from tests.support.data import STAFF, make_config, submit_cmd

LEADER = STAFF["leader"]
TABLES = ("issues", "issue_tags", "events", "users")


def _rows(engine: Engine, name: str, columns: set[str] | None = None) -> list[dict[str, Any]]:
    table = Table(name, MetaData(), autoload_with=engine)
    cols = [c for c in table.columns if columns is None or c.name in columns]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(*cols))]


def _columns(engine: Engine, name: str) -> set[str]:
    return {c.name for c in Table(name, MetaData(), autoload_with=engine).columns}


def test_free_text_departments_and_boards_become_units(tmp_path: Path, engine: Engine,
                                                       clock: FakeClock) -> None:
    # issues with free text, made by a node without a catalogue (it accepts free text)
    scratch_engine = make_engine(f"sqlite:///{tmp_path / 'scratch.sqlite3'}")
    scratch = build(make_config(tmp_path / "s"), clock=clock, engine=scratch_engine)
    svc = scratch.services.issues
    scratch.services.accounts.add(STAFF["handler"], "secret-password-1")
    made = []
    for dept, board in (("税务局", "政策板块"), ("税务局", None), ("住建局", "科创板块"),
                        (None, None)):
        issue, _ = svc.submit(LEADER, submit_cmd())
        issue = svc.act(LEADER, issue.id, Triage(tags=("用地",), board=board))
        if dept is not None:
            issue = svc.act(LEADER, issue.id, Assign(department=dept))
        made.append(issue)
    assert made[0].department == "税务局"  # free text before the migration
    before = {name: _rows(scratch_engine, name) for name in TABLES}
    scratch_engine.dispose()

    # the same rows in a store at 0014 (only its columns); one issue as a replica of 330521
    migrate.upgrade(engine, "0014")
    target = {name: Table(name, MetaData(), autoload_with=engine) for name in TABLES}
    with engine.begin() as conn:
        for name in TABLES:
            cols = {c.name for c in target[name].columns}
            rows = [{k: v for k, v in r.items() if k in cols} for r in before[name]]
            if name == "issues":
                rows[2] = {**rows[2], "owner": "330521"}
            conn.execute(target[name].insert(), rows)
    events_before = _rows(engine, "events")

    assert migrate.ensure_schema(engine) == "migrated"

    after = {r["id"]: r for r in _rows(engine, "issues")}
    assert set(after) == {i.id for i in made}  # every issue kept
    for i, issue in enumerate(made):
        row = after[issue.id]
        owner = "330521" if i == 2 else "330522"
        assert row["owner"] == owner
        want_dept = (migrated_id(owner, UnitKind.DEPARTMENT, issue.department)
                     if issue.department else None)
        want_board = migrated_id(owner, UnitKind.BOARD, issue.board) if issue.board else None
        assert (row["department"], row["board"]) == (want_dept, want_board)
        assert row["queue_unit"] == (want_dept or want_board)
        assert row["ladder_unit"] is None
        assert row["title"] == issue.title and row["version"] == issue.version
    tax = migrated_id("330522", UnitKind.DEPARTMENT, "税务局")
    assert after[made[0].id]["department"] == after[made[1].id]["department"] == tax

    units = {r["id"]: r for r in _rows(engine, "units")}
    assert units[tax]["name_zh"] == "税务局" and units[tax]["kind"] == "department"
    assert units[tax]["node"] == "330522" and units[tax]["active"]
    replica_dept = migrated_id("330521", UnitKind.DEPARTMENT, "住建局")
    assert units[replica_dept]["node"] == "330521"  # a county's unit stays the county's
    assert {r["unit_id"] for r in _rows(engine, "unit_events")} == set(units)
    assert all(is_unit_id(u) for u in units)

    # the accounts' scope: the handler's 经信局 is a unit of the store's own node now
    users = {r["username"]: r for r in _rows(engine, "users")}
    assert users["handler"]["department"] == migrated_id("330522", UnitKind.DEPARTMENT,
                                                         "经信局")

    # the event log is untouched (hash-chained): the same rows, value for value
    assert _rows(engine, "events", _columns(engine, "events")) == events_before

    # and the migrated node works on them: it loads the issues with their unit ids
    node = build(make_config(tmp_path), clock=clock, engine=engine)
    view = node.services.issues.get(LEADER, made[0].id)
    assert view.issue.department == tax
    assert node.services.issues.units is not None
    assert node.services.issues.units.name_of(tax, "zh") == "税务局"


def test_at_a_city_the_accounts_map_under_the_city_not_its_busiest_county(
        tmp_path: Path, engine: Engine, clock: FakeClock) -> None:
    """A city's store holds a copy of every county issue: the accounts' free-text
    departments belong to the city's own units, not to the county owning most issues."""
    scratch_engine = make_engine(f"sqlite:///{tmp_path / 'scratch.sqlite3'}")
    scratch = build(make_config(tmp_path / "s"), clock=clock, engine=scratch_engine)
    scratch.services.accounts.add(STAFF["handler"], "secret-password-1")
    for _ in range(4):
        scratch.services.issues.submit(LEADER, submit_cmd())
    before = {name: _rows(scratch_engine, name) for name in TABLES}
    scratch_engine.dispose()
    migrate.upgrade(engine, "0014")
    target = {name: Table(name, MetaData(), autoload_with=engine) for name in TABLES}
    marks = Table("replication_marks", MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for name in TABLES:
            cols = {c.name for c in target[name].columns}
            rows = [{k: v for k, v in r.items() if k in cols} for r in before[name]]
            if name == "issues":  # three replicas of the county 330522, one of its own
                rows = [{**r, "owner": "330522" if i < 3 else "330500"}
                        for i, r in enumerate(rows)]
            if rows:
                conn.execute(target[name].insert(), rows)
        conn.execute(marks.insert(), {"writer": "330522", "through_seq": 9,
                                      "updated_at": clock.now()})
    assert migrate.ensure_schema(engine) == "migrated"
    users = {r["username"]: r for r in _rows(engine, "users")}
    assert users["handler"]["department"] == migrated_id("330500", UnitKind.DEPARTMENT,
                                                         "经信局")
