"""What the live streams read (node.app.ports.LiveSource) over a `Store`.

`changes_after` is one indexed range read of the event log by `seq` and one read of the
issues its events belong to (node/store/repo.py `events_after`, `load_issues`);
`unread_counts` is one grouped count of inbox_messages over the accounts that listen.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from node.domain.issue import Event, Issue
from node.store import repo
from node.store.repo import Store
from node.store.schema import events, inbox_messages


class SqlLiveSource:
    def __init__(self, store: Store, *, inbox: bool) -> None:
        self.store = store
        self.inbox = inbox  # notifications enabled: the in-app inbox is in use

    def head(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.max(events.c.seq))).scalar_one() or 0)

    def changes_after(self, seq: int, limit: int) -> list[tuple[int, Event, Issue]]:
        with self.store.read() as conn:
            found = repo.events_after(conn, seq, limit)
            held = repo.load_issues(conn, [s.event.issue_id for s in found])
        return [(s.seq, s.event, held[s.event.issue_id]) for s in found
                if s.event.issue_id in held]

    def unread_counts(self, usernames: Sequence[str]) -> dict[str, int]:
        if not self.inbox or not usernames:
            return {}
        m = inbox_messages
        with self.store.read() as conn:
            rows = conn.execute(select(m.c.username, func.count()).where(
                m.c.username.in_(list(usernames)), m.c.read_at.is_(None))
                .group_by(m.c.username)).all()
        return {str(u): int(n) for u, n in rows}
