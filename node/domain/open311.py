"""Open311 GeoReport v2 as the domain sees it: the service catalogue, the attributes of a
request, the open/closed status, the date window of a query, and what a public answer may
show of an issue.

GeoReport v2 (wiki.open311.org/GeoReport_v2) lets hotline platforms and third-party apps
list a government's services, post a service request, and follow requests. Here:

* a **service** is a category of the node's tag library: `Service.tags` are the issue tags
  that put an issue in it (a new request gets the first). `DEFAULT_SERVICES` is the list a
  node offers until its tag library is in force (node/app/open311.py `catalogue_source`
  is the one place the list comes from);
* a **service request** is an issue raised at this node; its `service_request_id` is the
  issue's human number (the same at every tier, like the enterprise's receipt);
* `status` is `open` or `closed` (`status_of`): resolved and closed issues are closed,
  everything else (received, in handling, escalated, awaiting a rejection review, reopened)
  is open;
* a query's window (`query_window`) is at most `MAX_WINDOW` (90 days): the last 90 days by
  default, 90 days after `start_date` or before `end_date` when only one is given;
* a public answer never shows the enterprise: not its name, credit code, phone or contact.
  Only the title, the reply and the rejection reason are published, and those through
  `redact`, which blanks the issue's own name, credit code and phone and anything shaped
  like a phone number or a credit code (people type them into free text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from node.domain.errors import ValidationError
from node.domain.issue import Enterprise, Issue, State, SubjectKind

__all__ = [
    "ATTRIBUTES",
    "CLOSED_STATES",
    "DEFAULT_SERVICES",
    "MAX_WINDOW",
    "Attribute",
    "Service",
    "Status",
    "check_catalogue",
    "query_window",
    "redact",
    "service_of",
    "states_of",
    "status_of",
]

MAX_WINDOW = timedelta(days=90)
_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # a tag library's category id fits


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


CLOSED_STATES: frozenset[State] = frozenset({State.RESOLVED, State.CLOSED})


def status_of(state: State) -> Status:
    return Status.CLOSED if state in CLOSED_STATES else Status.OPEN


def states_of(status: Status) -> tuple[State, ...]:
    """The issue states a status filter keeps, in a stable order."""
    return tuple(s for s in State if status_of(s) is status)


@dataclass(frozen=True, kw_only=True, slots=True)
class Service:
    """One entry of the catalogue (GET services): `code` is what clients send."""

    code: str
    zh: str
    en: str
    tags: tuple[str, ...]
    description_zh: str = ""
    description_en: str = ""
    group: str = ""
    keywords: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" else self.description_zh


def _s(code: str, zh: str, en: str, desc_zh: str, desc_en: str, *keywords: str) -> Service:
    return Service(code=code, zh=zh, en=en, tags=(zh,), description_zh=desc_zh,
                   description_en=desc_en, group="营商环境", keywords=keywords)


#: The categories a node offers until its tag library replaces them (the demo's tags).
DEFAULT_SERVICES: tuple[Service, ...] = (
    _s("policy", "政策兑现", "Policy benefits", "惠企政策申报、兑现与咨询",
       "Applying for and receiving business support", "补贴", "奖励"),
    _s("approval", "审批服务", "Approvals", "项目审批、证照办理与审批时限",
       "Project approvals, licences and their time limits", "审批", "证照"),
    _s("factors", "要素保障", "Land, power and water", "用地、用电、用水、用气等要素保障",
       "Land, electricity, water and gas for production", "用地", "用电"),
    _s("finance", "融资服务", "Financing", "贷款、担保与融资对接",
       "Loans, guarantees and financing", "贷款", "担保"),
    _s("tax", "税费服务", "Taxes and fees", "税费办理、出口退税与减免",
       "Taxes, export rebates and relief", "退税"),
    _s("safety", "安全生产", "Work safety", "安全生产、消防验收与检查",
       "Work safety, fire acceptance and inspections", "消防"),
    _s("market", "市场监管", "Market regulation", "市场准入、质量监管与执法",
       "Market access, quality supervision and enforcement", "准入"),
    _s("labour", "人才用工", "Talent and labour", "招工、人才引进与劳动关系",
       "Hiring, talent and labour relations", "招工", "人才"),
    _s("legal", "法治保障", "Legal protection", "合同纠纷、知识产权与涉企执法",
       "Contract disputes, IP and enforcement affecting businesses", "纠纷"),
    _s("other", "其他", "Other", "其他涉企问题", "Any other business issue"),
)


def check_catalogue(services: tuple[Service, ...]) -> tuple[Service, ...]:
    """Codes well-formed and unique, each service with a tag. Raises ValueError."""
    seen: set[str] = set()
    for s in services:
        if not _CODE.fullmatch(s.code):
            raise ValueError(f"service code {s.code!r} must match {_CODE.pattern}")
        if s.code in seen:
            raise ValueError(f"service code {s.code} is listed twice")
        if not s.tags:
            raise ValueError(f"service {s.code} names no tag")
        seen.add(s.code)
    return services


def service_of(issue: Issue, catalogue: tuple[Service, ...]) -> Service | None:
    """The first service whose tags the issue carries (None: no service of the list)."""
    tags = set(issue.tags)
    return next((s for s in catalogue if tags.intersection(s.tags)), None)


class Datatype(StrEnum):
    STRING = "string"
    TEXT = "text"
    SINGLE = "singlevaluelist"


@dataclass(frozen=True, kw_only=True, slots=True)
class Attribute:
    """An attribute of a service definition (`attribute[code]` in a POST)."""

    code: str
    datatype: Datatype
    required: bool
    order: int
    zh: str
    en: str
    values: tuple[tuple[str, str, str], ...] = ()  # (key, zh, en) of a value list
    max_len: int = 100


#: Every service takes the same attributes: whom the request concerns. The client's channel
#: may add its own fields (node/domain/channels.py), sent as attribute[<field key>].
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(code="subject_kind", datatype=Datatype.SINGLE, required=False, order=1,
              zh="诉求对象：企业（默认）或共性问题（行业、园区、区域）",
              en="Whom it concerns: an enterprise (default) or an industry, park or region",
              values=((SubjectKind.ENTERPRISE.value, "企业", "Enterprise"),
                      (SubjectKind.INDUSTRY.value, "行业", "Industry"),
                      (SubjectKind.PARK.value, "园区", "Park"),
                      (SubjectKind.REGION.value, "区域", "Region"))),
    Attribute(code="enterprise_name", datatype=Datatype.STRING, required=True, order=2,
              zh="企业名称（共性问题：行业、园区或区域名称）",
              en="The enterprise's name (a common issue: the industry's, park's or region's)"),
    Attribute(code="credit_code", datatype=Datatype.STRING, required=False, order=3,
              zh="统一社会信用代码（企业诉求必填）",
              en="Unified social credit code (required for an enterprise)", max_len=18),
    Attribute(code="title", datatype=Datatype.STRING, required=False, order=4,
              zh="标题（默认取描述的第一行）",
              en="Title (default: the first line of the description)"),
)


def query_window(start: datetime | None, end: datetime | None, *,
                 now: datetime) -> tuple[datetime, datetime]:
    """[start, end] of a query: both given at most 90 days apart; one given: 90 days from
    it; none: the last 90 days."""
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_WINDOW
    if end is None:
        end = start + MAX_WINDOW
    if end < start:
        raise ValidationError("open311_window_reversed", field="end_date")
    if end - start > MAX_WINDOW:
        raise ValidationError("open311_window_too_long", field="end_date",
                              max_days=MAX_WINDOW.days)
    return start, end


# Anything shaped like a phone number (a mobile, or a landline with its area code) or an
# 18-character credit code, in free text.
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?:1[3-9]\d{9}|0\d{2,3}[- ]?\d{7,8})(?!\d)")
_CREDIT = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}"
                     r"(?![0-9A-Z])")
MASK = "***"


def redact(text: str | None, enterprise: Enterprise, subject: SubjectKind) -> str | None:
    """`text` fit for a public answer: the enterprise's own name, credit code and phone,
    and anything shaped like a phone number or a credit code, blanked."""
    if text is None:
        return None
    out = text
    own = [enterprise.credit_code, enterprise.contact_phone]
    if subject is SubjectKind.ENTERPRISE:
        own.append(enterprise.name)
    for value in sorted((v for v in own if v), key=len, reverse=True):
        out = out.replace(value, MASK)
    out = _CREDIT.sub(MASK, out)
    return _PHONE.sub(MASK, out)
