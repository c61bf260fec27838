"""The notification rules (node/domain/notifications.py) and the [notify] configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.config import ConfigError
from node.domain.calendar import WorkCalendar
from node.domain.issue import Actor, ActorKind, Deadline, DeadlineKind, Event, Issue
from node.domain.lifecycle import Rules, submit
from node.domain.notifications import (
    DEFAULT_TEMPLATES,
    EVENT_TOPICS,
    LOCALES,
    Colour,
    Group,
    Member,
    NotifyRules,
    Topic,
    delivery_key,
    members,
    notice_for_event,
    notice_for_light,
    render,
    template_names,
)
from tests.support.data import make_config, submit_cmd

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
STAFF = [
    Member(username="d1", role="dispatcher"),
    Member(username="h1", role="handler", department="经信局"),
    Member(username="h2", role="handler", department="住建局"),
    Member(username="l0", role="leader"),
    Member(username="l1", role="leader", department="经信局"),
    Member(username="a1", role="admin"),
    Member(username="v1", role="viewer", department="经信局"),
]


def _issue() -> tuple[Issue, Event]:
    return submit(submit_cmd(), issue_id="330522-0190a0a0-0000-7000-8000-000000000001",
                  number="330522-2026-000001", node="330522",
                  actor=Actor(kind=ActorKind.STAFF, id="leader"), now=NOW,
                  rules=Rules(calendar=WorkCalendar()))


def test_every_topic_has_a_template_in_every_locale_with_known_fields() -> None:
    for topic in Topic:
        for locale in LOCALES:
            subject, body = DEFAULT_TEMPLATES[(locale, topic)]
            assert template_names(subject + body)
    subject, body = render(Topic.RECEIPT, "fr", {"number": "N1", "title": "T"})
    assert subject == "诉求已受理：N1" and "{" not in body  # unknown fields render empty


def test_the_receipt_carries_the_number_and_the_tracking_link() -> None:
    issue, event = _issue()
    notice = notice_for_event(event, issue, NotifyRules(base_url="https://zt.example/"))
    assert notice is not None and notice.topic is Topic.RECEIPT
    assert notice.groups == (Group.ENTERPRISE,)
    assert notice.key == f"event:{event.issue_id}@1"
    assert notice.params["track_url"] == "https://zt.example/ui/portal/issues/330522-2026-000001"


def test_only_the_listed_kinds_notify_and_a_topic_without_groups_is_off() -> None:
    issue, event = _issue()
    for kind in ("triage", "start", "close", "revisit", "escalate", "receive"):
        assert kind not in EVENT_TOPICS
        other = Event(issue_id=event.issue_id, version=2, kind=kind, actor=event.actor,
                      at=NOW, payload={"state": "triaged"})
        assert notice_for_event(other, issue, NotifyRules()) is None
    off = NotifyRules(groups={Topic.RECEIPT: ()})
    assert notice_for_event(event, issue, off) is None


@pytest.mark.parametrize(("group", "department", "expected"), [
    (Group.DEPARTMENT, "经信局", ["h1", "l1", "v1"]),
    (Group.HANDLERS, "经信局", ["h1"]),
    (Group.HANDLERS, None, ["d1"]),  # not dispatched yet: the dispatchers act
    (Group.LEADERS, "经信局", ["l1"]),
    (Group.LEADERS, "住建局", ["l0"]),
    (Group.REVIEWERS, None, ["l0", "l1"]),
    (Group.OWNER_UNIT, "住建局", ["h2"]),
    (Group.OWNER_UNIT, None, ["l0", "l1"]),
    (Group.ENTERPRISE, "经信局", []),
])
def test_groups_pick_the_accounts(group: Group, department: str | None,
                                  expected: list[str]) -> None:
    assert members(group, STAFF, department=department, board=None) == expected


def test_a_light_notice_is_keyed_by_issue_deadline_and_colour() -> None:
    issue, _ = _issue()
    due = NOW + timedelta(days=3)
    running = replace(issue, deadline=Deadline(kind=DeadlineKind.RESOLVE, start=NOW, due=due))
    yellow = notice_for_light(running, Colour.YELLOW, NotifyRules(), now=NOW)
    red = notice_for_light(running, Colour.RED, NotifyRules(), now=NOW)
    assert yellow is not None and red is not None
    assert (yellow.topic, red.topic) == (Topic.LIGHT_YELLOW, Topic.LIGHT_RED)
    assert yellow.key != red.key and yellow.key.endswith(":yellow")
    review = replace(issue, deadline=Deadline(kind=DeadlineKind.REVIEW, start=NOW, due=due))
    overdue = notice_for_light(review, Colour.RED, NotifyRules(), now=NOW)
    assert overdue is not None and overdue.topic is Topic.REVIEW_OVERDUE
    assert overdue.groups == (Group.REVIEWERS,)


def test_the_delivery_key_is_stable_distinct_and_names_nobody() -> None:
    key = delivery_key("330522", "event:x@1", "enterprise:91330522MA2AAAAA1Y", "sms")
    assert key == delivery_key("330522", "event:x@1", "enterprise:91330522MA2AAAAA1Y", "sms")
    assert key != delivery_key("330522", "event:x@1", "enterprise:91330522MA2AAAAA1Y", "oa")
    assert key.startswith("zt1-") and len(key) == 44 and "9133" not in key


def test_notify_is_off_by_default_and_bad_keys_are_named(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert not config.notify.enabled and not config.notify.sms.enabled
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, notify={
            "enabled": True, "bogus": 1, "sms": {"enabled": True},
            "oa": {"enabled": True, "url": "ftp://x"}, "recipients": {"nope": ["leaders"]},
            "templates": {"fr": {}}, "staff_channels": ["pigeon"]})
    text = str(err.value)
    for where in ("notify.bogus", "notify.sms", "notify.oa", "notify.recipients.nope",
                  "notify.templates", "notify.staff_channels"):
        assert where in text, where
    with pytest.raises(ConfigError, match="malformed template"):
        make_config(tmp_path, notify={"templates": {"en": {"receipt": {
            "subject": "x {number", "body": "y"}}}})
