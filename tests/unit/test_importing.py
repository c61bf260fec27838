"""The pure part of importing: reading dates, checking a row, building its history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from node.domain.calendar import CST, WorkCalendar
from node.domain.importing import ImportRow, header_keys, history, parse_row, parse_when
from node.domain.issue import Actor, ActorKind, State
from node.domain.lifecycle import Rules, create, evolve
from tests.support.imports import closed_row, new_row

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RULES = Rules(calendar=WorkCalendar())
ACTOR = Actor(kind=ActorKind.STAFF, id="import")


@pytest.mark.parametrize(("cell", "expected"), [
    ("2025-03-04 09:30", datetime(2025, 3, 4, 9, 30, tzinfo=CST)),
    ("2025/3/4", datetime(2025, 3, 4, tzinfo=CST)),
    ("2025年3月4日 9:30", datetime(2025, 3, 4, 9, 30, tzinfo=CST)),
    ("2025-03-04T01:30:00+00:00", datetime(2025, 3, 4, 1, 30, tzinfo=UTC)),
    (datetime(2025, 3, 4, 9, 30), datetime(2025, 3, 4, 9, 30, tzinfo=CST)),  # an Excel cell
    (date(2025, 3, 4), datetime(2025, 3, 4, tzinfo=CST)),
    ("", None),
    (None, None),
])
def test_dates_are_read_as_china_time(cell: object, expected: datetime | None) -> None:
    assert parse_when(cell) == expected


@pytest.mark.parametrize("cell", ["三月四日", "2025-13-01", "4/3/2025 9h"])
def test_an_unreadable_date_is_a_value_error(cell: str) -> None:
    with pytest.raises(ValueError):
        parse_when(cell)


def test_headers_match_chinese_or_english_names_and_name_the_missing() -> None:
    found, missing = header_keys(["外部编号", "Title", " 企业名称 ", "其他"])
    assert found == {0: "external_id", 1: "title", 2: "enterprise_name"}
    assert "credit_code" in missing and "title" not in missing


def test_every_problem_of_a_row_is_reported_with_its_column() -> None:
    problems = parse_row(5, closed_row("X", contact_phone="12", rating="不满意",
                                       closed_at="2025-03-01", channel="传真"), now=NOW)
    assert isinstance(problems, list)
    assert {(p.row, p.column, p.code) for p in problems} == {
        (5, "contact_phone", "phone_invalid"),
        (5, "channel", "import_value_unknown"),
        (5, "rating", "import_rating_unsatisfied_closed"),
        (5, "closed_at", "import_date_before"),
    }


def test_a_later_state_needs_its_department_and_reply() -> None:
    problems = parse_row(2, closed_row("X", department="", reply=""), now=NOW)
    assert isinstance(problems, list)
    assert {p.column for p in problems} == {"department", "reply"}


def test_a_future_date_is_refused() -> None:
    problems = parse_row(2, new_row("X", received_at="2026-12-31"), now=NOW)
    assert isinstance(problems, list) and problems[0].code == "import_date_in_future"


def test_the_history_of_a_closed_row_folds_to_its_snapshot() -> None:
    row = parse_row(2, closed_row("X"), now=NOW)
    assert isinstance(row, ImportRow) and row.historical
    issue, events = history(row, issue_id="330522-" + "0" * 32, number="330522-2025-000001",
                            node="330522", actor=ACTOR, now=NOW, rules=RULES)
    folded = create(events[0])
    for e in events[1:]:
        folded = evolve(folded, e)
    assert folded == issue and issue.state is State.CLOSED
    assert [e.at.astimezone(CST).strftime("%m-%d %H:%M") for e in events] == [
        "03-04 10:00", "03-04 15:00", "03-05 09:00", "03-05 09:00", "03-10 17:00",
        "03-11 10:00"]
    assert all(e.payload["imported"] for e in events)
    assert events[0].payload["original_number"] == "OLD-X"
