"""The node subjects on NATS, built and parsed in one place.

Every subject of a node's namespace starts with `zt.<writer>` (the node whose permissions
allow it to publish there) and then names its kind:

* `zt.<writer>.ev.<origin>.<issue id>` — one event of `writer`'s log, for an issue minted
  by `origin` (whose subtree the status flows back down to);
* `zt.<writer>.sum` — `writer`'s latest subtree summary;
* `zt.<writer>.pub.<kind>` — `writer`'s latest publication of a kind (rule floors, tag
  categories: node/app/publications.py), which flows down to its subtree.

A `Subject` with fields left out is a filter: no kind is `zt.<writer>.>` (everything of a
node), an event subject without an issue id is `zt.<writer>.ev.<origin>.>`, without an
origin either `zt.<writer>.ev.>`. `parse` takes only whole subjects (no wildcards); the
tokens after the origin are the issue id, so a subject with a dot in its id (which only a
forger publishes) still parses to its writer, and the replicator's writer check holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROOT = "zt"
REST = ">"  # NATS: every remaining token


class SubjectError(ValueError):
    """Not a subject of the `zt.` namespace."""


class SubjectKind(StrEnum):
    EVENT = "ev"
    SUMMARY = "sum"
    PUBLICATION = "pub"


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    writer: str
    kind: SubjectKind | None = None  # None: every subject of `writer`
    origin: str | None = None  # events only; None: every origin
    issue_id: str | None = None  # events only; None: every issue
    name: str | None = None  # publications only: the kind; None: every kind

    @classmethod
    def event(cls, writer: str, origin: str, issue_id: str) -> Subject:
        return cls(writer=writer, kind=SubjectKind.EVENT, origin=origin, issue_id=issue_id)

    @classmethod
    def events(cls, writer: str, origin: str | None = None) -> Subject:
        """The filter of `writer`'s events (of issues minted by `origin`, if given)."""
        return cls(writer=writer, kind=SubjectKind.EVENT, origin=origin)

    @classmethod
    def summary(cls, writer: str) -> Subject:
        return cls(writer=writer, kind=SubjectKind.SUMMARY)

    @classmethod
    def publication(cls, writer: str, name: str | None = None) -> Subject:
        """`writer`'s publication of kind `name` (None: the filter of every kind)."""
        return cls(writer=writer, kind=SubjectKind.PUBLICATION, name=name)

    @classmethod
    def everything(cls, writer: str) -> Subject:
        return cls(writer=writer)

    def build(self) -> str:
        if self.kind is None:
            return f"{ROOT}.{self.writer}.{REST}"
        if self.kind is SubjectKind.SUMMARY:
            return f"{ROOT}.{self.writer}.{self.kind}"
        if self.kind is SubjectKind.PUBLICATION:
            return f"{ROOT}.{self.writer}.{self.kind}.{self.name or REST}"
        if self.origin is None:
            return f"{ROOT}.{self.writer}.{self.kind}.{REST}"
        return f"{ROOT}.{self.writer}.{self.kind}.{self.origin}.{self.issue_id or REST}"

    @classmethod
    def parse(cls, text: str) -> Subject:
        """The subject `text` names; SubjectError if it is not a whole subject of ours."""
        if {"*", REST} & set(text.split(".")):
            raise SubjectError(f"a wildcard, not a subject: {text[:200]!r}")
        parts = text.split(".", 4)
        if len(parts) < 3 or parts[0] != ROOT or not parts[1]:
            raise SubjectError(f"not a zt subject: {text[:200]!r}")
        writer, token = parts[1], parts[2]
        if token == SubjectKind.SUMMARY and len(parts) == 3:
            return cls.summary(writer)
        if token == SubjectKind.PUBLICATION and len(parts) == 4 and parts[3]:
            return cls.publication(writer, parts[3])
        if token == SubjectKind.EVENT and len(parts) == 5 and parts[3] and parts[4]:
            return cls.event(writer, parts[3], parts[4])
        raise SubjectError(f"not a zt subject: {text[:200]!r}")
