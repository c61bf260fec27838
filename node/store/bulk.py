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

The same holds for a set UPDATE (`update_rows`: one compiled statement per column set, the
rows matched by key columns, the DB-API's summed rowcount returned for a version guard)
and for a set read by key (`select_in`: the rows as SQLAlchemy's `select(table)` reads
them, each column through its result processor, UTCDateTime's text to aware UTC in one
step), both SQLAlchemy's own path on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from node.store.schema import UTCDateTime

Processor = Callable[[Any], Any] | None
#: the statement, the getter of a row's values in its order, the (position, processor) of
#: the values to convert, the converted defaults of the columns rows leave out
_Plan = tuple[str, Callable[[Mapping[str, Any]], Any],
              tuple[tuple[int, Callable[[Any], Any]], ...], tuple[Any, ...]]
_PLANS: dict[tuple[Table, tuple[str, ...], str], _Plan] = {}
#: the statement (SQLite's text, or SQLAlchemy's update on other backends), the getter of
#: a row's values (the columns set, then the matched keys), the (position, processor) of the
#: values to convert
_UpdatePlan = tuple[Any, Callable[[Mapping[str, Any]], Any],
                    tuple[tuple[int, Callable[[Any], Any]], ...]]
_UPDATE_PLANS: dict[tuple[Table, tuple[str, ...], tuple[tuple[str, str], ...], str],
                    _UpdatePlan] = {}
#: the selected columns' SQL, and the (position, processor) of the values to convert
_ReadPlan = tuple[str, tuple[tuple[int, Callable[[Any], Any]], ...]]
_READ_PLANS: dict[tuple[Table, str], _ReadPlan] = {}


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


def _sqlite_utc_result(value: str | None) -> datetime | None:
    """UTCDateTime's value of SQLite's text, in one step: SQLAlchemy's SQLite datetime
    result processor (`datetime.fromisoformat`), then UTCDateTime's aware UTC."""
    if value is None:
        return None
    found = datetime.fromisoformat(value)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


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


def _update_plan(dialect: Dialect, table: Table, keys: tuple[str, ...],
                 match: Mapping[str, str]) -> _UpdatePlan:
    matched = tuple(match.items())
    cache_key = (table, keys, matched, dialect.name)
    plan = _UPDATE_PLANS.get(cache_key)
    if plan is None:
        if not match or not match.keys() <= set(keys):
            raise KeyError(f"rows for {table.name} lack the keys they are matched by")
        sets = tuple(k for k in keys if k not in match)
        unknown = [k for k in (*sets, *match.values()) if k not in table.c]
        if not sets or unknown:
            raise KeyError(f"{table.name} has no column {', '.join(unknown) or '(none set)'}")
        order = (*sets, *match)
        if dialect.name != "sqlite":
            stmt: Any = (update(table)
                         .where(and_(*(table.c[c] == bindparam(k) for k, c in matched)))
                         .values({k: bindparam(k) for k in sets}))
            plan = (stmt, itemgetter(*order), ())
        else:
            quote = dialect.identifier_preparer
            stmt = (f"UPDATE {quote.format_table(table)} "
                    f"SET {', '.join(f'{quote.quote(k)} = ?' for k in sets)} "
                    f"WHERE {' AND '.join(f'{quote.quote(c)} = ?' for c in match.values())}")
            processors = [_processor(table.c[name].type, dialect)
                          for name in (*sets, *match.values())]
            converted = tuple((i, p) for i, p in enumerate(processors) if p is not None)
            plan = (stmt, itemgetter(*order), converted)
        _UPDATE_PLANS[cache_key] = plan
    return plan


def update_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                match: Mapping[str, str]) -> int:
    """Update one row of `table` for each of `rows` (each with the same keys) in the
    caller's transaction: `match` maps the keys that find the row to the columns they must
    equal (`{"_id": "id", "_expected": "version"}`), every other key is a column set.
    Returns how many rows changed in all (the DB-API's rowcount, summed over the
    executemany): fewer than `rows` when some matched none, for a version guard to see."""
    if not rows:
        return 0
    keys = tuple(rows[0])
    stmt, getter, converted = _update_plan(conn.dialect, table, keys, match)
    n = len(keys)
    if conn.dialect.name != "sqlite":
        if any(len(row) != n or row.keys() != rows[0].keys() for row in rows):
            raise KeyError(f"rows for {table.name} differ in their columns")
        return int(conn.execute(stmt, list(rows)).rowcount)
    params: list[tuple[Any, ...]] = []
    append = params.append
    for row in rows:
        if len(row) != n:
            raise KeyError(f"rows for {table.name} differ in their columns")
        values = list(getter(row))  # a key missing here: KeyError too
        for i, p in converted:
            values[i] = p(values[i])
        append(tuple(values))
    return int(conn.exec_driver_sql(stmt, params).rowcount)


def _read_plan(dialect: Dialect, table: Table) -> _ReadPlan:
    plan = _READ_PLANS.get((table, dialect.name))
    if plan is None:
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.quote(c.name) for c in table.columns)
        processors = [_sqlite_utc_result if isinstance(c.type, UTCDateTime)
                      else c.type.dialect_impl(dialect).result_processor(dialect, None)
                      for c in table.columns]
        converted = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        plan = _READ_PLANS[(table, dialect.name)] = (columns, converted)
    return plan


def select_in(conn: Connection, table: Table, key: str, values: Sequence[Any], *,
              for_update: bool = False) -> list[Sequence[Any]]:
    """The rows of `table` whose column `key` is one of `values` (the caller keeps them to
    a few hundred), each the table's columns in order with the values `select(table)`
    reads. On SQLite one DB-API execute, each column through SQLAlchemy's result processor
    (`for_update` ignored: the writer holds the whole database); elsewhere SQLAlchemy's
    select, FOR UPDATE with `for_update`."""
    if not values:
        return []
    column = table.c[key]
    if conn.dialect.name != "sqlite":
        stmt = select(table).where(column.in_(values))
        if for_update:
            stmt = stmt.with_for_update()
        read: list[Sequence[Any]] = list(conn.execute(stmt))
        return read
    columns, converted = _read_plan(conn.dialect, table)
    bind = _processor(column.type, conn.dialect)
    params = tuple(values) if bind is None else tuple(bind(v) for v in values)
    sql = (f"SELECT {columns} FROM {conn.dialect.identifier_preparer.format_table(table)} "
           f"WHERE {conn.dialect.identifier_preparer.quote(key)} "
           f"IN ({', '.join('?' * len(params))})")
    out: list[Sequence[Any]] = []
    append = out.append
    for row in conn.exec_driver_sql(sql, params):
        got = list(row)
        for i, p in converted:
            got[i] = p(got[i])
        append(got)
    return out
