"""Publications: versioned documents a node sets for its whole subtree (pure).

A publication is what travels *down* the federation: a province's rule floors, its tag
categories. It names its issuer (a node code), its kind (`rules`, `tags`, ...), a version
(1, 2, ... per issuer and kind, strictly increasing) and a JSON body. The issuer signs the
document's *canonical bytes* (below) with its node key; the envelope carries the signature
and the issuer's certificate, so any node under it — a grandchild that receives the
document relayed unchanged by its parent — checks it against the CA it trusts and the
node code the certificate names, without asking anybody.

Canonical bytes: the document as JSON with sorted keys, no insignificant whitespace,
UTF-8 (non-ASCII kept as is), the instant as ISO 8601 in UTC. Two nodes that agree on the
document agree on the bytes, whatever order a dict was built in.

Version order (`compare`): a receiver keeps the newest version per (issuer, kind); a
document with the stored version is a duplicate (the same bytes: a redelivery, nothing to
do; other bytes under the same version: a forgery or a bug, refused), an older one is
refused. Nothing here does I/O or reads the clock; the signature check is an adapter's
(federation/publications.py).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn

from node.domain.errors import ValidationError

__all__ = [
    "KIND_PATTERN",
    "MAX_PUBLICATION_BYTES",
    "Order",
    "Publication",
    "SignedPublication",
    "canonical_bytes",
    "compare",
    "decode",
    "encode",
]

#: an envelope larger than this is refused unread (a tag library of a few thousand entries
#: is well under 1 MB)
MAX_PUBLICATION_BYTES = 1024 * 1024
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CODE = re.compile(r"^[0-9]{6}$")
MAX_VERSION = 2**62


@dataclass(frozen=True, kw_only=True, slots=True)
class Publication:
    issuer: str
    kind: str
    version: int
    issued_at: datetime
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not _CODE.match(self.issuer):
            _malformed("issuer")
        if not KIND_PATTERN.match(self.kind):
            _malformed("kind")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not (
                1 <= self.version <= MAX_VERSION):
            _malformed("version")
        if self.issued_at.tzinfo is None:
            _malformed("issued_at")
        if not isinstance(self.body, Mapping):
            _malformed("body")

    def as_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "kind": self.kind, "version": self.version,
                "issued_at": self.issued_at.astimezone(UTC).isoformat(),
                "body": dict(self.body)}


def _malformed(problem: str) -> NoReturn:
    raise ValidationError("publication_malformed", field="publication", problem=problem)


def canonical_bytes(doc: Publication) -> bytes:
    """What the issuer signs and every receiver checks (see the module docstring)."""
    return json.dumps(doc.as_json(), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedPublication:
    doc: Publication
    signature: bytes  # b"": unsigned (a federation in insecure development mode)
    cert_pem: str  # the issuer's certificate ("" when unsigned)


def encode(signed: SignedPublication) -> bytes:
    """The envelope as it travels: the document, the signature (base64), the certificate."""
    return json.dumps({"doc": signed.doc.as_json(),
                       "sig": base64.b64encode(signed.signature).decode("ascii"),
                       "cert": signed.cert_pem}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def decode(data: bytes) -> SignedPublication:
    """The envelope in `data`; ValidationError("publication_malformed") names the problem."""
    if len(data) > MAX_PUBLICATION_BYTES:
        _malformed("too large")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        _malformed("not JSON")
    if not isinstance(raw, dict) or not isinstance(raw.get("doc"), dict):
        _malformed("no document")
    d = raw["doc"]
    sig, cert = raw.get("sig", ""), raw.get("cert", "")
    if not isinstance(sig, str) or not isinstance(cert, str):
        _malformed("signature")
    try:
        signature = base64.b64decode(sig, validate=True)
        issued_at = datetime.fromisoformat(str(d.get("issued_at")))
    except ValueError:
        _malformed("signature or issued_at")
    if set(d) != {"issuer", "kind", "version", "issued_at", "body"}:
        _malformed("fields")
    doc = Publication(issuer=str(d["issuer"]), kind=str(d["kind"]), version=d["version"],
                      issued_at=issued_at, body=d["body"])
    return SignedPublication(doc=doc, signature=signature, cert_pem=cert)


class Order(StrEnum):
    NEW = "new"  # no version stored yet, or a newer one: apply
    SAME = "same"  # the stored version again, same bytes: a redelivery
    CONFLICT = "conflict"  # the stored version number with other content: refused
    OLDER = "older"  # older than the stored version: refused


def compare(candidate: Publication, stored: Publication | None) -> Order:
    if stored is None or candidate.version > stored.version:
        return Order.NEW
    if candidate.version < stored.version:
        return Order.OLDER
    return Order.SAME if canonical_bytes(candidate) == canonical_bytes(stored) else (
        Order.CONFLICT)
