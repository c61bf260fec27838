"""Demo accounts and a realistic demo dataset for a freshly started node (never production)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from node.app.auth import hash_password
from node.app.policy import Membership, Principal, Role
from node.app.service import AccountService
from node.domain.validation import make_credit_code

DEMO_PASSWORD = "zhitong-demo"


@cache
def _demo_hash() -> str:
    """The demo password's scrypt hash, computed once per process: every demo login of
    every unit a process prepares shares it (the password is printed in the manifest)."""
    return hash_password(DEMO_PASSWORD)


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoCompany:
    name: str
    credit_code: str
    phone: str


def demo_companies(node: str) -> list[DemoCompany]:
    names = ["天能电池集团", "长兴新能源材料有限公司", "太湖物流股份有限公司", "吕山湖羊食品厂",
             "雉城精密机械有限公司"]
    out = []
    for i, name in enumerate(names):
        first17 = f"91{node}MA2{i:02d}X{i}Q{i}"[:17]
        out.append(DemoCompany(name=name, credit_code=make_credit_code(first17),
                               phone=f"1390572{i:04d}"))
    return out


def ensure_demo_accounts(accounts: AccountService, node: str) -> list[tuple[str, str, str]]:
    """Create the demo logins if the node has no account yet; return (user, role, password)."""
    staff = [
        Principal(username="dispatcher", role=Role.DISPATCHER, display_name="受理分办员 王敏"),
        Principal(username="handler", role=Role.HANDLER, display_name="经信局 李强",
                  department=f"{node}.jxj"),  # a unit id of deploy/<tier>/node.toml
        Principal(username="leader", role=Role.LEADER, display_name="兜底办 陈主任"),
        Principal(username="admin", role=Role.ADMIN, display_name="系统管理员"),
        Principal(username="viewer", role=Role.VIEWER, display_name="省级领导（只读）"),
        # reviews rejections: a member of the node's review unit (营商局 联审), if it has one
        Principal(username="reviewer", role=Role.REVIEWER, display_name="营商局联审 赵宁",
                  memberships=tuple(Membership(unit=u, role=Role.REVIEWER)
                                    for u in sorted(accounts.review_units())[:1])),
    ]
    company = demo_companies(node)[0]
    staff.append(Principal(username=company.credit_code, role=Role.ENTERPRISE,
                           display_name=company.name, credit_code=company.credit_code))
    if accounts.count() == 0:
        hashed = _demo_hash()  # one scrypt for every demo login (the password is public)
        for p in staff:
            accounts.add(p, DEMO_PASSWORD, password_hash=hashed)
    return [(p.username, p.role.value, DEMO_PASSWORD) for p in staff]
