"""A year of demo activity per county, written through the import path (never production).

`zhitong demo seed` and the first start of `zhitong up` (node/localfed.py) call
`seed_demo_year`. How it works:

1. `plan_year` draws each issue's life from `random.Random(seed)` on the node's working-day
   calendar, over the year before `anchor` (the start of today, China time): received on a
   working day (now and then a weekend), volumes by month, channel and topic (each topic
   with its tags, its board and its department); triaged and dispatched within hours or a
   day; answered after a number of working days drawn under the stage's limit (the node's
   deadline policy for those tags and that channel), about one in eight late; rated or
   closed a few days later. A step that falls after `anchor` has not happened yet, so the
   issue is still open where it got to and its light is what its running deadline says.
   A few issues are laid out backwards from `anchor` so that yellow and red lights exist
   on any day: answered late, or not at all yet.
2. The rows (the import's own row model, node/domain/importing.py) go through the import
   use case (node/app/imports.py) like a historical library: every issue's back-dated
   events come from the lifecycle at their own dates, marked imported, published to the
   city like any other event, and the metrics count their real handling times.
3. What a library file cannot say is done next through the node's own use cases, with the
   demo's clock (`DemoClock`) set to the moment it happened, in time order: an
   enterprise's unsatisfied rating reopening an answered issue and the second round of
   handling, urges on late issues, last month's revisit sample and its results.
4. A few open issues are escalated to the city through the transfer service (the real
   path: they travel as soon as the city runs); `DemoOutcome.onward` names those the city
   should take on to the province, which node/localfed.py does once the city holds them.

Reproducible: the same seed on the same day gives the same issues — numbers, titles,
states and dates (issue ids are minted fresh). Fast: per county one import of a few hundred
rows and some fifty single actions (each its own transaction: which is why only the last
three months' answers are reopened, `REOPEN_WINDOW`).
"""

from __future__ import annotations

import bisect
import json
import random
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from threading import Event
from time import monotonic
from typing import Any

from node.app.clock import SystemClock
from node.app.imports import rows_of
from node.app.policy import Principal, Role
from node.app.ports import Clock
from node.demo import DEMO_PASSWORD, DemoCompany, demo_companies
from node.domain.calendar import CST, WorkCalendar
from node.domain.deadlines import DeadlinePolicy
from node.domain.errors import DomainError
from node.domain.issue import Channel, ContactMethod, Rating, RevisitResult
from node.domain.lifecycle import Assign, Close, Command, Rate, Resolve, Start, Triage, Urge
from node.domain.units import BOARD_KINDS, Unit, UnitKind
from node.domain.validation import make_credit_code
from node.runtime import Node

DEFAULT_SEED = 2026
#: issues per county: drawn between these bounds from the seed and the county's code
VOLUME = (320, 420)
#: working days back in which answered issues may be reopened (older ones are not)
REOPEN_WINDOW = 60


