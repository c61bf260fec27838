"""Rule floors: limits a province (or a city, for its counties) sets for its subtree (pure).

A floor bounds a node's own rules from the side that matters to enterprises:

| rule                                   | the floor is     | the node's value must be |
|----------------------------------------|------------------|--------------------------|
| dispatch / resolve / review deadline   | the longest      | ≤ floor (working days)   |
|   — default, per tag (category), per channel                                       |
| revisit share (回访抽样比例)           | the smallest     | ≥ floor                  |
| urge interval (催办间隔)               | the shortest     | ≥ floor (hours)          |
| index weights (有感指数 components)    | fixed            | = floor (the ranking     |
|                                        |                  | compares like with like) |

A floor per tag applies to issues carrying that tag; one per channel to issues taken in
through that channel; a default floor to everything, overrides included (a node's per-tag
override of 30 days is looser than a default floor of 15 and refused). A per-tag or
per-channel floor binds what the node *set* for that tag or channel; where it set nothing,
the floor is simply inherited (its default of 15 days is no violation of a 政企恳谈会
floor of 10: such issues get 10). A node may always be stricter.

`check(rules, floors)` returns every violation, each naming the rule, the node's value,
the floor, and the issuer and version of the floor: what the refusal at start and at the
admin API shows. `effective(rules, floors)` is the stricter of the two for every value,
with where each value comes from — what a running node applies when a new floor arrives
that its configuration violates (it never loosens silently, and never stops serving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from node.domain.errors import RuleViolation, ValidationError

__all__ = [
    "STAGES",
    "Floors",
    "NodeRules",
    "Source",
    "StageLimits",
    "Valued",
    "Violation",
    "check",
    "effective",
    "floors_from_json",
    "raise_first",
]

STAGES = ("dispatch", "resolve", "review")
MAX_DAYS = 365
MAX_KEYS = 500


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True, slots=True)
class StageLimits:
    """Working days per stage; None: no opinion."""

    dispatch: int | None = None
    resolve: int | None = None
    review: int | None = None

    def get(self, stage: str) -> int | None:
        value: int | None = getattr(self, stage)
        return value

    def as_json(self) -> dict[str, int]:
        return {f"{s}_working_days": v for s in STAGES if (v := self.get(s)) is not None}


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeRules:
    """The rules a node sets itself ([deadlines], [revisit], [urge] of its config)."""

    deadlines: StageLimits  # every stage set
    per_tag: Mapping[str, StageLimits] = field(default_factory=lambda: _frozen(None))
    per_channel: Mapping[str, StageLimits] = field(default_factory=lambda: _frozen(None))
    revisit_share: float = 0.2
    urge_interval_hours: int = 24
    index_weights: Mapping[str, float] = field(default_factory=lambda: _frozen(None))

    def stage(self, stage: str, *, tag: str | None = None, channel: str | None = None) -> int:
        """The node's own limit for `stage` of an issue with `tag` (or `channel`)."""
        over = (self.per_tag.get(tag) if tag is not None else
                self.per_channel.get(channel) if channel is not None else None)
        value = over.get(stage) if over is not None else None
        default = self.deadlines.get(stage)
        assert default is not None
        return value if value is not None else default


@dataclass(frozen=True, kw_only=True, slots=True)
class Floors:
    """One issuer's floors, as its publication carries them."""

    issuer: str
    version: int
    deadlines: StageLimits = StageLimits()
    per_tag: Mapping[str, StageLimits] = field(default_factory=lambda: _frozen(None))
    per_channel: Mapping[str, StageLimits] = field(default_factory=lambda: _frozen(None))
    revisit_share_min: float | None = None
    urge_interval_hours_min: int | None = None
    index_weights: Mapping[str, float] = field(default_factory=lambda: _frozen(None))

    def as_json(self) -> dict[str, Any]:
        """The publication body (without issuer and version: the envelope has them)."""
        body: dict[str, Any] = {"deadlines": self.deadlines.as_json(),
                                "per_tag": {k: v.as_json() for k, v in self.per_tag.items()},
                                "per_channel": {k: v.as_json()
                                                for k, v in self.per_channel.items()}}
        if self.revisit_share_min is not None:
            body["revisit_share_min"] = self.revisit_share_min
        if self.urge_interval_hours_min is not None:
            body["urge_interval_hours_min"] = self.urge_interval_hours_min
        if self.index_weights:
            body["index_weights"] = dict(self.index_weights)
        return body


def _bad(problem: str) -> ValidationError:
    return ValidationError("floors_malformed", field="floors", problem=problem)


