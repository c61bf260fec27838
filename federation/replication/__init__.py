"""Event streams at run time: publish the node's log, apply what flows in, reconcile.

The NATS adapters of replication; what they move is decided elsewhere (node/app/replica.py
for applying, node/store/eventlog.py for the SQL):

* **Publisher** (`publisher.py`) — the SQL event table is the truth and the outbox. Own
  events not yet acknowledged by the broker (`published = false`) are published in writer
  order with the event id as `Nats-Msg-Id`; only a PubAck counts, and the flag is set
  after it. A crash in between re-publishes: the broker drops repeats inside its window,
  the appliers beyond it.
* **Replicator** (`consumer.py`) — a durable pull consumer on the node's inbound stream.
  Each message is applied in one transaction by the replica service and acknowledged only
  after the commit: a version at or below the replica's is a duplicate (ack), the next
  version is applied, a higher one is a gap repaired by a gRPC Fetch from a peer. An event
  must be written by the issue's current owner, and nothing from outside ever changes an
  issue this node owns. Malformed messages and ones still failing after `MAX_DELIVER`
  deliveries go to the dead-letter table.
* **Reconciler** (`reconciler.py`) — asks the parent how far it has applied this node's
  stream (gRPC Watermark) and marks everything beyond as unpublished, so the publisher
  re-sends it.
"""

from federation.replication.consumer import Replicator
from federation.replication.publisher import Publisher
from federation.replication.reconciler import Reconciler

__all__ = ["Publisher", "Reconciler", "Replicator"]
