"""Export and import a centre's organisation as one file (node/domain/organisation.py).

An import is checked as a whole first — the file, every unit against the catalogue, every
tag against the library, the rules against the floors from above — and reports the steps
it takes; a dry run stops there, so it writes nothing and says exactly what the real run
will do. The real run then applies the steps through the units, tags and rules use cases
(each change an event, audited as when an admin makes it by hand). Those are separate
transactions: a crash half-way leaves the steps before it, and running the import again
completes it (every step is keyed by slug or name, so nothing is made twice).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from node.app.floors import RulesService, rules_from_json
from node.app.policy import MANAGE_UNITS, Principal, require
from node.app.ports import Clock
from node.app.tags import TagService
from node.app.units import UnitService
from node.domain import organisation as org
from node.domain.floors import check
from node.domain.tags import Library


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportReport:
    dry_run: bool
    source: str
    units: dict[str, int] = field(default_factory=dict)  # action → count
    tags: dict[str, int] = field(default_factory=dict)
    rules: str = "absent"  # absent | same | changed
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "source": self.source, "units": self.units,
                "tags": self.tags, "rules": self.rules, "steps": self.steps}


class OrganisationService:
    def __init__(self, *, units: UnitService, tags: TagService | None,
                 rules: RulesService | None, node: str, node_name: str, clock: Clock) -> None:
        self.units = units
        self.tags = tags
        self.rules = rules
        self.node = node
        self.node_name = node_name
        self.clock = clock

    def export(self, principal: Principal) -> dict[str, Any]:
        require(principal, MANAGE_UNITS)
        library = self.tags.tree(principal).library if self.tags is not None else None
        own_rules = self.rules.effective(principal)["own"] if self.rules is not None else None
        return org.document(node=self.node, name=self.node_name,
                            units=list(self.units.catalogue().values()),
                            library=library or Library(node=self.node), rules=own_rules,
                            now=self.clock.now())

    def import_(self, principal: Principal, raw: Any, *, dry_run: bool) -> ImportReport:
        require(principal, MANAGE_UNITS)
        parsed = org.parse(raw)
        unit_steps = org.plan_units(parsed, self.node, self.units.catalogue())
        tag_steps: list[org.TagStep] = []
        if self.tags is not None and parsed.categories:
            tag_steps = org.plan_tags(parsed, self.tags.tree(principal).library)
        rules_action = "absent"
        if parsed.rules is not None and self.rules is not None:
            wanted = rules_from_json(parsed.rules)  # refused with the field named
            violations = check(wanted, self.rules.floors())
            if violations:
                raise violations[0].error()  # the floor, its value, version and issuer
            current = self.rules.effective(principal)["own"]
            rules_action = "same" if current == dict(parsed.rules) else "changed"
        report = ImportReport(
            dry_run=dry_run, source=parsed.source,
            units=dict(Counter(s.action for s in unit_steps)),
            tags=dict(Counter(s.action for s in tag_steps)), rules=rules_action,
            steps=[{"unit": s.unit_id, "action": s.action, "changes": sorted(s.changes)}
                   for s in unit_steps if s.action != "same"]
            + [{"tag": s.name_zh or s.category, "category": s.category, "action": s.action}
               for s in tag_steps if s.action != "same"])
        if dry_run:
            return report
        for step in unit_steps:
            self._apply_unit(principal, step)
        self._apply_tags(principal, tag_steps)
        if rules_action == "changed" and self.rules is not None and parsed.rules is not None:
            self.rules.change(principal, parsed.rules)
        return report

    def _apply_unit(self, principal: Principal, step: org.UnitStep) -> None:
        e = step.entry
        if step.action == "create":
            self.units.create(principal, slug=e.slug, kind=e.kind.value, name_zh=e.name_zh,
                              name_en=e.name_en, parent_id=step.parent_id,
                              external_code=e.external_code, active=e.active)
            return
        if step.action != "update":
            return
        edits = {k: v for k, v in step.changes.items() if k != "active"}
        if edits:
            self.units.edit(principal, step.unit_id, **edits)
        if "active" in step.changes:
            if step.changes["active"]:
                self.units.reactivate(principal, step.unit_id)
            else:
                self.units.deactivate(principal, step.unit_id)

    def _apply_tags(self, principal: Principal, steps: list[org.TagStep]) -> None:
        if self.tags is None:
            return
        made: dict[str, str] = {}  # category name → id, of those created by this import
        for step in steps:
            if step.action == "create_category":
                made[step.category] = self.tags.create_category(
                    principal, name_zh=step.category, name_en=step.name_en).id
            elif step.action == "create_tag":
                category = step.category_id or made[step.category]
                self.tags.create_tag(principal, category=category, name_zh=step.name_zh or "",
                                     name_en=step.name_en)
