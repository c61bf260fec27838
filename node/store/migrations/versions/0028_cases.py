"""case_reviews and cases: reviews (问题复盘) and the case library (案例库)

`case_reviews` holds this node's reviews of its closed issues, the whole review as JSON;
`cases` the published form of every case the node may see (its own, and those its
children published in their summaries, `via` the child), data-minimised
(node/domain/cases.py). Both new: nothing to backfill.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "case_reviews" not in have:
        op.create_table(
            "case_reviews",
            sa.Column("id", sa.String(40), nullable=False),
            sa.Column("node", sa.String(6), nullable=False),
            sa.Column("subject_kind", sa.String(10), nullable=False),
            sa.Column("subject_id", sa.String(64), nullable=False),
            sa.Column("state", sa.String(10), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("record", sa.JSON, nullable=False),
            sa.Column("created_at", _TS, nullable=False),
            sa.Column("updated_at", _TS, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_case_reviews"),
        )
        op.create_index("ix_case_reviews_subject_kind_subject_id", "case_reviews",
                        ["subject_kind", "subject_id"])
        op.create_index("ix_case_reviews_state_updated_at", "case_reviews",
                        ["state", "updated_at"])
    if "cases" not in have:
        op.create_table(
            "cases",
            sa.Column("id", sa.String(40), nullable=False),
            sa.Column("origin", sa.String(6), nullable=False),
            sa.Column("via", sa.String(6)),
            sa.Column("kind", sa.String(10), nullable=False),
            sa.Column("unit", sa.String(60)),
            sa.Column("published_at", _TS, nullable=False),
            sa.Column("tags", sa.Text, nullable=False),
            sa.Column("search", sa.Text, nullable=False),
            sa.Column("form", sa.JSON, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_cases"),
        )
        op.create_index("ix_cases_kind_published_at", "cases", ["kind", "published_at"])
        op.create_index("ix_cases_via", "cases", ["via"])
        op.create_index("ix_cases_origin_published_at", "cases", ["origin", "published_at"])


def downgrade() -> None:
    for name in ("ix_cases_origin_published_at", "ix_cases_via", "ix_cases_kind_published_at"):
        op.drop_index(name, table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_case_reviews_state_updated_at", table_name="case_reviews")
    op.drop_index("ix_case_reviews_subject_kind_subject_id", table_name="case_reviews")
    op.drop_table("case_reviews")