class DemoClock:
    """The real clock (or `base`), except while `at` is set: the demo's follow-up actions
    happen at their own past moments."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base = base or SystemClock()
        self.at: datetime | None = None

    def now(self) -> datetime:
        return self.at if self.at is not None else self.base.now()


# --------------------------------------------------------------------------- the material


@dataclass(frozen=True, kw_only=True, slots=True)
class Topic:
    titles: tuple[str, ...]
    content: str
    tags: tuple[str, ...]
    board: str  # unit slugs of deploy/<tier>/node.toml
    department: str
    weight: float
    reply: str


TOPICS: tuple[Topic, ...] = (
    Topic(titles=("用地指标审批进度咨询", "扩建项目用地报批慢", "工业用地“标准地”出让咨询"),
          content="厂区扩建项目用地指标审批已两个月，希望了解进度和还需补充的材料。",
          tags=("要素保障", "用地"), board="z-touzi", department="zrzyj", weight=9,
          reply="已协调自然资源和规划局，用地指标已列入本季度报批计划，材料清单已告知企业。"),
    Topic(titles=("用电增容申请", "新产线电力增容", "双回路供电改造"),
          content="新上生产线需要增容2000千伏安，申请已提交一个月。",
          tags=("要素保障", "用电"), board="z-touzi", department="jxj", weight=7,
          reply="增容方案已批复，供电公司已排定施工和送电时间。"),
    Topic(titles=("高新技术企业认定奖励未到位", "研发费用补助兑现", "专精特新奖励申报"),
          content="去年认定的高企奖励资金尚未到位，企业多次咨询未果。",
          tags=("惠企政策",), board="b-kechuang", department="jxj", weight=10,
          reply="奖励资金已完成审核，本月内拨付到企业账户。"),
    Topic(titles=("技改补助政策咨询", "惠企政策“免申即享”未享受", "稳岗返还未到账"),
          content="企业符合技改补助条件，但不清楚申报流程和时间节点。",
          tags=("惠企政策",), board="b-zhengce", department="jxj", weight=9,
          reply="已由经信局专人上门辅导申报，补助纳入本批次兑现。"),
    Topic(titles=("园区道路破损影响货车通行", "厂区门口路灯不亮", "园区雨污管网堵塞"),
          content="园区南门道路坑洼严重，重型货车通行困难，雨天积水。",
          tags=("基础设施",), board="b-zhengce", department="zjj", weight=6,
          reply="住建部门已完成路面修补，排水改造列入年度计划。"),
    Topic(titles=("招工难，希望组织专场招聘", "技能工人缺口大", "外来员工子女入学"),
          content="旺季用工缺口约80人，希望人社部门协助组织专场招聘。",
          tags=("人才用工",), board="b-rencai", department="rsj", weight=8,
          reply="人社局已组织专场招聘会，现场达成意向62人，后续持续对接。"),
    Topic(titles=("人才公寓申请", "高层次人才认定咨询"),
          content="新引进的研发人员希望申请人才公寓，不清楚条件和流程。",
          tags=("人才用工", "人才服务"), board="b-rencai", department="rsj", weight=4,
          reply="已告知申请条件，3名人员的人才公寓申请已受理。"),
    Topic(titles=("消防验收标准不一致", "安全生产检查口径不统一", "危化品仓储许可咨询"),
          content="同类厂房两次验收口径不同，请统一标准并给出整改清单。",
          tags=("安全生产",), board="b-zhengce", department="zjj", weight=5,
          reply="已组织联合踏勘，统一验收口径并书面告知整改要求。"),
    Topic(titles=("出口退税办理时间长", "增值税留抵退税进度", "发票额度不够用"),
          content="出口退税平均需要25天，影响企业资金周转。",
          tags=("税费服务",), board="b-zhengce", department="shuiwu", weight=8,
          reply="税务局已开通绿色通道，退税办理时间压缩至7个工作日。"),
    Topic(titles=("融资担保额度不足", "首贷难，希望银企对接", "应急转贷资金申请"),
          content="希望政府性融资担保提高额度，缓解流动资金压力。",
          tags=("融资服务",), board="b-jinrong", department="fgj", weight=7,
          reply="已组织银企对接，合作银行给予500万元授信，担保费率下调。"),
    Topic(titles=("项目审批材料反复补正", "施工许可办理慢", "环评审批进度咨询"),
          content="项目审批材料多次被要求补正，每次要求不同，希望一次性告知。",
          tags=("审批服务",), board="z-touzi", department="fgj", weight=7,
          reply="已实行一次性告知和专人代办，施工许可已核发。"),
    Topic(titles=("商标被仿冒维权", "质量检测周期长", "计量器具检定预约难"),
          content="企业注册商标在电商平台被仿冒，希望市场监管部门协助维权。",
          tags=("市场监管",), board="b-zhengce", department="scjgj", weight=4,
          reply="市场监管局已立案查处，相关链接已下架。"),
    Topic(titles=("合同纠纷法律咨询", "欠款追讨难"),
          content="下游客户拖欠货款半年以上，希望获得法律援助。",
          tags=("法律服务",), board="b-zhengce", department="sfj", weight=3,
          reply="已安排公共法律服务律师对接，调解后对方已分期付款。"),
    Topic(titles=("研发平台建设支持", "科技成果转化对接"),
          content="企业计划建设省级研发中心，希望获得政策和资源支持。",
          tags=("科技创新",), board="b-kechuang", department="jxj", weight=4,
          reply="经信局已将企业纳入研发平台培育库，安排专家辅导。"),
)

#: intake channels and their shares of a year (湖州: most come online and by the hotline)
CHANNEL_WEIGHTS: tuple[tuple[Channel, float], ...] = (
    (Channel.ONLINE, 24), (Channel.HOTLINE_12345, 21), (Channel.ENTERPRISE_HOTLINE, 8),
    (Channel.WINDOW, 7), (Channel.MEETING, 11), (Channel.VOLUNTEER, 9),
    (Channel.DEPARTMENT, 6), (Channel.FIELD_VISIT, 6), (Channel.BIG_DATA, 3),
    (Channel.INSPECTION, 3), (Channel.HIGHER_LEVEL, 2),
)
#: issues per working day by month (Spring Festival in February, National Day in October)
SEASON = {1: 1.0, 2: 0.6, 3: 1.3, 4: 1.2, 5: 1.0, 6: 1.1, 7: 0.9, 8: 0.9, 9: 1.1,
          10: 0.8, 11: 1.2, 12: 1.1}
_TRADES = ("精密机械", "新能源材料", "纺织印染", "电池科技", "食品", "家居", "物流",
           "电子科技", "建材", "生物医药", "环保科技", "汽配")
_PLACES = ("雉城", "画溪", "太湖", "龙山", "洪桥", "李家巷", "和平", "泗安", "虹星桥",
           "夹浦", "林城", "小浦", "煤山", "水口")
_SUFFIX = ("有限公司", "股份有限公司", "科技有限公司")
_COMMENTS_OK = ("办理及时，答复清楚。", "感谢专班跟进。", None, None, None)
_COMMENTS_SO = ("问题基本解决，后续还需跟进落实。", "答复可以，但办理时间偏长。")
_COMMENTS_BAD = ("答复没有解决实际问题。", "只给了政策解释，问题依旧。", "办理拖延，希望重新处理。")


def demo_enterprises(node: str, n: int = 160) -> list[DemoCompany]:
    """The demo login enterprises of node/demo.py first, then `n` more of the county (each
    a place and a trade: at most len(_PLACES) * len(_TRADES))."""
    pairs = [(p, t) for t in _TRADES for p in _PLACES]
    random.Random(0).shuffle(pairs)
    out = list(demo_companies(node))
    for i, (place, trade) in enumerate(pairs[:n]):
        out.append(DemoCompany(name=f"{place}{trade}{_SUFFIX[i % len(_SUFFIX)]}",
                               credit_code=make_credit_code(f"91{node}MA{i:07d}"),
                               phone=f"139{node[-4:]}{i:04d}"))
    return out


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowUp:
    """An action after the import, at `at`; `by` is "enterprise" or "staff"."""

    at: datetime
    by: str
    command: Command


@dataclass(kw_only=True, slots=True)
class Planned:
    """One issue: its import row, its owner and what happens to it after the import."""

    cells: dict[str, object]
    company: DemoCompany
    follow: list[FollowUp] = field(default_factory=list)
    escalate: str | None = None  # None, "city", or "province" (the city takes it on)


class _Days:
    """The working days before `anchor`'s day, with moments on them."""

    def __init__(self, calendar: WorkCalendar, anchor: datetime, span_days: int) -> None:
        first = anchor.date() - timedelta(days=span_days)
        self.all = [first + timedelta(days=k) for k in range(span_days)]
        self.work = [d for d in self.all if calendar.is_workday(d)]
        self.anchor = anchor

    def index(self, d: date) -> int:
        """The position of `d` (or of the next working day) in `work`."""
        return bisect.bisect_left(self.work, d)

    def after(self, moment: datetime, n: int, rnd: random.Random, lo: float = 8.5,
              hi: float = 18.0) -> datetime:
        """A moment on the n-th working day after `moment`'s (n=0: later the same day, or
        the next working day when the day is over); past `anchor` when it runs out."""
        i = self.index(moment.astimezone(CST).date()) + n
        if i >= len(self.work):
            return self.anchor + timedelta(days=1 + i - len(self.work))
        day = self.work[i]
        start = max(lo, _hours(moment) if n == 0 and day == moment.astimezone(CST).date()
                    else lo)
        if start >= hi:
            return self.after(moment, n + 1, rnd, lo, hi)
        return _at(day, rnd.uniform(start + 0.1, min(hi, start + 0.1 + (hi - lo) / 2)))

    def back(self, n: int, hour: float) -> datetime:
        """A moment on the n-th working day before `anchor`'s day (n=1: the last one)."""
        return _at(self.work[-n], hour)


