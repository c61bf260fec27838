"""light instants on issues, pool indexes in pool order, issue counts, store_meta

Adds `issues.light_yellow_at` / `light_red_at` (when the running deadline turns yellow and
red, on the node's calendar), replaces the single-column filter indexes by indexes in the
pool's order (filter, received_at, id) and partial indexes of the running rows, copies
each issue's `received_at` into its `issue_tags` rows (the pool by tag pages through them),
and adds `issue_counts` (counted here from the issues rows) and `store_meta`.

The new columns are left NULL here: the instants depend on the node's calendar
configuration, which a migration does not load. `store_meta` has no `lights_calendar`
fingerprint yet, so the node's next start (node.store.repo.refresh_lights, run by
node.runtime.build) computes the instants of every running row before it serves.

Each step checks what the database already has: a database that was created from the
tables and then stamped at an older revision (tests/integration/test_store.py) already
has some of them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_INDEXES = {
    "issues": {
        "ix_issues_state_deadline_due": ["state", "deadline_due"],
        "ix_issues_credit_code": ["credit_code"],
        "ix_issues_board": ["board"],
        "ix_issues_department": ["department"],
        "ix_issues_received_at": ["received_at"],
    },
    "issue_tags": {"ix_issue_tags_tag": ["tag"]},
}
NEW_INDEXES = {
    "issues": {
        "ix_issues_received_at_id": ["received_at", "id"],
        "ix_issues_state_received_at_id": ["state", "received_at", "id"],
        "ix_issues_owner_received_at_id": ["owner", "received_at", "id"],
        "ix_issues_board_received_at_id": ["board", "received_at", "id"],
        "ix_issues_department_received_at_id": ["department", "received_at", "id"],
        "ix_issues_credit_code_received_at_id": ["credit_code", "received_at", "id"],
        "ix_issues_light_red_at_light_yellow_at": ["light_red_at", "light_yellow_at"],
        "ix_issues_light_yellow_at": ["light_yellow_at"],
    },
    "issue_tags": {"ix_issue_tags_tag_received_at_issue_id": ["tag", "received_at", "issue_id"]},
}
RUNNING_INDEXES = {  # partial: the rows of issues whose deadline runs
    "ix_issues_running": ["received_at", "id", "light_red_at", "light_yellow_at", "state"],
    "ix_issues_running_counts": ["origin", "owner", "state", "light_red_at", "light_yellow_at"],
}
RUNNING_WHERE = "light_red_at IS NOT NULL"
LIGHT_COLUMNS = ("light_yellow_at", "light_red_at")


def _indexes(table: str) -> set[str]:
    return {str(ix["name"]) for ix in sa.inspect(op.get_bind()).get_indexes(table)}


def _columns(table: str) -> set[str]:
    return {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(table)}


def _swap_indexes(drop: dict[str, dict[str, list[str]]],
                  create: dict[str, dict[str, list[str]]]) -> None:
    for table, indexes in drop.items():
        present = _indexes(table)
        for name in indexes:
            if name in present:
                op.drop_index(name, table_name=table)
    for table, indexes in create.items():
        present = _indexes(table)
        for name, columns in indexes.items():
            if name not in present:
                op.create_index(name, table, columns, unique=False)


def upgrade() -> None:
    missing = [c for c in LIGHT_COLUMNS if c not in _columns("issues")]
    if missing:
        with op.batch_alter_table("issues", schema=None) as batch_op:
            for column in missing:
                batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True),
                                              nullable=True))
    if "received_at" not in _columns("issue_tags"):
        with op.batch_alter_table("issue_tags", schema=None) as batch_op:
            batch_op.add_column(sa.Column("received_at", sa.DateTime(timezone=True),
                                          nullable=True))
        op.execute("UPDATE issue_tags SET received_at = "
                   "(SELECT issues.received_at FROM issues WHERE issues.id = issue_tags.issue_id)")
        with op.batch_alter_table("issue_tags", schema=None) as batch_op:
            batch_op.alter_column("received_at", existing_type=sa.DateTime(timezone=True),
                                  nullable=False)
    _swap_indexes(OLD_INDEXES, NEW_INDEXES)
    present = _indexes("issues")
    for name, columns in RUNNING_INDEXES.items():
        if name not in present:
            op.create_index(name, "issues", columns, unique=False,
                            sqlite_where=sa.text(RUNNING_WHERE),
                            postgresql_where=sa.text(RUNNING_WHERE))
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("issue_counts"):
        op.create_table(
            "issue_counts",
            sa.Column("origin", sa.String(length=6), nullable=False),
            sa.Column("owner", sa.String(length=6), nullable=False),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("origin", "owner", "state", name=op.f("pk_issue_counts")),
        )
        op.execute("INSERT INTO issue_counts (origin, owner, state, n) "
                   "SELECT origin, owner, state, count(*) FROM issues "
                   "GROUP BY origin, owner, state")
    if not inspector.has_table("store_meta"):
        op.create_table(
            "store_meta",
            sa.Column("name", sa.String(length=40), nullable=False),
            sa.Column("value", sa.String(length=200), nullable=False),
            sa.PrimaryKeyConstraint("name", name=op.f("pk_store_meta")),
        )


def downgrade() -> None:
    op.drop_table("store_meta")
    op.drop_table("issue_counts")
    for name in RUNNING_INDEXES:
        op.drop_index(name, table_name="issues")
    _swap_indexes(NEW_INDEXES, OLD_INDEXES)
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.drop_column("received_at")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        for column in LIGHT_COLUMNS:
            batch_op.drop_column(column)
