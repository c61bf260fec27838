"""Indexes for the cockpit's weekly resolved and closed series

node/store/stats.py counts the issues resolved and closed per week of the window by
`resolved_at` and `closed_at`; without an index both aggregates read every issue of the
store (the whole series: 390 ms at 300,000 issues, 189 ms with these). Two partial indexes
— only the rows that were resolved, or closed — hold what the aggregates group by, so
they read the window's rows from the index alone; an open issue's write pays nothing for
them.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_issues_resolved": (["resolved_at", "origin", "department", "resolve_due"],
                           "resolved_at IS NOT NULL"),
    "ix_issues_closed": (["closed_at", "origin"], "closed_at IS NOT NULL"),
}


def upgrade() -> None:
    present = {str(ix["name"]) for ix in sa.inspect(op.get_bind()).get_indexes("issues")}
    for name, (columns, where) in INDEXES.items():
        if name not in present:  # a store created at a later head has them
            op.create_index(name, "issues", columns, unique=False,
                            sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="issues")