def _days(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise _bad(f"{where}: working days between 1 and {MAX_DAYS}")
    return value


def _limits(raw: Any, where: str) -> StageLimits:
    if not isinstance(raw, Mapping):
        raise _bad(f"{where}: not a table")
    unknown = set(raw) - {f"{s}_working_days" for s in STAGES}
    if unknown:
        raise _bad(f"{where}: unknown keys {sorted(unknown)}")
    return StageLimits(**{s: _days(raw.get(f"{s}_working_days"), f"{where}.{s}")
                          for s in STAGES})


def _table(raw: Any, where: str) -> dict[str, StageLimits]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or len(raw) > MAX_KEYS:
        raise _bad(f"{where}: not a table (at most {MAX_KEYS} entries)")
    out: dict[str, StageLimits] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 80:
            raise _bad(f"{where}: empty or overlong key")
        out[key] = _limits(value, f"{where}.{key}")
    return out


def floors_from_json(issuer: str, version: int, body: Mapping[str, Any]) -> Floors:
    """The floors a publication body describes; ValidationError("floors_malformed")."""
    unknown = set(body) - {"deadlines", "per_tag", "per_channel", "revisit_share_min",
                           "urge_interval_hours_min", "index_weights"}
    if unknown:
        raise _bad(f"unknown keys {sorted(unknown)}")
    share = body.get("revisit_share_min")
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float)
                              or not 0 < share <= 1):
        raise _bad("revisit_share_min: a share in (0, 1]")
    urge = body.get("urge_interval_hours_min")
    if urge is not None and (isinstance(urge, bool) or not isinstance(urge, int)
                             or not 1 <= urge <= 24 * 30):
        raise _bad("urge_interval_hours_min: hours between 1 and 720")
    weights = body.get("index_weights") or {}
    if not isinstance(weights, Mapping) or any(
            not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int | float)
            or v < 0 for k, v in weights.items()):
        raise _bad("index_weights: component → non-negative weight")
    return Floors(issuer=issuer, version=version,
                  deadlines=_limits(body.get("deadlines") or {}, "deadlines"),
                  per_tag=_frozen(_table(body.get("per_tag"), "per_tag")),
                  per_channel=_frozen(_table(body.get("per_channel"), "per_channel")),
                  revisit_share_min=float(share) if share is not None else None,
                  urge_interval_hours_min=urge,
                  index_weights=_frozen({k: float(v) for k, v in weights.items()}))


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True, kw_only=True, slots=True)
class Violation:
    rule: str  # e.g. "deadlines.per_channel.meeting.resolve_working_days"
    value: Any  # the node's
    floor: Any
    issuer: str
    version: int

    def error(self) -> RuleViolation:
        return RuleViolation("rule_looser_than_floor", rule=self.rule, value=self.value,
                             floor=self.floor, version=self.version, issuer=self.issuer)


def _stage_rule(stage: str, *, tag: str | None = None, channel: str | None = None) -> str:
    where = (f"per_tag.{tag}." if tag is not None else
             f"per_channel.{channel}." if channel is not None else "")
    return f"deadlines.{where}{stage}_working_days"


def check(rules: NodeRules, floors: Sequence[Floors]) -> list[Violation]:
    """Every value of `rules` looser than one of `floors` (nearest issuer first)."""
    out: list[Violation] = []
    for f in floors:
        def over(rule: str, value: Any, bound: Any, f: Floors = f) -> None:
            out.append(Violation(rule=rule, value=value, floor=bound, issuer=f.issuer,
                                 version=f.version))

        for stage in STAGES:
            bound = f.deadlines.get(stage)
            if bound is not None:
                if rules.stage(stage) > bound:
                    over(_stage_rule(stage), rules.stage(stage), bound)
                for tag, lim in rules.per_tag.items():
                    v = lim.get(stage)
                    if v is not None and v > bound:
                        over(_stage_rule(stage, tag=tag), v, bound)
                for channel, lim in rules.per_channel.items():
                    v = lim.get(stage)
                    if v is not None and v > bound:
                        over(_stage_rule(stage, channel=channel), v, bound)
            for tag, lim in f.per_tag.items():
                b, mine = lim.get(stage), _explicit(rules.per_tag, tag, stage)
                if b is not None and mine is not None and mine > b:
                    over(_stage_rule(stage, tag=tag), mine, b)
            for channel, lim in f.per_channel.items():
                b, mine = lim.get(stage), _explicit(rules.per_channel, channel, stage)
                if b is not None and mine is not None and mine > b:
                    over(_stage_rule(stage, channel=channel), mine, b)
        if f.revisit_share_min is not None and rules.revisit_share < f.revisit_share_min:
            over("revisit.share", rules.revisit_share, f.revisit_share_min)
        if (f.urge_interval_hours_min is not None
                and rules.urge_interval_hours < f.urge_interval_hours_min):
            over("urge.interval_hours", rules.urge_interval_hours, f.urge_interval_hours_min)
        for name, weight in f.index_weights.items():
            own_weight = rules.index_weights.get(name)
            if own_weight is not None and own_weight != weight:
                over(f"index_weights.{name}", own_weight, weight)
    return out


