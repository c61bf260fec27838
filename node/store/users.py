"""Persistence of user accounts (staff and enterprises), failed sign-ins and account audit.

Accounts are stored and returned as plain values (node.app.ports.Account, role as text);
what a role may do, and the `Principal` a login becomes, are the application's
(node/app/policy.py, node/app/accounts.py), so this module knows nothing of roles, nor of
how many failures earn which back-off: it keeps what node/app/accounts.py decided.

`AccountRecords` implements node.app.ports.AccountStore over a node's `Store`: each
`write()`/`read()` is one transaction, and the `AccountTransaction` it yields binds the
verbs below to that connection. A row of `login_failures` is read `FOR UPDATE` on
PostgreSQL (SQLite's writers are serialised by the store's lock), so concurrent failed
sign-ins of one subject are all counted. node/store/records.py re-exports both classes.

An account is read with its memberships (`account_units`, one query more per account read,
by primary key prefix), so every request's principal knows its units. The catalogue of
units (table `units`, node/store/units.py) is read here only for what the account use
cases check: whether a unit exists and is active, and which are the node's review units.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from node.app.ports import (
    Account,
    AccountEvent,
    ConstraintViolation,
    LoginFailures,
    StoredAccount,
    UnitState,
)
from node.store import audit
from node.store.repo import Store, chunked
from node.store.schema import account_events, account_units, login_failures, units, users

Memberships = tuple[tuple[str, str], ...]


def _stored(m: Any, memberships: Memberships = ()) -> StoredAccount:
    account = Account(username=m["username"], role=m["role"], display_name=m["display_name"],
                      credit_code=m["credit_code"], department=m["department"],
                      board=m["board"], units=memberships)
    return StoredAccount(account=account, password_hash=m["password_hash"],
                         active=bool(m["active"]), token_generation=int(m["token_generation"]),
                         created_at=m["created_at"], updated_at=m["updated_at"])


def memberships_of(conn: Connection, usernames: list[str]) -> dict[str, Memberships]:
    """(unit id, role) of each account's memberships, in the order they were made."""
    out: dict[str, list[tuple[str, str]]] = {}
    for part in chunked(usernames):
        stmt = (select(account_units.c.username, account_units.c.unit_id, account_units.c.role)
                .where(account_units.c.username.in_(part))
                .order_by(account_units.c.username, account_units.c.created_at,
                          account_units.c.unit_id, account_units.c.role))
        for username, unit_id, role in conn.execute(stmt):
            out.setdefault(username, []).append((unit_id, role))
    return {k: tuple(v) for k, v in out.items()}


def get_user(conn: Connection, username: str) -> StoredAccount | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        return None
    return _stored(row._mapping, memberships_of(conn, [username]).get(username, ()))


def list_users(conn: Connection, *, role: str | None, limit: int,
               offset: int) -> list[StoredAccount]:
    stmt = select(users).order_by(users.c.username).limit(limit).offset(offset)
    if role is not None:
        stmt = stmt.where(users.c.role == role)
    rows = [row._mapping for row in conn.execute(stmt)]
    found = memberships_of(conn, [m["username"] for m in rows])
    return [_stored(m, found.get(m["username"], ())) for m in rows]


# --------------------------------------------------------------------------- memberships


def add_membership(conn: Connection, username: str, unit_id: str, role: str, *,
                   now: datetime) -> None:
    conn.execute(insert(account_units).values(username=username, unit_id=unit_id, role=role,
                                              created_at=now))


def remove_membership(conn: Connection, username: str, unit_id: str, role: str) -> bool:
    done = conn.execute(delete(account_units).where(
        account_units.c.username == username, account_units.c.unit_id == unit_id,
        account_units.c.role == role))
    return done.rowcount > 0


def unit_state(conn: Connection, unit_id: str) -> UnitState | None:
    row = conn.execute(select(units.c.id, units.c.node, units.c.kind, units.c.active)
                       .where(units.c.id == unit_id)).first()
    return None if row is None else UnitState(id=row.id, node=row.node, kind=row.kind,
                                              active=bool(row.active))


def has_units(conn: Connection, node: str | None) -> bool:
    stmt = select(units.c.id).limit(1)
    if node is not None:
        stmt = stmt.where(units.c.node == node)
    return conn.execute(stmt).first() is not None


def units_of_kind(conn: Connection, kind: str, node: str | None) -> frozenset[str]:
    stmt = select(units.c.id).where(units.c.kind == kind, units.c.active.is_(True))
    if node is not None:
        stmt = stmt.where(units.c.node == node)
    return frozenset(conn.execute(stmt).scalars())


def add_user(conn: Connection, account: Account, *, password_hash: str, now: datetime) -> None:
    conn.execute(
        insert(users).values(
            username=account.username,
            password_hash=password_hash,
            role=account.role,
            display_name=account.display_name,
            credit_code=account.credit_code,
            department=account.department,
            board=account.board,
            active=True,
            created_at=now,
            token_generation=0,
        )
    )


def update_user(conn: Connection, account: Account, *, now: datetime) -> bool:
    result = conn.execute(
        update(users).where(users.c.username == account.username).values(
            role=account.role, display_name=account.display_name,
            department=account.department, board=account.board, updated_at=now))
    return result.rowcount == 1


def set_active(conn: Connection, username: str, active: bool, *, now: datetime) -> bool:
    values: dict[str, Any] = {"active": active, "updated_at": now}
    if not active:
        values["token_generation"] = users.c.token_generation + 1
    result = conn.execute(update(users).where(users.c.username == username).values(**values))
    return result.rowcount == 1


