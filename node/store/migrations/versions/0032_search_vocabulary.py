"""The search index's vocabulary (SQLite)

Duplicate suggestions ask the index for the issues holding any of a draft's terms
(node/store/duplicates.py); a term that a large share of the issues hold (关于, 厂房) makes
that OR query read a quarter of a 1,000,000-issue store and tells nothing apart. The
fts5vocab table `issue_fts_vocab` reads each term's document count from the FTS5 index
itself, so those terms are left out of the query. It stores nothing of its own.
PostgreSQL has no such table (its query keeps every term).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

VOCAB_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS issue_fts_vocab "
             "USING fts5vocab(issue_fts, 'row')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(VOCAB_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS issue_fts_vocab")
