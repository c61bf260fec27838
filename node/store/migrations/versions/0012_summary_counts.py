"""summary_counts: what each unit of origin's issues add to the node's summary

The counts are those of node.domain.summary.line_counts, kept by every write of an issues
row (node/store/repo.py). The table is created empty: `ensure_summary_counts`, run by
node.runtime.build, counts the existing rows once at the node's next start (the counting
rules live in the domain, not in SQL a migration could run).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "summary_counts" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "summary_counts",
        sa.Column("origin", sa.String(6), primary_key=True),
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("summary_counts")
    op.execute("DELETE FROM store_meta WHERE name = 'summary_counts'")
