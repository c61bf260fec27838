"""The tag library (标签库): a managed tree of categories and their tags, per node.

How it works:

* A `Category` groups `Tag`s; both have an id, a Chinese and an English name, an active
  flag and an `origin`: the node that defined the entry. A node's `Library` holds its own
  entries and those that came from above (its province's, its city's): ids name their
  origin (`c.<node>.<slug>`, `t.<node>.<slug>`), so the same province tag has the same id
  at every node below it and top-10 lists fold by id across tiers.
* Rules: a node changes only its own entries. It may add categories and tags (also under
  a category from above); renaming, deactivating or merging an entry from above is
  refused with `tag_from_above`. Nothing is ever deleted: deactivation keeps the entry,
  so history and old counts keep their meaning.
* Names are unique within a library (current and former names, zh and en), so a name
  resolves to exactly one tag. Issues keep the tag's name they were triaged with (what
  search, filters, exports and imports always used); `Library.canonical` maps any name
  an issue may carry (a former name after a rename, the name of a tag merged into
  another) to the surviving tag's id: metrics and summaries count by that id.
* `merge(source, target)`: the source (a local tag) becomes inactive with `merged_into`
  set; resolving it (by id or any of its names) yields the survivor, so counts re-count
  under the survivor at once and the old id stays as history.
* `check_triage` is what triage accepts: once the library is in force (the node holds at
  least one category, its own or from above) only active library tags, given by id or
  name, stored under the surviving tag's Chinese name; a node without any library yet
  keeps accepting free text (an older node before its first category).
* `publication` is what a node publishes for its subtree (its own entries only);
  `accept_publication` applies an ancestor's: its entries are upserted as from above, the
  ones it no longer lists are deactivated, local ones are never removed, and a local tag
  spelled like an incoming one is merged into it (same spelling → the ancestor's id).

Every operation returns an `Outcome`: the entries to write and the `Change`s for the
change log. The module is pure: no I/O, `now` is the store's business.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from node.domain.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationError
from node.domain.validation import MAX_TAG, check_text

UNCATEGORISED_ZH = "未分类"
UNCATEGORISED_EN = "Uncategorised"
UNCATEGORISED_SLUG = "uncategorised"
#: The origin of entries a migration wrote before it knew the node (node/store/tags.py
#: `adopt` gives them the node's code at its next start).
UNADOPTED = "000000"
MAX_NAME_EN = 60
MAX_ID = 64
#: How many merges `survivor` follows (a chain longer than this is a bug, not data).
MAX_MERGE_CHAIN = 32
#: The most entries one publication may carry.
MAX_PUBLISHED = 5000
_ID = re.compile(r"^[ct]\.[0-9]{6}\.[a-z0-9][a-z0-9-]{0,40}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def slug(name: str) -> str:
    """A stable slug of `name`: its ASCII words, or — for Chinese and anything else — a
    short hash of the exact spelling (the same spelling always gives the same slug)."""
    if name.isascii():
        words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
        if words:
            return words
    return "x" + hashlib.sha256(name.encode()).hexdigest()[:10]


def tag_id(node: str, name: str) -> str:
    return f"t.{node}.{slug(name)}"


def category_id(node: str, name: str) -> str:
    return f"c.{node}.{slug(name)}"


def uncategorised_id(node: str) -> str:
    return f"c.{node}.{UNCATEGORISED_SLUG}"


def origin_of(entry_id: str) -> str:
    """The node an entry id names (`t.330000.x1f…` → `330000`)."""
    parts = entry_id.split(".")
    return parts[1] if len(parts) == 3 else ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Category:
    id: str
    name_zh: str
    name_en: str | None = None
    active: bool = True
    origin: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name_zh": self.name_zh, "name_en": self.name_en,
                "active": self.active, "origin": self.origin}


@dataclass(frozen=True, kw_only=True, slots=True)
class Tag:
    id: str
    category: str
    name_zh: str
    name_en: str | None = None
    active: bool = True
    origin: str
    #: set once merged: the tag that survives (this one stays, inactive, as history)
    merged_into: str | None = None
    #: names it had before a rename: issues triaged under them still count here
    former_names: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            n for n in (self.name_zh, self.name_en, *self.former_names) if n))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "name_zh": self.name_zh,
                "name_en": self.name_en, "active": self.active, "origin": self.origin,
                "merged_into": self.merged_into, "former_names": list(self.former_names)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One line of the library's change log."""

    kind: str  # category_created, tag_created, renamed, deactivated, reactivated, merged, ...
    subject: str  # the entry id
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    categories: tuple[Category, ...] = ()
    tags: tuple[Tag, ...] = ()
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Library:
    node: str
    categories: Mapping[str, Category] = field(default_factory=dict)
    tags: Mapping[str, Tag] = field(default_factory=dict)

    @property
    def in_force(self) -> bool:
        """Triage accepts only library tags once the node has any category."""
        return bool(self.categories)

    def by_name(self) -> dict[str, str]:
        """Every name (zh, en, former) → the id of the tag that carries it. Live tags are
        listed first, so a name is never taken over by history."""
        out: dict[str, str] = {}
        for tag in sorted(self.tags.values(),
                          key=lambda t: (t.merged_into is not None, not t.active, t.id)):
            for name in tag.names():
                out.setdefault(name, tag.id)
        return out

    def find(self, text: str) -> Tag | None:
        """The tag with this id or name, merged or not."""
        found = self.tags.get(text)
        if found is not None:
            return found
        tid = self.by_name().get(text)
        return None if tid is None else self.tags[tid]

    def survivor(self, tag: Tag) -> Tag:
        """Follow `merged_into` to the tag that counts now."""
        for _ in range(MAX_MERGE_CHAIN):
            if tag.merged_into is None or tag.merged_into not in self.tags:
                return tag
            tag = self.tags[tag.merged_into]
        return tag

    def usable(self, tag: Tag) -> bool:
        category = self.categories.get(tag.category)
        return tag.active and tag.merged_into is None and (category is None or category.active)

    def canonical(self, text: str) -> str:
        """The id `text` counts under: the surviving tag's id, or `text` itself when the
        library does not know it (a free-text tag of an issue from before the library)."""
        found = self.find(text)
        return text if found is None else self.survivor(found).id

    def canonical_map(self) -> dict[str, str]:
        """name and id → surviving id, for every entry (what the counting edges use)."""
        out = {}
        for name, tid in self.by_name().items():
            out[name] = self.survivor(self.tags[tid]).id
        for tid, tag in self.tags.items():
            out[tid] = self.survivor(tag).id
        return out

    def name_of(self, entry_id: str) -> str | None:
        tag = self.tags.get(entry_id)
        if tag is not None:
            return tag.name_zh
        category = self.categories.get(entry_id)
        return None if category is None else category.name_zh

    def names_map(self) -> dict[str, str]:
        """id → Chinese name, for every tag."""
        return {tid: t.name_zh for tid, t in self.tags.items()}


