"""Stream names, subjects and their idempotent setup in each node's JetStream domain.

Per node `c` (domain `zt<c>`):
* `ZT_EV_<c>` — c's own event log, subjects `zt.<c>.ev.<origin>.<issue id>`, limits
  retention with a long max age (WorkQueue/Interest origins lose data over leaf links).
  Created once, never re-created (nats-server #6206).
* `ZT_IN_<c>` — what c applies, sourced over leaf links via `$JS.<domain>.API`: every
  child's log in full where the link's profile is full (county → city), nothing of it
  where the profile is summary (city → province), and from every ancestor only the events
  of issues that originated in c's subtree (status flowing down). Each source delivers to
  subjects of its own, `ztsrc.<c>.<source>.…`: the names the leaf links' permissions let
  through to c alone (federation/nats/server_config.py).
* `ZT_SUM_<c>` — KV-style summaries (one message per subject kept): c's own subtree
  summary on `zt.<c>.sum`, plus its children's, sourced. City → province carries only these
  summaries, never enterprise data.
* `ZT_PUB_<c>` — publications, KV-style (the latest per subject): c's own documents on
  `zt.<c>.pub.<kind>`, plus its parent's whole publication stream, sourced — which holds
  the parent's documents and, sourced in turn, its ancestors'. So documents flow down
  the chain unchanged, each link carrying only what its parent holds; signatures, not
  the relay, vouch for them (node/app/publications.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import NotFoundError

from federation.nats.server_config import deliver_prefix, domain_of
from federation.nats.subjects import Subject
from node.domain.topology import Place

TEN_YEARS_S = 10 * 365 * 24 * 3600.0


def events_stream(code: str) -> str:
    return f"ZT_EV_{code}"


def inbound_stream(code: str) -> str:
    return f"ZT_IN_{code}"


def summary_stream(code: str) -> str:
    return f"ZT_SUM_{code}"


def publications_stream(code: str) -> str:
    return f"ZT_PUB_{code}"


def _external(source: str, receiver: str) -> ExternalStream:
    """`source`'s stream seen from `receiver`'s domain: its domain's API, and a deliver
    prefix of its own for every (receiver, source) pair, which is what lets the leaf links'
    permissions pass each delivery to its receiver only (federation/nats/server_config.py)."""
    return ExternalStream(api=f"$JS.{domain_of(source)}.API",
                          deliver=deliver_prefix(receiver, source))


def inbound_sources(place: Place) -> list[StreamSource]:
    if place.full_children:
        sources = [StreamSource(name=events_stream(c), external=_external(c, place.code))
                   for c in place.children]
    else:  # summary profile: only the issues this node originated and dispatched down
        sources = [StreamSource(name=events_stream(c), external=_external(c, place.code),
                                filter_subject=Subject.events(c, place.code).build())
                   for c in place.children]
    for ancestor in place.ancestors:
        for origin in place.subtree:
            sources.append(StreamSource(
                name=events_stream(ancestor), external=_external(ancestor, place.code),
                filter_subject=Subject.events(ancestor, origin).build()))
    return sources


def stream_configs(place: Place) -> Sequence[StreamConfig]:
    common = {"retention": RetentionPolicy.LIMITS, "storage": StorageType.FILE,
              "discard": DiscardPolicy.OLD, "max_age": TEN_YEARS_S}
    return (
        StreamConfig(name=events_stream(place.code),
                     subjects=[Subject.events(place.code).build()],
                     duplicate_window=120.0, **common),  # type: ignore[arg-type]
        StreamConfig(name=inbound_stream(place.code), sources=inbound_sources(place) or None,
                     **common),  # type: ignore[arg-type]
        StreamConfig(name=summary_stream(place.code),
                     subjects=[Subject.summary(place.code).build()], max_msgs_per_subject=1,
                     sources=[StreamSource(name=summary_stream(c),
                                           external=_external(c, place.code))
                              for c in place.children] or None,
                     **common),  # type: ignore[arg-type]
        StreamConfig(name=publications_stream(place.code),
                     subjects=[Subject.publication(place.code).build()],
                     max_msgs_per_subject=1,
                     sources=[StreamSource(name=publications_stream(place.parent),
                                           external=_external(place.parent, place.code))]
                     if place.parent else None,
                     **common),  # type: ignore[arg-type]
    )


async def ensure_streams(js: JetStreamContext, place: Place, *, own_only: bool = False) -> None:
    """Create missing streams; update sources of existing ones; never delete or re-create.

    `own_only`: just the node's event log. Creating every node's log before any sourcing
    stream spares the sources nats-server's slow retry after a first "stream not found".
    """
    configs = stream_configs(place)
    for config in configs[:1] if own_only else configs:
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        current = info.config
        if (current.sources or []) != (config.sources or []) and config.name != events_stream(
                place.code):
            await js.update_stream(config)


async def prepare_streams(places: Sequence[Place], connect: Callable[[str], Awaitable[NATS]]
                          ) -> None:
    """Every node's streams before the nodes start (`zhitong up`, the test harnesses):
    first each node's own event log, then the streams that source them.

    A sourcing stream created before the log it sources exists gets nats-server's slow
    retry after its first "stream not found" (10-30 s before anything flows); created in
    this order, everything flows at once, and each node's own `ensure_streams` when it
    connects finds its streams in place. `connect(code)`: a client of that node's server
    with the node's user (closed here). The nodes' servers are distinct, so each step runs
    for every node at once (16 at a time); for Zhejiang's 102 nodes the streams still take
    ~6 s, most of it the servers creating the sourcing streams."""
    clients: dict[str, NATS] = {}
    gate = asyncio.Semaphore(16)

    async def connected(code: str) -> None:
        async with gate:
            clients[code] = await connect(code)

    async def ensured(place: Place, own_only: bool) -> None:
        async with gate:
            await ensure_streams(clients[place.code].jetstream(), place, own_only=own_only)

    try:
        await asyncio.gather(*(connected(place.code) for place in places))
        for own_only in (True, False):  # every own log before any stream that sources one
            await asyncio.gather(*(ensured(place, own_only) for place in places))
    finally:
        for nc in clients.values():
            await nc.close()
