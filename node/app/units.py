"""Use cases of the organisation units: the catalogue, its changes, and dispatch checks.

`UnitService` lists and changes this node's units (create, edit — rename, move under a
bureau, recode —, deactivate, reactivate): each change is decided by node/domain/units.py
and written with its one `unit_events` row in one transaction of the store
(node.app.ports.UnitStore). Issues hold unit ids, so no change of a unit touches an issue.

The catalogue is small (tens of units) and read on every dispatch and every answer that
names a unit: the service keeps it in memory and drops that copy whenever it writes, so
this process always reads what it wrote.

`seed` adds the configured units (`[[units]]`) a node does not have yet at start, by the
system actor. `adopt` keeps the catalogue a child published (its summary message), so a
city can name a county's units without merging them with its own.

Dispatch (node/app/service.py) asks `check_board` / `check_department`: with units in the
catalogue only an active unit of this node of a fitting kind is accepted; a node without
any unit (a store older than the catalogue, a bare test node) keeps accepting free text.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from node.app.policy import MANAGE_UNITS, VIEW_METRICS, VIEW_POOL, Principal, can, require
from node.app.ports import Clock, StoredUnitEvent, UnitStore
from node.domain import units as dom
from node.domain.errors import NotFound, ValidationError
from node.domain.issue import Actor, ActorKind
from node.domain.units import BOARD_KINDS, DEPARTMENT_KINDS, Unit, UnitKind

SYSTEM = Actor(kind=ActorKind.SYSTEM, id="units-seed")


def _may_read(principal: Principal) -> None:
    """Staff who see the pool or the figures read the units' names (nothing personal)."""
    if not can(principal, VIEW_METRICS):
        require(principal, VIEW_POOL)