# --------------------------------------------------------------------------- checks


def _name_zh(value: str | None, field_name: str = "name_zh") -> str:
    text = check_text(field_name, value, max_len=MAX_TAG)
    assert text is not None
    return text


def _name_en(value: str | None) -> str | None:
    return check_text("name_en", value, max_len=MAX_NAME_EN, required=False) or None


def _own(lib: Library, origin: str, entry_id: str) -> None:
    if origin != lib.node:
        raise Forbidden("tag_from_above", tag=entry_id, origin=origin)


def _free_names(lib: Library, names: Iterable[str | None], *, keep: str | None = None) -> None:
    """Refuse a name another tag (or category, for categories) already carries."""
    taken = lib.by_name()
    for name in names:
        if name and taken.get(name, keep) != keep:
            raise Conflict("tag_name_taken", name=name, tag=taken[name])


def _free_category_names(lib: Library, names: Iterable[str | None],
                         keep: str | None = None) -> None:
    for name in names:
        for c in lib.categories.values():
            if name and c.id != keep and name in (c.name_zh, c.name_en):
                raise Conflict("tag_name_taken", name=name, tag=c.id)


def _unique_id(existing: Mapping[str, object], wanted: str) -> str:
    if wanted not in existing:
        return wanted
    n = 2
    while f"{wanted}-{n}" in existing:
        n += 1
    return f"{wanted}-{n}"


