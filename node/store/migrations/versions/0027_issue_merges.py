"""issue_merges: 并单, which issue follows which (a projection of the merge events)

One row per merge of a follower into a master; an unmerge fills unmerged_at/_by and the
row stays, so the history of both issues is one indexed lookup either way. And the 共性问题
clusters of a city (issue_clusters, issue_cluster_members): its counties' issues that say
the same, handled once by one common issue of the city.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "issue_merges" in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # created from the schema (with its cluster tables) by a node at an older head
    op.create_table(
        "issue_merges",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("master_id", sa.String(64), nullable=False),
        sa.Column("follower_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("master_number", sa.String(32), nullable=False),
        sa.Column("follower_number", sa.String(32), nullable=False),
        sa.Column("merged_by", sa.String(80), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unmerged_by", sa.String(80)),
        sa.Column("unmerged_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_issue_merges"),
        sa.UniqueConstraint("follower_id", "version", name="uq_issue_merges_follower_id_version"),
    )
    op.create_index("ix_issue_merges_master_id", "issue_merges", ["master_id"])
    op.create_table(
        "issue_clusters",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("node", sa.String(6), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("common_issue_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_issue_clusters"),
    )
    op.create_table(
        "issue_cluster_members",
        sa.Column("cluster_id", sa.String(40), nullable=False),
        sa.Column("issue_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(6), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", name="pk_issue_cluster_members"),
    )
    op.create_index("ix_issue_cluster_members_cluster_id", "issue_cluster_members",
                    ["cluster_id"])


def downgrade() -> None:
    op.drop_index("ix_issue_cluster_members_cluster_id", table_name="issue_cluster_members")
    op.drop_table("issue_cluster_members")
    op.drop_table("issue_clusters")
    op.drop_index("ix_issue_merges_master_id", table_name="issue_merges")
    op.drop_table("issue_merges")
