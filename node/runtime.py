"""The composition root: builds one node from its configuration and runs it.

* `build(config)` wires the synchronous core: store, use cases, the HTTP app, and — when
  enabled — the gRPC federation and the event-stream parts, not started yet. Commands
  that only touch the database (`zhitong user add`, `demo seed`) stop there.
* `running(config, …)` is the node at work, an async context manager: it builds, starts
  the gRPC server, connects to NATS, binds the HTTP listener, and runs every loop in one
  asyncio TaskGroup — the HTTP server, one outbox sender per peer, the auto-escalation
  rule, and the streams' publisher, replicator, summaries and reconciler. Leaving the
  context (or `Running.stop()`, or any loop failing) stops everything gracefully; each
  shutdown step runs even if another one failed. A port of 0 lets the OS pick; the
  yielded `Running` tells the bound ports. `zhitong node run`, every test harness and
  every bench run their nodes through it, with the knobs they need as parameters.
* `serve(config)` is `zhitong node run`: `running()` until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import nats
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import Engine

from federation.certs import CertError, TlsMaterial, channel_options, load_tls
from federation.client import PeerClient
from federation.nats.server_config import node_user
from federation.nats.streams import ensure_streams, events_stream, inbound_stream
from federation.publications import PublicationFeed
from federation.replication import Publisher, Reconciler, Replicator
from federation.sender import Sender
from federation.server import MAX_TRANSPORT_BYTES, build_server, mark_serving
from federation.summaries import SummaryFeed
from node.app.accounts import sign_in_rules
from node.app.attachments import AttachmentService
from node.app.audit import AuditService
from node.app.auth import TokenSigner, load_or_create_secret
from node.app.clock import SystemClock
from node.app.clusters import ClusterService
from node.app.duplicates import DuplicateService
from node.app.exports import ExportService
from node.app.floors import RulesService
from node.app.imports import ImportJobs, ImportService
from node.app.index import IndexService
from node.app.live import Live, LiveHub
from node.app.meetings import MeetingService
from node.app.merges import MergeService
from node.app.open311 import Open311Setup, catalogue_source
from node.app.ports import Clock
from node.app.probes import NO_PROBE, Probe
from node.app.publications import PublicationService
from node.app.replica import ReplicaService
from node.app.reports import ReportService
from node.app.revisits import RevisitService
from node.app.rollup import Rollup
from node.app.service import AccountService, IssueService
from node.app.similarity import SignatureFeed, federation_key
from node.app.stats import StatsService
from node.app.tags import TagService, TagsKind
from node.app.transfers import AutoEscalation, Backoff, TransferService
from node.app.units import UnitService
from node.config import Config
from node.domain.calendar import WorkCalendar
from node.domain.errors import RuleViolation
from node.domain.issue import Event, Issue
from node.domain.reports import Period
from node.domain.summary import Summary
from node.domain.topology import Place, place_of_unit
from node.notify import build_notify
from node.publishing import arm, build_rules, check_start, keep_in_force, refusal
from node.sso.oidc import OidcProvider  # enterprises via OpenID Connect ([sso])
from node.store import migrate
from node.store.audit import AuditTrail
from node.store.clusters import ClusterRecords
from node.store.db import make_engine
from node.store.duplicates import DuplicateRecords, MergeProjection
from node.store.eventlog import (
    SqlDeadLetters,
    SqlEventOutbox,
    SqlIssueScan,
    SqlReplicaRecorder,
)
from node.store.imports import ExportLog, ImportRecords
from node.store.meetings import MeetingRecords
from node.store.metric_counts import MetricsProjection
from node.store.metric_counts import ensure as ensure_metric_counts
from node.store.open311 import Open311Records
from node.store.outbox import TransferRecords
from node.store.records import AccountRecords, IssueRecords
from node.store.repo import (
    Store,
    ensure_event_chain,
    ensure_summary_counts,
    refresh_lights,
)
from node.store.reports import ReportRecords
from node.store.revisits import RevisitRecords
from node.store.search import SearchProjection
from node.store.search import ensure_index as ensure_search_index
from node.store.stats import SqlStats
from node.store.tags import TagRecords
from node.store.units import UnitRecords
from node.web.api import Services, create_app

log = logging.getLogger("zhitong.node")
#: the TrueType font embedded in the PDF reports (node/data/fonts/README.md)
REPORT_FONT = Path(__file__).parent / "data" / "fonts" / "wqy-microhei.ttf"


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
    """A node's parts, wired and idle."""

    config: Config
    engine: Engine
    services: Services
    app: FastAPI
    transfers: TransferService
    notifier: Notifier
    federation: Federation | None = None  # config.federation.enabled
    streams: Streams | None = None  # config.nats.enabled


