"""The joint meeting's decisions over SQL: node.app.ports.MeetingStore.

A `MeetingTransaction` is an `IssueTransaction` (node/store/records.py) plus the verbs of
`meeting_decisions`; the unique key on (meeting, issue_id) keeps one decision per meeting
and issue even when two writers race.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from sqlalchemy import insert, select

from node.domain.meetings import Decision
from node.store.records import IssueTransaction, _constraints_checked
from node.store.repo import Store
from node.store.schema import meeting_decisions as _D

_INSERT = insert(_D)


class MeetingTransaction(IssueTransaction):
    """node.app.ports.MeetingUnit over one open connection."""

    def decisions(self, node: str, meeting: date) -> list[Decision]:
        rows = self.conn.execute(
            select(_D).where(_D.c.node == node, _D.c.meeting == meeting).order_by(_D.c.id)
        ).all()
        return [Decision(meeting=r.meeting, issue_id=r.issue_id, leader=r.leader,
                         decision=r.decision, deadline=r.deadline) for r in rows]

    def add_decision(self, decision: Decision, *, node: str, actor: str,
                     at: datetime) -> None:
        self.conn.execute(_INSERT, {
            "node": node, "meeting": decision.meeting, "issue_id": decision.issue_id,
            "leader": decision.leader, "decision": decision.decision,
            "deadline": decision.deadline, "actor": actor, "created_at": at,
        })


class MeetingRecords:
    """node.app.ports.MeetingStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[MeetingTransaction]:
        with _constraints_checked(self.store) as conn:
            yield MeetingTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[MeetingTransaction]:
        with self.store.read() as conn:
            yield MeetingTransaction(conn)
