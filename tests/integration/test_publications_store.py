"""The publication use case over a real store, on SQLite and PostgreSQL, with real
certificates from one federation CA: a province signs, a county verifies and keeps the
newest version per (issuer, kind); a document signed by another node, by another CA,
tampered with, older, from a node not above, of an unknown kind, or another body under the
stored version is refused and changes nothing; a kind's refusal stores nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from federation.certs import create_ca, ensure_federation_certs, issue_node_cert, load_tls
from federation.publications import CaVerifier, TlsSigner
from node.app.publications import Outcome, PublicationService, PublicationStore
from node.domain.errors import ValidationError
from node.domain.publications import Publication, SignedPublication, canonical_bytes, encode
from node.store import migrate
from node.store.db import make_engine
from node.store.publications import SqlPublications
from node.store.repo import Store
from tests.support.clock import FakeClock

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"


class Recorder:
    name = "tags"

    def __init__(self) -> None:
        self.accepted: list[tuple[str, int]] = []

    def publish(self, store: PublicationStore) -> dict[str, Any] | None:
        return {"categories": ["融资", "用地"]}

    def accept(self, store: PublicationStore, issuer: str, version: int,
               body: Mapping[str, Any], now: datetime) -> None:
        if body.get("refuse"):
            raise ValidationError("publication_malformed", field="body", problem="refused")
        self.accepted.append((issuer, version))


@pytest.fixture
def certs(tmp_path: Path, clock: FakeClock) -> Path:
    ensure_federation_certs(tmp_path / "tls", [PROVINCE, CITY, COUNTY], now=clock.now())
    return tmp_path / "tls"


def service(engine: Engine, certs: Path, clock: FakeClock, code: str,
            ancestors: tuple[str, ...]) -> tuple[PublicationService, Recorder]:
    migrate.ensure_schema(engine)
    tls = load_tls(certs / code, now=clock.now())
    svc = PublicationService(store=SqlPublications(Store(engine)), node=code,
                             ancestors=ancestors, clock=clock, signer=TlsSigner(tls),
                             verifier=CaVerifier(tls.ca_pem))
    kind = Recorder()
    svc.register(kind)
    return svc, kind


def signed(certs: Path, clock: FakeClock, code: str, version: int,
           body: dict[str, Any], *, issuer: str | None = None) -> bytes:
    doc = Publication(issuer=issuer or code, kind="tags", version=version,
                      issued_at=clock.now(), body=body)
    sig, cert = TlsSigner(load_tls(certs / code, now=clock.now())).sign(canonical_bytes(doc))
    return encode(SignedPublication(doc=doc, signature=sig, cert_pem=cert))


def test_a_signed_document_is_verified_versioned_and_refused_when_wrong(
        engine: Engine, certs: Path, clock: FakeClock, tmp_path: Path) -> None:
    # the province publishes (its own store: a SQLite file); the county (the backend
    # under test) receives
    province, _ = service(make_engine(f"sqlite:///{tmp_path / 'province.sqlite3'}"), certs,
                          clock, PROVINCE, ())
    [own] = province.prepare_own()
    assert province.prepare_own() == [own]  # same body: no new version
    assert province.stored(PROVINCE, "tags").doc.version == 1  # type: ignore[union-attr]
    county, kind = service(engine, certs, clock, COUNTY, (CITY, PROVINCE))
    assert county.receive(own).outcome is Outcome.ACCEPTED
    v2 = signed(certs, clock, PROVINCE, 2, {"categories": ["融资"]})
    assert county.receive(v2).outcome is Outcome.ACCEPTED
    assert kind.accepted == [(PROVINCE, 1), (PROVINCE, 2)]
    assert county.receive(v2).outcome is Outcome.DUPLICATE
    assert kind.accepted == [(PROVINCE, 1), (PROVINCE, 2)]

    def refused(data: bytes, code: str, **subject: str) -> None:
        before = county.stored(PROVINCE, "tags")
        result = county.receive(data, **subject)
        assert result.outcome is Outcome.REFUSED and result.error is not None
        assert result.error.code == code, result.detail
        assert county.stored(PROVINCE, "tags") == before

    refused(own, "publication_older")  # version 1 < 2
    refused(signed(certs, clock, PROVINCE, 2, {"categories": ["别的"]}),
            "publication_version_conflict")
    refused(signed(certs, clock, CITY, 3, {"x": 1}, issuer=PROVINCE),
            "publication_bad_signature")  # the city's key, the province's name
    other = tmp_path / "other"
    ca = create_ca(other / "ca", now=clock.now())
    issue_node_cert(ca.dir, other / PROVINCE, node_code=PROVINCE, now=clock.now())
    refused(signed(other, clock, PROVINCE, 3, {"x": 1}), "publication_bad_signature")
    tampered = json.loads(signed(certs, clock, PROVINCE, 3, {"x": 1}))
    tampered["doc"]["body"] = {"x": 2}
    refused(json.dumps(tampered).encode(), "publication_bad_signature")
    unsigned = json.loads(signed(certs, clock, PROVINCE, 3, {"x": 1}))
    unsigned["sig"] = ""
    refused(json.dumps(unsigned).encode(), "publication_bad_signature")
    refused(signed(certs, clock, COUNTY, 3, {"x": 1}), "publication_issuer_unknown")
    refused(signed(certs, clock, PROVINCE, 3, {"refuse": True}), "publication_malformed")
    refused(signed(certs, clock, PROVINCE, 3, {"x": 1}), "publication_misaddressed",
            subject_issuer=CITY)
    refused(b"{}", "publication_malformed")
    assert county.refused == {"publication_older": 1, "publication_version_conflict": 1,
                              "publication_bad_signature": 4,
                              "publication_issuer_unknown": 1,
                              "publication_malformed": 2, "publication_misaddressed": 1}

    # a newer version from the city, relayed or not, is its own row
    assert county.receive(signed(certs, clock, CITY, 1, {"c": 1})).outcome is Outcome.ACCEPTED
    assert [(s.doc.issuer, s.doc.version) for s in county.latest("tags")] == [
        (CITY, 1), (PROVINCE, 2)]


def test_a_document_stored_unsigned_is_signed_anew_once_the_node_has_its_key(
        engine: Engine, certs: Path, clock: FakeClock, tmp_path: Path) -> None:
    migrate.ensure_schema(engine)
    svc = PublicationService(store=SqlPublications(Store(engine)), node=PROVINCE, ancestors=(),
                             clock=clock, signer=None, verifier=None)
    svc.register(Recorder())
    [unsigned] = svc.prepare_own()  # federation off: stored unsigned, version 1
    assert svc.prepare_own() == [unsigned]
    svc.signer = TlsSigner(load_tls(certs / PROVINCE, now=clock.now()))
    [signed_now] = svc.prepare_own()
    stored = svc.stored(PROVINCE, "tags")
    assert stored is not None and stored.doc.version == 2 and signed_now != unsigned
    county, _ = service(make_engine(f"sqlite:///{tmp_path / 'county.sqlite3'}"), certs,
                        clock, COUNTY, (CITY, PROVINCE))
    assert county.receive(signed_now).outcome is Outcome.ACCEPTED
    assert county.receive(unsigned).outcome is Outcome.REFUSED  # older, and unsigned
