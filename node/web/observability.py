"""Operations: Prometheus metrics at /metrics and JSON logs.

Each app has its own registry (several nodes can live in one test process). Request
counts and latencies come from a middleware keyed by route template (never the raw path,
so ids do not explode the label space); outbox depth and age, replication lag, events
applied and summary age are read when scraped, from the node's own state.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.app.clock import SystemClock


class NodeCollector:
    """Scrape-time gauges from the node's outbox, replicator and summaries."""

    def __init__(self, services: Any) -> None:
        self.services = services

    def collect(self) -> Any:
        s = self.services
        depth = GaugeMetricFamily("zhitong_outbox_depth", "transfers pending per destination",
                                  labels=["destination"])
        age = GaugeMetricFamily("zhitong_outbox_oldest_age_seconds",
                                "age of the oldest pending transfer", labels=["destination"])
        stuck = GaugeMetricFamily("zhitong_outbox_stuck", "1 when a destination is stuck",
                                  labels=["destination"])
        status = s.transfers.outbox_status(s.stuck_after)
        for dest, d in status["destinations"].items():
            depth.add_metric([dest], d["depth"])
            age.add_metric([dest], d["oldest_age_s"])
            stuck.add_metric([dest], 1.0 if d["stuck"] else 0.0)
        yield from (depth, age, stuck)
        notify = getattr(s, "notify", None)
        if notify is not None:  # deliveries per status (pending, delivered, parked) and channel
            deliveries = GaugeMetricFamily("zhitong_notifications",
                                           "notification deliveries per status and channel",
                                           labels=["status", "channel"])
            for (state, channel), n in sorted(notify.counts().items()):
                deliveries.add_metric([state, channel], float(n))
            yield deliveries
        rules = getattr(s, "rules", None)
        if rules is not None:  # rule floors and publications (node/app/floors.py)
            conflicts = GaugeMetricFamily(
                "zhitong_rule_floor_conflicts",
                "own rules looser than a floor set from above (an alarm: the floor applies)")
            conflicts.add_metric([], float(len(rules.alarms())))
            yield conflicts
            refused = CounterMetricFamily(
                "zhitong_publications_refused",
                "documents from above refused (bad signature, older, unknown issuer, ...)",
                labels=["code"])
            for code, count in sorted(rules.publications.refused.items()):
                refused.add_metric([code], float(count))
            yield refused
            accepted = CounterMetricFamily("zhitong_publications_accepted",
                                           "documents from above accepted and stored")
            accepted.add_metric([], float(rules.publications.accepted))
            yield accepted
        streams = s.streams
        if streams is not None:
            applied = GaugeMetricFamily("zhitong_events_applied",
                                        "replicated events applied since start")
            applied.add_metric([], float(getattr(streams, "applied_count", lambda: 0)()))
            yield applied
            lag = GaugeMetricFamily("zhitong_replication_lag_seconds",
                                    "event time to local apply, last applied event")
            lag.add_metric([], float(getattr(streams, "last_lag_s", lambda: 0.0)()))
            yield lag
            waiting = GaugeMetricFamily(
                "zhitong_dead_letters_waiting",
                "stream messages parked in the dead-letter table and not resolved")
            waiting.add_metric([], float(getattr(streams, "dead_letters_waiting",
                                                 lambda: 0)()))
            yield waiting
            breaks = GaugeMetricFamily(
                "zhitong_chain_breaks",
                "replicated events refused because they break their writer's hash chain")
            breaks.add_metric([], float(getattr(streams, "chain_breaks", lambda: 0)()))
            yield breaks
            rewritten = CounterMetricFamily(
                "zhitong_chain_rewrites",
                "children's summaries whose hash chain head of a writer went back or changed",
                labels=["writer"])
            for writer, count in getattr(streams, "chains_rewritten", dict)().items():
                rewritten.add_metric([writer], float(count))
            yield rewritten
            malformed = CounterMetricFamily(
                "zhitong_summary_malformed", "child summaries ignored as malformed",
                labels=["child"])
            for child, count in getattr(streams, "malformed_summaries", dict)().items():
                malformed.add_metric([child], float(count))
            yield malformed
            latest = streams.latest
            summary_age = GaugeMetricFamily("zhitong_summary_age_seconds",
                                            "age of the node's current subtree summary")
            if latest is not None:
                summary_age.add_metric(
                    [], (SystemClock().now() - latest.as_of) / timedelta(seconds=1))
            yield summary_age


class RequestMetrics:
    """Counts and times every HTTP request by method, route template and status.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` (BaseHTTPMiddleware)
    runs each request through a task group and memory streams, a fixed cost on every call
    of the API for two counter updates. The route is the one the router wrote into the
    request's scope; the time runs to the end of the response body (a streamed export
    included)."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception escaping the app is answered 500 (node/web/problems.py)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.requests.labels(method, name, str(status)).inc()
            self.latency.labels(method, name).observe(time.perf_counter() - start)


#: `/metrics`, in the route table every app of a process shares (node/web/api.py): each
#: app answers from its own registry, kept in its state by `install`
router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, services: Any) -> None:
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    requests = Counter("zhitong_http_requests", "HTTP requests", ["method", "route", "status"],
                       registry=registry)
    latency = Histogram("zhitong_http_request_seconds", "HTTP request latency",
                        ["method", "route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
    registry.register(NodeCollector(services))

    app.add_middleware(RequestMetrics, requests=requests, latency=latency)


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """`text` for people at a terminal; `json` (one object per line) for log collectors.
    Log calls pass `extra={"issue_id": …}` where an issue is concerned."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{message}", style="{",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
