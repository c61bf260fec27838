"""One-time sign-in codes of enterprises, pure: making a code, its digest, expiry, limits.

How it works. An enterprise asks for a code with its credit code; the node makes six random
digits (`new_code`, from a passed-in source of random integers, so tests can fix it) and
keeps only their digest: HMAC-SHA256 under a key of the node (`code_digest`), over the
credit code and the digits. Six digits are a million values — a plain hash would be
reversed by trying them all, the keyed one cannot be without the node's key. A code is
good once, until `expires_at` (`CodeRules.ttl`, default 5 minutes), for at most
`max_attempts` guesses (`usable`); a newer code of the same credit code replaces it.

Limits are *counters* per subject in fixed windows (`CodeRules.window`, one hour) that
start at a subject's first event (`counted`); `wait` tells how long a subject must wait
once its count reached the limit. Subjects (`subject`): codes asked for per credit code
(known or not, so an unknown credit code earns the very same refusals as a known one) and
per address; codes sent per phone; failed guesses per address and per phone. `resend_wait`
keeps one code request per credit code per `resend_interval`.

No I/O and no clock: `now` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

CODE_DIGITS = 6
_CODE = re.compile(r"\d{6}")


class Via(StrEnum):
    SMS = "sms"  # sent to the phone on record of the credit code's issues
    WINDOW = "window"  # given at the service window by staff (shown to them once)
    NONE = "none"  # asked for an unknown credit code: never sent, never accepted


class Counted(StrEnum):
    """What a limit counts (the prefix of its subject)."""

    CREDIT_REQUESTS = "req-credit"  # codes asked for, per credit code
    ADDRESS_REQUESTS = "req-address"  # codes asked for, per caller address
    PHONE_SENDS = "sent-phone"  # codes sent, per phone
    ADDRESS_FAILURES = "fail-address"  # wrong or stale codes, per caller address
    PHONE_FAILURES = "fail-phone"  # wrong codes, per phone of the code


def subject(kind: Counted, value: str) -> str:
    return f"{kind.value}:{value}"


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeRules:
    """Config [security] signin_* (node/config.py)."""

    ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    resend_interval: timedelta = timedelta(seconds=60)
    window: timedelta = timedelta(hours=1)
    per_credit_code: int = 5  # codes asked for per credit code per window
    per_phone: int = 5  # codes sent per phone per window
    per_address: int = 30  # codes asked for per address per window
    failures_per_address: int = 30  # wrong codes per address per window
    failures_per_phone: int = 10  # wrong codes per phone per window

    def limit_of(self, kind: Counted) -> int:
        return {
            Counted.CREDIT_REQUESTS: self.per_credit_code,
            Counted.ADDRESS_REQUESTS: self.per_address,
            Counted.PHONE_SENDS: self.per_phone,
            Counted.ADDRESS_FAILURES: self.failures_per_address,
            Counted.PHONE_FAILURES: self.failures_per_phone,
        }[kind]


@dataclass(frozen=True, kw_only=True, slots=True)
class Counter:
    """Events of one subject in its current window."""

    subject: str
    window_start: datetime
    count: int
    last_at: datetime


def counted(previous: Counter | None, subject_: str, now: datetime,
            window: timedelta) -> Counter:
    """The subject's counter after one more event at `now` (a window past: a new one)."""
    if previous is None or now - previous.window_start >= window:
        return Counter(subject=subject_, window_start=now, count=1, last_at=now)
    return Counter(subject=subject_, window_start=previous.window_start,
                   count=previous.count + 1, last_at=now)


def wait(counter: Counter | None, limit: int, now: datetime,
         window: timedelta) -> timedelta | None:
    """How long the subject must wait before its next event (None: it need not)."""
    if counter is None or now - counter.window_start >= window or counter.count < limit:
        return None
    return counter.window_start + window - now


def resend_wait(counter: Counter | None, interval: timedelta,
                now: datetime) -> timedelta | None:
    """The wait before another code may be asked for (None: at once)."""
    if counter is None or now - counter.last_at >= interval:
        return None
    return counter.last_at + interval - now


def new_code(randbelow: Callable[[int], int]) -> str:
    """Six decimal digits; `randbelow(n)` returns a uniform integer in [0, n) (e.g.
    `secrets.randbelow`)."""
    value = randbelow(10**CODE_DIGITS)
    if not 0 <= value < 10**CODE_DIGITS:
        raise ValueError("randbelow out of range")
    return f"{value:0{CODE_DIGITS}d}"


def normalised(text: str) -> str | None:
    """The six digits someone typed (spaces and dashes dropped), None if it is not one."""
    digits = text.replace(" ", "").replace("-", "")
    return digits if _CODE.fullmatch(digits) else None


def code_digest(key: bytes, credit_code: str, code: str) -> str:
    """The stored form of a code: HMAC-SHA256 under the node's key, hex."""
    return hmac.new(key, f"{credit_code}\n{code}".encode(), hashlib.sha256).hexdigest()


def matches(key: bytes, credit_code: str, code: str, digest: str) -> bool:
    return hmac.compare_digest(code_digest(key, credit_code, code), digest)


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuedCode:
    """A code as stored: its digest, never its digits."""

    id: int
    credit_code: str
    phone: str | None
    digest: str
    via: Via
    issued_by: str | None
    created_at: datetime
    expires_at: datetime
    attempts: int
    used_at: datetime | None


def usable(code: IssuedCode, now: datetime, rules: CodeRules) -> bool:
    """Whether a guess may still be checked against `code`."""
    return (code.via is not Via.NONE and code.used_at is None and now < code.expires_at
            and code.attempts < rules.max_attempts)

