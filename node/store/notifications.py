"""The notification outbox over SQL: the projection that writes it, and node.app.notify's
NotifyStore.

`NotificationProjection` is registered on the `Store` (node/store/repo.py, "Projections"):
`issue_written` keeps the snapshot just written, `event_appended` asks the domain
(node/domain/notifications.py) which notice this node's own event causes and inserts it —
inside the writing transaction, so the notice commits or rolls back with its event. A
replicated event (`own=False`) notifies only the enterprise, and only at the node where
its issue was raised (a reply written by the tier that owns it now: the enterprise's
contact and portal live at its home). The cost on a submit is one INSERT.

Every insert of a delivery, an inbox message, a light transition or a notice is "insert
if absent" on its unique key (ON CONFLICT DO NOTHING, both backends), which is what makes
redoing any step after a crash harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.app.notify import (
    Contact,
    Delivery,
    InboxItem,
    LightCandidate,
    Outcome,
    Plan,
    RefusedForward,
    StoredNotice,
)
from node.app.transfers.types import REFUSED, UP_KINDS
from node.domain.issue import Event, Issue
from node.domain.notifications import (
    Colour,
    Group,
    Member,
    Notice,
    NotifyRules,
    Topic,
    notice_for_event,
    notice_for_replicated,
)
from node.store import repo
from node.store.repo import Store
from node.store.schema import (
    account_units,
    inbox_messages,
    issues,
    light_transitions,
    notification_contacts,
    notification_deliveries,
    notification_templates,
    notifications,
    transfers_out,
    users,
)

_LAST = "zhitong_notify_snapshot"  # conn.info: the snapshot issue_written saw last
#: conn.info: id → the snapshots a set write wrote (issues_written), for its events; a
#: unit-of-work key (repo.UNIT_STATE's prefix): dropped when the unit of work is done
_SET = "zhitong_unit:notify_set"
_SET_MAX = 4096  # a set left unused (a rolled-back write) is dropped past this size


def _insert_absent(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose unique keys are not taken; returns how many were inserted."""
    if not rows:
        return 0
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(table).on_conflict_do_nothing()
    if len(rows) == 1:  # RETURNING tells whether it was inserted (rowcount may be -1)
        first = next(iter(table.primary_key.columns))
        return len(conn.execute(stmt.returning(first), dict(rows[0])).all())
    # several: executemany's rowcount is not reliable everywhere; nobody needs it
    conn.execute(stmt, list(rows))
    return len(rows)


def _notice_row(notice: Notice) -> dict[str, Any]:
    return {"key": notice.key, "topic": notice.topic.value, "issue_id": notice.issue_id,
            "groups": [g.value for g in notice.groups], "params": dict(notice.params),
            "created_at": notice.at, "expanded_at": None}


def insert_notice(conn: Connection, notice: Notice) -> bool:
    return _insert_absent(conn, notifications, [_notice_row(notice)]) == 1


