"""Use cases of reviews (问题复盘) and the case library (案例库).

`open_review`, `edit` and `publish` each load → decide (node/domain/cases.py) → save in one
transaction of the store, with the change in the audit trail. A review is opened on a
closed issue this node owns (the one that handled it writes what it taught), or on a 共性问题
cluster (node/app/clusters.py), handled once as its common issue: that issue must be closed
and the review is recorded under the cluster (its member issues' enterprises are kept
with it, never shown, so that the published case scrubs their names too); publishing
writes the review and its data-minimised published form (`published_form`) into the case
library together, so the library never holds a case whose review is still a draft.

The library flows up in the summaries (node/app/rollup.py), as the organisation units do:
`published` is what this node's summary carries (the newest cases of each unit of origin
it holds, bounded in number and bytes: node/domain/cases.py `bounded`), and `adopt` keeps
what a child's summary carried, each case re-checked (`decode_case`: origin within the
child's subtree, every field bounded), adding it to (or writing it over the same case in)
what that child brought before. A city thus holds its own cases and its counties', and its
summary carries both to the province. Why the summary and not records of their own: the
summary already reaches both the city (which reads its counties' summaries for their
catalogues and chain heads) and the province, it is data-minimised by design, and a case
library is small. A summary carries only the newest `CASES_PER_ORIGIN` of each unit, so a
tier keeps what earlier summaries brought: an older case is never dropped there when newer
ones push it out of the summary. That is safe because a published case is final (a review
is never edited nor withdrawn once published): nothing a child stops sending needs to
disappear above. A tier that starts empty (a new province) gets only what the summaries
carry from then on.

Reading needs the pool or the figures (nothing of a published case is personal); writing a
review needs `REVIEW_CASES`, publishing `PUBLISH_CASES` (leaders and admins), and a review
is read, edited or published only by whom may see its subject (else: an unknown id).
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from node.app.policy import (
    PUBLISH_CASES,
    REVIEW_CASES,
    VIEW_METRICS,
    VIEW_POOL,
    Principal,
    can,
    require,
)
from node.app.ports import Clock
from node.domain import cases as dom
from node.domain.cases import CaseKind, Consent, Draft, Party, Review, Subject, SubjectKind
from node.domain.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation
from node.domain.issue import Issue, State
from node.domain.units import queue_of

log = logging.getLogger("zhitong.app.cases")


class CaseUnit(Protocol):
    """One transaction of the case store (node/store/cases.py CaseTransaction)."""

    def review(self, review_id: str) -> Review | None: ...

    def reviews_of(self, subject_kind: str, subject_id: str) -> list[Review]: ...

    def insert_review(self, review: Review) -> None: ...

    def update_review(self, review: Review, *, expected_version: int) -> bool: ...

    def audit(self, review: Review, action: str, *, actor: str, at: Any) -> None: ...

    def put_case(self, form: Mapping[str, Any]) -> None: ...

    def put_cases_via(self, child: str, forms: Sequence[Mapping[str, Any]]) -> None: ...

    def forms_via(self, child: str) -> list[dict[str, Any]]: ...

    def cases(self, *, kind: str | None = None, tag: str | None = None,
              unit: str | None = None, q: str | None = None, limit: int = 50,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]: ...

    def case(self, case_id: str) -> dict[str, Any] | None: ...

    def all_forms(self) -> list[dict[str, Any]]: ...


class CaseStore(Protocol):
    def write(self) -> AbstractContextManager[CaseUnit]: ...

    def read(self) -> AbstractContextManager[CaseUnit]: ...


class IssueView(Protocol):
    @property
    def issue(self) -> Issue: ...


class IssueReads(Protocol):
    """Reading an issue as the principal may (node/app/service.py IssueService.get)."""

    def get(self, principal: Principal, key: str) -> IssueView: ...


class ClusterView(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def common_issue_id(self) -> str: ...

    @property
    def members(self) -> Sequence[tuple[str, str, str]]:
        """(issue id, number, origin) of each member issue."""
        ...


class MemberReads(Protocol):
    def load_issues(self, ids: Sequence[str]) -> Mapping[str, Issue]: ...


class MemberStore(Protocol):
    def read(self) -> AbstractContextManager[MemberReads]: ...


class ClusterReads(Protocol):
    """Reading a 共性问题 cluster (node/app/clusters.py ClusterService.get): it is handled
    as one common issue, so its review is of that issue's handling, under the cluster.
    `store` reads its member issues (their enterprises are scrubbed from the case, whether
    or not the reviewer may see each one)."""

    def get(self, principal: Principal, cluster_id: str) -> ClusterView: ...

    @property
    def store(self) -> MemberStore: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CasePage:
    items: list[dict[str, Any]]
    total: int


def subject_of(issue: Issue) -> Subject:
    """What a review keeps of its issue."""
    common = issue.is_common
    return Subject(kind=SubjectKind.ISSUE, id=issue.id, number=issue.number,
                   title=issue.title, closed=issue.state is State.CLOSED,
                   state=issue.state.value, origin=issue.origin, unit=queue_of(issue),
                   enterprise_name=issue.enterprise.name or None,
                   credit_code=None if common else issue.enterprise.credit_code or None,
                   contact_phone=None if common else issue.enterprise.contact_phone or None)


def _party(issue: Issue) -> Party:
    e = issue.enterprise
    return Party(name=e.name or None, credit_code=e.credit_code or None,
                 contact_phone=e.contact_phone or None)


def _may_read(principal: Principal) -> None:
    if not can(principal, VIEW_METRICS):
        require(principal, VIEW_POOL)


class CaseService:
    def __init__(self, *, store: CaseStore, issues: IssueReads, node: str,
                 clock: Clock, clusters: ClusterReads | None = None) -> None:
        self.store = store
        self.issues = issues
        self.clusters = clusters
        self.node = node
        self.clock = clock

    # ------------------------------------------------------------------ reviews

    def open_review(self, principal: Principal, *, subject_kind: str, subject: str,
                    draft: Draft) -> Review:
        require(principal, REVIEW_CASES)
        kind = SubjectKind(subject_kind)
        if kind is SubjectKind.CLUSTER:
            if self.clusters is None:
                raise RuleViolation("case_subject_unsupported", kind=subject_kind)
            cluster = self.clusters.get(principal, subject)
            issue = self.issues.get(principal, cluster.common_issue_id).issue
            with self.clusters.store.read() as members:
                found = members.load_issues([m[0] for m in cluster.members])
            facts = replace(subject_of(issue), kind=SubjectKind.CLUSTER, id=cluster.id,
                            members=tuple(_party(found[m[0]]) for m in cluster.members
                                          if m[0] in found))
        else:
            issue = self.issues.get(principal, subject).issue
            facts = subject_of(issue)
        if issue.owner != self.node:
            raise Forbidden("replica_read_only", owner=issue.owner)
        now = self.clock.now()
        review = dom.open_review(id=f"{self.node}-{uuid.uuid4().hex}", node=self.node,
                                 subject=facts, draft=draft,
                                 actor=principal.actor.label(), now=now)
        with self.store.write() as unit:
            unit.insert_review(review)
            unit.audit(review, "open", actor=principal.actor.label(), at=now)
        return review

    def get_review(self, principal: Principal, review_id: str) -> Review:
        require(principal, REVIEW_CASES)
        with self.store.read() as unit:
            review = self._load(unit, review_id)
        self._check_visible(principal, review)
        return review

    def _check_visible(self, principal: Principal, review: Review) -> None:
        """Refuse, as for an unknown id, a review whose subject the principal may not see
        (a leader of one unit's queue and another unit's issue): IssueService.get decides,
        on the issue itself or, for a cluster, on its common issue (the subject's number)."""
        subject = review.subject
        key = subject.number if subject.kind is SubjectKind.CLUSTER else subject.id
        try:
            self.issues.get(principal, key)
        except NotFound:
            raise NotFound("case_not_found", case=review.id) from None

    def reviews_of(self, principal: Principal, subject: str,
                   subject_kind: str = SubjectKind.ISSUE.value) -> list[Review]:
        """The reviews of one issue (id or number) or cluster, oldest first."""
        require(principal, REVIEW_CASES)
        if SubjectKind(subject_kind) is SubjectKind.CLUSTER:
            key = subject if self.clusters is None else self.clusters.get(principal, subject).id
        else:
            key = self.issues.get(principal, subject).issue.id
        with self.store.read() as unit:
            return unit.reviews_of(SubjectKind(subject_kind).value, key)

    def edit(self, principal: Principal, review_id: str, draft: Draft, *,
             expected_version: int) -> Review:
        self.get_review(principal, review_id)  # may see it (its subject cannot change)
        now = self.clock.now()
        with self.store.write() as unit:
            review = self._load(unit, review_id)
            changed = dom.edit(review, draft, expected_version=expected_version,
                               actor=principal.actor.label(), now=now)
            self._save(unit, changed, review.version)
            unit.audit(changed, "edit", actor=principal.actor.label(), at=now)
        return changed

    def publish(self, principal: Principal, review_id: str, *, kind: str,
                tags: Sequence[str] | None, consent_note: str | None,
                expected_version: int) -> tuple[Review, dict[str, Any]]:
        """Publish as a case; `consent_note` records that the enterprise agreed to be named
        (how), by the publishing leader, now."""
        require(principal, PUBLISH_CASES)
        with self.store.read() as unit:
            self._check_visible(principal, self._load(unit, review_id))
        now = self.clock.now()
        actor = principal.actor.label()
        consent = (None if consent_note is None
                   else Consent(recorded_by=actor, at=now, note=consent_note))
        with self.store.write() as unit:
            review = self._load(unit, review_id)
            done = dom.publish(review, kind=CaseKind(kind), tags=tags, consent=consent,
                               expected_version=expected_version, actor=actor, now=now)
            form = dom.published_form(done)
            self._save(unit, done, review.version)
            unit.put_case(form)
            unit.audit(done, "publish", actor=actor, at=now)
        return done, form

    @staticmethod
    def _load(unit: CaseUnit, review_id: str) -> Review:
        review = unit.review(review_id)
        if review is None:
            raise NotFound("case_not_found", case=review_id)
        return review

    @staticmethod
    def _save(unit: CaseUnit, review: Review, expected: int) -> None:
        if not unit.update_review(review, expected_version=expected):
            raise Conflict("version_mismatch", current_version=review.version - 1,
                           expected_version=expected)

    # ------------------------------------------------------------------ the library

    def list(self, principal: Principal, *, kind: str | None = None, tag: str | None = None,
             unit: str | None = None, q: str | None = None, limit: int = 50,
             offset: int = 0) -> CasePage:
        """Published cases this node holds (own and its subtree's), newest first."""
        _may_read(principal)
        if kind is not None:
            kind = CaseKind(kind).value
        with self.store.read() as u:
            items, total = u.cases(kind=kind, tag=tag, unit=unit, q=q, limit=limit,
                                   offset=offset)
        return CasePage(items=items, total=total)

    def case(self, principal: Principal, case_id: str) -> dict[str, Any]:
        _may_read(principal)
        with self.store.read() as u:
            found = u.case(case_id)
        if found is None:
            raise NotFound("case_not_found", case=case_id)
        return found

    # ------------------------------------------------------------------ federation

    def published(self) -> builtins.list[dict[str, Any]]:
        """What this node's summary carries: the newest cases of each unit of origin."""
        with self.store.read() as u:
            return [dict(f) for f in dom.bounded(u.all_forms())]

    def adopt(self, child: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Keep the cases `child`'s summary carried (a malformed one is skipped, logged),
        with those it brought before (see the module docstring); how many were new or
        changed."""
        if child == self.node:
            return 0
        found: dict[str, dict[str, Any]] = {}
        for raw in records:
            try:
                form = dom.decode_case(raw, child)
            except DomainError as exc:
                log.warning("a case from %s was skipped: %s", child, exc.params)
                continue
            found[form["id"]] = form
        with self.store.read() as u:
            held = {str(f["id"]): f for f in u.forms_via(child)}
        fresh = [f for k, f in sorted(found.items()) if held.get(k) != f]
        if fresh:
            with self.store.write() as u:
                u.put_cases_via(child, fresh)
        return len(fresh)
