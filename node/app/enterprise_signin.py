"""Enterprises sign in with their credit code and a one-time code sent by SMS.

How it works. `request_code` answers every well-formed credit code the same way (202, the
same body) after the same writes: it counts the request, makes a code and keeps its digest
(node/domain/signin_codes.py) as an unsent code (`Via.NONE`: never accepted). Limits: one
request per credit code per `resend_interval`, `per_credit_code` and `per_address` per
window, known credit code or not (429 `signin_code_too_soon` / `signin_too_many` with
`retry_after`). Only then, once the answer is on its way (the HTTP adapter runs it as a
background task), `send` looks for the phone on record — the contact phone of the
newest issue raised on the credit code at this node, through any channel — and, if there
is one, SMS is configured and that phone had fewer than `per_phone` codes in the window,
makes the code an SMS code and puts its SMS in the notification outbox in one
transaction. The dispatcher (node/app/notify.py) sends it later still, under its own
idempotency key; quiet hours never hold it (topic `sign_in_code` is exempt). So neither
the answer nor its timing tells whether a credit code is known: what differs happens after
the answer, and a phone at its limit changes nothing in it either.

`verify` checks a guess against the credit code's newest code: good once, until it expires,
for `max_attempts` guesses; wrong guesses are counted per code, per address and per phone
of the code (a code never sent: per credit code, the same writes), and a subject at its
limit is refused 429 before the guess is looked at. Every
refusal of a guess is 401 `signin_code_invalid`, whatever was wrong (no code, unknown
credit code, expired, used, burnt, wrong digits). A right code signs the enterprise in: its
account (role enterprise, username = credit code) is created on first sign-in, named as on
its newest issue, with a password nobody knows (enterprises have no password; staff keep
theirs: node/app/accounts.py). Its portal lists every issue of its credit code
(node/app/service.py filters an enterprise's pool by credit code).

`window_code`: staff at the service window (综合窗口, permission `submit_any_channel`) give
an enterprise a code for its credit code after checking its papers; the code is shown to
them once and is accepted like an SMS one.

Refusals are raised after the transaction that counted them has committed, so a wrong
guess is counted even though the call fails.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from node.app.accounts import SignedIn, retry_after_s
from node.app.auth import hash_password
from node.app.policy import SUBMIT_ANY_CHANNEL, Principal, Role, require
from node.app.ports import (
    Account,
    Clock,
    CodeMessage,
    ConstraintViolation,
    NewSignInCode,
    SignInCodeStore,
    SignInCodeUnit,
)
from node.domain.errors import DomainError, NotFound, RuleViolation, Unauthenticated
from node.domain.notifications import delivery_key
from node.domain.signin_codes import (
    CodeRules,
    Counted,
    Counter,
    IssuedCode,
    Via,
    code_digest,
    counted,
    matches,
    new_code,
    normalised,
    resend_wait,
    subject,
    usable,
    wait,
)
from node.domain.validation import validate_credit_code

log = logging.getLogger("zhitong.signin")

TOPIC = "sign_in_code"
WINDOW_CODE_ACTION = "signin.window_code"
_NO_DIGEST = "0" * 64  # compared against when there is no code: the same HMAC work


def code_key(secret: bytes) -> bytes:
    """The key of code digests, derived from the node's session secret."""
    return hashlib.sha256(b"zhitong-signin-code\n" + secret).digest()


class Principals(Protocol):
    """What is needed of node.app.accounts.AccountService."""

    def principal(self, username: str, generation: int | None = None) -> Principal: ...


class SignInAudit(Protocol):
    """What is used of node.app.audit.AuditService."""

    def login(self, username: str, *, address: str | None, principal: Principal | None,
              refused: str | None = None) -> None: ...

    def record(self, action: str, *, actor: Principal | str | None = None,
               target_kind: str | None = None, target_id: str | None = None,
               detail: Mapping[str, Any] | None = None) -> object: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ExternalIdentity:
    """Who an identity provider says signed in (node/sso/oidc.py)."""

    credit_code: str
    name: str | None = None
    subject: str = ""


