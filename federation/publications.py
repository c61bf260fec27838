"""Publications on NATS: sign, publish this node's documents, accept what flows down.

The use case (node/app/publications.py) decides; this adapter signs and moves bytes.

* Signing: the node's TLS identity (federation/certs.py) — an ECDSA P-256 key whose
  certificate names the node (CN = its code) and is issued by the federation's CA. A
  document is signed over its canonical bytes (node/domain/publications.py) with
  ECDSA-SHA256, and the envelope carries the certificate, so a county verifies a province
  document that its city relayed against the CA it trusts, without a key directory.
* Publishing: every own latest envelope goes to `zt.<code>.pub.<kind>` on the node's
  publication stream `ZT_PUB_<code>` (the latest per subject is kept), at start, after
  each new own version and once a minute — each time only where the stream's latest
  message on that subject is not already these bytes (a replayed old copy or a purge is
  repaired within a minute; an unchanged document costs one read, nothing flows down).
* Receiving: a durable pull consumer on the node's own publication stream (which sources
  its parent's, which sources its parent's: the documents of every ancestor, unchanged).
  Each message is handed to `PublicationService.receive` and acknowledged after the
  commit; a refused one (bad signature, older version, unknown issuer, ...) is parked in
  the dead-letter table and terminated: nothing changes, `/metrics` counts it. A kind this
  node's code does not know (a newer parent) is acknowledged and skipped, not parked; the
  catch-up pass (`catch_up`, at start and every few minutes) reads the latest document of
  every ancestor and registered kind straight from the stream, so a kind registered after
  an upgrade, or anything the consumer missed, still arrives.

Why NATS rather than a pull over the gRPC link: the parent already relays its ancestors'
streams down over the leaf links (status flows down that way), JetStream keeps the latest
document per subject for a child that is offline for days, and sourcing a whole stream
needs two permission lines per link — no proto change, no new RPC, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import nats.errors
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError, NotFoundError

from federation.certs import CertError, TlsMaterial, node_code_of
from federation.nats.progress import ACK_WAIT_S, in_progress
from federation.nats.streams import publications_stream
from federation.nats.subjects import Subject, SubjectError, SubjectKind
from federation.replication.waits import wait_any
from node.app.ports import Clock, DeadLetters
from node.app.publications import Outcome, PublicationService, Received
from node.domain.errors import ValidationError
from node.domain.publications import SignedPublication, decode

log = logging.getLogger("zhitong.federation.publications")

REFUSED = "refused publication"  # the dead letters' reason prefix
FETCH_BATCH = 32
FETCH_WAIT_S = 5.0


class TlsSigner:
    """node.app.publications.Signer with the node's TLS key."""

    def __init__(self, tls: TlsMaterial) -> None:
        key = serialization.load_pem_private_key(tls.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertError(None, "invalid", "the node key is not an EC key")
        self._key = key
        self._cert = tls.cert_pem.decode("ascii")

    def sign(self, canonical: bytes) -> tuple[bytes, str]:
        return self._key.sign(canonical, ec.ECDSA(hashes.SHA256())), self._cert


class CaVerifier:
    """node.app.publications.Verifier against the federation's CA."""

    def __init__(self, ca_pem: bytes) -> None:
        self._ca = x509.load_pem_x509_certificate(ca_pem)

    def verify(self, signed: SignedPublication, canonical: bytes, now: datetime) -> None:
        issuer = signed.doc.issuer

        def bad(problem: str) -> ValidationError:
            return ValidationError("publication_bad_signature", field="signature", issuer=issuer,
                                   kind=signed.doc.kind, problem=problem)

        if not signed.signature or not signed.cert_pem:
            raise bad("unsigned")
        try:
            pem = signed.cert_pem.encode("ascii")
            cert = x509.load_pem_x509_certificate(pem)
            code = node_code_of(pem)
        except (ValueError, UnicodeError, CertError):
            raise bad("certificate unreadable") from None
        try:
            cert.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise bad("certificate not issued by this federation's CA") from None
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise bad("certificate not valid now")
        if code != issuer:
            raise bad(f"certificate names node {code}")
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise bad("not an EC key")
        try:
            key.verify(signed.signature, canonical, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise bad("signature does not match") from None


def _subject_parts(subject: str) -> tuple[str | None, str | None]:
    try:
        parsed = Subject.parse(subject)
    except SubjectError:
        return None, None
    if parsed.kind is not SubjectKind.PUBLICATION:
        return None, None
    return parsed.writer, parsed.name


class PublicationFeed:
    """Publishes the node's own documents and applies those flowing down."""

    def __init__(self, service: PublicationService, dead_letters: DeadLetters, clock: Clock,
                 *, code: str) -> None:
        self.service = service
        self.dead_letters = dead_letters
        self.clock = clock
        self.code = code
        self.stream = publications_stream(code)
        self.changed = asyncio.Event()  # a new own version: publish
        self.resubscribe = asyncio.Event()
        self.on_applied: Callable[[Received], None] = lambda r: None

    def wake_from_thread(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        def wake() -> None:
            loop.call_soon_threadsafe(self.changed.set)
        return wake

    async def publish_own(self, js: JetStreamContext) -> int:
        """Put every own latest envelope where the stream lacks it; how many were put."""
        envelopes = await asyncio.to_thread(self.service.prepare_own)
        sent = 0
        for data in envelopes:
            doc = decode(data).doc
            subject = Subject.publication(doc.issuer, doc.kind).build()
            try:
                last = await js.get_last_msg(self.stream, subject)
                if last.data == data:
                    continue
            except NotFoundError:
                pass
            await js.publish(subject, data, timeout=5)
            sent += 1
        return sent

    async def catch_up(self, js: JetStreamContext) -> int:
        """Apply the stream's latest document of every ancestor and registered kind (what
        the consumer may have skipped); how many were new."""
        applied = 0
        for issuer in self.service.ancestors:
            for kind in list(self.service.kinds):
                subject = Subject.publication(issuer, kind).build()
                try:
                    last = await js.get_last_msg(self.stream, subject)
                except NotFoundError:
                    continue
                result = await asyncio.to_thread(self.service.receive, last.data or b"",
                                                 subject_issuer=issuer, subject_kind=kind)
                if result.outcome is Outcome.REFUSED:
                    await asyncio.to_thread(self._park, last.seq or 0, subject, last.data or b"",
                                            result)
                elif result.outcome is Outcome.ACCEPTED:
                    applied += 1
                    self.on_applied(result)
        return applied

    def _park(self, seq: int, subject: str, data: bytes, result: Received) -> None:
        self.dead_letters.park(stream=self.stream, stream_seq=seq, subject=subject,
                               error=f"{REFUSED}: {result.detail}"[:2000],
                               data=data[:100_000].decode("utf-8", "replace"),
                               at=self.clock.now())

    async def run_catch_up(self, js: JetStreamContext, stop: asyncio.Event, *,
                           period_s: float = 300.0) -> None:
        while not stop.is_set():
            try:
                await self.catch_up(js)
            except Exception as exc:  # the stream is unreachable: the next pass
                log.info("publication catch-up failed: %r", exc)
            await wait_any(stop, asyncio.Event(), period_s)

    async def run_publisher(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        self.changed.set()
        while not stop.is_set():
            if self.changed.is_set():
                self.changed.clear()
                try:
                    await self.publish_own(js)
                except Exception as exc:  # NATS down: retried soon, the rows are stored
                    log.info("publications not published: %r", exc)
                    await wait_any(stop, asyncio.Event(), 2.0)
                    self.changed.set()
                    continue
            await wait_any(stop, self.changed, 60.0)
            if not stop.is_set():
                self.changed.set()  # a periodic republish is cheap (deduplicated)

    async def handle(self, msg: Msg) -> Received | None:
        issuer, kind = _subject_parts(msg.subject)
        if issuer == self.code:  # our own, published by us
            await msg.ack()
            return None
        result = await asyncio.to_thread(self.service.receive, msg.data,
                                         subject_issuer=issuer, subject_kind=kind)
        if (result.outcome is Outcome.REFUSED and result.error is not None
                and result.error.code != "publication_kind_unknown"):
            await asyncio.to_thread(self._park, msg.metadata.sequence.stream, msg.subject,
                                    msg.data, result)
            await msg.term()
        else:
            await msg.ack()
        self.on_applied(result)
        return result

    async def run_consumer(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sub = await js.pull_subscribe(
                    "", durable="publications", stream=self.stream,
                    config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
                                          deliver_policy=DeliverPolicy.ALL, max_deliver=50))
            except Exception as exc:
                log.info("publication consumer not ready (%s); retrying", exc)
                await wait_any(stop, asyncio.Event(), 1.0)
                continue
            self.resubscribe.clear()
            while not stop.is_set() and not self.resubscribe.is_set():
                fetch = asyncio.ensure_future(sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S))
                interrupts = [asyncio.ensure_future(stop.wait()),
                              asyncio.ensure_future(self.resubscribe.wait())]
                await asyncio.wait([fetch, *interrupts], return_when=asyncio.FIRST_COMPLETED)
                for waiter in interrupts:
                    waiter.cancel()
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(BaseException):
                        await fetch
                    break
                try:
                    batch: list[Any] = fetch.result()
                except (FetchTimeoutError, nats.errors.TimeoutError, TimeoutError):
                    continue
                except Exception as exc:
                    log.info("publication fetch failed (%s)", exc)
                    await wait_any(stop, asyncio.Event(), 0.5)
                    continue
                async with in_progress(batch):
                    for msg in batch:
                        try:
                            await self.handle(msg)
                        except Exception:  # the store: redelivered soon
                            log.exception("applying a publication failed; will be redelivered")
                            with contextlib.suppress(Exception):
                                await msg.nak(delay=2.0)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.run_publisher(js, stop))
            tg.create_task(self.run_consumer(js, stop))
            tg.create_task(self.run_catch_up(js, stop))
