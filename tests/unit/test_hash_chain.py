"""The hash chain of a writer's events (node/domain/chain.py): links, and what verify finds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.domain.chain import GENESIS, ChainedEvent, is_link, link, verify

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def event(seq: int, **changes: object) -> ChainedEvent:
    base = ChainedEvent(writer="330522", writer_seq=seq, event_id=f"330522-x@{seq}",
                        issue_id="330522-x", version=seq, kind="triaged",
                        actor="staff:dispatcher", at=AT + timedelta(minutes=seq),
                        payload={"state": "triaged", "tags": ["用电"], "n": seq})
    return replace(base, **changes)  # type: ignore[arg-type]


def chain(n: int) -> list[tuple[ChainedEvent, str | None]]:
    out: list[tuple[ChainedEvent, str | None]] = []
    previous = GENESIS
    for seq in range(1, n + 1):
        e = event(seq)
        previous = link(previous, e)
        out.append((e, previous))
    return out


def test_a_link_is_sha256_hex_and_depends_on_everything_it_covers() -> None:
    first = link(GENESIS, event(1))
    assert is_link(first) and not is_link(first.upper()) and not is_link(first[:-1])
    for change in ({"payload": {"state": "triaged", "tags": ["用水"], "n": 1}},
                   {"actor": "staff:other"}, {"kind": "assigned"}, {"writer": "330523"},
                   {"at": AT}, {"version": 2}, {"writer_seq": 2}):
        assert link(GENESIS, event(1, **change)) != first, change
    assert link("1" * 64, event(1)) != first


def test_the_instant_is_hashed_in_utc_whatever_its_zone() -> None:
    cst = timezone(timedelta(hours=8))
    e = event(1)
    assert link(GENESIS, e) == link(GENESIS, replace(e, at=e.at.astimezone(cst)))


def test_payload_key_order_does_not_matter() -> None:
    a = event(1, payload={"state": "triaged", "b": 1, "a": 2})
    b = event(1, payload={"a": 2, "b": 1, "state": "triaged"})
    assert link(GENESIS, a) == link(GENESIS, b)


def test_an_intact_log_verifies() -> None:
    assert verify(chain(20), complete=True) is None


@given(st.integers(min_value=1, max_value=12))
def test_an_edited_event_is_found_where_it_was_edited(edited: int) -> None:
    rows = chain(12)
    e, stored = rows[edited - 1]
    rows[edited - 1] = (replace(e, payload={"state": "closed"}), stored)
    found = verify(rows, complete=True)
    assert found is not None and found.writer_seq == edited


def test_an_edit_that_rewrites_its_own_link_breaks_the_next_one() -> None:
    rows = chain(6)
    e, _ = rows[2]
    forged = replace(e, payload={"state": "closed"})
    rows[2] = (forged, link(rows[1][1] or GENESIS, forged))
    found = verify(rows, complete=True)
    assert found is not None and found.writer_seq == 4


@pytest.mark.parametrize("complete", [True, False])
def test_a_missing_event_or_link(complete: bool) -> None:
    rows = chain(5)
    del rows[2]
    found = verify(rows, complete=complete)
    assert (found is not None) is complete
    rows = chain(5)
    rows[1] = (rows[1][0], None)
    found = verify(rows, complete=complete)
    assert (found is not None and found.writer_seq == 2) is complete


# --------------------------------------------------------------------------- in summaries

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HUZHOU, COUNTY = "330500", "330522"


def _summary(heads: dict[str, tuple[int, str]], minutes: int = 0) -> bytes:
    from node.domain.summary import Summary, encode

    return encode(Summary(node=HUZHOU, as_of=NOW + timedelta(minutes=minutes), chains=heads))


def test_chain_heads_travel_in_summaries_and_are_checked_on_decode() -> None:
    import json

    from node.domain.errors import ValidationError
    from node.domain.summary import decode

    head = link(GENESIS, event(1))
    assert decode(_summary({HUZHOU: (3, head), COUNTY: (9, head)})).chains == {
        HUZHOU: (3, head), COUNTY: (9, head)}
    older = json.loads(_summary({}))
    del older["chains"]  # a child that does not send heads yet
    assert decode(json.dumps(older).encode()).chains == {}
    for bad in ({HUZHOU: {"seq": 0, "link": head}}, {HUZHOU: {"seq": 1, "link": "x"}},
                {"12": {"seq": 1, "link": head}}, {HUZHOU: {"seq": True, "link": head}},
                [head]):
        data = json.loads(_summary({}))
        data["chains"] = bad
        with pytest.raises(ValidationError):
            decode(json.dumps(data).encode())


def test_a_parent_counts_a_head_that_goes_back_or_changes_in_place() -> None:
    from node.app.rollup import Rollup
    from node.domain.topology import Place

    place = Place(code="330000", ancestors=(), children=(HUZHOU,),
                  subtree=("330000", HUZHOU), full_children=False)
    rollup = Rollup(None, place, None, None,  # type: ignore[arg-type]  # accept only
                    children_send_summaries=True)
    a, b = link(GENESIS, event(1)), link(GENESIS, event(2))
    assert rollup.accept(HUZHOU, _summary({HUZHOU: (5, a), COUNTY: (7, a)}, 0))
    assert rollup.accept(HUZHOU, _summary({HUZHOU: (6, b), COUNTY: (7, a)}, 1))  # grows
    assert not rollup.rewritten
    assert rollup.accept(HUZHOU, _summary({HUZHOU: (6, b), COUNTY: (7, b)}, 2))  # in place
    assert rollup.accept(HUZHOU, _summary({HUZHOU: (4, a), COUNTY: (8, a)}, 3))  # back
    assert rollup.rewritten == {COUNTY: 1, HUZHOU: 1}


def test_a_link_is_the_same_in_every_version() -> None:
    # replicas verify links written by other releases: the canonical form is a contract
    # (this value was computed by the first release, before the encoder was kept)
    e = ChainedEvent(writer="330522", writer_seq=7, event_id="330522-x@3",
                     issue_id="330522-x", version=3, kind="resolve", actor="staff:leader",
                     at=datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
                     payload={"reply": "已协调，“双回路”\n完成", "n": 12, "ok": True,
                              "none": None, "list": [1, "二"], "z": {"b": 1, "a": 2}})
    assert link(GENESIS, e) == (
        "6d8a9f7c2fe21f5850592432faf238e140b66a0fa22c15e24b09dae4d8e81c5b")