def tag(lib: Library, tag_id_: str) -> Tag:
    found = lib.tags.get(tag_id_)
    if found is None:
        raise NotFound("tag_not_found", tag=tag_id_)
    return found


def category(lib: Library, category_id_: str) -> Category:
    found = lib.categories.get(category_id_)
    if found is None:
        raise NotFound("tag_category_not_found", category=category_id_)
    return found


# --------------------------------------------------------------------------- changes


def new_category(lib: Library, *, name_zh: str, name_en: str | None = None,
                 slug_: str | None = None) -> Outcome:
    zh, en = _name_zh(name_zh), _name_en(name_en)
    _free_category_names(lib, (zh, en))
    if slug_ is not None and not _SLUG.match(slug_):
        raise ValidationError("tag_slug_invalid", field="slug")
    cid = _unique_id(lib.categories, f"c.{lib.node}.{slug_ or slug(en or zh)}")
    made = Category(id=cid, name_zh=zh, name_en=en, origin=lib.node)
    return Outcome(categories=(made,), changes=(Change(kind="category_created", subject=cid,
                                                       detail=made.as_json()),))


def new_tag(lib: Library, *, category_id_: str, name_zh: str, name_en: str | None = None,
            slug_: str | None = None) -> Outcome:
    parent = category(lib, category_id_)
    if not parent.active:
        raise RuleViolation("tag_category_inactive", category=parent.id)
    zh, en = _name_zh(name_zh), _name_en(name_en)
    _free_names(lib, (zh, en))
    if slug_ is not None and not _SLUG.match(slug_):
        raise ValidationError("tag_slug_invalid", field="slug")
    tid = _unique_id(lib.tags, f"t.{lib.node}.{slug_ or slug(zh)}")
    made = Tag(id=tid, category=parent.id, name_zh=zh, name_en=en, origin=lib.node)
    return Outcome(tags=(made,), changes=(Change(kind="tag_created", subject=tid,
                                                 detail=made.as_json()),))


def rename(lib: Library, entry_id: str, *, name_zh: str,
           name_en: str | None = None) -> Outcome:
    """Rename one of this node's own categories or tags (a tag keeps its former names)."""
    zh, en = _name_zh(name_zh), _name_en(name_en)
    if entry_id in lib.categories:
        old_c = lib.categories[entry_id]
        _own(lib, old_c.origin, entry_id)
        _free_category_names(lib, (zh, en), keep=entry_id)
        new_c = replace(old_c, name_zh=zh, name_en=en)
        return Outcome(categories=(new_c,), changes=(Change(
            kind="renamed", subject=entry_id,
            detail={"before": old_c.as_json(), "after": new_c.as_json()}),))
    old = tag(lib, entry_id)
    _own(lib, old.origin, entry_id)
    _free_names(lib, (zh, en), keep=entry_id)
    former = tuple(n for n in dict.fromkeys((*old.former_names, old.name_zh))
                   if n not in (zh, en))
    new = replace(old, name_zh=zh, name_en=en, former_names=former)
    return Outcome(tags=(new,), changes=(Change(
        kind="renamed", subject=entry_id,
        detail={"before": old.as_json(), "after": new.as_json()}),))


def set_active(lib: Library, entry_id: str, active: bool) -> Outcome:
    """Deactivate (or reactivate) one of this node's own entries; nothing is deleted."""
    kind = "reactivated" if active else "deactivated"
    if entry_id in lib.categories:
        c = lib.categories[entry_id]
        _own(lib, c.origin, entry_id)
        return Outcome(categories=(replace(c, active=active),),
                       changes=(Change(kind=kind, subject=entry_id),))
    t = tag(lib, entry_id)
    _own(lib, t.origin, entry_id)
    if t.merged_into is not None and active:
        raise RuleViolation("tag_already_merged", tag=t.id, into=t.merged_into)
    return Outcome(tags=(replace(t, active=active),),
                   changes=(Change(kind=kind, subject=entry_id),))


