"""The audit log in SQL: append-only rows, one gapless `seq` per writer, each hash-chained.

`append_in(conn, writer, record)` takes the writer's next `seq` from the `counters` row
"audit:<writer>" inside the caller's transaction — the row lock of that upsert orders
concurrent writers on PostgreSQL, SQLite's writers are serialised by the store — reads the
link of record `seq - 1` (committed before the counter let this transaction on) and inserts
the row with its link (node/domain/chain.py `audit_link`). So the log is gapless and linked
in commit order, and a record rolls back with the change it describes.

`AuditTrail` is registered on the node's `Store` as a projection (node/store/repo.py,
"Projections"): every own event whose actor is a staff member gets its audit row
(`issue.<kind>`) in the event's transaction, whichever use case appended it; the role and
the address come from the request's caller (node/app/audit.py `CALLER`) when there is one.
Imported history (events marked `imported`) is not a staff act of today and is left out.
It also implements node.app.ports.AuditLog (append in its own transaction, search), and
`record_in(conn, record)` lets any store transaction record with this node as the writer.

`verify_audit_log` checks every writer's audit chain end to end (`zhitong audit verify`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select
from sqlalchemy.sql import ColumnElement

from node.app.audit import caller_record, current_caller
from node.app.ports import AccountEvent, AuditQuery, StoredAudit
from node.domain.audit import ISSUE_PREFIX, AuditRecord, Outcome, check_record
from node.domain.chain import GENESIS, Break, audit_link, verify_audit
from node.domain.issue import ActorKind, Event, Issue
from node.domain.summary import AUDIT_HEAD
from node.store import repo
from node.store.repo import Store
from node.store.schema import audit_log, counters

_INSERT = insert(audit_log)
_LINK_OF = select(audit_log.c.chain).where(audit_log.c.writer == bindparam("writer"),
                                           audit_log.c.seq == bindparam("seq"))


def counter_name(writer: str) -> str:
    return f"audit:{writer}"


def append_in(conn: Connection, writer: str, record: AuditRecord) -> StoredAudit:
    """Keep `record` as `writer`'s next audit record, in the caller's transaction."""
    record = check_record(record)
    seq = repo.next_counter(conn, counter_name(writer))
    previous = GENESIS
    if seq > 1:
        found = conn.execute(_LINK_OF, {"writer": writer, "seq": seq - 1}).scalar_one_or_none()
        # a deleted predecessor: link on from the start; `verify` names the missing record
        previous = GENESIS if found is None else str(found)
    chain = audit_link(previous, writer, seq, record)
    conn.execute(_INSERT, {
        "writer": writer, "seq": seq, "at": record.at, "actor": record.actor,
        "actor_role": record.actor_role, "address": record.address,
        "action": record.action, "target_kind": record.target_kind,
        "target_id": record.target_id, "outcome": record.outcome.value,
        "detail": dict(record.detail), "chain": chain})
    return StoredAudit(writer=writer, seq=seq, record=record, chain=chain)


def append_many_in(conn: Connection, writer: str, records: Sequence[AuditRecord]
                   ) -> list[StoredAudit]:
    """`append_in` for several records in order, in the caller's transaction: their seqs
    reserved with one counter upsert, the link before them read once, one multi-row
    insert — the same rows, links and gapless seqs as one `append_in` each."""
    if not records:
        return []
    checked = [check_record(r) for r in records]
    first = repo.next_counter_range(conn, counter_name(writer), len(checked))
    previous = GENESIS
    if first > 1:
        found = conn.execute(_LINK_OF, {"writer": writer, "seq": first - 1}
                             ).scalar_one_or_none()
        previous = GENESIS if found is None else str(found)
    rows: list[dict[str, Any]] = []
    out: list[StoredAudit] = []
    for k, record in enumerate(checked):
        seq = first + k
        previous = audit_link(previous, writer, seq, record)
        rows.append({
            "writer": writer, "seq": seq, "at": record.at, "actor": record.actor,
            "actor_role": record.actor_role, "address": record.address,
            "action": record.action, "target_kind": record.target_kind,
            "target_id": record.target_id, "outcome": record.outcome.value,
            "detail": dict(record.detail), "chain": previous})
        out.append(StoredAudit(writer=writer, seq=seq, record=record, chain=previous))
    conn.execute(_INSERT, rows)
    return out


def trail_of(conn: Connection) -> AuditTrail | None:
    """The audit trail registered on the connection's `Store` (None: a bare store)."""
    for projection in repo.projections_of(conn):
        if isinstance(projection, AuditTrail):
            return projection
    return None


