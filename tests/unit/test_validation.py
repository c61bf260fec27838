"""Boundary validation: credit codes, division codes, text, phones, tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.errors import ValidationError
from node.domain.validation import (
    CREDIT_CODE_CHARSET,
    MAX_TAG,
    MAX_TAGS,
    MAX_TITLE,
    check_text,
    credit_code_check_char,
    division_level,
    make_credit_code,
    parent_of,
    validate_credit_code,
    validate_division_code,
    validate_phone,
    validate_tags,
)
from node.i18n import error_message

# -- unified social credit codes -----------------------------------------------------

# Public codes of well-known companies, check characters verified by computation.
REAL_CODES = [
    "914403001922038216",  # 华为技术有限公司
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code
    assert credit_code_check_char(code[:17]) == code[17]
    assert make_credit_code(code[:17]) == code


def test_credit_code_is_normalised() -> None:
    assert validate_credit_code("  9144030071526726xg\n") == "9144030071526726XG"
    # Full-width characters typed with a Chinese input method.
    assert validate_credit_code("９１４４０３００７１５２６７２６ＸＧ") == "9144030071526726XG"


def expect_invalid(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        validate_credit_code(value)
    err = exc.value
    assert err.field == "credit_code"
    assert error_message(err, "zh-CN") and error_message(err, "en")
    return err


@pytest.mark.parametrize("value", ["", "91440300715267", "9144030071526726XG0"])
def test_credit_code_length(value: str) -> None:
    err = expect_invalid(value)
    assert err.details["length"] == len(value)
    assert "18" in error_message(err, "en") and "18" in error_message(err, "zh-CN")


@pytest.mark.parametrize(("position", "char"), [(10, "I"), (12, "O"), (5, "-"), (18, "Z")])
def test_credit_code_illegal_character_names_position(position: int, char: str) -> None:
    code = REAL_CODES[1]
    bad = code[: position - 1] + char + code[position:]
    err = expect_invalid(bad)
    assert err.details["position"] == position
    assert f"position {position}" in error_message(err, "en")
    assert f"第 {position} 位" in error_message(err, "zh-CN")


def test_credit_code_bad_check_character_says_which_was_expected() -> None:
    err = expect_invalid("914403001922038217")
    assert err.details["expected"] == "6"
    assert err.details["actual"] == "7"
    assert "'6'" in error_message(err, "en") and "“6”" in error_message(err, "zh-CN")


def test_credit_code_structure() -> None:
    # Unknown registration authority.
    err = expect_invalid(make_check("B14403001922038216"))
    assert err.details["position"] == 1
    # Enterprise authority 9 has types 1, 2, 3 only.
    err = expect_invalid(make_check("944403001922038216"))
    assert err.details["position"] == 2
    # Division 990000 is not a province.
    err = expect_invalid(make_check("919900001922038216"))
    assert err.details["division"] == "990000"
    # National-level registration uses 100000.
    assert make_credit_code("11100000000013127")[:8] == "11100000"
    # Other authorities from the code allocation table.
    assert make_credit_code("31330000MD0123456")[:2] == "31"
    assert make_credit_code("N2330522MF1234567")[:2] == "N2"
    assert make_credit_code("Y1330522MF1234567")[:2] == "Y1"


def make_check(code: str) -> str:
    """Replace the check character with the right one for the first 17."""
    return code[:17] + credit_code_check_char(code[:17])


def test_check_char_input_is_validated() -> None:
    with pytest.raises(ValidationError):
        credit_code_check_char("9144030071526726")
    with pytest.raises(ValidationError) as exc:
        credit_code_check_char("91440300715267I6X")
    assert exc.value.details["position"] == 15
    with pytest.raises(ValidationError):
        make_credit_code("99440300715267260")  # authority 9 has no type 9


_TYPES = {
    "1": "1239",
    "2": "19",
    "3": "123459",
    "4": "19",
    "5": "12349",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "1239",
    "Y": "1",
}
prefixes = st.sampled_from([a + t for a, types in _TYPES.items() for t in types])
divisions = st.sampled_from(
    [
        "100000",
        "110000",
        "110101",
        "330000",
        "330500",
        "330522",
        "419001",
        "469002",
        "650100",
        "820000",
    ]
)
org_codes = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=9, max_size=9)
valid_codes = st.builds(lambda p, d, o: make_credit_code(p + d + o), prefixes, divisions, org_codes)


@settings(max_examples=60)
@given(code=valid_codes)
def test_every_single_character_substitution_is_rejected(code: str) -> None:
    assert validate_credit_code(code) == code
    for i in range(18):
        for ch in CREDIT_CODE_CHARSET:
            if ch == code[i]:
                continue
            with pytest.raises(ValidationError):
                validate_credit_code(code[:i] + ch + code[i + 1 :])


# -- division codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("330000", "province"),
        ("330500", "city"),
        ("330522", "county"),
        ("110101", "county"),
        ("419001", "county"),
        ("820000", "province"),
    ],
)
def test_valid_division_codes(code: str, level: str) -> None:
    assert validate_division_code(code) == code
    assert division_level(code) == level


@pytest.mark.parametrize(
    "value", ["990000", "33052", "33a522", "330050", "3305220", "", "000000", "100000"]
)
def test_invalid_division_codes(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_division_code(value)
    assert exc.value.field == "division_code"


def test_division_code_is_stripped() -> None:
    assert validate_division_code(" 330522 ") == "330522"


def test_parent_chain() -> None:
    assert parent_of("330522") == "330500"
    assert parent_of("330500") == "330000"
    assert parent_of("330000") is None
    assert parent_of("419001") == "419000"
    with pytest.raises(ValidationError):
        parent_of("990000")


# -- free text -----------------------------------------------------------------------


def test_text_at_limit_and_one_over() -> None:
    assert check_text("title", "题" * MAX_TITLE, max_len=MAX_TITLE) == "题" * MAX_TITLE
    with pytest.raises(ValidationError) as exc:
        check_text("title", "题" * (MAX_TITLE + 1), max_len=MAX_TITLE)
    err = exc.value
    assert err.field == "title"
    assert err.details == {"field": "title", "max_len": 100, "length": 101}
    assert "title" in error_message(err, "zh-CN") and "100" in error_message(err, "zh-CN")
    assert "title" in error_message(err, "en") and "100" in error_message(err, "en")


def test_text_counts_code_points_after_stripping() -> None:
    emoji = "😀" * MAX_TITLE  # astral characters count once each
    assert check_text("title", f"  {emoji}\n", max_len=MAX_TITLE) == emoji


def test_text_required_and_optional() -> None:
    for blank in (None, "", "   \n\t "):
        with pytest.raises(ValidationError) as exc:
            check_text("content", blank, max_len=10)
        assert exc.value.field == "content"
        assert check_text("comment", blank, max_len=10, required=False) is None


def test_text_min_len() -> None:
    assert check_text("reason", "ab", max_len=10, min_len=2) == "ab"
    with pytest.raises(ValidationError) as exc:
        check_text("reason", "a", max_len=10, min_len=2)
    assert exc.value.details["min_len"] == 2


def test_text_newlines_and_tabs_are_kept_crlf_normalised() -> None:
    assert check_text("content", "a\r\nb\rc\td\ne", max_len=20) == "a\nb\nc\td\ne"


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "a\x1b[31m", "a\x7fb", "a\x85b", "a\ud800b"])
def test_text_rejects_control_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        check_text("content", bad, max_len=20)
    assert exc.value.details["position"] == 2


def test_text_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        check_text("x", "a", max_len=0)


# -- phones --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "13800138000"),
        (" 138 0013 8000 ", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("19912345678", "19912345678"),
        ("0571-88888888", "0571-88888888"),
        ("057188888888", "057188888888"),
        ("010-6512345", "010-6512345"),
        ("0571 8888 8888", "057188888888"),
    ],
)
def test_valid_phones(value: str, expected: str) -> None:
    assert validate_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "12345678901",  # 12 is not a mobile prefix
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "0571-888888",  # 6-digit local number
        "0571-888888888",  # 9-digit local number
        "00571-88888888",
        "phone",
    ],
)
def test_invalid_phones(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_phone(value)
    assert exc.value.field == "phone"


# -- tags ----------------------------------------------------------------------------


def test_tags_are_stripped_and_deduplicated_in_order() -> None:
    assert validate_tags([" 融资 ", "用地", "融资", "用地 "]) == ("融资", "用地")
    assert validate_tags([]) == ()


def test_tag_length_limit() -> None:
    assert validate_tags(["标" * MAX_TAG]) == ("标" * MAX_TAG,)
    with pytest.raises(ValidationError) as exc:
        validate_tags(["标" * (MAX_TAG + 1)])
    assert exc.value.field == "tags"


def test_tag_count_limit() -> None:
    ten = [f"t{i}" for i in range(MAX_TAGS)]
    assert validate_tags(ten) == tuple(ten)
    assert validate_tags([*ten, "t0"]) == tuple(ten)  # duplicates do not count
    with pytest.raises(ValidationError) as exc:
        validate_tags([*ten, "extra"])
    assert exc.value.details["count"] == MAX_TAGS + 1


@pytest.mark.parametrize("bad", [["ok", ""], ["ok", "  "], ["a\x00b"]])
def test_bad_tags(bad: list[str]) -> None:
    with pytest.raises(ValidationError):
        validate_tags(bad)


def test_tags_must_be_a_sequence_not_a_string() -> None:
    with pytest.raises(ValidationError):
        validate_tags("融资")
