"""streams replication

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:23:08.915190
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("stream_seq", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("stream", "stream_seq", name=op.f("uq_dead_letters_stream_stream_seq")),
    )
    op.create_table(
        "replication_marks",
        sa.Column("writer", sa.String(length=6), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("writer", name=op.f("pk_replication_marks")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writer_seq", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_events_node_writer_seq"), ["node", "writer_seq"]
        )


def downgrade() -> None:

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_events_node_writer_seq"), type_="unique")
        batch_op.drop_column("writer_seq")

    op.drop_table("replication_marks")
    op.drop_table("dead_letters")
