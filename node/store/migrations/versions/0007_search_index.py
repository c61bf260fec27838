"""Chinese full-text search index: issue_search (+ FTS5 issue_fts on SQLite), backfilled

The index (node/store/search.py) holds the terms of node/domain/search.py's tokenizer: on
SQLite in a contentless FTS5 table keyed by issue_search.doc_id, on PostgreSQL in the
tsvector issue_search.terms with a GIN index. Every existing issue is indexed here, with
the tokenizer of the code that runs the migration (the index records its version in
store_meta; a node whose tokenizer is newer rebuilds it at start: search.ensure_index).
The backfill reads only columns the issues table has had since 0001.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from node.store import search
    from node.store.schema import ISSUE_FTS_DDL, ISSUE_GIN_DDL

    bind = op.get_bind()
    if "issue_search" in sa.inspect(bind).get_table_names():
        return
    op.create_table(
        "issue_search",
        sa.Column("doc_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.String(64), nullable=False),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("terms", sa.Text().with_variant(TSVECTOR(), "postgresql")),
        sa.UniqueConstraint("issue_id", name="uq_issue_search_issue_id"),
    )
    if bind.dialect.name == "postgresql":
        op.execute(ISSUE_GIN_DDL)
    else:
        op.execute(ISSUE_FTS_DDL)
    search.rebuild(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS issue_fts")
    op.drop_table("issue_search")
    op.execute("DELETE FROM store_meta WHERE name = 'search_index'")
