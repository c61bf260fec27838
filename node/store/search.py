"""The full-text index of the issues, on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

How it works. The terms come from the domain's tokenizer (node/domain/search.py): CJK
unigrams and bigrams and lower-cased alphanumeric runs, written as space-separated words
into four field groups (head: number and title; meta: tags, enterprise, unit; body: the
content; reply: the reply and a rejection's reason). The databases only store and match
those words — neither needs to know Chinese:

* SQLite: the contentless FTS5 table `issue_fts` (schema.py), tokenizer `ascii` (which
  keeps our words whole: they hold no ASCII punctuation), full detail (SQLite 3.40's bm25
  scores every hit 0 with `detail='column'`). Its rowid is `issue_search.doc_id`. A
  contentless table
  forgets a document only when given back the terms it was indexed with, so issue_search
  keeps the indexed field texts (`source`) and re-derives them. Ranked by bm25 with the
  groups weighted (node.domain.search.WEIGHTS).
* PostgreSQL: `issue_search.terms`, a tsvector built from the words as a literal (the
  `simple` configuration's parser is not needed: the words are lexemes already), one
  position per word and the group as its weight (A head, B meta, C body and reply), with
  a GIN index; queries are tsquery literals; ranked by ts_rank.

`SearchProjection` is registered on the Store (node/runtime.py), so the index row is
written by insert_issue/update_issue in the issue's own transaction — a rolled-back write
leaves no index row, and every issue the node holds (its own, a county's replicas at the
city, an escalated one) is indexed whichever use case wrote it. Most writes (triage, urge,
a light) change no indexed text: the stored source is compared and nothing is rewritten.
`rebuild` re-indexes everything (the migration 0007, a new TOKENIZER_VERSION, a store
loaded around the verbs); `ensure_index` runs at node start and does what is needed (and
makes the index's fts5vocab table where a store lacks it: node/store/duplicates.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnClause,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    cast,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles

from node.domain.issue import Event, Issue
from node.domain.search import (
    GROUPS,
    HEAD,
    META,
    TOKENIZER_VERSION,
    WEIGHTS,
    Term,
    field_texts,
    fields_of,
    group_texts,
)
from node.store import bulk
from node.store.schema import ISSUE_FTS, ISSUE_FTS_VOCAB_DDL, issue_search, issues, store_meta

#: store_meta row: the TOKENIZER_VERSION the index was built with.
SEARCH_INDEX = "search_index"

fts = table(ISSUE_FTS, column("rowid"), *(column(g) for g in GROUPS))
_FTS: ColumnClause[Any] = literal_column(ISSUE_FTS)
#: positional, for bulk.execute_many: the rowid, then the groups' texts in GROUPS order
_FTS_INSERT_SQL = (f"INSERT INTO {ISSUE_FTS}(rowid, {', '.join(GROUPS)}) "
                   f"VALUES (?, {', '.join('?' for _ in GROUPS)})")
_FTS_DELETE = text(f"INSERT INTO {ISSUE_FTS}({ISSUE_FTS}, rowid, {', '.join(GROUPS)}) "
                   f"VALUES ('delete', :rowid, {', '.join(':' + g for g in GROUPS)})")
_PG_WEIGHT = {HEAD: "A", META: "B"}  # body and reply: C
_MAX_POSITION = 16383  # PostgreSQL's largest position
_MAX_POSITIONS = 255  # positions kept per lexeme (PostgreSQL keeps at most 256)


class SearchProjection:
    """Keeps issue_search (and issue_fts) in step with the issues rows (repo.Projection)."""

    def issue_written(self, conn: Connection, issue: Issue, *, created: bool) -> None:
        index_issue(conn, issue.id, field_texts(issue), created=created)

    def issues_written(self, conn: Connection, batch: Sequence[tuple[Issue, bool]]) -> None:
        index_issues(conn, [(issue.id, field_texts(issue), created)
                            for issue, created in batch])

    def event_appended(self, conn: Connection, writer: str, event: Event, *, seq: int,
                       own: bool) -> None:
        """Events change no indexed text: the snapshot write does."""


def _source(fields: Sequence[tuple[str, str]]) -> list[list[str]]:
    return [[name, value] for name, value in fields]


def tsvector_literal(groups: Mapping[str, str]) -> str:
    """The tsvector of the groups' words: one position per word, weighted by group."""
    positions: dict[str, list[str]] = {}
    p = 0
    for group in GROUPS:
        weight = _PG_WEIGHT.get(group, "C")
        for word in groups[group].split():
            p += 1
            held = positions.setdefault(word, [])
            if len(held) < _MAX_POSITIONS:
                held.append(f"{min(p, _MAX_POSITION)}{weight}")
    return " ".join(f"'{word}':{','.join(ps)}" for word, ps in positions.items())


