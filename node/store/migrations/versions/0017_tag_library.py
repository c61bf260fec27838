"""tag library: categories, tags, aliases, proposals, change log; free-text tags migrated

The tables of node/store/schema.py's "tags" section. Every distinct free-text tag of the
existing issues becomes a library entry under the category 未分类 / Uncategorised (the
same spelling gives the same id, node/domain/tags.py `tag_id`); the issues keep their
tags as they are (issues hold tag names), so nothing is lost. A migration does not know
the node's code: the entries are written under the placeholder origin `000000` and the
node adopts them at its next start (node/store/tags.py `adopt`), which rewrites their ids
to `t.<node>.<slug>`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from node.domain.tags import UNADOPTED, uncategorised

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "tag_categories" in set(inspector.get_table_names()):
        return
    categories = op.create_table(
        "tag_categories",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(30), nullable=False),
        sa.Column("name_en", sa.String(60)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("origin", sa.String(6), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag_categories"),
    )
    entries = op.create_table(
        "tag_entries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(30), nullable=False),
        sa.Column("name_en", sa.String(60)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("origin", sa.String(6), nullable=False),
        sa.Column("merged_into", sa.String(64)),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag_entries"),
    )
    op.create_index("ix_tag_entries_category", "tag_entries", ["category"])
    op.create_table(
        "tag_aliases",
        sa.Column("tag_id", sa.String(64), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "alias", name="pk_tag_aliases"),
    )
    op.create_table(
        "tag_proposals",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(30), nullable=False),
        sa.Column("name_en", sa.String(60)),
        sa.Column("issue_id", sa.String(64)),
        sa.Column("note", sa.String(500)),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", _ts(), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", _ts()),
        sa.Column("tag_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_tag_proposals"),
    )
    op.create_index("ix_tag_proposals_state_id", "tag_proposals", ["state", "id"])
    op.create_table(
        "tag_changes",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag_changes"),
    )
    op.create_index("ix_tag_changes_subject_id", "tag_changes", ["subject", "id"])

    # today's free-text tags → library entries (issues.tags: names, then perhaps one
    # object of intake facts, node/store/repo.py tags_value — only the names count)
    names: dict[str, None] = {}
    for (value,) in op.get_bind().execute(sa.text("SELECT tags FROM issues")):
        raw = json.loads(value) if isinstance(value, str) else value
        for item in raw or []:
            if isinstance(item, str) and item.strip():
                names[item] = None
    if not names:
        return
    now = datetime.fromtimestamp(time.time(), UTC)
    made = uncategorised(UNADOPTED, names)
    op.bulk_insert(categories, [{**c.as_json(), "updated_at": now} for c in made.categories])
    op.bulk_insert(entries, [{"id": t.id, "category": t.category, "name_zh": t.name_zh,
                              "name_en": t.name_en, "active": True, "origin": t.origin,
                              "merged_into": None, "updated_at": now} for t in made.tags])


def downgrade() -> None:
    for table in ("tag_changes", "tag_proposals", "tag_aliases", "tag_entries",
                  "tag_categories"):
        op.drop_table(table)
