"""A node served for synchronous tests (browsers, raw sockets): `node.runtime.running()` in
a background thread with an event loop of its own, as `zhitong node run` runs it.

`serving(config, …)` yields the `Running` node once it answers (HTTP on a port the OS
picked unless the configuration names one: `Running.http_port`) and stops it afterwards;
the knobs are `running()`'s.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from node.config import Config
from node.runtime import Running, running


@contextmanager
def serving(config: Config, *, start_timeout_s: float = 30, stop_timeout_s: float = 30,
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
        assert not thread.is_alive(), (f"node {config.node.code} did not stop:\n"
                                       + _where(thread, loop))
        if failed:
            raise failed[0]


def _where(thread: threading.Thread, loop: asyncio.AbstractEventLoop) -> str:
    """What a node that would not stop is doing: its thread's stack and its loop's tasks."""
    frames = sys._current_frames().get(thread.ident or -1)
    out = ["thread stack:", *traceback.format_stack(frames)] if frames else []

    def tasks() -> str:
        lines = []
        for task in asyncio.all_tasks(loop):
            lines.append(f"task {task.get_name()}: {task.get_coro()!r}")
            lines.extend(f"    {frame}" for frame in task.get_stack(limit=3))
        return "\n".join(lines)

    found: Future[str] = Future()
    try:
        loop.call_soon_threadsafe(lambda: found.set_result(tasks()))
        out.append(found.result(timeout=5))
    except RuntimeError:
        out.append("(the event loop is closed)")
    except TimeoutError:
        out.append("(the event loop does not answer: blocked in a call)")
    out.extend(f"other thread {t.name}: " + "".join(traceback.format_stack(
        sys._current_frames()[t.ident]))[-2000:]
        for t in threading.enumerate() if t.ident in sys._current_frames()
        and t.name.startswith(("asyncio_", "ThreadPoolExecutor", "AnyIO")))
    return "\n".join(out)