def _hours(moment: datetime) -> float:
    local = moment.astimezone(CST)
    return local.hour + local.minute / 60


def _at(day: date, hour: float) -> datetime:
    minutes = int(hour * 60)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=CST)


def _pick(rnd: random.Random, weighted: Sequence[tuple[object, float]]) -> object:
    return rnd.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def plan_year(node: str, *, seed: int, anchor: datetime, calendar: WorkCalendar,
              policy: DeadlinePolicy, catalogue: Mapping[str, Unit],
              count: int | None = None) -> list[Planned]:
    """The issues of a year before `anchor` at `node`, oldest first (see the module)."""
    rnd = random.Random(f"{seed}:{node}")
    days = _Days(calendar, anchor, 366)
    n = count if count is not None else rnd.randint(*VOLUME)
    companies = demo_enterprises(node)
    company_weights = [1.0 / (1 + k) ** 0.3 for k in range(len(companies))]
    weights = [SEASON[d.month] if calendar.is_workday(d) else 0.05 for d in days.all]
    received_days = sorted(rnd.choices(days.all, weights=weights, k=n))
    plans: list[Planned] = []
    for i, day in enumerate(received_days):
        topic = rnd.choices(TOPICS, weights=[t.weight for t in TOPICS])[0]
        channel = _pick(rnd, CHANNEL_WEIGHTS)
        assert isinstance(channel, Channel)
        company = rnd.choices(companies, weights=company_weights)[0]
        anytime = channel in (Channel.ONLINE, Channel.HOTLINE_12345)
        received = _at(day, rnd.uniform(7.5, 21.5) if anytime else rnd.uniform(8.5, 17.5))
        plan = _life(i, node=node, rnd=rnd, days=days, topic=topic, channel=channel,
                     company=company, received=received, policy=policy, catalogue=catalogue)
        plans.append(plan)
    plans.extend(_stuck(node, rnd=rnd, days=days, policy=policy, catalogue=catalogue,
                        companies=companies, first=len(plans)))
    plans.sort(key=lambda p: (p.cells["received_at"], str(p.cells["external_id"])))
    _choose_escalations(plans, rnd)
    return plans


