"""Shared fixtures: fake clock, a real SQLite file or PostgreSQL database per test, a node,
and the JSON API harness (tests/support/api.py). Helpers and sample data live in
tests/support/; test modules import from there, never from each other."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy import Engine

from node.runtime import Node, build
from node.store.db import make_engine
from tests.support.api import Api, Template, make_template, node_from
from tests.support.clock import FakeClock
from tests.support.data import make_config
from tests.support.pg import find_bindir, fresh_database, postgres_cluster

# Property tests check what is true, not how fast: a loaded machine (two cores shared by
# browsers, databases and servers) must not turn a slow example into a failure. Speed is
# measured in bench/, never asserted in a test.
settings.register_profile("zhitong", deadline=None)
settings.load_profile("zhitong")

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'node.sqlite3'}"
    admin_url: str = request.getfixturevalue("pg_admin_url")
    return fresh_database(admin_url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def node(tmp_path: Path, engine: Engine, clock: FakeClock) -> Node:
    """A county node (长兴县 330522) on the parametrised backend, with the fake clock."""
    return build(make_config(tmp_path), clock=clock, engine=engine)


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("api-template"))


@pytest.fixture
def api_node(tmp_path: Path, clock: FakeClock, api_template: Template) -> Iterator[Node]:
    """A county node (330522) on its own SQLite file, with the fake clock and the accounts."""
    with node_from(api_template, tmp_path, clock) as built:
        yield built


@pytest.fixture
def api(api_node: Node, api_template: Template) -> Iterator[Api]:
    with TestClient(api_node.app) as client:
        yield Api(client, api_template.tokens)
