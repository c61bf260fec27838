"""Search terms for Chinese and mixed text: one tokenizer for documents and queries.

How it works. Text is normalised one character at a time (NFKC, then lower case: full-width
ＩＳＯ９００１ reads as iso9001) and cut into runs: a run of CJK ideographs (and kana,
hangul), or a run of other letters and digits (ASCII words, numbers, Latin, ...); anything
else separates runs. A document emits, for a CJK run, every character (unigram) and every
pair of neighbours (bigram); for an alphanumeric run, the whole run and, where letters and
digits alternate, the rest of it from each piece on (iso9001 → iso9001, 9001; 5g基站 → 5g, g,
基, 站, 基站): with prefix matching, a query finds a run from any of its pieces on.
A query emits, for a CJK run, its bigrams (a single character: the character itself) and,
for an alphanumeric run, the whole run as a prefix term. A query matches a document that
holds every query term (a prefix term: some document term that starts with it).

Why bigrams and not a dictionary (jieba): a bigram index has no vocabulary to miss — a
one-character query (税) is a unigram, a two-character word (用电) is one bigram, a new
enterprise or policy name is found from the first day, and a document and a query are cut
the same way whatever their context (a segmenter may cut the same word differently in a
title and in a query, and then never find it). It costs some precision (the bigrams of a
long query need not be adjacent in a hit) and index size; ranking puts the closer hits
first. jieba would also add ~1 s of import and tens of MiB per node process.

The guarantee (tests/unit/test_search.py, with hypothesis): every term of the query made
of a piece of a document is matched by that document's terms, as long as the piece does not
start inside an alphanumeric piece (a prefix term covers a piece cut at its end).

`snippet` finds where a query's terms occur in an issue's fields and returns a short window
of the best field with the matched spans marked, for the pool's hit list. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from node.domain.issue import Issue

#: Raised when the terms a document or query is cut into change: the index is rebuilt.
TOKENIZER_VERSION = "2"
#: Longest alphanumeric term: the rest of a longer run is not indexed (nor asked for).
MAX_TERM = 64

#: The field groups of the index, in order, with their ranking weights (a hit in the title or
#: number counts more than one in the content).
HEAD, META, BODY, REPLY = "head", "meta", "body", "reply"
GROUPS: tuple[str, ...] = (HEAD, META, BODY, REPLY)
WEIGHTS: dict[str, float] = {HEAD: 4.0, META: 2.0, BODY: 1.0, REPLY: 1.0}

#: An issue's searchable fields, in the order a snippet prefers them, with their group.
FIELDS: tuple[tuple[str, str], ...] = (
    ("title", HEAD), ("number", HEAD), ("content", BODY), ("reply", REPLY),
    ("rejection_reason", REPLY), ("tags", META), ("enterprise", META), ("board", META),
    ("department", META),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Term:
    """A query term; `prefix`: matched by any document term that starts with it."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Snippet:
    """A window of one field of a hit; `marks` are (start, end) spans of `text` to mark."""

    field: str
    text: str
    marks: tuple[tuple[int, int], ...]


#: The CJK characters (ideographs, kana, hangul), as a regular-expression class body.
_CJK = ("\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U000323af\uf900-\ufaff"
        "\u3040-\u30ff\uac00-\ud7af\u3007")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_RUN = re.compile(f"([{_CJK}]+)|[^ {_CJK}]+")
_PIECE = re.compile(r"\d+|\D+")


def _is_cjk(ch: str) -> bool:
    return _CJK_CHAR.fullmatch(ch) is not None


def _norm_char(ch: str) -> str:
    """One character, normalised; " " when it separates runs. Always 1 character, so that
    positions in the normalised text are positions in the original."""
    n = unicodedata.normalize("NFKC", ch).lower()
    if len(n) != 1:
        n = ch.lower() if len(ch.lower()) == 1 else ch
    if _is_cjk(n) or n.isalnum():
        return n
    return " "


class _NormTable(dict[int, str]):
    """str.translate's table: each character's `_norm_char`, computed once (the lookups of
    known characters stay in C: this is most of the tokenizer's time)."""

    def __missing__(self, code: int) -> str:
        n = self[code] = _norm_char(chr(code))
        return n


_TABLE = _NormTable()


def normalise(text: str) -> str:
    """`text` with one character per original character: separators become spaces."""
    return text.translate(_TABLE)


def runs(text: str) -> Iterator[tuple[int, str, bool]]:
    """(start, run, is_cjk) of the runs of `text` (positions are those of `text`); an
    alphanumeric run is cut at MAX_TERM characters (an index term has a size limit)."""
    for m in _RUN.finditer(normalise(text)):
        cjk = m.group(1) is not None
        run = m.group()
        yield m.start(), run if cjk else run[:MAX_TERM], cjk


