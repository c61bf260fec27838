"""federation transfers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:12:16.695259
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "destinations",
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_destinations")),
    )
    op.create_table(
        "transfers_in",
        sa.Column("origin", sa.String(length=6), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_transfers_in_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("origin", "transfer_id", name=op.f("pk_transfers_in")),
    )
    op.create_table(
        "transfers_out",
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("destination", sa.String(length=6), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_transfers_out_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfers_out")),
        sa.UniqueConstraint("seq", name=op.f("uq_transfers_out_seq")),
    )
    with op.batch_alter_table("transfers_out", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfers_out_issue_id_status"), ["issue_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transfers_out_status_destination_seq"),
            ["status", "destination", "seq"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("transfers_out", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfers_out_status_destination_seq"))
        batch_op.drop_index(batch_op.f("ix_transfers_out_issue_id_status"))

    op.drop_table("transfers_out")
    op.drop_table("transfers_in")
    op.drop_table("destinations")
