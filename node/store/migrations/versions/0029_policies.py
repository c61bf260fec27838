"""policies, issue_policies, enterprise_profiles: the policy library (政策库) and matching

`policies` holds this node's own policy entries and those its ancestors published down
(node/domain/policies.py); `issue_policies` the policies a handler attached to an issue's
reply; `enterprise_profiles` an enterprise's industry and size, kept only with its consent.
All new: nothing to backfill.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "policies" not in have:
        op.create_table(
            "policies",
            sa.Column("id", sa.String(40), nullable=False),
            sa.Column("origin", sa.String(6), nullable=False),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("issuer", sa.String(100), nullable=False),
            sa.Column("doc_number", sa.String(60)),
            sa.Column("valid_from", sa.Date),
            sa.Column("valid_to", sa.Date),
            sa.Column("tags", sa.JSON, nullable=False),
            sa.Column("industries", sa.JSON, nullable=False),
            sa.Column("sizes", sa.JSON, nullable=False),
            sa.Column("regions", sa.JSON, nullable=False),
            sa.Column("summary", sa.Text, nullable=False),
            sa.Column("link", sa.String(500)),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Column("created_by", sa.String(80), nullable=False),
            sa.Column("updated_at", _TS, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_policies"),
            sa.UniqueConstraint("origin", "doc_number", name="uq_policies_origin_doc_number"),
        )
        op.create_index("ix_policies_origin", "policies", ["origin"])
    if "issue_policies" not in have:
        op.create_table(
            "issue_policies",
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("policy_id", sa.String(40), nullable=False),
            sa.Column("attached_by", sa.String(80), nullable=False),
            sa.Column("attached_at", _TS, nullable=False),
            sa.PrimaryKeyConstraint("issue_id", "policy_id", name="pk_issue_policies"),
        )
    if "enterprise_profiles" not in have:
        op.create_table(
            "enterprise_profiles",
            sa.Column("credit_code", sa.String(18), nullable=False),
            sa.Column("industry", sa.String(1)),
            sa.Column("size", sa.String(8)),
            sa.Column("consent_at", _TS, nullable=False),
            sa.Column("recorded_by", sa.String(80), nullable=False),
            sa.Column("updated_at", _TS, nullable=False),
            sa.PrimaryKeyConstraint("credit_code", name="pk_enterprise_profiles"),
        )


def downgrade() -> None:
    op.drop_table("enterprise_profiles")
    op.drop_table("issue_policies")
    op.drop_index("ix_policies_origin", table_name="policies")
    op.drop_table("policies")
