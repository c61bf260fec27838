"""Issues and events as the values a bulk insert sends: the store's own mapping, made fast.

The columns and their values come from the store itself: `node.store.repo`'s row mappings
of an `Issue` and of its tags (so a column the store adds — the light instants, say — is
filled here with no change) and the event row that `repo.append_event` writes. Each value
then goes through what SQLAlchemy would do to it for the backend (the bind processor of
the column's type: timestamps as UTC text on SQLite, JSON as `json.dumps` text, …).

Calling SQLAlchemy's processors for ~15 million values costs more than the inserts, so
`Rows` converts the three hot types itself — aware timestamps, JSON, booleans — and uses
the column's processor for everything else; `Rows.check` compares its output with the
processors' on sampled rows of every chunk, so the shortcut can never store a value the
node would not have stored.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Boolean, Column, Table, create_engine
from sqlalchemy.engine import Dialect

from node.domain.issue import Event, Issue, event_id_of
from node.domain.lifecycle import Rules
from node.store import repo
from node.store.schema import UTCDateTime, events, issue_tags, issues

#: The event columns in insert order; the loader appends `seq` and `writer_seq`, which
#: only the single writing process can number.
EVENT_COLUMNS = ("event_id", "issue_id", "version", "node", "kind", "actor", "at", "payload",
                 "published")
LOADER_EVENT_COLUMNS = ("seq", "writer_seq")
Converter = Callable[[Any], Any]
_MAPPING_NAMES = ("row_values", "issue_row", "_row_values")  # repo's name for it, by age


def dialect_of(backend: str) -> Dialect:
    """The dialect the node's engine uses (node.store.db: pysqlite, psycopg 3)."""
    urls = {"sqlite": "sqlite://", "postgres": "postgresql+psycopg://bench@127.0.0.1/bench"}
    if backend not in urls:
        raise ValueError(f"unknown backend {backend!r}")
    return create_engine(urls[backend]).dialect  # no connection is made


def issue_mapping(rules: Rules) -> Callable[[Issue], dict[str, Any]]:
    """The store's row mapping of an issue, whatever it needs besides the issue."""
    found = [f for f in (getattr(repo, name, None) for name in _MAPPING_NAMES) if f]
    if not found:
        raise TypeError(f"node.store.repo has none of {_MAPPING_NAMES}: teach "
                        "bench/citystore/rows.py its row mapping")
    fn: Callable[..., dict[str, Any]] = found[0]
    params = list(inspect.signature(fn).parameters.values())[1:]
    if not params:
        return fn
    known: dict[str, Any] = {"calendar": rules.calendar, "rules": rules}
    missing = [p.name for p in params if p.default is p.empty and p.name not in known]
    if missing:
        raise TypeError(f"repo's row mapping wants {missing}: teach bench/citystore/rows.py")
    extra = {p.name: known[p.name] for p in params if p.name in known}
    return lambda issue: fn(issue, **extra)


def tag_mapping() -> Callable[[Issue], list[dict[str, Any]]]:
    """The store's issue_tags rows of an issue."""
    fn: Callable[[Issue], list[dict[str, Any]]] | None = getattr(repo, "tag_rows", None)
    if fn is not None:
        return fn
    return lambda issue: [{"issue_id": issue.id, "tag": t} for t in issue.tags]


