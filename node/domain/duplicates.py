"""Likely duplicates: a pure text similarity between two issues (issue 14, 并单).

Jaccard similarity over the same terms the full-text index uses (node.domain.search:
CJK character bigrams, alphanumeric runs), with single CJK characters dropped so short
common characters do not inflate the score. Pure: no I/O.
"""

from __future__ import annotations

from node.domain.search import document_terms


def shingles(text: str) -> frozenset[str]:
    """The comparable terms of `text`: bigrams and alphanumeric runs (no lone CJK chars)."""
    terms = document_terms(text)
    return frozenset(t for t in terms if len(t) > 1 or t.isascii())


def jaccard(a: str, b: str) -> float:
    """|A ∩ B| / |A ∪ B| of the shingles of `a` and `b`; 0.0 when both are empty."""
    sa, sb = shingles(a), shingles(b)
    union = sa | sb
    if not union:
        return 0.0
    return len(sa & sb) / len(union)
