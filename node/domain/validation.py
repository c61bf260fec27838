"""Validation of user input at the boundary: identifiers, free text, phones, tags.

Every function normalises what it accepts (strip, uppercase, remove separators)
and returns the normalised value, or raises :class:`ValidationError` naming the
field, with a Chinese and an English message specific enough for the person who
typed the value to fix it (e.g. which character is illegal, which check character
was expected).

Identifiers:

* 统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters
  from a 31-character set without I, O, Z, S, V. Position 1 is the registration
  authority, 2 the entity type within that authority, 3–8 the GB/T 2260 division
  of the registering office (or 100000 for national-level registration), 9–17 the
  organisation code, 18 a check character: with weights 3^i mod 31 for positions
  1–17, check = (31 - sum % 31) % 31 mapped back through the character set. The
  check catches every single-character substitution because every weight is
  invertible modulo the prime 31.
* GB/T 2260 division codes: 6 digits, province PP0000, city (prefecture) PPCC00,
  county PPCCDD. Only the structure and the province prefix are checked, not a
  full table: codes are retired and created every year and old codes live on in
  credit codes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from node.domain.errors import ValidationError

__all__ = [
    "CREDIT_CODE_CHARSET",
    "MAX_COMMENT",
    "MAX_CONTENT",
    "MAX_NAME",
    "MAX_ORG_UNIT",
    "MAX_REASON",
    "MAX_REPLY",
    "MAX_TAG",
    "MAX_TAGS",
    "MAX_TITLE",
    "PROVINCE_PREFIXES",
    "DivisionLevel",
    "check_text",
    "credit_code_check_char",
    "division_level",
    "make_credit_code",
    "parent_of",
    "validate_credit_code",
    "validate_division_code",
    "validate_phone",
    "validate_tags",
]

# -- length limits (Unicode code points) -------------------------------------------

MAX_TITLE = 100
MAX_CONTENT = 5000
MAX_NAME = 100
MAX_REASON = 1000
MAX_REPLY = 5000
MAX_TAG = 30
MAX_TAGS = 10
MAX_ORG_UNIT = 60  # board / department name
MAX_COMMENT = 1000

# -- GB/T 2260 division codes ------------------------------------------------------

DivisionLevel = Literal["province", "city", "county"]

PROVINCE_PREFIXES: frozenset[str] = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
    )
)

_DIGITS = frozenset("0123456789")


def _division_problem(code: str) -> tuple[str, str] | None:
    """(message_zh, message_en) describing what is wrong with `code`, or None."""
    if len(code) != 6:
        return (
            f"行政区划代码应为 6 位数字，实际为 {len(code)} 位",
            f"a division code has 6 digits, got {len(code)} characters",
        )
    if not set(code) <= _DIGITS:
        return ("行政区划代码只能包含数字", "a division code contains digits only")
    if code[:2] not in PROVINCE_PREFIXES:
        return (
            f"行政区划代码前两位“{code[:2]}”不是有效的省级代码",
            f"the first two digits '{code[:2]}' are not a province-level code",
        )
    if code[2:4] == "00" and code[4:] != "00":
        return (
            "行政区划代码结构无效：地市位为 00 时区县位也必须为 00",
            "invalid division code structure: when the city digits are 00 the county "
            "digits must be 00 too",
        )
    return None


def validate_division_code(value: str) -> str:
    """A GB/T 2260 six-digit administrative division code, stripped."""
    code = unicodedata.normalize("NFKC", value).strip()
    problem = _division_problem(code)
    if problem is not None:
        raise ValidationError("division_code", problem[0], problem[1], value=value)
    return code


def division_level(code: str) -> DivisionLevel:
    code = validate_division_code(code)
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def parent_of(code: str) -> str | None:
    """The enclosing division: county → city, city → province, province → None.

    A county directly administered by its province (e.g. 419001 济源) maps to the
    pseudo-city 419000 of its group, which is how GB/T 2260 structures it.
    """
    code = validate_division_code(code)
    level = division_level(code)
    if level == "province":
        return None
    if level == "city":
        return code[:2] + "0000"
    return code[:4] + "00"


# -- unified social credit code (GB 32100-2015) -------------------------------------

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CHAR_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Registration authority (position 1) → allowed entity types (position 2).
# GB 32100-2015 table 1 as extended by the code allocation notices.
_ENTITY_TYPES: dict[str, tuple[str, str, str]] = {
    # authority: (allowed types, name zh, name en)
    "1": ("1239", "机构编制", "establishment administration"),
    "2": ("19", "外交", "foreign affairs"),
    "3": ("123459", "司法行政", "justice administration"),
    "4": ("19", "文化", "culture"),
    # 54: grassroots self-governing organisations (village/residents' committees).
    "5": ("12349", "民政", "civil affairs"),
    "6": ("129", "旅游", "tourism"),
    "7": ("129", "宗教", "religious affairs"),
    "8": ("19", "工会", "trade unions"),
    "9": ("123", "工商（市场监管）", "market regulation"),
    "A": ("19", "中央军委改革和编制办公室", "CMC reform and establishment office"),
    "N": ("1239", "农业农村", "agriculture"),
    "Y": ("1", "其他", "other"),
}
_NATIONAL_DIVISION = "100000"  # national-level registration authorities

_CREDIT_FIELD = "credit_code"


def _check_charset(code: str, *, offset: int = 0) -> None:
    for i, ch in enumerate(code):
        if ch not in _CHAR_VALUE:
            pos = i + 1 + offset
            raise ValidationError(
                _CREDIT_FIELD,
                f"统一社会信用代码第 {pos} 位“{ch}”不是合法字符"
                "（只能使用数字和除 I、O、Z、S、V 以外的大写字母）",
                f"illegal character '{ch}' at position {pos} of the credit code "
                "(allowed: digits and capital letters except I, O, Z, S, V)",
                position=pos,
                character=ch,
            )


def credit_code_check_char(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a code."""
    if len(first17) != 17:
        raise ValidationError(
            _CREDIT_FIELD,
            f"计算校验码需要统一社会信用代码的前 17 位，实际为 {len(first17)} 位",
            f"the check character needs the first 17 characters, got {len(first17)}",
            length=len(first17),
        )
    _check_charset(first17)
    total = sum(_CHAR_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def _normalise_code(value: str) -> str:
    # NFKC folds full-width input (９１３３…) typed with a Chinese IME.
    return unicodedata.normalize("NFKC", value).strip().upper()


def validate_credit_code(value: str) -> str:
    """A unified social credit code, stripped and upper-cased, or ValidationError."""
    code = _normalise_code(value)
    if len(code) != 18:
        raise ValidationError(
            _CREDIT_FIELD,
            f"统一社会信用代码应为 18 位，实际为 {len(code)} 位",
            f"a credit code has 18 characters, got {len(code)}",
            length=len(code),
        )
    _check_charset(code)

    authority, entity_type = code[0], code[1]
    entry = _ENTITY_TYPES.get(authority)
    if entry is None:
        raise ValidationError(
            _CREDIT_FIELD,
            f"统一社会信用代码第 1 位（登记管理部门代码）“{authority}”无效",
            f"position 1 (registration authority) '{authority}' is not a valid code",
            position=1,
            character=authority,
        )
    allowed, name_zh, name_en = entry
    if entity_type not in allowed:
        raise ValidationError(
            _CREDIT_FIELD,
            f"统一社会信用代码第 2 位（机构类别代码）“{entity_type}”对登记管理部门"
            f"“{name_zh}”无效，应为 {'、'.join(allowed)} 之一",
            f"position 2 (entity type) '{entity_type}' is not valid for registration "
            f"authority '{authority}' ({name_en}); expected one of {', '.join(allowed)}",
            position=2,
            character=entity_type,
        )

    division = code[2:8]
    if division != _NATIONAL_DIVISION:
        problem = _division_problem(division)
        if problem is not None:
            raise ValidationError(
                _CREDIT_FIELD,
                f"统一社会信用代码第 3–8 位（登记管理机关行政区划码）无效：{problem[0]}",
                f"positions 3–8 (division code of the registering office) are invalid: "
                f"{problem[1]}",
                position=3,
                division=division,
            )

    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValidationError(
            _CREDIT_FIELD,
            f"统一社会信用代码校验位错误：按前 17 位应为“{expected}”，实际为“{code[17]}”，"
            "请核对是否有输错的字符",
            f"bad check character: the first 17 characters give '{expected}' but the code "
            f"ends in '{code[17]}'; a character was probably mistyped",
            position=18,
            expected=expected,
            actual=code[17],
        )
    return code


def make_credit_code(first17: str) -> str:
    """Append the check character and validate the result (tests and demo data)."""
    first17 = _normalise_code(first17)
    return validate_credit_code(first17 + credit_code_check_char(first17))


# -- free text ----------------------------------------------------------------------

_ALLOWED_CONTROLS = frozenset("\n\t")


def check_text(
    field: str,
    value: str | None,
    *,
    max_len: int,
    required: bool = True,
    min_len: int = 1,
) -> str | None:
    """Strip and check a free-text field; None for an absent optional value.

    Line breaks are normalised to "\\n" (browsers submit text areas with CRLF);
    any other control character, and lone surrogates, are refused. Lengths count
    Unicode code points after stripping.
    """
    if min_len < 1 or max_len < min_len:
        raise ValueError(f"bad limits for {field}: min_len={min_len}, max_len={max_len}")
    text = "" if value is None else value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        if required:
            raise ValidationError(field, f"“{field}”不能为空", f"{field} is required")
        return None
    for i, ch in enumerate(text):
        if ch in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValidationError(
                field,
                f"“{field}”第 {i + 1} 个字符是不允许的控制字符（U+{ord(ch):04X}）",
                f"{field} contains a disallowed control character (U+{ord(ch):04X}) at "
                f"position {i + 1}",
                position=i + 1,
                codepoint=f"U+{ord(ch):04X}",
            )
    length = len(text)
    if length > max_len:
        raise ValidationError(
            field,
            f"“{field}”最多 {max_len} 个字，当前 {length} 个字",
            f"{field} must be at most {max_len} characters, got {length}",
            max_len=max_len,
            length=length,
        )
    if length < min_len:
        raise ValidationError(
            field,
            f"“{field}”至少 {min_len} 个字，当前 {length} 个字",
            f"{field} must be at least {min_len} characters, got {length}",
            min_len=min_len,
            length=length,
        )
    return text


# -- phone numbers ------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[1-9][0-9]{1,2}-?[1-9][0-9]{6,7}")
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086)")


