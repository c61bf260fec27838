"""The policy library (政策库): policy entries, their checks, and matching them to an issue.

A `Policy` is one policy document a node points enterprises at: its title, the authority
that issued it (发文机关), the document number (文号), the dates it is in force, the tags it
answers, and the conditions of the enterprises it is meant for — industries (GB/T
4754-2017 门类, one letter each), enterprise sizes (微/小/中/大型, the 2017 classification)
and regions (GB/T 2260 division codes) — a summary and a link. `origin` is the node that
entered it: a node holds its own policies and those its ancestors published down the
federation (a province's or a city's reach every county below; a county adds its own).

Checking. `parse_policy(values, node=...)` reads one entry from loose values — a JSON body
(lists) or a spreadsheet row (text cells, lists separated by 、;，) — and returns either
the `PolicyFields` or *every* problem (`FieldProblem`: the field, the value as given, an
error code of node/domain/errors.py with its parameters), so an import can report every bad
cell and the screen the first one (`check_policy` raises it). A region must be the
entering node or below it: a county cannot aim a policy at its neighbour.

Matching (`match`). For an issue (`Subject`: its tags, the enterprise's industry and size if
it told them, the unit it was raised in) the policies that apply today are those that are
active and in force on `today` (valid_from ≤ today ≤ valid_to, either end open), share at
least one tag with the issue (compared through `canon`, the tag library's canonical id,
so a renamed or merged tag still matches), cover the issue's region (an empty list: the
whole subtree of the entering node), and whose industry and size conditions the
enterprise meets. A condition the enterprise's profile does not answer (no industry or
size on record) does not exclude the policy: it is kept and named in `unknown`, so the
handler checks it with the enterprise. Ranked by: more shared tags first, then fewer
unknown conditions, then more conditions aimed at this enterprise (a policy for small
manufacturers in this county before a general one), then the newest in force, then title.

Down the tree. `publication(policies, node=..., today=...)` is the body a node publishes
for its subtree (its own active entries not yet expired); `accept_publication(issuer,
body)` reads an ancestor's back, checking every entry as if entered there. Pure: no I/O,
`today` is passed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from node.domain.errors import ValidationError
from node.domain.topology import ancestors_of
from node.domain.validation import MAX_TAG, check_text, validate_division_code

__all__ = [
    "FIELDS",
    "INDUSTRIES",
    "MAX_PUBLISHED",
    "FieldProblem",
    "Match",
    "Policy",
    "PolicyFields",
    "Profile",
    "Size",
    "Subject",
    "accept_publication",
    "check_policy",
    "check_profile",
    "in_force",
    "match",
    "parse_policy",
    "policy_id_ok",
    "publication",
]

MAX_TITLE = 200
MAX_ISSUER = 100
MAX_DOC_NUMBER = 60
MAX_SUMMARY = 500  # a summary, not the text (the link points at it)
MAX_LINK = 500
MAX_POLICY_TAGS = 10
MAX_CONDITIONS = 30
#: the most own policies one publication carries: an entry at every length limit is about
#: 4.6 KB of JSON, and an envelope is refused above 1 MB (node/domain/publications.py)
MAX_PUBLISHED = 200
_ID = re.compile(r"^p\.[0-9]{6}\.[a-z0-9]{4,24}$")
_SPLIT = re.compile(r"[、;；,，|/\n]+")
_LINK = re.compile(r"^https?://[^\s<>\"']+$")


class Size(StrEnum):
    """Enterprise size (大中小微型企业划分标准, 2017)."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


SIZE_ZH: Mapping[Size, str] = {Size.MICRO: "微型", Size.SMALL: "小型", Size.MEDIUM: "中型",
                               Size.LARGE: "大型"}
_SIZES: Mapping[str, Size] = {
    **{s.value: s for s in Size},
    **{zh: s for s, zh in SIZE_ZH.items()},
    **{zh[0]: s for s, zh in SIZE_ZH.items()},
    **{zh + "企业": s for s, zh in SIZE_ZH.items()},
}