def _explicit(table: Mapping[str, StageLimits], key: str, stage: str) -> int | None:
    limits = table.get(key)
    return limits.get(stage) if limits is not None else None


def raise_first(violations: Sequence[Violation]) -> None:
    if violations:
        raise violations[0].error()


# --------------------------------------------------------------------------- effective


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """Where an effective value comes from: this node's configuration (issuer None) or
    the floor of `issuer` at `version`."""

    issuer: str | None = None
    version: int | None = None

    def as_json(self) -> dict[str, Any]:
        if self.issuer is None:
            return {"from": "config"}
        return {"from": "floor", "issuer": self.issuer, "version": self.version}


@dataclass(frozen=True, kw_only=True, slots=True)
class Valued:
    value: Any
    source: Source
    floor: Any = None  # the tightest floor on this value, if any
    floor_source: Source | None = None
    overridden: bool = False  # the node's own value was looser: the floor applies instead


def _tightest(candidates: list[tuple[Any, Source]], *, higher_is_stricter: bool
              ) -> tuple[Any, Source] | None:
    if not candidates:
        return None
    pick = max if higher_is_stricter else min
    return pick(candidates, key=lambda c: c[0])


def _combine(own: Any, floors: list[tuple[Any, Source]], *, higher_is_stricter: bool = False,
             exact: bool = False) -> Valued:
    best = _tightest(floors, higher_is_stricter=higher_is_stricter)
    if best is None:
        return Valued(value=own, source=Source())
    bound, src = best
    if own is None or (exact and own != bound):
        return Valued(value=bound, source=src, floor=bound, floor_source=src,
                      overridden=own is not None)
    looser = own < bound if higher_is_stricter else own > bound
    if looser and not exact:
        return Valued(value=bound, source=src, floor=bound, floor_source=src, overridden=True)
    return Valued(value=own, source=Source(), floor=bound, floor_source=src)


def effective(rules: NodeRules, floors: Sequence[Floors]) -> dict[str, Valued]:
    """Every rule's effective value (the stricter of the node's and every floor), keyed by
    the rule's name as `check` names it."""
    out: dict[str, Valued] = {}
    tags = sorted({*rules.per_tag, *(t for f in floors for t in f.per_tag)})
    channels = sorted({*rules.per_channel, *(c for f in floors for c in f.per_channel)})
    for stage in STAGES:
        general = [(b, Source(issuer=f.issuer, version=f.version)) for f in floors
                   if (b := f.deadlines.get(stage)) is not None]
        out[_stage_rule(stage)] = _combine(rules.stage(stage), general)
        for tag in tags:
            own = rules.per_tag.get(tag)
            mine = own.get(stage) if own is not None else None
            specific = [(b, Source(issuer=f.issuer, version=f.version)) for f in floors
                        if (lim := f.per_tag.get(tag)) is not None
                        and (b := lim.get(stage)) is not None]
            if mine is None and not specific:
                continue
            out[_stage_rule(stage, tag=tag)] = _combine(
                mine if mine is not None else rules.stage(stage), general + specific)
        for channel in channels:
            own = rules.per_channel.get(channel)
            mine = own.get(stage) if own is not None else None
            specific = [(b, Source(issuer=f.issuer, version=f.version)) for f in floors
                        if (lim := f.per_channel.get(channel)) is not None
                        and (b := lim.get(stage)) is not None]
            if mine is None and not specific:
                continue
            out[_stage_rule(stage, channel=channel)] = _combine(
                mine if mine is not None else rules.stage(stage), general + specific)
    out["revisit.share"] = _combine(
        rules.revisit_share,
        [(f.revisit_share_min, Source(issuer=f.issuer, version=f.version)) for f in floors
         if f.revisit_share_min is not None], higher_is_stricter=True)
    out["urge.interval_hours"] = _combine(
        rules.urge_interval_hours,
        [(f.urge_interval_hours_min, Source(issuer=f.issuer, version=f.version))
         for f in floors if f.urge_interval_hours_min is not None], higher_is_stricter=True)
    names = sorted({*rules.index_weights, *(n for f in floors for n in f.index_weights)})
    for name in names:
        # the topmost issuer's weight wins: the province ranks province-wide (a city's
        # weights count only for components the province leaves open)
        setting = [(w, Source(issuer=f.issuer, version=f.version)) for f in floors
                   if (w := f.index_weights.get(name)) is not None][-1:]
        out[f"index_weights.{name}"] = _combine(rules.index_weights.get(name), setting,
                                                exact=True)
    return out
