"""Accounts: signing in without unlimited guessing, and their administration.

Signing in (`AccountService.sign_in`) counts failures per subject — the account name
("account:<username>", known or not) and the caller's address ("address:<ip>") — in the
store (node.app.ports.LoginFailures), so a restart resets nothing. `SignInRules` turns a
count into a wait: from `backoff_after` failures on, each further attempt must wait
`backoff_initial`·2^(n − backoff_after) (at most `backoff_max`); at `lock_after` the
subject is locked for `lock_for` or until an administrator lifts it. An address has its
own, higher thresholds (one office behind one address holds many people). A refused
attempt answers 429 `login_throttled` / `login_locked` with `retry_after` seconds (the
HTTP adapter sends it as Retry-After) and is not counted again.

The attempt is counted *before* the password is checked, in one write transaction that
also checks the wait (the row is locked on PostgreSQL; SQLite's writers are serialised):
a burst of concurrent guesses cannot all slip past a count that each one only raises
afterwards. A right password then takes its own count back (the account's is cleared,
the address's lowered by one). An unknown or disabled account's password is verified
against `dummy_hash()`, so every refusal costs the same scrypt work and names the same
error (`wrong_password`): neither timing nor text tells who exists.

Administration (`list`, `create`, `update`, `disable`, `enable`, `reset_password`,
`unlock_*`, `lockouts`, `events`) needs the `manage_users` permission. Disabling an
account or resetting its password bumps its token generation, which every request
checks (`principal`): the account's tokens stop working at once. Every change, and every
lock a subject earns, is one row of `account_events` (who, when, what — no password
material), written in the transaction of the change.

Memberships (`add_membership`, `remove_membership`, and those given to `create`) bind a
staff account to an organisation unit with a role per unit (node/app/policy.py). A unit
must be one of this node's and active in its catalogue (node/domain/units.py); a node
without any catalogue yet takes unit ids as given. Each binding and unbinding is an
`account_events` row (`membership_added` / `membership_removed`, with unit and role). The
principal a request runs as (`principal`, `sign_in`) carries its memberships and the
node's active review units, so the policy decides scope and four-eyes review without I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from node.app.auth import dummy_hash, hash_password, verify_password
from node.app.policy import MANAGE_USERS, MEMBER_ROLES, Membership, Principal, Role, require
from node.app.ports import (
    Account,
    AccountEvent,
    AccountStore,
    AccountUnit,
    Clock,
    ConstraintViolation,
    LoginFailures,
    StoredAccount,
)
from node.domain.errors import (
    Conflict,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
)
from node.domain.validation import check_text, validate_credit_code

SYSTEM = "system"  # the actor of what no person did (a lock, an account made by the CLI)
MAX_EVENTS = 500
MAX_UNIT_ID = 40  # units.id
MAX_MEMBERSHIPS = 50  # units one account may belong to
REVIEW_KIND = "review"  # node.domain.units.UnitKind.REVIEW: 营商局 联审


@dataclass(frozen=True, kw_only=True, slots=True)
class SignInRules:
    """How many failed sign-ins earn which wait (config [security] login_*)."""

    backoff_after: int = 5
    lock_after: int = 10
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    lock_for: timedelta = timedelta(hours=1)
    address_backoff_after: int = 20
    address_lock_after: int = 100
    #: failures older than this are forgotten (the count starts again)
    forget_after: timedelta = timedelta(hours=24)

    def thresholds(self, subject: str) -> tuple[int, int]:
        if subject.startswith("address:"):
            return self.address_backoff_after, self.address_lock_after
        return self.backoff_after, self.lock_after

    def wait_after(self, subject: str, failures: int) -> tuple[timedelta | None, bool]:
        """(how long the next attempt must wait, locked) after `failures` failures."""
        backoff_after, lock_after = self.thresholds(subject)
        if failures >= lock_after:
            return self.lock_for, True
        if failures >= backoff_after:
            wait = self.backoff_initial * 2 ** min(failures - backoff_after, 30)
            return min(wait, self.backoff_max), False
        return None, False

    def counted(self, previous: LoginFailures | None, subject: str,
                now: datetime) -> LoginFailures:
        """The subject's row after one more failure at `now`."""
        failures = 1
        if previous is not None and now - previous.last_failure_at <= self.forget_after:
            failures = previous.failures + 1
        wait, locked = self.wait_after(subject, failures)
        return LoginFailures(subject=subject, failures=failures, last_failure_at=now,
                             blocked_until=now + wait if wait is not None else None,
                             locked=locked)

    def taken_back(self, row: LoginFailures) -> LoginFailures | None:
        """`row` without the one failure a successful attempt had counted (None: none left)."""
        failures = row.failures - 1
        if failures <= 0:
            return None
        wait, locked = self.wait_after(row.subject, failures)
        return replace(row, failures=failures, locked=locked,
                       blocked_until=row.last_failure_at + wait if wait is not None else None)


