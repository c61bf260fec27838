"""The composition root: builds one node's parts from its configuration and runs them.

`build()` wires the synchronous core (store, use cases, HTTP app). `run()` is the process:
one asyncio TaskGroup with the HTTP server, and — when federation is enabled — the gRPC
server, one outbox sender per peer and the auto-escalation rule. Stopping the HTTP server
(Ctrl-C / SIGTERM) sets one event that stops everything else gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
import nats
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import Engine

from federation import codec
from federation.certs import CertError, TlsMaterial, channel_options, load_tls
from federation.nats.config import node_user
from federation.nats.streams import Place, ensure_streams, events_stream
from federation.replication import Publisher, Reconciler, Replicator
from federation.replication import watermark as replication_watermark
from federation.sender import Sender
from federation.server import MAX_TRANSPORT_BYTES, build_server, mark_serving
from federation.summaries import Summaries
from federation.transfers import Backoff, TransferService
from federation.wire.v1 import federation_pb2 as pb
from federation.wire.v1 import federation_pb2_grpc as pb_grpc
from node.app.auth import TokenSigner, load_or_create_secret
from node.app.clock import SystemClock
from node.app.ports import Clock
from node.app.service import AccountService, IssueService
from node.config import Config
from node.domain.issue import Event, Issue
from node.domain.validation import parent_of
from node.store import migrate
from node.store.db import make_engine
from node.store.repo import Store
from node.web.api import Services, create_app

log = logging.getLogger("zhitong.node")


class Notifier:
    """Wakes the sender of a destination from any thread (HTTP handlers run in threads)."""

    def __init__(self) -> None:
        self._targets: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def register(self, destination: str, wake: Callable[[], None]) -> None:
        with self._lock:
            self._targets[destination] = wake

    def __call__(self, destination: str) -> None:
        with self._lock:
            wake = self._targets.get(destination)
        if wake is not None:
            wake()


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    config: Config
    engine: Engine
    services: Services
    app: FastAPI
    transfers: TransferService
    notifier: Notifier = field(default_factory=Notifier)


def build(config: Config, *, clock: Clock | None = None, engine: Engine | None = None) -> Node:
    clock = clock or SystemClock()
    engine = engine or make_engine(config.database_url)
    if config.database.auto_migrate:
        migrate.ensure_schema(engine)
    else:
        current, head = migrate.current_revision(engine), migrate.HEAD
        if current != head:
            raise RuntimeError(
                f"database schema is at {current}, the code needs {head}: run "
                "`zhitong db upgrade --config …` first"
            )
    store = Store(engine)
    rules = config.rules()
    fed = config.federation
    transfers = TransferService(
        store=store,
        node=config.node.code,
        parent=config.node.parent,
        children=frozenset(config.node.children),
        rules=rules,
        clock=clock,
        backoff=Backoff(initial_s=fed.backoff_initial_s, max_s=fed.backoff_max_s),
    )
    notifier = Notifier()
    transfers.on_queued = notifier
    services = Services(
        node=config.node.code,
        node_name=config.node.name,
        issues=IssueService(
            store=store,
            node=config.node.code,
            rules=rules,
            clock=clock,
            revisit_share=config.revisit.share,
            min_sample=config.metrics.min_sample,
        ),
        accounts=AccountService(store=store, clock=clock),
        tokens=TokenSigner(
            load_or_create_secret(config.secret_path),
            ttl_seconds=config.security.token_ttl_minutes * 60,
        ),
        transfers=transfers,
        stuck_after=timedelta(seconds=fed.stuck_after_s),
        max_body_bytes=config.http.max_body_bytes,
    )
    return Node(config=config, engine=engine, services=services, app=create_app(services),
                transfers=transfers, notifier=notifier)


# --------------------------------------------------------------------------- federation


class Federation:
    """The node's gRPC server and its outbox senders, as one async lifecycle."""

    def __init__(self, node: Node, tls: TlsMaterial | None,
                 watermark: Callable[[str], int] | None = None) -> None:
        self.node = node
        self.tls = tls
        self.watermark = watermark
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.senders: dict[str, Sender] = {}
        self.peers: dict[str, str] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, peer: str) -> pb_grpc.FederationStub:
        if peer not in self._channels:
            self._channels[peer] = self._channel_factory(self.peers[peer], peer)()
        return pb_grpc.FederationStub(self._channels[peer])  # type: ignore[no-untyped-call]

    async def fetch(self, peer: str, issue_id: str, after_version: int
                    ) -> tuple[Issue, list[tuple[Event, str]]]:
        """An issue's events after `after_version` from a peer (gap repair)."""
        reply = await self._stub(peer).Fetch(
            pb.FetchRequest(issue_id=issue_id, after_version=after_version),
            timeout=self.node.config.federation.call_timeout_ms / 1000)
        return codec.fetch_response_from_pb(reply)

    async def parent_watermark(self) -> int:
        parent = self.node.config.node.parent
        if parent is None or parent not in self.peers:
            return 0
        reply = await self._stub(parent).Watermark(
            pb.WatermarkRequest(), timeout=self.node.config.federation.call_timeout_ms / 1000)
        return int(reply.through)

    def _channel_factory(self, address: str, peer: str) -> Callable[[], grpc.aio.Channel]:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", MAX_TRANSPORT_BYTES),
            ("grpc.max_receive_message_length", MAX_TRANSPORT_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 10_000),
        ]

        def make() -> grpc.aio.Channel:
            if self.tls is None:
                return grpc.aio.insecure_channel(address, options=options)
            return grpc.aio.secure_channel(
                address, self.tls.channel_credentials(),
                options=[*options, *channel_options(peer)])

        return make

    async def start(self) -> None:
        cfg = self.node.config
        fed = cfg.federation
        address = f"{fed.grpc_host}:{fed.grpc_port}"
        self.server, self.port = build_server(
            self.node.transfers, address=address,
            credentials=self.tls.server_credentials() if self.tls else None,
            watermark=self.watermark)
        await self.server.start()
        await mark_serving(self.server)
        peers = dict(fed.children)
        if cfg.node.parent and fed.parent_address:
            peers[cfg.node.parent] = fed.parent_address
        self.peers = peers
        loop = asyncio.get_running_loop()
        for peer, peer_address in peers.items():
            sender = Sender(
                self.node.transfers, destination=peer,
                channel_factory=self._channel_factory(peer_address, peer),
                batch_size=fed.batch_size, call_timeout_s=fed.call_timeout_ms / 1000,
                retry_attempts=fed.retry_attempts,
                stuck_after=timedelta(seconds=fed.stuck_after_s))
            self.senders[peer] = sender
            self.node.notifier.register(peer, _threadsafe_wake(loop, sender.wake))
        log.info("node %s gRPC on %s:%d (%s), peers %s", cfg.node.code, fed.grpc_host,
                 self.port, "mutual TLS" if self.tls else "INSECURE", peers or "none")

    async def run_senders(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            for sender in self.senders.values():
                tg.create_task(sender.run(stop))

    async def stop(self) -> None:
        for sender in self.senders.values():
            await sender.close()
        for channel in self._channels.values():
            await channel.close()
        if self.server is not None:
            await self.server.stop(grace=2)


# --------------------------------------------------------------------------- streams


def place_of(config: Config) -> Place:
    code, parent = config.node.code, config.node.parent
    ancestors: list[str] = []
    while parent is not None:
        ancestors.append(parent)
        parent = parent_of(parent)
    children = tuple(config.node.children)
    return Place(code=code, ancestors=tuple(ancestors), children=children,
                 subtree=(code, *children) if config.node.level == "city" else (code,),
                 full_children=config.node.level != "province")


class Streams:
    """The node's NATS side: publish its log, apply what flows in, summaries, reconcile."""

    def __init__(self, node: Node, federation: Federation | None = None) -> None:
        cfg = node.config
        store = node.services.issues.store
        self.node = node
        self.place = place_of(cfg)
        self.federation = federation
        self.publisher = Publisher(store, cfg.node.code, window=cfg.nats.publish_window)
        self.replicator = Replicator(store, self.place, node.services.issues.clock,
                                     fetch=federation.fetch if federation else None,
                                     parent=cfg.node.parent)
        self.summaries = Summaries(store, self.place, node.services.issues.clock,
                                   node.services.issues.rules.calendar,
                                   children_send_summaries=cfg.node.level == "province")
        # Only a full-replication link has a watermark to compare with: the parent of a
        # county (a city) applies the county's whole stream; a province applies nothing of
        # a city's (summary profile), so a city must not re-publish against it.
        self.reconciler = (Reconciler(store, cfg.node.code, federation.parent_watermark,
                                      own_stream_messages=self._own_stream_messages)
                           if federation is not None and cfg.node.level == "county" else None)
        self.retry_wake = asyncio.Event()
        self.nc: NATS | None = None

    @property
    def latest(self) -> Any:
        return self.summaries.latest

    def applied_count(self) -> int:
        return self.replicator.applied

    def last_lag_s(self) -> float:
        return self.replicator.last_lag_s

    def dead_letters_waiting(self) -> int:
        return self.replicator.dead_letters_waiting()

    def malformed_summaries(self) -> dict[str, int]:
        return dict(self.summaries.malformed)

    async def _own_stream_messages(self) -> int:
        assert self.nc is not None
        info = await self.nc.jetstream().stream_info(events_stream(self.node.config.node.code))
        return int(info.state.messages)

    async def _reconnected(self) -> None:
        # Pull subscriptions can go silent after a reconnect (nats.py #504): start afresh.
        self.replicator.resubscribe.set()
        self.publisher.wake.set()

    async def connect(self) -> JetStreamContext:
        cfg = self.node.config
        self.nc = await nats.connect(
            cfg.nats.url, user=cfg.nats.user or node_user(cfg.node.code),
            password=cfg.nats.secret(), name=f"zhitong-{cfg.node.code}",
            max_reconnect_attempts=-1, reconnect_time_wait=1, allow_reconnect=True,
            connect_timeout=5, reconnected_cb=self._reconnected)
        js = self.nc.jetstream()
        await ensure_streams(js, self.place)
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self.publisher.wake.set)
            loop.call_soon_threadsafe(self.summaries.changed.set)
            if self.replicator.parked_gaps:
                loop.call_soon_threadsafe(self.retry_wake.set)

        self.node.services.issues.store.after_commit.append(wake)
        return js

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        cfg = self.node.config
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.publisher.run(js, stop))
            tg.create_task(self.replicator.run(js, stop))
            tg.create_task(self.summaries.run(js, stop, nc=self.nc))
            tg.create_task(self.replicator.run_retries(stop, self.retry_wake,
                                                       period_s=cfg.nats.reconcile_every_s))
            if self.reconciler is not None:
                tg.create_task(self.reconciler.run(stop, self.publisher.wake,
                                                   period_s=cfg.nats.reconcile_every_s))

    async def close(self) -> None:
        # close, not drain: every message is acknowledged only after its commit, so
        # anything in flight is simply redelivered to the next run
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.close()
            except Exception as exc:  # the broker may be down; nothing to lose
                log.info("NATS connection closed uncleanly: %r", exc)