#: GB/T 4754-2017 国民经济行业分类, its 门类 (sections): letter → Chinese name
INDUSTRIES: Mapping[str, str] = {
    "A": "农、林、牧、渔业", "B": "采矿业", "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业", "E": "建筑业", "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业", "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业", "J": "金融业", "K": "房地产业",
    "L": "租赁和商务服务业", "M": "科学研究和技术服务业", "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业", "P": "教育", "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业", "S": "公共管理、社会保障和社会组织", "T": "国际组织",
}
_INDUSTRY_NAMES: Mapping[str, str] = {name: letter for letter, name in INDUSTRIES.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class Field:
    key: str  # the English name (JSON field, also accepted as a spreadsheet header)
    zh: str  # the Chinese header of the import template
    required: bool
    explain: str  # what the template's 说明 sheet says (Chinese)


FIELDS: tuple[Field, ...] = (
    Field(key="title", zh="政策名称", required=True, explain=f"不超过 {MAX_TITLE} 字"),
    Field(key="issuer", zh="发文机关", required=True, explain="如：浙江省人民政府办公厅"),
    Field(key="doc_number", zh="文号", required=False,
          explain="如：浙政办发〔2024〕12号；同一文号再次导入不会重复"),
    Field(key="valid_from", zh="生效日期", required=False, explain="如 2025-01-01；留空即已生效"),
    Field(key="valid_to", zh="失效日期", required=False, explain="如 2027-12-31；留空即长期有效"),
    Field(key="tags", zh="标签", required=True,
          explain="政策针对的问题标签（标签库中的名称），多个用“、”分隔"),
    Field(key="industries", zh="适用行业", required=False,
          explain="国民经济行业门类（如 制造业 或 C），多个用“;”分隔；留空即不限"),
    Field(key="sizes", zh="企业规模", required=False,
          explain="微、小、中、大，多个用“、”分隔；留空即不限"),
    Field(key="regions", zh="适用地区", required=False,
          explain="行政区划代码（本级或下级，如 330522），多个用“、”分隔；留空即本辖区"),
    Field(key="summary", zh="政策摘要", required=True, explain=f"不超过 {MAX_SUMMARY} 字"),
    Field(key="link", zh="原文链接", required=False, explain="http:// 或 https:// 开头"),
)
FIELD_KEYS = tuple(f.key for f in FIELDS)
FIELD_ZH: Mapping[str, str] = {f.key: f.zh for f in FIELDS}


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyFields:
    """What a person enters: everything of a policy but its id, origin and state."""

    title: str
    issuer: str
    doc_number: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    tags: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    sizes: tuple[Size, ...] = ()
    regions: tuple[str, ...] = ()
    summary: str = ""
    link: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    id: str  # p.<origin>.<token>: the same id at every node below the origin
    origin: str  # the node that entered it
    fields: PolicyFields
    active: bool = True  # False: withdrawn (废止); kept, never suggested

    def as_json(self) -> dict[str, Any]:
        f = self.fields
        return {"id": self.id, "origin": self.origin, "active": self.active,
                "title": f.title, "issuer": f.issuer, "doc_number": f.doc_number,
                "valid_from": f.valid_from.isoformat() if f.valid_from else None,
                "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                "tags": list(f.tags), "industries": list(f.industries),
                "sizes": [s.value for s in f.sizes], "regions": list(f.regions),
                "summary": f.summary, "link": f.link}


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldProblem:
    """One thing wrong with one entry: the field's key, the value as given, the error."""

    field: str
    value: str
    code: str
    params: Mapping[str, Any] = _field(default_factory=dict)

    def error(self) -> ValidationError:
        return ValidationError(self.code, field=self.field, **self.params)


# --------------------------------------------------------------------------- reading


def _text(value: object) -> str:
    """A value as text: spreadsheets give numbers for codes, dates for dates."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(_text(v) for v in value)
    return str(value).strip()


def _items(value: object, *, names: Mapping[str, str] | None = None) -> list[str]:
    """A list given as a list, or as text separated by 、;，| (known `names` that contain a
    separator themselves, like 农、林、牧、渔业, are read whole first)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        raw = [(names or {}).get(_text(v), _text(v)) for v in value]
    else:
        text = unicodedata.normalize("NFKC", _text(value))
        for name, code in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
            text = text.replace(name, f"、{code}、")
        raw = _SPLIT.split(text)
    return list(dict.fromkeys(s.strip() for s in raw if s and s.strip()))


_DATE_ZH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")


def parse_date(value: object) -> date | None:
    """A date of a cell or a JSON string; None when empty; ValueError when unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = unicodedata.normalize("NFKC", _text(value)).strip()  # 20260101.0 from a cell too
    if not text:
        return None
    zh = _DATE_ZH.fullmatch(text)
    if zh:
        return date(int(zh[1]), int(zh[2]), int(zh[3]))
    for sep in ("/", "."):
        text = text.replace(sep, "-")
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    head = text.split(" ", 1)[0].split("T", 1)[0]
    return date.fromisoformat("-".join(p.zfill(2) for p in head.split("-")))


class _Reader:
    def __init__(self, values: Mapping[str, object]) -> None:
        self.values = values
        self.problems: list[FieldProblem] = []

    def raw(self, key: str) -> str:
        return _text(self.values.get(key))[:200]

    def fail(self, key: str, code: str, *, given: str | None = None, **params: Any) -> None:
        self.problems.append(FieldProblem(field=key, value=self.raw(key) if given is None
                                          else given[:200], code=code, params=params))

    def text(self, key: str, max_len: int, *, required: bool,
             normal: Callable[[str], str] | None = None) -> str | None:
        """The field checked; `normal` is applied first, so the length checked is the
        length stored (NFKC may lengthen a text: ㍿ is 株式会社)."""
        raw = _text(self.values.get(key))
        try:
            return check_text(key, normal(raw) if normal else raw, max_len=max_len,
                              required=required)
        except ValidationError as exc:
            self.fail(key, exc.code, **{k: v for k, v in exc.params.items() if k != "field"})
            return None

    def when(self, key: str) -> date | None:
        try:
            return parse_date(self.values.get(key))
        except (ValueError, TypeError, OverflowError):
            self.fail(key, "policy_date_invalid")
            return None


def _doc_number(text: str) -> str:
    """A document number as it is compared and stored: NFKC (full-width digits and
    brackets as people type them), without spaces."""
    return unicodedata.normalize("NFKC", text).replace(" ", "")


def parse_policy(values: Mapping[str, object], *, node: str
                 ) -> PolicyFields | list[FieldProblem]:
    """Check one entry entered at `node` (see the module docstring)."""
    r = _Reader(values)
    title = r.text("title", MAX_TITLE, required=True)
    issuer = r.text("issuer", MAX_ISSUER, required=True)
    doc_number = r.text("doc_number", MAX_DOC_NUMBER, required=False, normal=_doc_number)
    valid_from, valid_to = r.when("valid_from"), r.when("valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        r.fail("valid_to", "policy_valid_to_before_from", valid_from=valid_from.isoformat())
    tags: list[str] = []
    for tag in _items(values.get("tags")):
        try:
            checked = check_text("tags", tag, max_len=MAX_TAG)
        except ValidationError as exc:
            r.fail("tags", exc.code, given=tag,
                   **{k: v for k, v in exc.params.items() if k != "field"})
            continue
        assert checked is not None
        tags.append(checked)
    if not tags and not any(p.field == "tags" for p in r.problems):
        r.fail("tags", "policy_tags_required")
    if len(tags) > MAX_POLICY_TAGS:
        r.fail("tags", "tags_too_many", max_count=MAX_POLICY_TAGS, count=len(tags))
    industries: list[str] = []
    for item in _items(values.get("industries"), names=_INDUSTRY_NAMES):
        letter = item.upper()
        if letter in INDUSTRIES:
            industries.append(letter)
        else:
            r.fail("industries", "policy_industry_unknown", given=item, industry=item)
    sizes: list[Size] = []
    for item in _items(values.get("sizes")):
        found = _SIZES.get(item) or _SIZES.get(item.lower())
        if found is None:
            r.fail("sizes", "policy_size_unknown", given=item, size=item)
        else:
            sizes.append(found)
    regions: list[str] = []
    for item in _items(values.get("regions")):
        try:
            code = validate_division_code(item)
        except ValidationError as exc:
            r.fail("regions", exc.code, given=item,
                   **{k: v for k, v in exc.params.items() if k != "field"})
            continue
        if code != node and node not in ancestors_of(code):
            r.fail("regions", "policy_region_outside", given=item, region=code, node=node)
            continue
        regions.append(code)
    for key, got in (("industries", industries), ("sizes", sizes), ("regions", regions)):
        if len(got) > MAX_CONDITIONS:
            r.fail(key, "tags_too_many", max_count=MAX_CONDITIONS, count=len(got))
    summary = r.text("summary", MAX_SUMMARY, required=True)
    link = r.text("link", MAX_LINK, required=False)
    if link is not None and not _LINK.match(link):
        r.fail("link", "policy_link_invalid")
    if r.problems:
        return r.problems
    assert title is not None and issuer is not None and summary is not None
    return PolicyFields(title=title, issuer=issuer, doc_number=doc_number,
                        valid_from=valid_from, valid_to=valid_to, tags=tuple(tags),
                        industries=tuple(dict.fromkeys(industries)),
                        sizes=tuple(dict.fromkeys(sizes)), regions=tuple(regions),
                        summary=summary, link=link)


def check_policy(values: Mapping[str, object], *, node: str) -> PolicyFields:
    """`parse_policy`, raising the first problem as a ValidationError."""
    parsed = parse_policy(values, node=node)
    if isinstance(parsed, list):
        raise parsed[0].error()
    return parsed


def policy_id_ok(policy_id: str, origin: str) -> bool:
    return bool(_ID.match(policy_id)) and policy_id.startswith(f"p.{origin}.")


# --------------------------------------------------------------------------- enterprise profile


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    """What an enterprise told about itself for matching, with its consent."""

    industry: str | None = None  # a GB/T 4754 letter
    size: Size | None = None


def check_profile(*, industry: str | None, size: str | None, consent: bool) -> Profile:
    """The profile to store; refused without the enterprise's consent (nothing is kept
    about an enterprise that did not agree to it)."""
    if not consent and (industry or size):
        raise ValidationError("policy_profile_needs_consent", field="consent")
    found_industry: str | None = None
    if industry:
        items = _items(industry, names=_INDUSTRY_NAMES)
        letter = items[0].upper() if len(items) == 1 else ""
        if letter not in INDUSTRIES:
            raise ValidationError("policy_industry_unknown", field="industry",
                                  industry=industry)
        found_industry = letter
    found_size: Size | None = None
    if size:
        found_size = _SIZES.get(size.strip()) or _SIZES.get(size.strip().lower())
        if found_size is None:
            raise ValidationError("policy_size_unknown", field="size", size=size)
    return Profile(industry=found_industry, size=found_size)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    """What matching knows of an issue: its tags, the enterprise's profile, its unit."""

    tags: tuple[str, ...]
    region: str  # the division code of the unit the issue was raised in
    industry: str | None = None
    size: Size | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    policy: Policy
    shared_tags: tuple[str, ...]  # the issue's tags the policy answers (as the issue has them)
    unknown: tuple[str, ...] = ()  # conditions the enterprise's profile does not answer
    aimed: int = 0  # conditions set and met (industry, size, region)

    def as_json(self) -> dict[str, Any]:
        return {**self.policy.as_json(), "shared_tags": list(self.shared_tags),
                "unknown": list(self.unknown)}


