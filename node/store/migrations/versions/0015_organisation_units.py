"""organisation units: units, unit_events, issues.ladder_unit/queue_unit; free text → ids

`units` is the catalogue (node/domain/units.py), `unit_events` its append-only change log.
`issues` gains `ladder_unit` (the unit a ladder step above 0 moved it to) and `queue_unit`
(the unit whose queue holds it, indexed for the pool).

The data: every distinct free-text `issues.department` / `issues.board` becomes a unit of
the issue's owner — same spelling, same id (`<owner>.d-<digest>` for a department,
`<owner>.b-<digest>` for a board, the digest of node/domain/units.py `migrated_slug`) —
with the text as its Chinese name, and the issues' columns are rewritten to the ids. The
accounts' department/board (a handler's scope) are mapped the same way, under the node that
owns most issues (the store's own node). The `events` table is never touched: its rows are
hash-chained (node/domain/chain.py); the events keep the text they were written with.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# A copy of node/domain/units.py as of this revision (a migration does not change when the
# code does); tests/integration/test_units_migration.py checks that both agree.
_UNIT_ID = re.compile(r"[0-9]{6}\.[a-z0-9][a-z0-9_-]{0,31}")
_KINDS = {"department": "d", "board": "b"}


def _migrated_id(node: str, kind: str, text: str) -> str:
    return f"{node}.{_KINDS[kind]}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "units" not in tables:
        op.create_table(
            "units",
            sa.Column("id", sa.String(40), nullable=False),
            sa.Column("node", sa.String(6), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("name_zh", sa.String(40), nullable=False),
            sa.Column("name_en", sa.String(80)),
            sa.Column("parent_id", sa.String(40)),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Column("external_code", sa.String(40)),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_units"),
        )
        op.create_index("ix_units_node_kind", "units", ["node", "kind"])
    if "unit_events" not in tables:
        op.create_table(
            "unit_events",
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("unit_id", sa.String(40), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("actor", sa.String(80), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("before", sa.JSON),
            sa.Column("after", sa.JSON, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_unit_events"),
        )
        op.create_index("ix_unit_events_unit_id_id", "unit_events", ["unit_id", "id"])
    columns = {c["name"] for c in inspector.get_columns("issues")}
    if "queue_unit" not in columns:
        op.add_column("issues", sa.Column("ladder_unit", sa.String(60)))
        op.add_column("issues", sa.Column("queue_unit", sa.String(60)))
        op.create_index("ix_issues_queue_unit_received_at_id", "issues",
                        ["queue_unit", "received_at", "id"])
    _free_text_to_units(bind)


def _free_text_to_units(bind: sa.Connection) -> None:
    issues = sa.table("issues", sa.column("id"), sa.column("owner"), sa.column("department"),
                      sa.column("board"), sa.column("queue_unit"), sa.column("ladder_unit"))
    units = sa.table("units", sa.column("id"), sa.column("node"), sa.column("kind"),
                     sa.column("name_zh"), sa.column("name_en"), sa.column("parent_id"),
                     sa.column("active", sa.Boolean), sa.column("external_code"),
                     sa.column("updated_at", sa.DateTime(timezone=True)))
    unit_events = sa.table("unit_events", sa.column("unit_id"), sa.column("kind"),
                           sa.column("actor"), sa.column("at", sa.DateTime(timezone=True)),
                           sa.column("before", sa.JSON), sa.column("after", sa.JSON))
    now = datetime.now(UTC)  # noqa: TID251 - when the migration ran
    if bind.dialect.name == "sqlite":  # the store keeps UTC without an offset there
        now = now.replace(tzinfo=None)
    known = set(bind.execute(sa.select(units.c.id)).scalars())

    def unit_of(node: str, kind: str, text: str) -> str:
        new_id = _migrated_id(node, kind, text)
        if new_id not in known:
            record = {"id": new_id, "node": node, "kind": kind, "name_zh": text[:40],
                      "name_en": None, "parent_id": None, "active": True,
                      "external_code": None}
            bind.execute(units.insert().values(**record, updated_at=now))
            bind.execute(unit_events.insert().values(
                unit_id=new_id, kind="created", actor="system:migration-0015", at=now,
                before=None, after=record))
            known.add(new_id)
        return new_id

    for kind in ("department", "board"):
        col = issues.c[kind]
        pairs = bind.execute(sa.select(issues.c.owner, col).where(col.is_not(None))
                             .distinct()).all()
        for owner, text in pairs:
            if _UNIT_ID.fullmatch(text):
                continue  # already an id
            bind.execute(issues.update().where(issues.c.owner == owner, col == text)
                         .values({kind: unit_of(owner, kind, text)}))
    bind.execute(issues.update().where(issues.c.queue_unit.is_(None))
                 .values(queue_unit=sa.func.coalesce(issues.c.department, issues.c.board)))

    # the accounts' scope: under the store's own node — the owner of most issues among
    # those not replicated from a child (a city holds a copy of every county issue, so
    # the owner of most issues overall would be a county)
    tables = set(sa.inspect(bind).get_table_names())
    replicated: list[str] = []
    if "replication_marks" in tables:
        marks = sa.table("replication_marks", sa.column("writer"))
        replicated = list(bind.execute(sa.select(marks.c.writer)).scalars())
    most = (sa.select(issues.c.owner).group_by(issues.c.owner)
            .order_by(sa.func.count().desc(), issues.c.owner).limit(1))
    home = (bind.execute(most.where(issues.c.owner.not_in(replicated))).scalar_one_or_none()
            if replicated else None)
    if home is None:
        home = bind.execute(most).scalar_one_or_none()
    if home is None or "users" not in tables:
        return
    users = sa.table("users", sa.column("username"), sa.column("department"),
                     sa.column("board"))
    for kind in ("department", "board"):
        col = users.c[kind]
        for text in bind.execute(sa.select(col).where(col.is_not(None)).distinct()).scalars():
            if not _UNIT_ID.fullmatch(text):
                bind.execute(users.update().where(col == text)
                             .values({kind: unit_of(home, kind, text)}))


def downgrade() -> None:
    op.drop_index("ix_issues_queue_unit_received_at_id", table_name="issues")
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("queue_unit")
        batch.drop_column("ladder_unit")
    op.drop_table("unit_events")
    op.drop_table("units")
