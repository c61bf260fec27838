"""rule floors and publications: `publications`, the newest signed document per issuer and kind

What this node and its ancestors publish down the federation (node/app/publications.py):
rule floors (kind `rules`), tag categories (kind `tags`), one row per (issuer, kind) with
the envelope as received. A new table: older stores gain it empty and fill it when their
parent's stream delivers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "publications" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "publications",
        sa.Column("issuer", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "kind", name="pk_publications"),
    )


def downgrade() -> None:
    op.drop_table("publications")