def _route(catalogue: Mapping[str, Unit], node: str, topic: Topic) -> tuple[str, str]:
    """The (board, department) unit ids of `topic` at `node` (like node/demo.py `_route`)."""

    def pick(slugs: tuple[str, ...], kinds: frozenset[UnitKind], fallback: str) -> str:
        mine = sorted(u.id for u in catalogue.values()
                      if u.node == node and u.kind in kinds and u.active)
        for slug in slugs:
            if f"{node}.{slug}" in mine:
                return f"{node}.{slug}"
        return mine[0] if mine else fallback

    return (pick((topic.board, "b-zhengce"), BOARD_KINDS, "企业服务专班"),
            pick((topic.department, "jxj"), frozenset({UnitKind.DEPARTMENT}), "经信局"))


def _cells(i: int, node: str, *, topic: Topic, channel: Channel, company: DemoCompany,
           received: datetime, rnd: random.Random) -> dict[str, object]:
    return {
        "external_id": f"DEMO-{node}-{i:05d}", "enterprise_name": company.name,
        "credit_code": company.credit_code, "contact_phone": company.phone,
        "channel": channel.value, "title": rnd.choice(topic.titles), "content": topic.content,
        "tags": "、".join(topic.tags), "received_at": received,
    }


def _life(i: int, *, node: str, rnd: random.Random, days: _Days, topic: Topic,
          channel: Channel, company: DemoCompany, received: datetime, policy: DeadlinePolicy,
          catalogue: Mapping[str, Unit]) -> Planned:
    """An issue that lived naturally: each step at its drawn moment, cut at the anchor."""
    anchor = days.anchor
    cells = _cells(i, node, topic=topic, channel=channel, company=company, received=received,
                   rnd=rnd)
    plan = Planned(cells=cells, company=company)
    limits = policy.for_tags(topic.tags, channel.value)
    board, department = _route(catalogue, node, topic)
    r = rnd.random()
    triaged = days.after(received, 0 if r < 0.8 else 1 if r < 0.96 else 3, rnd)
    assigned = days.after(triaged, 0 if rnd.random() < 0.7 else 1, rnd)
    late = rnd.random() < 0.13
    if late:
        took = limits.resolve + rnd.randint(1, 10)
    else:
        took = max(1, min(limits.resolve, round(rnd.triangular(1, limits.resolve,
                                                               limits.resolve * 0.4))))
    resolved = days.after(assigned, took, rnd)
    closed = days.after(resolved, rnd.randint(1, 4), rnd)
    if triaged >= anchor:
        return plan  # still 已接收
    cells.update(state="已研判", board=board, triaged_at=triaged)
    if assigned >= anchor:
        return plan
    just = assigned >= days.back(1, 0.0) and rnd.random() < 0.5  # not started yet
    cells.update(state="已交办" if just else "办理中", department=department,
                 assigned_at=assigned)
    if resolved >= anchor:
        return plan
    cells.update(state="已办结", resolved_at=resolved, reply=topic.reply)
    # answered, rated unsatisfied, reopened and handled again: of the last three months
    # only, each step being an action of its own after the import (the seeding's cost)
    if rnd.random() < 0.05 and resolved >= days.back(REOPEN_WINDOW, 0.0):
        _reopen(plan, rnd=rnd, days=days, resolved=resolved, limit=limits.resolve,
                board=board, department=department, topic=topic)
        return plan
    if closed >= anchor:
        return plan  # answered, the enterprise has not rated yet
    p = rnd.random()
    if p < 0.08:  # nobody rated: the centre closed it a week later
        by_centre = days.after(resolved, 5, rnd)
        if by_centre < anchor:
            cells.update(state="已结案", closed_at=by_centre)
        return plan
    rating = "满意" if p < 0.8 else "基本满意"
    comment = rnd.choice(_COMMENTS_OK if rating == "满意" else _COMMENTS_SO)
    cells.update(state="已结案", rating=rating, closed_at=closed)
    if comment:
        cells["rating_comment"] = comment
    return plan


