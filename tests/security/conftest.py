"""The security suite: every promise of "a clear refusal and no change", proved in one place.

The fixtures and helpers of the integration suites are reused, not copied: the JSON API
harness (`api`, `api_node`, `api_template` from tests/integration/test_api.py), the gRPC
federation with mutual TLS (tests/support/federation.py) and the NATS leaf topology
(tests/support/natsfed.py).
"""

from __future__ import annotations

import socket
from typing import Any

from sqlalchemy import Engine, func, inspect, select

from node.store.schema import metadata
from tests.integration.test_api import api, api_node, api_template  # noqa: F401 (fixtures)

#: Script, SQL and template injection: valid text (no control characters), so the product
#: must store and return it verbatim, never execute or interpret it.
HOSTILE = [
    "<script>alert(document.cookie)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'; DROP TABLE issues; --",
    "\" OR \"1\"=\"1",
    "1' OR '1'='1' --",
    "Robert'); DELETE FROM events; --",
    "%' UNION SELECT username, password_hash, role FROM users --",
    "'; UPDATE users SET role='admin' WHERE '1'='1",
    "\\'; SELECT pg_sleep(5); --",
    "{{7*7}} ${7*7} <%= 7*7 %> #{7*7} %s %n %x",
    "javascript:alert(1)//../../../../etc/passwd",
    "%_%\\",
]


def distinct_ports(n: int) -> list[int]:
    """`n` free loopback ports, all different (tests/support/pg.free_port, called n times,
    can hand out the same port twice: the socket is closed before the next call)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def table_counts(engine: Engine) -> dict[str, int]:
    """Every table of the schema with its row count: what "nothing changed" compares."""
    names = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
            if table.name in names
        }


def schema_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def all_rows(engine: Engine, table_name: str) -> list[tuple[Any, ...]]:
    table = metadata.tables[table_name]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]