def build(config: Config, *, clock: Clock | None = None, engine: Engine | None = None,
          probe: Probe = NO_PROBE) -> Node:
    """`probe`: where the node's components report their stage timings (node/app/probes.py;
    the benches record them)."""
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
    rules = config.rules()
    store = Store(engine, calendar=rules.calendar)
    store.projections.append(SearchProjection())  # the full-text index, in the issue's tx
    store.projections.append(MergeProjection())  # 并单: issue_merges from the merge events
    recurrence = timedelta(days=config.metrics.recurrence_days)
    store.projections.append(MetricsProjection(recurrence))  # metrics' counts, in the tx
    # publications down the federation (rule floors; other kinds register on it) and the
    # rules in force within the ancestors' floors (node/publishing.py)
    publications, rules_service = build_rules(config, store, clock, rules)
    tag_library = TagRecords(store, config.node.code)  # the tag library (node/app/tags.py)
    tag_library.adopt()  # the entries migration 0017 wrote take this node's code
    publications.register(TagsKind(tag_library))  # its own categories and tags flow down
    audit_trail = AuditTrail(store, config.node.code)  # staff events audited in their tx
    store.projections.append(audit_trail)
    ensure_search_index(store)  # built after the migration 0007 or a new tokenizer
    refresh_lights(store)  # the light instants, if the calendar configuration changed
    ensure_summary_counts(store)  # counted once after the migration that adds them
    ensure_metric_counts(store, recurrence, clock.now())  # recount if needed (0030)
    ensure_event_chain(store, config.node.code)  # own events linked once after 0013
    units = UnitService(store=UnitRecords(store), node=config.node.code, clock=clock)
    units.seed(config.unit_entries())  # `[[units]]` this node does not have yet
    fed = config.federation
    transfers = TransferService(
        store=TransferRecords(store),
        node=config.node.code,
        parent=config.node.parent,
        children=frozenset(config.node.children),
        rules=rules,
        clock=clock,
        backoff=Backoff(initial_s=fed.backoff_initial_s, max_s=fed.backoff_max_s),
        probe=probe,
    )
    notifier = Notifier()
    transfers.on_queued = notifier
    federation = (Federation(config, transfers, notifier,
                             watermark=(SqlReplicaRecorder(store).watermark
                                        if config.nats.enabled else None))
                  if fed.enabled else None)
    streams = (Streams(config, store, clock, rules.calendar, federation, probe=probe,
                       publications=publications, units=units)
               if config.nats.enabled else None)
    services = Services(
        node=config.node.code,
        node_name=config.node.name,
        audit=AuditService(log=audit_trail, clock=clock, node=config.node.code),
        issues=IssueService(
            store=IssueRecords(store),
            node=config.node.code,
            rules=rules,
            clock=clock,
            revisit_share=config.revisit.share,
            min_sample=config.metrics.min_sample,
            recurrence_window=timedelta(days=config.metrics.recurrence_days),
            units=units,
            tags=tag_library,
        ),
        tags=TagService(store=tag_library, node=config.node.code, clock=clock,
                        after_change=lambda: publications.prepare_own()
                        if publications.signer is not None or fed.insecure else None),
        accounts=AccountService(store=AccountRecords(store), clock=clock,
                                rules=sign_in_rules(config.security), node=config.node.code),
        tokens=TokenSigner(
            load_or_create_secret(config.secret_path),
            ttl_seconds=config.security.token_ttl_minutes * 60,
        ),
        transfers=transfers,
        streams=streams,
        stuck_after=timedelta(seconds=fed.stuck_after_s),
        max_body_bytes=config.http.max_body_bytes,
        notify=build_notify(config.notify, node=config.node.code, store=store,
                            clock=clock),
        intake_channels=config.intake.specs(),
        intake_max_rows=config.intake.batch_max_rows,
        stats=StatsService(source=SqlStats(store), node=config.node.code, clock=clock,
                           min_sample=config.metrics.min_sample, tags=tag_library),
        exports=ExportService(store=IssueRecords(store), recorder=ExportLog(store), clock=clock,
                              node=config.node.code, node_name=config.node.name,
                              calendar=rules.calendar, units=units),
        imports=ImportJobs(ImportService(store=ImportRecords(store, config.node.code),
                                         node=config.node.code, rules=rules, clock=clock,
                                         units=units)),
        revisits=RevisitService(store=RevisitRecords(store), node=config.node.code, rules=rules,
                                clock=clock, share=config.revisit.share,
                                task_days=config.revisit.task_days),
        meetings=MeetingService(store=MeetingRecords(store), node=config.node.code,
                                rules=rules, clock=clock, step=config.meeting.step),
        open311_setup=Open311Setup(store=Open311Records(store),
                                   catalogue=catalogue_source(config.deadlines.per_tag,
                                                              library=tag_library.library)),
        reports=build_reports(config, ReportRecords(store), clock, streams),
    )
    from dataclasses import replace as _replace  # enterprises' SMS sign-in codes

    from node.app.enterprise_signin import EnterpriseSignIn, code_key, rules_of
    from node.store.signin_codes import SignInCodeRecords

    services = _replace(services, enterprise_signin=EnterpriseSignIn(
        store=SignInCodeRecords(store), accounts=services.accounts, clock=clock,
        node=config.node.code, node_name=config.node.name,
        key=code_key(load_or_create_secret(config.secret_path)),
        rules=rules_of(config.security), locale=config.notify.locale, audit=services.audit,
        sms=services.notify is not None and "sms" in services.notify.adapters,
        provider=_oidc(config, clock), provider_portal=config.sso.portal_url))
    services = _replace(services, rules=rules_service)
    from node.attaching import build_attachments  # files on the issues, fetched across tiers

    services = _replace(services, attachments=build_attachments(
        config, store, services.issues, federation, forward=transfers.request_upward))
    services = _replace(services, index=build_index(config, store, clock, streams,
                                                    rules_service))  # 有感指数
    if services.reports is not None and services.index is not None:  # reports rank by it
        services.reports.index = _report_index(services.index)
    if services.reports is not None and services.notify is not None:  # reports told
        services.reports.notify_rules = services.notify.settings.rules
    services = _replace(services, live=_live(store, services))  # the screens' live updates
    services = _replace(services, duplicates=DuplicateService(  # 疑似重复 (node/app/duplicates.py)
        store=DuplicateRecords(store), node=config.node.code, clusters=ClusterService(
            store=ClusterRecords(store), node=config.node.code, node_name=config.node.name,
            rules=rules, clock=clock)))  # 共性问题 clusters (node/app/clusters.py)
    services = _replace(services, policies=_policies(config, store, clock, publications,
                                                     services.issues, tag_library))
    from node.app.cases import CaseService  # reviews (问题复盘) and the case library
    from node.store.cases import CaseRecords

    services = _replace(services, cases=CaseService(
        store=CaseRecords(store), issues=services.issues, node=config.node.code, clock=clock,
        clusters=services.duplicates.clusters if services.duplicates else None))
    if streams is not None:  # the case library flows up in the summaries
        streams.summaries.cases = services.cases
    if streams is not None and config.node.level == "city":  # cross-city duplicates
        key = federation_key(config.federation.similarity_key, config.tls_dir / "ca.pem")
        if key is not None:
            streams.summaries.signatures = SignatureFeed(DuplicateRecords(store), key).published
    rules_service.audit = services.audit  # own rule changes and floors arriving, audited
    keep_in_force(rules_service, services.issues, transfers, services.revisits,
                  services.meetings, services.imports.service if services.imports else None,
                  share_holders=(services.issues, services.revisits))
    return Node(config=config, engine=engine, services=services, app=create_app(services),
                transfers=transfers, notifier=notifier, federation=federation,
                streams=streams)


