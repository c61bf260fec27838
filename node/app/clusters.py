"""共性问题 clusters at a city: its counties' issues that say the same, handled once.

`proposals` compares the open issues the city holds of its counties (their replicas: the
texts are already here, none travels for it) with node/domain/clusters.py and returns the
groups that span two or more counties. `create` (a dispatcher's confirmation) writes, in
one transaction, one common issue of the city (共性问题, subject kind `region` by default,
channel 区县中心上报) whose content lists the members, and the cluster record linking the
members to it: the city handles (and, if need be, escalates) that one issue. The members
stay their counties' issues; the cluster is the link both ways (`cluster_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from node.app.clock import new_issue_id
from node.app.policy import MERGE_ISSUES, VIEW_POOL, Principal, check_can_view, not_found, require
from node.app.ports import Clock, IssueUnit
from node.domain import clusters
from node.domain.calendar import CST
from node.domain.errors import NotFound
from node.domain.issue import Channel, Issue, SubjectKind
from node.domain.lifecycle import Rules, Submit, submit
from node.domain.validation import MAX_CONTENT, MAX_NAME, MAX_TITLE, check_text

#: open issues of the counties compared for proposals (the latest first)
MAX_SCANNED = 300


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterRecord:
    id: str
    node: str
    title: str
    common_issue_id: str
    created_by: str
    created_at: datetime
    members: tuple[tuple[str, str, str], ...]  # (issue id, number, origin)


class ClusterUnit(IssueUnit, Protocol):
    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]: ...
    def open_held(self, *, not_owner: str, limit: int) -> list[Issue]:
        """Open issues held here that another node owns (a city: its counties'), latest
        first."""
        ...

    def cluster_of(self, issue_ids: Sequence[str]) -> dict[str, str]:
        """issue id → the cluster it is in, for those in one."""
        ...

    def add_cluster(self, record: ClusterRecord) -> None: ...
    def clusters(self, limit: int) -> list[ClusterRecord]: ...
    def cluster(self, cluster_id: str) -> ClusterRecord | None: ...


class ClusterStore(Protocol):
    def write(self) -> AbstractContextManager[ClusterUnit]: ...
    def read(self) -> AbstractContextManager[ClusterUnit]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposed:
    proposal: clusters.Proposal
    issues: list[Issue]


class ClusterService:
    def __init__(self, *, store: ClusterStore, node: str, node_name: str, rules: Rules,
                 clock: Clock,
                 ids: Callable[[str], str] = new_issue_id) -> None:
        self.store = store
        self.node = node
        self.node_name = node_name
        self.rules = rules
        self.clock = clock
        self._ids = ids

    def proposals(self, principal: Principal) -> list[Proposed]:
        """Groups of similar open issues of two or more counties, not in a cluster yet."""
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            held = unit.open_held(not_owner=self.node, limit=MAX_SCANNED)
            taken = unit.cluster_of([i.id for i in held])
        held = [i for i in held if i.id not in taken and _visible(principal, i)]
        by_id = {i.id: i for i in held}
        found = clusters.propose([clusters.Item(id=i.id, origin=i.origin,
                                                text=f"{i.title}\n{i.content}") for i in held])
        return [Proposed(proposal=p, issues=[by_id[k] for k in p.members]) for p in found]

    def create(self, principal: Principal, *, title: str, members: Sequence[str],
               content: str | None = None, subject_name: str | None = None,
               subject_kind: SubjectKind = SubjectKind.REGION) -> tuple[ClusterRecord, Issue]:
        """Confirm a cluster: one common issue of this node handles every member."""
        require(principal, MERGE_ISSUES)
        title = check_text("title", title, max_len=MAX_TITLE) or ""
        keys = list(dict.fromkeys(members))
        now = self.clock.now()
        with self.store.write() as unit:
            found: list[Issue] = []
            for key in keys:
                issue = unit.load_issue(key, for_update=True)
                if issue is None:
                    raise not_found(key)
                check_can_view(principal, issue, key)
                found.append(issue)
            clusters.check_members(found, unit.cluster_of([i.id for i in found]))
            found.sort(key=lambda i: i.number)  # as the record reads them back
            listed = "；".join(f"{i.number}（{i.origin}）{i.title}" for i in found)
            text = content or f"归集下级共性问题 {len(found)} 件：{listed}"
            year = now.astimezone(CST).year
            common, event = submit(Submit(
                enterprise_name=(subject_name or f"{self.node_name}共性问题")[:MAX_NAME],
                credit_code="", contact_phone="", channel=Channel.COUNTY_REPORT, title=title,
                content=text[:MAX_CONTENT], subject_kind=subject_kind),
                issue_id=self._ids(self.node),
                number=f"{self.node}-{year}-{unit.next_number(year):06d}", node=self.node,
                actor=principal.actor, now=now, rules=self.rules)
            unit.insert_issue(common)
            unit.append_event(self.node, event, own=True)
            record = ClusterRecord(id=self._ids(self.node), node=self.node, title=title,
                                   common_issue_id=common.id,
                                   created_by=principal.actor.label(), created_at=now,
                                   members=tuple((i.id, i.number, i.origin) for i in found))
            unit.add_cluster(record)
        return record, common

    def list(self, principal: Principal, *, limit: int = 100) -> list[ClusterRecord]:
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            return unit.clusters(limit)

    def get(self, principal: Principal, cluster_id: str) -> ClusterRecord:
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            found = unit.cluster(cluster_id)
        if found is None:
            raise NotFound("cluster_not_found", cluster=cluster_id)
        return found


def _visible(principal: Principal, issue: Issue) -> bool:
    try:
        check_can_view(principal, issue)
    except NotFound:
        return False
    return True
