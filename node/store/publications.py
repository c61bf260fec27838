"""Stored publications over SQL: node.app.publications.PublicationStore.

One row per (issuer, kind): `put` replaces the row (the use case has already checked that
the version is newer, inside the same transaction), so the table holds the newest version
only; the envelope is kept as received, bytes for bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from node.app.publications import Stored
from node.domain.publications import Publication
from node.store.repo import Store
from node.store.schema import publications as _P


def _stored(row: Any) -> Stored:
    return Stored(doc=Publication(issuer=row.issuer, kind=row.kind, version=int(row.version),
                                  issued_at=row.issued_at, body=row.body),
                  envelope=row.envelope.encode("utf-8"), received_at=row.received_at)


class SqlPublicationUnit:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, issuer: str, kind: str) -> Stored | None:
        row = self.conn.execute(select(_P).where(_P.c.issuer == issuer,
                                                 _P.c.kind == kind)).first()
        return _stored(row) if row is not None else None

    def put(self, doc: Publication, envelope: bytes, *, received_at: datetime) -> None:
        self.conn.execute(delete(_P).where(_P.c.issuer == doc.issuer, _P.c.kind == doc.kind))
        self.conn.execute(insert(_P).values(
            issuer=doc.issuer, kind=doc.kind, version=doc.version, issued_at=doc.issued_at,
            body=dict(doc.body), envelope=envelope.decode("utf-8"), received_at=received_at))

    def all(self) -> list[Stored]:
        rows = self.conn.execute(select(_P).order_by(_P.c.issuer, _P.c.kind)).all()
        return [_stored(r) for r in rows]


class SqlPublications:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[SqlPublicationUnit]:
        with self.store.write() as conn:
            yield SqlPublicationUnit(conn)

    @contextmanager
    def read(self) -> Iterator[SqlPublicationUnit]:
        with self.store.read() as conn:
            yield SqlPublicationUnit(conn)
