"""The instrumentation seam: how a component reports where its time goes.

A component that is worth looking inside takes a `probe` at construction and runs each of
its stages inside `probe.timed(stage, keys)`; `keys` name what the stage works on (event
ids), for a reader that follows items from stage to stage. `probe.mark(stage, keys)` says
that `keys` reached a point (an outcome, say) just now, and how many when they have no
keys. Stage names are the `Stage` members, one per step of a component; the benches read
them (bench/common/probes.py records them) instead of patching the components' methods.

The default, `NO_PROBE`, does nothing: `timed` hands back one shared no-op context
manager, so an uninstrumented node pays a method call and an empty `with` per stage (tens
of nanoseconds; a stage is a transaction, a publish or a fetch). A probe is called from
the event loop and from worker threads alike, so a recording one must be thread-safe, and
it must never raise: what it does is not the component's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import Protocol


class Stage(StrEnum):
    """The stages components report, named `<component>.<step>`."""

    # the publisher (federation/replication/publisher.py); keys: event ids
    PUBLISHER_PENDING = "publisher.pending"  # read the unpublished events (one window)
    PUBLISHER_PICKED = "publisher.picked"  # mark: these were read
    PUBLISHER_PUBLISH = "publisher.publish"  # publish the window, await the PubAcks
    PUBLISHER_MARK = "publisher.mark"  # flag the acknowledged ones published
    # the replicator, the NATS consumer (federation/replication/consumer.py)
    REPLICATOR_FETCH = "replicator.fetch"  # wait for and pull the next messages
    REPLICATOR_BATCH = "replicator.handle_batch"  # a fetched batch (keys: event ids)
    REPLICATOR_HANDLE = "replicator.handle"  # one message, the careful path (keys: its id)
    REPLICATOR_ACK = "replicator.ack"  # one acknowledgement to the broker
    # applying replicated events (node/app/replica.py); keys: event ids
    REPLICA_APPLY = "replica.apply"  # one event, one transaction
    REPLICA_APPLY_MANY = "replica.apply_many"  # a batch, one transaction
    REPLICA_APPLIED = "replica.applied"  # marks, one per outcome (replica.Outcome)
    REPLICA_DUPLICATE = "replica.duplicate"
    REPLICA_GAP = "replica.gap"
    REPLICA_OWNED = "replica.owned"
    REPLICA_REFUSED = "replica.refused"
    # the subtree summary (node/app/rollup.py)
    ROLLUP_COMPUTE = "rollup.compute"  # scan the store and fold the children's
    # the reconciler (federation/replication/reconciler.py)
    RECONCILER_RESEND = "reconciler.resend"  # mark the parent's missing events unpublished
    RECONCILER_RESENT = "reconciler.resent"  # mark: how many (count)
    # transfers (node/app/transfers/service.py): the sending and the receiving side
    TRANSFERS_REQUEST = "transfers.request"  # queue an escalation or a return (write txn)
    TRANSFERS_NEXT_ATTEMPT = "transfers.next_attempt_at"  # the destination's backoff
    TRANSFERS_DUE = "transfers.due"  # the next batch of the outbox (read txn)
    TRANSFERS_ACCEPT = "transfers.accept"  # take a transfer in (the receiver's write txn)
    TRANSFERS_RECORD_ACCEPTED = "transfers.record_accepted"  # the answer (write txn)
    TRANSFERS_RECORD_REACHABLE = "transfers.record_reachable"  # reset the backoff
    # the outbox sender and the gRPC server (federation/sender.py, federation/server.py)
    SENDER_DRAIN = "sender.drain"  # one drain_once: read, ship, record
    SENDER_SHIP = "sender.ship"  # one transfer's call as the sender sees it
    SENDER_ENCODE = "sender.encode"  # the transfer to protobuf
    SENDER_DECODE_REPLY = "sender.decode_reply"  # the answer from protobuf
    SERVER_DECODE = "server.decode"  # the transfer from protobuf (with its history)
    SERVER_ENCODE_REPLY = "server.encode_reply"  # the answer to protobuf


class Probe(Protocol):
    def timed(self, stage: Stage, keys: Sequence[str] = ()) -> AbstractContextManager[None]:
        """A context manager around one run of `stage` over `keys`."""
        ...

    def mark(self, stage: Stage, keys: Sequence[str] = (), *, count: int | None = None
             ) -> None:
        """`keys` reached `stage` now; `count`: how many, when not `len(keys)`."""
        ...


_NOTHING: AbstractContextManager[None] = nullcontext()  # reusable: it holds no state


class NoProbe:
    """The probe of a node nobody watches."""

    __slots__ = ()

    def timed(self, stage: Stage, keys: Sequence[str] = ()) -> AbstractContextManager[None]:
        return _NOTHING

    def mark(self, stage: Stage, keys: Sequence[str] = (), *, count: int | None = None
             ) -> None:
        return None


NO_PROBE: Probe = NoProbe()
