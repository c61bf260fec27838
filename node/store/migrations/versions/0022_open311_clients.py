"""open311 clients: the client systems that post Open311 requests, their hashed API keys

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "open311_clients" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "open311_clients",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_hint", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_open311_clients"),
        sa.UniqueConstraint("key_hash", name="uq_open311_clients_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("open311_clients")
