"""Reviews and the case library over SQL: node.app.cases.CaseStore.

`case_reviews` keeps each of this node's reviews whole, as JSON (`as_record` /
`from_record`, a round trip); `cases` keeps the published form of every case the node may
see — its own (`via` NULL), written in the transaction that publishes the review, and its
children's, written (added, or over the same case) whenever a child's summary brings
them (`put_cases_via`), never removed: a published case is final. A query filters on
columns: kind, origin, unit, a tag (one LIKE on "|tag|tag|") and a text (LIKE on the
lower-cased texts): a case library holds hundreds of cases, not millions, so no full-text
index is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from node.domain.audit import AuditRecord
from node.domain.cases import (
    CaseKind,
    Consent,
    Draft,
    Measure,
    MeasureKind,
    Party,
    Review,
    ReviewState,
    Subject,
    SubjectKind,
    search_text,
)
from node.store.audit import record_in
from node.store.repo import Store
from node.store.schema import case_reviews as _R
from node.store.schema import cases as _C


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _at(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def as_record(review: Review) -> dict[str, Any]:
    """The review as JSON (all of it: this stays on the node that wrote it)."""
    s, d = review.subject, review.draft
    return {
        "id": review.id, "node": review.node, "state": review.state.value,
        "version": review.version,
        "subject": {"kind": s.kind.value, "id": s.id, "number": s.number, "title": s.title,
                    "closed": s.closed, "state": s.state, "origin": s.origin, "unit": s.unit,
                    "enterprise_name": s.enterprise_name, "credit_code": s.credit_code,
                    "contact_phone": s.contact_phone,
                    "members": [{"name": m.name, "credit_code": m.credit_code,
                                 "contact_phone": m.contact_phone} for m in s.members]},
        "draft": {"title": d.title, "root_cause": d.root_cause, "gap": d.gap,
                  "measures": [{"kind": m.kind.value, "text": m.text, "reference": m.reference}
                               for m in d.measures],
                  "outcome": d.outcome, "tags": list(d.tags), "unit": d.unit},
        "created_by": review.created_by, "created_at": _ts(review.created_at),
        "updated_by": review.updated_by, "updated_at": _ts(review.updated_at),
        "kind": review.kind.value if review.kind else None,
        "published_by": review.published_by, "published_at": _ts(review.published_at),
        "consent": None if review.consent is None else {
            "recorded_by": review.consent.recorded_by, "at": _ts(review.consent.at),
            "note": review.consent.note},
    }


def from_record(r: Mapping[str, Any]) -> Review:
    s, d, c = r["subject"], r["draft"], r.get("consent")
    created, updated = _at(r["created_at"]), _at(r["updated_at"])
    assert created is not None and updated is not None
    consent_at = _at(c["at"]) if c else None
    return Review(
        id=r["id"], node=r["node"], state=ReviewState(r["state"]), version=int(r["version"]),
        subject=Subject(kind=SubjectKind(s["kind"]), id=s["id"], number=s["number"],
                        title=s["title"], closed=bool(s["closed"]), state=s["state"],
                        origin=s["origin"], unit=s.get("unit"),
                        enterprise_name=s.get("enterprise_name"),
                        credit_code=s.get("credit_code"), contact_phone=s.get("contact_phone"),
                        members=tuple(Party(name=m.get("name"), credit_code=m.get("credit_code"),
                                            contact_phone=m.get("contact_phone"))
                                      for m in s.get("members", ()))),
        draft=Draft(title=d["title"], root_cause=d.get("root_cause"), gap=d.get("gap"),
                    measures=tuple(Measure(kind=MeasureKind(m["kind"]), text=m["text"],
                                           reference=m["reference"])
                                   for m in d.get("measures", ())),
                    outcome=d.get("outcome"), tags=tuple(d.get("tags", ())),
                    unit=d.get("unit")),
        created_by=r["created_by"], created_at=created, updated_by=r["updated_by"],
        updated_at=updated, kind=CaseKind(r["kind"]) if r.get("kind") else None,
        published_by=r.get("published_by"), published_at=_at(r.get("published_at")),
        consent=None if c is None or consent_at is None else Consent(
            recorded_by=c["recorded_by"], at=consent_at, note=c["note"]))


def _case_row(form: Mapping[str, Any], via: str | None) -> dict[str, Any]:
    at = _at(form["published_at"])
    return {"id": form["id"], "origin": form["origin"], "via": via, "kind": form["kind"],
            "unit": form.get("unit"), "published_at": at,
            "tags": "|" + "|".join(str(t) for t in form.get("tags", ())) + "|",
            "search": search_text(form), "form": dict(form)}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class CaseTransaction:
    """node.app.cases.CaseUnit over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def review(self, review_id: str) -> Review | None:
        row = self.conn.execute(select(_R.c.record).where(_R.c.id == review_id)).first()
        return None if row is None else from_record(row.record)

    def reviews_of(self, subject_kind: str, subject_id: str) -> list[Review]:
        rows = self.conn.execute(select(_R.c.record).where(
            _R.c.subject_kind == subject_kind, _R.c.subject_id == subject_id)
            .order_by(_R.c.created_at, _R.c.id))
        return [from_record(r.record) for r in rows]

    def insert_review(self, review: Review) -> None:
        self.conn.execute(insert(_R), {
            "id": review.id, "node": review.node, "subject_kind": review.subject.kind.value,
            "subject_id": review.subject.id, "state": review.state.value,
            "version": review.version, "record": as_record(review),
            "created_at": review.created_at, "updated_at": review.updated_at})

    def update_review(self, review: Review, *, expected_version: int) -> bool:
        """Write `review` over the row at `expected_version`; False if it moved meanwhile."""
        done = self.conn.execute(update(_R).where(
            _R.c.id == review.id, _R.c.version == expected_version).values(
            state=review.state.value, version=review.version, record=as_record(review),
            updated_at=review.updated_at))
        return bool(done.rowcount == 1)

    def audit(self, review: Review, action: str, *, actor: str, at: datetime) -> None:
        """The change in the audit trail, in this transaction (call it last: the trail
        takes its counter's row lock)."""
        record_in(self.conn, AuditRecord(
            at=at, actor=actor, action=f"case.{action}", target_kind="case",
            target_id=review.id, detail={"subject": review.subject.number,
                                         "version": review.version,
                                         "kind": review.kind.value if review.kind else None}))

    def put_case(self, form: Mapping[str, Any]) -> None:
        """This node's own published case."""
        self.conn.execute(delete(_C).where(_C.c.id == form["id"]))
        self.conn.execute(insert(_C), _case_row(form, None))

    def put_cases_via(self, child: str, forms: Sequence[Mapping[str, Any]]) -> None:
        """Cases `child` sent in its summary, each written over the row of the same id (one
        that came through another child, too; never an own one: ids carry their origin).
        The rows it sent before and not now stay."""
        if forms:
            self.conn.execute(delete(_C).where(_C.c.id.in_([f["id"] for f in forms])))
            self.conn.execute(insert(_C), [_case_row(f, child) for f in forms])

    def forms_via(self, child: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(_C.c.form).where(_C.c.via == child)
                                 .order_by(_C.c.id))
        return [dict(r.form) for r in rows]

    def cases(self, *, kind: str | None = None, tag: str | None = None,
              unit: str | None = None, q: str | None = None, limit: int = 50,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Published cases, newest first, and how many match in all."""
        where = []
        if kind:
            where.append(_C.c.kind == kind)
        if tag:
            where.append(_C.c.tags.like(_like(f"|{tag}|"), escape="\\"))
        if unit:
            where.append(or_(_C.c.origin == unit, _C.c.unit == unit))
        if q:
            for word in q.lower().split():
                where.append(_C.c.search.like(_like(word), escape="\\"))
        total = int(self.conn.execute(select(func.count()).select_from(_C).where(*where))
                    .scalar_one())
        rows = self.conn.execute(select(_C.c.form).where(*where)
                                 .order_by(_C.c.published_at.desc(), _C.c.id.desc())
                                 .limit(limit).offset(offset))
        return [dict(r.form) for r in rows], total

    def case(self, case_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(_C.c.form).where(_C.c.id == case_id)).first()
        return None if row is None else dict(row.form)

    def all_forms(self) -> list[dict[str, Any]]:
        return [dict(r.form) for r in self.conn.execute(select(_C.c.form))]


class CaseRecords:
    """node.app.cases.CaseStore over a node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[CaseTransaction]:
        with self.store.write() as conn:
            yield CaseTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[CaseTransaction]:
        with self.store.read() as conn:
            yield CaseTransaction(conn)
