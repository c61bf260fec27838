"""The organisation of a centre as one file: its units, its own tag library, its rules.

A county copies its city's template: the city exports `zhitong-organisation/1` (units by
slug, the categories and tags it defined itself, its own rules), the county imports it.
Units are keyed by slug, so the city's `330500.fgj` becomes the county's `330522.fgj`;
categories and tags by their Chinese name, so importing twice adds nothing and a tag that
came from above is never touched (a county adds under the province's category of the same
name instead of creating a second one). People are not part of the template: accounts
belong to one node and are created there.

`parse` checks a whole file before anything is planned (a clear error naming the field,
nothing written); `plan_units` and `plan_tags` compare it with what the node holds and
say what an import would do, so a dry run and the real run report the same steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from node.domain.errors import ValidationError
from node.domain.tags import Library
from node.domain.units import Unit, UnitKind
from node.domain.validation import validate_division_code

FORMAT = "zhitong-organisation/1"
MAX_UNITS = 500
MAX_CATEGORIES = 200
MAX_TAGS = 2000
MAX_NAME = 100


def _invalid(where: str, problem: str) -> ValidationError:
    return ValidationError("organisation_invalid", field=where, problem=problem)


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitEntry:
    slug: str
    kind: UnitKind
    name_zh: str
    name_en: str | None = None
    parent: str | None = None  # the parent's slug
    active: bool = True
    external_code: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TagEntry:
    name_zh: str
    name_en: str | None = None
    active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class CategoryEntry:
    name_zh: str
    name_en: str | None = None
    tags: tuple[TagEntry, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Organisation:
    source: str  # the node it was exported from
    units: tuple[UnitEntry, ...] = ()
    categories: tuple[CategoryEntry, ...] = ()
    rules: Mapping[str, Any] | None = None  # the exporting node's own rules (floors apply)


def document(*, node: str, name: str, units: Sequence[Unit], library: Library,
             rules: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The file of this node's organisation: its own units, the categories and tags it
    defined itself (and its own tags under categories from above), its own rules."""
    own = sorted((u for u in units if u.node == node), key=lambda u: u.id)
    slug_of = {u.id: u.slug for u in own}
    categories: dict[str, dict[str, Any]] = {}
    for c in sorted(library.categories.values(), key=lambda c: c.name_zh):
        categories[c.id] = {"name_zh": c.name_zh, "name_en": c.name_en, "tags": [],
                            "from_above": c.origin != node}
    for t in sorted(library.tags.values(), key=lambda t: t.name_zh):
        if t.origin != node or t.merged_into is not None or t.category not in categories:
            continue
        categories[t.category]["tags"].append(
            {"name_zh": t.name_zh, "name_en": t.name_en, "active": t.active})
    return {
        "format": FORMAT, "node": node, "name": name, "exported_at": now.isoformat(),
        "units": [{"slug": u.slug, "kind": u.kind.value, "name_zh": u.name_zh,
                   "name_en": u.name_en, "parent": slug_of.get(u.parent_id or ""),
                   "active": u.active, "external_code": u.external_code} for u in own],
        # a category from above travels by name only, to hold the tags added under it
        "categories": [{k: v for k, v in c.items() if k != "from_above"}
                       for c in categories.values() if not c["from_above"] or c["tags"]],
        "rules": dict(rules) if rules is not None else None,
    }


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True
          ) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"{where}.{key}", "required")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{where}.{key}", "not text")
    value = value.strip()
    if not value or len(value) > MAX_NAME or any(ord(ch) < 32 for ch in value):
        raise _invalid(f"{where}.{key}", f"1 to {MAX_NAME} printable characters")
    return value


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, True)
    if not isinstance(value, bool):
        raise _invalid(f"{where}.{key}", "true or false")
    return value


def _list(raw: Mapping[str, Any], key: str, limit: int) -> list[Any]:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise _invalid(key, "a list")
    if len(value) > limit:
        raise _invalid(key, f"at most {limit} entries")
    return value


