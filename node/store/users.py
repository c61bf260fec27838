"""Persistence of user accounts (staff and enterprises)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from node.app.policy import Principal, Role
from node.store.schema import users


def principal_from_row(row: Any) -> Principal:
    m = row._mapping
    return Principal(
        username=m["username"],
        role=Role(m["role"]),
        display_name=m["display_name"],
        credit_code=m["credit_code"],
        department=m["department"],
        board=m["board"],
    )


def get_user(conn: Connection, username: str) -> tuple[Principal, str, bool] | None:
    """(principal, password hash, active) or None."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        return None
    return principal_from_row(row), row._mapping["password_hash"], bool(row._mapping["active"])


def add_user(
    conn: Connection, principal: Principal, *, password_hash: str, now: datetime
) -> None:
    conn.execute(
        insert(users).values(
            username=principal.username,
            password_hash=password_hash,
            role=principal.role.value,
            display_name=principal.display_name,
            credit_code=principal.credit_code,
            department=principal.department,
            board=principal.board,
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