def _policies(config: Config, store: Store, clock: Clock, publications: PublicationService,
              issues: IssueService, tags: TagRecords) -> Any:
    """The policy library (node/app/policies.py): its own policies flow down as the
    "policies" publication, like the tag library's entries."""
    from node.app.policies import PoliciesKind, PolicyService
    from node.store.policies import PolicyRecords

    records = PolicyRecords(store)
    publications.register(PoliciesKind(records, node=config.node.code, clock=clock))
    fed = config.federation
    return PolicyService(
        store=records, node=config.node.code, clock=clock,
        issue_of=lambda principal, key: issues.get(principal, key).issue, tags=tags.library,
        after_change=lambda: publications.prepare_own()
        if publications.signer is not None or fed.insecure else None)


def _live(store: Store, services: Services) -> Live:
    """The live streams (node/app/live.py), woken by every committed write."""
    from node.store.live import SqlLiveSource

    hub = LiveHub(SqlLiveSource(store, inbox=services.notify is not None),
                  inbox=services.notify is not None)
    store.after_commit.append(hub.committed)
    return Live(hub=hub)


def _oidc(config: Config, clock: Clock) -> OidcProvider | None:
    """The OpenID Connect provider of [sso] (node/sso/oidc.py), if enabled."""
    if not config.sso.enabled:
        return None
    return OidcProvider(config.sso, secret=load_or_create_secret(config.secret_path),
                        now=lambda: int(clock.now().timestamp()))


