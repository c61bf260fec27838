"""Organisation units of a service centre (中心的组织单元): each one is a queue.

A unit id is the node's division code, a dot and a slug (`330522.fgj`), so the same-named
departments of two counties stay apart at their city. `Issue.department` and `Issue.board`
hold unit ids; `queue_of` names the unit whose queue holds an issue now.

How it works:

* `Unit` is an immutable value; a node's catalogue is a mapping id → Unit (its own units,
  and — at a city or province — the units its children published, under their codes).
* `check_unit` validates one unit against the catalogue it joins: the kind, the slug's
  characters, the name lengths, and a parent that exists, is a department (the bureau) of
  the same node and is no descendant of the unit (no cycles).
* Every change is a pure function (`create`, `edit`, `deactivate`, `reactivate`) that
  returns the new unit and one `UnitEvent` (actor, time, before and after), which the store
  appends to its change log in the transaction that writes the unit. Issues hold ids, so a
  rename changes one row and no issue.
* `seed` turns the configured catalogue (`[[units]]` in the node's file) into the units
  and events of a first start.
* `queue_of` maps an issue and its ladder step to a unit: step 0 is the issue's department
  (or board, before dispatch); a later step names a unit id, a unit kind, or one of the
  ladder's words (`service_centre` → the hub, `catch_all_office` → the catch-all office,
  `joint_meeting` → the joint meeting); the first active unit of that kind takes it.
* `migrated_id` is the id a free-text department or board of an older store becomes: the
  same spelling gives the same id at every node that migrates it.

The module is pure: `now` is passed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from node.domain.errors import Conflict, NotFound, RuleViolation, ValidationError
from node.domain.issue import Actor, Issue
from node.domain.validation import check_text, validate_division_code


class UnitKind(StrEnum):
    HUB = "hub"  # 综合窗口 / 中台枢纽: intake and triage
    BOARD = "board"  # 板块
    ZONE = "zone"  # 专区
    CATCH_ALL = "catch_all"  # 兜底办
    JOINT_MEETING = "joint_meeting"  # 联席会议
    DEPARTMENT = "department"  # 部门 (with its parent bureau)
    SUPERVISION = "supervision"  # 督查室
    REVIEW = "review"  # 营商局 联审: reviews rejections


#: What a dispatch may name: the triage's board (a board or a zone, 板块/专区) and the
#: assignment's department (a department, or the catch-all office taking an issue itself).
BOARD_KINDS: frozenset[UnitKind] = frozenset({UnitKind.BOARD, UnitKind.ZONE})
DEPARTMENT_KINDS: frozenset[UnitKind] = frozenset({UnitKind.DEPARTMENT, UnitKind.CATCH_ALL})

#: The ladder's words (config `[ladder] steps`) and the unit kind each one names.
LADDER_WORDS: Mapping[str, UnitKind] = {
    "service_centre": UnitKind.HUB,
    "catch_all_office": UnitKind.CATCH_ALL,
    "joint_meeting": UnitKind.JOINT_MEETING,
}
#: The first step's word: the issue's own department or board.
OWN_QUEUE = "board"

MAX_UNIT_NAME_ZH = 40
MAX_UNIT_NAME_EN = 80
MAX_EXTERNAL_CODE = 40
MAX_SLUG = 32
MAX_UNIT_ID = 6 + 1 + MAX_SLUG  # fits issues.department (60)
_SLUG = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_SLUG - 1}}}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Unit:
    id: str  # "<node code>.<slug>"
    node: str
    kind: UnitKind
    name_zh: str
    name_en: str | None = None
    parent_id: str | None = None  # a department's bureau (another department)
    active: bool = True
    external_code: str | None = None  # e.g. the unit's unified social credit code

    @property
    def slug(self) -> str:
        return self.id.partition(".")[2]

    def name(self, lang: str) -> str:
        """The name to show in `lang` ("zh" or "en"); Chinese when no English is set."""
        return self.name_en if lang.startswith("en") and self.name_en else self.name_zh


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitEvent:
    """One change of one unit: what it was (`before`, None when created) and is now."""

    unit_id: str
    kind: str  # created | renamed | parent_set | edited | deactivated | reactivated
    actor: Actor
    at: datetime
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]


Catalogue = Mapping[str, Unit]


# --------------------------------------------------------------------------- values


def unit_id(node: str, slug: str) -> str:
    return f"{node}.{slug}"


def split_unit_id(value: str) -> tuple[str, str]:
    """(node code, slug) of a well-formed unit id; `unit_id_invalid` otherwise."""
    node, dot, slug = value.partition(".")
    if not dot or not _SLUG.fullmatch(slug):
        raise ValidationError("unit_id_invalid", field="id", value=value[:MAX_UNIT_ID + 8])
    try:
        validate_division_code(node)
    except ValidationError:
        raise ValidationError("unit_id_invalid", field="id",
                              value=value[:MAX_UNIT_ID + 8]) from None
    return node, slug


def is_unit_id(value: str) -> bool:
    try:
        split_unit_id(value)
    except ValidationError:
        return False
    return True


def unit_kind(value: str) -> UnitKind:
    try:
        return UnitKind(value)
    except ValueError:
        raise ValidationError("unit_kind_invalid", field="kind", value=str(value)[:40]) from None


def as_record(unit: Unit) -> dict[str, Any]:
    """The unit as plain values (an event's before/after, an API answer, a summary)."""
    return {"id": unit.id, "node": unit.node, "kind": unit.kind.value,
            "name_zh": unit.name_zh, "name_en": unit.name_en, "parent_id": unit.parent_id,
            "active": unit.active, "external_code": unit.external_code}


def from_record(record: Mapping[str, Any]) -> Unit:
    return Unit(id=str(record["id"]), node=str(record["node"]),
                kind=unit_kind(str(record["kind"])), name_zh=str(record["name_zh"]),
                name_en=record.get("name_en"), parent_id=record.get("parent_id"),
                active=bool(record.get("active", True)),
                external_code=record.get("external_code"))


def check_unit(unit: Unit, catalogue: Catalogue) -> Unit:
    """`unit` with its texts normalised, or the first ValidationError it breaks."""
    node, _ = split_unit_id(unit.id)
    if node != unit.node:
        raise ValidationError("unit_id_invalid", field="id", value=unit.id)
    kind = unit_kind(unit.kind)
    name_zh = check_text("name_zh", unit.name_zh, max_len=MAX_UNIT_NAME_ZH)
    name_en = check_text("name_en", unit.name_en, max_len=MAX_UNIT_NAME_EN, required=False)
    external = check_text("external_code", unit.external_code, max_len=MAX_EXTERNAL_CODE,
                          required=False)
    if unit.parent_id is not None:
        parent = catalogue.get(unit.parent_id)
        if (parent is None or parent.node != unit.node or parent.kind is not UnitKind.DEPARTMENT
                or kind is not UnitKind.DEPARTMENT):
            raise ValidationError("unit_parent_invalid", field="parent_id",
                                  parent=unit.parent_id)
        seen = {unit.id}
        cursor: Unit | None = parent
        while cursor is not None:
            if cursor.id in seen:
                raise ValidationError("unit_parent_cycle", field="parent_id",
                                      parent=unit.parent_id)
            seen.add(cursor.id)
            cursor = catalogue.get(cursor.parent_id) if cursor.parent_id else None
    assert name_zh is not None
    return replace(unit, kind=kind, name_zh=name_zh, name_en=name_en, external_code=external)


# --------------------------------------------------------------------------- changes


def create(catalogue: Catalogue, unit: Unit, *, actor: Actor, now: datetime
           ) -> tuple[Unit, UnitEvent]:
    if unit.id in catalogue:
        raise Conflict("unit_exists", unit=unit.id)
    new = check_unit(unit, catalogue)
    return new, UnitEvent(unit_id=new.id, kind="created", actor=actor, at=now, before=None,
                          after=as_record(new))


_UNSET: Any = object()


def edit(catalogue: Catalogue, unit_id_: str, *, actor: Actor, now: datetime,
         name_zh: str | None = _UNSET, name_en: str | None = _UNSET,
         parent_id: str | None = _UNSET, external_code: str | None = _UNSET
         ) -> tuple[Unit, UnitEvent]:
    """Rename, move under another bureau or recode one unit (only what is given)."""
    old = get(catalogue, unit_id_)
    changes: dict[str, Any] = {k: v for k, v in (("name_zh", name_zh), ("name_en", name_en),
                                 ("parent_id", parent_id), ("external_code", external_code))
               if v is not _UNSET}
    new = check_unit(replace(old, **changes), catalogue)
    changed = {k for k in ("name_zh", "name_en", "parent_id", "external_code")
               if getattr(new, k) != getattr(old, k)}
    kind = ("renamed" if changed <= {"name_zh", "name_en"} else
            "parent_set" if changed == {"parent_id"} else "edited")
    return new, UnitEvent(unit_id=old.id, kind=kind, actor=actor, at=now,
                          before=as_record(old), after=as_record(new))


def set_active(catalogue: Catalogue, unit_id_: str, active: bool, *, actor: Actor,
               now: datetime) -> tuple[Unit, UnitEvent]:
    old = get(catalogue, unit_id_)
    if old.active is active:
        raise RuleViolation("unit_active_unchanged", unit=old.id, active=active)
    new = replace(old, active=active)
    return new, UnitEvent(unit_id=old.id, kind="reactivated" if active else "deactivated",
                          actor=actor, at=now, before=as_record(old), after=as_record(new))


def deactivate(catalogue: Catalogue, unit_id_: str, *, actor: Actor, now: datetime
               ) -> tuple[Unit, UnitEvent]:
    return set_active(catalogue, unit_id_, False, actor=actor, now=now)


def reactivate(catalogue: Catalogue, unit_id_: str, *, actor: Actor, now: datetime
               ) -> tuple[Unit, UnitEvent]:
    return set_active(catalogue, unit_id_, True, actor=actor, now=now)


def get(catalogue: Catalogue, unit_id_: str) -> Unit:
    found = catalogue.get(unit_id_)
    if found is None:
        raise NotFound("unit_not_found", unit=unit_id_[:MAX_UNIT_ID + 8])
    return found


def seed(node: str, entries: Sequence[Unit], *, existing: Catalogue, actor: Actor,
         now: datetime) -> list[tuple[Unit, UnitEvent]]:
    """The units of `entries` this node does not have yet, in an order in which each parent
    comes first, each with its `created` event. Units already there are left as they are:
    the file seeds a first start; changes afterwards go through the admin API."""
    catalogue = dict(existing)
    pending = [u for u in entries if u.id not in catalogue]
    out: list[tuple[Unit, UnitEvent]] = []
    while pending:
        ready = [u for u in pending if u.parent_id is None or u.parent_id in catalogue]
        if not ready:  # an unknown parent or a cycle: let the first one say which
            ready = pending[:1]
        for u in ready:
            if u.node != node:
                raise ValidationError("unit_id_invalid", field="id", value=u.id)
            made = create(catalogue, u, actor=actor, now=now)
            catalogue[made[0].id] = made[0]
            out.append(made)
            pending.remove(u)
    return out


# --------------------------------------------------------------------------- dispatch


def check_dispatch(catalogue: Catalogue, node: str, value: str, kinds: Iterable[UnitKind],
                   field: str) -> Unit:
    """The unit `value` names, if an active unit of this node of one of `kinds`."""
    allowed = frozenset(kinds)
    if not is_unit_id(value):
        raise ValidationError("unit_unknown", field=field, unit=value[:MAX_UNIT_ID + 8])
    unit = catalogue.get(value)
    if unit is None or unit.node != node:
        raise ValidationError("unit_unknown", field=field, unit=value)
    if unit.kind not in allowed:
        raise ValidationError("unit_kind_mismatch", field=field, unit=value,
                              kind=unit.kind.value,
                              expected=",".join(sorted(k.value for k in allowed)))
    if not unit.active:
        raise ValidationError("unit_inactive", field=field, unit=value)
    return unit


def step_unit(step: str, issue: Issue, catalogue: Catalogue, node: str) -> str | None:
    """The unit a ladder step names for `issue` at `node` (None: no such unit here)."""
    if step == OWN_QUEUE:
        return issue.department or issue.board
    if is_unit_id(step):
        return step if step in catalogue else None
    kind = LADDER_WORDS.get(step)
    if kind is None:
        try:
            kind = UnitKind(step)
        except ValueError:
            return None
    found = sorted(u.id for u in catalogue.values()
                   if u.node == node and u.kind is kind and u.active)
    return found[0] if found else None


def queue_of(issue: Issue, ladder: Sequence[str] | None = None,
             catalogue: Catalogue | None = None, node: str | None = None) -> str | None:
    """The unit whose queue holds `issue` now (None: still at intake, the hub's).

    On step 0 that is its department (or board). Above it, the unit the ladder event named
    (`Issue.ladder_unit`); for an older event without one, the unit the ladder's step names
    in `catalogue` when given."""
    if issue.ladder_step > 0:
        if issue.ladder_unit:
            return issue.ladder_unit
        if ladder is not None and catalogue is not None and issue.ladder_step < len(ladder):
            found = step_unit(ladder[issue.ladder_step], issue, catalogue, node or issue.owner)
            if found is not None:
                return found
    return issue.department or issue.board


# --------------------------------------------------------------------------- migration


def migrated_slug(kind: UnitKind, text: str) -> str:
    """The slug a free-text department or board becomes: its kind's letter and a digest of
    its spelling (`d-1f3a…`), the same at every node and in every run."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"{kind.value[0]}-{digest}"


def migrated_id(node: str, kind: UnitKind, text: str) -> str:
    return unit_id(node, migrated_slug(kind, text))
