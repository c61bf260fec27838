"""account administration and sign-in back-off

Adds to `users` the session token generation (bumped when an account is disabled or its
password reset: a token issued before is refused at once) and `updated_at`; the table
`login_failures` (failed sign-ins per account and per address, with the back-off or lock
they earned, so a restart forgets nothing); and `account_events`, the audit of every
administrator's change of an account and of every lock (who, when, what — never a
password or its hash).

Each step checks what the database already has: a database created from the tables and
then stamped at an older revision (tests/integration/test_store.py) already has them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    present = _columns("users")
    if "token_generation" not in present or "updated_at" not in present:
        with op.batch_alter_table("users", schema=None) as batch_op:
            if "token_generation" not in present:
                batch_op.add_column(sa.Column("token_generation", sa.Integer(),
                                              server_default="0", nullable=False))
            if "updated_at" not in present:
                batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True),
                                              nullable=True))
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("login_failures"):
        op.create_table(
            "login_failures",
            sa.Column("subject", sa.String(length=120), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("locked", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("subject", name=op.f("pk_login_failures")),
        )
    if not inspector.has_table("account_events"):
        op.create_table(
            "account_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(length=64), nullable=False),
            sa.Column("subject", sa.String(length=120), nullable=False),
            sa.Column("kind", sa.String(length=30), nullable=False),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_account_events")),
        )
        op.create_index("ix_account_events_subject_id", "account_events", ["subject", "id"],
                        unique=False)


def downgrade() -> None:
    op.drop_index("ix_account_events_subject_id", table_name="account_events")
    op.drop_table("account_events")
    op.drop_table("login_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("token_generation")