def merge(lib: Library, source_id: str, target_id: str) -> Outcome:
    """Merge this node's tag `source_id` into `target_id` (any active tag, also one from
    above): the source stays as history, inactive, pointing at the survivor."""
    source, target = tag(lib, source_id), tag(lib, target_id)
    _own(lib, source.origin, source_id)
    if source.merged_into is not None:
        raise RuleViolation("tag_already_merged", tag=source.id, into=source.merged_into)
    target = lib.survivor(target)
    if target.id == source.id:
        raise RuleViolation("tag_merge_self", tag=source.id)
    if not target.active:
        raise RuleViolation("tag_inactive_target", tag=target.id)
    merged = replace(source, active=False, merged_into=target.id)
    return Outcome(tags=(merged,), changes=(Change(
        kind="merged", subject=source.id, detail={"into": target.id,
                                                  "names": list(source.names())}),))


def check_triage(lib: Library, given: Sequence[str]) -> tuple[str, ...]:
    """The tags a triage stores for `given` (ids or names): each the surviving tag's
    Chinese name. An unknown or inactive tag is refused, naming it."""
    if not lib.in_force:
        return tuple(given)
    out: dict[str, None] = {}
    for text in given:
        found = lib.find(text)
        if found is None:
            raise ValidationError("tag_unknown", field="tags", tag=text)
        alive = lib.survivor(found)
        if not lib.usable(alive):
            raise ValidationError("tag_inactive", field="tags", tag=text)
        out[alive.name_zh] = None
    return tuple(out)


def uncategorised(node: str, names: Iterable[str]) -> Outcome:
    """Library entries of this node for free-text tags (what the migration does): one per
    spelling, under the category 未分类 / Uncategorised."""
    cid = uncategorised_id(node)
    made: dict[str, Tag] = {}
    for name in names:
        tid = tag_id(node, name)
        made.setdefault(tid, Tag(id=tid, category=cid, name_zh=name, origin=node))
    return Outcome(categories=(Category(id=cid, name_zh=UNCATEGORISED_ZH,
                                        name_en=UNCATEGORISED_EN, origin=node),),
                   tags=tuple(made.values()))


# --------------------------------------------------------------------------- down the tree


def publication(lib: Library) -> dict[str, Any]:
    """What this node publishes for its subtree: its own categories and tags."""
    return {
        "node": lib.node,
        "categories": [c.as_json() for c in sorted(lib.categories.values(), key=lambda c: c.id)
                       if c.origin == lib.node],
        "tags": [t.as_json() for t in sorted(lib.tags.values(), key=lambda t: t.id)
                 if t.origin == lib.node],
    }


def _published_id(value: Any, issuer: str, prefix: str) -> str:
    if (not isinstance(value, str) or len(value) > MAX_ID or not _ID.match(value)
            or not value.startswith(f"{prefix}.{issuer}.")):
        raise ValidationError("tag_publication_invalid", field="body",
                              problem=f"an id of {issuer} expected, got {str(value)[:70]!r}")
    return value


def _published_text(value: Any, name: str, *, en: bool = False) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError("tag_publication_invalid", field="body",
                              problem=f"{name} must be text")
    if en:
        return _name_en(value)
    return _name_zh(value, name)


