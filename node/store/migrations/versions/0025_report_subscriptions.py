"""reports.period holds a special report's key: String(8) → String(40)

A special report (专项报告, node/domain/reports.py `Special`) is kept under the key of its
choice, "2026-01-01~2026-03-31" with "#" and 8 hex digits of its tags and units (30
characters). SQLite's table is rebuilt (batch mode) so the declared type matches
node/store/schema.py.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("period", type_=sa.String(40), existing_type=sa.String(8),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("period", type_=sa.String(8), existing_type=sa.String(40),
                           existing_nullable=False)