def validate_phone(value: str, field: str = "phone") -> str:
    """A mainland mobile (returned as 11 digits) or landline (spaces removed).

    Mobiles may be typed with spaces, hyphens and a +86/0086 prefix. Landlines are
    0 + a 2–3 digit area code, an optional hyphen and a 7–8 digit local number;
    the hyphen is kept as typed because without it the area code is ambiguous.
    """
    raw = unicodedata.normalize("NFKC", value)
    compact = re.sub(r"\s+", "", raw)
    mobile = _COUNTRY_PREFIX.sub("", compact).replace("-", "")
    if _MOBILE.fullmatch(mobile):
        return mobile
    if _LANDLINE.fullmatch(compact):
        return compact
    raise ValidationError(
        field,
        "电话号码格式无效：应为 11 位手机号，或“区号-号码”形式的固定电话（如 0571-88888888）",
        "invalid phone number: expected an 11-digit mobile number or a landline as "
        "area code + number (e.g. 0571-88888888)",
        value=value,
    )


# -- tags ---------------------------------------------------------------------------


def validate_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Check each tag, drop duplicates (keeping the first), allow at most MAX_TAGS."""
    if isinstance(tags, str):
        raise ValidationError("tags", "标签必须是列表", "tags must be a list of strings")
    result: dict[str, None] = {}
    for tag in tags:
        text = check_text("tags", tag, max_len=MAX_TAG)
        assert text is not None  # required=True never returns None
        result[text] = None
    if len(result) > MAX_TAGS:
        raise ValidationError(
            "tags",
            f"标签最多 {MAX_TAGS} 个，当前 {len(result)} 个",
            f"at most {MAX_TAGS} tags are allowed, got {len(result)}",
            max_count=MAX_TAGS,
            count=len(result),
        )
    return tuple(result)