def set_password(conn: Connection, username: str, password_hash: str, *,
                 now: datetime | None = None) -> bool:
    values: dict[str, Any] = {"password_hash": password_hash,
                              "token_generation": users.c.token_generation + 1}
    if now is not None:
        values["updated_at"] = now
    result = conn.execute(update(users).where(users.c.username == username).values(**values))
    return result.rowcount == 1


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


# --------------------------------------------------------------------------- sign-in


def _failures(m: Any) -> LoginFailures:
    return LoginFailures(subject=m["subject"], failures=int(m["failures"]),
                         last_failure_at=m["last_failure_at"],
                         blocked_until=m["blocked_until"], locked=bool(m["locked"]))


def get_login_failures(conn: Connection, subject: str, *,
                       for_update: bool = False) -> LoginFailures | None:
    stmt = select(login_failures).where(login_failures.c.subject == subject)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return None if row is None else _failures(row._mapping)


def save_login_failures(conn: Connection, row: LoginFailures, *, existed: bool) -> None:
    values = {"failures": row.failures, "last_failure_at": row.last_failure_at,
              "blocked_until": row.blocked_until, "locked": row.locked}
    if existed:
        conn.execute(update(login_failures)
                     .where(login_failures.c.subject == row.subject).values(**values))
    else:  # a concurrent first failure makes this a unique violation, not a lost count
        conn.execute(insert(login_failures).values(subject=row.subject, **values))


def clear_login_failures(conn: Connection, subject: str) -> bool:
    done = conn.execute(delete(login_failures).where(login_failures.c.subject == subject))
    return done.rowcount > 0


def blocked_subjects(conn: Connection, now: datetime) -> list[LoginFailures]:
    stmt = (select(login_failures)
            .where(or_(login_failures.c.locked.is_(True), login_failures.c.blocked_until > now))
            .order_by(login_failures.c.subject))
    return [_failures(row._mapping) for row in conn.execute(stmt)]


# --------------------------------------------------------------------------- audit


def add_account_event(conn: Connection, event: AccountEvent) -> None:
    conn.execute(insert(account_events).values(at=event.at, actor=event.actor,
                                               subject=event.subject, kind=event.kind,
                                               detail=event.detail))
    audit.record_in(conn, audit.of_account_event(event))  # the audit trail, same tx


def list_account_events(conn: Connection, *, subject: str | None,
                        limit: int) -> list[AccountEvent]:
    stmt = select(account_events).order_by(account_events.c.id.desc()).limit(limit)
    if subject is not None:
        stmt = stmt.where(account_events.c.subject == subject)
    return [AccountEvent(id=m["id"], at=m["at"], actor=m["actor"], subject=m["subject"],
                         kind=m["kind"], detail=dict(m["detail"]))
            for m in (row._mapping for row in conn.execute(stmt))]


# --------------------------------------------------------------------------- the port


class AccountTransaction:
    """node.app.ports.AccountUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def account(self, username: str) -> StoredAccount | None:
        return get_user(self.conn, username)

    def add_account(self, account: Account, *, password_hash: str, at: datetime) -> None:
        add_user(self.conn, account, password_hash=password_hash, now=at)

    def count_accounts(self) -> int:
        return count_users(self.conn)

    def list_accounts(self, *, role: str | None, limit: int,
                      offset: int) -> list[StoredAccount]:
        return list_users(self.conn, role=role, limit=limit, offset=offset)

    def update_account(self, account: Account, *, at: datetime) -> bool:
        return update_user(self.conn, account, now=at)

    def set_active(self, username: str, active: bool, *, at: datetime) -> bool:
        return set_active(self.conn, username, active, now=at)

    def set_password(self, username: str, password_hash: str, *, at: datetime) -> bool:
        return set_password(self.conn, username, password_hash, now=at)

    def login_failures(self, subject: str, *, for_update: bool = False
                       ) -> LoginFailures | None:
        return get_login_failures(self.conn, subject, for_update=for_update)

    def save_login_failures(self, row: LoginFailures, *, existed: bool) -> None:
        save_login_failures(self.conn, row, existed=existed)

    def clear_login_failures(self, subject: str) -> bool:
        return clear_login_failures(self.conn, subject)

    def blocked_subjects(self, now: datetime) -> list[LoginFailures]:
        return blocked_subjects(self.conn, now)

    def add_account_event(self, event: AccountEvent) -> None:
        add_account_event(self.conn, event)

    def account_events(self, *, subject: str | None, limit: int) -> list[AccountEvent]:
        return list_account_events(self.conn, subject=subject, limit=limit)

    def add_membership(self, username: str, unit_id: str, role: str, *,
                       at: datetime) -> None:
        add_membership(self.conn, username, unit_id, role, now=at)

    def remove_membership(self, username: str, unit_id: str, role: str) -> bool:
        return remove_membership(self.conn, username, unit_id, role)

    def unit_state(self, unit_id: str) -> UnitState | None:
        return unit_state(self.conn, unit_id)

    def has_units(self, node: str | None) -> bool:
        return has_units(self.conn, node)

    def units_of_kind(self, kind: str, node: str | None) -> frozenset[str]:
        return units_of_kind(self.conn, kind, node)


class AccountRecords:
    """node.app.ports.AccountStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[AccountTransaction]:
        try:
            with self.store.write() as conn:
                yield AccountTransaction(conn)
        except IntegrityError as exc:
            raise ConstraintViolation(str(exc.orig)) from exc

    @contextmanager
    def read(self) -> Iterator[AccountTransaction]:
        with self.store.read() as conn:
            yield AccountTransaction(conn)
