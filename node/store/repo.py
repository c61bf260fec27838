"""Persistence of issues and their events: row ↔ domain mapping and the few SQL verbs.

`Store` opens the transactions. Every function takes an open `Connection` inside a
transaction that the caller owns — one of the units of work the use cases get
(node/store/records.py, outbox.py, eventlog.py) — so one use case = one transaction that
writes the snapshot row, its tag rows and its event together, or nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.app.ports import IssueFilter, StoredEvent
from node.domain.errors import Conflict
from node.domain.issue import (
    Actor,
    Channel,
    Deadline,
    DeadlineKind,
    Enterprise,
    Event,
    Issue,
    Rating,
    RevisitResult,
    State,
    event_id_of,
)
from node.store.db import READONLY
from node.store.schema import counters, events, issue_tags, issues

EVENT_SEQ = "event_seq"


class Store:
    """Transactions over one node's database: `write()` and `read()` yield the open
    `Connection` the verbs below take."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time. Queueing writers on a lock in the process is
        # fairer and cheaper than SQLite's busy handler, which polls with growing sleeps
        # and starves unlucky writers (p99 of 8 concurrent writers: 549 ms without it).
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        #: Called (from the writing thread) after every committed write: wakes the
        #: publisher and the summary task without polling.
        self.after_commit: list[Callable[[], None]] = []

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
        else:
            with self._write_lock, self.engine.begin() as conn:
                yield conn
        for listener in self.after_commit:
            listener()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{READONLY: True}) as conn, conn.begin():
            yield conn


# --------------------------------------------------------------------------- counters


def _counter_upsert(ins: Any) -> Any:
    stmt = ins(counters).values(name=bindparam("name"), value=1)
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + 1}
    ).returning(counters.c.value)


# Statements are built once: SQLAlchemy then reuses their compiled form on every call.
_COUNTER_UPSERT = {
    "postgresql": _counter_upsert(pg_insert),
    "sqlite": _counter_upsert(sqlite_insert),
}


def next_counter(conn: Connection, name: str) -> int:
    """Increment and return a named counter inside the caller's transaction.

    One upsert with RETURNING. The row lock it takes serialises concurrent writers on
    PostgreSQL, so the values are gapless and commit in the order they were handed out.
    """
    value = conn.execute(_COUNTER_UPSERT[conn.dialect.name], {"name": name}).scalar_one()
    return int(value)


# --------------------------------------------------------------------------- mapping


def _row_values(issue: Issue) -> dict[str, Any]:
    d = issue.deadline
    return {
        "id": issue.id,
        "number": issue.number,
        "origin": issue.origin,
        "owner": issue.owner,
        "state": issue.state.value,
        "version": issue.version,
        "enterprise_name": issue.enterprise.name,
        "credit_code": issue.enterprise.credit_code,
        "contact_phone": issue.enterprise.contact_phone,
        "channel": issue.channel.value,
        "title": issue.title,
        "content": issue.content,
        "tags": list(issue.tags),
        "board": issue.board,
        "department": issue.department,
        "ladder_step": issue.ladder_step,
        "deadline_kind": d.kind.value if d else None,
        "deadline_start": d.start if d else None,
        "deadline_due": d.due if d else None,
        "resolve_due": issue.resolve_due,
        "urge_count": issue.urge_count,
        "last_enterprise_urge_at": issue.last_enterprise_urge_at,
        "reply": issue.reply,
        "rejection_reason": issue.rejection_reason,
        "rating": issue.rating.value if issue.rating else None,
        "rating_comment": issue.rating_comment,
        "reopen_count": issue.reopen_count,
        "resolved_at": issue.resolved_at,
        "closed_at": issue.closed_at,
        "outcome": issue.outcome,
        "revisit_result": issue.revisit_result.value if issue.revisit_result else None,
        "came_from": issue.came_from,
        "supervision_count": issue.supervision_count,
        "received_at": issue.received_at,
        "updated_at": issue.updated_at,
    }


