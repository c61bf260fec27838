"""notification outbox, deliveries, in-app inbox, light transitions, contacts, templates

The tables of node/store/notifications.py (see node/store/schema.py). Each table is created
only when missing: a database created from the tables and then stamped at an older
revision (tests/integration/test_store.py) already has them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("notification_templates", "notification_contacts", "light_transitions", "inbox_messages",
          "notification_deliveries", "notifications")


def _present() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    present = _present()
    if "notifications" not in present:
        op.create_table(
            "notifications",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("topic", sa.String(24), nullable=False),
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("groups", sa.JSON(), nullable=False),
            sa.Column("params", sa.JSON(), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("expanded_at", TS),
            sa.PrimaryKeyConstraint("id", name="pk_notifications"),
            sa.UniqueConstraint("key", name="uq_notifications_key"),
        )
        op.create_index("ix_notifications_expanded_at_id", "notifications",
                        ["expanded_at", "id"])
    if "notification_deliveries" not in present:
        op.create_table(
            "notification_deliveries",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("idempotency_key", sa.String(64), nullable=False),
            sa.Column("notification_id", sa.Integer(), nullable=False),
            sa.Column("recipient", sa.String(80), nullable=False),
            sa.Column("channel", sa.String(8), nullable=False),
            sa.Column("address", sa.String(200), nullable=False),
            sa.Column("locale", sa.String(8), nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", TS, nullable=False),
            sa.Column("last_error", sa.Text()),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("finished_at", TS),
            sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
            sa.UniqueConstraint("idempotency_key",
                                name="uq_notification_deliveries_idempotency_key"),
            sa.ForeignKeyConstraint(
                ["notification_id"], ["notifications.id"],
                name="fk_notification_deliveries_notification_id_notifications"),
        )
        op.create_index("ix_notification_deliveries_status_next_attempt_at",
                        "notification_deliveries", ["status", "next_attempt_at"])
    if "inbox_messages" not in present:
        op.create_table(
            "inbox_messages",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("username", sa.String(40), nullable=False),
            sa.Column("idempotency_key", sa.String(64), nullable=False),
            sa.Column("topic", sa.String(24), nullable=False),
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("number", sa.String(32), nullable=False),
            sa.Column("subject", sa.String(200), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("read_at", TS),
            sa.PrimaryKeyConstraint("id", name="pk_inbox_messages"),
            sa.UniqueConstraint("idempotency_key", name="uq_inbox_messages_idempotency_key"),
        )
        op.create_index("ix_inbox_messages_username_read_at_id", "inbox_messages",
                        ["username", "read_at", "id"])
    if "light_transitions" not in present:
        op.create_table(
            "light_transitions",
            sa.Column("issue_id", sa.String(64), nullable=False),
            sa.Column("deadline_kind", sa.String(10), nullable=False),
            sa.Column("deadline_due", TS, nullable=False),
            sa.Column("colour", sa.String(6), nullable=False),
            sa.Column("recorded_at", TS, nullable=False),
            sa.Column("notified", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("issue_id", "deadline_kind", "deadline_due", "colour",
                                    name="pk_light_transitions"),
        )
    if "notification_contacts" not in present:
        op.create_table(
            "notification_contacts",
            sa.Column("username", sa.String(40), nullable=False),
            sa.Column("email", sa.String(200)),
            sa.Column("phone", sa.String(20)),
            sa.Column("oa_id", sa.String(80)),
            sa.Column("locale", sa.String(8)),
            sa.Column("updated_at", TS, nullable=False),
            sa.PrimaryKeyConstraint("username", name="pk_notification_contacts"),
        )
    if "notification_templates" not in present:
        op.create_table(
            "notification_templates",
            sa.Column("locale", sa.String(8), nullable=False),
            sa.Column("topic", sa.String(24), nullable=False),
            sa.Column("subject", sa.String(200), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("updated_by", sa.String(40), nullable=False),
            sa.Column("updated_at", TS, nullable=False),
            sa.PrimaryKeyConstraint("locale", "topic", name="pk_notification_templates"),
        )


def downgrade() -> None:
    present = _present()
    for name in TABLES:
        if name in present:
            op.drop_table(name)
