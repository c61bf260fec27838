"""events.chain: each event's link in its writer's hash chain

The column is added empty: this node's own events are linked at its next start
(node.store.repo.ensure_event_chain, run by node.runtime.build) — the links are computed by
the domain's hash (node/domain/chain.py), not by SQL a migration could run. Replicated
events written before keep no link (a replica checks links only where it holds them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("events")}
    if "chain" not in columns:
        op.add_column("events", sa.Column("chain", sa.String(64)))  # no table rebuild


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("chain")
