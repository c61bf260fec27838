"""Likely duplicates: a pure text similarity between two issues (issue 14, 并单).

Jaccard similarity over the same terms the full-text index uses (node.domain.search:
CJK character bigrams, alphanumeric runs), with single CJK characters dropped so short
common characters do not inflate the score; and keyed MinHash signatures of the same
terms, for tiers that must not hold the texts (below). Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import operator
from collections.abc import Mapping

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


# --------------------------------------------------------------------------- keyed MinHash
#
# The province holds no county texts, so it finds candidate duplicates across cities from
# signatures that travel in the summaries instead (issue 14): a MinHash signature of the
# shingles under the federation's key. How it works: each shingle is hashed once with
# keyed BLAKE2b (64 bits, the key derived from the federation key by HMAC-SHA256), and
# each of the `size` positions applies its own permutation x ↦ (a·x + b) mod p of that hash
# (p = 2^61 − 1; a and b drawn from HMAC-SHA256 of the key and the position) and keeps the
# minimum over the shingles. The share of equal positions of two signatures estimates the
# Jaccard similarity of the two shingle sets (its standard error is √(J(1−J)/size)).
# Without the key nobody can compute a signature, so a signature cannot be checked against
# guessed texts; a signature holds no shingle. `bands` cuts a signature into LSH bands: two
# texts with similarity J share some band with probability 1 − (1 − J^rows)^(size/rows),
# which lets the province bucket signatures instead of comparing every pair.

MINHASH_SIZE = 64
MINHASH_ROWS = 2  # rows per band: J = 0.25 meets in some band with p ≈ 0.87, J = 0.05 ≈ 0.08
_PRIME = (1 << 61) - 1


@functools.lru_cache(maxsize=8)
def _permutations(key: bytes, size: int) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """The shingle hash's key and the positions' (a, b), derived from `key` once (a
    city signs hundreds of texts per summary with the same key)."""
    hash_key = hmac.new(key, b"minhash:shingle", hashlib.sha256).digest()[:32]
    out = []
    for i in range(size):
        digest = hmac.new(key, f"minhash:{i}".encode(), hashlib.sha256).digest()
        a = int.from_bytes(digest[:8], "big") % (_PRIME - 1) + 1
        b = int.from_bytes(digest[8:16], "big") % _PRIME
        out.append((a, b))
    return hash_key, tuple(out)


def minhash(text: str, key: bytes, *, size: int = MINHASH_SIZE) -> tuple[int, ...]:
    """The keyed MinHash signature of `text`'s shingles (empty text: all positions at p)."""
    if not key:
        raise ValueError("a keyed signature needs a key")
    hash_key, permutations = _permutations(key, size)
    hashes = [int.from_bytes(hashlib.blake2b(s.encode(), key=hash_key, digest_size=8)
                             .digest(), "big") for s in sorted(shingles(text))]
    if not hashes:
        return (_PRIME,) * size
    # lists, not generators: the 64 × shingles products are the whole cost of a signature
    return tuple([min([(a * x + b) % _PRIME for x in hashes]) for a, b in permutations])


def signature_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """The share of equal positions: an estimate of the texts' Jaccard similarity."""
    if len(a) != len(b) or not a:
        raise ValueError("signatures of different sizes")
    equal: int = sum(map(operator.eq, a, b))  # the hot loop of the province's pairing
    if equal and _PRIME in a:  # an empty text's positions agree with nothing
        equal = sum(1 for x, y in zip(a, b, strict=True) if x == y and x != _PRIME)
    return equal / len(a)


def bands(signature: tuple[int, ...], *, rows: int = MINHASH_ROWS) -> tuple[str, ...]:
    """The signature's LSH bands as short keys (`<band>:<hex>`): equal keys, a candidate."""
    out = []
    for start in range(0, len(signature) - rows + 1, rows):
        part = signature[start:start + rows]
        if all(x == _PRIME for x in part):
            continue  # an empty text's band meets every empty text
        digest = hashlib.blake2b(",".join(map(str, part)).encode(), digest_size=8).hexdigest()
        out.append(f"{start // rows}:{digest}")
    return tuple(out)