def _in_order(groups: Mapping[str, str]) -> list[str]:
    return [groups[g] for g in GROUPS]


def index_issue(conn: Connection, issue_id: str, fields: Sequence[tuple[str, str]], *,
                created: bool = False) -> None:
    """Index (or re-index) one issue's field texts, in the caller's transaction."""
    source = _source(fields)
    old = None if created else conn.execute(
        select(issue_search.c.doc_id, issue_search.c.source)
        .where(issue_search.c.issue_id == issue_id)).first()
    if old is not None and old.source == source:
        return
    groups = group_texts(fields)
    if conn.dialect.name == "postgresql":
        vector = cast(literal(tsvector_literal(groups)), TSVECTOR)
        stmt = pg_insert(issue_search).values(issue_id=issue_id, source=source, terms=vector)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[issue_search.c.issue_id],
            set_={"source": stmt.excluded.source, "terms": stmt.excluded.terms}))
        return
    if old is None:
        doc_id = conn.execute(insert(issue_search).values(issue_id=issue_id, source=source)
                              .returning(issue_search.c.doc_id)).scalar_one()
    else:
        doc_id = old.doc_id
        conn.execute(_FTS_DELETE, {"rowid": doc_id, **group_texts(
            [(str(n), str(v)) for n, v in old.source])})
        conn.execute(update(issue_search).where(issue_search.c.doc_id == doc_id)
                     .values(source=source))
    bulk.execute_many(conn, _FTS_INSERT_SQL, [(doc_id, *_in_order(groups))])


def index_issues(conn: Connection,
                 batch: Sequence[tuple[str, Sequence[tuple[str, str]], bool]]) -> None:
    """`index_issue` for several (issue id, field texts, created) at once, in the caller's
    transaction: the old rows in one query, then one executemany per kind of statement (a
    replica's fetched batch, an import, a transfer envelope)."""
    if not batch:
        return
    latest: dict[str, tuple[Sequence[tuple[str, str]], bool]] = {}
    for issue_id, fields, created in batch:  # the last snapshot of an issue wins
        seen = latest.get(issue_id)
        latest[issue_id] = (fields, created and (seen is None or seen[1]))
    old: dict[str, Any] = {}
    ids = sorted(i for i, (_, created) in latest.items() if not created)
    for start in range(0, len(ids), 500):
        for row in conn.execute(select(issue_search.c.issue_id, issue_search.c.doc_id,
                                       issue_search.c.source)
                                .where(issue_search.c.issue_id.in_(ids[start:start + 500]))):
            old[row.issue_id] = row
    todo = [(i, fields, _source(fields)) for i, (fields, _) in latest.items()
            if i not in old or old[i].source != _source(fields)]
    if not todo:
        return
    if conn.dialect.name == "postgresql":
        stmt = pg_insert(issue_search).values(
            issue_id=bindparam("issue_id"), source=bindparam("source"),
            terms=cast(bindparam("terms"), TSVECTOR))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[issue_search.c.issue_id],
            set_={"source": stmt.excluded.source, "terms": stmt.excluded.terms}),
            [{"issue_id": i, "source": source,
              "terms": tsvector_literal(group_texts(fields))} for i, fields, source in todo])
        return
    fresh = [(i, fields, source) for i, fields, source in todo if i not in old]
    changed = [(i, fields, source) for i, fields, source in todo if i in old]
    if changed:
        conn.execute(_FTS_DELETE, [{"rowid": old[i].doc_id, **group_texts(
            [(str(n), str(v)) for n, v in old[i].source])} for i, _, _ in changed])
        conn.execute(update(issue_search).where(issue_search.c.doc_id == bindparam("_doc"))
                     .values(source=bindparam("source")),
                     [{"_doc": old[i].doc_id, "source": source} for i, _, source in changed])
    if fresh:  # one writer at a time on SQLite: the next doc ids are this transaction's
        first = int(conn.execute(select(func.coalesce(func.max(issue_search.c.doc_id), 0))
                                 ).scalar_one()) + 1
        bulk.insert_rows(conn, issue_search, [
            {"doc_id": first + k, "issue_id": i, "source": source}
            for k, (i, _, source) in enumerate(fresh)])
        doc_ids = {i: first + k for k, (i, _, _) in enumerate(fresh)}
    else:
        doc_ids = {}
    bulk.execute_many(conn, _FTS_INSERT_SQL, [
        (doc_ids[i] if i in doc_ids else old[i].doc_id, *_in_order(group_texts(fields)))
        for i, fields, _ in todo])


# --------------------------------------------------------------------------- queries


