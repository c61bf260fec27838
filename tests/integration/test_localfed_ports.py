"""`zhitong up`'s port check: taken ports stop it with a clear message; ports inside the
OS's ephemeral range start it with a warning (an outgoing connection can take one of them
while it runs — a CI run once failed on that); the tests' own base lies below the range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from node.localfed import LocalFederation, ephemeral_range
from tests.support.ports import up_base_port


def test_a_taken_port_stops_it_with_a_message(tmp_path: Path) -> None:
    base = up_base_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 2000))  # the first unit's NATS port
        holder.listen()
        fed = LocalFederation(tmp_path, "small", base_port=base, say=lambda _: None)
        with pytest.raises(SystemExit, match=f"ports already in use: \\[{base + 2000}\\]"):
            fed.check_ports()


def test_ports_in_the_ephemeral_range_are_warned_about(tmp_path: Path) -> None:
    low, high = ephemeral_range()
    said: list[str] = []
    for base in range(low + 1000, low + 9000, 8):  # the first base whose ports are free now
        try:
            LocalFederation(tmp_path / f"in-{base}", "small", base_port=base,
                            say=said.append).check_ports()
            break
        except SystemExit:
            continue
    assert any("ephemeral range" in m and f"({low}–{high})" in m for m in said), said
    said.clear()
    LocalFederation(tmp_path / "below", "small", base_port=up_base_port(),
                    say=said.append).check_ports()
    assert not any("ephemeral" in m for m in said), said


def test_the_tests_base_port_lies_below_the_ephemeral_range() -> None:
    base = up_base_port()
    assert base + 3000 + 8 <= ephemeral_range()[0]
