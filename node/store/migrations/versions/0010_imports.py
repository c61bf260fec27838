"""import_keys (external id → imported issue, original number) and export_log

Each table is created only when missing: a database created from the tables and stamped
at an older revision already has them (tests/integration/test_store.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "import_keys" not in have:
        op.create_table(
            "import_keys",
            sa.Column("external_id", sa.String(64), nullable=False),
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("original_number", sa.String(40)),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("external_id", name="pk_import_keys"),
            sa.UniqueConstraint("issue_id", name="uq_import_keys_issue_id"),
            sa.ForeignKeyConstraint(["issue_id"], ["issues.id"],
                                    name="fk_import_keys_issue_id_issues"),
        )
    if "export_log" not in have:
        op.create_table(
            "export_log",
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("format", sa.String(8), nullable=False),
            sa.Column("filter", sa.JSON, nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("personal", sa.Boolean, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_export_log"),
        )
        op.create_index("ix_export_log_at", "export_log", ["at"])


def downgrade() -> None:
    op.drop_table("export_log")
    op.drop_table("import_keys")