def _read_publication(issuer: str, body: Mapping[str, Any]
                      ) -> tuple[list[Category], list[Tag]]:
    cats_raw, tags_raw = body.get("categories", []), body.get("tags", [])
    if (not isinstance(cats_raw, list) or not isinstance(tags_raw, list)
            or len(cats_raw) + len(tags_raw) > MAX_PUBLISHED
            or not all(isinstance(e, Mapping) for e in (*cats_raw, *tags_raw))):
        raise ValidationError("tag_publication_invalid", field="body",
                              problem="categories and tags must be lists of objects")
    cats = [Category(id=_published_id(c.get("id"), issuer, "c"),
                     name_zh=_published_text(c.get("name_zh"), "name_zh") or "",
                     name_en=_published_text(c.get("name_en"), "name_en", en=True),
                     active=c.get("active", True) is not False, origin=issuer)
            for c in cats_raw]
    tags: list[Tag] = []
    for t in tags_raw:
        merged_into = t.get("merged_into")
        if merged_into is not None and (not isinstance(merged_into, str)
                                        or not _ID.match(merged_into)):
            raise ValidationError("tag_publication_invalid", field="body",
                                  problem="merged_into must be a tag id")
        former = t.get("former_names", [])
        if not isinstance(former, list):
            raise ValidationError("tag_publication_invalid", field="body",
                                  problem="former_names must be a list")
        category_ = t.get("category")
        if not isinstance(category_, str) or not _ID.match(category_):
            raise ValidationError("tag_publication_invalid", field="body",
                                  problem="a tag needs its category id")
        tags.append(Tag(id=_published_id(t.get("id"), issuer, "t"), category=category_,
                        name_zh=_published_text(t.get("name_zh"), "name_zh") or "",
                        name_en=_published_text(t.get("name_en"), "name_en", en=True),
                        active=t.get("active", True) is not False, origin=issuer,
                        merged_into=merged_into,
                        former_names=tuple(_published_text(n, "former_names") or ""
                                           for n in former[:20])))
    return cats, tags


def accept_publication(lib: Library, issuer: str, body: Mapping[str, Any]) -> Outcome:
    """Apply ancestor `issuer`'s published library: its entries upserted as from above,
    those it no longer lists deactivated, local ones kept; a local tag spelled like an
    incoming one is merged into it. A malformed body is refused whole."""
    if issuer == lib.node:
        raise ValidationError("tag_publication_invalid", field="issuer",
                              problem="a node does not accept its own publication")
    cats, tags = _read_publication(issuer, body)
    changes: list[Change] = []
    out_c: list[Category] = []
    out_t: list[Tag] = []
    listed = {c.id for c in cats} | {t.id for t in tags}
    for c in cats:
        if lib.categories.get(c.id) != c:
            out_c.append(c)
            changes.append(Change(kind="received", subject=c.id, detail={"from": issuer}))
    local_names = {name: t for t in lib.tags.values() if t.origin == lib.node
                   and t.merged_into is None for name in t.names()}
    merged_local: set[str] = set()
    for t in tags:
        if lib.tags.get(t.id) != t:
            out_t.append(t)
            changes.append(Change(kind="received", subject=t.id, detail={"from": issuer}))
        for name in t.names() if t.merged_into is None else ():
            local = local_names.get(name)
            if local is not None and local.id not in merged_local:
                merged_local.add(local.id)
                out_t.append(replace(local, active=False, merged_into=t.id))
                changes.append(Change(kind="merged", subject=local.id,
                                      detail={"into": t.id, "by": issuer,
                                              "names": list(local.names())}))
    for c in lib.categories.values():
        if c.origin == issuer and c.id not in listed and c.active:
            out_c.append(replace(c, active=False))
            changes.append(Change(kind="deactivated", subject=c.id, detail={"by": issuer}))
    for t in lib.tags.values():
        if t.origin == issuer and t.id not in listed and t.active:
            out_t.append(replace(t, active=False))
            changes.append(Change(kind="deactivated", subject=t.id, detail={"by": issuer}))
    return Outcome(categories=tuple(out_c), tags=tuple(out_t), changes=tuple(changes))


def apply(lib: Library, outcome: Outcome) -> Library:
    """`lib` with `outcome`'s entries written (what the store holds afterwards)."""
    return Library(node=lib.node,
                   categories={**lib.categories, **{c.id: c for c in outcome.categories}},
                   tags={**lib.tags, **{t.id: t for t in outcome.tags}})