def in_force(policy: Policy, today: date) -> bool:
    f = policy.fields
    return policy.active and (f.valid_from is None or f.valid_from <= today) and (
        f.valid_to is None or today <= f.valid_to)


def _covers(policy: Policy, enclosing: frozenset[str]) -> bool:
    """Whether the policy's regions (default: its origin's whole area) hold the unit
    whose enclosing divisions (itself included) are `enclosing`."""
    return any(code in enclosing for code in policy.fields.regions or (policy.origin,))


def _identity(text: str) -> str:
    return text


def match(policies: Iterable[Policy], subject: Subject, *, today: date,
          canon: Callable[[str], str] = _identity, limit: int = 20) -> list[Match]:
    """The policies that apply to `subject` on `today`, ranked (module docstring)."""
    wanted: dict[str, str] = {}
    for tag in subject.tags:
        wanted.setdefault(canon(tag), tag)
    enclosing = frozenset((subject.region, *ancestors_of(subject.region)))
    found: list[Match] = []
    for policy in policies:
        if not in_force(policy, today):
            continue
        f = policy.fields
        shared = tuple(dict.fromkeys(wanted[c] for c in (canon(t) for t in f.tags)
                                     if c in wanted))
        if not shared or not _covers(policy, enclosing):
            continue
        unknown: list[str] = []
        aimed = 1 if f.regions else 0
        if f.industries:
            if subject.industry is None:
                unknown.append("industry")
            elif subject.industry not in f.industries:
                continue
            else:
                aimed += 1
        if f.sizes:
            if subject.size is None:
                unknown.append("size")
            elif subject.size not in f.sizes:
                continue
            else:
                aimed += 1
        found.append(Match(policy=policy, shared_tags=shared, unknown=tuple(unknown),
                           aimed=aimed))
    found.sort(key=lambda m: (-len(m.shared_tags), len(m.unknown), -m.aimed,
                              -(m.policy.fields.valid_from or date.min).toordinal(),
                              m.policy.fields.title, m.policy.id))
    return found[:limit]


