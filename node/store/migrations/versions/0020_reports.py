"""reports: the periodic reports (月报、季报、年报) with their files

One row per node, kind and period (a unique index: the schedule and a concurrent request
make one report, not two), the content as JSON and the PDF and .xlsx bytes with their
SHA-256 — in the database, so a backup, a restore and PostgreSQL replication carry them
with everything else.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "reports" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("node", sa.String(6), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("xlsx", sa.LargeBinary, nullable=False),
        sa.Column("xlsx_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ux_reports_node_kind_period", "reports", ["node", "kind", "period"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_reports_node_kind_period", table_name="reports")
    op.drop_table("reports")
