"""Account administration over the JSON API (role admin only); thin like node/web/api.py.

* `GET    /api/v1/admin/accounts` — accounts by username (`?role=`), with their state:
  active, locked or backed off until when.
* `POST   /api/v1/admin/accounts` — a new account (201).
* `GET    /api/v1/admin/accounts/{username}`, `PATCH` — read; change the display name,
  role, department or board (`""` clears a department or board).
* `POST   /api/v1/admin/accounts/{username}/disable`, `/enable` — a disabled account
  cannot sign in and its tokens stop working at once (a re-enabled one signs in afresh).
* `POST   /api/v1/admin/accounts/{username}/password` — a new password: the account's
  sessions end, its sign-in lock is lifted.
* `POST   /api/v1/admin/accounts/{username}/unlock` — lift the name's back-off or lock.
* `GET    /api/v1/admin/lockouts` — the names and addresses that must wait now;
  `POST /api/v1/admin/lockouts/unlock-address` lifts an address's.
* `GET    /api/v1/admin/account-events` — the audit of every change (`?username=`).
* `POST   /api/v1/admin/accounts/{username}/units` — bind the account to a unit with a
  role (`{"unit", "role"}`, 201); `DELETE /api/v1/admin/accounts/{username}/units/{unit}/
  {role}` unbinds it. An account's units and roles are in every answer (`units`).

Use cases: node/app/accounts.py (AccountService); every change is audited there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from node.app.accounts import AccountChange, AccountInfo
from node.app.policy import Membership, Principal, Role
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=f"{API}/admin", responses=_ERRORS, tags=["administration"])
_STRICT = ConfigDict(extra="forbid")
Username = Annotated[str, Field(min_length=1, max_length=40)]


class MembershipIn(BaseModel):
    model_config = _STRICT
    unit: str = Field(min_length=1, max_length=40)
    role: Role

    def membership(self) -> Membership:
        return Membership(unit=self.unit.strip(), role=self.role)


class MembershipOut(BaseModel):
    unit: str
    role: str


class AccountOut(BaseModel):
    username: str
    role: str
    display_name: str
    department: str | None
    board: str | None
    credit_code: str | None
    units: list[MembershipOut]
    active: bool
    locked: bool
    blocked_until: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, info: AccountInfo) -> AccountOut:
        a = info.account
        return cls(username=a.username, role=a.role, display_name=a.display_name,
                   department=a.department, board=a.board, credit_code=a.credit_code,
                   units=[MembershipOut(unit=u, role=r) for u, r in a.units],
                   active=info.active, locked=info.locked, blocked_until=info.blocked_until,
                   created_at=info.created_at, updated_at=info.updated_at)


class AccountIn(BaseModel):
    model_config = _STRICT
    username: Username
    password: str = Field(min_length=8, max_length=200)
    role: Role
    display_name: str = Field(min_length=1, max_length=100)
    department: str | None = Field(default=None, max_length=60)
    board: str | None = Field(default=None, max_length=60)
    credit_code: str | None = Field(default=None, max_length=40)
    units: list[MembershipIn] = Field(default_factory=list, max_length=50)


class AccountPatch(BaseModel):
    model_config = _STRICT
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    department: str | None = Field(default=None, max_length=60)
    board: str | None = Field(default=None, max_length=60)


class PasswordIn(BaseModel):
    model_config = _STRICT
    password: str = Field(min_length=8, max_length=200)


class AddressIn(BaseModel):
    model_config = _STRICT
    address: str = Field(min_length=1, max_length=100)


class LockoutOut(BaseModel):
    subject: str
    kind: str  # account | address
    name: str
    failures: int
    locked: bool
    blocked_until: datetime | None
    last_failure_at: datetime


class AccountEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    subject: str
    kind: str
    detail: dict[str, Any]


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(
    p: PrincipalDep, s: ServicesDep,
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AccountOut]:
    return [AccountOut.of(i) for i in s.accounts.list_accounts(p, role=role, limit=limit,
                                                              offset=offset)]


@router.post("/accounts", response_model=AccountOut, status_code=201)
def create_account(body: AccountIn, p: PrincipalDep, s: ServicesDep) -> AccountOut:
    new = Principal(username=body.username.strip(), role=body.role,
                    display_name=body.display_name, department=_blank(body.department),
                    board=_blank(body.board), credit_code=_blank(body.credit_code),
                    memberships=tuple(m.membership() for m in body.units))
    return AccountOut.of(s.accounts.create(p, new, body.password))


@router.get("/accounts/{username}", response_model=AccountOut)
def get_account(username: str, p: PrincipalDep, s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.get(p, username))


@router.patch("/accounts/{username}", response_model=AccountOut)
def update_account(username: str, body: AccountPatch, p: PrincipalDep,
                   s: ServicesDep) -> AccountOut:
    change = AccountChange(
        display_name=body.display_name, role=body.role,
        department=_blank(body.department), board=_blank(body.board),
        clear_department=body.department is not None and not body.department.strip(),
        clear_board=body.board is not None and not body.board.strip())
    return AccountOut.of(s.accounts.update(p, username, change))


@router.post("/accounts/{username}/units", response_model=AccountOut, status_code=201)
def add_membership(username: str, body: MembershipIn, p: PrincipalDep,
                   s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.add_membership(p, username, body.membership()))


@router.delete("/accounts/{username}/units/{unit}/{role}", response_model=AccountOut)
def remove_membership(username: str, unit: Annotated[str, Path(max_length=40)], role: Role,
                      p: PrincipalDep, s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.remove_membership(p, username,
                                                      Membership(unit=unit, role=role)))


@router.post("/accounts/{username}/disable", response_model=AccountOut)
def disable_account(username: str, p: PrincipalDep, s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.disable(p, username))


@router.post("/accounts/{username}/enable", response_model=AccountOut)
def enable_account(username: str, p: PrincipalDep, s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.enable(p, username))


@router.post("/accounts/{username}/password", response_model=AccountOut)
def reset_password(username: str, body: PasswordIn, p: PrincipalDep,
                   s: ServicesDep) -> AccountOut:
    return AccountOut.of(s.accounts.reset_password(p, username, body.password))


@router.post("/accounts/{username}/unlock")
def unlock_account(username: str, p: PrincipalDep, s: ServicesDep) -> dict[str, bool]:
    return {"lifted": s.accounts.unlock_account(p, username)}


@router.get("/lockouts", response_model=list[LockoutOut])
def lockouts(p: PrincipalDep, s: ServicesDep) -> list[LockoutOut]:
    out = []
    for row in s.accounts.lockouts(p):
        kind, _, name = row.subject.partition(":")
        out.append(LockoutOut(subject=row.subject, kind=kind, name=name, failures=row.failures,
                              locked=row.locked, blocked_until=row.blocked_until,
                              last_failure_at=row.last_failure_at))
    return out


@router.post("/lockouts/unlock-address")
def unlock_address(body: AddressIn, p: PrincipalDep, s: ServicesDep) -> dict[str, bool]:
    return {"lifted": s.accounts.unlock_address(p, body.address)}


@router.get("/account-events", response_model=list[AccountEventOut])
def account_events(
    p: PrincipalDep, s: ServicesDep,
    username: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AccountEventOut]:
    return [AccountEventOut(id=e.id, at=e.at, actor=e.actor, subject=e.subject, kind=e.kind,
                            detail=e.detail)
            for e in s.accounts.events(p, username=username, limit=limit)]
