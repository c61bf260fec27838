"""Schema migrations through Alembic, driven programmatically (no alembic.ini needed).

`ensure_schema` is what a node runs at start: a database already at `HEAD` needs nothing,
an empty one gets the tables straight from node/store/schema.py and is stamped at `HEAD`
(Alembic's own recipe for building a fresh database), and only a database at an older
revision runs the migrations. Alembic (with Mako and Pygments) is imported only then: it
costs ~37 MiB of resident memory per process, and a province runs ~100 node processes.
tests/integration/test_store.py checks that the migrations build exactly these tables and
that `HEAD` is Alembic's head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Engine, MetaData, String, Table, inspect, select

from node.store.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0032"  # the newest revision in migrations/versions (checked by a test)

_version = Table("alembic_version", MetaData(),
                 Column("version_num", String(32), primary_key=True))


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations (Alembic) up to `revision`."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_schema(engine: Engine) -> str:
    """Bring the database to `HEAD`; returns what was done: current, created or migrated."""
    if current_revision(engine) == HEAD:
        return "current"
    with engine.begin() as conn:
        if not inspect(conn).get_table_names():
            metadata.create_all(conn)
            _version.create(conn)
            conn.execute(_version.insert().values(version_num=HEAD))
            return "created"
    upgrade(engine)
    return "migrated"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(select(_version.c.version_num)).scalars().all()
    return found[0] if len(found) == 1 else None


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
