"""Accounts, failed sign-ins and the account audit in the store, on SQLite and PostgreSQL
(the `node` fixture is parametrised over both backends)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from node.app.accounts import AccountChange, account_subject
from node.app.policy import Role
from node.domain.errors import DomainError, RuleViolation, Unauthenticated
from node.runtime import Node
from tests.support.clock import FakeClock
from tests.support.data import STAFF

ADMIN, HANDLER = STAFF["admin"], STAFF["handler"]
PASSWORD = "password123"


@pytest.fixture
def accounts(node: Node) -> Node:
    node.services.accounts.add(ADMIN, PASSWORD)
    node.services.accounts.add(HANDLER, PASSWORD)
    return node


def test_administration_round_trips_and_bumps_the_generation(accounts: Node) -> None:
    svc = accounts.services.accounts
    first = svc.sign_in("handler", PASSWORD)
    assert first.token_generation == 0
    svc.update(ADMIN, "handler", AccountChange(display_name="承办甲", role=Role.LEADER,
                                               clear_department=True))
    info = svc.get(ADMIN, "handler")
    assert (info.account.display_name, info.account.role, info.account.department) == (
        "承办甲", "leader", None)
    assert info.updated_at is not None
    svc.disable(ADMIN, "handler")
    with pytest.raises(Unauthenticated):
        svc.principal("handler", 0)
    svc.enable(ADMIN, "handler")
    with pytest.raises(Unauthenticated):  # generation 0 is gone for good
        svc.principal("handler", 0)
    assert svc.principal("handler", 1).role is Role.LEADER
    svc.reset_password(ADMIN, "handler", "new-password-2")
    assert svc.sign_in("handler", "new-password-2").token_generation == 2
    kinds = [e.kind for e in svc.events(ADMIN, username="handler")]
    assert kinds == ["password_reset", "enabled", "disabled", "updated", "created"]
    assert [i.account.username for i in svc.list_accounts(ADMIN)] == ["admin", "handler"]


def test_failures_are_kept_and_a_lock_is_audited(accounts: Node, clock: FakeClock) -> None:
    svc = accounts.services.accounts
    for _ in range(10):
        with pytest.raises(Unauthenticated):
            svc.sign_in("handler", "wrong-one", address="192.0.2.1")
        clock.advance(timedelta(minutes=5))
    with pytest.raises(RuleViolation) as refused:
        svc.sign_in("handler", PASSWORD, address="192.0.2.1")
    assert refused.value.code == "login_locked"
    subjects = {r.subject: r for r in svc.lockouts(ADMIN)}
    assert subjects[account_subject("handler")].failures == 10
    assert subjects[account_subject("handler")].locked
    assert "address:192.0.2.1" not in subjects  # 10 < the address's 20
    assert [e.kind for e in svc.events(ADMIN, username="handler")][:1] == ["locked"]
    assert svc.unlock_account(ADMIN, "handler") is True
    assert svc.unlock_account(ADMIN, "handler") is False
    assert svc.sign_in("handler", PASSWORD).principal.username == "handler"


def test_concurrent_guesses_are_all_counted(accounts: Node) -> None:
    """Eight guesses at once: each is counted before its password is checked, so no more
    than the threshold get a password check and the rest wait."""
    svc = accounts.services.accounts
    codes: list[str] = []
    lock = threading.Lock()

    def guess() -> None:
        try:
            svc.sign_in("handler", "wrong-guess")
        except DomainError as exc:
            with lock:
                codes.append(exc.code)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == ["login_throttled"] * 3 + ["wrong_password"] * 5, codes
    assert next(r for r in svc.lockouts(ADMIN)).failures == 5
