"""index evaluations: the external evaluations of the 有感指数 (基层评价、企业评价、第三方评价)

One score 0–100 per unit, period and kind, with its source, who entered it and when; a
unique index keeps one per (unit, period, kind) — a correction replaces the row, the old
value kept in the audit log (node/app/index.py).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "index_evaluations" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "index_evaluations",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("unit", sa.String(60), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_index_evaluations"),
    )
    op.create_index("ux_index_evaluations_unit_period_kind", "index_evaluations",
                    ["unit", "period", "kind"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_index_evaluations_unit_period_kind", table_name="index_evaluations")
    op.drop_table("index_evaluations")