def filter_policies(policies: Iterable[Policy], *, tag: str | None = None,
                    query: str | None = None, canon: Callable[[str], str] = _identity
                    ) -> list[Policy]:
    """The library's list filtered by a tag (through `canon`) and a text in the title,
    issuer, document number or summary."""
    want = canon(tag) if tag else None
    q = query.strip().lower() if query else ""
    out = []
    for p in policies:
        if want is not None and want not in {canon(t) for t in p.fields.tags}:
            continue
        f = p.fields
        if q and not any(q in (v or "").lower() for v in (f.title, f.issuer, f.doc_number,
                                                          f.summary)):
            continue
        out.append(p)
    return out


# --------------------------------------------------------------------------- down the tree


def publication(policies: Iterable[Policy], *, node: str, today: date) -> dict[str, Any]:
    """What `node` publishes for its subtree: its own active policies not yet expired, the
    newest first, at most MAX_PUBLISHED."""
    own = [p for p in policies if p.origin == node and p.active
           and (p.fields.valid_to is None or p.fields.valid_to >= today)]
    own.sort(key=lambda p: (-(p.fields.valid_from or date.min).toordinal(), p.id))
    return {"node": node, "policies": [p.as_json() for p in own[:MAX_PUBLISHED]]}


def accept_publication(issuer: str, body: Mapping[str, Any]) -> list[Policy]:
    """The policies of ancestor `issuer`'s publication, every entry checked as if entered
    there; ValidationError("policy_publication_invalid") names the first problem."""
    entries = body.get("policies")
    if body.get("node") != issuer or not isinstance(entries, list):
        raise ValidationError("policy_publication_invalid", field="publication",
                              problem="node or policies")
    if len(entries) > MAX_PUBLISHED:
        raise ValidationError("policy_publication_invalid", field="publication",
                              problem="too many")
    out: dict[str, Policy] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValidationError("policy_publication_invalid", field="publication",
                                  problem="entry")
        pid = entry.get("id")
        if not isinstance(pid, str) or not policy_id_ok(pid, issuer):
            raise ValidationError("policy_publication_invalid", field="publication",
                                  problem=f"id {str(pid)[:40]}")
        parsed = parse_policy(entry, node=issuer)
        if isinstance(parsed, list):
            first = parsed[0]
            raise ValidationError("policy_publication_invalid", field="publication",
                                  problem=f"{pid} {first.field}: {first.code}")
        out[pid] = Policy(id=pid, origin=issuer, fields=parsed,
                          active=entry.get("active", True) is not False)
    return list(out.values())


def sizes_of(values: Sequence[str]) -> tuple[Size, ...]:
    """Stored size values back as `Size`s (unknown ones dropped)."""
    return tuple(Size(v) for v in values if v in Size._value2member_map_)