def parse(raw: Any) -> Organisation:
    """The organisation a file holds; `organisation_invalid` naming the first problem."""
    from node.domain.units import split_unit_id, unit_kind

    if not isinstance(raw, Mapping):
        raise _invalid("(file)", "a JSON object")
    if raw.get("format") != FORMAT:
        raise _invalid("format", f"must be {FORMAT}")
    source = _text(raw, "node", "file")
    assert source is not None
    try:
        validate_division_code(source)
    except ValidationError:
        raise _invalid("node", "a division code (6 digits)") from None
    units: list[UnitEntry] = []
    for i, entry in enumerate(_list(raw, "units", MAX_UNITS)):
        where = f"units[{i}]"
        if not isinstance(entry, Mapping):
            raise _invalid(where, "an object")
        slug = _text(entry, "slug", where)
        kind_text = _text(entry, "kind", where)
        assert slug is not None and kind_text is not None
        try:
            split_unit_id(f"{source}.{slug}")
            kind = unit_kind(kind_text)
        except ValidationError as exc:
            raise _invalid(where, exc.code) from None
        name_zh = _text(entry, "name_zh", where)
        assert name_zh is not None
        units.append(UnitEntry(
            slug=slug, kind=kind, name_zh=name_zh,
            name_en=_text(entry, "name_en", where, required=False),
            parent=_text(entry, "parent", where, required=False),
            active=_flag(entry, "active", where),
            external_code=_text(entry, "external_code", where, required=False)))
    slugs = [u.slug for u in units]
    twice = sorted({s for s in slugs if slugs.count(s) > 1})
    if twice:
        raise _invalid("units", f"slug listed twice: {twice[0]}")
    for i, u in enumerate(units):
        if u.parent is not None and u.parent not in slugs:
            raise _invalid(f"units[{i}].parent", f"no unit {u.parent} in the file")
    _order(units)  # no cycles
    categories: list[CategoryEntry] = []
    total = 0
    for i, entry in enumerate(_list(raw, "categories", MAX_CATEGORIES)):
        where = f"categories[{i}]"
        if not isinstance(entry, Mapping):
            raise _invalid(where, "an object")
        tags = []
        for j, tag in enumerate(_list(entry, "tags", MAX_TAGS)):
            if not isinstance(tag, Mapping):
                raise _invalid(f"{where}.tags[{j}]", "an object")
            name = _text(tag, "name_zh", f"{where}.tags[{j}]")
            assert name is not None
            tags.append(TagEntry(name_zh=name,
                                 name_en=_text(tag, "name_en", f"{where}.tags[{j}]",
                                               required=False),
                                 active=_flag(tag, "active", f"{where}.tags[{j}]")))
        total += len(tags)
        if total > MAX_TAGS:
            raise _invalid("categories", f"at most {MAX_TAGS} tags in all")
        name_zh = _text(entry, "name_zh", where)
        assert name_zh is not None
        categories.append(CategoryEntry(name_zh=name_zh,
                                        name_en=_text(entry, "name_en", where, required=False),
                                        tags=tuple(tags)))
    rules = raw.get("rules")
    if rules is not None and not isinstance(rules, Mapping):
        raise _invalid("rules", "an object")
    return Organisation(source=source, units=tuple(units), categories=tuple(categories),
                        rules=dict(rules) if rules is not None else None)


def _order(units: Sequence[UnitEntry]) -> list[UnitEntry]:
    """Parents before their children; `organisation_invalid` on a cycle."""
    by_slug = {u.slug: u for u in units}
    out: list[UnitEntry] = []
    placed: set[str] = set()
    for u in units:
        chain: list[UnitEntry] = []
        seen: set[str] = set()
        cur: UnitEntry | None = u
        while cur is not None and cur.slug not in placed:
            if cur.slug in seen:
                raise _invalid("units", f"the parents of {u.slug} form a cycle")
            seen.add(cur.slug)
            chain.append(cur)
            cur = by_slug.get(cur.parent) if cur.parent else None
        for entry in reversed(chain):
            placed.add(entry.slug)
            out.append(entry)
    return out


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitStep:
    action: str  # "create" | "update" | "same"
    entry: UnitEntry
    unit_id: str
    parent_id: str | None
    changes: Mapping[str, Any] = field(default_factory=dict)


def plan_units(org: Organisation, node: str, catalogue: Mapping[str, Unit]) -> list[UnitStep]:
    """What importing `org`'s units at `node` does to each, parents first."""
    from node.domain.units import unit_id

    steps = []
    for entry in _order(org.units):
        uid = unit_id(node, entry.slug)
        parent_id = unit_id(node, entry.parent) if entry.parent else None
        have = catalogue.get(uid)
        if have is None:
            steps.append(UnitStep(action="create", entry=entry, unit_id=uid,
                                  parent_id=parent_id))
            continue
        if have.kind is not entry.kind:
            raise ValidationError("organisation_conflict", field="units", unit=uid,
                                  have=have.kind.value, want=entry.kind.value)
        wanted = (("name_zh", entry.name_zh), ("name_en", entry.name_en),
                  ("parent_id", parent_id), ("external_code", entry.external_code))
        changes: dict[str, Any] = {k: v for k, v in wanted if getattr(have, k) != v}
        if have.active != entry.active:
            changes["active"] = entry.active
        steps.append(UnitStep(action="update" if changes else "same", entry=entry,
                              unit_id=uid, parent_id=parent_id, changes=changes))
    return steps


@dataclass(frozen=True, kw_only=True, slots=True)
class TagStep:
    action: str  # "create_category" | "create_tag" | "same"
    category: str  # the category's Chinese name
    name_zh: str | None = None  # a tag's, for the tag steps
    name_en: str | None = None
    category_id: str | None = None  # when the category exists already


def plan_tags(org: Organisation, library: Library) -> list[TagStep]:
    """What importing `org`'s categories and tags does to `library`: by Chinese name,
    under an existing category (this node's or from above) of the same name."""
    by_name = {c.name_zh: c for c in library.categories.values()}
    known = set(library.by_name())
    steps = []
    for c in org.categories:
        have = by_name.get(c.name_zh)
        if have is None:
            steps.append(TagStep(action="create_category", category=c.name_zh,
                                 name_en=c.name_en))
        for t in c.tags:
            if t.name_zh in known:
                steps.append(TagStep(action="same", category=c.name_zh, name_zh=t.name_zh))
                continue
            known.add(t.name_zh)
            steps.append(TagStep(action="create_tag", category=c.name_zh, name_zh=t.name_zh,
                                 name_en=t.name_en,
                                 category_id=have.id if have is not None else None))
    return steps
