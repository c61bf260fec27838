"""enterprise sign-in: one-time codes (digests only) and their limits

`signin_codes` keeps each code an enterprise asked for (or staff gave at the window) as an
HMAC digest with its expiry, guesses and use; `signin_limits` the per-subject counters of
code requests, sends and failed guesses (node/domain/signin_codes.py).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = set(sa.inspect(op.get_bind()).get_table_names())
    if "signin_codes" not in names:
        op.create_table(
            "signin_codes",
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("credit_code", sa.String(18), nullable=False),
            sa.Column("phone", sa.String(20)),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("via", sa.String(8), nullable=False),
            sa.Column("issued_by", sa.String(64)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("used_at", sa.DateTime(timezone=True)),
            sa.Column("notice_id", sa.Integer),
            sa.PrimaryKeyConstraint("id", name="pk_signin_codes"),
        )
        op.create_index("ix_signin_codes_credit_code_id", "signin_codes",
                        ["credit_code", "id"])
        op.create_index("ix_signin_codes_expires_at", "signin_codes", ["expires_at"])
    if "signin_limits" not in names:
        op.create_table(
            "signin_limits",
            sa.Column("subject", sa.String(120), nullable=False),
            sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("subject", name="pk_signin_limits"),
        )
        op.create_index("ix_signin_limits_window_start", "signin_limits", ["window_start"])


def downgrade() -> None:
    op.drop_table("signin_limits")
    op.drop_table("signin_codes")