#: a band shared by more signatures than this says nothing (boilerplate every complaint
#: shares, or a template many complaints are written from): it is skipped, so the pairs
#: stay bounded by buckets × MAX_BUCKET² whatever the texts (10 cities × 1,000 issues of
#: the generated store's templates: 52,000 pairs ≥ 0.3 at 8, 131,000 at 16)
MAX_BUCKET = 8


def candidate_pairs(signatures: Mapping[str, tuple[int, ...]], *,
                    rows: int = MINHASH_ROWS, min_similarity: float = 0.0,
                    max_bucket: int = MAX_BUCKET) -> list[tuple[str, str, float]]:
    """(a, b, estimated similarity) of the signatures sharing a band held by at most
    `max_bucket` of them, a < b, best first."""
    buckets: dict[tuple[int, ...], list[str]] = {}
    for name in sorted(signatures):
        sig = signatures[name]
        for start in range(0, len(sig) - rows + 1, rows):
            part = sig[start:start + rows]
            if all(x == _PRIME for x in part):
                continue  # an empty text's band meets every empty text
            buckets.setdefault((start, *part), []).append(name)
    pairs: set[tuple[str, str]] = set()
    for members in buckets.values():
        if len(members) > max_bucket:
            continue
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                pairs.add((a, b))
    scored = [(a, b, signature_similarity(signatures[a], signatures[b])) for a, b in pairs]
    return sorted((p for p in scored if p[2] >= min_similarity), key=lambda p: (-p[2], p[:2]))


# ------------------------------------------------------------------ signatures in summaries
#
# What a city's summary carries of its subtree's open issues (issue 14): per issue its
# number, unit of origin and signature, the signature cut to the low 16 bits of each
# position (b-bit MinHash: two unequal positions agree by chance with p = 2^-16, which
# shifts the estimate by less than 0.0001) and packed as base64 — 172 characters instead
# of ~1,200 — so a thousand issues take ~230 KB of the summary's 900 KiB.

SIGNATURE_BITS = 16
SIGNATURE_CHARS = 4 * ((MINHASH_SIZE * SIGNATURE_BITS // 8 + 2) // 3)  # base64 length


def has_shingles(text: str) -> bool:
    """Whether `text` has anything to compare (an empty one meets every empty one)."""
    return bool(shingles(text))


def compact(signature: tuple[int, ...]) -> str:
    """The signature as a summary carries it: the low 16 bits of each position, base64."""
    import base64

    mask = (1 << SIGNATURE_BITS) - 1
    raw = b"".join((x & mask).to_bytes(SIGNATURE_BITS // 8, "big") for x in signature)
    return base64.b64encode(raw).decode("ascii")


def expand(packed: str) -> tuple[int, ...]:
    """`compact`'s inverse; anything else is a ValueError (a child's summary is input)."""
    import base64
    import binascii

    if not isinstance(packed, str) or len(packed) != SIGNATURE_CHARS:
        raise ValueError(f"a signature is {SIGNATURE_CHARS} base64 characters")
    try:
        raw = base64.b64decode(packed.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("a signature must be base64") from exc
    width = SIGNATURE_BITS // 8
    if len(raw) != MINHASH_SIZE * width:
        raise ValueError("a signature of the wrong size")
    return tuple(int.from_bytes(raw[i:i + width], "big") for i in range(0, len(raw), width))


def cross_pairs(entries: Mapping[str, tuple[str, tuple[int, ...]]], *,
                min_similarity: float = 0.3) -> list[tuple[str, str, float]]:
    """Candidate pairs among `entries` (name → (group, signature)) of different groups —
    the province's cross-city duplicates: same-city pairs are the city's own to find, from
    the texts it holds. (a, b, estimated similarity), best first."""
    signatures = {name: sig for name, (_, sig) in entries.items()}
    return [(a, b, s) for a, b, s in candidate_pairs(signatures, min_similarity=min_similarity)
            if entries[a][0] != entries[b][0]]
