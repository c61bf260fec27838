"""The pure rules of enterprise sign-in codes: making, digests, expiry, attempts, windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from node.domain.signin_codes import (
    CodeRules,
    IssuedCode,
    Via,
    code_digest,
    counted,
    matches,
    new_code,
    normalised,
    resend_wait,
    usable,
    wait,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
KEY = b"k" * 32
HOUR = timedelta(hours=1)


def test_a_code_is_six_digits_from_the_random_source_it_is_given() -> None:
    assert new_code(lambda n: 42) == "000042"
    assert new_code(lambda n: n - 1) == "999999"
    with pytest.raises(ValueError):
        new_code(lambda n: n)


def test_the_digest_is_keyed_and_names_no_digits() -> None:
    digest = code_digest(KEY, "CODE", "123456")
    assert "123456" not in digest and len(digest) == 64
    assert matches(KEY, "CODE", "123456", digest)
    assert not matches(KEY, "CODE", "123457", digest)
    assert not matches(b"x" * 32, "CODE", "123456", digest)  # another node's key
    assert not matches(KEY, "OTHER", "123456", digest)  # another credit code


def test_what_people_type_is_normalised() -> None:
    assert normalised(" 123 456 ") == "123456" and normalised("123-456") == "123456"
    assert normalised("12345") is None and normalised("12345a") is None


def test_counters_run_in_windows_and_say_how_long_to_wait() -> None:
    row = None
    for _ in range(3):
        row = counted(row, "s", NOW, HOUR)
    assert row is not None and row.count == 3
    assert wait(row, 4, NOW, HOUR) is None
    assert wait(row, 3, NOW + timedelta(minutes=20), HOUR) == timedelta(minutes=40)
    later = counted(row, "s", NOW + HOUR, HOUR)  # the window is past: a new one
    assert (later.count, later.window_start) == (1, NOW + HOUR)
    assert resend_wait(row, timedelta(seconds=60), NOW + timedelta(seconds=45)) == \
        timedelta(seconds=15)
    assert resend_wait(row, timedelta(seconds=60), NOW + timedelta(seconds=60)) is None


def test_a_code_is_good_once_until_it_expires_for_a_few_guesses() -> None:
    rules = CodeRules()
    code = IssuedCode(id=1, credit_code="C", phone="139", digest="d", via=Via.SMS,
                      issued_by=None, created_at=NOW, expires_at=NOW + rules.ttl, attempts=0,
                      used_at=None)
    assert usable(code, NOW + timedelta(minutes=4, seconds=59), rules)
    assert not usable(code, NOW + rules.ttl, rules)
    assert not usable(replace(code, attempts=rules.max_attempts), NOW, rules)
    assert not usable(replace(code, used_at=NOW), NOW, rules)
    assert not usable(replace(code, via=Via.NONE), NOW, rules)  # never sent: never accepted
    assert usable(replace(code, via=Via.WINDOW, phone=None), NOW, rules)
