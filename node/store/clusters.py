"""共性问题 clusters over SQL (node.app.clusters.ClusterStore).

`ClusterTransaction` is the issue unit of work (node/store/records.py: the common issue is
written with its event like any new issue) plus the cluster tables of schema.py
(issue_clusters, issue_cluster_members): an issue is in at most one cluster (the members'
primary key), so two dispatchers confirming overlapping clusters at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select

from node.app.clusters import ClusterRecord
from node.domain.issue import Issue
from node.domain.merging import MERGEABLE
from node.store import repo
from node.store.records import IssueTransaction, _constraints_checked
from node.store.repo import Store
from node.store.schema import issue_cluster_members, issue_clusters, issues

_OPEN = sorted(s.value for s in MERGEABLE)


class ClusterTransaction(IssueTransaction):
    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]:
        return repo.load_issues(self.conn, ids)

    def open_held(self, *, not_owner: str, limit: int) -> list[Issue]:
        ids = [r[0] for r in self.conn.execute(
            select(issues.c.id).where(issues.c.owner != not_owner, issues.c.state.in_(_OPEN))
            .order_by(issues.c.received_at.desc(), issues.c.id.desc()).limit(limit))]
        found = repo.load_issues(self.conn, ids)
        return [found[i] for i in ids if i in found]

    def cluster_of(self, issue_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in repo.chunked(sorted(set(issue_ids))):
            for row in self.conn.execute(
                    select(issue_cluster_members.c.issue_id, issue_cluster_members.c.cluster_id)
                    .where(issue_cluster_members.c.issue_id.in_(chunk))):
                out[row.issue_id] = row.cluster_id
        return out

    def add_cluster(self, record: ClusterRecord) -> None:
        self.conn.execute(insert(issue_clusters).values(
            id=record.id, node=record.node, title=record.title,
            common_issue_id=record.common_issue_id, created_by=record.created_by[:80],
            created_at=record.created_at))
        self.conn.execute(insert(issue_cluster_members), [
            {"cluster_id": record.id, "issue_id": i, "number": n, "origin": o}
            for i, n, o in record.members])

    def clusters(self, limit: int) -> list[ClusterRecord]:
        heads = self.conn.execute(select(issue_clusters).order_by(
            issue_clusters.c.created_at.desc(), issue_clusters.c.id).limit(limit)).all()
        return self._with_members(heads)

    def cluster(self, cluster_id: str) -> ClusterRecord | None:
        heads = self.conn.execute(select(issue_clusters)
                                  .where(issue_clusters.c.id == cluster_id)).all()
        found = self._with_members(heads)
        return found[0] if found else None

    def _with_members(self, heads: Sequence[Any]) -> list[ClusterRecord]:
        ids = [h.id for h in heads]
        members: dict[str, list[tuple[str, str, str]]] = {i: [] for i in ids}
        for chunk in repo.chunked(ids):
            for m in self.conn.execute(select(issue_cluster_members)
                                       .where(issue_cluster_members.c.cluster_id.in_(chunk))
                                       .order_by(issue_cluster_members.c.number)):
                members[m.cluster_id].append((m.issue_id, m.number, m.origin))
        return [ClusterRecord(id=h.id, node=h.node, title=h.title,
                              common_issue_id=h.common_issue_id,
                              created_by=h.created_by,
                              created_at=h.created_at,
                              members=tuple(members[h.id]))
                for h in heads]


class ClusterRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[ClusterTransaction]:
        with _constraints_checked(self.store) as conn:
            yield ClusterTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[ClusterTransaction]:
        with self.store.read() as conn:
            yield ClusterTransaction(conn)