def _reopen(plan: Planned, *, rnd: random.Random, days: _Days, resolved: datetime,
            limit: int, board: str, department: str, topic: Topic) -> None:
    """The follow-ups of an answer the enterprise was not satisfied with."""
    unhappy = days.after(resolved, rnd.randint(1, 3), rnd)
    again = days.after(unhappy, rnd.choice((0, 0, 1)), rnd)
    assigned = days.after(again, rnd.choice((0, 1)), rnd)
    resolved2 = days.after(assigned, rnd.randint(2, max(2, limit - 3)), rnd)
    rated = days.after(resolved2, rnd.randint(1, 3), rnd)
    steps = [
        FollowUp(at=unhappy, by="enterprise",
                 command=Rate(rating=Rating.UNSATISFIED, comment=rnd.choice(_COMMENTS_BAD))),
        FollowUp(at=again, by="staff", command=Triage(tags=topic.tags, board=board,
                                                       note="企业不满意，重新研判")),
        FollowUp(at=assigned, by="staff", command=Assign(department=department, board=board,
                                                         note="二次交办，限期办结")),
        FollowUp(at=assigned + timedelta(minutes=30), by="staff", command=Start()),
        FollowUp(at=resolved2, by="staff",
                 command=Resolve(reply=f"{topic.reply}（二次办理：已逐项对照企业意见落实）")),
    ]
    last = rnd.random()
    if last < 0.8:
        steps.append(FollowUp(at=rated, by="enterprise", command=Rate(
            rating=Rating.SATISFIED if last < 0.55 else Rating.BASICALLY_SATISFIED)))
    else:  # still not satisfied and no new rating: the centre closes it (不满意件)
        steps.append(FollowUp(at=days.after(resolved2, 5, rnd), by="staff", command=Close(
            note="二次办理后企业未再评价，按不满意件结案")))
    plan.follow = [s for s in steps if s.at < days.anchor]


