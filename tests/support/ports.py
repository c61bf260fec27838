"""A base port for `zhitong up` in tests: below the OS's ephemeral range, every port free.

`zhitong up --base-port B` binds B+i (HTTP), B+1000+i (gRPC), B+2000+i (NATS) and
B+3000+i (leaf) for its i-th unit. Inside the ephemeral range (32768–60999 on Linux) any
outgoing connection or OS-assigned listener of the same suite may hold one of them — a CI
run failed on exactly that. Below the range only deliberate binds happen, so a base whose
ports are all free now stays free for the test. The search starts at an offset from the
pid, so concurrent pytest runs on one machine start apart.
"""

from __future__ import annotations

import os

from node.localfed import ephemeral_range, port_free

LOWEST = 20000
STRIDE = 8  # more than a small topology's units


def up_base_port(units: int = STRIDE) -> int:
    """A base B with B+k·1000+i free for k in 0..3 and i < units, all below the ephemeral range."""
    top = ephemeral_range()[0] - 3000 - units  # the leaf ports end below the range
    slots = (top - LOWEST) // STRIDE
    if slots <= 0:
        raise RuntimeError(f"no room for {units} units' ports below port {ephemeral_range()[0]}")
    start = os.getpid() % slots
    for n in range(slots):
        base = LOWEST + ((start + n) % slots) * STRIDE
        if all(port_free(base + k * 1000 + i) for k in range(4) for i in range(units)):
            return base
    raise RuntimeError("no free base port for zhitong up below the ephemeral range")
