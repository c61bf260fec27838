"""Reading a node's database in tests: what "nothing changed" compares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, inspect, select

from node.store.schema import metadata

#: Tables that record attempts, refused ones too (the audit trail, node/app/audit.py): a
#: refused request adds its record there by design, so "nothing changed" leaves them out.
ATTEMPT_RECORDS = frozenset({"audit_log"})


def table_counts(engine: Engine, *, attempts: bool = False) -> dict[str, int]:
    """Every table of the schema with its row count (`attempts`: ATTEMPT_RECORDS too)."""
    names = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
            if table.name in names and (attempts or table.name not in ATTEMPT_RECORDS)
        }


def schema_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def all_rows(engine: Engine, table_name: str) -> list[tuple[Any, ...]]:
    table = metadata.tables[table_name]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]
