"""metric_facts and metric_counts: the handling metrics and the 重发复发率 without a scan

node/store/metric_counts.py keeps, in every issue write's transaction, what each issue adds
to the metrics of its group (origin, owner, board, department) and whether a closed issue
recurred; the cockpit's metrics and the summaries read the sums. The backfill counts the
existing issues in one ordered pass (`rebuild`, with the default 90-day window and no
recurrence watermark yet: the node's next start sets it); a node whose
`metrics.recurrence_days` differs recounts at that start (`ensure`).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from node.store.schema import TS

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if {"metric_facts", "metric_counts"} <= have:
        return  # a store created at a later head (its counts are kept already)
    if "metric_facts" not in have:
        _create_facts()
    if "metric_counts" not in have:
        _create_counts()
    from node.domain.metrics import RECURRENCE_WINDOW
    from node.store.metric_counts import rebuild

    rebuild(op.get_bind(), window=RECURRENCE_WINDOW, now=None)


def _create_facts() -> None:
    op.create_table(
        "metric_facts",
        sa.Column("issue_id", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(6), nullable=False),
        sa.Column("owner", sa.String(6), nullable=False),
        sa.Column("board", sa.String(60), nullable=False),
        sa.Column("department", sa.String(60), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("credit_code", sa.String(18)),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("recurred", sa.Boolean(), nullable=False),
        sa.Column("matured", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", name="pk_metric_facts"),
    )
    op.create_index("ix_metric_facts_credit_code", "metric_facts", ["credit_code"])
    op.create_index("ix_metric_facts_eligible_recurred_closed_at", "metric_facts",
                    ["eligible", "recurred", "closed_at"])


def _create_counts() -> None:
    op.create_table(
        "metric_counts",
        sa.Column("origin", sa.String(6), nullable=False),
        sa.Column("owner", sa.String(6), nullable=False),
        sa.Column("board", sa.String(60), nullable=False),
        sa.Column("department", sa.String(60), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("origin", "owner", "board", "department", "key",
                                name="pk_metric_counts"),
    )


def downgrade() -> None:
    op.drop_table("metric_counts")
    op.drop_index("ix_metric_facts_eligible_recurred_closed_at", "metric_facts")
    op.drop_index("ix_metric_facts_credit_code", "metric_facts")
    op.drop_table("metric_facts")
    op.execute("DELETE FROM store_meta WHERE name IN "
               "('metric_counts', 'metric_window', 'metric_matured')")