class IdentityProvider(Protocol):
    """An external identity provider (浙里办 企业码 over OpenID Connect: node/sso/oidc.py)."""

    def start(self) -> tuple[str, str]:
        """(the provider's authorisation URL, the value of the state cookie)."""
        ...

    def finish(self, *, code: str, state: str, cookie: str | None) -> ExternalIdentity:
        """The identity of a finished authorisation, or Unauthenticated."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeRequested:
    """The answer to every well-formed request: nothing in it depends on the credit code."""

    expires_in_s: int
    resend_after_s: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingCode:
    """A code just made, not sent yet: its digits live only here until `send`."""

    code_id: int
    credit_code: str
    digits: str = field(repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Requested:
    answer: CodeRequested
    pending: PendingCode


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowCode:
    credit_code: str
    code: str
    expires_at: datetime


def _too_many(row: Counter | None, limit: int, rules: CodeRules, now: datetime) -> None:
    waiting = wait(row, limit, now, rules.window)
    if waiting is not None:
        raise RuleViolation("signin_too_many", retry_after=retry_after_s(now + waiting, now))


class EnterpriseSignIn:
    def __init__(self, *, store: SignInCodeStore, accounts: Principals, clock: Clock,
                 node: str, node_name: str, key: bytes, rules: CodeRules | None = None,
                 sms: bool = False, locale: str = "zh-CN",
                 randbelow: Callable[[int], int] = secrets.randbelow,
                 audit: SignInAudit | None = None,
                 provider: IdentityProvider | None = None,
                 provider_portal: str | None = None) -> None:
        """`sms`: whether an SMS adapter is configured (notify.sms.enabled); without one
        codes come only from the window."""
        self.store = store
        self.accounts = accounts
        self.clock = clock
        self.node = node
        self.node_name = node_name
        self.key = key
        self.rules = rules or CodeRules()
        self.sms = sms
        self.locale = locale
        self.randbelow = randbelow
        self.audit = audit
        #: the external identity provider enterprises may also sign in with ([sso])
        self.provider = provider
        self.provider_portal = provider_portal  # where its sign-ins land (the portal)

    # ----------------------------------------------------------------- asking for a code

    def request_code(self, credit_code: str, *, address: str | None) -> Requested:
        """Count the request and keep an unsent code: the same writes for every credit code.
        The answer goes back at once; `send(requested.pending)` afterwards (the HTTP adapter
        runs it as a background task, once the answer is sent) decides whether to text it."""
        code_ = validate_credit_code(credit_code)
        digits = new_code(self.randbelow)
        digest = code_digest(self.key, code_, digits)
        rules = self.rules
        for attempt in range(3):
            now = self.clock.now()
            try:
                with self.store.write() as unit:
                    code_id = self._request(unit, code_, digest, address, now)
                break
            except ConstraintViolation:
                if attempt == 2:  # a concurrent first request of a subject, each time
                    raise
        return Requested(
            answer=CodeRequested(expires_in_s=int(rules.ttl.total_seconds()),
                                 resend_after_s=int(rules.resend_interval.total_seconds())),
            pending=PendingCode(code_id=code_id, credit_code=code_, digits=digits))

    def _request(self, unit: SignInCodeUnit, code_: str, digest: str, address: str | None,
                 now: datetime) -> int:
        rules = self.rules
        limited = [(Counted.CREDIT_REQUESTS, code_)]
        if address:
            limited.append((Counted.ADDRESS_REQUESTS, address))
        names = [subject(kind, value) for kind, value in limited]
        rows = unit.counters(names, for_update=True)
        too_soon = resend_wait(rows.get(names[0]), rules.resend_interval, now)
        if too_soon is not None:
            raise RuleViolation("signin_code_too_soon",
                                retry_after=retry_after_s(now + too_soon, now))
        for (kind, _), name in zip(limited, names, strict=True):
            _too_many(rows.get(name), rules.limit_of(kind), rules, now)
        for name in names:
            row = rows.get(name)
            unit.save_counter(counted(row, name, now, rules.window), existed=row is not None)
        code_id = unit.add_code(NewSignInCode(
            credit_code=code_, phone=None, digest=digest, via=Via.NONE.value, issued_by=None,
            created_at=now, expires_at=now + rules.ttl))
        unit.purge(now)
        return code_id

    def send(self, pending: PendingCode) -> bool:
        """Text the code to the phone on record, if the credit code has one here and that
        phone had fewer than `per_phone` codes in the window: the code becomes an SMS one
        and its SMS a delivery of the notification outbox, in one transaction. False: not
        sent (unknown credit code, no SMS configured, the phone's limit)."""
        if not self.sms:
            return False
        rules = self.rules
        for attempt in range(3):
            now = self.clock.now()
            try:
                with self.store.write() as unit:
                    found = unit.phone_on_record(pending.credit_code, self.node)
                    if found is None:
                        return False
                    phone = found[0]
                    name = subject(Counted.PHONE_SENDS, phone)
                    row = unit.counters([name], for_update=True).get(name)
                    if wait(row, rules.per_phone, now, rules.window) is not None:
                        log.warning("sign-in code of %s not sent: its phone had its %d codes "
                                    "this hour", pending.credit_code, rules.per_phone)
                        return False
                    unit.save_counter(counted(row, name, now, rules.window),
                                      existed=row is not None)
                    unit.mark_sms(pending.code_id, phone=phone)
                    recipient = f"enterprise:{pending.credit_code}"
                    unit.queue_sms(pending.code_id, CodeMessage(
                        idempotency_key=delivery_key(self.node, f"signin:{pending.code_id}",
                                                     recipient, "sms"),
                        recipient=recipient, phone=phone, locale=self.locale,
                        params={"code": pending.digits,
                                "minutes": str(int(rules.ttl.total_seconds() // 60)),
                                "node_name": self.node_name}), at=now)
                return True
            except ConstraintViolation:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def window_code(self, staff: Principal, credit_code: str) -> WindowCode:
        """A code given at the window (shown once to `staff`, never sent)."""
        require(staff, SUBMIT_ANY_CHANNEL)
        code_ = validate_credit_code(credit_code)
        digits = new_code(self.randbelow)
        now = self.clock.now()
        with self.store.write() as unit:
            unit.add_code(NewSignInCode(
                credit_code=code_, phone=None, digest=code_digest(self.key, code_, digits),
                via=Via.WINDOW.value, issued_by=staff.actor.label(), created_at=now,
                expires_at=now + self.rules.ttl))
        if self.audit is not None:  # who gave which enterprise a code (never the code)
            self.audit.record(WINDOW_CODE_ACTION, actor=staff, target_kind="enterprise",
                              target_id=code_,
                              detail={"expires_at": (now + self.rules.ttl).isoformat()})
        return WindowCode(credit_code=code_, code=digits, expires_at=now + self.rules.ttl)

    # ----------------------------------------------------------------- signing in

    def verify(self, credit_code: str, code: str, *, address: str | None) -> SignedIn:
        code_ = validate_credit_code(credit_code)
        digits = normalised(code)
        refusal: DomainError | None = None
        for attempt in range(3):
            now = self.clock.now()
            try:
                with self.store.write() as unit:
                    refusal = self._verify(unit, code_, digits, address, now)
                break
            except ConstraintViolation:
                if attempt == 2:
                    raise
            except DomainError as exc:  # refused before anything was counted
                self._audit(code_, address, None, exc.code)
                raise
        if refusal is not None:
            self._audit(code_, address, None, refusal.code)
            raise refusal
        signed = self._account(code_)
        self._audit(code_, address, signed.principal, None)
        return signed

    def _verify(self, unit: SignInCodeUnit, code_: str, digits: str | None,
                address: str | None, now: datetime) -> DomainError | None:
        rules = self.rules
        latest: IssuedCode | None = unit.latest_code(code_, for_update=True)
        limited: list[tuple[Counted, str]] = []
        if address:
            limited.append((Counted.ADDRESS_FAILURES, address))
        # the phone the code went to; a code never sent has none: its credit code stands in,
        # so that a wrong guess costs the same writes whether the credit code is known
        limited.append((Counted.PHONE_FAILURES, latest.phone if latest is not None
                        and latest.phone else f"credit:{code_}"))
        names = [subject(kind, value) for kind, value in limited]
        rows = unit.counters(names, for_update=True)
        for (kind, _), name in zip(limited, names, strict=True):
            _too_many(rows.get(name), rules.limit_of(kind), rules, now)
        right = matches(self.key, code_, digits or "", latest.digest if latest else _NO_DIGEST)
        if latest is not None and usable(latest, now, rules) and digits is not None and right:
            unit.use_code(latest.id, at=now)
            return None
        if latest is not None:
            unit.count_guess(latest.id)
        for name in names:
            row = rows.get(name)
            unit.save_counter(counted(row, name, now, rules.window), existed=row is not None)
        return Unauthenticated("signin_code_invalid")

    # ----------------------------------------------------------------- an identity provider

    def external_start(self) -> tuple[str, str]:
        if self.provider is None:
            raise NotFound("oidc_disabled")
        return self.provider.start()

    def external_finish(self, *, code: str, state: str, cookie: str | None,
                        address: str | None) -> SignedIn:
        """The provider vouches for the credit code: the same account and session as after
        an SMS code (made on first sign-in)."""
        if self.provider is None:
            raise NotFound("oidc_disabled")
        who = self.provider.finish(code=code, state=state, cookie=cookie)
        code_ = validate_credit_code(who.credit_code)
        signed = self._account(code_, name=who.name)
        self._audit(code_, address, signed.principal, None)
        return signed

    def _account(self, code_: str, *, name: str | None = None) -> SignedIn:
        """The enterprise's account, created on its first sign-in."""
        with self.store.read() as unit:
            stored = unit.enterprise_account(code_)
            found = unit.phone_on_record(code_, self.node)
        if stored is None:
            display = found[1] if found else (name or code_)
            account = Account(username=code_, role=Role.ENTERPRISE.value,
                              display_name=display[:100], credit_code=code_)
            password_hash = hash_password(secrets.token_urlsafe(24))  # known to nobody
            try:
                with self.store.write() as unit:
                    unit.add_enterprise_account(account, password_hash=password_hash,
                                                at=self.clock.now())
            except ConstraintViolation:  # signed in twice at once: the other one made it
                pass
            with self.store.read() as unit:
                stored = unit.enterprise_account(code_)
        if stored is None or not stored.active:
            raise Unauthenticated("account_unknown")
        return SignedIn(principal=self.accounts.principal(stored.account.username),
                        token_generation=stored.token_generation)

    def _audit(self, code_: str, address: str | None, principal: Principal | None,
               refused: str | None) -> None:
        if self.audit is None:
            return
        try:
            self.audit.login(code_, address=address, principal=principal, refused=refused)
        except Exception:  # the audit trail must not turn a sign-in into a failure
            log.exception("sign-in of %s not audited", code_)


class CodeSettings(Protocol):
    """The configuration's [security] signin_* values (node.config.SecuritySection)."""

    @property
    def signin_code_ttl_s(self) -> int: ...
    @property
    def signin_code_attempts(self) -> int: ...
    @property
    def signin_code_resend_s(self) -> int: ...
    @property
    def signin_codes_per_credit_code(self) -> int: ...
    @property
    def signin_codes_per_phone(self) -> int: ...
    @property
    def signin_codes_per_address(self) -> int: ...
    @property
    def signin_failures_per_address(self) -> int: ...
    @property
    def signin_failures_per_phone(self) -> int: ...


def rules_of(s: CodeSettings) -> CodeRules:
    return CodeRules(ttl=timedelta(seconds=s.signin_code_ttl_s),
                     max_attempts=s.signin_code_attempts,
                     resend_interval=timedelta(seconds=s.signin_code_resend_s),
                     per_credit_code=s.signin_codes_per_credit_code,
                     per_phone=s.signin_codes_per_phone,
                     per_address=s.signin_codes_per_address,
                     failures_per_address=s.signin_failures_per_address,
                     failures_per_phone=s.signin_failures_per_phone)
