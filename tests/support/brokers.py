"""The NATS side of a local test federation: one nats-server per unit in the leaf topology
(TLS on the leaf links, one JetStream domain each), configured by the same generator as
deploy/<tier>/nats-server.conf (federation/nats/server_config.py).

Servers start parents first: each one's client and leaf ports come from the OS (port -1)
and are read back when it is ready (federation/nats/process.py), and a child's leaf
remote points at the port its parent got. A restarted server takes the ports it had, so
its clients and leaves reconnect to the same addresses. `leaf_routes` puts something else
(a fault proxy) between a child's server and its parent's leaf listener.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from federation.nats.process import NatsServer
from federation.nats.server_config import RANDOM_PORT, LeafTls, node_user, spec_in, write
from federation.nats.streams import prepare_streams
from node.domain.topology import Topology

PASSWORD = "test-node-secret"  # every node user's
LEAF_PASSWORD = "test-leaf-secret"  # every leaf link's
HOST = "127.0.0.1"


class Brokers:
    def __init__(self, root: Path, topology: Topology, *, no_advertise: bool = False) -> None:
        self.root = root
        self.topology = topology
        self.no_advertise = no_advertise  # leaf listeners keep their leaves on given URLs
        self.servers: dict[str, NatsServer] = {}
        self.client_ports: dict[str, int] = {}  # bound once, kept across restarts
        self.leaf_ports: dict[str, int] = {}
        #: child → the address its server dials for its parent's leaf listener
        self.leaf_routes: dict[str, str] = {}

    def url(self, code: str) -> str:
        return f"nats://{HOST}:{self.client_ports[code]}"

    def leaf_address(self, code: str) -> str:
        """Where `code`'s leaf listener is (it has children and has started)."""
        return f"{HOST}:{self.leaf_ports[code]}"

    def parent_leaf(self, code: str) -> str | None:
        """The address `code`'s server dials for its parent's leaf listener."""
        parent = self.topology.parent(code)
        if parent is None:
            return None
        return self.leaf_routes.get(code) or self.leaf_address(parent)

    def start(self, code: str) -> NatsServer:
        """Start (or restart) `code`'s server; its parent's must have started once."""
        parent_leaf = self.parent_leaf(code)
        spec = spec_in(
            self.topology, code, store_dir=self.root / "nats" / code, node_password=PASSWORD,
            leaf_password=LEAF_PASSWORD, tls=LeafTls.of_dir(self.root / "tls" / code),
            parent_leaf_url=f"tls://{parent_leaf}" if parent_leaf else None,
            client_port=self.client_ports.get(code, RANDOM_PORT),
            leaf_port=self.leaf_ports.get(code, RANDOM_PORT), no_advertise=self.no_advertise)
        conf = write(spec, self.root / "nats" / f"{code}.conf")
        server = NatsServer(conf, host=HOST, log=self.root / "nats" / f"{code}.log").start()
        assert server.port is not None
        self.client_ports[code] = server.port
        if server.leaf_port is not None:
            self.leaf_ports[code] = server.leaf_port
        self.servers[code] = server
        return server

    async def connect(self, code: str) -> NATS:
        """A client of `code`'s server as its node user."""
        return await nats.connect(self.url(code), user=node_user(code), password=PASSWORD,
                                  connect_timeout=5)

    async def prepare_streams(self, codes: Iterable[str]) -> None:
        """These units' streams, own logs first (federation/nats/streams.prepare_streams)."""
        await prepare_streams([self.topology.place(c) for c in codes], self.connect)

    def stop_all(self) -> None:
        for server in self.servers.values():  # every one told first, then each awaited
            if server.proc is not None and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGTERM)
        for server in self.servers.values():
            server.stop()