def issue_from_row(row: Any) -> Issue:
    m = row._mapping
    deadline = None
    if m["deadline_kind"] is not None:
        deadline = Deadline(
            kind=DeadlineKind(m["deadline_kind"]), start=m["deadline_start"], due=m["deadline_due"]
        )
    return Issue(
        id=m["id"],
        number=m["number"],
        origin=m["origin"],
        owner=m["owner"],
        state=State(m["state"]),
        version=m["version"],
        enterprise=Enterprise(
            name=m["enterprise_name"],
            credit_code=m["credit_code"],
            contact_phone=m["contact_phone"],
        ),
        channel=Channel(m["channel"]),
        title=m["title"],
        content=m["content"],
        tags=tuple(m["tags"]),
        board=m["board"],
        department=m["department"],
        ladder_step=m["ladder_step"],
        deadline=deadline,
        resolve_due=m["resolve_due"],
        urge_count=m["urge_count"],
        last_enterprise_urge_at=m["last_enterprise_urge_at"],
        reply=m["reply"],
        rejection_reason=m["rejection_reason"],
        rating=Rating(m["rating"]) if m["rating"] else None,
        rating_comment=m["rating_comment"],
        reopen_count=m["reopen_count"],
        resolved_at=m["resolved_at"],
        closed_at=m["closed_at"],
        outcome=m["outcome"],
        revisit_result=RevisitResult(m["revisit_result"]) if m["revisit_result"] else None,
        came_from=m["came_from"],
        supervision_count=m["supervision_count"],
        received_at=m["received_at"],
        updated_at=m["updated_at"],
    )


# --------------------------------------------------------------------------- issues


_INSERT_ISSUE = insert(issues)
_UPDATE_ISSUE = (
    update(issues)
    .where(issues.c.id == bindparam("_id"), issues.c.version == bindparam("_expected"))
    .values({c.name: bindparam(c.name) for c in issues.columns if c.name != "id"})
)
_INSERT_TAG = insert(issue_tags)
_DELETE_TAGS = delete(issue_tags).where(issue_tags.c.issue_id == bindparam("issue_id"))


def insert_issue(conn: Connection, issue: Issue) -> None:
    conn.execute(_INSERT_ISSUE, _row_values(issue))
    if issue.tags:
        conn.execute(_INSERT_TAG, [{"issue_id": issue.id, "tag": t} for t in issue.tags])


def update_issue(conn: Connection, issue: Issue, *, expected_version: int) -> None:
    """Write the new snapshot if nobody else moved the version meanwhile."""
    values = _row_values(issue)
    values["_id"] = values.pop("id")
    values["_expected"] = expected_version
    result = conn.execute(_UPDATE_ISSUE, values)
    if result.rowcount != 1:
        raise Conflict("concurrent_update", issue_id=issue.id,
                       expected_version=expected_version)
    conn.execute(_DELETE_TAGS, {"issue_id": issue.id})
    if issue.tags:
        conn.execute(_INSERT_TAG, [{"issue_id": issue.id, "tag": t} for t in issue.tags])


def load_issue(conn: Connection, key: str, *, for_update: bool = False) -> Issue | None:
    """Load by global id or by human number."""
    stmt = select(issues).where(or_(issues.c.id == key, issues.c.number == key))
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return issue_from_row(row) if row is not None else None


def holder_of_number(conn: Connection, number: str) -> str | None:
    """The id of the issue that holds human number `number`, if any."""
    found = conn.execute(select(issues.c.id).where(issues.c.number == number)).scalar()
    return str(found) if found is not None else None


def list_issues(conn: Connection, f: IssueFilter) -> tuple[list[Issue], int]:
    conds: list[ColumnElement[bool]] = []
    if f.states:
        conds.append(issues.c.state.in_([s.value for s in f.states]))
    if f.tag:
        conds.append(
            issues.c.id.in_(select(issue_tags.c.issue_id).where(issue_tags.c.tag == f.tag))
        )
    if f.board:
        conds.append(issues.c.board == f.board)
    if f.department:
        conds.append(issues.c.department == f.department)
    if f.credit_code:
        conds.append(issues.c.credit_code == f.credit_code)
    if f.overdue_at is not None:
        conds.append(issues.c.deadline_due < f.overdue_at)
        conds.append(issues.c.state.notin_([State.RESOLVED.value, State.CLOSED.value,
                                            State.ESCALATED.value]))
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(
            or_(
                issues.c.title.like(pattern, escape="\\"),
                issues.c.number.like(pattern, escape="\\"),
                issues.c.enterprise_name.like(pattern, escape="\\"),
            )
        )
    where = and_(*conds) if conds else None
    count_stmt = select(func.count()).select_from(issues)
    stmt = select(issues).order_by(issues.c.received_at.desc(), issues.c.id.desc())
    if where is not None:
        count_stmt = count_stmt.where(where)
        stmt = stmt.where(where)
    total = int(conn.execute(count_stmt).scalar_one())
    rows = conn.execute(stmt.limit(f.limit).offset(f.offset)).all()
    return [issue_from_row(r) for r in rows], total


