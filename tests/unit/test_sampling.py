"""Revisit sampling: sizes, reproducibility, audit (verify), seeds; hypothesis properties."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import subprocess
import sys
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from node.domain.errors import ValidationError
from node.domain.sampling import (
    METHOD,
    RevisitSample,
    draw_revisit_sample,
    make_seed,
    sample_size,
    verify_revisit_sample,
)

IDS = [f"ZT-{i:04d}" for i in range(20)]


def _reference(frame: list[str], k: int, seed: str) -> tuple[str, ...]:
    """An independent re-implementation, as an auditor would write it."""
    ids = sorted(set(frame))
    keyed = sorted(ids, key=lambda i: (hashlib.sha256(f"{seed}\0{i}".encode()).digest(), i))
    return tuple(sorted(keyed[:k]))


# --------------------------------------------------------------------------- examples


def test_default_share_is_twenty_percent() -> None:
    s = draw_revisit_sample(IDS, seed="golden-seed")
    assert s.share == Fraction(1, 5)
    assert s.frame == tuple(IDS)
    assert s.size == 4
    assert s.selected == tuple(sorted(s.selected))
    assert set(s.selected) <= set(IDS)
    assert s.method == METHOD


def test_golden_selection_is_pinned() -> None:
    # Pinned so that any change of algorithm (which would break old audits) is noticed.
    s = draw_revisit_sample(IDS, seed="golden-seed")
    assert s.selected == ("ZT-0001", "ZT-0008", "ZT-0009", "ZT-0010")
    assert s.selected == _reference(IDS, 4, "golden-seed")


@pytest.mark.parametrize(
    ("n", "share", "k"),
    [
        (0, 0.2, 0),
        (1, 0.2, 1),
        (4, 0.2, 1),
        (5, 0.2, 1),
        (6, 0.2, 2),
        (15, 0.2, 3),  # 0.2 * 15 in binary floating point is 3.0000000000000004
        (30, 0.1, 3),  # 0.1 * 30 likewise
        (10, 1, 10),
        (10, 1.0, 10),
        (10, Fraction(1, 3), 4),
        (100, 0.01, 1),
        (3, 1e-9, 1),
    ],
)
def test_sample_size(n: int, share: float | Fraction, k: int) -> None:
    assert sample_size(n, share) == k
    s = draw_revisit_sample([f"id{i}" for i in range(n)], share=share, seed="s")
    assert s.size == k
    assert len(s.frame) == n


def test_frame_is_sorted_and_deduplicated() -> None:
    s = draw_revisit_sample(["b", "a", "c", "a", "b"], share=0.5, seed="x")
    assert s.frame == ("a", "b", "c")
    assert s.size == 2  # ceil(0.5 * 3) over the de-duplicated frame


def test_empty_frame() -> None:
    s = draw_revisit_sample([], seed="x")
    assert s.frame == () and s.selected == ()
    assert verify_revisit_sample(s)


def test_same_seed_same_draw_different_seeds_differ() -> None:
    a = draw_revisit_sample(IDS, seed="s1")
    assert draw_revisit_sample(reversed(IDS), seed="s1") == a
    draws = {draw_revisit_sample(IDS, seed=f"s{i}").selected for i in range(20)}
    assert len(draws) > 1


def test_larger_share_extends_smaller_draw() -> None:
    small = draw_revisit_sample(IDS, share=0.2, seed="golden-seed")
    big = draw_revisit_sample(IDS, share=0.5, seed="golden-seed")
    assert set(small.selected) <= set(big.selected)


def test_identical_across_processes() -> None:
    code = (
        "from node.domain.sampling import draw_revisit_sample as d;"
        f"print(','.join(d({IDS!r}, seed='golden-seed', share=0.3).selected))"
    )
    here = ",".join(draw_revisit_sample(IDS, seed="golden-seed", share=0.3).selected)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for hash_seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": root}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == here


@pytest.mark.parametrize("share", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf"), True])
def test_share_validated(share: Any) -> None:
    with pytest.raises(ValidationError) as err:
        draw_revisit_sample(IDS, share=share, seed="x")
    assert err.value.field == "share"


def test_seed_validated() -> None:
    with pytest.raises(ValidationError) as err:
        draw_revisit_sample(IDS, seed="")
    assert err.value.field == "seed"


def test_empty_id_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        draw_revisit_sample(["a", ""], seed="x")
    assert err.value.field == "frame"


def test_verify_accepts_honest_and_rejects_tampered_samples() -> None:
    s = draw_revisit_sample(IDS, seed="golden-seed")
    assert verify_revisit_sample(s)
    unselected = next(i for i in IDS if i not in s.selected)
    swapped = tuple(sorted((*s.selected[1:], unselected)))
    tampered = [
        dataclasses.replace(s, selected=swapped),
        dataclasses.replace(s, selected=s.selected[1:]),  # one dropped
        dataclasses.replace(s, selected=tuple(reversed(s.selected))),  # not canonical
        dataclasses.replace(s, seed="other-seed"),
        dataclasses.replace(s, share=Fraction(1, 2)),
        dataclasses.replace(s, frame=(*s.frame, "ZT-9999")),  # frame grown after the draw
        dataclasses.replace(s, frame=tuple(reversed(s.frame))),  # frame not canonical
        dataclasses.replace(s, share=Fraction(0)),  # invalid share: False, not an error
        dataclasses.replace(s, seed=""),
        dataclasses.replace(s, method="random.sample/v0"),
    ]
    for t in tampered:
        assert not verify_revisit_sample(t), t


def test_dict_round_trip_for_storage() -> None:
    s = draw_revisit_sample(IDS, share=Fraction(1, 3), seed="golden-seed")
    d = json.loads(json.dumps(s.to_dict()))
    assert d["share"] == "1/3"
    back = RevisitSample.from_dict(d)
    assert back == s
    assert verify_revisit_sample(back)


def test_from_dict_malformed() -> None:
    with pytest.raises(ValidationError):
        RevisitSample.from_dict({"seed": "x"})
    with pytest.raises(ValidationError):
        RevisitSample.from_dict(
            {"method": METHOD, "seed": "x", "share": "1/0", "frame": [], "selected": []}
        )


def test_make_seed() -> None:
    a = make_seed(node="330106", period="2025-Q3", salt="f00d")
    assert a == make_seed(node="330106", period="2025-Q3", salt="f00d")
    assert a.startswith("rv1-") and len(a) == 4 + 64
    assert a != make_seed(node="330108", period="2025-Q3", salt="f00d")
    assert a != make_seed(node="330106", period="2025-Q4", salt="f00d")
    assert a != make_seed(node="330106", period="2025-Q3", salt="f00e")
    # no collision by shifting a separator between parts
    assert make_seed(node="a:b", period="c", salt="s") != make_seed(
        node="a", period="b:c", salt="s"
    )
    for field in ("node", "period", "salt"):
        kwargs = {"node": "330106", "period": "2025-Q3", "salt": "f00d", field: ""}
        with pytest.raises(ValidationError) as err:
            make_seed(**kwargs)
        assert err.value.field == field


# --------------------------------------------------------------------------- properties

_ids = st.lists(st.text(min_size=1, max_size=6), max_size=60)
_shares = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
_seeds = st.text(min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_ids, _shares, _seeds, st.randoms(use_true_random=False))
def test_sample_properties(ids: list[str], share: float, seed: str, rnd: random.Random) -> None:
    s = draw_revisit_sample(ids, share=share, seed=seed)
    n = len(set(ids))
    assert s.frame == tuple(sorted(set(ids)))
    assert set(s.selected) <= set(s.frame)
    assert len(set(s.selected)) == len(s.selected)
    assert s.selected == tuple(sorted(s.selected))
    expected = math.ceil(Fraction(repr(share)) * n)
    assert s.size == expected
    assert (s.size >= 1) == (n >= 1)
    assert s.selected == _reference(ids, expected, seed)

    shuffled = list(ids)
    rnd.shuffle(shuffled)
    assert draw_revisit_sample(shuffled, share=share, seed=seed) == s
    assert verify_revisit_sample(s)


@settings(max_examples=200, deadline=None)
@given(_ids, _shares, _seeds, st.data())
def test_tampered_selection_fails_verification(
    ids: list[str], share: float, seed: str, data: st.DataObject
) -> None:
    s = draw_revisit_sample(ids, share=share, seed=seed)
    unselected = sorted(set(s.frame) - set(s.selected))
    assume(s.selected and unselected)
    out = data.draw(st.sampled_from(s.selected))
    into = data.draw(st.sampled_from(unselected))
    forged = tuple(sorted({*s.selected} - {out} | {into}))
    assert not verify_revisit_sample(dataclasses.replace(s, selected=forged))