def _threadsafe_wake(loop: asyncio.AbstractEventLoop, event: asyncio.Event
                     ) -> Callable[[], None]:
    def wake() -> None:
        loop.call_soon_threadsafe(event.set)

    return wake


def federation_tls(config: Config, clock: Clock) -> TlsMaterial | None:
    """The node's TLS material, or None in insecure mode; refuses to start without it."""
    if config.federation.insecure:
        log.warning("federation runs in INSECURE development mode (no TLS)")
        return None
    try:
        tls = load_tls(config.tls_dir, now=clock.now())
    except CertError as exc:
        raise SystemExit(
            f"zhitong: cannot start federation without valid certificates: {exc}\n"
            f"  create them with `zhitong certs …` (see README) or set "
            f"federation.insecure = true for development only") from None
    if tls.node_code != config.node.code:
        raise SystemExit(f"zhitong: the certificate in {config.tls_dir} names node "
                         f"{tls.node_code}, this node is {config.node.code}")
    return tls


async def auto_escalate(node: Node, stop: asyncio.Event, *, period_s: float = 60.0) -> None:
    """The configured rule: red light plus N urges escalates automatically."""
    threshold = node.config.federation.auto_escalate_after_urges
    if threshold is None or node.config.node.parent is None:
        return
    while not stop.is_set():
        try:
            for issue_id in await asyncio.to_thread(
                node.services.issues.auto_escalation_candidates, threshold
            ):
                try:
                    await asyncio.to_thread(
                        node.transfers.request_escalation, None, issue_id,
                        f"自动上报：红灯且催办达到 {threshold} 次")
                    log.info("issue %s escalated automatically (red + %d urges)", issue_id,
                             threshold, extra={"issue_id": issue_id})
                except Exception as exc:
                    log.warning("automatic escalation of %s refused: %s", issue_id, exc)
        except Exception:
            log.exception("auto-escalation scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period_s)


# --------------------------------------------------------------------------- process


async def run(node: Node) -> None:
    cfg = node.config
    server = uvicorn.Server(uvicorn.Config(node.app, host=cfg.http.host, port=cfg.http.port,
                                           log_level="warning", lifespan="off"))
    stop = asyncio.Event()
    federation = streams = js = None
    watermark = (functools.partial(replication_watermark, node.services.issues.store)
                 if cfg.nats.enabled else None)
    if cfg.federation.enabled:
        federation = Federation(node, federation_tls(cfg, node.services.issues.clock),
                                watermark=watermark)
        await federation.start()
    if cfg.nats.enabled:
        streams = Streams(node, federation)
        js = await streams.connect()
        node.services.summary_source.append(streams)
    log.info("node %s %s serving on http://%s:%d/api/v1/ (database %s)", cfg.node.code,
             cfg.node.name, cfg.http.host, cfg.http.port,
             node.engine.url.render_as_string(hide_password=True))

    async def http() -> None:
        try:
            await server.serve()
        finally:
            stop.set()

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(http())
            if federation is not None:
                tg.create_task(federation.run_senders(stop))
                tg.create_task(auto_escalate(node, stop))
            if streams is not None and js is not None:
                tg.create_task(streams.run(js, stop))
    finally:
        # each step on its own: one failing must not skip the others
        if streams is not None:
            with contextlib.suppress(Exception):
                await streams.close()
        if federation is not None:
            with contextlib.suppress(Exception):
                await federation.stop()
        node.engine.dispose()


def serve(node: Node) -> None:
    asyncio.run(run(node))
