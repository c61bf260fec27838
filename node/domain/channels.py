"""Intake channels as data: each channel's names and its own fields, and their validation.

Huzhou takes issues in through twelve channels (`DEFAULT_CHANNELS`); most are offline and
staff enter what they hear (综合受理). A channel is a `ChannelSpec`: its id (a `Channel`),
its zh/en names and the fields that channel records — which meeting and its date, which
leader, which department or volunteer team, the hotline ticket number. A node may rename,
reorder, drop or re-field channels in its configuration (node/config.py, `[intake]`);
the ids stay the domain's `Channel` values, so stored issues and every other tier read
them unchanged.

Two levels of checking, because a tier may be configured differently from the one that
took an issue in:

* `validate_channel_fields(spec, values)` — what staff typed, against this node's spec:
  unknown keys, required ones, text limits, dates. Run by the intake use case.
* `check_channel_fields(pairs)` — the shape any node accepts (at most `MAX_CHANNEL_FIELDS`
  keys of the form `[a-z][a-z0-9_]*`, texts of at most `MAX_CHANNEL_FIELD`); run by
  `lifecycle.submit` and on snapshots from other nodes (node/domain/identity.py).

The fields are kept on the issue as sorted (key, value) pairs so snapshots compare equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from node.domain.errors import ValidationError
from node.domain.issue import Channel
from node.domain.validation import check_text

__all__ = [
    "DEFAULT_CHANNELS",
    "MAX_CHANNEL_FIELD",
    "MAX_CHANNEL_FIELDS",
    "ChannelSpec",
    "FieldKind",
    "FieldSpec",
    "check_channel_fields",
    "check_channel_specs",
    "validate_channel_fields",
]

MAX_CHANNEL_FIELDS = 8
MAX_CHANNEL_FIELD = 200
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FIELD = "channel_fields"


class FieldKind(StrEnum):
    TEXT = "text"
    DATE = "date"  # ISO yyyy-mm-dd


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldSpec:
    key: str
    zh: str
    en: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = False
    max_len: int = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelSpec:
    id: Channel
    zh: str
    en: str
    fields: tuple[FieldSpec, ...] = ()

    def field(self, key: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.key == key), None)


def _f(key: str, zh: str, en: str, kind: FieldKind = FieldKind.TEXT, *,
       required: bool = False) -> FieldSpec:
    return FieldSpec(key=key, zh=zh, en=en, kind=kind, required=required)


_TICKET = _f("ticket", "工单号", "Ticket number", required=True)
_VISIT_DATE = _f("visit_date", "走访日期", "Date of the visit", FieldKind.DATE)

C = Channel
#: The default list (湖州: 十二个受理渠道), in the order the intake screen offers them.
DEFAULT_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(id=C.ONLINE, zh="线上平台/浙里办", en="Online platform / Zheliban",
                fields=(_f("reference", "平台编号", "Platform reference"),)),
    ChannelSpec(id=C.HOTLINE_12345, zh="12345营商环境专线", en="12345 business hotline",
                fields=(_TICKET,)),
    ChannelSpec(id=C.ENTERPRISE_HOTLINE, zh="企业服务热线", en="Enterprise service hotline",
                fields=(_TICKET,)),
    ChannelSpec(id=C.WINDOW, zh="综合窗口", en="Comprehensive service window",
                fields=(_f("window", "窗口", "Window"),)),
    ChannelSpec(id=C.MEETING, zh="政企恳谈会", en="Government–business meeting",
                fields=(_f("meeting", "会议名称", "Meeting", required=True),
                        _f("meeting_date", "会议日期", "Meeting date", FieldKind.DATE,
                           required=True))),
    ChannelSpec(id=C.VOLUNTEER, zh="企小帮走访", en="Volunteer helpers' visit",
                fields=(_f("team", "志愿服务队", "Volunteer team", required=True), _VISIT_DATE)),
    ChannelSpec(id=C.DEPARTMENT, zh="部门报送", en="Reported by a department",
                fields=(_f("reporting_department", "报送部门", "Reporting department",
                           required=True),)),
    ChannelSpec(id=C.BIG_DATA, zh="大数据发现", en="Found in data analysis",
                fields=(_f("source", "数据来源", "Data source"),)),
    ChannelSpec(id=C.INSPECTION, zh="督帮发现", en="Found by inspection (督帮)",
                fields=(_f("team", "督帮组", "Inspection team"),)),
    ChannelSpec(id=C.FIELD_VISIT, zh="领导走访/四下基层", en="Leader's field visit",
                fields=(_f("leader", "走访领导", "Leader", required=True), _VISIT_DATE)),
    ChannelSpec(id=C.HIGHER_LEVEL, zh="上级交办", en="Assigned from above",
                fields=(_f("assigned_by", "交办单位", "Assigned by", required=True),
                        _f("reference", "交办文号", "Reference"))),
    ChannelSpec(id=C.COUNTY_REPORT, zh="区县中心上报", en="Reported by a county centre",
                fields=(_f("county", "上报区县", "County", required=True),)),
)


def check_channel_specs(specs: Iterable[ChannelSpec]) -> tuple[ChannelSpec, ...]:
    """A node's channel list: ids unique, field keys well-formed and unique per channel,
    limits within what every node accepts. Raises ValueError naming the offending entry."""
    out = tuple(specs)
    if not out:
        raise ValueError("at least one channel is needed")
    seen: set[Channel] = set()
    for spec in out:
        if spec.id in seen:
            raise ValueError(f"channel {spec.id.value} is listed twice")
        seen.add(spec.id)
        if len(spec.fields) > MAX_CHANNEL_FIELDS:
            raise ValueError(f"channel {spec.id.value}: more than {MAX_CHANNEL_FIELDS} fields")
        keys: set[str] = set()
        for f in spec.fields:
            if not _KEY.fullmatch(f.key):
                raise ValueError(f"channel {spec.id.value}: field key {f.key!r} must match "
                                 f"[a-z][a-z0-9_]{{0,31}}")
            if f.key in keys:
                raise ValueError(f"channel {spec.id.value}: field {f.key} is listed twice")
            keys.add(f.key)
            if not 1 <= f.max_len <= MAX_CHANNEL_FIELD:
                raise ValueError(f"channel {spec.id.value}: field {f.key}: max_len must be "
                                 f"1..{MAX_CHANNEL_FIELD}")
    return out


def _check_date(name: str, text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValidationError("channel_field_date_invalid", field=name, value=text) from None


def validate_channel_fields(spec: ChannelSpec,
                            values: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """What staff entered for `spec`'s fields, checked and normalised; sorted pairs."""
    for key in values:
        if spec.field(key) is None:
            raise ValidationError("channel_field_unknown", field=_FIELD, key=str(key)[:40],
                                  channel=spec.id.value)
    out: dict[str, str] = {}
    for f in spec.fields:
        name = f"{_FIELD}.{f.key}"
        text = check_text(name, values.get(f.key), max_len=f.max_len, required=f.required)
        if text is None:
            continue
        out[f.key] = _check_date(name, text) if f.kind is FieldKind.DATE else text
    return tuple(sorted(out.items()))


def check_channel_fields(pairs: object) -> tuple[tuple[str, str], ...]:
    """The shape every node accepts (no node's spec): sorted pairs of a well-formed key and
    a text. Accepts a mapping or pairs; returns the sorted pairs."""
    items: list[tuple[object, object]]
    if isinstance(pairs, Mapping):
        items = list(pairs.items())
    elif isinstance(pairs, tuple | list) and all(
            isinstance(p, tuple | list) and len(p) == 2 for p in pairs):
        items = [(p[0], p[1]) for p in pairs]
    else:
        raise ValidationError("channel_fields_malformed", field=_FIELD)
    if len(items) > MAX_CHANNEL_FIELDS:
        raise ValidationError("channel_fields_malformed", field=_FIELD)
    out: dict[str, str] = {}
    for key, value in items:
        if not isinstance(key, str) or not _KEY.fullmatch(key) or key in out:
            raise ValidationError("channel_fields_malformed", field=_FIELD)
        if not isinstance(value, str):
            raise ValidationError("not_text", field=f"{_FIELD}.{key}")
        text = check_text(f"{_FIELD}.{key}", value, max_len=MAX_CHANNEL_FIELD)
        assert text is not None
        out[key] = text
    return tuple(sorted(out.items()))