class UnitService:
    def __init__(self, *, store: UnitStore, node: str, clock: Clock) -> None:
        self.store = store
        self.node = node
        self.clock = clock
        self._cache: dict[str, Unit] | None = None

    # ----------------------------------------------------------------- reads

    def catalogue(self) -> Mapping[str, Unit]:
        """Every unit known here (this node's and its children's), by id."""
        if self._cache is None:
            with self.store.read() as unit:
                self._cache = {u.id: u for u in unit.units()}
        return self._cache

    def list(self, principal: Principal, *, node: str | None = None,
             kind: UnitKind | None = None, active: bool | None = None
             ) -> builtins.list[Unit]:
        """The units of `node` (this one by default), by id."""
        _may_read(principal)
        wanted = node or self.node
        return [u for u in self.catalogue().values()
                if u.node == wanted and (kind is None or u.kind is kind)
                and (active is None or u.active is active)]

    def get(self, principal: Principal, unit_id: str) -> Unit:
        _may_read(principal)
        return dom.get(self.catalogue(), unit_id)

    def known(self, principal: Principal) -> builtins.list[Unit]:
        """Every unit known here: this node's and those its children published."""
        _may_read(principal)
        return builtins.list(self.catalogue().values())

    def events(self, principal: Principal, unit_id: str | None = None, *,
               limit: int = 200) -> builtins.list[StoredUnitEvent]:
        require(principal, MANAGE_UNITS)
        with self.store.read() as unit:
            return unit.unit_events(unit_id, limit=limit)

    def names(self, ids: Sequence[str | None], lang: str) -> dict[str, str]:
        """The name in `lang` of each known unit among `ids` (unknown ones are left out)."""
        cat = self.catalogue()
        return {i: cat[i].name(lang) for i in ids if i is not None and i in cat}

    def name_of(self, unit_id: str | None, lang: str) -> str | None:
        if unit_id is None:
            return None
        found = self.catalogue().get(unit_id)
        return None if found is None else found.name(lang)

    def has_catalogue(self) -> bool:
        return any(u.node == self.node for u in self.catalogue().values())

    # ----------------------------------------------------------------- dispatch

    def check_board(self, value: str | None) -> None:
        if value is not None and self.has_catalogue():
            dom.check_dispatch(self.catalogue(), self.node, value, BOARD_KINDS, "board")

    def check_department(self, value: str) -> None:
        if self.has_catalogue():
            dom.check_dispatch(self.catalogue(), self.node, value, DEPARTMENT_KINDS,
                               "department")

    def resolve(self, value: str, kinds: frozenset[UnitKind], field: str) -> str:
        """The id of the active unit of this node of `kinds` that `value` names — its id,
        or its Chinese or English name when exactly one unit bears it (imported files
        name units as people write them); `unit_unknown` otherwise."""
        cat = self.catalogue()
        if value in cat:
            return dom.check_dispatch(cat, self.node, value, kinds, field).id
        named = [u.id for u in cat.values() if u.node == self.node and u.kind in kinds
                 and u.active and value in (u.name_zh, u.name_en)]
        if len(named) != 1:
            raise ValidationError("unit_unknown", field=field, unit=value[:60])
        return named[0]

    def step_unit(self, step: str, issue: Any) -> str | None:
        return dom.step_unit(step, issue, self.catalogue(), self.node)

    # ----------------------------------------------------------------- changes

    def create(self, principal: Principal, *, slug: str, kind: str, name_zh: str,
               name_en: str | None = None, parent_id: str | None = None,
               external_code: str | None = None, active: bool = True) -> Unit:
        require(principal, MANAGE_UNITS)
        draft = Unit(id=dom.unit_id(self.node, slug), node=self.node,
                     kind=dom.unit_kind(kind), name_zh=name_zh, name_en=name_en,
                     parent_id=parent_id or None, external_code=external_code,
                     active=active)
        return self._write(lambda cat, now: dom.create(cat, draft, actor=principal.actor,
                                                       now=now), new=True)

    def edit(self, principal: Principal, unit_id: str, **changes: Any) -> Unit:
        """Rename (`name_zh`, `name_en`), move (`parent_id`) or recode (`external_code`)."""
        require(principal, MANAGE_UNITS)
        self._own(unit_id)
        return self._write(lambda cat, now: dom.edit(cat, unit_id, actor=principal.actor,
                                                     now=now, **changes))

    def deactivate(self, principal: Principal, unit_id: str) -> Unit:
        require(principal, MANAGE_UNITS)
        self._own(unit_id)
        return self._write(lambda cat, now: dom.deactivate(cat, unit_id,
                                                           actor=principal.actor, now=now))

    def reactivate(self, principal: Principal, unit_id: str) -> Unit:
        require(principal, MANAGE_UNITS)
        self._own(unit_id)
        return self._write(lambda cat, now: dom.reactivate(cat, unit_id,
                                                           actor=principal.actor, now=now))

    def _own(self, unit_id: str) -> None:
        found = dom.get(self.catalogue(), unit_id)
        if found.node != self.node:  # a child's unit: changed only at the child
            raise NotFound("unit_not_found", unit=unit_id)

    def _write(self, change: Any, *, new: bool = False) -> Unit:
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                catalogue = {u.id: u for u in unit.units()}
                made, event = change(catalogue, now)
                if new:
                    unit.insert_unit(made, at=now)
                else:
                    unit.update_unit(made, at=now)
                unit.append_unit_event(event)
        finally:
            self._cache = None
        assert isinstance(made, Unit)
        return made

    def seed(self, entries: Sequence[Unit]) -> int:
        """Add the configured units this node does not have yet; returns how many."""
        if not entries:
            return 0
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                existing = {u.id: u for u in unit.units()}
                made = dom.seed(self.node, entries, existing=existing, actor=SYSTEM, now=now)
                for u, event in made:
                    unit.insert_unit(u, at=now)
                    unit.append_unit_event(event)
        finally:
            self._cache = None
        return len(made)

    # ----------------------------------------------------------------- federation

    def published(self) -> builtins.list[dict[str, Any]]:
        """This node's catalogue as it travels to the parent (ids, kinds, names, active)."""
        return [{k: v for k, v in dom.as_record(u).items() if k != "external_code"}
                for u in self.catalogue().values() if u.node == self.node]

    def adopt(self, child: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Keep the catalogue `child` published (its units only, under its code)."""
        if child == self.node:
            return 0
        found = []
        for r in records:
            u = dom.from_record(r)
            if u.node == child and dom.is_unit_id(u.id):
                found.append(u)
        old = sorted((u for u in self.catalogue().values() if u.node == child),
                     key=lambda u: u.id)
        if old == sorted(found, key=lambda u: u.id):
            return 0
        try:
            with self.store.write() as unit:
                unit.replace_units_of(child, found, at=self.clock.now())
        finally:
            self._cache = None
        return len(found)