def fts_query(terms: Sequence[Term]) -> str:
    """The FTS5 MATCH expression of the terms (all of them; a prefix term with `*`)."""
    return " AND ".join(f'"{t.text}"' + ("*" if t.prefix else "") for t in terms)


def ts_query(terms: Sequence[Term]) -> str:
    """The tsquery literal of the terms (all of them; a prefix term with `:*`)."""
    return " & ".join(f"'{t.text}'" + (":*" if t.prefix else "") for t in terms)


def matches(dialect: str, terms: Sequence[Term]) -> Select[Any]:
    """(issue_id, score) of the issues holding every term; a lower score is a better match
    (bm25 is negative on SQLite; ts_rank, higher is better, is negated on PostgreSQL)."""
    if dialect == "postgresql":
        q = cast(bindparam("search_q", ts_query(terms)), TSQUERY)
        return (select(issue_search.c.issue_id,
                       (-func.ts_rank(issue_search.c.terms, q)).label("score"))
                .where(issue_search.c.terms.op("@@")(q)))
    weights: list[ColumnClause[Any]] = [literal_column(repr(WEIGHTS[g])) for g in GROUPS]
    return (select(issue_search.c.issue_id, func.bm25(_FTS, *weights).label("score"))
            .select_from(fts.join(issue_search, issue_search.c.doc_id == fts.c.rowid))
            .where(_FTS.op("MATCH")(bindparam("search_q", fts_query(terms)))))


#: SQLite ranks the newest RANK_WINDOW matches of a search by relevance, and lists the
#: older ones after them, newest first: bm25 over every match of a common word (用电: 93,000
#: of 1,000,000 issues) costs ~500 ms, over the newest 2,000 ~10 ms (bench/search.py). A
#: word that matches fewer issues is ranked over all of them, as before.
RANK_WINDOW = 2000


def window_floor(terms: Sequence[Term]) -> Select[Any]:
    """The index rowid of the RANK_WINDOW-th newest match (none: fewer matches than that).
    The index's rowids grow as issues are first indexed, so the newest are the highest."""
    return (select(fts.c.rowid)
            .where(_FTS.op("MATCH")(bindparam("search_q", fts_query(terms))))
            .order_by(fts.c.rowid.desc()).limit(1).offset(RANK_WINDOW - 1))


def matched_docs(terms: Sequence[Term]) -> Select[Any]:
    """The index rowids (issue_search.doc_id) of the documents holding every term, from
    the index alone (SQLite)."""
    return select(fts.c.rowid).where(_FTS.op("MATCH")(bindparam("search_q", fts_query(terms))))


def ranked_from(terms: Sequence[Term]) -> tuple[Any, ColumnElement[bool], Any]:
    """(FROM the index joined to the issues, the MATCH condition, the bm25 score) of a
    SQLite search that the caller filters and orders itself (node/store/repo.py)."""
    weights: list[ColumnClause[Any]] = [literal_column(repr(WEIGHTS[g])) for g in GROUPS]
    source = (fts.join(issue_search, issue_search.c.doc_id == fts.c.rowid)
              .join(issues, issues.c.id == issue_search.c.issue_id))
    match = _FTS.op("MATCH")(bindparam("search_q", fts_query(terms)))
    return source, match, func.bm25(_FTS, *weights).label("score")


def count_matches(dialect: str, terms: Sequence[Term]) -> Select[Any]:
    """How many issues hold every term (from the index alone)."""
    if dialect == "postgresql":
        q = cast(bindparam("search_q", ts_query(terms)), TSQUERY)
        return select(func.count()).select_from(issue_search).where(
            issue_search.c.terms.op("@@")(q))
    return select(func.count()).select_from(fts).where(
        _FTS.op("MATCH")(bindparam("search_q", fts_query(terms))))


class Matching(ColumnElement[bool]):
    """The WHERE term on the issues table "holds every term" (a filter, no ranking), written
    for the dialect it is compiled for: the pool's statements stay dialect-free."""

    inherit_cache = False  # the terms are not part of a cache key
    type = Boolean()

    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = tuple(terms)


@compiles(Matching)
def _compile_matching(element: Matching, compiler: Any, **kw: Any) -> str:
    dialect = compiler.dialect.name
    sub = matches(dialect, element.terms).with_only_columns(issue_search.c.issue_id)
    return str(compiler.process(issues.c.id.in_(sub), **kw))


def matching_ids(terms: Sequence[Term]) -> ColumnElement[bool]:
    """The issues holding every term (see `Matching`)."""
    return Matching(terms)


# --------------------------------------------------------------------------- rebuild


_FIELD_COLUMNS = ("id", "number", "title", "content", "reply", "rejection_reason", "tags",
                  "enterprise_name", "board", "department")


