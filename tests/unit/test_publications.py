"""Publications, pure part (node/domain/publications.py): canonical bytes, the envelope's
round trip, version order, and every malformed envelope refused with its problem named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from node.domain.errors import ValidationError
from node.domain.publications import (
    MAX_PUBLICATION_BYTES,
    Order,
    Publication,
    SignedPublication,
    canonical_bytes,
    compare,
    decode,
    encode,
)

AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def doc(version: int = 1, body: dict[str, object] | None = None) -> Publication:
    return Publication(issuer="330000", kind="rules", version=version, issued_at=AT,
                       body=body if body is not None else {"b": 1, "a": {"y": "底线", "x": 2}})


def test_canonical_bytes_ignore_dict_order_and_time_zone() -> None:
    one = doc(body={"b": 1, "a": {"y": "底线", "x": 2}})
    other = Publication(issuer="330000", kind="rules", version=1,
                        issued_at=AT.astimezone(timezone(timedelta(hours=8))),
                        body={"a": {"x": 2, "y": "底线"}, "b": 1})
    assert canonical_bytes(one) == canonical_bytes(other)
    assert canonical_bytes(one) == (
        '{"body":{"a":{"x":2,"y":"底线"},"b":1},"issued_at":"2026-12-02T08:00:00+00:00",'
        '"issuer":"330000","kind":"rules","version":1}').encode()


def test_the_envelope_round_trips() -> None:
    signed = SignedPublication(doc=doc(), signature=b"\x00\x01sig", cert_pem="PEM")
    assert decode(encode(signed)) == signed


@pytest.mark.parametrize(("candidate", "stored", "order"), [
    (1, None, Order.NEW), (2, 1, Order.NEW), (1, 2, Order.OLDER), (3, 3, Order.SAME)])
def test_version_order(candidate: int, stored: int | None, order: Order) -> None:
    assert compare(doc(candidate), doc(stored) if stored is not None else None) is order


def test_another_body_under_the_stored_version_is_a_conflict() -> None:
    assert compare(doc(2, {"a": 1}), doc(2, {"a": 2})) is Order.CONFLICT


def envelope(**changes: object) -> bytes:
    raw = json.loads(encode(SignedPublication(doc=doc(), signature=b"s", cert_pem="c")))
    for key, value in changes.items():
        if key in raw["doc"] or key in ("issuer", "kind", "version", "issued_at", "body"):
            raw["doc"][key] = value
        else:
            raw[key] = value
    return json.dumps(raw).encode()


@pytest.mark.parametrize(("data", "problem"), [
    (b"not json", "not JSON"),
    (b"[]", "no document"),
    (envelope(issuer="33"), "issuer"),
    (envelope(kind="Rules!"), "kind"),
    (envelope(version=0), "version"),
    (envelope(version=True), "version"),
    (envelope(issued_at="yesterday"), "signature or issued_at"),
    (envelope(issued_at="2026-12-02T08:00:00"), "issued_at"),
    (envelope(body=[1]), "body"),
    (envelope(sig="***"), "signature or issued_at"),
    (envelope(cert=5), "signature"),
    (b" " * (MAX_PUBLICATION_BYTES + 1), "too large"),
])
def test_a_malformed_envelope_is_refused_naming_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        decode(data)
    assert refused.value.code == "publication_malformed"
    assert refused.value.params["problem"] == problem


def test_the_publication_subject_round_trips_and_filters() -> None:
    from federation.nats.subjects import Subject, SubjectError, SubjectKind

    subject = Subject.publication("330000", "rules")
    assert subject.build() == "zt.330000.pub.rules"
    assert Subject.parse("zt.330000.pub.rules") == subject
    assert Subject.publication("330000").build() == "zt.330000.pub.>"
    assert Subject.parse("zt.330000.pub.rules").kind is SubjectKind.PUBLICATION
    for bad in ("zt.330000.pub", "zt.330000.pub.", "zt.330000.pub.>"):
        with pytest.raises(SubjectError):
            Subject.parse(bad)
