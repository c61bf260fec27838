"""Duplicates and merges over SQL: candidate lookups in the full-text index, and the
issue_merges projection.

Candidates (node.app.duplicates.DuplicateReads). The issue's own terms (CJK bigrams and
alphanumeric runs, node/domain/duplicates.py) are asked of the index as one OR query over
the head (title) and body (content) groups, best first (SQLite FTS5 bm25 with the groups'
weights; PostgreSQL ts_rank), and only the top N ids come back: the use case scores those
few with the exact Jaccard similarity. On SQLite the terms that more than COMMON_SHARE of
the issues hold are left out first (`TermFrequencies`, from the index's fts5vocab table).
The same enterprise's latest issues come from the issues table's (credit_code,
received_at) index. Both are reads of what the node holds — its own issues and, at a city,
its counties' replicas.

Merges (`MergeProjection`, registered on the Store: node/runtime.py). Every `merged_into`
event appended here, the node's own or a replicated one, inserts the row (master,
follower, who, when) in the event's transaction; every `unmerged_from` fills its
unmerged_at/_by. So the table is the events' fold at every tier that holds the follower.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.app.similarity import OpenText
from node.domain.issue import OPEN_STATES, Event, Issue
from node.domain.merging import MERGED_INTO, OUTCOME_MERGED, UNMERGED_FROM
from node.domain.search import WEIGHTS
from node.store import repo
from node.store.repo import Store
from node.store.schema import ISSUE_FTS, ISSUE_FTS_VOCAB, issue_merges, issues

_WEIGHTS = ", ".join(repr(WEIGHTS[g]) for g in ("head", "meta", "body", "reply"))
#: SQLite scores the newest SIMILAR_WINDOW matches of the OR query only: a draft's common
#: pairs (关于, 的诉) match a quarter of a 1,000,000-issue store, and bm25 over all of them
#: took 4–9 s (bench/duplicates.py --store); a duplicate worth showing is a recent one
SIMILAR_WINDOW = 5000
_FTS_SIMILAR = text(
    f"SELECT s.issue_id FROM {ISSUE_FTS} JOIN issue_search s ON s.doc_id = {ISSUE_FTS}.rowid "
    f"WHERE {ISSUE_FTS} MATCH :q AND {ISSUE_FTS}.rowid >= coalesce(("
    f"SELECT rowid FROM {ISSUE_FTS} WHERE {ISSUE_FTS} MATCH :q ORDER BY rowid DESC "
    f"LIMIT 1 OFFSET {SIMILAR_WINDOW - 1}), 0) "
    f"ORDER BY bm25({ISSUE_FTS}, {_WEIGHTS}) LIMIT :n")
_PG_SIMILAR = text(
    "SELECT issue_id FROM issue_search WHERE terms @@ CAST(:q AS tsquery) "
    "ORDER BY ts_rank(terms, CAST(:q AS tsquery)) DESC, issue_id LIMIT :n")


#: SQLite leaves out of the OR query the terms more than this share of the indexed issues
#: hold (关于: 25 % of a generated 1,000,000-issue store) once that is more than
#: COMMON_DOCS issues: they tell nothing apart, and each makes the query read its whole
#: doclist. A small store keeps every term; MIN_TERMS are always kept (the rarest).
COMMON_SHARE = 0.05
COMMON_DOCS = SIMILAR_WINDOW
MIN_TERMS = 3
#: a term's document count is cached this long: counting reads the term's doclist (关于 at
#: 1,000,000 issues: ~30 ms), and a share moves slowly
FREQUENCY_TTL_S = 3600.0
MAX_CACHED_TERMS = 100_000
_VOCAB_DOCS = text(f"SELECT doc FROM {ISSUE_FTS_VOCAB} WHERE term = :t")
_INDEXED = text("SELECT coalesce(sum(n), 0) FROM issue_counts")


class TermFrequencies:
    """How many indexed issues hold a term (SQLite: the fts5vocab table of the index),
    cached per term for FREQUENCY_TTL_S; shared by a node's duplicate reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._docs: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def telling(self, conn: Connection, terms: Sequence[str]) -> list[str]:
        """`terms` without those held by more than COMMON_SHARE of the issues (in their
        order); the MIN_TERMS rarest when fewer are left."""
        if len(terms) <= MIN_TERMS:
            return list(terms)
        indexed = int(conn.execute(_INDEXED).scalar_one())
        common = max(COMMON_SHARE * indexed, COMMON_DOCS)
        if indexed <= common:
            return list(terms)  # no term can be held by more issues than there are
        docs = {t: self._count(conn, t) for t in terms}
        kept = {t for t in terms if docs[t] <= common}
        for t in sorted(set(terms) - kept, key=lambda t: docs[t]):
            if len(kept) >= MIN_TERMS:
                break
            kept.add(t)
        return [t for t in terms if t in kept]

    def _count(self, conn: Connection, term: str) -> int:
        now = self._clock()
        with self._lock:
            cached = self._docs.get(term)
        if cached is not None and now - cached[1] < FREQUENCY_TTL_S:
            return cached[0]
        found = conn.execute(_VOCAB_DOCS, {"t": term}).scalar_one_or_none()
        count = int(found or 0)
        with self._lock:
            if len(self._docs) >= MAX_CACHED_TERMS:
                self._docs.clear()  # a vocabulary that large is refilled as it is asked
            self._docs[term] = (count, now)
        return count