def _fields_of_row(m: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    tags = [t for t in (m["tags"] or []) if isinstance(t, str)]  # repo.tags_value's list
    return fields_of(title=m["title"], number=m["number"], content=m["content"],
                     reply=m["reply"], rejection_reason=m["rejection_reason"], tags=tags,
                     enterprise=m["enterprise_name"], board=m["board"],
                     department=m["department"])


def _set_version(conn: Connection) -> None:
    ins: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(store_meta).values(name=SEARCH_INDEX, value=TOKENIZER_VERSION)
                 .on_conflict_do_update(index_elements=[store_meta.c.name],
                                        set_={"value": TOKENIZER_VERSION}))


def _index_rows(conn: Connection, rows: Sequence[Any], first_doc_id: int) -> None:
    """Insert the index rows of issues rows not indexed yet (bulk)."""
    search_rows: list[dict[str, Any]] = []
    fts_rows: list[tuple[Any, ...]] = []
    for k, row in enumerate(rows):
        m = row._mapping
        fields = _fields_of_row(m)
        groups = group_texts(fields)
        entry: dict[str, Any] = {"doc_id": first_doc_id + k, "issue_id": m["id"],
                                 "source": _source(fields)}
        if conn.dialect.name == "postgresql":
            entry["terms"] = tsvector_literal(groups)
        else:
            fts_rows.append((first_doc_id + k, *_in_order(groups)))
        search_rows.append(entry)
    if not search_rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(insert(issue_search).values(
            doc_id=bindparam("doc_id"), issue_id=bindparam("issue_id"),
            source=bindparam("source"),
            terms=cast(bindparam("terms"), TSVECTOR)), search_rows)
    else:
        bulk.insert_rows(conn, issue_search, search_rows)
        bulk.execute_many(conn, _FTS_INSERT_SQL, fts_rows)


def index_missing(conn: Connection, *, batch: int = 2000) -> int:
    """Index every issues row without an index row (loaded around the verbs); how many."""
    # NOT EXISTS, not NOT IN: PostgreSQL runs NOT IN (subquery) as a scan of the whole
    # subquery per row once it outgrows work_mem (a 1,000,000-issue store: >11 s a batch)
    missing = ~exists().where(issue_search.c.issue_id == issues.c.id)
    next_id = int(conn.execute(select(func.coalesce(func.max(issue_search.c.doc_id), 0))
                               ).scalar_one()) + 1
    done = 0
    after: Any = None
    # in batches of the pool's order, oldest first, so that the index's rowids grow with
    # the issues' arrival as when each is indexed on its first write (a search ranks the
    # newest matches: RANK_WINDOW); a large store is never held in memory
    while True:
        stmt = (select(*(issues.c[n] for n in _FIELD_COLUMNS), issues.c.received_at)
                .where(missing).order_by(issues.c.received_at, issues.c.id).limit(batch))
        if after is not None:
            stmt = stmt.where(tuple_(issues.c.received_at, issues.c.id) > tuple_(*after))
        rows = conn.execute(stmt).all()
        if not rows:
            break
        _index_rows(conn, rows, next_id + done)
        done += len(rows)
        after = (literal(rows[-1].received_at, issues.c.received_at.type),
                 literal(rows[-1].id))
    if conn.dialect.name == "postgresql" and done:  # keep the sequence ahead of the ids
        conn.execute(text("SELECT setval(pg_get_serial_sequence('issue_search', 'doc_id'), "
                          "(SELECT max(doc_id) FROM issue_search))"))
    return done


def rebuild(conn: Connection, *, batch: int = 2000) -> int:
    """Drop every index row and index every issue again; returns how many."""
    conn.execute(delete(issue_search))
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"INSERT INTO {ISSUE_FTS}({ISSUE_FTS}) VALUES ('delete-all')"))
    done = index_missing(conn, batch=batch)
    _set_version(conn)
    return done


def ensure_index(store: Any) -> int:
    """At node start: rebuild when the index was built by another TOKENIZER_VERSION (or
    never), else index the issues that have no index row; returns how many were indexed."""
    with store.write() as conn:
        if conn.dialect.name == "sqlite":  # a store whose index was made without it
            conn.exec_driver_sql(ISSUE_FTS_VOCAB_DDL)
        stmt = select(store_meta.c.value).where(store_meta.c.name == SEARCH_INDEX)
        if conn.dialect.name == "postgresql":  # one starting process at a time
            conn.execute(pg_insert(store_meta).values(name=SEARCH_INDEX, value="")
                         .on_conflict_do_nothing())
            stmt = stmt.with_for_update()
        if conn.execute(stmt).scalar_one_or_none() != TOKENIZER_VERSION:
            return rebuild(conn)
        return index_missing(conn)
