"""Who used the CPU and the database during a phase: processes, thread groups, engines.

CPU times come from Linux /proc (`stat`: user + system clock ticks), so a phase can be
charged to a server process, to this process's threads by group, or to another process
tree; elsewhere they read as NaN or zero. SQL is counted with a `before_cursor_execute`
listener, which sees every statement including BEGIN but not COMMIT.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a /proc `stat` file (of a process or a task);
    raises OSError when it is gone."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        return stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
    except OSError:
        return float("nan")


class ThreadCpu:
    """CPU seconds of this process's threads (Linux /proc), grouped: the event-loop thread
    (the thread that created this object: gRPC aio, NATS client, codec, senders), the
    default executor's workers (asyncio.to_thread: the nodes' transactions; register them
    with `register_worker` as the ThreadPoolExecutor initializer) and the rest (gRPC
    core's own threads)."""

    GROUPS = ("loop", "workers", "other")

    def __init__(self) -> None:
        self.loop = threading.get_native_id()
        self.workers: set[int] = set()

    def register_worker(self) -> None:  # ThreadPoolExecutor initializer
        self.workers.add(threading.get_native_id())

    def sample(self) -> dict[str, float]:
        out = dict.fromkeys(self.GROUPS, 0.0)
        try:
            tasks = list(Path("/proc/self/task").iterdir())
        except OSError:
            return out
        for task in tasks:
            try:
                seconds = stat_cpu_seconds(task / "stat")
            except OSError:
                continue  # the thread ended
            tid = int(task.name)
            group = ("loop" if tid == self.loop else
                     "workers" if tid in self.workers else "other")
            out[group] += seconds
        return out


class SqlCounter:
    """Counts the statements and the write (BEGIN IMMEDIATE) and read (BEGIN) transactions
    that engines send from now on."""

    def __init__(self, *engines: Engine) -> None:
        self.statements = 0
        self.writes = 0
        self.reads = 0
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements += 1
        if statement == "BEGIN IMMEDIATE":
            self.writes += 1
        elif statement == "BEGIN":
            self.reads += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.writes, self.reads
