"""What the adapters do with a foreign message that does not decode: the province skips a
malformed child summary (and keeps computing), the gRPC servicer answers with a clean status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
import pytest
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from federation import codec
from federation.nats.subjects import Subject
from federation.server import FederationServicer
from federation.summaries import SummaryFeed
from node.app.rollup import Rollup
from node.domain import summary as summaries
from node.domain.topology import Place

PROVINCE, HANGZHOU, JIAXING, HUZHOU = "330000", "330100", "330400", "330500"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _summary(node: str, total: int = 0) -> bytes:
    return summaries.encode(summaries.Summary(node=node, as_of=NOW, total=total))


class FakeJetStream:
    """get_last_msg over a dict subject → (seq, data); a subject mapped to an exception
    raises it."""

    def __init__(self, last: dict[str, tuple[int, bytes] | Exception]) -> None:
        self.last = last

    async def get_last_msg(self, stream: str, subject: str) -> RawStreamMsg:
        found = self.last.get(subject)
        if found is None:
            raise NotFoundError
        if isinstance(found, Exception):
            raise found
        seq, data = found
        return RawStreamMsg(subject=subject, seq=seq, data=data)


def _province() -> SummaryFeed:
    place = Place(code=PROVINCE, ancestors=(), children=(HANGZHOU, JIAXING, HUZHOU),
                  subtree=(PROVINCE, HANGZHOU, JIAXING, HUZHOU), full_children=False)
    rollup = Rollup(None, place, None, None,  # type: ignore[arg-type]  # accept only
                    children_send_summaries=True)
    return SummaryFeed(rollup, place)


@pytest.mark.parametrize("garbage", [
    b"[" * 30_000 + b"]" * 30_000,
    json.dumps({**json.loads(_summary(HANGZHOU)), "handling_hours": 10**400}).encode(),
    b'{"total": ' + b"9" * 5_000 + b"}",
    b"\xff\xfe",
    _summary(JIAXING),  # another child's summary, published under Hangzhou's name
])
async def test_a_malformed_child_summary_is_skipped_and_counted(garbage: bytes) -> None:
    province = _province()
    js = FakeJetStream({Subject.summary(HANGZHOU).build(): (1, _summary(HANGZHOU, total=3)),
                        Subject.summary(HUZHOU).build(): (1, _summary(HUZHOU, total=5))})
    assert await province.read_children(js)  # type: ignore[arg-type]
    js.last[Subject.summary(HANGZHOU).build()] = (2, garbage)
    js.last[Subject.summary(HUZHOU).build()] = (2, _summary(HUZHOU, total=6))
    assert await province.read_children(js)  # type: ignore[arg-type]
    # the malformed one is skipped (the last good one stays), the next child still read
    assert province.rollup.children[HANGZHOU].total == 3
    assert province.rollup.children[HUZHOU].total == 6
    assert province.rollup.malformed == {HANGZHOU: 1}
    # the same message is not decoded (nor logged, nor counted) again on the next poll
    assert not await province.read_children(js)  # type: ignore[arg-type]
    assert province.rollup.malformed == {HANGZHOU: 1}


async def test_an_unreadable_child_stream_does_not_stop_the_others() -> None:
    province = _province()
    js = FakeJetStream({Subject.summary(HANGZHOU).build(): TimeoutError("no reply"),
                        Subject.summary(HUZHOU).build(): (7, _summary(HUZHOU, total=2))})
    assert await province.read_children(js)  # type: ignore[arg-type]
    assert set(province.rollup.children) == {HUZHOU}
    assert province.rollup.malformed == {}


# --------------------------------------------------------------------------- gRPC status


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def abort(self, code: grpc.StatusCode, details: str,
                    metadata: tuple[tuple[str, str | bytes], ...] = ()) -> NoReturn:
        self.status = (code, details)
        raise Aborted


async def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    servicer = FederationServicer(None, insecure=True)  # type: ignore[arg-type]
    context = FakeContext()

    async def work() -> Any:
        raise exc

    with pytest.raises(Aborted):
        await servicer._run(context, work)  # type: ignore[arg-type]
    return context.status


async def test_a_codec_error_is_invalid_argument() -> None:
    status = await _status_of(codec.CodecError("federation_message_invalid", field="history",
                                               problem="does not apply"))
    assert status is not None and status[0] is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("exc", [RecursionError("deep"), MemoryError(), KeyError("x"),
                                 RuntimeError("database is locked")])
async def test_an_unexpected_error_is_a_clean_internal_status(exc: BaseException) -> None:
    status = await _status_of(exc)
    assert status == (grpc.StatusCode.INTERNAL, "internal error (logged)")
