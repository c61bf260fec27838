"""A small asyncio TCP proxy on loopback that injects network faults into one link.

Put it between a client and its server (the county's NATS leaf remote and the city's leaf
port; the county's gRPC sender and the city's gRPC server) and, while traffic flows:

* `cut()` — close every live connection (FIN) and reset new ones until `restore()`;
* `reset()` — abort every live connection with a TCP RST (SO_LINGER 0), new ones pass;
* `delay_s` — hold every chunk this long before forwarding it (in order);
* `stall()` — stop forwarding (connections stay open, bytes wait) until `restore()`.

It listens on 127.0.0.1 only and forwards only to a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(eq=False)  # identity hash: kept in a set
class _Conn:
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    reset: int = 0
    cut: int = 0
    bytes: int = 0


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                 port: int = 0, name: str = "proxy") -> None:
        if upstream_host not in LOOPBACK:
            raise ValueError("the fault proxy forwards to loopback only")
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.name = name
        self.delay_s = 0.0
        self.stats = ProxyStats()
        self._refusing = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            self._drop(conn, rst=True)
        for conn in list(self._conns):
            for task in conn.tasks:
                task.cancel()
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._conns.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            self._server = None

    # ------------------------------------------------------------------ faults

    @property
    def live(self) -> int:
        return len(self._conns)

    def cut(self) -> int:
        """Partition: close what is open (FIN) and reset every new connection."""
        self._refusing = True
        n = len(self._conns)
        for conn in list(self._conns):
            self._drop(conn, rst=False)
        self.stats.cut += n
        return n

    def reset(self) -> int:
        """Abort every live connection with RST; new connections are accepted."""
        n = len(self._conns)
        for conn in list(self._conns):
            self._drop(conn, rst=True)
        self.stats.reset += n
        return n

    def stall(self) -> None:
        """Stop forwarding bytes; connections stay open until `restore()`."""
        self._flowing.clear()

    def restore(self) -> None:
        self._refusing = False
        self.delay_s = 0.0
        self._flowing.set()

    # ------------------------------------------------------------------ plumbing

    def _drop(self, conn: _Conn, *, rst: bool) -> None:
        for writer in conn.writers:
            if rst:
                _abort(writer)
            else:
                writer.close()
        self._conns.discard(conn)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        if self._refusing:
            self.stats.refused += 1
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), timeout=5)
        except (OSError, TimeoutError):
            _abort(writer)
            return
        self.stats.accepted += 1
        conn = _Conn(writers=[writer, up_writer])
        self._conns.add(conn)
        conn.tasks = [asyncio.ensure_future(self._pump(reader, up_writer, conn)),
                      asyncio.ensure_future(self._pump(up_reader, writer, conn))]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._drop(conn, rst=False)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    conn: _Conn) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)  # the injected latency
                await self._flowing.wait()
                if conn not in self._conns:
                    break
                writer.write(data)
                await writer.drain()
                self.stats.bytes += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            # one direction ended: end the other one too (a half-open link is not a fault
            # we inject on purpose)
            for w in conn.writers:
                with contextlib.suppress(Exception):
                    w.close()
