"""Set writes at the DB-API's speed on SQLite.

`conn.execute(insert(table), rows)` costs SQLAlchemy about 10 µs per row beside the bound
values' own conversion: it rebuilds each row's parameters from the compiled statement
(`construct_params`). A set write of an import or a replica's batch binds tens of
thousands of rows, so on SQLite `insert_rows` compiles the statement once per (table,
columns), keeps each column's bind processor (the same conversion SQLAlchemy applies: a
JSON column's serializer, a boolean's integer; UTCDateTime's naive UTC in SQLite's datetime
text in one step) and hands the DB-API one `executemany` of tuples. Columns with a Python-side
default that a row leaves out get the default, as SQLAlchemy's insert gives it. PostgreSQL
keeps SQLAlchemy's own path (not measured to need this; the plan's statement and
processors serve SQLite only, its key checks both). tests/integration/test_bulk_store.py
checks on both backends that the two paths store the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from node.store.schema import UTCDateTime

Processor = Callable[[Any], Any] | None
#: the statement, the getter of a row's values in its order, the (position, processor) of
#: the values to convert, the converted defaults of the columns rows leave out
_Plan = tuple[str, Callable[[Mapping[str, Any]], Any],
              tuple[tuple[int, Callable[[Any], Any]], ...], tuple[Any, ...]]
_PLANS: dict[tuple[Table, tuple[str, ...], str], _Plan] = {}


def _sqlite_utc(value: datetime | None) -> str | None:
    """UTCDateTime's value as SQLite stores it, in one step: the naive UTC instant in
    SQLAlchemy's SQLite datetime text ("2025-01-22 16:00:00.000000")."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    if isinstance(type_, UTCDateTime):
        return _sqlite_utc
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Plan:
    cache_key = (table, keys, dialect.name)
    plan = _PLANS.get(cache_key)
    if plan is None:
        if not keys:
            raise KeyError(f"rows for {table.name} name no column")
        unknown = [k for k in keys if k not in table.c]
        if unknown:
            raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
        defaults: list[tuple[str, Any]] = []
        for column in table.columns:
            if column.name in keys or column.default is None:
                continue
            if not column.default.is_scalar:
                raise ValueError(f"{table.name}.{column.name}: a computed default; give it")
            defaults.append((column.name, column.default.arg))  # type: ignore[attr-defined]
        names = keys + tuple(name for name, _ in defaults)
        quote = dialect.identifier_preparer
        sql = (f"INSERT INTO {quote.format_table(table)} "
               f"({', '.join(quote.quote(name) for name in names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        processors = [_processor(table.c[name].type, dialect) for name in names]
        # the defaults are constants: converted once here
        filled = tuple(value if p is None else p(value)
                       for (_, value), p in zip(defaults, processors[len(keys):], strict=True))
        converted = tuple((i, p) for i, p in enumerate(processors[:len(keys)]) if p is not None)
        plan = _PLANS[cache_key] = (sql, itemgetter(*keys), converted, filled)
    return plan


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same keys, each a column of `table`) into `table` in
    the caller's transaction; a row with other keys is refused on both backends."""
    if not rows:
        return
    keys = tuple(rows[0])
    sql, getter, converted, defaults = _plan(conn.dialect, table, keys)
    if conn.dialect.name != "sqlite":
        if any(len(row) != len(keys) or row.keys() != rows[0].keys() for row in rows):
            raise KeyError(f"rows for {table.name} differ in their columns")
        conn.execute(insert(table), list(rows))
        return
    params: list[tuple[Any, ...]] = []
    append = params.append
    n = len(keys)
    for row in rows:
        if len(row) != n:
            raise KeyError(f"rows for {table.name} differ in their columns")
        got = getter(row)  # a key missing here: KeyError too
        values = list(got) if n > 1 else [got]
        for i, p in converted:
            values[i] = p(values[i])
        append((*values, *defaults))
    conn.exec_driver_sql(sql, params)


def execute_many(conn: Connection, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
    """One DB-API executemany of a statement with positional (`?`) parameters, values
    already in the driver's form (SQLite only: the FTS5 rows)."""
    if params:
        conn.exec_driver_sql(sql, list(params))
