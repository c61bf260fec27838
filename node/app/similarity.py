"""Duplicates across cities without the texts (issue 14): keyed signatures in summaries.

A city holds its counties' texts and finds their duplicates itself (node/app/duplicates.py,
clusters.py); the province holds no county text. So a city's summary carries, for its
subtree's newest open issues, a keyed MinHash signature of each text (node/domain/
duplicates.py: the federation's key, 16 bits a position) with the issue's number and unit
of origin, and nothing else of it. The province buckets the signatures of all its cities
by LSH band and proposes the pairs of two different cities whose signatures agree enough
(`cross_city`); the owners confirm from the texts they hold.

`SignatureFeed` is the city's side: the rollup asks it for the entries at each re-scan; a
signature is computed once per issue text (about a millisecond each) and kept while the
issue stays among the newest open ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from node.app.policy import VIEW_POOL, Principal, require
from node.domain.duplicates import compact, cross_pairs, expand, has_shingles, minhash
from node.domain.summary import SIGNATURES_MAX, Summary

#: the least estimated similarity of a proposed pair: rewordings of one complaint share
#: about a quarter of their terms (node/app/duplicates.py THRESHOLD = 0.2 on exact sets),
#: unrelated complaints under 0.1; the estimate's standard error at 64 positions is ≈ 0.05
#: there, so 0.15 keeps a rewording whose estimate came out low
MIN_SIMILARITY = 0.15
MAX_PROPOSALS = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenText:
    id: str
    version: int
    number: str
    origin: str
    text: str  # title and content


class OpenTextReads(Protocol):
    def open_texts(self, limit: int) -> list[OpenText]:
        """The newest open issues this node holds (own and replicas), newest first."""
        ...


class OpenTextStore(Protocol):
    def read(self) -> AbstractContextManager[OpenTextReads]: ...


def federation_key(configured: str | None, ca_file: Path | None) -> bytes | None:
    """The signatures' key: the configured one, else derived from the federation's CA
    certificate (which every node of one federation holds, and nobody outside is given);
    None — no signatures — when neither exists (an insecure development node)."""
    if configured:
        return hmac.new(configured.encode(), b"zhitong:similarity", hashlib.sha256).digest()
    if ca_file is not None and ca_file.is_file():
        return hmac.new(ca_file.read_bytes(), b"zhitong:similarity", hashlib.sha256).digest()
    return None


class SignatureFeed:
    def __init__(self, store: OpenTextStore, key: bytes, *,
                 limit: int = SIGNATURES_MAX) -> None:
        if not key:
            raise ValueError("signatures need a key")
        self.store = store
        self.key = key
        self.limit = min(limit, SIGNATURES_MAX)
        self._cache: dict[str, tuple[str, str | None]] = {}  # id → (text, signature)

    def published(self) -> list[dict[str, str]]:
        """The entries of the summary: {"number", "node", "sig"}, newest first."""
        with self.store.read() as reads:
            rows = reads.open_texts(self.limit)
        cache: dict[str, tuple[str, str | None]] = {}
        out = []
        for row in rows:
            known = self._cache.get(row.id)
            if known is not None and known[0] == row.text:
                sig = known[1]
            else:
                sig = (compact(minhash(row.text, self.key)) if has_shingles(row.text)
                       else None)
            cache[row.id] = (row.text, sig)
            if sig is not None:
                out.append({"number": row.number, "node": row.origin, "sig": sig})
        self._cache = cache  # only the issues still listed
        return out


def cross_city(children: Mapping[str, Summary], *, min_similarity: float = MIN_SIMILARITY,
               limit: int = MAX_PROPOSALS) -> list[dict[str, Any]]:
    """The province's proposals: pairs of issues of two different cities whose signatures
    agree (estimated similarity ≥ `min_similarity`), best first, at most `limit`."""
    entries: dict[str, tuple[str, tuple[int, ...]]] = {}
    where: dict[str, dict[str, str]] = {}
    for city, summary in sorted(children.items()):
        for entry in summary.signatures:
            name = f"{city}/{entry['number']}"
            entries[name] = (city, expand(entry["sig"]))
            where[name] = {"city": city, "node": entry["node"], "number": entry["number"]}
    return [{"a": where[a], "b": where[b], "similarity": round(s, 3)}
            for a, b, s in cross_pairs(entries, min_similarity=min_similarity)[:limit]]


#: the last pairing and what it was computed from: pairing 10 cities × 1,000 signatures
#: costs ~3 s of CPU on a store of templated texts (bench/similarity.py), so it is redone
#: only when some city's signatures changed, not on every cockpit load
_last: tuple[int, list[dict[str, Any]]] | None = None


def _fingerprint(children: Mapping[str, Summary]) -> int:
    return hash(tuple((city, tuple(e["number"] + e["sig"] for e in s.signatures))
                      for city, s in sorted(children.items())))


def proposals(principal: Principal, children: Mapping[str, Summary]) -> list[dict[str, Any]]:
    """`cross_city` for a member of staff who may see the pool (GET /clusters/cross-city),
    computed again only when the cities' signatures changed."""
    global _last
    require(principal, VIEW_POOL)
    key = _fingerprint(children)
    last = _last
    if last is not None and last[0] == key:
        return last[1]
    found = cross_city(children)
    _last = (key, found)
    return found
