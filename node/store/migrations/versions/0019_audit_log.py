"""audit log: the append-only, hash-chained audit trail (node/store/audit.py)

One row per audited act — a login, a staff action, a read of personal data, an account,
unit, tag or rule change, a refused request — with its gapless `seq` per writer and its
link in the writer's audit hash chain (node/domain/chain.py `audit_link`).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "audit_log" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "audit_log",
        sa.Column("writer", sa.String(6), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("actor_role", sa.String(20)),
        sa.Column("address", sa.String(64)),
        sa.Column("action", sa.String(120), nullable=False),
        sa.Column("target_kind", sa.String(20)),
        sa.Column("target_id", sa.String(120)),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("writer", "seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"])
    op.create_index("ix_audit_log_action_seq", "audit_log", ["action", "seq"])
    op.create_index("ix_audit_log_target_kind_target_id_seq", "audit_log",
                    ["target_kind", "target_id", "seq"])


def downgrade() -> None:
    op.drop_table("audit_log")