class NotificationProjection:
    """repo.Projection: the notices of this node's own events, in their transaction."""

    def __init__(self, rules: NotifyRules, node: str) -> None:
        self.rules = rules
        self.node = node

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        conn.info[_LAST] = issue
        conn.info.get(_SET, {}).pop(issue.id, None)

    def issues_written(self, conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
        """A set write (an envelope, a replica's batch): its snapshots kept by id, so its
        events (appended after them) find theirs without reading the row back."""
        written = conn.info.setdefault(_SET, {})
        if len(written) > _SET_MAX:
            written.clear()
        written.update((issue.id, issue) for issue, _ in batch)

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        last = conn.info.pop(_LAST, None)
        if not own and not event.issue_id.startswith(f"{self.node}-"):
            return  # raised elsewhere: its enterprise is told at its home node
        if not (isinstance(last, Issue) and last.id == event.issue_id):
            last = conn.info.get(_SET, {}).get(event.issue_id)
        issue = (last if isinstance(last, Issue) and last.id == event.issue_id
                 and last.version == event.version else None)
        if issue is None:  # not the snapshot of this event: the row written in this tx
            issue = repo.load_issue(conn, event.issue_id)
            if issue is None:
                return
        notice = (notice_for_event(event, issue, self.rules) if own
                  else notice_for_replicated(event, issue, self.rules, home=self.node))
        if notice is not None and own and issue.origin != self.node:
            # raised below: its enterprise is told at its home node (notice_for_replicated)
            groups = tuple(g for g in notice.groups if g is not Group.ENTERPRISE)
            notice = replace(notice, groups=groups) if groups else None
        if notice is not None:
            insert_notice(conn, notice)


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(id=m["id"], idempotency_key=m["idempotency_key"], notice_key=m["key"],
                    topic=m["topic"], issue_id=m["issue_id"], params=m["params"],
                    recipient=m["recipient"], channel=m["channel"], address=m["address"],
                    locale=m["locale"], status=m["status"], attempts=m["attempts"],
                    next_attempt_at=m["next_attempt_at"], last_error=m["last_error"],
                    created_at=m["created_at"])


_DELIVERIES = select(notification_deliveries, notifications.c.key, notifications.c.topic,
                     notifications.c.issue_id, notifications.c.params).join(
    notifications, notifications.c.id == notification_deliveries.c.notification_id)


def _inbox_item(row: Any) -> InboxItem:
    m = row._mapping
    return InboxItem(id=m["id"], username=m["username"], topic=m["topic"],
                     issue_id=m["issue_id"], number=m["number"], subject=m["subject"],
                     body=m["body"], created_at=m["created_at"], read_at=m["read_at"])


class SqlNotifyStore:
    """node.app.notify.NotifyStore over a node's `Store`; `node` is this node's code (the
    light scanner looks at the issues it owns only)."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    # -- expansion

    def unexpanded(self, limit: int) -> list[StoredNotice]:
        with self.store.read() as conn:
            rows = conn.execute(select(notifications)
                                .where(notifications.c.expanded_at.is_(None))
                                .order_by(notifications.c.id).limit(limit)).all()
        return [StoredNotice(id=r.id, notice=Notice(
            key=r.key, topic=Topic(r.topic), issue_id=r.issue_id,
            groups=tuple(Group(g) for g in r.groups), params=r.params, at=r.created_at))
            for r in rows]

    def members(self) -> list[Member]:
        """Every active staff account as it is, and once more per unit it is bound to
        (with that unit's role): an account of the 税务局 queue is its member there."""
        with self.store.read() as conn:
            rows = conn.execute(select(users.c.username, users.c.role, users.c.department,
                                       users.c.board).where(users.c.active.is_(True))).all()
            bound = conn.execute(
                select(account_units.c.username, account_units.c.unit_id, account_units.c.role)
                .join(users, users.c.username == account_units.c.username)
                .where(users.c.active.is_(True))).all()
        out = [Member(username=u, role=r, department=d, board=b) for u, r, d, b in rows]
        out += [Member(username=u, role=r, department=unit, board=unit)
                for u, unit, r in bound]
        return out

    def contacts(self) -> dict[str, Contact]:
        with self.store.read() as conn:
            rows = conn.execute(select(notification_contacts)).all()
        return {r.username: Contact(username=r.username, email=r.email, phone=r.phone,
                                    oa_id=r.oa_id, locale=r.locale) for r in rows}

    def enterprise_of(self, issue_id: str) -> tuple[str, str] | None:
        with self.store.read() as conn:
            row = conn.execute(select(issues.c.credit_code, issues.c.contact_phone)
                               .where(issues.c.id == issue_id)).first()
        return None if row is None else (str(row[0]), str(row[1]))

    def expand(self, plans: Sequence[Plan], *, now: datetime) -> None:
        deliveries: list[dict[str, Any]] = []
        inbox: list[dict[str, Any]] = []
        for plan in plans:
            deliveries.extend(
                {"idempotency_key": d.idempotency_key, "notification_id": plan.notice_id,
                 "recipient": d.recipient, "channel": d.channel, "address": d.address,
                 "locale": d.locale,
                 # the inbox is this database: its message is written right here
                 "status": "delivered" if d.channel == "inbox" else "pending",
                 "attempts": 1 if d.channel == "inbox" else 0, "next_attempt_at": now,
                 "last_error": None, "created_at": now,
                 "finished_at": now if d.channel == "inbox" else None}
                for d in plan.deliveries)
            inbox.extend(
                {"username": m.username, "idempotency_key": m.idempotency_key,
                 "topic": m.topic, "issue_id": m.issue_id, "number": m.number,
                 "subject": m.subject, "body": m.body, "created_at": now, "read_at": None}
                for m in plan.inbox)
        with self.store.write() as conn:
            _insert_absent(conn, notification_deliveries, deliveries)
            _insert_absent(conn, inbox_messages, inbox)
            conn.execute(update(notifications)
                         .where(notifications.c.id.in_([p.notice_id for p in plans]))
                         .values(expanded_at=now))

    # -- delivery

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        d = notification_deliveries
        with self.store.read() as conn:
            rows = conn.execute(_DELIVERIES.where(d.c.status == "pending",
                                                  d.c.next_attempt_at <= now)
                                .order_by(d.c.next_attempt_at, d.c.id).limit(limit)).all()
        return [_delivery(r) for r in rows]

    def next_attempt_at(self) -> datetime | None:
        d = notification_deliveries
        with self.store.read() as conn:
            found = conn.execute(select(func.min(d.c.next_attempt_at))
                                 .where(d.c.status == "pending")).scalar_one_or_none()
        return found  # UTCDateTime: aware, in UTC (min() keeps the column type)

    def defer(self, delivery_ids: Sequence[int], until: datetime) -> None:
        d = notification_deliveries
        with self.store.write() as conn:
            conn.execute(update(d).where(d.c.id.in_(list(delivery_ids)),
                                         d.c.status == "pending")
                         .values(next_attempt_at=until))

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        d = notification_deliveries
        with self.store.write() as conn:
            for o in outcomes:
                values: dict[str, Any] = {"attempts": d.c.attempts + 1}
                if o.error is None:
                    values.update(status="delivered", finished_at=now, last_error=None)
                elif o.retry_at is None:
                    values.update(status="parked", finished_at=now, last_error=o.error[:2000])
                else:
                    values.update(next_attempt_at=o.retry_at, last_error=o.error[:2000])
                conn.execute(update(d).where(d.c.id == o.delivery_id, d.c.status == "pending")
                             .values(**values))

    # -- lights

    def light_candidates(self, now: datetime, limit: int) -> list[LightCandidate]:
        t = light_transitions

        def unrecorded(colour: Colour) -> Any:
            return ~exists().where(t.c.issue_id == issues.c.id,
                                   t.c.deadline_kind == issues.c.deadline_kind,
                                   t.c.deadline_due == issues.c.deadline_due,
                                   t.c.colour == colour.value)

        stmt = (select(issues).where(
            issues.c.owner == self.node, issues.c.light_red_at.is_not(None),
            issues.c.light_yellow_at <= now,
            (unrecorded(Colour.YELLOW) | and_(issues.c.light_red_at <= now,
                                               unrecorded(Colour.RED))))
            .order_by(issues.c.light_yellow_at).limit(limit))
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
        return [LightCandidate(issue=repo.issue_from_row(r), yellow_at=r.light_yellow_at,
                               red_at=r.light_red_at) for r in rows]

    def record_light(self, issue: Issue, colour: Colour, notice: Notice | None, *,
                     now: datetime) -> bool:
        assert issue.deadline is not None
        with self.store.write() as conn:
            fresh = _insert_absent(conn, light_transitions, [{
                "issue_id": issue.id, "deadline_kind": issue.deadline.kind.value,
                "deadline_due": issue.deadline.due, "colour": colour.value,
                "recorded_at": now, "notified": notice is not None}]) == 1
            if fresh and notice is not None:
                insert_notice(conn, notice)
        return fresh

    # -- refusals of forwarded acts

    def refused_forwards(self, limit: int) -> list[RefusedForward]:
        t = transfers_out
        told = exists().where(notifications.c.key == literal("refused:") + t.c.transfer_id)
        stmt = (select(t.c.transfer_id.label("fwd_id"), t.c.kind.label("fwd_kind"),
                       t.c.last_error.label("fwd_error"), t.c.created_at.label("fwd_at"),
                       issues)
                .join(issues, issues.c.id == t.c.issue_id)
                .where(t.c.status == REFUSED, t.c.kind.in_(UP_KINDS),
                       issues.c.origin == self.node, ~told)
                .order_by(t.c.seq).limit(limit))
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
        return [RefusedForward(transfer_id=r.fwd_id, kind=r.fwd_kind, error=r.fwd_error or "",
                               at=r.fwd_at, issue=repo.issue_from_row(r)) for r in rows]

    def add_notice(self, notice: Notice) -> bool:
        with self.store.write() as conn:
            return insert_notice(conn, notice)

    # -- operators

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        d = notification_deliveries
        with self.store.read() as conn:
            rows = conn.execute(select(d.c.status, d.c.channel, func.count())
                                .group_by(d.c.status, d.c.channel)).all()
            waiting = conn.execute(select(func.count()).select_from(notifications)
                                   .where(notifications.c.expanded_at.is_(None))).scalar_one()
        out = {(str(s), str(c)): int(n) for s, c, n in rows}
        if waiting:
            out[("unexpanded", "-")] = int(waiting)
        return out

    def deliveries(self, status: str, limit: int) -> list[Delivery]:
        d = notification_deliveries
        with self.store.read() as conn:
            rows = conn.execute(_DELIVERIES.where(d.c.status == status)
                                .order_by(d.c.id.desc()).limit(limit)).all()
        return [_delivery(r) for r in rows]

    def requeue(self, delivery_id: int, *, now: datetime) -> bool:
        d = notification_deliveries
        with self.store.write() as conn:
            result = conn.execute(update(d).where(d.c.id == delivery_id,
                                                  d.c.status == "parked")
                                  .values(status="pending", attempts=0, next_attempt_at=now,
                                          finished_at=None))
        return int(result.rowcount) == 1

    # -- inbox

    def inbox(self, username: str, *, unread_only: bool, limit: int,
              before: int | None) -> list[InboxItem]:
        m = inbox_messages
        stmt = select(m).where(m.c.username == username)
        if unread_only:
            stmt = stmt.where(m.c.read_at.is_(None))
        if before is not None:
            stmt = stmt.where(m.c.id < before)
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(m.c.id.desc()).limit(limit)).all()
        return [_inbox_item(r) for r in rows]

    def unread(self, username: str) -> int:
        m = inbox_messages
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(m).where(
                m.c.username == username, m.c.read_at.is_(None))).scalar_one())

    def mark_read(self, username: str, ids: Sequence[int] | None, *, now: datetime) -> int:
        m = inbox_messages
        stmt = update(m).where(m.c.username == username, m.c.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(m.c.id.in_(list(ids)))
        with self.store.write() as conn:
            return int(conn.execute(stmt.values(read_at=now)).rowcount)

    # -- contacts

    def set_contact(self, contact: Contact, *, now: datetime) -> None:
        c = notification_contacts
        values = {"email": contact.email, "phone": contact.phone, "oa_id": contact.oa_id,
                  "locale": contact.locale, "updated_at": now}
        ins = pg_insert if self.store.engine.dialect.name == "postgresql" else sqlite_insert
        with self.store.write() as conn:
            conn.execute(ins(c).values(username=contact.username, **values)
                         .on_conflict_do_update(index_elements=[c.c.username], set_=values))

    def get_contact(self, username: str) -> Contact | None:
        c = notification_contacts
        with self.store.read() as conn:
            r = conn.execute(select(c).where(c.c.username == username)).first()
        return None if r is None else Contact(username=r.username, email=r.email,
                                              phone=r.phone, oa_id=r.oa_id, locale=r.locale)

    def account_exists(self, username: str) -> bool:
        with self.store.read() as conn:
            return conn.execute(select(users.c.username)
                                .where(users.c.username == username)).first() is not None

    # -- templates an admin edited

    def templates(self) -> dict[tuple[str, Topic], tuple[str, str]]:
        t = notification_templates
        with self.store.read() as conn:
            rows = conn.execute(select(t.c.locale, t.c.topic, t.c.subject, t.c.body)).all()
        return {(str(loc), Topic(top)): (str(sub), str(body)) for loc, top, sub, body in rows}

    def set_template(self, locale: str, topic: Topic, subject: str, body: str, *,
                     actor: str, now: datetime) -> None:
        t = notification_templates
        values = {"subject": subject, "body": body, "updated_by": actor, "updated_at": now}
        ins = pg_insert if self.store.engine.dialect.name == "postgresql" else sqlite_insert
        with self.store.write() as conn:
            conn.execute(ins(t).values(locale=locale, topic=topic.value, **values)
                         .on_conflict_do_update(index_elements=[t.c.locale, t.c.topic],
                                                set_=values))

    def delete_template(self, locale: str, topic: Topic) -> bool:
        t = notification_templates
        with self.store.write() as conn:
            return int(conn.execute(t.delete().where(t.c.locale == locale,
                                                     t.c.topic == topic.value)).rowcount) == 1
