"""Enterprises' sign-in codes over SQL: node.app.ports.SignInCodeStore.

`signin_codes` keeps a code's digest (never its digits), `signin_limits` the counters of
node/domain/signin_codes.py; a counter row is read `FOR UPDATE` on PostgreSQL (SQLite's
writers are serialised by the store's lock) so that concurrent requests are all counted.

The SMS of a code is a row of the notification outbox (node/store/notifications.py): a
notice of topic `sign_in_code` already expanded, with its one delivery, so the dispatcher
(node/app/notify.py) sends it like any other SMS — later, outside the request, retried
under its one idempotency key. The notice's params carry the digits until the code
expires; `purge` then scrubs them and parks the SMS if it was still unsent (a code too
late is no use). The phone on record is the newest issue's contact phone of the credit
code among the issues raised at this node (`issues.origin`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from node.app.ports import (
    Account,
    AccountEvent,
    CodeMessage,
    NewSignInCode,
    SignInCodeUnit,
    StoredAccount,
)
from node.domain.signin_codes import Counter, IssuedCode, Via
from node.store import users as user_rows
from node.store.records import _constraints_checked
from node.store.repo import Store
from node.store.schema import (
    issues,
    notification_deliveries,
    notifications,
    signin_codes,
    signin_limits,
    users,
)

_C, _L = signin_codes, signin_limits
TOPIC = "sign_in_code"
KEEP_CODES = timedelta(days=1)  # expired codes kept this long (who asked, when), then gone
KEEP_COUNTERS = timedelta(hours=2)  # a counter's window is an hour: older rows count nothing
_PHONE = (select(issues.c.contact_phone, issues.c.enterprise_name)
          .order_by(issues.c.received_at.desc(), issues.c.id.desc()).limit(1))


def _code(m: Any) -> IssuedCode:
    return IssuedCode(id=m["id"], credit_code=m["credit_code"], phone=m["phone"],
                      digest=m["digest"], via=Via(m["via"]), issued_by=m["issued_by"],
                      created_at=m["created_at"], expires_at=m["expires_at"],
                      attempts=int(m["attempts"]), used_at=m["used_at"])


class SignInCodeTransaction:
    """node.app.ports.SignInCodeUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _locking(self, stmt: Any, for_update: bool) -> Any:
        return stmt.with_for_update() if for_update and \
            self.conn.dialect.name == "postgresql" else stmt

    def phone_on_record(self, credit_code: str, node: str) -> tuple[str, str] | None:
        row = self.conn.execute(_PHONE.where(issues.c.credit_code == credit_code,
                                             issues.c.origin == node)).first()
        return None if row is None or not row[0] else (str(row[0]), str(row[1]))

    def counters(self, subjects: Sequence[str], *, for_update: bool = False
                 ) -> dict[str, Counter]:
        stmt = self._locking(select(_L).where(_L.c.subject.in_(list(subjects)))
                             .order_by(_L.c.subject), for_update)
        return {m["subject"]: Counter(subject=m["subject"], window_start=m["window_start"],
                                      count=int(m["count"]), last_at=m["last_at"])
                for m in (r._mapping for r in self.conn.execute(stmt))}

    def save_counter(self, counter: Counter, *, existed: bool) -> None:
        values = {"window_start": counter.window_start, "count": counter.count,
                  "last_at": counter.last_at}
        if existed:
            self.conn.execute(update(_L).where(_L.c.subject == counter.subject)
                              .values(**values))
        else:
            self.conn.execute(insert(_L).values(subject=counter.subject, **values))

    def add_code(self, code: NewSignInCode) -> int:
        return int(self.conn.execute(insert(_C).returning(_C.c.id).values(
            credit_code=code.credit_code, phone=code.phone, digest=code.digest, via=code.via,
            issued_by=code.issued_by, created_at=code.created_at,
            expires_at=code.expires_at, attempts=0)).scalar_one())

    def latest_code(self, credit_code: str, *, for_update: bool = False
                    ) -> IssuedCode | None:
        stmt = self._locking(select(_C).where(_C.c.credit_code == credit_code)
                             .order_by(_C.c.id.desc()).limit(1), for_update)
        row = self.conn.execute(stmt).first()
        return None if row is None else _code(row._mapping)

    def count_guess(self, code_id: int) -> None:
        self.conn.execute(update(_C).where(_C.c.id == code_id)
                          .values(attempts=_C.c.attempts + 1))

    def use_code(self, code_id: int, *, at: datetime) -> None:
        self.conn.execute(update(_C).where(_C.c.id == code_id).values(
            used_at=at, attempts=_C.c.attempts + 1))

    def mark_sms(self, code_id: int, *, phone: str) -> None:
        self.conn.execute(update(_C).where(_C.c.id == code_id).values(
            via=Via.SMS.value, phone=phone))

    def queue_sms(self, code_id: int, message: CodeMessage, *, at: datetime) -> None:
        notice_id = int(self.conn.execute(insert(notifications).returning(
            notifications.c.id).values(
            key=f"signin:{code_id}", topic=TOPIC, issue_id="", groups=[],
            params=dict(message.params), created_at=at, expanded_at=at)).scalar_one())
        self.conn.execute(insert(notification_deliveries).values(
            idempotency_key=message.idempotency_key, notification_id=notice_id,
            recipient=message.recipient, channel="sms", address=message.phone,
            locale=message.locale, status="pending", attempts=0, next_attempt_at=at,
            last_error=None, created_at=at, finished_at=None))
        self.conn.execute(update(_C).where(_C.c.id == code_id).values(notice_id=notice_id))

    def enterprise_account(self, credit_code: str) -> StoredAccount | None:
        username = self.conn.execute(select(users.c.username).where(
            users.c.credit_code == credit_code)).scalar_one_or_none()
        return None if username is None else user_rows.get_user(self.conn, str(username))

    def add_enterprise_account(self, account: Account, *, password_hash: str,
                               at: datetime) -> None:
        user_rows.add_user(self.conn, account, password_hash=password_hash, now=at)
        user_rows.add_account_event(self.conn, AccountEvent(
            at=at, actor="system", subject=f"account:{account.username}", kind="created",
            detail={"role": account.role, "display_name": account.display_name,
                    "credit_code": account.credit_code, "via": "sms_code_sign_in"}))

    def purge(self, now: datetime) -> None:
        stale = list(self.conn.execute(select(_C.c.id, _C.c.notice_id).where(
            _C.c.notice_id.is_not(None), _C.c.expires_at <= now)).all())
        if stale:
            notice_ids = [int(n) for _, n in stale]
            self.conn.execute(update(notifications).where(notifications.c.id.in_(notice_ids))
                              .values(params={"expired": "1"}))
            d = notification_deliveries
            self.conn.execute(update(d).where(d.c.notification_id.in_(notice_ids),
                                              d.c.status == "pending")
                              .values(status="parked", finished_at=now,
                                      last_error="sign-in code expired before it was sent"))
            self.conn.execute(update(_C).where(_C.c.id.in_([int(i) for i, _ in stale]))
                              .values(notice_id=None))
        self.conn.execute(delete(_C).where(_C.c.expires_at < now - KEEP_CODES))
        self.conn.execute(delete(_L).where(_L.c.window_start < now - KEEP_COUNTERS))


class SignInCodeRecords:
    """node.app.ports.SignInCodeStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[SignInCodeUnit]:
        with _constraints_checked(self.store) as conn:
            yield SignInCodeTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[SignInCodeUnit]:
        with self.store.read() as conn:
            yield SignInCodeTransaction(conn)
