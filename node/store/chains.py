"""`zhitong audit verify`: every writer's hash chain in one store, checked end to end.

This node's own events must form a complete chain (gapless from writer_seq 1, every event
linked); replicated events are checked where the previous link is held (a replica may have
received part of a writer's stream, or events fetched without a stream position). One
read transaction; rows stream in writer_seq order, so memory stays flat at any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

from node.domain.chain import Break, ChainedEvent, verify
from node.store import repo


@dataclass(frozen=True, kw_only=True, slots=True)
class Checked:
    writer: str
    events: int
    found: Break | None


class _Counted:
    """An iterator that counts what it hands out."""

    def __init__(self, rows: Iterator[tuple[ChainedEvent, str | None]]) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[tuple[ChainedEvent, str | None]]:
        for row in self.rows:
            self.n += 1
            yield row


def verify_store(engine: Engine, own: str) -> list[Checked]:
    """Each writer's chain here (this node's first), with the first break if any."""
    out: list[Checked] = []
    with engine.connect() as conn, conn.begin():
        for writer in sorted(repo.writers(conn), key=lambda w: (w != own, w)):
            rows = _Counted(repo.chain_rows(conn, writer))
            found = verify(rows, complete=writer == own)
            out.append(Checked(writer=writer, events=rows.n, found=found))
    return out
