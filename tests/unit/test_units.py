"""Organisation units, pure: values, validation, changes, seeding, queues (node/domain/units.py)
and the `[[units]]` configuration (node/config.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.config import ConfigError
from node.domain import units as dom
from node.domain.calendar import WorkCalendar
from node.domain.errors import Conflict, NotFound, RuleViolation, ValidationError
from node.domain.issue import Actor, ActorKind
from node.domain.lifecycle import LadderUp, Rules, decide, evolve
from node.domain.units import Unit, UnitKind, queue_of
from tests.support.data import COUNTY_UNITS, make_config

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
ADMIN = Actor(kind=ActorKind.STAFF, id="admin")
NODE = "330522"


def unit(slug: str, kind: UnitKind = UnitKind.DEPARTMENT, name: str = "税务局",
         parent: str | None = None, node: str = NODE) -> Unit:
    return Unit(id=f"{node}.{slug}", node=node, kind=kind, name_zh=name,
                parent_id=f"{node}.{parent}" if parent else None)


def catalogue(*found: Unit) -> dict[str, Unit]:
    return {u.id: u for u in found}


def test_a_unit_id_is_the_node_code_a_dot_and_a_slug() -> None:
    assert dom.split_unit_id("330522.shuiwu") == ("330522", "shuiwu")
    for bad in ("shuiwu", "330522.", "330522.Shuiwu", "330522.税务", "12345.x", "330522.-x",
                "330522." + "a" * 33):
        with pytest.raises(ValidationError) as exc:
            dom.split_unit_id(bad)
        assert exc.value.code == "unit_id_invalid"


def test_create_checks_kind_names_and_parent() -> None:
    made, event = dom.create({}, unit("shuiwu"), actor=ADMIN, now=NOW)
    assert made.id == "330522.shuiwu" and event.kind == "created" and event.before is None
    assert event.after["name_zh"] == "税务局" and event.actor == ADMIN and event.at == NOW
    with pytest.raises(Conflict) as conflict:
        dom.create(catalogue(made), unit("shuiwu"), actor=ADMIN, now=NOW)
    assert conflict.value.code == "unit_exists"
    with pytest.raises(ValidationError) as exc:
        dom.create({}, replace(unit("x"), kind="bureau"), actor=ADMIN,  # type: ignore[arg-type]
                   now=NOW)
    assert exc.value.code == "unit_kind_invalid"
    with pytest.raises(ValidationError) as exc:
        dom.create({}, unit("x", name="长" * 41), actor=ADMIN, now=NOW)
    assert exc.value.code == "text_too_long" and exc.value.field == "name_zh"
    with pytest.raises(ValidationError) as exc:  # the parent must exist …
        dom.create({}, unit("bdc", parent="zrzyj"), actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_parent_invalid"
    board = unit("b-zc", UnitKind.BOARD, "政策板块")
    with pytest.raises(ValidationError) as exc:  # … and be a department
        dom.create(catalogue(board), unit("bdc", parent="b-zc"), actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_parent_invalid"
    with pytest.raises(ValidationError) as exc:  # of this node
        dom.create(catalogue(unit("zrzyj", node="330521")),
                   Unit(id="330522.bdc", node=NODE, kind=UnitKind.DEPARTMENT, name_zh="中心",
                        parent_id="330521.zrzyj"), actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_parent_invalid"


def test_moving_a_bureau_under_its_own_department_is_a_cycle() -> None:
    top = unit("zrzyj", name="自然资源局")
    mid = unit("bdc", name="不动产中心", parent="zrzyj")
    low = unit("dj", name="登记科", parent="bdc")
    cat = catalogue(top, mid, low)
    with pytest.raises(ValidationError) as exc:
        dom.edit(cat, top.id, parent_id=low.id, actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_parent_cycle"
    with pytest.raises(ValidationError) as exc:
        dom.edit(cat, top.id, parent_id=top.id, actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_parent_cycle"


def test_changes_name_their_kind_and_keep_before_and_after() -> None:
    cat = catalogue(unit("shuiwu"), unit("zrzyj", name="自然资源局"))
    renamed, event = dom.edit(cat, "330522.shuiwu", name_zh="国家税务总局长兴县税务局",
                              actor=ADMIN, now=NOW)
    assert event.kind == "renamed" and event.before is not None
    assert (event.before["name_zh"], event.after["name_zh"]) == ("税务局", renamed.name_zh)
    assert renamed.id == "330522.shuiwu"  # the id stays: issues keep pointing at it
    _, moved = dom.edit(cat, "330522.shuiwu", parent_id="330522.zrzyj", actor=ADMIN, now=NOW)
    assert moved.kind == "parent_set"
    off, gone = dom.deactivate(cat, "330522.shuiwu", actor=ADMIN, now=NOW)
    assert not off.active and gone.kind == "deactivated"
    with pytest.raises(RuleViolation) as exc:
        dom.deactivate(catalogue(off), off.id, actor=ADMIN, now=NOW)
    assert exc.value.code == "unit_active_unchanged"
    back, event = dom.reactivate(catalogue(off), off.id, actor=ADMIN, now=NOW)
    assert back.active and event.kind == "reactivated"
    with pytest.raises(NotFound):
        dom.edit(cat, "330522.nope", name_zh="x", actor=ADMIN, now=NOW)


def test_dispatch_accepts_only_an_active_unit_of_this_node_of_a_fitting_kind() -> None:
    board = unit("b-zc", UnitKind.BOARD, "政策板块")
    off = replace(unit("old"), active=False)
    foreign = unit("shuiwu", node="330521")
    cat = catalogue(unit("shuiwu"), board, off, foreign)
    kinds = dom.DEPARTMENT_KINDS
    assert dom.check_dispatch(cat, NODE, "330522.shuiwu", kinds, "department").name_zh == "税务局"
    for value, code in (("税务局", "unit_unknown"), ("330522.nope", "unit_unknown"),
                        ("330521.shuiwu", "unit_unknown"), ("330522.b-zc", "unit_kind_mismatch"),
                        ("330522.old", "unit_inactive")):
        with pytest.raises(ValidationError) as exc:
            dom.check_dispatch(cat, NODE, value, kinds, "department")
        assert exc.value.code == code, value
        assert exc.value.field == "department"


def test_each_ladder_step_moves_the_issue_into_its_units_queue(issue_at_department: object
                                                                ) -> None:
    from node.domain.issue import Issue

    issue = issue_at_department
    assert isinstance(issue, Issue)
    cat = catalogue(unit("shuiwu"), unit("hub", UnitKind.HUB, "综合窗口"),
                    unit("doudi", UnitKind.CATCH_ALL, "兜底办"),
                    unit("lianxi", UnitKind.JOINT_MEETING, "联席会议"))
    ladder = ("board", "service_centre", "catch_all_office", "joint_meeting")
    assert queue_of(issue) == "330522.shuiwu"
    rules = Rules(calendar=WorkCalendar(), ladder=ladder)
    seen = []
    for step in ladder[1:]:
        target = dom.step_unit(step, issue, cat, NODE)
        event = decide(issue, LadderUp(unit=target), actor=ADMIN, now=NOW, rules=rules)
        issue = evolve(issue, event)
        seen.append(queue_of(issue))
    assert seen == ["330522.hub", "330522.doudi", "330522.lianxi"]
    # an old ladder event without a unit: the step's unit is found in the catalogue
    old = replace(issue, ladder_unit=None, ladder_step=2)
    assert queue_of(old) == "330522.shuiwu"
    assert queue_of(old, ladder, cat, NODE) == "330522.doudi"


@pytest.fixture
def issue_at_department() -> object:
    from node.domain.issue import Channel, Enterprise, Issue, State

    return Issue(id="x", number="330522-2026-000001", origin=NODE, owner=NODE,
                 state=State.ASSIGNED, version=3,
                 enterprise=Enterprise(name="甲", credit_code="", contact_phone=""),
                 channel=Channel.ONLINE, title="t", content="c", received_at=NOW,
                 updated_at=NOW, department="330522.shuiwu")


def test_seed_orders_parents_first_and_keeps_what_exists() -> None:
    entries = [unit("bdc", name="不动产中心", parent="zrzyj"), unit("zrzyj", name="自然资源局")]
    made = dom.seed(NODE, entries, existing={}, actor=ADMIN, now=NOW)
    assert [u.id for u, _ in made] == ["330522.zrzyj", "330522.bdc"]
    again = dom.seed(NODE, entries, existing={u.id: u for u, _ in made}, actor=ADMIN, now=NOW)
    assert again == []


def test_migrated_ids_follow_the_spelling() -> None:
    a = dom.migrated_id(NODE, UnitKind.DEPARTMENT, "税务局")
    assert a == dom.migrated_id(NODE, UnitKind.DEPARTMENT, "税务局")
    assert a != dom.migrated_id(NODE, UnitKind.DEPARTMENT, "税务局 ")
    assert a != dom.migrated_id("330521", UnitKind.DEPARTMENT, "税务局")
    assert dom.is_unit_id(a) and a.startswith("330522.d-")


def test_the_configured_catalogue_is_checked_with_the_entry_named(tmp_path: Path) -> None:
    config = make_config(tmp_path, units=COUNTY_UNITS)
    found = {u.id: u for u in config.unit_entries()}
    assert found["330522.bdc"].parent_id == "330522.zrzyj"
    bad = [*COUNTY_UNITS, {"slug": "Bad Slug", "kind": "department", "name_zh": "x"}]
    with pytest.raises(ConfigError, match=r"units\[10\] \(slug 'Bad Slug'\)"):
        make_config(tmp_path, units=bad)
    with pytest.raises(ConfigError, match=r"units\[1\].*parent 'nope' is no earlier entry"):
        make_config(tmp_path, units=[COUNTY_UNITS[0], {"slug": "x", "kind": "department",
                                                       "name_zh": "x", "parent": "nope"}])
    with pytest.raises(ConfigError, match=r"units\[0\].*kind 'bureau'"):
        make_config(tmp_path, units=[{"slug": "x", "kind": "bureau", "name_zh": "x"}])
    with pytest.raises(ConfigError, match="used twice"):
        make_config(tmp_path, units=[COUNTY_UNITS[0], COUNTY_UNITS[0]])


@pytest.mark.parametrize("tier", ["city", "county", "province"])
def test_every_tier_file_seeds_a_valid_centre(tier: str) -> None:
    from node.config import load_config

    config = load_config(Path(__file__).parents[2] / "deploy" / tier / "node.toml")
    kinds = [u.kind for u in config.unit_entries()]
    for needed in (UnitKind.HUB, UnitKind.CATCH_ALL, UnitKind.JOINT_MEETING,
                   UnitKind.SUPERVISION, UnitKind.REVIEW, UnitKind.DEPARTMENT):
        assert needed in kinds
    if tier == "city":  # 1 hub + 6 boards + 3 zones + 1 兜底办 + 1 联席会议, 16 departments
        assert (kinds.count(UnitKind.BOARD), kinds.count(UnitKind.ZONE)) == (6, 3)
        assert kinds.count(UnitKind.DEPARTMENT) >= 16


def test_a_ladder_step_gives_its_holder_its_own_deadline(issue_at_department: object) -> None:
    from datetime import timedelta

    from node.domain.issue import Deadline, DeadlineKind, Issue

    assert isinstance(issue_at_department, Issue)
    due = NOW - timedelta(days=3)  # overdue at the department
    issue = replace(issue_at_department, deadline=Deadline(
        kind=DeadlineKind.RESOLVE, start=NOW - timedelta(days=30), due=due))
    rules = Rules(calendar=WorkCalendar())
    later = NOW + timedelta(hours=1)
    moved = evolve(issue, decide(issue, LadderUp(unit="330522.hub"), actor=ADMIN, now=later,
                                 rules=rules))
    assert moved.deadline is not None and moved.deadline.kind is DeadlineKind.RESOLVE
    assert moved.deadline.start == later and moved.deadline.due > later
    assert (moved.ladder_unit, queue_of(moved)) == ("330522.hub", "330522.hub")
