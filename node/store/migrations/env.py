"""Alembic environment: runs against the connection or URL handed over by node.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from node.store.db import single_use_engine
from node.store.schema import managed_name, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=managed_name,  # leaves SQLite's FTS5 search tables alone
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = single_use_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
