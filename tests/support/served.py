"""A node served for synchronous tests (browsers, raw sockets): `node.runtime.running()` in
a background thread with an event loop of its own, as `zhitong node run` runs it.

`serving(config, …)` yields the `Running` node once it answers (HTTP on a port the OS
picked unless the configuration names one: `Running.http_port`) and stops it afterwards;
the knobs are `running()`'s.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from node.config import Config
from node.runtime import Running, running


@contextmanager
def serving(config: Config, *, start_timeout_s: float = 30, stop_timeout_s: float = 15,
            **knobs: Any) -> Iterator[Running]:
    started: Future[tuple[Running, asyncio.AbstractEventLoop]] = Future()
    failed: list[BaseException] = []

    async def main() -> None:
        async with running(config, **knobs) as node:
            started.set_result((node, asyncio.get_running_loop()))
            await node.stopped()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                failed.append(exc)

    thread = threading.Thread(target=thread_main, name=f"node-{config.node.code}",
                              daemon=True)
    thread.start()
    node, loop = started.result(timeout=start_timeout_s)
    try:
        yield node
    finally:
        loop.call_soon_threadsafe(node.stop)
        thread.join(timeout=stop_timeout_s)
        assert not thread.is_alive(), f"node {config.node.code} did not stop"
        if failed:
            raise failed[0]