def record_in(conn: Connection, record: AuditRecord) -> StoredAudit | None:
    """Keep `record` in this node's audit log inside the caller's transaction (committed
    with it), with the request's role and address where the record names none. A `Store`
    without the audit trail registered (a test of another table) records nothing: None."""
    trail = trail_of(conn)
    if trail is None:
        return None
    return append_in(conn, trail.node, caller_record(record))


#: actors of account changes that are no person's account name (node/app/accounts.py)
_NOT_A_PERSON = frozenset({"system", "cli"})


def of_account_event(event: AccountEvent) -> AuditRecord:
    """The audit record of an `account_events` row (a change of an account, of its
    memberships, or a sign-in lock): `account.<kind>` on the account or the address."""
    kind, _, name = event.subject.partition(":")
    actor = (event.actor if ":" in event.actor or event.actor in _NOT_A_PERSON
             else f"staff:{event.actor}")
    return AuditRecord(at=event.at, actor=actor, action=f"account.{event.kind}",
                       target_kind=kind if name else "account",
                       target_id=name or event.subject,
                       detail=json.loads(json.dumps(event.detail, default=str)))


def _stored(m: Any) -> StoredAudit:
    record = AuditRecord(at=m["at"], actor=m["actor"], actor_role=m["actor_role"],
                         address=m["address"], action=m["action"],
                         target_kind=m["target_kind"], target_id=m["target_id"],
                         outcome=Outcome(m["outcome"]), detail=dict(m["detail"]))
    return StoredAudit(writer=m["writer"], seq=int(m["seq"]), record=record,
                       chain=m["chain"])


def _conditions(writer: str, q: AuditQuery) -> list[ColumnElement[bool]]:
    c = audit_log.c
    out: list[ColumnElement[bool]] = [c.writer == writer]
    if q.since is not None:
        out.append(c.at >= q.since)
    if q.until is not None:
        out.append(c.at < q.until)
    if q.actor is not None:
        # "staff:wang" or just "wang": an account name matches every label of it
        out.append(c.actor == q.actor if ":" in q.actor
                   else c.actor.in_([f"staff:{q.actor}", f"account:{q.actor}", q.actor]))
    if q.action is not None:
        out.append(c.action.startswith(q.action, autoescape=True) if q.action.endswith(".")
                   else c.action == q.action)
    if q.target_kind is not None:
        out.append(c.target_kind == q.target_kind)
    if q.target_id is not None:
        out.append(c.target_id == q.target_id)
    if q.outcome is not None:
        out.append(c.outcome == q.outcome)
    if q.before_seq is not None:
        out.append(c.seq < q.before_seq)
    return out


def search(conn: Connection, writer: str, q: AuditQuery) -> list[StoredAudit]:
    stmt = (select(audit_log).where(and_(*_conditions(writer, q)))
            .order_by(audit_log.c.seq.desc()).limit(q.limit))
    return [_stored(row._mapping) for row in conn.execute(stmt)]


