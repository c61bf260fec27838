"""City-hosted units (市级统建): one process runs several complete nodes.

A hosting file lists the units. Each is a whole node configuration — its own store, TLS
identity, NATS user, HTTP and gRPC address — with optional overrides in the environment
style of node/config.py (`ZHITONG__HTTP__PORT = "8522"`), so moving a unit to its own
machine means moving its configuration and store and running `zhitong node run` there:
nothing in the protocol knows it was hosted (a hosted county still escalates over gRPC
and replicates over its own NATS link).

```toml
[hosting]
restart_initial_s = 1      # a failed unit is started again after 1 s, 2 s, 4 s … 60 s
restart_max_s = 60

[[units]]
config = "330500.toml"     # relative to this file

[[units]]
config = "330522.toml"
env = { ZHITONG__HTTP__PORT = "8522" }
```

Each unit runs under its own supervisor task (`supervise`): a unit whose node fails — it
cannot bind its port, its database is gone, a task inside it raised — is logged, counted
and started again with a capped backoff, while the others keep serving. The file is
checked as a whole before anything starts: two units may not share a code, a port, a data
directory or a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from node.config import Config, ConfigError, load_config

log = logging.getLogger("zhitong.hosting")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostingSection(_Section):
    restart_initial_s: float = Field(default=1.0, gt=0, le=600)
    restart_max_s: float = Field(default=60.0, gt=0, le=3600)


class HostedUnit(_Section):
    config: Path
    env: dict[str, str] = Field(default_factory=dict)


class HostingFile(_Section):
    hosting: HostingSection = HostingSection()
    units: list[HostedUnit] = Field(min_length=1, max_length=200)


@dataclass(frozen=True, kw_only=True, slots=True)
class Hosted:
    """What a hosting file says: the units' configurations, checked together."""

    configs: tuple[Config, ...]
    restart_initial_s: float
    restart_max_s: float


def _clashes(configs: Sequence[Config]) -> list[str]:
    """What two units may not share: code, HTTP/gRPC port, data directory, database."""
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}

    def claim(what: str, value: object, code: str) -> None:
        key = (what, str(value))
        other = seen.setdefault(key, code)
        if other != code:
            problems.append(f"units {other} and {code} share the {what} {value}")

    for c in configs:
        code = c.node.code
        if (("code", code)) in seen:
            problems.append(f"unit {code} is listed twice")
            continue
        seen[("code", code)] = code
        if c.http.port:
            claim("HTTP port", c.http.port, code)
        if c.federation.enabled and c.federation.grpc_port:
            claim("gRPC port", c.federation.grpc_port, code)
        claim("data directory", Path(c.node.data_dir).resolve(), code)
        if c.database.url:
            claim("database", c.database.url, code)
    return problems


def load_hosting(path: Path | str, env: Mapping[str, str] | None = None) -> Hosted:
    """The hosting file at `path`, every unit's configuration loaded and checked; a
    ConfigError naming the unit and the problem otherwise. `env` (the process's
    environment) applies to every unit, the unit's own `env` on top."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            tree: dict[str, Any] = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"hosting file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None
    try:
        spec = HostingFile.model_validate(tree)
    except PydanticValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in err['loc']) or '(root)'}: {err['msg']}"
                 for err in exc.errors()]
        raise ConfigError(f"invalid hosting file {p}:\n" + "\n".join(lines)) from None
    configs = []
    for i, unit in enumerate(spec.units):
        target = unit.config if unit.config.is_absolute() else p.parent / unit.config
        try:
            configs.append(load_config(target, {**(env or {}), **unit.env}))
        except ConfigError as exc:
            raise ConfigError(f"{p}: units[{i}] ({target}): {exc}") from None
    problems = _clashes(configs)
    if problems:
        raise ConfigError(f"invalid hosting file {p}:\n" + "\n".join(
            f"  {problem}" for problem in problems))
    return Hosted(configs=tuple(configs), restart_initial_s=spec.hosting.restart_initial_s,
                  restart_max_s=spec.hosting.restart_max_s)


@dataclass
class UnitState:
    """One hosted unit as its supervisor sees it (for logs, tests and operators)."""

    code: str
    up: bool = False
    starts: int = 0
    failures: int = 0
    last_error: str | None = None
    http_port: int | None = None
    grpc_port: int | None = None
    #: the running node while `up` (node.runtime.Running)
    handle: Any = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _touch(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


async def _wait(stop: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=timeout_s)


async def supervise(config: Config, stop: asyncio.Event, state: UnitState, *,
                    restart_initial_s: float = 1.0, restart_max_s: float = 60.0,
                    run: Callable[..., Any] | None = None) -> None:
    """Run the node of `config` until `stop`; start it again (1 s, 2 s, … capped) whenever
    it fails or ends by itself. Never raises: one unit's fault stays its own."""
    from node.runtime import running

    run = run or running
    failed_in_row = 0
    while not stop.is_set():
        state.starts += 1
        started = time.monotonic()
        try:
            async with run(config) as handle:
                state.up, state.last_error, state.handle = True, None, handle
                state.http_port, state.grpc_port = handle.http_port, handle.grpc_port
                state._touch()
                log.info("hosted unit %s up (HTTP %s)", state.code, handle.http_port)
                ended = asyncio.ensure_future(handle.stopped())
                halted = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({ended, halted}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ended.cancel()
                    halted.cancel()
                    handle.stop()
            if not stop.is_set():  # its HTTP server ended without being asked to
                state.failures += 1
                state.last_error = "the node stopped by itself"
        except Exception as exc:  # the unit's own fault: logged, counted, restarted
            state.failures += 1
            state.last_error = repr(exc)[:500]
            log.exception("hosted unit %s failed", state.code)
        finally:
            state.up, state.handle = False, None
            state._touch()
        if stop.is_set():
            return
        # a unit that ran for a while before failing starts again quickly
        failed_in_row = 1 if time.monotonic() - started > restart_max_s else failed_in_row + 1
        delay = min(restart_max_s, restart_initial_s * 2 ** (failed_in_row - 1))
        log.warning("hosted unit %s down; starting it again in %.1f s", state.code, delay)
        await _wait(stop, delay)


async def host(hosted: Hosted, stop: asyncio.Event,
               states: dict[str, UnitState] | None = None) -> None:
    """Every unit of `hosted` under its own supervisor until `stop`. `states` (code →
    state) is filled in for the caller to watch."""
    states = states if states is not None else {}
    for c in hosted.configs:
        states[c.node.code] = UnitState(code=c.node.code)
    async with asyncio.TaskGroup() as tg:
        for c in hosted.configs:
            tg.create_task(supervise(c, stop, states[c.node.code],
                                     restart_initial_s=hosted.restart_initial_s,
                                     restart_max_s=hosted.restart_max_s))


def serve_hosted(hosted: Hosted) -> None:
    """`zhitong host`: every unit until SIGINT or SIGTERM (then each stops gracefully)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # one pool for every unit's store calls: the default (cores + 4) would let one
        # busy unit starve the others
        loop.set_default_executor(ThreadPoolExecutor(
            max_workers=min(64, 4 + 4 * len(hosted.configs)), thread_name_prefix="hosted"))
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("hosting %d units: %s", len(hosted.configs),
                 ", ".join(c.node.code for c in hosted.configs))
        await host(hosted, stop)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on Windows
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