def similar_query(dialect: str, terms: Sequence[str]) -> str:
    """The index query holding any of `terms` in the title or the content. The terms come
    from the tokenizer: CJK characters and lower-case letters and digits, never a quote."""
    if dialect == "postgresql":
        return " | ".join(f"'{t}':AC" for t in terms)
    return "{head body} : (" + " OR ".join(f'"{t}"' for t in terms) + ")"


class DuplicateTransaction:
    """node.app.duplicates.DuplicateReads over one open connection."""

    def __init__(self, conn: Connection, frequencies: TermFrequencies | None = None) -> None:
        self.conn = conn
        self.frequencies = frequencies

    def similar(self, terms: Sequence[str], limit: int) -> list[str]:
        if not terms:
            return []
        dialect = self.conn.dialect.name
        if dialect == "sqlite" and self.frequencies is not None:
            terms = self.frequencies.telling(self.conn, terms)
        stmt = _PG_SIMILAR if dialect == "postgresql" else _FTS_SIMILAR
        rows = self.conn.execute(stmt, {"q": similar_query(dialect, terms), "n": limit})
        return [str(r[0]) for r in rows]

    def same_enterprise(self, credit_code: str, limit: int) -> list[str]:
        if not credit_code:
            return []
        rows = self.conn.execute(select(issues.c.id).where(issues.c.credit_code == credit_code)
                                 .order_by(issues.c.received_at.desc(), issues.c.id.desc())
                                 .limit(limit))
        return [str(r[0]) for r in rows]

    def load_issue(self, key: str) -> Issue | None:
        return repo.load_issue(self.conn, key)

    def open_texts(self, limit: int) -> list[OpenText]:
        rows = self.conn.execute(
            select(issues.c.id, issues.c.version, issues.c.number, issues.c.origin,
                   issues.c.title, issues.c.content)
            .where(issues.c.state.in_([s.value for s in OPEN_STATES]))
            .order_by(issues.c.received_at.desc(), issues.c.id.desc()).limit(limit))
        return [OpenText(id=r.id, version=r.version, number=r.number, origin=r.origin,
                         text=f"{r.title}\n{r.content}") for r in rows]

    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]:
        return repo.load_issues(self.conn, ids)


class DuplicateRecords:
    """node.app.duplicates.DuplicateStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.frequencies = TermFrequencies()

    @contextmanager
    def read(self) -> Iterator[DuplicateTransaction]:
        with self.store.read() as conn:
            yield DuplicateTransaction(conn, self.frequencies)


# --------------------------------------------------------------------------- merges


def _insert_absent(conn: Connection, row: dict[str, Any]) -> None:
    ins: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(issue_merges).values(**row).on_conflict_do_nothing())


class MergeProjection:
    """repo.Projection: issue_merges from the merge events, in their transaction."""

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        """Snapshots say nothing of merges: the events do."""

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        if event.kind == MERGED_INTO:
            number = conn.execute(select(issues.c.number)
                                  .where(issues.c.id == event.issue_id)).scalar_one_or_none()
            _insert_absent(conn, {
                "master_id": event.payload["master"],
                "master_number": event.payload.get("master_number", ""),
                "follower_id": event.issue_id, "version": event.version,
                "follower_number": number or "",
                "merged_by": event.actor.label()[:80], "merged_at": event.at})
        elif event.kind == UNMERGED_FROM:
            conn.execute(update(issue_merges).where(and_(
                issue_merges.c.follower_id == event.issue_id,
                issue_merges.c.master_id == event.payload["master"],
                issue_merges.c.unmerged_at.is_(None)))
                .values(unmerged_at=event.at, unmerged_by=event.actor.label()[:80]))

    def events_appended(self, conn: Connection,
                        batch: Sequence[tuple[str, Event, int, bool]]) -> None:
        for writer, event, seq, own in batch:
            if event.kind in (MERGED_INTO, UNMERGED_FROM):
                self.event_appended(conn, writer, event, seq=seq, own=own)


def merges_of(conn: Connection, issue_id: str) -> list[dict[str, Any]]:
    """The issue_merges rows of an issue, as master or follower (oldest first)."""
    rows = conn.execute(select(issue_merges).where(
        (issue_merges.c.master_id == issue_id) | (issue_merges.c.follower_id == issue_id))
        .order_by(issue_merges.c.merged_at, issue_merges.c.id))
    return [dict(r._mapping) for r in rows]


def masters_elsewhere(conn: Connection, node: str) -> list[str]:
    """The masters another node now owns (escalated) of followers this node owns that are
    still closed as merged: the masters whose answers may still have to reach them."""
    follower = issues.alias("follower")
    master = issues.alias("master")
    rows = conn.execute(
        select(issue_merges.c.master_id).distinct()
        .join(follower, follower.c.id == issue_merges.c.follower_id)
        .join(master, master.c.id == issue_merges.c.master_id)
        .where(issue_merges.c.unmerged_at.is_(None), follower.c.owner == node,
               follower.c.state == "closed", follower.c.outcome == OUTCOME_MERGED,
               master.c.owner != node)
        .order_by(issue_merges.c.master_id))
    return [str(r[0]) for r in rows]
