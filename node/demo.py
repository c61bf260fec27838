"""Demo accounts and a realistic demo dataset for a freshly started node (never production)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from node.app.policy import Membership, Principal, Role
from node.app.service import AccountService, IssueService
from node.domain.errors import DomainError
from node.domain.issue import Channel, Rating
from node.domain.lifecycle import Assign, Rate, Reject, Resolve, Start, Submit, Triage
from node.domain.units import BOARD_KINDS, Unit, UnitKind
from node.domain.validation import make_credit_code

DEMO_PASSWORD = "zhitong-demo"


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
        for p in staff:
            accounts.add(p, DEMO_PASSWORD)
    return [(p.username, p.role.value, DEMO_PASSWORD) for p in staff]


TOPICS = [
    ("用地指标审批进度咨询", "厂区扩建项目用地指标审批已两个月，希望了解进度。", "要素保障"),
    ("高新技术企业认定政策兑现", "去年认定的高企奖励资金尚未到位。", "惠企政策"),
    ("园区道路破损影响货车通行", "园区南门道路坑洼严重，货车通行困难。", "基础设施"),
    ("招工难，希望组织专场招聘", "旺季用工缺口约80人，希望人社部门协助。", "人才用工"),
    ("消防验收标准不一致", "同类厂房两次验收口径不同，请统一标准。", "安全生产"),
    ("出口退税办理时间长", "出口退税平均需要25天，影响资金周转。", "税费服务"),
    ("用电增容申请", "新上生产线需要增容2000千伏安。", "要素保障"),
    ("融资担保额度不足", "希望政府性融资担保提高额度。", "融资服务"),
]
#: Per topic: the board (or zone) and the department it is dispatched to, as slugs of the
#: catalogue in deploy/<tier>/node.toml; a node without one takes its first of the kind.
ROUTES = [("z-touzi", "zrzyj"), ("b-zhengce", "kjj"), ("b-zhengce", "jtj"),
          ("b-rencai", "rsj"), ("b-zhengce", "yjglj"), ("b-kaifang", "shuiwu"),
          ("z-touzi", "fgj"), ("b-jinrong", "jrb")]


def _route(catalogue: Mapping[str, Unit], node: str, i: int) -> tuple[str, str]:
    """The (board, department) unit ids the i-th demo issue goes to at `node`."""
    board_slug, dept_slug = ROUTES[i % len(ROUTES)]

    def pick(slugs: tuple[str, ...], kinds: frozenset[UnitKind], fallback: str) -> str:
        mine = sorted(u.id for u in catalogue.values()
                      if u.node == node and u.kind in kinds and u.active)
        for slug in slugs:  # the topic's own unit, else the usual one, else the first
            if f"{node}.{slug}" in mine:
                return f"{node}.{slug}"
        return mine[0] if mine else fallback

    return (pick((board_slug, "b-zhengce"), BOARD_KINDS, "企业服务专班"),
            pick((dept_slug, "jxj"), frozenset({UnitKind.DEPARTMENT}), "经信局"))


def seed_demo_issues(service: IssueService, principal: Principal, *, count: int = 24) -> int:
    """Submit `count` issues across channels and walk them through realistic states."""
    rnd = random.Random(2026)
    companies = demo_companies(service.node)
    channels = list(Channel)
    catalogue = service.units.catalogue() if service.units is not None else {}
    made = 0
    for i in range(count):
        title, content, tag = TOPICS[i % len(TOPICS)]
        c = companies[i % len(companies)]
        issue, _ = service.submit(
            principal,
            Submit(enterprise_name=c.name, credit_code=c.credit_code, contact_phone=c.phone,
                   channel=channels[i % len(channels)], title=title, content=content),
            idempotency_key=f"demo-{i}",
        )
        made += 1
        stage = rnd.randrange(6)
        board, department = _route(catalogue, service.node, i)
        try:
            if stage >= 1:
                service.act(principal, issue.id, Triage(tags=(tag,), board=board))
            if stage >= 2:
                service.act(principal, issue.id, Assign(department=department))
            if stage >= 3:
                service.act(principal, issue.id, Start())
            if stage >= 4:
                service.act(principal, issue.id, Resolve(reply="已协调相关部门办理完毕。"))
            if stage == 5:
                rating = Rating.SATISFIED if i % 3 else Rating.UNSATISFIED
                owner = Principal(username=c.credit_code, role=Role.ENTERPRISE,
                                  display_name=c.name, credit_code=c.credit_code)
                service.act(owner, issue.id, Rate(rating=rating))
            if stage == 0 and i % 4 == 0:
                reason = "不属于本级职责范围，建议向市场监管部门反映。"
                service.act(principal, issue.id, Reject(reason=reason))
        except DomainError:
            continue  # the demo principal may lack a permission; the issue stays where it is
    return made
