"""Namespaces of ids and numbers, and the checks on snapshots that came from another node."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.identity import check_new_issue, check_snapshot, within
from node.domain.issue import Actor, ActorKind, Enterprise, Issue
from node.domain.lifecycle import Rules, submit
from tests.support.data import submit_cmd

PROVINCE, CITY, COUNTY, SIBLING, OTHER_CITY = "330000", "330500", "330522", "330523", "330100"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def issue_of(origin: str, *, number: str | None = None, issue_id: str | None = None) -> Issue:
    issue, _ = submit(submit_cmd(), issue_id=issue_id or f"{origin}-{'0' * 31}1",
                      number=number or f"{origin}-2026-000001", node=origin,
                      actor=Actor(kind=ActorKind.STAFF, id="leader"), now=T0,
                      rules=Rules(calendar=WorkCalendar()))
    return issue


@pytest.mark.parametrize(("code", "unit", "expected"), [
    (COUNTY, COUNTY, True), (COUNTY, CITY, True), (COUNTY, PROVINCE, True),
    (CITY, PROVINCE, True), (CITY, CITY, True), (SIBLING, COUNTY, False),
    (CITY, COUNTY, False), (PROVINCE, CITY, False), (COUNTY, OTHER_CITY, False),
    ("320500", PROVINCE, False),
])
def test_within(code: str, unit: str, expected: bool) -> None:
    assert within(code, unit) is expected


@pytest.mark.parametrize(("origin", "sender", "receiver"), [
    (COUNTY, COUNTY, CITY),  # a county escalates its own issue
    (COUNTY, CITY, PROVINCE),  # the city passes a county's issue further up
    (PROVINCE, PROVINCE, CITY),  # the province dispatches its own issue down
    (PROVINCE, CITY, COUNTY),  # ... and the city passes it further down
    (CITY, CITY, COUNTY),
])
def test_issues_from_their_rightful_namespace_are_accepted(
        origin: str, sender: str, receiver: str) -> None:
    check_new_issue(issue_of(origin), sender=sender, receiver=receiver)


@pytest.mark.parametrize(("origin", "sender", "receiver"), [
    (SIBLING, COUNTY, CITY),  # a county squatting its sibling's namespace
    (CITY, COUNTY, CITY),  # ... or the city's own
    (PROVINCE, COUNTY, CITY),
    (OTHER_CITY, CITY, PROVINCE),  # a city bringing another city's issue
    (COUNTY, CITY, COUNTY),  # from above, an issue minted below the receiver
    (CITY, PROVINCE, CITY),
])
def test_issues_from_another_namespace_are_refused(
        origin: str, sender: str, receiver: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_new_issue(issue_of(origin), sender=sender, receiver=receiver)
    assert err.value.field == "issue.origin"


@pytest.mark.parametrize(("field", "kwargs"), [
    ("issue.number", {"number": f"{CITY}-2026-000001"}),  # the city's number, county origin
    ("issue.number", {"number": f"{COUNTY}-2026-1"}),
    ("issue.number", {"number": "anything"}),
    ("issue.id", {"issue_id": f"{SIBLING}-{'0' * 32}"}),
    ("issue.id", {"issue_id": f"{COUNTY}-{'Z' * 32}"}),
    ("issue.id", {"issue_id": f"{COUNTY}-{'0' * 32}-x"}),
])
def test_ids_and_numbers_must_be_minted_by_the_origin(field: str, kwargs: dict[str, str]
                                                      ) -> None:
    with pytest.raises(ValidationError) as err:
        check_new_issue(issue_of(COUNTY, **kwargs), sender=COUNTY, receiver=CITY)
    assert err.value.field == field


def test_a_valid_snapshot_passes() -> None:
    check_snapshot(issue_of(COUNTY))


@pytest.mark.parametrize("change", [
    {"title": "x" * 101},
    {"title": "bad\x1bescape"},
    {"title": 42},
    {"content": ""},
    {"tags": ("a", "a")},
    {"tags": ({"x": 1},)},
    {"reply": "y" * 5001},
    {"owner": "999999"},
    {"came_from": "33052"},
    {"urge_count": -1},
    {"reopen_count": 10**9},
    {"outcome": "maybe"},
    {"enterprise": Enterprise(name="甲公司", credit_code="91330000000000000X",
                              contact_phone="13800000000")},
    {"enterprise": Enterprise(name="甲公司", credit_code="913305227XXXXXXXXX",
                              contact_phone="not a phone")},
])
def test_snapshots_that_http_would_refuse_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        check_snapshot(replace(issue_of(COUNTY), **change))  # type: ignore[arg-type]
    # evolved from a checked snapshot, a field the change set anew is checked all the same
    with pytest.raises(ValidationError):
        check_snapshot(replace(issue_of(COUNTY), **change),  # type: ignore[arg-type]
                       previous=issue_of(COUNTY))


def test_fields_carried_over_from_the_checked_snapshot_are_not_checked_again() -> None:
    # a snapshot whose credit code fails the check, standing for "checked before": what
    # an event leaves as the very same object is not re-checked, anything set anew is
    bad = replace(issue_of(COUNTY), enterprise=Enterprise(
        name="甲公司", credit_code="91330000000000000X", contact_phone="13800000000"))
    with pytest.raises(ValidationError):
        check_snapshot(bad)
    check_snapshot(replace(bad, version=2, reply="已解决"), previous=bad)
    with pytest.raises(ValidationError):  # an equal but new enterprise: checked
        check_snapshot(replace(bad, enterprise=Enterprise(
            name="甲公司", credit_code="91330000000000000X", contact_phone="13800000000")),
            previous=bad)