def _sqlite_ts(value: datetime | None) -> str | None:
    # What UTCDateTime + SQLite's DATETIME store: naive UTC, always with microseconds.
    if value is None:
        return None
    text = value.isoformat(" ", "microseconds")
    if text.endswith("+00:00"):  # already UTC (all of the generator's instants are)
        return text[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_ts(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _bool(value: bool | None) -> Any:
    return None if value is None else bool(value)


def _identity(value: Any) -> Any:
    return value


def _processor(column: Column[Any], dialect: Dialect) -> Converter:
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    return proc if proc is not None else _identity


def _builder(keys: Sequence[str | int], converters: Sequence[Converter]
             ) -> Callable[[Any], tuple[Any, ...]]:
    """`lambda r: (conv0(r[key0]), r[key1], …)` compiled once: a row costs one call instead
    of a loop with a call per value (identity converters are left out)."""
    env: dict[str, Any] = {}
    parts = []
    for i, (k, conv) in enumerate(zip(keys, converters, strict=True)):
        if conv is _identity:
            parts.append(f"r[{k!r}]")
        else:
            env[f"c{i}"] = conv
            parts.append(f"c{i}(r[{k!r}])")
    built: Callable[[Any], tuple[Any, ...]] = eval(f"lambda r: ({', '.join(parts)},)", env)
    return built


def _normal(value: Any) -> Any:
    """Processor output in the form the fast converters give: psycopg's Json(obj) wrapper
    as the text it dumps (json.dumps, its default), which COPY sends as well."""
    return json.dumps(value.obj) if isinstance(value, Json) else value


class Rows:
    """DB-ready tuples for one backend."""

    def __init__(self, backend: str, rules: Rules) -> None:
        self.backend = backend
        self.dialect = dialect_of(backend)
        self.mapping = issue_mapping(rules)
        self.tag_mapping = tag_mapping()
        self.issue_columns: tuple[str, ...] = ()
        self._issue_fast: Callable[[Any], tuple[Any, ...]] = tuple
        self._issue_slow: list[tuple[str, Converter]] = []
        self.tag_columns: tuple[str, ...] = ()
        self._tag_fast: Callable[[Any], tuple[Any, ...]] = tuple
        self._tag_slow: list[tuple[str, Converter]] = []
        self._event_fast = _builder(range(len(EVENT_COLUMNS)),
                                    [self._fast(events.c[c]) for c in EVENT_COLUMNS])
        self._event_slow = [_processor(events.c[c], self.dialect) for c in EVENT_COLUMNS]

    def _fast(self, column: Column[Any]) -> Converter:
        kind = column.type
        if isinstance(kind, UTCDateTime):
            return _sqlite_ts if self.backend == "sqlite" else _pg_ts
        if isinstance(kind, JSON):
            return _json
        if isinstance(kind, Boolean):
            return _bool
        return _processor(column, self.dialect)

    def _columns(self, table: Table, row: dict[str, Any]
                 ) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]],
                            list[tuple[str, Converter]]]:
        columns = tuple(row)
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise ValueError(f"the row mapping has columns {table.name} does not: {unknown}")
        return (columns, _builder(columns, [self._fast(table.c[c]) for c in columns]),
                [(c, _processor(table.c[c], self.dialect)) for c in columns])

    def issue(self, issue: Issue) -> tuple[Any, ...]:
        row = self.mapping(issue)
        if not self.issue_columns:
            self.issue_columns, self._issue_fast, self._issue_slow = self._columns(issues, row)
        return self._issue_fast(row)

    def tags(self, issue: Issue) -> list[tuple[Any, ...]]:
        found = self.tag_mapping(issue) if issue.tags else []
        if found and not self.tag_columns:
            self.tag_columns, self._tag_fast, self._tag_slow = self._columns(issue_tags,
                                                                             found[0])
        return [self._tag_fast(r) for r in found]

    @staticmethod
    def event_values(event: Event, writer: str) -> tuple[Any, ...]:
        """The event row of `repo.append_event` (published: this history is old news)."""
        payload = event.payload if type(event.payload) is dict else dict(event.payload)
        return (event_id_of(event.issue_id, event.version), event.issue_id, event.version,
                writer, event.kind, event.actor.label(), event.at, payload, True)

    def event(self, event: Event, writer: str) -> tuple[Any, ...]:
        return self._event_fast(self.event_values(event, writer))

    def check(self, issue: Issue, row: Sequence[Any], tags: Sequence[Sequence[Any]],
              event: Event, writer: str, event_row: Sequence[Any]) -> None:
        """Raise ValueError unless the fast converters gave what SQLAlchemy would send."""
        mapped = self.mapping(issue)
        if tuple(mapped) != self.issue_columns:
            raise ValueError("the row mapping's columns changed during the run")
        _compare("issues", self._issue_slow, mapped, row)
        for mapped_tag, tag_row in zip(self.tag_mapping(issue), tags, strict=True):
            _compare("issue_tags", self._tag_slow, mapped_tag, tag_row)
        values = self.event_values(event, writer)
        for name, conv, got, value in zip(EVENT_COLUMNS, self._event_slow, event_row, values,
                                          strict=True):
            expected = _normal(conv(value))
            if got != expected:
                raise ValueError(f"events.{name}: fast {got!r} != SQLAlchemy {expected!r}")


def _compare(table: str, slow: list[tuple[str, Converter]], mapped: dict[str, Any],
             row: Sequence[Any]) -> None:
    for (name, conv), got in zip(slow, row, strict=True):
        expected = _normal(conv(mapped[name]))
        if got != expected:
            raise ValueError(f"{table}.{name}: fast {got!r} != SQLAlchemy {expected!r}")


def insert_sql(table: str, columns: Sequence[str], backend: str) -> str:
    mark = "?" if backend == "sqlite" else "%s"
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})")
