"""共性问题 clusters: a city groups its counties' issues that say the same. Pure.

How it works. `propose` compares the given issues' texts pairwise (the Jaccard similarity
of node/domain/duplicates.py, each text cut into shingles once) and joins every pair at
or above the threshold that comes from two different units of origin; the connected
groups (union-find) that span at least two units are the proposals, largest and most
similar first. A city calls it over the open issues its counties hold (their replicas are
at the city, so no text travels for it); a dispatcher confirms a proposal, which becomes a
cluster record handled once by one common issue of the city (node/app/clusters.py).
`check_members` is the rule a confirmed cluster keeps: two or more open issues, of two or
more units, each in no other cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.domain.duplicates import shingles
from node.domain.errors import RuleViolation, ValidationError
from node.domain.issue import Issue
from node.domain.merging import MERGEABLE

#: pairs at or above this similarity are proposed together (node/app/duplicates.py)
CLUSTER_THRESHOLD = 0.2
MAX_MEMBERS = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    id: str
    origin: str
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposal:
    members: tuple[str, ...]  # issue ids, in the order given
    origins: tuple[str, ...]  # the units of origin, sorted
    score: float  # the best pair's similarity


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def propose(items: Sequence[Item], *, threshold: float = CLUSTER_THRESHOLD
            ) -> list[Proposal]:
    """The groups of similar issues from two or more units of origin."""
    cut = [shingles(i.text) for i in items]
    parent = list(range(len(items)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    best: dict[int, float] = {}
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if items[i].origin == items[j].origin:
                continue
            score = _jaccard(cut[i], cut[j])
            if score >= threshold:
                a, b = root(i), root(j)
                if a != b:
                    parent[b] = a
                for k in (i, j):
                    best[k] = max(best.get(k, 0.0), score)
    groups: dict[int, list[int]] = {}
    for k in range(len(items)):
        if k in best:
            groups.setdefault(root(k), []).append(k)
    out = []
    for members in groups.values():
        origins = tuple(sorted({items[k].origin for k in members}))
        if len(origins) >= 2:
            out.append(Proposal(members=tuple(items[k].id for k in members), origins=origins,
                                score=round(max(best[k] for k in members), 4)))
    return sorted(out, key=lambda p: (-len(p.members), -p.score, p.members))


def check_members(members: Sequence[Issue], taken: Mapping[str, str]) -> None:
    """Refuse a cluster unless its members are 2 to MAX_MEMBERS open issues of two or more
    units of origin, none in another cluster (`taken`: issue id → its cluster)."""
    if not 2 <= len(members) <= MAX_MEMBERS:
        raise ValidationError("cluster_members_count", field="members",
                              max_count=MAX_MEMBERS, count=len(members))
    if len({m.origin for m in members}) < 2:
        raise RuleViolation("cluster_one_unit")
    for m in members:
        if m.state not in MERGEABLE:
            raise RuleViolation("merge_not_open", issue=m.number, state=m.state.value)
        if m.id in taken:
            raise RuleViolation("cluster_member_taken", issue=m.number, cluster=taken[m.id])