def _piece_starts(run: str) -> list[int]:
    """Where the letter and digit pieces of an alphanumeric run start (iso9001 → 0, 3)."""
    return [m.start() for m in _PIECE.finditer(run)]


def document_terms(text: str) -> list[str]:
    """The terms a document text is indexed under (in order, repeats kept: the ranking
    counts them)."""
    out: list[str] = []
    for _, run, cjk in runs(text):
        if cjk:
            out.extend(run)
            out.extend(map(str.__add__, run, run[1:]))
        else:
            out.extend(run[k:] for k in _piece_starts(run))
    return out


def query_terms(text: str) -> tuple[Term, ...]:
    """The terms a query asks for (each once, in order); empty when it has no word."""
    out: dict[Term, None] = {}
    for _, run, cjk in runs(text):
        if cjk:
            if len(run) == 1:
                out[Term(text=run)] = None
            for k in range(len(run) - 1):
                out[Term(text=run[k:k + 2])] = None
        else:
            out[Term(text=run, prefix=True)] = None
    return tuple(out)


def matches(document: Sequence[str], terms: Sequence[Term]) -> bool:
    """Whether a document with these terms holds every query term (what the index does)."""
    held = set(document)
    return all(t.text in held if not t.prefix else any(d.startswith(t.text) for d in held)
               for t in terms)


def field_texts(issue: Issue) -> tuple[tuple[str, str], ...]:
    """(field, text) of an issue's searchable fields (empty ones left out)."""
    return fields_of(title=issue.title, number=issue.number, content=issue.content,
                     reply=issue.reply, rejection_reason=issue.rejection_reason,
                     tags=issue.tags, enterprise=issue.enterprise.name, board=issue.board,
                     department=issue.department)


def fields_of(*, title: str, number: str, content: str, reply: str | None,
              rejection_reason: str | None, tags: Sequence[str], enterprise: str,
              board: str | None, department: str | None) -> tuple[tuple[str, str], ...]:
    """`field_texts` from the values themselves (a stored row, a migration)."""
    values = {
        "title": title, "number": number, "content": content, "reply": reply or "",
        "rejection_reason": rejection_reason or "", "tags": " ".join(tags),
        "enterprise": enterprise, "board": board or "", "department": department or "",
    }
    return tuple((name, values[name]) for name, _ in FIELDS if values[name])


def group_texts(fields: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The indexed text of each field group, as space-separated terms, from the (field,
    text) pairs of `field_texts`."""
    group_of = dict(FIELDS)
    parts: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name, text in fields:
        parts[group_of[name]].extend(document_terms(text))
    return {g: " ".join(parts[g]) for g in GROUPS}


def _spans(text: str, terms: Sequence[Term]) -> list[tuple[int, int]]:
    """Where the terms occur in `text` (merged, in order)."""
    found: list[tuple[int, int]] = []
    for start, run, cjk in runs(text):
        for t in terms:
            if cjk:
                at = run.find(t.text)
                while at >= 0:
                    found.append((start + at, start + at + len(t.text)))
                    at = run.find(t.text, at + 1)
            elif t.prefix:
                for at in _piece_starts(run):
                    if run.startswith(t.text, at):
                        found.append((start + at, start + at + len(t.text)))
                        break
    found.sort()
    merged: list[tuple[int, int]] = []
    for s, e in found:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def snippet(issue: Issue, query: str, *, width: int = 80) -> Snippet | None:
    """The field of `issue` where most of the query's terms occur (the first of FIELDS on a
    tie), cut to about `width` characters around its first match, with the matches marked;
    None when no term occurs in any field."""
    terms = query_terms(query)
    best: tuple[int, str, str, list[tuple[int, int]]] | None = None
    for name, text in field_texts(issue):
        spans = _spans(text, terms)
        if not spans:
            continue
        covered = sum(1 for t in terms if _spans(text, (t,)))
        if best is None or covered > best[0]:
            best = (covered, name, text, spans)
    if best is None:
        return None
    _, name, text, spans = best
    lo = max(0, spans[0][0] - width // 4)
    hi = min(len(text), lo + width)
    lo = max(0, min(lo, hi - width))
    head, tail = ("…" if lo > 0 else ""), ("…" if hi < len(text) else "")
    window = head + text[lo:hi] + tail
    shift = len(head) - lo
    marks = tuple((max(s, lo) + shift, min(e, hi) + shift) for s, e in spans
                  if s < hi and e > lo)
    return Snippet(field=name, text=window, marks=marks)
