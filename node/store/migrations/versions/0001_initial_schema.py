"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:01:11.884923
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "issues",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=6), nullable=False),
        sa.Column("owner", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("enterprise_name", sa.String(length=100), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("board", sa.String(length=60), nullable=True),
        sa.Column("department", sa.String(length=60), nullable=True),
        sa.Column("ladder_step", sa.Integer(), nullable=False),
        sa.Column("deadline_kind", sa.String(length=10), nullable=True),
        sa.Column("deadline_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("urge_count", sa.Integer(), nullable=False),
        sa.Column("last_enterprise_urge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("revisit_result", sa.String(length=12), nullable=True),
        sa.Column("came_from", sa.String(length=6), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint("number", name=op.f("uq_issues_number")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issues_board"), ["board"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_credit_code"), ["credit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_received_at"), ["received_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_issues_state_deadline_due"), ["state", "deadline_due"], unique=False
        )

    op.create_table(
        "revisit_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("seed", sa.String(length=200), nullable=False),
        sa.Column("share", sa.String(length=20), nullable=False),
        sa.Column("frame", sa.JSON(), nullable=False),
        sa.Column("selected", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_samples")),
    )
    op.create_table(
        "users",
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("board", sa.String(length=60), nullable=True),
        sa.Column("department", sa.String(length=60), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_users_credit_code")),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_events_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
        sa.UniqueConstraint("issue_id", "version", name=op.f("uq_events_issue_id_version")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_published_seq"), ["published", "seq"], unique=False
        )

    op.create_table(
        "issue_tags",
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_tags_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", "tag", name=op.f("pk_issue_tags")),
    )
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "submissions",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_submissions_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("principal", "idempotency_key", name=op.f("pk_submissions")),
    )


def downgrade() -> None:

    op.drop_table("submissions")
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_tags_tag"))

    op.drop_table("issue_tags")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_published_seq"))

    op.drop_table("events")
    op.drop_table("users")
    op.drop_table("revisit_samples")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_state_deadline_due"))
        batch_op.drop_index(batch_op.f("ix_issues_received_at"))
        batch_op.drop_index(batch_op.f("ix_issues_department"))
        batch_op.drop_index(batch_op.f("ix_issues_credit_code"))
        batch_op.drop_index(batch_op.f("ix_issues_board"))

    op.drop_table("issues")
    op.drop_table("counters")
