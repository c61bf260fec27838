"""Where units sit in a federation: parent, ancestors, children, descendants, subtree, and
the path an issue travels between two tiers. Pure data, no I/O.

Two sources give the same facts:

* `Topology` — an explicit tree (unit → parent, parents listed first) of the units of one
  federation: what `zhitong up` (node/localfed.py), the test harnesses and the NATS server
  specs are built from. `Topology.place(code)` is one unit's `Place` in it.
* `place_of_unit(...)` — what one node knows of itself from its configuration: its parent
  and children are configured; ancestors beyond the parent follow from the GB/T 2260 codes
  (`parent_of`: county → city → province). That is how the runtime places a node.

Both agree wherever a topology is consistent with the division codes (every test and
deployment topology is). `path`/`next_hop` work on the codes alone: an issue minted at a
county and escalated to the province passed through the county's city, whatever topology
holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from node.domain.validation import DivisionLevel, division_level, parent_of


@dataclass(frozen=True, kw_only=True, slots=True)
class Place:
    """Where a node sits: its ancestors (nearest first), children and subtree."""

    code: str
    ancestors: tuple[str, ...]
    children: tuple[str, ...]
    # the node itself and the units below it it knows of (its configured children; below
    # a city, that is all there is)
    subtree: tuple[str, ...]
    # The replication profile of the links below: True — children replicate in full
    # (county → city); False — children send only summaries (city → province).
    full_children: bool = True

    @property
    def parent(self) -> str | None:
        return self.ancestors[0] if self.ancestors else None

    @property
    def level(self) -> DivisionLevel:
        return division_level(self.code)

    @property
    def lineage(self) -> tuple[str, ...]:
        """The node and its ancestors, nearest first."""
        return (self.code, *self.ancestors)


def full_children(level: DivisionLevel) -> bool:
    """Whether the children of a unit at `level` replicate their whole logs to it: a
    county's to its city, yes; a city's to the province, no (summaries only — enterprise
    data never travels up to the province)."""
    return level != "province"


def ancestors_of(code: str, parent: str | None = None) -> tuple[str, ...]:
    """The enclosing units of `code`, nearest first: `parent` (default: from the code) and
    then the divisions enclosing it."""
    out: list[str] = []
    unit = parent if parent is not None else parent_of(code)
    while unit is not None:
        out.append(unit)
        unit = parent_of(unit)
    return tuple(out)


def place_of_unit(code: str, *, parent: str | None, children: Iterable[str],
                  level: DivisionLevel | None = None) -> Place:
    """A node's place from its own configuration (code, parent, children)."""
    kids = tuple(children)
    return Place(code=code, ancestors=ancestors_of(code, parent) if parent else (),
                 children=kids, subtree=(code, *kids),
                 full_children=full_children(level or division_level(code)))


def path(origin: str, unit: str) -> tuple[str, ...]:
    """The units an issue passes between `origin` and `unit`, both included: up from the
    origin to the nearest unit enclosing both, then down to `unit` (by division codes)."""
    up = (origin, *ancestors_of(origin))
    down = (unit, *ancestors_of(unit))
    meet = next((u for u in up if u in down), None)
    if meet is None:  # two provinces: no unit encloses both
        return (*up, *reversed(down))
    return (*up[:up.index(meet) + 1], *reversed(down[:down.index(meet)]))


def next_hop(here: str, target: str) -> str | None:
    """The neighbour of `here` on the way to `target` (None: `target` is `here`)."""
    route = path(here, target)
    return route[1] if len(route) > 1 else None


class TopologyError(ValueError):
    """Not a tree with parents listed before their children."""


class Topology:
    """The units of one federation and who is whose parent, parents listed first."""

    __slots__ = ("_children", "_parents")

    def __init__(self, parents: Mapping[str, str | None]) -> None:
        seen: set[str] = set()
        children: dict[str, list[str]] = {}
        for code, parent in parents.items():
            if parent is not None and parent not in seen:
                raise TopologyError(f"{code}: parent {parent} is not listed before it")
            seen.add(code)
            children[code] = []
            if parent is not None:
                children[parent].append(code)
        self._parents = dict(parents)
        self._children = {code: tuple(kids) for code, kids in children.items()}

    @classmethod
    def of(cls, units: Iterable[tuple[str, str | None]]) -> Topology:
        """From (code, parent) pairs, parents first."""
        return cls(dict(units))

    def __iter__(self) -> Iterator[str]:
        return iter(self._parents)

    def __len__(self) -> int:
        return len(self._parents)

    def __contains__(self, code: object) -> bool:
        return code in self._parents

    def __repr__(self) -> str:
        return f"Topology({self._parents!r})"

    @property
    def units(self) -> tuple[str, ...]:
        """Every unit, parents before their children."""
        return tuple(self._parents)

    def parent(self, code: str) -> str | None:
        return self._parents[code]

    def level(self, code: str) -> DivisionLevel:
        return division_level(code)

    def children(self, code: str) -> tuple[str, ...]:
        return self._children[code]

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Nearest first, as far as the topology goes."""
        out: list[str] = []
        parent = self._parents[code]
        while parent is not None:
            out.append(parent)
            parent = self._parents[parent]
        return tuple(out)

    def descendants(self, code: str) -> tuple[str, ...]:
        """Every unit below `code`, depth first."""
        return tuple(d for c in self._children[code] for d in (c, *self.descendants(c)))

    def subtree(self, code: str) -> tuple[str, ...]:
        return (code, *self.descendants(code))

    def place(self, code: str) -> Place:
        return Place(code=code, ancestors=self.ancestors(code), children=self.children(code),
                     subtree=self.subtree(code), full_children=full_children(self.level(code)))
