"""unit memberships and the rejection's author

Adds `account_units` (the units a staff account belongs to, with its role in each:
node/app/policy.py `Membership`) and `issues.rejected_by` (who rejected an issue, so that
person cannot review the rejection).

Existing accounts keep working: a staff account's department, and else its board, becomes
one membership with the account's role (since the account was created). 0015 has turned
both into unit ids (the same spelling, the same id: node/domain/units.py `migrated_id`,
under the node owning most issues); a value that is no unit id (a store without issues, so
without a node to name a unit by) stays as it is and the account gets no membership: its
role keeps working node-wide, its department scope as before. `rejected_by` of an issue
rejected now is filled from the actor of its latest reject event.

Each step checks what the database already has: a database created from the tables and
then stamped at an older revision (tests/integration/test_store.py) already has them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: roles an account may hold in a unit (node/app/policy.py MEMBER_ROLES)
_MEMBER_ROLES = ("intake", "dispatcher", "handler", "leader", "supervisor", "reviewer",
                 "admin", "viewer")


#: a unit id, "<node code>.<slug>" (node/domain/units.py)
_UNIT_ID = re.compile(r"[0-9]{6}\.[a-z0-9][a-z0-9_-]{0,31}")


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    if not inspector.has_table("account_units"):
        op.create_table(
            "account_units",
            sa.Column("username", sa.String(length=40), nullable=False),
            sa.Column("unit_id", sa.String(length=40), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["username"], ["users.username"],
                                    name=op.f("fk_account_units_username_users")),
            sa.PrimaryKeyConstraint("username", "unit_id", "role",
                                    name=op.f("pk_account_units")),
        )
        op.create_index("ix_account_units_unit_id_role", "account_units",
                        ["unit_id", "role"], unique=False)
    columns = {str(c["name"]) for c in sa.inspect(conn).get_columns("issues")}
    if "rejected_by" not in columns:
        with op.batch_alter_table("issues", schema=None) as batch_op:
            batch_op.add_column(sa.Column("rejected_by", sa.String(length=64), nullable=True))

    # who rejected what is rejected now: the latest reject event's actor
    conn.execute(sa.text(
        "UPDATE issues SET rejected_by = (SELECT e.actor FROM events e "
        "WHERE e.issue_id = issues.id AND e.kind = 'reject' ORDER BY e.version DESC LIMIT 1) "
        "WHERE state = 'rejected' AND rejected_by IS NULL"))

    have = {(str(r[0]), str(r[1]), str(r[2])) for r in conn.execute(sa.text(
        "SELECT username, unit_id, role FROM account_units"))}
    rows = []
    users = sa.table("users", sa.column("username"), sa.column("role"),
                     sa.column("department"), sa.column("board"),
                     sa.column("created_at", sa.DateTime(timezone=True)))
    for username, role, department, board, created_at in conn.execute(
            sa.select(users.c.username, users.c.role, users.c.department, users.c.board,
                      users.c.created_at).order_by(users.c.username)):
        unit = department or board
        if role not in _MEMBER_ROLES or not unit or not _UNIT_ID.fullmatch(str(unit)):
            continue
        key = (str(username), str(unit), str(role))
        if key not in have:
            have.add(key)
            rows.append({"username": key[0], "unit_id": key[1], "role": key[2],
                         "created_at": created_at})  # bound since the account was
    if rows:
        table = sa.table("account_units", sa.column("username"), sa.column("unit_id"),
                         sa.column("role"), sa.column("created_at", sa.DateTime(timezone=True)))
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("rejected_by")
    op.drop_index("ix_account_units_unit_id_role", table_name="account_units")
    op.drop_table("account_units")
