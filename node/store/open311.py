"""Open311 over SQL: node.app.ports.Open311Store.

The client systems live in `open311_clients` (the API key's SHA-256, unique, never the key);
the public lookups read the issues and events tables: issues raised at this node (`origin`)
in a window of `received_at` (the pool's (received_at, id) index), filtered by number,
state and tag (through `issue_tags`), and the events of such issues in a window of time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from node.app.ports import Open311Client, RequestQuery
from node.domain.issue import Actor, Event, Issue
from node.store import repo
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import events, issue_tags, issues
from node.store.schema import open311_clients as _C

_INSERT = insert(_C)
_COLUMNS = (_C.c.id, _C.c.name, _C.c.channel, _C.c.key_hint, _C.c.created_at,
            _C.c.created_by, _C.c.revoked_at, _C.c.revoked_by)


def _client(row: Any) -> Open311Client:
    m = row._mapping
    return Open311Client(id=m["id"], name=m["name"], channel=m["channel"],
                         key_hint=m["key_hint"], created_at=m["created_at"],
                         created_by=m["created_by"], revoked_at=m["revoked_at"],
                         revoked_by=m["revoked_by"])


class Open311Transaction:
    """node.app.ports.Open311Unit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # client systems

    def add_client(self, client: Open311Client, *, key_hash: str) -> None:
        self.conn.execute(_INSERT, {
            "id": client.id, "name": client.name, "channel": client.channel,
            "key_hash": key_hash, "key_hint": client.key_hint,
            "created_at": client.created_at, "created_by": client.created_by,
        })

    def clients(self) -> list[Open311Client]:
        rows = self.conn.execute(select(*_COLUMNS).order_by(_C.c.created_at.desc(),
                                                            _C.c.id)).all()
        return [_client(r) for r in rows]

    def client(self, client_id: str) -> Open311Client | None:
        row = self.conn.execute(select(*_COLUMNS).where(_C.c.id == client_id)).first()
        return None if row is None else _client(row)

    def client_by_key(self, key_hash: str) -> Open311Client | None:
        row = self.conn.execute(select(*_COLUMNS).where(_C.c.key_hash == key_hash)).first()
        return None if row is None else _client(row)

    def revoke_client(self, client_id: str, *, at: datetime, by: str) -> bool:
        done = self.conn.execute(
            update(_C).where(_C.c.id == client_id, _C.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by))
        return bool(done.rowcount)

    # public lookups

    def requests(self, q: RequestQuery) -> list[Issue]:
        stmt = select(issues).where(issues.c.origin == q.origin,
                                    issues.c.received_at >= q.start,
                                    issues.c.received_at <= q.end)
        if q.numbers:
            stmt = stmt.where(issues.c.number.in_(q.numbers))
        if q.states:
            stmt = stmt.where(issues.c.state.in_([s.value for s in q.states]))
        if q.tags:
            stmt = stmt.where(issues.c.id.in_(
                select(issue_tags.c.issue_id).where(issue_tags.c.tag.in_(q.tags))))
        stmt = (stmt.order_by(issues.c.received_at.desc(), issues.c.id.desc())
                .limit(q.limit).offset(q.offset))
        return [repo.issue_from_row(r) for r in self.conn.execute(stmt)]

    def request(self, origin: str, number: str) -> Issue | None:
        row = self.conn.execute(select(issues).where(issues.c.number == number,
                                                     issues.c.origin == origin)).first()
        return None if row is None else repo.issue_from_row(row)

    def updates(self, *, origin: str, start: datetime, end: datetime,
                limit: int) -> list[tuple[Issue, Event]]:
        rows = self.conn.execute(
            select(events.c.issue_id, events.c.version, events.c.kind, events.c.actor,
                   events.c.at, events.c.payload)
            .join(issues, issues.c.id == events.c.issue_id)
            .where(issues.c.origin == origin, events.c.at >= start, events.c.at <= end)
            .order_by(events.c.at, events.c.seq).limit(limit)).all()
        held = repo.load_issues(self.conn, [r.issue_id for r in rows])
        out = []
        for r in rows:
            event = Event(issue_id=r.issue_id, version=r.version, kind=r.kind,
                          actor=Actor.parse(r.actor), at=r.at, payload=r.payload)
            out.append((held[r.issue_id], event))
        return out


class Open311Records:
    """node.app.ports.Open311Store over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[Open311Transaction]:
        with _constraints_checked(self.store) as conn:
            yield Open311Transaction(conn)

    @contextmanager
    def read(self) -> Iterator[Open311Transaction]:
        with self.store.read() as conn:
            yield Open311Transaction(conn)
