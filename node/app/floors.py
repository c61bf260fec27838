"""Rule floors at work: publish this node's, accept its ancestors', keep the rules in force.

`FloorsKind` is the `rules` publication kind (node/app/publications.py): its body is the
`[floors]` section of this node's configuration (None when it sets none), and accepting an
ancestor's floors only checks that they parse — a floor from above is never refused for
being strict.

`RulesService` holds this node's own rules (its configuration, or what an administrator
set through the API since, stored as the unsigned local document `node_rules`) and the
floors stored from every ancestor, and derives the rules in force:

* at start, `check_start()` refuses own rules looser than a stored floor (the node does not
  start; the error names the rule, the floor, its version and its issuer);
* through the admin API, `change()` refuses the same way and changes nothing;
* when a new floor arrives that the running rules violate, the node keeps serving with the
  *stricter* of the two (`node.domain.floors.effective`) and raises an alarm
  (`alarms()`: /metrics `zhitong_rule_floor_conflicts`, the operations screen, the rules
  screen) until an administrator makes the own rules comply. Why not stop or refuse: the
  floor is legitimate and already stored, refusing it would leave the node looser than its
  province allows; stopping would stop the intake of every enterprise over a setting.

`on_rules(Rules, share)` is called with the rules in force whenever they change; the
composition root hands them to the use cases that decide with them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from node.app.policy import MANAGE_RULES, VIEW_METRICS, Principal, require
from node.app.ports import Clock
from node.app.publications import PublicationService, PublicationStore
from node.domain.deadlines import DeadlinePolicy, TagDeadlines
from node.domain.errors import DomainError, ValidationError
from node.domain.floors import (
    STAGES,
    Floors,
    NodeRules,
    StageLimits,
    Valued,
    Violation,
    check,
    effective,
    floors_from_json,
)
from node.domain.lifecycle import Rules
from node.domain.publications import Publication, SignedPublication, encode

log = logging.getLogger("zhitong.floors")

__all__ = ["KIND", "LOCAL_KIND", "FloorsKind", "RulesService", "node_rules_of",
           "rules_from_json", "rules_in_force", "rules_json"]

KIND = "rules"
LOCAL_KIND = "node_rules"  # this node's own rules as an administrator set them (never sent)


class FloorsKind:
    """The `rules` publication kind."""

    name = KIND

    def __init__(self, own_body: Mapping[str, Any] | None,
                 applied: Callable[[], object] = lambda: None) -> None:
        self.own_body = dict(own_body) if own_body is not None else None
        self._applied = applied
        if self.own_body is not None:
            floors_from_json("000000", 1, self.own_body)  # fails early on a bad [floors]

    def publish(self, store: PublicationStore) -> dict[str, Any] | None:
        return self.own_body

    def accept(self, store: PublicationStore, issuer: str, version: int,
               body: Mapping[str, Any], now: datetime) -> None:
        floors_from_json(issuer, version, body)  # ValidationError: refused, nothing stored

    def applied(self, issuer: str, version: int, body: Mapping[str, Any]) -> None:
        self._applied()


# --------------------------------------------------------------------------- own rules


def rules_json(rules: NodeRules) -> dict[str, Any]:
    return {"deadlines": rules.deadlines.as_json(),
            "per_tag": {k: v.as_json() for k, v in rules.per_tag.items()},
            "per_channel": {k: v.as_json() for k, v in rules.per_channel.items()},
            "revisit_share": rules.revisit_share,
            "urge_interval_hours": rules.urge_interval_hours}


def rules_from_json(raw: Mapping[str, Any]) -> NodeRules:
    """A node's own rules from the admin API (or the stored local document);
    ValidationError("rules_invalid") names the problem."""
    try:
        probe = floors_from_json("000000", 1, {
            "deadlines": raw.get("deadlines") or {}, "per_tag": raw.get("per_tag") or {},
            "per_channel": raw.get("per_channel") or {}})
    except ValidationError as exc:
        raise ValidationError("rules_invalid", field="rules",
                              problem=exc.params.get("problem", "")) from None
    unknown = set(raw) - {"deadlines", "per_tag", "per_channel", "revisit_share",
                          "urge_interval_hours"}
    if unknown:
        raise ValidationError("rules_invalid", field="rules",
                              problem=f"unknown keys {sorted(unknown)}")
    if any(probe.deadlines.get(s) is None for s in STAGES):
        raise ValidationError("rules_invalid", field="rules",
                              problem="deadlines: every stage is required")
    share, urge = raw.get("revisit_share"), raw.get("urge_interval_hours")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValidationError("rules_invalid", field="rules",
                              problem="revisit_share: a share in (0, 1]")
    if isinstance(urge, bool) or not isinstance(urge, int) or not 1 <= urge <= 24 * 30:
        raise ValidationError("rules_invalid", field="rules",
                              problem="urge_interval_hours: 1 to 720")
    return NodeRules(deadlines=probe.deadlines, per_tag=probe.per_tag,
                     per_channel=probe.per_channel, revisit_share=float(share),
                     urge_interval_hours=urge)


def _tag_deadlines(limits: StageLimits) -> TagDeadlines:
    return TagDeadlines(dispatch_working_days=limits.dispatch,
                        resolve_working_days=limits.resolve, review_working_days=limits.review)


def rules_in_force(base: Rules, values: Mapping[str, Valued]) -> tuple[Rules, float]:
    """The decision rules (and revisit share) the effective values describe."""
    def stage_of(prefix: str) -> StageLimits:
        return StageLimits(**{s: values[f"{prefix}{s}_working_days"].value
                              for s in STAGES if f"{prefix}{s}_working_days" in values})

    default = stage_of("deadlines.")
    per_tag: dict[str, TagDeadlines] = {}
    per_channel: dict[str, TagDeadlines] = {}
    for key in values:
        parts = key.split(".")
        if len(parts) >= 4 and parts[0] == "deadlines" and parts[1] in ("per_tag",
                                                                       "per_channel"):
            name = ".".join(parts[2:-1])
            target = per_tag if parts[1] == "per_tag" else per_channel
            if name not in target:
                target[name] = _tag_deadlines(stage_of(f"deadlines.{parts[1]}.{name}."))
    policy = DeadlinePolicy(dispatch_working_days=default.dispatch or 2,
                            resolve_working_days=default.resolve or 15,
                            review_working_days=default.review or 2,
                            per_tag=per_tag, per_channel=per_channel)
    rules = Rules(calendar=base.calendar, deadlines=policy, ladder=base.ladder,
                  urge_interval=timedelta(hours=values["urge.interval_hours"].value))
    return rules, float(values["revisit.share"].value)


class AuditTrail(Protocol):
    """What the rules record in the audit trail (node/app/audit.py AuditService)."""

    def record(self, action: str, *, actor: Any = None, target_kind: str | None = None,
               target_id: str | None = None, detail: Mapping[str, Any] | None = None
               ) -> Any: ...


class RulesService:
    def __init__(self, *, publications: PublicationService, configured: NodeRules,
                 base: Rules, clock: Clock) -> None:
        self.publications = publications
        self.node = publications.node
        self.configured = configured
        self.base = base
        self.clock = clock
        self.on_rules: list[Callable[[Rules, float], None]] = []
        self._lock = threading.Lock()
        self._alarms: list[Violation] = []
        self._in_force: tuple[Rules, float] | None = None
        #: every change of the own rules and every floor that arrives is recorded here
        self.audit: AuditTrail | None = None

    # ---- reading

    def floors(self) -> list[Floors]:
        """Every ancestor's stored floors, nearest first."""
        out = []
        for stored in self.publications.latest(KIND):
            if stored.doc.issuer == self.node:
                continue
            try:
                out.append(floors_from_json(stored.doc.issuer, stored.doc.version,
                                            stored.doc.body))
            except DomainError:  # accepted once, so never: skip rather than stop
                log.warning("stored floors of %s do not parse", stored.doc.issuer)
        return out

    def own(self) -> tuple[NodeRules, int | None]:
        """This node's own rules and the version of the administrator's change (None: as
        configured)."""
        stored = self.publications.stored(self.node, LOCAL_KIND)
        if stored is None:
            return self.configured, None
        return rules_from_json(stored.doc.body), stored.doc.version

    def alarms(self) -> list[Violation]:
        with self._lock:
            return list(self._alarms)

    def effective(self, principal: Principal | None = None) -> dict[str, Any]:
        """The rules in force, each value with where it comes from (GET /api/v1/rules)."""
        if principal is not None:
            require(principal, VIEW_METRICS)
        own, admin_version = self.own()
        floors = self.floors()
        values = effective(own, floors)
        own_source = ({"from": "admin", "version": admin_version}
                      if admin_version is not None else {"from": "config"})
        rows = []
        for rule, v in values.items():
            source = v.source.as_json() if v.source.issuer is not None else own_source
            rows.append({"rule": rule, "value": v.value, "source": source,
                         "floor": v.floor, "overridden": v.overridden,
                         "floor_source": (v.floor_source.as_json()
                                          if v.floor_source is not None else None)})
        own_floors = self.publications.stored(self.node, KIND)
        return {
            "node": self.node,
            "own": rules_json(own), "own_source": own_source,
            "rules": rows,
            "floors": [{"issuer": f.issuer, "version": f.version, "body": f.as_json()}
                       for f in floors],
            "published": ({"version": own_floors.doc.version, "body": dict(own_floors.doc.body)}
                          if own_floors is not None else None),
            "alarms": [_violation_json(a) for a in self.alarms()],
        }

    # ---- deciding

    def check_start(self) -> None:
        """Refuse own rules looser than a stored floor (the node must not start)."""
        own, _ = self.own()
        violations = check(own, self.floors())
        if violations:
            raise violations[0].error()
        self.refresh()

    def refresh(self) -> list[Violation]:
        """Recompute the rules in force (after a floor arrived or the own rules changed);
        a violation is an alarm, and the stricter value applies."""
        own, _ = self.own()
        floors = self.floors()
        violations = check(own, floors)
        values = effective(own, floors)
        in_force = rules_in_force(self.base, values)
        with self._lock:
            self._alarms = violations
            changed = in_force != self._in_force
            self._in_force = in_force
        for v in violations:
            log.warning("node %s: own rule %s = %s is looser than the floor %s of %s "
                        "(version %d): the floor applies", self.node, v.rule, v.value,
                        v.floor, v.issuer, v.version)
        if changed:
            for listener in self.on_rules:
                listener(*in_force)
        return violations

    def floor_arrived(self) -> None:
        """A new floor of an ancestor was stored: recompute, and audit it with any alarm."""
        violations = self.refresh()
        self._audit("rules.floor", "system", {
            "floors": {f.issuer: f.version for f in self.floors()},
            "alarms": [_violation_json(v) for v in violations][:20]})

    def _audit(self, action: str, actor: Any, detail: dict[str, Any]) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(action, actor=actor, target_kind="rules", target_id=self.node,
                              detail=detail)
        except Exception:  # the change stands; a record that cannot be kept is a bug
            log.exception("node %s: %s not audited", self.node, action)

    def in_force(self) -> tuple[Rules, float]:
        if self._in_force is None:
            self.refresh()
        assert self._in_force is not None
        return self._in_force

    def change(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /api/v1/admin/rules: this node's own rules, refused when looser than a floor
        (nothing changes)."""
        require(principal, MANAGE_RULES)
        rules = rules_from_json(raw)
        violations = check(rules, self.floors())
        if violations:
            raise violations[0].error()
        with self.publications.store.write() as unit:
            stored = unit.get(self.node, LOCAL_KIND)
            doc = Publication(issuer=self.node, kind=LOCAL_KIND,
                              version=(stored.doc.version + 1) if stored else 1,
                              issued_at=self.clock.now(), body=rules_json(rules))
            unit.put(doc, encode(SignedPublication(doc=doc, signature=b"", cert_pem="")),
                     received_at=doc.issued_at)
        log.info("node %s: own rules changed by %s (version %d)", self.node,
                 principal.username, doc.version)
        own = rules_json(rules)
        self._audit("rules.change", principal, {
            "version": doc.version, "deadlines": own["deadlines"],
            "per_channel": own["per_channel"], "per_tag": len(own["per_tag"]),
            "revisit_share": own["revisit_share"],
            "urge_interval_hours": own["urge_interval_hours"]})
        self.refresh()
        return self.effective()


def _violation_json(v: Violation) -> dict[str, Any]:
    return {"rule": v.rule, "value": v.value, "floor": v.floor, "issuer": v.issuer,
            "version": v.version}


def node_rules_of(rules: Rules, *, revisit_share: float, urge_interval_hours: int
                  ) -> NodeRules:
    """A node's own rules from its configured decision rules."""
    d = rules.deadlines

    def limits(t: TagDeadlines) -> StageLimits:
        return StageLimits(dispatch=t.dispatch_working_days, resolve=t.resolve_working_days,
                           review=t.review_working_days)

    return NodeRules(
        deadlines=StageLimits(dispatch=d.dispatch_working_days,
                              resolve=d.resolve_working_days, review=d.review_working_days),
        per_tag={k: limits(v) for k, v in d.per_tag.items()},
        per_channel={k: limits(v) for k, v in d.per_channel.items()},
        revisit_share=revisit_share, urge_interval_hours=urge_interval_hours)

