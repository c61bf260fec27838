"""attachments: the metadata of the files on the issues (issue 13)

One row per `attachment_added` event this node holds (its own and replicated ones), kept by
a store projection (node/store/attachments.py); the bytes live content-addressed in the
node's BlobStore, not in the database.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "attachments" in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # created from the schema by a node that then ran older migrations
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("issue_id", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(80)),
        sa.Column("ref_kind", sa.String(24)),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploader_kind", sa.String(12), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(6), nullable=False),
    )
    op.create_index("ix_attachments_issue", "attachments", ["issue_id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_attachments_sha256", table_name="attachments")
    op.drop_index("ix_attachments_issue", table_name="attachments")
    op.drop_table("attachments")
