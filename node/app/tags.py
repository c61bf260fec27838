"""Use cases of the tag library (标签库), and its side of the flow from above.

`TagService` is what the admin API (node/web/admin_tags.py) calls: list the tree, create a
category or a tag, rename, deactivate or reactivate, merge, and the proposals made during
triage (a dispatcher proposes, a leader or admin approves — which creates the tag — or
refuses). Each write is one transaction: read the library, let the pure domain
(node/domain/tags.py) decide, save the entries and the change log together.

The flow from above: `publish(store)` is what this node publishes for its subtree (its own
entries, as a JSON-able dict) and `accept(store, issuer, version, body, now)` applies an
ancestor's publication (node/domain/tags.py `accept_publication`). They are the "tags"
publication kind: the publication mechanism (versioned, signed, relayed down the
federation) calls them; `TAGS_KIND` names the kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.app.policy import (
    APPROVE_TAGS,
    MANAGE_TAGS,
    VIEW_POOL,
    Principal,
    require,
)
from node.app.ports import Clock, TagChangeRow, TagProposal, TagStore
from node.domain import tags as lib
from node.domain.errors import NotFound, RuleViolation
from node.domain.issue import Action
from node.domain.tags import Library, Outcome
from node.domain.validation import check_text

log = logging.getLogger("zhitong.app.tags")

TAGS_KIND = "tags"
MAX_NOTE = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class TagTree:
    library: Library
    pending_proposals: int

    def as_json(self) -> dict[str, Any]:
        node = self.library.node
        cats = sorted(self.library.categories.values(),
                      key=lambda c: (c.origin != node, c.origin, c.name_zh))
        by_cat: dict[str, list[dict[str, Any]]] = {}
        for t in sorted(self.library.tags.values(), key=lambda t: t.name_zh):
            by_cat.setdefault(t.category, []).append(
                {**t.as_json(), "from_above": t.origin != node})
        out = [{**c.as_json(), "from_above": c.origin != node, "tags": by_cat.pop(c.id, [])}
               for c in cats]
        for cid, orphans in sorted(by_cat.items()):  # a category not arrived (yet)
            out.append({"id": cid, "name_zh": cid, "name_en": None, "active": True,
                        "origin": lib.origin_of(cid), "from_above": True, "tags": orphans})
        return {"node": node, "in_force": self.library.in_force, "categories": out,
                "pending_proposals": self.pending_proposals}


class TagService:
    def __init__(self, *, store: TagStore, node: str, clock: Clock,
                 after_change: Callable[[], object] | None = None) -> None:
        self.store = store
        self.node = node
        self.clock = clock
        #: called after a change of this node's own entries committed (the runtime: sign
        #: and publish a new version of the "tags" publication for the subtree)
        self.after_change = after_change

    def _changed(self) -> None:
        if self.after_change is None:
            return
        try:
            self.after_change()
        except Exception:  # the change is committed; the next start publishes it
            log.exception("publishing the tag library of %s failed", self.node)

    # ----------------------------------------------------------------- reads

    def tree(self, principal: Principal) -> TagTree:
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            return TagTree(library=unit.library(),
                           pending_proposals=len(unit.proposals("pending", 1000)))

    def proposals(self, principal: Principal, *, state: str | None = "pending",
                  limit: int = 200) -> list[TagProposal]:
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            return unit.proposals(state, limit)

    def publication(self, principal: Principal) -> dict[str, Any]:
        """What this node publishes for its subtree (see `publish`)."""
        require(principal, VIEW_POOL)
        return publish(self.store)

    def changes(self, principal: Principal, *, limit: int = 200) -> list[TagChangeRow]:
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            return unit.changes(limit)

    # ----------------------------------------------------------------- writes

    def _change(self, principal: Principal, permission: str, decide: Any) -> Outcome:
        require(principal, permission)
        now = self.clock.now()
        with self.store.write() as unit:
            outcome: Outcome = decide(unit.library())
            unit.save(outcome, actor=principal.actor.label(), at=now)
        self._changed()
        return outcome

    def create_category(self, principal: Principal, *, name_zh: str,
                        name_en: str | None = None, slug: str | None = None) -> lib.Category:
        out = self._change(principal, MANAGE_TAGS, lambda L: lib.new_category(
            L, name_zh=name_zh, name_en=name_en, slug_=slug))
        return out.categories[0]

    def create_tag(self, principal: Principal, *, category: str, name_zh: str,
                   name_en: str | None = None, slug: str | None = None) -> lib.Tag:
        out = self._change(principal, MANAGE_TAGS, lambda L: lib.new_tag(
            L, category_id_=category, name_zh=name_zh, name_en=name_en, slug_=slug))
        return out.tags[0]

    def rename(self, principal: Principal, entry_id: str, *, name_zh: str,
               name_en: str | None = None) -> Outcome:
        return self._change(principal, MANAGE_TAGS, lambda L: lib.rename(
            L, entry_id, name_zh=name_zh, name_en=name_en))

    def set_active(self, principal: Principal, entry_id: str, active: bool) -> Outcome:
        return self._change(principal, MANAGE_TAGS,
                            lambda L: lib.set_active(L, entry_id, active))

    def merge(self, principal: Principal, source: str, into: str) -> Outcome:
        return self._change(principal, MANAGE_TAGS, lambda L: lib.merge(L, source, into))

    # ----------------------------------------------------------------- proposals

    def propose(self, principal: Principal, *, category: str, name_zh: str,
                name_en: str | None = None, issue_id: str | None = None,
                note: str | None = None) -> TagProposal:
        """A new tag proposed during triage (whoever may triage); it waits for a leader."""
        require(principal, Action.TRIAGE.value)
        now = self.clock.now()
        note = check_text("note", note, max_len=MAX_NOTE, required=False)
        with self.store.write() as unit:
            library = unit.library()
            # the same checks as creating it, so an approval cannot fail on them later
            made = lib.new_tag(library, category_id_=category, name_zh=name_zh,
                               name_en=name_en).tags[0]
            pid = unit.add_proposal(category=made.category, name_zh=made.name_zh,
                                    name_en=made.name_en, issue_id=issue_id, note=note,
                                    by=principal.actor.label(), at=now)
            unit.save(Outcome(changes=(lib.Change(kind="proposed", subject=made.id,
                                                  detail={"proposal": pid}),)),
                      actor=principal.actor.label(), at=now)
            found = unit.proposal(pid)
        assert found is not None
        return found

    def decide(self, principal: Principal, proposal_id: int, *,
               approve: bool) -> TagProposal:
        """Approve (the tag is created) or refuse a pending proposal."""
        require(principal, APPROVE_TAGS)
        now = self.clock.now()
        actor = principal.actor.label()
        with self.store.write() as unit:
            found = unit.proposal(proposal_id, for_update=True)
            if found is None:
                raise NotFound("tag_proposal_not_found", proposal=proposal_id)
            if found.state != "pending":
                raise RuleViolation("tag_proposal_decided", proposal=proposal_id,
                                    state=found.state)
            tag_id = None
            if approve:
                outcome = lib.new_tag(unit.library(), category_id_=found.category,
                                      name_zh=found.name_zh, name_en=found.name_en)
                unit.save(outcome, actor=actor, at=now)
                tag_id = outcome.tags[0].id
            unit.decide_proposal(proposal_id, state="approved" if approve else "refused",
                                 by=actor, at=now, tag_id=tag_id)
            decided = unit.proposal(proposal_id)
        assert decided is not None
        if approve:
            self._changed()
        return decided


# --------------------------------------------------------------------------- from above


def publish(store: TagStore) -> dict[str, Any]:
    """The "tags" publication of this node: its own categories and tags."""
    with store.read() as unit:
        return lib.publication(unit.library())


def accept(store: TagStore, issuer: str, version: int, body: Mapping[str, Any],
           now: datetime) -> Outcome:
    """Apply ancestor `issuer`'s "tags" publication (version `version`): its entries are
    upserted as from above, what it no longer lists is deactivated, local entries stay.
    The caller (the publication mechanism) has checked the signature, the issuer's place
    above this node and the version order."""
    with store.write() as unit:
        outcome = lib.accept_publication(unit.library(), issuer, body)
        if outcome.changes:
            outcome = Outcome(categories=outcome.categories, tags=outcome.tags,
                              changes=tuple(lib.Change(kind=c.kind, subject=c.subject,
                                                       detail={**c.detail,
                                                               "version": version})
                                            for c in outcome.changes))
        unit.save(outcome, actor=f"node:{issuer}", at=now)
    return outcome


class TagsKind:
    """The "tags" publication kind (node/app/publications.py `PublicationKind`): this
    node's own entries down to its subtree, an ancestor's accepted. The publication
    store it is handed is not where the library lives: it holds its own `TagStore`.
    `accept` is idempotent (a redelivered version changes nothing)."""

    name = TAGS_KIND

    def __init__(self, tags: TagStore) -> None:
        self.tags = tags

    def publish(self, store: object) -> dict[str, Any] | None:
        body = publish(self.tags)
        return body if body["categories"] or body["tags"] else None

    def accept(self, store: object, issuer: str, version: int, body: Mapping[str, Any],
               now: datetime) -> None:
        accept(self.tags, issuer, version, body, now)

