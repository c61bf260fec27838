"""Shared fixtures: fake clock, a real SQLite file or PostgreSQL database per test, a node."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from node.app.policy import Principal, Role
from node.config import Config, parse_config
from node.runtime import Node, build
from node.store.db import make_engine
from tests.support.clock import FakeClock
from tests.support.pg import find_bindir, postgres_cluster

REQUIRE_POSTGRES = os.environ.get("ZHITONG_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    if find_bindir() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL binaries are required (ZHITONG_REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_cluster() as url:
        yield url


def _fresh_pg_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'node.sqlite3'}"
    admin_url: str = request.getfixturevalue("pg_admin_url")
    return _fresh_pg_database(admin_url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    tree: dict[str, Any] = {
        "node": {"code": "330522", "name": "长兴县", "level": "county", "parent": "330500",
                 "data_dir": str(tmp_path / "data")},
    }
    for name, values in sections.items():
        tree.setdefault(name, {}).update(values)
    return parse_config(tree, source="test", env={})


@pytest.fixture
def node(tmp_path: Path, engine: Engine, clock: FakeClock) -> Node:
    """A county node (长兴县 330522) on the parametrised backend, with the fake clock."""
    return build(make_config(tmp_path), clock=clock, engine=engine)


STAFF = {
    "dispatcher": Principal(username="dispatcher", role=Role.DISPATCHER, display_name="受理员"),
    "handler": Principal(username="handler", role=Role.HANDLER, display_name="承办",
                         department="经信局"),
    "other_handler": Principal(username="other_handler", role=Role.HANDLER,
                               display_name="承办2", department="住建局"),
    "leader": Principal(username="leader", role=Role.LEADER, display_name="领导"),
    "admin": Principal(username="admin", role=Role.ADMIN, display_name="管理员"),
    "viewer": Principal(username="viewer", role=Role.VIEWER, display_name="省领导"),
}
