"""directives and supervision

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:36:57.441922
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("supervision_count", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("transfers_out", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_transfers_out_issue_id_issues"), type_="foreignkey")


def downgrade() -> None:

    with op.batch_alter_table("transfers_out", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_transfers_out_issue_id_issues"), "issues", ["issue_id"], ["id"]
        )

    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("supervision_count")