class SignInSettings(Protocol):
    """The configuration's [security] login_* values (node.config.SecuritySection)."""

    @property
    def login_backoff_after(self) -> int: ...
    @property
    def login_lock_after(self) -> int: ...
    @property
    def login_address_backoff_after(self) -> int: ...
    @property
    def login_address_lock_after(self) -> int: ...
    @property
    def login_backoff_initial_s(self) -> float: ...
    @property
    def login_backoff_max_s(self) -> float: ...
    @property
    def login_lock_s(self) -> int: ...
    @property
    def login_forget_after_s(self) -> int: ...


def sign_in_rules(settings: SignInSettings) -> SignInRules:
    return SignInRules(
        backoff_after=settings.login_backoff_after,
        lock_after=settings.login_lock_after,
        address_backoff_after=settings.login_address_backoff_after,
        address_lock_after=settings.login_address_lock_after,
        backoff_initial=timedelta(seconds=settings.login_backoff_initial_s),
        backoff_max=timedelta(seconds=settings.login_backoff_max_s),
        lock_for=timedelta(seconds=settings.login_lock_s),
        forget_after=timedelta(seconds=settings.login_forget_after_s))


def account_subject(username: str) -> str:
    return f"account:{username}"


def address_subject(address: str) -> str:
    return f"address:{address}"


