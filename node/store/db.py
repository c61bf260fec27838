"""Engine construction for the two supported backends.

SQLite (the embedded default) is opened in WAL mode with `synchronous=FULL` (WAL+NORMAL
can lose the last commits on power loss), foreign keys on and a busy timeout. pysqlite's
own implicit transaction handling is switched off and every transaction starts with
`BEGIN IMMEDIATE`, so that two writers serialise at BEGIN instead of failing at their
first write with "database is locked" (the recipe from SQLAlchemy's SQLite dialect docs).

PostgreSQL runs at READ COMMITTED; writers serialise on the `counters` row they update
(see schema.py), and issue updates are guarded by the version column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from node.store import jsoncodec

#: Execution option that marks a read-only transaction (deferred BEGIN on SQLite).
READONLY = "zhitong_readonly"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=10,
                             json_serializer=jsoncodec.dumps,
                             json_deserializer=jsoncodec.loads)
    raise ValueError(f"unsupported database backend: {parsed.get_backend_name()}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers ask for a deferred transaction (a consistent WAL snapshot, no lock).
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def single_use_engine(url: str) -> Engine:
    """An engine without pooling, for short-lived commands (migrations, CLI)."""
    if make_url(url).get_backend_name() == "sqlite":
        return make_engine(url)
    return create_engine(make_url(url).set(drivername="postgresql+psycopg"), poolclass=NullPool,
                         json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
