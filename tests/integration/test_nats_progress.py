"""A batch held longer than the consumer's ack_wait is not redelivered while it is in
progress (federation/nats/progress.py), and is without it — on a real nats-server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import FetchTimeoutError

from federation.nats.process import NatsServer
from federation.nats.progress import in_progress

ACK_WAIT_S = 1.0


@pytest.fixture
async def js(tmp_path: Path) -> AsyncIterator[nats.js.JetStreamContext]:
    conf = tmp_path / "nats.conf"
    conf.write_text(f'port: -1\nhost: 127.0.0.1\njetstream {{ store_dir: "{tmp_path / "js"}" }}\n')
    server = NatsServer(conf, log=tmp_path / "nats.log").start()
    try:
        nc = await nats.connect(server.url)
        try:
            context = nc.jetstream()
            await context.add_stream(name="work", subjects=["work.>"])
            yield context
        finally:
            await nc.close()
    finally:
        server.stop()


async def redelivered_within(js: nats.js.JetStreamContext, window_s: float) -> int:
    """How many messages a second pull of the same durable gets during `window_s`."""
    other = await js.pull_subscribe("work.>", durable="apply", stream="work")
    got = 0
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        try:
            msgs = await other.fetch(1, timeout=min(0.5, max(0.05, deadline - time.monotonic())))
        except (FetchTimeoutError, TimeoutError, nats.errors.TimeoutError):
            continue
        got += len(msgs)
        for msg in msgs:
            await msg.ack()
    return got


async def fetched_batch(js: nats.js.JetStreamContext) -> list[Msg]:
    for n in range(3):
        await js.publish(f"work.{n}", b"x")
    sub = await js.pull_subscribe(
        "work.>", durable="apply", stream="work",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S))
    batch = await sub.fetch(3, timeout=5)
    assert len(batch) == 3
    return batch


async def test_a_batch_in_progress_is_not_redelivered(js: nats.js.JetStreamContext) -> None:
    batch = await fetched_batch(js)
    await batch[0].ack()  # one is done at once; the others take three ack waits
    async with in_progress(batch, ack_wait_s=ACK_WAIT_S):
        assert await redelivered_within(js, 3 * ACK_WAIT_S) == 0
    info = await js.consumer_info("work", "apply")
    assert info.num_redelivered == 0 and info.num_ack_pending == 2


async def test_without_it_the_held_messages_come_back(js: nats.js.JetStreamContext) -> None:
    batch = await fetched_batch(js)
    await batch[0].ack()
    assert await redelivered_within(js, 3 * ACK_WAIT_S) == 2
