"""Persistence of user accounts (staff and enterprises).

Accounts are stored and returned as plain values (node.app.ports.Account, role as text);
what a role may do, and the `Principal` a login becomes, are the application's
(node/app/policy.py, node/app/service.py), so this module knows nothing of roles.
node/store/records.py binds these verbs to a transaction (`AccountTransaction`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from node.app.ports import Account, StoredAccount
from node.store.schema import users


def get_user(conn: Connection, username: str) -> StoredAccount | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        return None
    m = row._mapping
    account = Account(username=m["username"], role=m["role"], display_name=m["display_name"],
                      credit_code=m["credit_code"], department=m["department"],
                      board=m["board"])
    return StoredAccount(account=account, password_hash=m["password_hash"],
                         active=bool(m["active"]))


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
        )
    )


def set_password(conn: Connection, username: str, password_hash: str) -> bool:
    result = conn.execute(
        update(users).where(users.c.username == username).values(password_hash=password_hash)
    )
    return result.rowcount == 1


def count_users(conn: Connection) -> int:
    return len(conn.execute(select(users.c.username)).all())