def retry_after_s(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedIn:
    principal: Principal
    token_generation: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountInfo:
    """An account as administration shows it (never its password hash)."""

    account: Account
    active: bool
    created_at: datetime | None
    updated_at: datetime | None
    locked: bool
    blocked_until: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountChange:
    """What an administrator changes of an account (None: left as it is)."""

    display_name: str | None = None
    role: Role | None = None
    department: str | None = None
    board: str | None = None
    clear_department: bool = False
    clear_board: bool = False


class AccountService:
    """Logins and account management."""

    def __init__(self, *, store: AccountStore, clock: Clock,
                 rules: SignInRules | None = None,
                 verify: Callable[[str, str], bool] = verify_password,
                 node: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.rules = rules or SignInRules()
        #: this node's code: its own units are the ones an account may belong to
        self.node = node
        #: the password check (a seam: tests count that unknown users are verified too)
        self.verify = verify

    # ----------------------------------------------------------------- signing in

    def sign_in(self, username: str, password: str, *, address: str | None = None
                ) -> SignedIn:
        """The principal of a right password, with its token generation; else 401
        `wrong_password` (whatever was wrong) or 429 while the account or address waits."""
        subjects = [account_subject(username)]
        if address:
            subjects.append(address_subject(address))
        counted = self._count_attempt(subjects)
        with self.store.read() as unit:
            found = unit.account(username)
            review_units = unit.units_of_kind(REVIEW_KIND, self.node)
        usable = found is not None and found.active
        stored_hash = found.password_hash if found is not None and usable else dummy_hash()
        right = self.verify(password, stored_hash)
        if not (right and usable) or found is None:
            self._audit_locks(counted)
            raise Unauthenticated("wrong_password")
        with self.store.write() as unit:
            unit.clear_login_failures(subjects[0])
            for subject in subjects[1:]:
                row = unit.login_failures(subject, for_update=True)
                if row is not None:
                    back = self.rules.taken_back(row)
                    if back is None:
                        unit.clear_login_failures(subject)
                    else:
                        unit.save_login_failures(back, existed=True)
        return SignedIn(principal=_principal(found.account, review_units),
                        token_generation=found.token_generation)

    def authenticate(self, username: str, password: str, *, address: str | None = None
                     ) -> Principal:
        return self.sign_in(username, password, address=address).principal

    def _count_attempt(self, subjects: list[str]) -> list[tuple[LoginFailures | None,
                                                                 LoginFailures]]:
        """Refuse the attempt if a subject must wait; else count it as a failure of each
        (taken back if the password is right). Returns (before, after) per subject."""
        for attempt in range(3):
            now = self.clock.now()
            try:
                with self.store.write() as unit:
                    rows = [(s, unit.login_failures(s, for_update=True)) for s in subjects]
                    for _, row in rows:
                        if row is not None and row.blocked_until is not None \
                                and row.blocked_until > now:
                            code = "login_locked" if row.locked else "login_throttled"
                            raise RuleViolation(code,
                                                retry_after=retry_after_s(row.blocked_until, now))
                    out = []
                    for subject, row in rows:
                        after = self.rules.counted(row, subject, now)
                        unit.save_login_failures(after, existed=row is not None)
                        out.append((row, after))
                    return out
            except ConstraintViolation:
                if attempt == 2:  # a concurrent first failure of a subject, each time
                    raise
        raise AssertionError("unreachable")

    def _audit_locks(self, counted: list[tuple[LoginFailures | None, LoginFailures]]) -> None:
        """A lock earned by this (confirmed) failure, in the audit."""
        # (a subject still locked never gets this far: every lock here is a new one)
        new = [after for _, after in counted if after.locked]
        if not new:
            return
        with self.store.write() as unit:
            for row in new:
                unit.add_account_event(AccountEvent(
                    at=row.last_failure_at, actor=SYSTEM, subject=row.subject, kind="locked",
                    detail={"failures": row.failures,
                            "until": row.blocked_until.isoformat() if row.blocked_until
                            else None}))

    def principal(self, username: str, generation: int | None = None) -> Principal:
        """The principal a session token names; refused once the account is disabled or
        its token generation moved on (a password reset, a disable)."""
        with self.store.read() as unit:
            found = unit.account(username)
            review_units = (unit.units_of_kind(REVIEW_KIND, self.node)
                            if found is not None else frozenset())
        if found is None or not found.active:
            raise Unauthenticated("account_unknown")
        if generation is not None and generation != found.token_generation:
            raise Unauthenticated("session_revoked")
        return _principal(found.account, review_units)

    # ----------------------------------------------------------------- the CLI's verbs

    def add(self, principal: Principal, password: str, *, actor: str = SYSTEM,
            password_hash: str | None = None) -> None:
        """`password_hash`: `hash_password(password)` computed once by the caller for
        several accounts of one known password (the demo logins: one scrypt per process,
        not per account; 7 of them per unit were half of `zhitong up`'s store preparation)."""
        _check_account(principal)
        check_text("password", password, max_len=200, min_len=8)
        if password_hash is not None and not password_hash.startswith("scrypt$"):
            raise ValueError("password_hash: not a hash_password() result")
        memberships = _distinct(principal.memberships)
        if memberships and principal.role is Role.ENTERPRISE:
            raise ValidationError("membership_not_staff", field="units")
        if len(memberships) > MAX_MEMBERSHIPS:
            raise ValidationError("membership_too_many", field="units",
                                  max_units=MAX_MEMBERSHIPS)
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                for m in memberships:
                    self._check_membership(unit, m)
                unit.add_account(_account(principal),
                                 password_hash=password_hash or hash_password(password),
                                 at=now)
                unit.add_account_event(AccountEvent(
                    at=now, actor=actor, subject=account_subject(principal.username),
                    kind="created", detail=_visible(_account(principal))))
                for m in memberships:
                    unit.add_membership(principal.username, m.unit, m.role.value, at=now)
                    unit.add_account_event(_membership_event(
                        "membership_added", actor, principal.username, m, now))
        except ConstraintViolation:
            raise Conflict("account_exists", username=principal.username) from None

    def count(self) -> int:
        with self.store.read() as unit:
            return unit.count_accounts()

    def review_units(self) -> frozenset[str]:
        """This node's active review units (营商局 联审): whose members review rejections."""
        with self.store.read() as unit:
            return unit.units_of_kind(REVIEW_KIND, self.node)

    # ----------------------------------------------------------------- administration

    def list_accounts(self, admin: Principal, *, role: Role | None = None, limit: int = 500,
             offset: int = 0) -> list[AccountInfo]:
        require(admin, MANAGE_USERS)
        now = self.clock.now()
        with self.store.read() as unit:
            found = unit.list_accounts(role=role.value if role else None, limit=limit,
                                       offset=offset)
            blocked = {b.subject: b for b in unit.blocked_subjects(now)}
        return [_info(s, blocked.get(account_subject(s.account.username)), now) for s in found]

    def get(self, admin: Principal, username: str) -> AccountInfo:
        require(admin, MANAGE_USERS)
        now = self.clock.now()
        with self.store.read() as unit:
            found = _existing(unit, username)
            row = unit.login_failures(account_subject(username))
        return _info(found, row, now)

    def create(self, admin: Principal, principal: Principal, password: str) -> AccountInfo:
        require(admin, MANAGE_USERS)
        self.add(principal, password, actor=admin.username)
        return self.get(admin, principal.username)

    def update(self, admin: Principal, username: str, change: AccountChange) -> AccountInfo:
        require(admin, MANAGE_USERS)
        if username == admin.username and change.role not in (None, admin.role):
            raise RuleViolation("own_account_protected")
        now = self.clock.now()
        with self.store.write() as unit:
            old = _existing(unit, username).account
            department = None if change.clear_department else (
                change.department if change.department is not None else old.department)
            board = None if change.clear_board else (
                change.board if change.board is not None else old.board)
            new = replace(
                old,
                display_name=change.display_name if change.display_name is not None
                else old.display_name,
                role=change.role.value if change.role is not None else old.role,
                department=department, board=board)
            _check_account(_principal(new))
            if new.role == Role.ENTERPRISE.value and old.role != Role.ENTERPRISE.value:
                raise ValidationError("enterprise_needs_credit_code", field="credit_code")
            if old.role == Role.ENTERPRISE.value and new.role != old.role:
                raise ValidationError("role_invalid", field="role")
            changed = {k: [v, getattr(new, k)] for k, v in _visible(old).items()
                       if getattr(new, k) != v}
            if changed:
                unit.update_account(new, at=now)
                unit.add_account_event(AccountEvent(at=now, actor=admin.username,
                                                    subject=account_subject(username),
                                                    kind="updated", detail=changed))
        return self.get(admin, username)

    def add_membership(self, admin: Principal, username: str, membership: Membership
                       ) -> AccountInfo:
        """Bind an account to a unit in a role (audited); 409 `membership_exists` if it is."""
        require(admin, MANAGE_USERS)
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                found = _existing(unit, username)
                if found.account.role == Role.ENTERPRISE.value:
                    raise ValidationError("membership_not_staff", field="units")
                if (membership.unit, membership.role.value) in found.account.units:
                    raise Conflict("membership_exists", unit=membership.unit,
                                   role=membership.role.value)
                if len(found.account.units) >= MAX_MEMBERSHIPS:
                    raise ValidationError("membership_too_many", field="units",
                                          max_units=MAX_MEMBERSHIPS)
                self._check_membership(unit, membership)
                unit.add_membership(username, membership.unit, membership.role.value, at=now)
                unit.add_account_event(_membership_event(
                    "membership_added", admin.username, username, membership, now))
        except ConstraintViolation:  # the same binding made at the same time
            raise Conflict("membership_exists", unit=membership.unit,
                           role=membership.role.value) from None
        return self.get(admin, username)

    def remove_membership(self, admin: Principal, username: str, membership: Membership
                          ) -> AccountInfo:
        """Unbind an account from a unit's role (audited); 404 if it was not bound."""
        require(admin, MANAGE_USERS)
        if username == admin.username and membership.role is Role.ADMIN:
            raise RuleViolation("own_account_protected")
        now = self.clock.now()
        with self.store.write() as unit:
            _existing(unit, username)
            if not unit.remove_membership(username, membership.unit, membership.role.value):
                raise NotFound("membership_not_found", unit=membership.unit[:MAX_UNIT_ID],
                               role=membership.role.value)
            unit.add_account_event(_membership_event(
                "membership_removed", admin.username, username, membership, now))
        return self.get(admin, username)

    def _check_membership(self, unit: AccountUnit, membership: Membership) -> None:
        """A role an account may hold in a unit, and a unit of this node's catalogue that is
        active (ids are taken as given while the node has no catalogue)."""
        if membership.role not in MEMBER_ROLES:
            raise ValidationError("membership_role_invalid", field="role",
                                  role=membership.role.value)
        check_text("unit", membership.unit, max_len=MAX_UNIT_ID)
        if not unit.has_units(self.node):
            return
        found = unit.unit_state(membership.unit)
        if found is None or (self.node is not None and found.node != self.node):
            raise ValidationError("membership_unit_unknown", field="unit",
                                  unit=membership.unit)
        if not found.active:
            raise ValidationError("membership_unit_inactive", field="unit",
                                  unit=membership.unit)

    def disable(self, admin: Principal, username: str) -> AccountInfo:
        return self._set_active(admin, username, False)

    def enable(self, admin: Principal, username: str) -> AccountInfo:
        return self._set_active(admin, username, True)

    def _set_active(self, admin: Principal, username: str, active: bool) -> AccountInfo:
        require(admin, MANAGE_USERS)
        if username == admin.username and not active:
            raise RuleViolation("own_account_protected")
        now = self.clock.now()
        with self.store.write() as unit:
            found = _existing(unit, username)
            if found.active != active:
                unit.set_active(username, active, at=now)
                unit.add_account_event(AccountEvent(
                    at=now, actor=admin.username, subject=account_subject(username),
                    kind="enabled" if active else "disabled", detail={}))
        return self.get(admin, username)

    def reset_password(self, admin: Principal, username: str, password: str) -> AccountInfo:
        """A new password; the account's sessions end and its sign-in lock is lifted."""
        require(admin, MANAGE_USERS)
        check_text("password", password, max_len=200, min_len=8)
        password_hash = hash_password(password)
        now = self.clock.now()
        with self.store.write() as unit:
            _existing(unit, username)
            unit.set_password(username, password_hash, at=now)
            unit.clear_login_failures(account_subject(username))
            unit.add_account_event(AccountEvent(at=now, actor=admin.username,
                                                subject=account_subject(username),
                                                kind="password_reset", detail={}))
        return self.get(admin, username)

    def unlock_account(self, admin: Principal, username: str) -> bool:
        """Lift the account's back-off or lock (whether the account exists or not: failures
        of unknown names are counted too). False: there was none."""
        require(admin, MANAGE_USERS)
        check_text("username", username, max_len=40)
        return self._lift(admin, account_subject(username))

    def unlock_address(self, admin: Principal, address: str) -> bool:
        require(admin, MANAGE_USERS)
        check_text("address", address, max_len=100)
        return self._lift(admin, address_subject(address))

    def _lift(self, admin: Principal, subject: str) -> bool:
        now = self.clock.now()
        with self.store.write() as unit:
            row = unit.login_failures(subject, for_update=True)
            if row is None:
                return False
            unit.clear_login_failures(subject)
            unit.add_account_event(AccountEvent(at=now, actor=admin.username, subject=subject,
                                                kind="unlocked",
                                                detail={"failures": row.failures,
                                                        "locked": row.locked}))
        return True

    def lockouts(self, admin: Principal) -> list[LoginFailures]:
        """Accounts and addresses that must wait now (locked or backed off)."""
        require(admin, MANAGE_USERS)
        now = self.clock.now()
        with self.store.read() as unit:
            return [r for r in unit.blocked_subjects(now)
                    if r.blocked_until is not None and r.blocked_until > now]

    def events(self, admin: Principal, *, username: str | None = None,
               limit: int = 100) -> list[AccountEvent]:
        require(admin, MANAGE_USERS)
        subject = account_subject(username) if username is not None else None
        with self.store.read() as unit:
            return unit.account_events(subject=subject, limit=min(limit, MAX_EVENTS))


def _existing(unit: AccountUnit, username: str) -> StoredAccount:
    found = unit.account(username)
    if found is None:
        raise NotFound("account_not_found", username=username)
    return found


def _check_account(principal: Principal) -> None:
    check_text("username", principal.username, max_len=40)
    check_text("display_name", principal.display_name, max_len=100)
    check_text("department", principal.department, max_len=60, required=False)
    check_text("board", principal.board, max_len=60, required=False)
    if principal.role is Role.ENTERPRISE:
        if principal.credit_code is None:
            raise ValidationError("enterprise_needs_credit_code", field="credit_code")
        validate_credit_code(principal.credit_code)


def _visible(account: Account) -> dict[str, Any]:
    """What the audit records of an account (everything but secrets; none are here)."""
    return {"role": account.role, "display_name": account.display_name,
            "department": account.department, "board": account.board,
            "credit_code": account.credit_code}


def _info(stored: StoredAccount, row: LoginFailures | None, now: datetime) -> AccountInfo:
    waiting = row is not None and row.blocked_until is not None and row.blocked_until > now
    return AccountInfo(account=stored.account, active=stored.active,
                       created_at=stored.created_at, updated_at=stored.updated_at,
                       locked=bool(waiting and row is not None and row.locked),
                       blocked_until=row.blocked_until if waiting and row is not None
                       else None)


def _principal(account: Account, review_units: frozenset[str] = frozenset()) -> Principal:
    return Principal(username=account.username, role=Role(account.role),
                     display_name=account.display_name, credit_code=account.credit_code,
                     department=account.department, board=account.board,
                     memberships=tuple(Membership(unit=u, role=Role(r))
                                       for u, r in account.units),
                     review_units=review_units)


def _distinct(memberships: tuple[Membership, ...]) -> tuple[Membership, ...]:
    return tuple(dict.fromkeys(memberships))


def _membership_event(kind: str, actor: str, username: str, membership: Membership,
                      at: datetime) -> AccountEvent:
    return AccountEvent(at=at, actor=actor, subject=account_subject(username), kind=kind,
                        detail={"unit": membership.unit, "role": membership.role.value})


def _account(principal: Principal) -> Account:
    return Account(username=principal.username, role=principal.role.value,
                   display_name=principal.display_name,
                   credit_code=principal.credit_code, department=principal.department,
                   board=principal.board)
