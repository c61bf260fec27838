"""Publications: what a node sets for its subtree, published, relayed and accepted.

How it works. Each kind of publication (`rules`: the rule floors, node/app/floors.py;
`tags`: the tag library's categories) is a `PublicationKind` registered on the node's
`PublicationService`:

* publishing — `prepare_own()` asks every kind for the body of this node's current
  document (`publish(store)`; None: nothing to publish, e.g. a county sets no floors). A
  body that differs from the one last published gets the next version, is signed (the
  `Signer` port: the node's TLS key) and stored as this node's own row; the adapter then
  puts every own latest envelope on the node's publication subject
  (`zt.<code>.pub.<kind>`, federation/publications.py). A crash between the two steps
  only means the adapter publishes the stored envelope at its next start.
* travelling — the parent's publication stream holds its own documents and, sourced
  unchanged, its ancestors'; a child's stream sources its parent's. So a county receives
  the province's floors relayed by its city, signature and all.
* accepting — `receive(data)` decodes the envelope, checks that the issuer is one of this
  node's ancestors and that the signature verifies (the `Verifier` port: the CA this node
  trusts, the certificate's node code equal to the issuer), then compares the version with
  the stored one (node/domain/publications.py `compare`): a newer one is handed to its
  kind's `accept(store, issuer, version, body, now)` (which may refuse it by raising a
  DomainError) and then stored, in one transaction; the stored version again is a
  duplicate (acknowledged, nothing changes); an older one, another body under the stored
  version, a bad signature or an unknown issuer or kind is refused and changes nothing
  (the adapter parks it as a dead letter and counts it in /metrics).

`publish` and `accept` get the `PublicationStore` (to look at stored documents: `with
store.read() as unit: unit.get(issuer, kind)`) and run outside any transaction of ours, so
a kind writes its own tables in a transaction of its own (on SQLite, a write inside ours
would wait for ours forever). `accept` runs before the document is stored: a refusal
stores nothing, and a crash between the kind's commit and ours redelivers the same
version — a kind's `accept` is idempotent. After our commit the kind's
`applied(issuer, version, body)` hook, if it has one, runs (e.g. the rule floors recompute
the node's rules in force).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from node.app.ports import Clock
from node.domain.errors import DomainError, ValidationError
from node.domain.publications import (
    Order,
    Publication,
    SignedPublication,
    canonical_bytes,
    compare,
    decode,
    encode,
)

log = logging.getLogger("zhitong.publications")

__all__ = [
    "PublicationKind",
    "PublicationService",
    "PublicationStore",
    "PublicationUnit",
    "Received",
    "Signer",
    "Stored",
    "Verifier",
]


# --------------------------------------------------------------------------- ports


@dataclass(frozen=True, kw_only=True, slots=True)
class Stored:
    """A stored publication: the document and the envelope it arrived in (bytes as
    received: what the node relays and shows)."""

    doc: Publication
    envelope: bytes
    received_at: datetime


class PublicationUnit(Protocol):
    """One transaction over the stored publications (node/store/publications.py)."""

    def get(self, issuer: str, kind: str) -> Stored | None: ...

    def put(self, doc: Publication, envelope: bytes, *, received_at: datetime) -> None: ...

    def all(self) -> list[Stored]: ...


class PublicationStore(Protocol):
    def write(self) -> AbstractContextManager[PublicationUnit]: ...

    def read(self) -> AbstractContextManager[PublicationUnit]: ...


class Signer(Protocol):
    def sign(self, canonical: bytes) -> tuple[bytes, str]:
        """(signature, certificate PEM) of this node over `canonical`."""
        ...


class Verifier(Protocol):
    def verify(self, signed: SignedPublication, canonical: bytes, now: datetime) -> None:
        """Raise ValidationError("publication_bad_signature") unless the certificate is
        issued by the trusted CA, valid at `now`, names `signed.doc.issuer`, and its key
        signed `canonical`."""
        ...


class PublicationKind(Protocol):
    """One kind of document (see the module docstring)."""

    name: str

    def publish(self, store: PublicationStore) -> dict[str, Any] | None: ...

    def accept(self, store: PublicationStore, issuer: str, version: int,
               body: Mapping[str, Any], now: datetime) -> None: ...


@runtime_checkable
class _AppliedHook(Protocol):
    def applied(self, issuer: str, version: int, body: Mapping[str, Any]) -> None: ...


# --------------------------------------------------------------------------- the service


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True, slots=True)
class Received:
    outcome: Outcome
    issuer: str = ""
    kind: str = ""
    version: int = 0
    error: DomainError | None = None

    @property
    def detail(self) -> str:
        if self.error is None:
            return ""
        params = ",".join(f"{k}={v}" for k, v in sorted(self.error.params.items()))
        return f"{self.error.code}({params})"


class PublicationService:
    def __init__(self, *, store: PublicationStore, node: str, ancestors: Sequence[str],
                 clock: Clock, signer: Signer | None, verifier: Verifier | None) -> None:
        """`signer`/`verifier` None: a federation in insecure development mode — documents
        travel unsigned and the claimed issuer is trusted (as its gRPC is)."""
        self.store = store
        self.node = node
        self.ancestors = tuple(ancestors)
        self.clock = clock
        self.signer = signer
        self.verifier = verifier
        self.kinds: dict[str, PublicationKind] = {}
        self.refused: dict[str, int] = {}  # per error code, since start
        self.accepted = 0
        #: called (any thread) after this node stored a new own version: the adapter
        #: publishes it
        self.on_own_change: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def register(self, kind: PublicationKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"publication kind {kind.name!r} registered twice")
        self.kinds[kind.name] = kind

    # ---- publishing

    def prepare_own(self) -> list[bytes]:
        """Store a new signed version of every kind whose body changed; return the
        envelopes of all of this node's latest documents (to put on its subjects)."""
        changed = False
        with self._lock:
            bodies = {name: kind.publish(self.store) for name, kind in self.kinds.items()}
        # the certificate this node signs with now: a document stored unsigned (federation
        # off) or under an older certificate gets a new version, signed with this one
        cert = self.signer.sign(b"")[1] if self.signer is not None else ""
        with self._lock, self.store.write() as unit:
            for name, body in bodies.items():
                if body is None:
                    continue
                stored = unit.get(self.node, name)
                if (stored is not None and _same_body(stored.doc.body, body)
                        and decode(stored.envelope).cert_pem == cert):
                    continue
                now = self.clock.now()
                doc = Publication(issuer=self.node, kind=name,
                                  version=(stored.doc.version + 1) if stored else 1,
                                  issued_at=now, body=body)
                signature, cert = (self.signer.sign(canonical_bytes(doc))
                                   if self.signer is not None else (b"", ""))
                unit.put(doc, encode(SignedPublication(doc=doc, signature=signature,
                                                       cert_pem=cert)), received_at=now)
                changed = True
                log.info("node %s publishes %s version %d", self.node, name, doc.version)
            own = [s.envelope for s in unit.all() if s.doc.issuer == self.node
                   and s.doc.kind in self.kinds]
        if changed:
            for listener in self.on_own_change:
                listener()
        return own

    # ---- receiving

    def receive(self, data: bytes, *, subject_issuer: str | None = None,
                subject_kind: str | None = None) -> Received:
        """Check and apply one envelope (see the module docstring); never raises for a
        bad document, only for a failing store."""
        try:
            signed = decode(data)
        except DomainError as exc:
            return self._refuse(exc)
        doc = signed.doc
        try:
            if (subject_issuer is not None and subject_issuer != doc.issuer) or (
                    subject_kind is not None and subject_kind != doc.kind):
                raise ValidationError("publication_misaddressed", field="subject",
                                      issuer=doc.issuer,
                                      kind=doc.kind)
            if doc.issuer not in self.ancestors:
                raise ValidationError("publication_issuer_unknown", field="issuer",
                                      issuer=doc.issuer,
                                      kind=doc.kind)
            kind = self.kinds.get(doc.kind)
            if kind is None:
                raise ValidationError("publication_kind_unknown", field="kind", issuer=doc.issuer,
                                      kind=doc.kind)
            canonical = canonical_bytes(doc)
            if self.verifier is not None:
                self.verifier.verify(signed, canonical, self.clock.now())
            with self.store.read() as unit:
                stored = unit.get(doc.issuer, doc.kind)
            if self._order(doc, stored) is Order.SAME:
                return Received(outcome=Outcome.DUPLICATE, issuer=doc.issuer, kind=doc.kind,
                                version=doc.version)
            now = self.clock.now()
            kind.accept(self.store, doc.issuer, doc.version, doc.body, now)
            with self.store.write() as unit:  # checked again: the one place that stores
                if self._order(doc, unit.get(doc.issuer, doc.kind)) is Order.SAME:
                    return Received(outcome=Outcome.DUPLICATE, issuer=doc.issuer,
                                    kind=doc.kind, version=doc.version)
                unit.put(doc, data, received_at=now)
        except DomainError as exc:
            return self._refuse(exc, doc)
        self.accepted += 1
        log.info("node %s accepted %s version %d of %s", self.node, doc.kind, doc.version,
                 doc.issuer)
        if isinstance(kind, _AppliedHook):
            kind.applied(doc.issuer, doc.version, doc.body)
        return Received(outcome=Outcome.ACCEPTED, issuer=doc.issuer, kind=doc.kind,
                        version=doc.version)

    @staticmethod
    def _order(doc: Publication, stored: Stored | None) -> Order:
        """NEW or SAME; ValidationError for an older document or another one under the
        stored version."""
        order = compare(doc, stored.doc if stored else None)
        if order in (Order.NEW, Order.SAME):
            return order
        assert stored is not None
        raise ValidationError(
            "publication_older" if order is Order.OLDER else "publication_version_conflict",
            field="version", issuer=doc.issuer, kind=doc.kind, version=doc.version,
            stored=stored.doc.version)

    def _refuse(self, exc: DomainError, doc: Publication | None = None) -> Received:
        with self._lock:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
        result = Received(outcome=Outcome.REFUSED, issuer=doc.issuer if doc else "",
                          kind=doc.kind if doc else "", version=doc.version if doc else 0,
                          error=exc)
        log.warning("node %s refused a publication: %s", self.node, result.detail)
        return result

    # ---- reading

    def latest(self, kind: str) -> list[Stored]:
        """Every stored document of `kind` (own and ancestors'), nearest issuer first."""
        order = {code: i for i, code in enumerate((self.node, *self.ancestors))}
        with self.store.read() as unit:
            rows = [s for s in unit.all() if s.doc.kind == kind]
        return sorted(rows, key=lambda s: order.get(s.doc.issuer, len(order)))

    def stored(self, issuer: str, kind: str) -> Stored | None:
        with self.store.read() as unit:
            return unit.get(issuer, kind)

    def documents(self) -> Iterator[Stored]:
        with self.store.read() as unit:
            yield from unit.all()


def _same_body(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    probe = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    return canonical_bytes(Publication(issuer="000000", kind="x", version=1, issued_at=probe,
                                       body=a)) == canonical_bytes(
        Publication(issuer="000000", kind="x", version=1, issued_at=probe, body=b))