def _stuck(node: str, *, rnd: random.Random, days: _Days, policy: DeadlinePolicy,
           catalogue: Mapping[str, Unit], companies: list[DemoCompany],
           first: int) -> list[Planned]:
    """Issues laid out backwards from the anchor so that lights show on any day: late in
    handling (red, some urged), two thirds into their time (yellow), not dispatched (red),
    two reopened a few days ago (unsatisfied, being handled again), and yesterday
    afternoon's still at intake, triage and dispatch."""
    out: list[Planned] = []
    handling = [t for t in TOPICS if "安全生产" not in t.tags]
    kinds = (["red"] * 8 + ["yellow"] * 4 + ["undispatched", "reopened", "reopened"]
             + ["received"] * 3 + ["triaged"] * 2 + ["assigned"] * 2)
    for k, kind in enumerate(kinds):
        topic = handling[k % len(handling)]
        channel = Channel.HOTLINE_12345 if k % 2 else Channel.ONLINE
        limit = policy.for_tags(topic.tags, channel.value)
        company = companies[k % 5] if k < 5 else rnd.choice(companies[5:])
        board, department = _route(catalogue, node, topic)
        if kind == "red":
            elapsed = limit.resolve + 2 + rnd.randint(0, 12)
        elif kind == "yellow":
            low = -(-2 * limit.resolve // 3) + 1
            elapsed = rnd.randint(low, max(low, limit.resolve - 1))
        elif kind == "undispatched":
            elapsed = limit.dispatch + 3
        else:
            elapsed = limit.resolve // 2 + 6
        assigned = days.back(elapsed, rnd.uniform(9.0, 11.0))
        received = assigned - timedelta(hours=rnd.uniform(1.0, 20.0))
        cells = _cells(first + k, node, topic=topic, channel=channel, company=company,
                       received=received, rnd=rnd)
        plan = Planned(cells=cells, company=company)
        if kind in ("received", "triaged", "assigned"):  # yesterday afternoon's
            received = days.back(1, rnd.uniform(13.0, 16.0))
            cells["received_at"] = received
            if kind != "received":
                cells.update(state="已研判", board=board,
                             triaged_at=received + timedelta(minutes=rnd.randint(20, 50)))
            if kind == "assigned":
                cells.update(state="已交办", department=department,
                             assigned_at=received + timedelta(minutes=rnd.randint(60, 90)))
            out.append(plan)
            continue
        if kind == "undispatched":
            cells["received_at"] = assigned
            out.append(plan)
            continue
        cells.update(state="办理中", board=board, triaged_at=assigned - timedelta(minutes=40),
                     department=department, assigned_at=assigned)
        if kind == "red" and k % 3 == 0:  # the enterprise urged it, twice at most
            plan.follow = [FollowUp(at=days.back(n, 10.0 + k / 10), by="enterprise",
                                    command=Urge(note="问题仍未解决，请加快办理。"))
                           for n in (elapsed - limit.resolve, 2) if n >= 2][:2]
        if kind == "reopened":
            resolved = days.after(assigned, 3, rnd)
            cells.update(state="已办结", resolved_at=resolved, reply=topic.reply)
            _reopen(plan, rnd=rnd, days=days, resolved=resolved, limit=limit.resolve,
                    board=board, department=department, topic=topic)
            plan.follow = [f for f in plan.follow if not isinstance(f.command, Resolve | Close)
                           and not (isinstance(f.command, Rate) and f.command.rating
                                    is not Rating.UNSATISFIED)]
        out.append(plan)
    return out


def _choose_escalations(plans: list[Planned], rnd: random.Random) -> None:
    """Four long-open issues go to the city; two of them on to the province."""
    candidates = [p for p in plans if p.cells.get("state") == "办理中" and not p.follow]
    candidates.sort(key=lambda p: p.cells["assigned_at"])  # type: ignore[arg-type,return-value]
    chosen = candidates[:6]
    rnd.shuffle(chosen)
    for k, plan in enumerate(chosen[:4]):
        plan.escalate = "province" if k < 2 else "city"


# --------------------------------------------------------------------------- seeding


@dataclass(kw_only=True, slots=True)
class DemoOutcome:
    issues: int  # written by the import
    follow_ups: int  # actions done after it
    escalated: list[str] = field(default_factory=list)  # issue ids queued to the city
    onward: list[str] = field(default_factory=list)  # of those, for the city to escalate
    revisits: int = 0  # revisit results recorded
    skipped: bool = False  # the node had this seed's issues already


IMPORTER = Principal(username="dispatcher", role=Role.DISPATCHER, display_name="受理分办员 王敏")
STAFF = Principal(username="leader", role=Role.LEADER, display_name="兜底办 陈主任")
ESCALATION_REASON = "演示：跨部门问题，县级协调未果，提请市级协调"
ONWARD_REASON = "演示：涉及省级事权，市级协调后提请省级协调"


def seed_demo_year(node: Node, clock: DemoClock, *, seed: int = DEFAULT_SEED,
                   count: int | None = None, escalate: bool = True) -> DemoOutcome:
    """A year of activity at `node`, built with `clock` (see the module's docstring).
    Seeding the same seed again adds nothing."""
    if node.services.issues.clock is not clock:
        raise ValueError("seed_demo_year needs the DemoClock the node was built with")
    imports = node.services.imports
    assert imports is not None
    code = node.config.node.code
    now = clock.now()
    anchor = datetime.combine(now.astimezone(CST).date(), time(), tzinfo=CST)
    rules = node.services.issues.rules
    units = node.services.issues.units
    plans = plan_year(code, seed=seed, anchor=anchor, calendar=rules.calendar,
                      policy=rules.deadlines, count=count,
                      catalogue=units.catalogue() if units is not None else {})
    with imports.service.store.read() as unit:
        if unit.known_external_ids([str(plans[0].cells["external_id"])]):
            return DemoOutcome(issues=0, follow_ups=0, skipped=True)
    report = imports.service.run(IMPORTER, rows_of(
        (k + 2, p.cells) for k, p in enumerate(plans)))
    if report.status != "done" or report.problems:
        raise RuntimeError(f"demo import refused: {report.to_dict(max_problems=5)}")
    with imports.service.store.read() as unit:
        ids = unit.known_external_ids([str(p.cells["external_id"]) for p in plans])
    outcome = DemoOutcome(issues=report.written, follow_ups=0)
    try:
        outcome.follow_ups = _follow_up(node, clock, plans, ids)
        outcome.revisits = _revisit(node, clock, anchor, seed)
    finally:
        clock.at = None  # the real clock again, for the escalations and whatever follows
    if escalate and node.config.node.parent:
        for plan in plans:
            if plan.escalate is None:
                continue
            issue_id = ids[str(plan.cells["external_id"])]
            node.transfers.request_escalation(STAFF, issue_id, ESCALATION_REASON)
            outcome.escalated.append(issue_id)
            if plan.escalate == "province":
                outcome.onward.append(issue_id)
    return outcome


def _owner(company: DemoCompany) -> Principal:
    return Principal(username=company.credit_code, role=Role.ENTERPRISE,
                     display_name=company.name, credit_code=company.credit_code)


def _follow_up(node: Node, clock: DemoClock, plans: list[Planned],
               ids: Mapping[str, str]) -> int:
    """Every planned action after the import, in time order, each at its own moment."""
    steps = sorted(((f.at, k, j) for k, p in enumerate(plans)
                    for j, f in enumerate(p.follow)), key=lambda s: (s[0], s[1], s[2]))
    broken: set[int] = set()
    done = 0
    for at, k, j in steps:
        if k in broken:
            continue
        plan = plans[k]
        step = plan.follow[j]
        clock.at = at
        who = _owner(plan.company) if step.by == "enterprise" else STAFF
        try:
            node.services.issues.act(who, ids[str(plan.cells["external_id"])], step.command)
            done += 1
        except DomainError:
            broken.add(k)  # e.g. a tag library refusing a free tag: the issue stays put
    return done


def _revisit(node: Node, clock: DemoClock, anchor: datetime, seed: int) -> int:
    """Last month's revisit sample, drawn on the third working day of this month (or now,
    early in a month), and its results a day or two later: most satisfied, one not (the
    issue reopens), one not reached (the task stays open), the last ones still to do."""
    revisits = node.services.revisits
    if revisits is None:
        return 0
    calendar = node.services.issues.rules.calendar
    month_start = anchor.date().replace(day=1)
    workdays = [month_start + timedelta(days=k) for k in range((anchor.date() - month_start).days)
                if calendar.is_workday(month_start + timedelta(days=k))]
    drawn = _at(workdays[2], 9.5) if len(workdays) > 3 else None
    clock.at = drawn
    previous = month_start - timedelta(days=1)
    try:
        sample = revisits.draw(STAFF, period=f"{previous:%Y-%m}", share=None,
                               salt=f"demo-{seed}")
        tasks = revisits.tasks(STAFF, sample_id=sample.id)
    except DomainError:
        return 0
    results = [RevisitResult.SATISFIED, RevisitResult.UNSATISFIED, RevisitResult.SATISFIED,
               RevisitResult.BASICALLY_SATISFIED, RevisitResult.UNREACHABLE,
               RevisitResult.SATISFIED, RevisitResult.SATISFIED]
    done = 0
    for k, task in enumerate(tasks[:max(0, len(tasks) - 2)]):
        if drawn is not None:
            clock.at = drawn + timedelta(days=1 + k // 3, hours=k % 3)
            if clock.at >= anchor:
                clock.at = None
        try:
            revisits.record(STAFF, task.id, result=results[k % len(results)],
                            contact=ContactMethod.PHONE if k % 4 else ContactMethod.VISIT,
                            note="电话回访企业负责人" if k % 4 else "上门回访")
            done += 1
        except DomainError:
            continue
    return done


# --------------------------------------------------------------------------- onward


def escalate_onward(onward: Mapping[str, Sequence[str]], api: Mapping[str, str], *,
                    say: Callable[[str], None], timeout_s: float = 300.0) -> threading.Thread:
    """In the background, once each city (code → its API base URL in `api`) has accepted
    the demo issues `onward` names, its leader escalates them to the province through the
    city's own API — the real path, after the county's escalation arrived. Returns the
    (daemon) thread; `zhitong up` is ready without waiting for it."""

    def work() -> None:
        deadline = monotonic() + timeout_s
        sent = 0
        for city, issue_ids in onward.items():
            base = api[city]
            try:
                token = _post(f"{base}/auth/login",
                              {"username": STAFF.username, "password": DEMO_PASSWORD},
                              None)["access_token"]
            except OSError:
                return
            for issue_id in issue_ids:
                while monotonic() < deadline:
                    try:
                        issue = _get(f"{base}/issues/{issue_id}", token)
                        if issue.get("owner") == city and issue.get("state") != "escalated":
                            _post(f"{base}/issues/{issue_id}/escalate",
                                  {"reason": ONWARD_REASON}, token)
                            sent += 1
                            break
                    except OSError:
                        pass  # not there yet (404), or the city is still starting
                    Event().wait(0.5)  # polling interval, bounded by the deadline
        if sent:
            say(f"      demo: {sent} escalated issues taken on by the city to the province")

    thread = threading.Thread(target=work, name="demo-onward", daemon=True)
    thread.start()
    return thread


def _request(url: str, token: str | None, body: Mapping[str, object] | None
             ) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=5) as resp:
        found: dict[str, Any] = json.loads(resp.read())
        return found


def _get(url: str, token: str) -> dict[str, Any]:
    return _request(url, token, None)


def _post(url: str, body: Mapping[str, object], token: str | None) -> dict[str, Any]:
    return _request(url, token, body)
