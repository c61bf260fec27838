"""revisit acceptance: one sample per node and period (draw, reason), revisit_tasks

`revisit_samples` gains `draw` (1 for a period's draw, 2… for a leader's re-draws),
`reason` and `redraw_of`, and a unique index on (node, period, draw) — rows drawn before
are numbered in the order they were drawn, so an older database keeps every draw it has.
`revisit_tasks` holds the supervision office's task per sampled issue and draw;
`meeting_decisions` the joint meeting's (联席会议) decision per meeting and issue.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("revisit_samples")}
    if "draw" not in columns:
        op.add_column("revisit_samples", sa.Column("draw", sa.Integer, nullable=False,
                                                   server_default=sa.text("1")))
        op.add_column("revisit_samples", sa.Column("reason", sa.String(1000)))
        op.add_column("revisit_samples", sa.Column("redraw_of", sa.Integer))
        # earlier draws of the same node and period: numbered in the order they were drawn
        op.execute(
            "UPDATE revisit_samples SET draw = (SELECT COUNT(*) FROM revisit_samples r"
            " WHERE r.node = revisit_samples.node AND r.period = revisit_samples.period"
            " AND r.id <= revisit_samples.id)"
        )
        op.create_index("ux_revisit_samples_node_period_draw", "revisit_samples",
                        ["node", "period", "draw"], unique=True)
    if "revisit_tasks" not in set(inspector.get_table_names()):
        op.create_table(
            "revisit_tasks",
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("sample_id", sa.Integer, nullable=False),
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("state", sa.String(12), nullable=False),
            sa.Column("due", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
            sa.Column("result", sa.String(20)),
            sa.Column("contact", sa.String(12)),
            sa.Column("note", sa.Text),
            sa.Column("done_at", sa.DateTime(timezone=True)),
            sa.Column("done_by", sa.String(64)),
            sa.PrimaryKeyConstraint("id", name="pk_revisit_tasks"),
            sa.UniqueConstraint("sample_id", "issue_id",
                                name="uq_revisit_tasks_sample_id_issue_id"),
            sa.ForeignKeyConstraint(["sample_id"], ["revisit_samples.id"],
                                    name="fk_revisit_tasks_sample_id_revisit_samples"),
            sa.ForeignKeyConstraint(["issue_id"], ["issues.id"],
                                    name="fk_revisit_tasks_issue_id_issues"),
        )
        op.create_index("ix_revisit_tasks_state_due", "revisit_tasks", ["state", "due"])
    if "meeting_decisions" not in set(inspector.get_table_names()):
        op.create_table(
            "meeting_decisions",
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("node", sa.String(6), nullable=False),
            sa.Column("meeting", sa.Date, nullable=False),
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("leader", sa.String(200), nullable=False),
            sa.Column("decision", sa.Text, nullable=False),
            sa.Column("deadline", sa.Date, nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_meeting_decisions"),
            sa.UniqueConstraint("meeting", "issue_id",
                                name="uq_meeting_decisions_meeting_issue_id"),
            sa.ForeignKeyConstraint(["issue_id"], ["issues.id"],
                                    name="fk_meeting_decisions_issue_id_issues"),
        )


def downgrade() -> None:
    op.drop_table("meeting_decisions")
    op.drop_table("revisit_tasks")
    op.drop_index("ux_revisit_samples_node_period_draw", table_name="revisit_samples")
    with op.batch_alter_table("revisit_samples") as batch:
        batch.drop_column("redraw_of")
        batch.drop_column("reason")
        batch.drop_column("draw")
