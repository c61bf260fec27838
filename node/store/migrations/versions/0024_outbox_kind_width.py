"""transfers_out.kind holds every outbox kind: String(10) → String(24)

`enterprise_urge` (an enterprise's urge forwarded to the tier that owns its issue) has 15
characters; PostgreSQL refused the row, so on PostgreSQL such an urge could not be queued.
SQLite never enforced the length; its table is rebuilt (batch mode) so the declared type
matches the tables of node/store/schema.py.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 16:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers_out") as batch:
        batch.alter_column("kind", type_=sa.String(24), existing_type=sa.String(10),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("transfers_out") as batch:
        batch.alter_column("kind", type_=sa.String(10), existing_type=sa.String(24),
                           existing_nullable=False)