def head(conn: Connection, writer: str) -> tuple[int, str] | None:
    """(seq, link) of `writer`'s latest audit record (None: none yet)."""
    row = conn.execute(select(audit_log.c.seq, audit_log.c.chain)
                       .where(audit_log.c.writer == writer)
                       .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return None if row is None else (int(row.seq), str(row.chain))


def heads(conn: Connection) -> dict[str, tuple[int, str]]:
    """"audit:<writer>" → (seq, link) of each writer's latest audit record (the summary's
    chain heads, node/domain/summary.py)."""
    last = (select(audit_log.c.writer, func.max(audit_log.c.seq).label("seq"))
            .group_by(audit_log.c.writer).subquery())
    rows = conn.execute(select(audit_log.c.writer, audit_log.c.seq, audit_log.c.chain).join(
        last, and_(audit_log.c.writer == last.c.writer, audit_log.c.seq == last.c.seq)))
    return {f"{AUDIT_HEAD}{w}": (int(seq), str(link)) for w, seq, link in rows}


def rows_of(conn: Connection, writer: str, *, batch: int = 5000
            ) -> Iterator[tuple[int, AuditRecord, str]]:
    stmt = (select(audit_log).where(audit_log.c.writer == writer)
            .order_by(audit_log.c.seq).execution_options(yield_per=batch))
    for row in conn.execute(stmt):
        s = _stored(row._mapping)
        yield s.seq, s.record, s.chain


def writers(conn: Connection) -> list[str]:
    return sorted(conn.execute(select(audit_log.c.writer).distinct()).scalars())


def _counting(rows: Iterator[tuple[int, AuditRecord, str]], counted: list[int]
              ) -> Iterator[tuple[int, AuditRecord, str]]:
    for row in rows:
        counted[0] += 1
        yield row


def verify_audit_log(conn: Connection) -> list[tuple[str, int, Break | None]]:
    """(writer, records, first break or None) of every writer's audit log in the store."""
    out: list[tuple[str, int, Break | None]] = []
    for writer in writers(conn):
        counted = [0]
        found = verify_audit(writer, _counting(rows_of(conn, writer), counted))
        if found is None:  # records cut off the end: the counter knows how many there were
            issued = conn.execute(select(func.max(counters.c.value)).where(
                counters.c.name == counter_name(writer))).scalar_one_or_none()
            if issued is not None and int(issued) > counted[0]:
                found = Break(writer=writer, writer_seq=counted[0] + 1,
                              event_id=f"audit:{counted[0] + 1}",
                              problem=f"audit records {counted[0] + 1}..{issued} are missing")
        out.append((writer, counted[0], found))
    return out


class AuditTrail:
    """This node's audit log: a projection of staff events (repo.Projection) and
    node.app.ports.AuditLog."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    # ------------------------------------------------------------ repo.Projection

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        """The event, not the snapshot, is the act."""

    def issues_written(self, conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
        """Nothing: see issue_written."""

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        if (record := self._record_of(event, seq=seq, own=own)) is not None:
            append_in(conn, self.node, record)

    def events_appended(self, conn: Connection,
                        batch: Sequence[tuple[str, Event, int, bool]]) -> None:
        """event_appended for a set write's events, in order: their records in one
        multi-row insert (append_many_in)."""
        records = [record for _, event, seq, own in batch
                   if (record := self._record_of(event, seq=seq, own=own)) is not None]
        append_many_in(conn, self.node, records)

    @staticmethod
    def _record_of(event: Event, *, seq: int, own: bool) -> AuditRecord | None:
        """The audit record of an appended event (None: not a staff act of this node)."""
        if not own or event.actor.kind is not ActorKind.STAFF or event.payload.get("imported"):
            return None
        caller = current_caller()
        mine = caller is not None and caller.username == event.actor.id
        return AuditRecord(
            at=event.at, actor=event.actor.label(),
            actor_role=caller.role if mine and caller is not None else None,
            address=caller.address if mine and caller is not None else None,
            action=ISSUE_PREFIX + event.kind, target_kind="issue", target_id=event.issue_id,
            detail={"version": event.version, "seq": seq})

    # ------------------------------------------------------------ ports.AuditLog

    def append(self, record: AuditRecord) -> StoredAudit:
        with self.store.write() as conn:
            return append_in(conn, self.node, record)

    def search(self, query: AuditQuery) -> list[StoredAudit]:
        with self.store.read() as conn:
            return search(conn, self.node, query)

    def head(self) -> tuple[int, str] | None:
        with self.store.read() as conn:
            return head(conn, self.node)


def verify_engine(engine: Engine) -> list[tuple[str, int, Break | None]]:
    """`verify_audit_log` in one read transaction of `engine`."""
    with engine.connect() as conn, conn.begin():
        return verify_audit_log(conn)