# --------------------------------------------------------------------------- federation


class Federation:
    """The node's gRPC server and its outbox senders, as one async lifecycle.

    `peers` maps each peer (the parent, the children) to its gRPC address, from the
    configuration; `add_peer` adds one while the node runs (a harness that starts parents
    first learns a child's address only once the child is up). Channels look the address
    up when they are made."""

    def __init__(self, config: Config, transfers: TransferService, notifier: Notifier, *,
                 watermark: Callable[[str], int] | None = None) -> None:
        fed = config.federation
        self.config = config
        self.transfers = transfers
        self.notifier = notifier
        self.watermark = watermark
        self.tls: TlsMaterial | None = None
        self.server: grpc.aio.Server | None = None
        self.port = 0  # the bound gRPC port, once started
        self.senders: dict[str, Sender] = {}
        self.peers: dict[str, str] = dict(fed.children)
        if config.node.parent and fed.parent_address:
            self.peers[config.node.parent] = fed.parent_address
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._running: tuple[asyncio.TaskGroup, asyncio.Event] | None = None
        self.client = PeerClient(self._channel, timeout_s=fed.call_timeout_ms / 1000,
                                 node=config.node.code)
        #: served to the peers' FetchAttachment (node/attaching.py sets it)
        self.attachments: AttachmentService | None = None

    def _channel(self, peer: str) -> grpc.aio.Channel:
        if peer not in self._channels:
            self._channels[peer] = self._channel_factory(peer)()
        return self._channels[peer]

    async def fetch(self, peer: str, issue_id: str, after_version: int
                    ) -> tuple[Issue, list[tuple[Event, str]]]:
        """An issue's events after `after_version` from a peer (gap repair)."""
        return await self.client.fetch(peer, issue_id, after_version)

    async def parent_watermark(self) -> int:
        parent = self.config.node.parent
        if parent is None or parent not in self.peers:
            return 0
        return await self.client.watermark(parent)

    def _channel_factory(self, peer: str) -> Callable[[], grpc.aio.Channel]:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", MAX_TRANSPORT_BYTES),
            ("grpc.max_receive_message_length", MAX_TRANSPORT_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 10_000),
        ]

        def make() -> grpc.aio.Channel:
            address = self.peers[peer]
            if self.tls is None:
                return grpc.aio.insecure_channel(address, options=options)
            return grpc.aio.secure_channel(
                address, self.tls.channel_credentials(),
                options=[*options, *channel_options(peer)])

        return make

    async def start(self, tls: TlsMaterial | None) -> None:
        cfg = self.config
        fed = cfg.federation
        self.tls = tls
        self.server, self.port = build_server(
            self.transfers, address=f"{fed.grpc_host}:{fed.grpc_port}",
            credentials=tls.server_credentials() if tls else None, watermark=self.watermark,
            attachments=self.attachments)
        await self.server.start()
        await mark_serving(self.server)
        for peer in self.peers:
            self._add_sender(peer)
        log.info("node %s gRPC on %s:%d (%s), peers %s", cfg.node.code, fed.grpc_host,
                 self.port, "mutual TLS" if tls else "INSECURE", self.peers or "none")

    def _add_sender(self, peer: str) -> None:
        fed = self.config.federation
        sender = Sender(
            self.transfers, destination=peer, channel_factory=self._channel_factory(peer),
            batch_size=fed.batch_size, call_timeout_s=fed.call_timeout_ms / 1000,
            retry_attempts=fed.retry_attempts, stuck_after=timedelta(seconds=fed.stuck_after_s))
        self.senders[peer] = sender
        self.notifier.register(peer, _threadsafe_wake(asyncio.get_running_loop(), sender.wake))
        if self._running is not None:
            group, stop = self._running
            group.create_task(sender.run(stop))

    async def add_peer(self, peer: str, address: str) -> None:
        """Reach `peer` at `address` from now on (a new peer gets its sender)."""
        known = self.peers.get(peer)
        if known == address:
            return
        self.peers[peer] = address
        if known is None:
            self._add_sender(peer)
            return
        # moved: the next call makes its channels to the new address
        await self.senders[peer].close()
        channel = self._channels.pop(peer, None)
        if channel is not None:
            await channel.close()

    async def run_senders(self, stop: asyncio.Event) -> None:
        """Every sender's loop until `stop`, and those of peers added meanwhile."""
        async with asyncio.TaskGroup() as group:
            self._running = (group, stop)
            try:
                for sender in self.senders.values():
                    group.create_task(sender.run(stop))
                await stop.wait()
            finally:
                self._running = None

    async def stop(self) -> None:
        for sender in self.senders.values():
            await sender.close()
        for channel in self._channels.values():
            await channel.close()
        if self.server is not None:
            await self.server.stop(grace=2)


