"""Validation of user input at the boundary: identifiers, free text, phones, tags.

Every function normalises what it accepts (strip, uppercase, remove separators)
and returns the normalised value, or raises :class:`ValidationError` naming the
field, with a stable code and the parameters a message needs to be specific enough
for the person who typed the value to fix it (e.g. which character is illegal, which
check character was expected); the texts are in the catalogue (node/i18n).

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
from typing import Any, Literal

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


def _division_problem(code: str) -> tuple[str, dict[str, Any]] | None:
    """(problem, its parameters) saying what is wrong with `code`, or None; the error code
    is ``division_<problem>`` (``credit_code_division_<problem>`` inside a credit code)."""
    if len(code) != 6:
        return "length", {"length": len(code)}
    if not set(code) <= _DIGITS:
        return "digits", {}
    if code[:2] not in PROVINCE_PREFIXES:
        return "province", {"prefix": code[:2]}
    if code[2:4] == "00" and code[4:] != "00":
        return "structure", {}
    return None


def validate_division_code(value: str) -> str:
    """A GB/T 2260 six-digit administrative division code, stripped."""
    code = unicodedata.normalize("NFKC", value).strip()
    problem = _division_problem(code)
    if problem is not None:
        raise ValidationError(f"division_{problem[0]}", field="division_code", value=value,
                              **problem[1])
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
# GB 32100-2015 table 1 as extended by the code allocation notices. (The authorities'
# names are terms of the message catalogue: `authority.<code>` in node/i18n.)
_ENTITY_TYPES: dict[str, str] = {
    "1": "1239",  # establishment administration
    "2": "19",  # foreign affairs
    "3": "123459",  # justice administration
    "4": "19",  # culture
    # 54: grassroots self-governing organisations (village/residents' committees).
    "5": "12349",  # civil affairs
    "6": "129",  # tourism
    "7": "129",  # religious affairs
    "8": "19",  # trade unions
    "9": "123",  # market regulation
    "A": "19",  # CMC reform and establishment office
    "N": "1239",  # agriculture
    "Y": "1",  # other
}
_NATIONAL_DIVISION = "100000"  # national-level registration authorities

_CREDIT_FIELD = "credit_code"


def _check_charset(code: str, *, offset: int = 0) -> None:
    for i, ch in enumerate(code):
        if ch not in _CHAR_VALUE:
            pos = i + 1 + offset
            raise ValidationError("credit_code_character", field=_CREDIT_FIELD,
                                  position=pos, character=ch)


def credit_code_check_char(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a code."""
    if len(first17) != 17:
        raise ValidationError("credit_code_check_length", field=_CREDIT_FIELD,
                              length=len(first17))
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
        raise ValidationError("credit_code_length", field=_CREDIT_FIELD, length=len(code))
    _check_charset(code)

    authority, entity_type = code[0], code[1]
    allowed = _ENTITY_TYPES.get(authority)
    if allowed is None:
        raise ValidationError("credit_code_authority", field=_CREDIT_FIELD, position=1,
                              character=authority)
    if entity_type not in allowed:
        raise ValidationError("credit_code_entity_type", field=_CREDIT_FIELD, position=2,
                              character=entity_type, authority=authority, allowed=allowed)

    division = code[2:8]
    if division != _NATIONAL_DIVISION:
        problem = _division_problem(division)
        if problem is not None:
            raise ValidationError(f"credit_code_division_{problem[0]}", field=_CREDIT_FIELD,
                                  position=3, division=division, **problem[1])

    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValidationError("credit_code_check_character", field=_CREDIT_FIELD,
                              position=18, expected=expected, actual=code[17])
    return code


def make_credit_code(first17: str) -> str:
    """Append the check character and validate the result (tests and demo data)."""
    first17 = _normalise_code(first17)
    return validate_credit_code(first17 + credit_code_check_char(first17))


# -- free text ----------------------------------------------------------------------

_ALLOWED_CONTROLS = frozenset("\n\t")
#: What the per-character check below refuses, as one pattern: the control characters
#: (category Cc: U+0000-U+001F and U+007F-U+009F) but tab and line feed, and the lone
#: surrogates (Cs). A text without any skips the loop (which names the first one found).
_REFUSED_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


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
            raise ValidationError("text_required", field=field)
        return None
    for i, ch in enumerate(text) if _REFUSED_CHARACTER.search(text) else ():
        if ch in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValidationError("text_control_character", field=field, position=i + 1,
                                  codepoint=f"U+{ord(ch):04X}")
    length = len(text)
    if length > max_len:
        raise ValidationError("text_too_long", field=field, max_len=max_len, length=length)
    if length < min_len:
        raise ValidationError("text_too_short", field=field, min_len=min_len, length=length)
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
    raise ValidationError("phone_invalid", field=field, value=value)


# -- tags ---------------------------------------------------------------------------


def validate_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Check each tag, drop duplicates (keeping the first), allow at most MAX_TAGS."""
    if isinstance(tags, str):
        raise ValidationError("tags_not_a_list", field="tags")
    result: dict[str, None] = {}
    for tag in tags:
        text = check_text("tags", tag, max_len=MAX_TAG)
        assert text is not None  # required=True never returns None
        result[text] = None
    if len(result) > MAX_TAGS:
        raise ValidationError("tags_too_many", field="tags", max_count=MAX_TAGS,
                              count=len(result))
    return tuple(result)