def issue_heads(conn: Connection) -> list[tuple[str, int, str]]:
    """(id, version, origin) of every issue: what a cache of derived data checks against."""
    return [(str(i), int(v), str(o)) for i, v, o in conn.execute(
        select(issues.c.id, issues.c.version, issues.c.origin))]


def issues_by_ids(conn: Connection, ids: Sequence[str], *, chunk: int = 500) -> list[Issue]:
    found: list[Issue] = []
    for lo in range(0, len(ids), chunk):
        found.extend(issue_from_row(r) for r in conn.execute(
            select(issues).where(issues.c.id.in_(ids[lo:lo + chunk]))))
    return found


def all_issues(conn: Connection) -> Iterable[Issue]:
    for row in conn.execute(select(issues)):
        yield issue_from_row(row)


# --------------------------------------------------------------------------- events


_INSERT_EVENT = insert(events)


WRITER_SEQ = "writer_seq"


def append_event(
    conn: Connection,
    writer: str,
    event: Event,
    *,
    writer_seq: int | None = None,
    own: bool = False,
) -> int:
    """Append one event to the local log; returns its local `seq`.

    `own`: this node wrote it — it gets the next writer_seq and waits to be published.
    Otherwise it is replicated from `writer` (with the writer's `writer_seq` when known)
    and is never published again by this node.
    """
    seq = next_counter(conn, EVENT_SEQ)
    if own:
        writer_seq = next_counter(conn, WRITER_SEQ)
    conn.execute(
        _INSERT_EVENT,
        {
            "seq": seq,
            "event_id": event_id_of(event.issue_id, event.version),
            "issue_id": event.issue_id,
            "version": event.version,
            "node": writer,
            "kind": event.kind,
            "actor": event.actor.label(),
            "at": event.at,
            "payload": dict(event.payload),
            "published": not own,
            "writer_seq": writer_seq,
        },
    )
    return seq


def _stored(row: Any) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        seq=m["seq"],
        event_id=m["event_id"],
        node=m["node"],
        writer_seq=m["writer_seq"],
        event=Event(
            issue_id=m["issue_id"],
            version=m["version"],
            kind=m["kind"],
            actor=Actor.parse(m["actor"]),
            at=m["at"],
            payload=m["payload"],
        ),
    )


def events_of(conn: Connection, issue_id: str) -> list[StoredEvent]:
    rows = conn.execute(
        select(events).where(events.c.issue_id == issue_id).order_by(events.c.version)
    ).all()
    return [_stored(r) for r in rows]


def events_after(conn: Connection, seq: int, limit: int) -> list[StoredEvent]:
    rows = conn.execute(
        select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    ).all()
    return [_stored(r) for r in rows]


def unpublished(conn: Connection, limit: int) -> list[StoredEvent]:
    """This node's own events not yet acknowledged by the broker, in writer order."""
    rows = conn.execute(
        select(events)
        .where(events.c.published.is_(False))
        .order_by(events.c.writer_seq)
        .limit(limit)
    ).all()
    return [_stored(r) for r in rows]


def mark_published(conn: Connection, seqs: list[int]) -> None:
    conn.execute(update(events).where(events.c.seq.in_(seqs)).values(published=True))


def mark_unpublished_from(conn: Connection, writer: str, writer_seq: int) -> int:
    """Re-send this node's events after `writer_seq` (reconciliation found them missing)."""
    result = conn.execute(
        update(events)
        .where(events.c.node == writer, events.c.writer_seq > writer_seq,
               events.c.published.is_(True))
        .values(published=False)
    )
    return int(result.rowcount)


def max_writer_seq(conn: Connection, writer: str) -> int:
    value = conn.execute(
        select(func.max(events.c.writer_seq)).where(events.c.node == writer)
    ).scalar_one()
    return int(value or 0)