# --------------------------------------------------------------------------- streams


def place_of(config: Config) -> Place:
    """Where the configured node sits (node/domain/topology.py)."""
    return place_of_unit(config.node.code, parent=config.node.parent,
                         children=config.node.children, level=config.node.level)


class Streams:
    """The node's NATS side: publish its log, apply what flows in, summaries, reconcile."""

    def __init__(self, config: Config, store: Store, clock: Clock, calendar: WorkCalendar,
                 federation: Federation | None = None, *, probe: Probe = NO_PROBE,
                 publications: PublicationService | None = None,
                 units: UnitService | None = None) -> None:
        cfg = config
        self.config = config
        self.store = store
        self.place = place_of(cfg)
        self.federation = federation
        outbox = SqlEventOutbox(store)
        self.publisher = Publisher(outbox, cfg.node.code, window=cfg.nats.publish_window,
                                   probe=probe)
        # 并单: an escalated master answered upstream answers its followers here
        self.merges = MergeService(store=IssueRecords(store), node=cfg.node.code, clock=clock)
        replica = ReplicaService(SqlReplicaRecorder(store), self.place, clock,
                                 fetch=federation.fetch if federation else None, probe=probe,
                                 listeners=[self.merges.answer_replicated])
        self.replicator = Replicator(replica, SqlDeadLetters(store), clock,
                                     stream=inbound_stream(cfg.node.code), probe=probe,
                                     fetch_wait_s=cfg.nats.fetch_wait_s,
                                     fetch_heartbeat_s=cfg.nats.fetch_heartbeat_s)
        self.summaries = Rollup(SqlIssueScan(store), self.place, clock, calendar,
                                children_send_summaries=cfg.node.level == "province",
                                probe=probe, tags=TagRecords(store, cfg.node.code),
                                units=units)  # catalogues travel in the summaries
        self.summary_feed = SummaryFeed(self.summaries, self.place)
        self.publication_feed = (PublicationFeed(publications, SqlDeadLetters(store), clock,
                                                 code=cfg.node.code)
                                 if publications is not None else None)
        # Only a full-replication link has a watermark to compare with: the parent of a
        # county (a city) applies the county's whole stream; a province applies nothing of
        # a city's (summary profile), so a city must not re-publish against it.
        self.reconciler = (Reconciler(outbox, cfg.node.code, federation.parent_watermark,
                                      own_stream_messages=self._own_stream_messages,
                                      probe=probe)
                           if federation is not None and cfg.node.level == "county" else None)
        self.retry_wake = asyncio.Event()
        self.nc: NATS | None = None

    @property
    def latest(self) -> Summary | None:
        return self.summaries.latest

    def applied_count(self) -> int:
        return self.replicator.applied

    def last_lag_s(self) -> float:
        return self.replicator.last_lag_s

    def dead_letters_waiting(self) -> int:
        return self.replicator.dead_letters_waiting()

    def chain_breaks(self) -> int:
        return self.replicator.chain_breaks()

    def chains_rewritten(self) -> dict[str, int]:
        return dict(self.summaries.rewritten)

    def malformed_summaries(self) -> dict[str, int]:
        return dict(self.summaries.malformed)

    async def _own_stream_messages(self) -> int:
        assert self.nc is not None
        info = await self.nc.jetstream().stream_info(events_stream(self.config.node.code))
        return int(info.state.messages)

    async def _reconnected(self) -> None:
        # Pull subscriptions can go silent after a reconnect (nats.py #504): start afresh.
        self.replicator.resubscribe.set()
        if self.publication_feed is not None:
            self.publication_feed.resubscribe.set()
        self.publisher.wake.set()

    async def connect(self) -> JetStreamContext:
        cfg = self.config
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
            loop.call_soon_threadsafe(self.summary_feed.changed.set)
            if self.replicator.parked_gaps:
                loop.call_soon_threadsafe(self.retry_wake.set)

        self.store.after_commit.append(wake)
        return js

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        cfg = self.config
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.publisher.run(js, stop, poll_s=cfg.nats.publish_poll_s))
            tg.create_task(self.replicator.run(js, stop))
            tg.create_task(self.summary_feed.run(js, stop, nc=self.nc,
                                                 poll_s=cfg.nats.summary_poll_s))
            if self.publication_feed is not None:
                feed = self.publication_feed
                feed.service.on_own_change.append(
                    feed.wake_from_thread(asyncio.get_running_loop()))
                tg.create_task(feed.run(js, stop))
            # 并单: followers whose escalated master's answer was committed here but not
            # passed on to them (a crash in between): at start, then every 10 minutes
            tg.create_task(periodically(stop, self.merges.answer_pending,
                                        what="merged followers answered", period_s=600.0,
                                        first_s=1.0))
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
    """The configured rule (node.app.transfers.AutoEscalation), every `period_s`."""
    rule = AutoEscalation(transfers=node.transfers,
                          candidates=node.services.issues.auto_escalation_candidates,
                          after_urges=node.config.federation.auto_escalate_after_urges)
    if not rule.enabled:
        return
    while not stop.is_set():
        try:
            await asyncio.to_thread(rule.run_once)
        except Exception:
            log.exception("auto-escalation scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period_s)


def build_reports(config: Config, store: ReportRecords, clock: Clock,
                  streams: Streams | None) -> ReportService:
    """The periodic reports (node/app/reports.py) with the font the node ships."""
    from node.web.stats_api import subtree_names  # the division reference data's names

    def latest() -> Summary | None:  # a province's children: their latest summaries
        return streams.latest if streams is not None else None

    return ReportService(
        store=store, node=config.node.code, node_name=config.node.name, clock=clock,
        place=place_of(config), font=REPORT_FONT, min_sample=config.metrics.min_sample,
        names=subtree_names(config.node.code, config.node.name), summaries=latest,
        recurrence_window=timedelta(days=config.metrics.recurrence_days))


def build_index(config: Config, store: Store, clock: Clock, streams: Streams | None,
                rules: RulesService) -> IndexService:
    """The 有感指数 (node/app/index.py): weights within the floors' index weights; at a
    city, its sums travel in the summary (node/app/rollup.py) for the province."""
    from node.store.index import IndexRecords
    from node.web.stats_api import subtree_names  # the division reference data's names

    def latest() -> Summary | None:
        return streams.latest if streams is not None else None

    index = IndexService(
        store=IndexRecords(store), node=config.node.code, clock=clock, place=place_of(config),
        min_sample=config.metrics.min_sample, weights=config.index.weights,
        floors=lambda: [dict(f.index_weights) for f in rules.floors()], summaries=latest,
        names=subtree_names(config.node.code, config.node.name),
        recurrence_window=timedelta(days=config.metrics.recurrence_days),
        summary_every=timedelta(seconds=config.index.summary_every_s))
    if streams is not None and config.node.level == "city":
        streams.summaries.index = index.summary_index
    return index


def _report_index(index: IndexService) -> Callable[[Period, datetime], dict[str, Any]]:
    """A report's 有感指数 ranking: the index's own table at the node's report level."""
    def table(period: Period, now: datetime) -> dict[str, Any]:
        return index.table(period, index.report_level(), now)
    return table


async def periodically(stop: asyncio.Event, work: Callable[[], object], *, what: str,
                       period_s: float, first_s: float) -> None:
    """`work` in a thread `first_s` after start and then every `period_s` until `stop`: one
    wake per period on an idle node; a failing round is logged and the next one runs."""
    wait = first_s
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
        if stop.is_set():
            return
        try:
            done = await asyncio.to_thread(work)
            if done:
                log.info("%s: %s", what, done)
        except Exception:
            log.exception("%s failed", what)
        wait = period_s


async def run_reports(node: Node, stop: asyncio.Event, *, period_s: float = 300.0) -> None:
    """Each period's report once it has ended (node.app.reports.ReportService.run_due):
    first `min(period_s, 60)` s after start, then every `period_s`."""
    reports = node.services.reports
    if reports is None:
        return
    await periodically(stop, reports.run_due, what="periodic reports", period_s=period_s,
                       first_s=min(period_s, 60.0))


async def sweep_attachments(node: Node, stop: asyncio.Event, *,
                            period_s: float = 6 * 3600.0) -> None:
    """Remove the attachment files nothing references (what an upload that lost a race
    leaves: node/app/attachments.py) a day after they were written: every `period_s`,
    first `min(period_s, 600)` s after start."""
    attachments = node.services.attachments
    if attachments is None:
        return
    await periodically(stop, attachments.sweep_unreferenced,
                       what=f"node {node.config.node.code}: unreferenced attachment files "
                            f"swept", period_s=period_s, first_s=min(period_s, 600.0))


# --------------------------------------------------------------------------- process


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `running()` decides when it stops (several
    nodes may share one process; `serve()` maps SIGINT/SIGTERM to `Running.stop`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        """uvicorn's loop wakes ten times a second to refresh its Date header and look at
        `should_exit`; an idle node should sleep. Once a second, and at once on exit."""
        self.exit_requested = asyncio.Event()
        while not await self.on_tick(0):  # counter 0: the Date header is refreshed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), timeout=1.0)

    def request_exit(self) -> None:
        self.should_exit = True
        if getattr(self, "exit_requested", None) is not None:
            self.exit_requested.set()


def _listen(host: str, port: int) -> socket.socket:
    """The HTTP listening socket, bound and listening before anything is announced (port 0:
    the OS picks; a connection made right away waits in the backlog for uvicorn)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listener's protocol says TCP; with protocol 0 every response waited for the peer's
    # delayed ACK (44 ms per request instead of 0.5 ms, measured by bench.intake)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(kw_only=True)
class Running:
    """A node at work, as `running()` yields it."""

    node: Node
    http_port: int
    _stop: asyncio.Event
    #: what failed while stopping (logged too; each step runs regardless)
    shutdown_errors: list[str] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.node.config

    @property
    def code(self) -> str:
        return self.node.config.node.code

    @property
    def services(self) -> Services:
        return self.node.services

    @property
    def issues(self) -> IssueService:
        return self.node.services.issues

    @property
    def transfers(self) -> TransferService:
        return self.node.transfers

    @property
    def federation(self) -> Federation | None:
        return self.node.federation

    @property
    def streams(self) -> Streams | None:
        return self.node.streams

    @property
    def grpc_port(self) -> int | None:
        return self.node.federation.port if self.node.federation is not None else None

    @property
    def grpc_address(self) -> str | None:
        fed = self.node.config.federation
        port = self.grpc_port
        return f"{fed.grpc_host}:{port}" if port is not None else None

    def stop(self) -> None:
        """Stop the node: the `running()` context then ends. Call it in the node's event
        loop (a signal handler there; from another thread, `loop.call_soon_threadsafe`)."""
        self._stop.set()

    async def stopped(self) -> None:
        await self._stop.wait()


def _override(config: Config, **sections: dict[str, Any]) -> Config:
    """`config` with some settings replaced (None values are left as configured)."""
    changes = {name: {k: v for k, v in values.items() if v is not None}
               for name, values in sections.items()}
    return config.model_copy(update={
        name: getattr(config, name).model_copy(update=values)
        for name, values in changes.items() if values})


@asynccontextmanager
async def running(config: Config, *, clock: Clock | None = None, engine: Engine | None = None,
                  http_port: int | None = None, grpc_port: int | None = None,
                  parent_address: str | None = None, nats_url: str | None = None,
                  senders: bool = True, auto_escalate_every_s: float | None = 60.0,
                  connect_streams: bool = True, probe: Probe = NO_PROBE,
                  notify: bool = True, reports_every_s: float | None = 300.0,
                  sweep_every_s: float | None = 6 * 3600.0) -> AsyncIterator[Running]:
    """Build the node of `config` and run it until the context ends.

    `http_port`, `grpc_port`, `parent_address`, `nats_url` replace the configured values
    (a port of 0: the OS picks; `Running.http_port`/`grpc_port` tell). `senders=False`:
    the outbox senders exist but do not run by themselves (the caller drains them,
    `node.federation.senders[peer].drain_once()`); `auto_escalate_every_s=None`: the
    automatic escalation rule does not run by itself; `connect_streams=False`: the stream
    parts are built (the API reads their summaries) but never connect to NATS; `probe`:
    see `build`; `notify=False`: the notification dispatcher and light scanner do not
    run by themselves (a test drives them); `reports_every_s=None`: periodic reports are
    not made by themselves; `sweep_every_s=None`: unreferenced attachment files are not
    swept by themselves."""
    config = _override(config, http={"port": http_port},
                       federation={"grpc_port": grpc_port, "parent_address": parent_address},
                       nats={"url": nats_url})
    cfg = config
    node = build(config, clock=clock, engine=engine, probe=probe)
    stop = asyncio.Event()
    handle: Running | None = None
    errors: list[str] = []
    sock: socket.socket | None = None
    try:
        js = None
        rules = node.services.rules
        if rules is not None:
            check_start(rules)  # own rules looser than a stored floor: refused, named
        if node.federation is not None:
            tls = federation_tls(cfg, node.services.issues.clock)
            if rules is not None:
                arm(rules.publications, tls)
            await node.federation.start(tls)
        if rules is not None:
            await asyncio.to_thread(rules.publications.prepare_own)  # own floors, signed
        if node.streams is not None and connect_streams:
            js = await node.streams.connect()
        sock = _listen(cfg.http.host, cfg.http.port)
        http_port = int(sock.getsockname()[1])
        server = _HttpServer(uvicorn.Config(
            node.app, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=cfg.http.shutdown_timeout_s,
            http="httptools"))  # the C parser; the event loop is the caller's (serve: uvloop)
        log.info("node %s %s serving on http://%s:%d/api/v1/ (database %s)", cfg.node.code,
                 cfg.node.name, cfg.http.host, http_port,
                 node.engine.url.render_as_string(hide_password=True))

        async def http(listener: socket.socket) -> None:
            try:
                await server.serve(sockets=[listener])
            finally:
                stop.set()

        async def until_stopped() -> None:
            await stop.wait()
            if node.services.live is not None:
                node.services.live.hub.close()  # open streams would hold the server
            server.request_exit()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(http(sock))
            tg.create_task(until_stopped())
            if node.federation is not None:
                if senders:
                    tg.create_task(node.federation.run_senders(stop))
                if auto_escalate_every_s is not None:
                    tg.create_task(auto_escalate(node, stop, period_s=auto_escalate_every_s))
            if node.streams is not None and js is not None:
                tg.create_task(node.streams.run(js, stop))
            if node.services.notify is not None and notify:
                tg.create_task(node.services.notify.run_all(stop))
            if reports_every_s is not None:
                tg.create_task(run_reports(node, stop, period_s=reports_every_s))
            if sweep_every_s is not None:
                tg.create_task(sweep_attachments(node, stop, period_s=sweep_every_s))
            handle = Running(node=node, http_port=http_port, _stop=stop,
                             shutdown_errors=errors)
            try:
                yield handle
            finally:
                stop.set()
    finally:
        stop.set()
        # each step on its own: one failing must not skip the others
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if node.streams is not None:
            steps.append(("streams", node.streams.close))
        if node.federation is not None:
            steps.append(("federation", node.federation.stop))
        for name, step in steps:
            try:
                await step()
            except Exception as exc:
                log.exception("node %s: stopping its %s failed", cfg.node.code, name)
                errors.append(f"{name}: {exc!r}")
        if sock is not None:
            sock.close()
        node.engine.dispose()


def serve(config: Config) -> None:
    """`zhitong node run`: the node until SIGINT or SIGTERM (then a graceful stop)."""

    async def main() -> None:
        try:
            async with running(config) as node:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, node.stop)
                await node.stopped()
        except RuleViolation as exc:  # own rules looser than a floor (node/publishing.py)
            raise refusal(exc) from None

    # uvloop: the libuv event loop (gRPC aio, nats-py and uvicorn all run on it); the
    # standard loop where it is missing
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on Windows
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
