"""The bare SQL of a service call: capture what it sends, replay it through the bare driver.

`capture(engine, call)` runs `call` once with a `before_cursor_execute` listener on the
node's engine and keeps every statement with its parameters exactly as SQLAlchemy handed
them to the DBAPI cursor (compiled, bind processors applied) — including the `BEGIN` the
node's SQLite engine issues itself. `Replayer` sends that same sequence over a raw
`sqlite3` / `psycopg` connection, fetches every result and commits, which is what the
call costs the database without our code: the baseline the service row is compared
with, measured in the same run on the same store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Any  # a tuple (sqlite3) or a dict (psycopg's %(name)s)


def capture(engine: Engine, call: Callable[[], object]) -> tuple[object, list[Statement]]:
    """(call's result, the statements it sent), for calls made by this thread."""
    me = threading.get_ident()
    seen: list[Statement] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        if threading.get_ident() == me:
            if executemany:
                raise RuntimeError("a read path sent an executemany: cannot replay it")
            seen.append(Statement(statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return result, seen


class Replayer:
    """One bare connection (per client thread) that replays captured statements."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            assert parsed.database
            con = sqlite3.connect(parsed.database, isolation_level=None,
                                  check_same_thread=False, timeout=30)
            con.execute("PRAGMA busy_timeout=30000")
            self.con: Any = con
        else:
            import psycopg

            self.con = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(
                hide_password=False))

    def run(self, statements: Sequence[Statement]) -> int:
        """Send them all, fetch every row, commit; how many rows came back."""
        rows = 0
        cur = self.con.cursor()
        try:
            for s in statements:
                if self.sqlite and s.sql.strip().upper() == "BEGIN" and self.con.in_transaction:
                    self.con.commit()  # the call's next read transaction (its COMMIT is
                    # the driver's, not a statement: not captured)
                cur.execute(s.sql, s.params)
                if cur.description is not None:
                    rows += len(cur.fetchall())
        finally:
            cur.close()
        self.con.commit()
        return rows

    def close(self) -> None:
        self.con.close()
