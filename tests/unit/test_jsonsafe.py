"""node/domain/jsonsafe.py: JSON from another node, with bounded nesting and numbers."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.jsonsafe import MAX_DEPTH, MAX_INT_DIGITS, JSONError, loads, nesting_depth

#: documents json.dumps writes and loads must accept unchanged (nesting kept under the limit)
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**39), 10**39)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
#: text with more than its share of what matters to the scanner
tricky_text = st.text(st.sampled_from('[]{}"\\ :,0a\n\u00e9\U0001f600'), max_size=200)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


# --------------------------------------------------------------------------- nesting_depth


@given(plain_values, st.booleans())
def test_the_depth_of_valid_json_is_exact(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert nesting_depth(text) == depth_of(value)
    assert nesting_depth(text, stop_above=depth_of(value)) == depth_of(value)


@pytest.mark.parametrize(("text", "depth"), [
    ("", 0), ("1", 0), ("[]", 1), ("{}", 1), ('[{"a": [1]}]', 3),
    ('"[[[[[["', 0), ('["[[[", {"{{": "]]]"}]', 2),
    (r'["\"[[[", "\\", [[]]]', 3),  # an escaped quote does not end the string
    ('["\\\\"]', 1),  # an escaped backslash does not escape the quote after it
    ("]]]][[", 2), ("[[[", 3),  # not JSON: at least the depth the parser would reach
    ('[[ "unterminated [[[[[[', 2),  # the parser stops at the unterminated string
])
def test_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@settings(max_examples=300)
@given(tricky_text)
def test_the_depth_is_never_below_what_the_parser_reaches(text: str) -> None:
    """Exact for whatever parses; and whatever does not, the parser refuses within the
    depth the scan reports (with that as the limit, loads never gets a RecursionError)."""
    depth = nesting_depth(text)
    try:
        value = json.loads(text)
    except ValueError:
        with pytest.raises(JSONError):
            loads(text, max_depth=depth)
        return
    assert depth_of(value) == depth


def test_the_scan_is_linear_on_adversarial_text() -> None:
    for text in ('"' + '\\"' * 500_000, '"\\' * 500_000, ('"' + "a" * 10) * 100_000,
                 "[" * 1_000_000, '["' * 500_000, '"' + "\\" * 1_000_001):
        started = time.perf_counter()
        nesting_depth(text)
        with pytest.raises(JSONError):
            loads(text)
        assert time.perf_counter() - started < 2, text[:20]


# --------------------------------------------------------------------------- loads


@given(plain_values)
def test_loads_accepts_what_json_dumps_writes(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert loads(text) == value
    assert loads(text.encode()) == value


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_bytes_are_decoded_as_json_loads_decodes_them(encoding: str) -> None:
    raw = '{"标题": ["用地", 1]}'.encode(encoding)
    assert loads(raw) == json.loads(raw) == {"标题": ["用地", 1]}


def test_nesting_up_to_the_limit_is_accepted_and_beyond_refused() -> None:
    assert depth_of(loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)) == MAX_DEPTH
    assert loads('{"a":' * MAX_DEPTH + "0" + "}" * MAX_DEPTH) is not None
    for text in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * 30_000 + "]" * 30_000,
                 '{"a":' * 30_000 + "0" + "}" * 30_000, "[" * 30_000):
        with pytest.raises(JSONError, match="nested deeper"):
            loads(text)
    assert loads("[[1]]", max_depth=2) == [[1]]
    with pytest.raises(JSONError):
        loads("[[1]]", max_depth=1)


def test_brackets_in_strings_do_not_count() -> None:
    text = json.dumps(["[" * 10_000, "{" * 10_000])
    assert loads(text) == ["[" * 10_000, "{" * 10_000]


@pytest.mark.parametrize("literal", [
    "9" * (MAX_INT_DIGITS + 1), "-" + "9" * (MAX_INT_DIGITS + 1), "9" * 5_000, "9" * 60_000,
])
def test_long_integers_are_refused(literal: str) -> None:
    with pytest.raises(JSONError, match="digits"):
        loads(f'{{"version": {literal}}}')


def test_integers_up_to_the_limit_are_accepted() -> None:
    assert loads("9" * MAX_INT_DIGITS) == 10**MAX_INT_DIGITS - 1
    assert loads("-" + "9" * MAX_INT_DIGITS) == -(10**MAX_INT_DIGITS - 1)


def test_the_limit_does_not_depend_on_the_interpreters_setting() -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # unlimited
    try:
        with pytest.raises(JSONError):
            loads("9" * 10_000)
    finally:
        sys.set_int_max_str_digits(previous)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[1e400]", "-1e999",
                                  '{"h": ' + "9" * 400 + ".5}"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(JSONError):
        loads(text)


def test_finite_floats_are_kept() -> None:
    assert loads("[1.5, -0.0, 1e308, 5e-324]") == [1.5, -0.0, 1e308, 5e-324]
    assert all(math.isfinite(x) for x in loads("[1.5, 1e308]"))


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe\x00", b"\xef\xbb\xbf", b"[1,]",
                                 "\ufeff[]", b"\x80abc", '"\\x"'])
def test_anything_else_is_a_json_error(raw: str | bytes) -> None:
    with pytest.raises(JSONError):
        loads(raw)


def test_json_error_is_a_value_error() -> None:
    assert issubclass(JSONError, ValueError)


@settings(max_examples=300)
@given(st.binary(max_size=200) | tricky_text | tricky_text.map(str.encode))
def test_loads_raises_nothing_but_json_error(raw: str | bytes) -> None:
    with contextlib.suppress(JSONError):
        loads(raw)


def test_a_nearly_exhausted_stack_is_a_json_error_not_recursion_error() -> None:
    """Within the depth limit but called so deep in the stack that the parser runs out."""
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH

    def nested(levels: int) -> None:
        if levels:
            nested(levels - 1)
        else:
            with pytest.raises(JSONError):
                loads(text)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        frames = 0
        frame = sys._getframe()
        while frame is not None:
            frames, frame = frames + 1, frame.f_back  # type: ignore[assignment]
        nested(max(0, 200 - frames - 15))
    finally:
        sys.setrecursionlimit(limit)
