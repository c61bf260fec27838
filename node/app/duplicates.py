"""Likely duplicates (疑似重复): at intake and at triage, the issues that say the same.

How it works. Two cheap reads give the candidates: the full-text index asked for any of
the text's own terms (the top `CANDIDATES` by the index's ranking: node/store/duplicates.py)
and the same enterprise's latest issues. Each candidate is then scored exactly with the
Jaccard similarity of the two texts' terms (title and content, node/domain/duplicates.py)
and kept above a threshold: `THRESHOLD` for any issue the node holds (its own and, at a
city, its counties' replicas), the lower `SAME_ENTERPRISE_THRESHOLD` for the same
enterprise (one enterprise raising the same complaint again words it differently). The
best come first, the same enterprise's ahead on a tie; each says whether it can be merged
here (`mergeable`: this node owns both and both are open, node/domain/merging.py).

The thresholds. Bigram Jaccard of two unrelated issue texts stays under 0.1 (only common
pairs such as 我公司, 申请 or 厂区 are shared: 0.00 to 0.06 in tests/unit/test_duplicates.py);
the same complaint reworded by another writer keeps about a quarter of its pairs (0.24
and 0.28 there). 0.2 keeps such rewordings without listing every issue of the same
topic; for the same enterprise 0.12 is enough, since sharing the enterprise is itself a
strong hint (a repeat complaint is often shorter, which lowers the ratio), and it still
stays above what two unrelated complaints of one enterprise share.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from node.app.clusters import ClusterService
from node.app.policy import VIEW_POOL, Principal, check_can_view, not_found, require
from node.domain.duplicates import jaccard, shingles
from node.domain.errors import NotFound
from node.domain.issue import Issue
from node.domain.merging import MERGEABLE, is_merged_follower
from node.domain.search import document_terms
from node.domain.validation import MAX_CONTENT, MAX_TITLE, check_text, validate_credit_code

THRESHOLD = 0.2
SAME_ENTERPRISE_THRESHOLD = 0.12
#: ids asked of the index, and of the same enterprise's issues: the few scored exactly
CANDIDATES = 50
#: terms of the text asked of the index (the title's first, then the content's): the OR
#: query's cost grows with the issues matching any term, so few and the most telling — 12
#: terms cost 60 ms where 32 cost 320 ms on a 20,000-issue store of a narrow vocabulary
#: (bench/duplicates.py); the Jaccard score then reads the whole texts
MAX_QUERY_TERMS = 12
MAX_SUGGESTIONS = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    issue: Issue
    score: float
    same_enterprise: bool
    mergeable: bool


class DuplicateReads(Protocol):
    def similar(self, terms: Sequence[str], limit: int) -> list[str]:
        """Ids of the issues holding any of `terms` in title or content, best first."""
        ...

    def same_enterprise(self, credit_code: str, limit: int) -> list[str]:
        """Ids of the enterprise's latest issues."""
        ...

    def load_issue(self, key: str) -> Issue | None: ...
    def load_issues(self, ids: Sequence[str]) -> dict[str, Issue]: ...


class DuplicateStore(Protocol):
    def read(self) -> AbstractContextManager[DuplicateReads]: ...


def text_of(title: str, content: str) -> str:
    return f"{title}\n{content}"


def query_terms_of(title: str, content: str) -> list[str]:
    """The distinct comparable terms asked of the index: the title's, then the content's."""
    wanted = shingles(text_of(title, content))
    out: dict[str, None] = {}
    for term in document_terms(title) + document_terms(content):
        if term in wanted:
            out[term] = None
            if len(out) >= MAX_QUERY_TERMS:
                break
    return list(out)


def _mergeable(issue: Issue, node: str) -> bool:
    return issue.owner == node and issue.state in MERGEABLE


class DuplicateService:
    def __init__(self, *, store: DuplicateStore, node: str,
                 clusters: ClusterService | None = None) -> None:
        self.store = store
        self.node = node
        #: 共性问题 clusters of the counties' issues (node/app/clusters.py)
        self.clusters = clusters

    def for_issue(self, principal: Principal, key: str) -> list[Candidate]:
        """The likely duplicates of an issue held here (triage, the issue page)."""
        require(principal, VIEW_POOL)
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            return self._candidates(unit, principal, issue.title, issue.content,
                                    issue.enterprise.credit_code, source=issue)

    def for_text(self, principal: Principal, *, title: str, content: str,
                 credit_code: str | None = None) -> list[Candidate]:
        """The likely duplicates of an issue about to be registered (intake)."""
        require(principal, VIEW_POOL)
        title = check_text("title", title, max_len=MAX_TITLE, required=False) or ""
        content = check_text("content", content, max_len=MAX_CONTENT, required=False) or ""
        code = validate_credit_code(credit_code) if credit_code else ""
        with self.store.read() as unit:
            return self._candidates(unit, principal, title, content, code, source=None)

    def _candidates(self, unit: DuplicateReads, principal: Principal, title: str,
                    content: str, credit_code: str, *, source: Issue | None
                    ) -> list[Candidate]:
        ids = dict.fromkeys(unit.similar(query_terms_of(title, content), CANDIDATES))
        ids.update(dict.fromkeys(unit.same_enterprise(credit_code, CANDIDATES)))
        if source is not None:
            ids.pop(source.id, None)
        found = unit.load_issues(list(ids))
        text = text_of(title, content)
        out: list[Candidate] = []
        for issue_id in ids:
            other = found.get(issue_id)
            if other is None or is_merged_follower(other):
                continue  # a follower is answered with its master: the master is listed
            try:
                check_can_view(principal, other)
            except NotFound:
                continue
            same = bool(credit_code) and other.enterprise.credit_code == credit_code
            score = jaccard(text, text_of(other.title, other.content))
            if score < (SAME_ENTERPRISE_THRESHOLD if same else THRESHOLD):
                continue
            mergeable = (_mergeable(other, self.node)
                         and (source is None or _mergeable(source, self.node)))
            out.append(Candidate(issue=other, score=round(score, 4), same_enterprise=same,
                                 mergeable=mergeable))
        out.sort(key=lambda c: (-c.score, not c.same_enterprise, c.issue.number))
        return out[:MAX_SUGGESTIONS]
