"""Rule floors, pure part (node/domain/floors.py): which own values are looser than a floor
(each named with the floor, its version and issuer), that stricter is always accepted, the
rules in force with their sources, and the deadline policy per channel."""

from __future__ import annotations

from typing import Any

import pytest

from node.domain.deadlines import DeadlinePolicy, TagDeadlines
from node.domain.errors import RuleViolation, ValidationError
from node.domain.floors import (
    Floors,
    NodeRules,
    Source,
    StageLimits,
    check,
    effective,
    floors_from_json,
    raise_first,
)

OWN = NodeRules(deadlines=StageLimits(dispatch=2, resolve=15, review=2),
                per_tag={"用地": StageLimits(resolve=20)},
                per_channel={"meeting": StageLimits(dispatch=2)},
                revisit_share=0.2, urge_interval_hours=24)
PROVINCE = floors_from_json("330000", 4, {
    "deadlines": {"resolve_working_days": 15},
    "per_tag": {"融资": {"resolve_working_days": 10}},
    "per_channel": {"meeting": {"dispatch_working_days": 2, "resolve_working_days": 10}},
    "revisit_share_min": 0.2, "urge_interval_hours_min": 12,
    "index_weights": {"satisfaction": 0.4, "timeliness": 0.6},
})


def rules(**changes: Any) -> NodeRules:
    fields = {"deadlines": OWN.deadlines, "per_tag": {}, "per_channel": OWN.per_channel,
              "revisit_share": OWN.revisit_share, "urge_interval_hours": 24, **changes}
    return NodeRules(**fields)


def test_a_looser_per_tag_override_than_the_default_floor_is_named() -> None:
    [v] = check(OWN, [PROVINCE])
    assert (v.rule, v.value, v.floor, v.issuer, v.version) == (
        "deadlines.per_tag.用地.resolve_working_days", 20, 15, "330000", 4)
    with pytest.raises(RuleViolation) as refused:
        raise_first([v])
    assert refused.value.code == "rule_looser_than_floor"


@pytest.mark.parametrize(("own", "rule", "value", "floor"), [
    (rules(deadlines=StageLimits(dispatch=2, resolve=16, review=2)),
     "deadlines.resolve_working_days", 16, 15),
    (rules(per_channel={"meeting": StageLimits(resolve=11)}),
     "deadlines.per_channel.meeting.resolve_working_days", 11, 10),
    (rules(per_channel={"meeting": StageLimits(dispatch=3)}),
     "deadlines.per_channel.meeting.dispatch_working_days", 3, 2),
    (rules(per_tag={"融资": StageLimits(resolve=12)}),
     "deadlines.per_tag.融资.resolve_working_days", 12, 10),
    (rules(revisit_share=0.1), "revisit.share", 0.1, 0.2),
    (rules(urge_interval_hours=6), "urge.interval_hours", 6, 12),
    (rules(index_weights={"satisfaction": 0.5}), "index_weights.satisfaction", 0.5, 0.4),
])
def test_each_looser_value_is_refused(own: NodeRules, rule: str, value: Any,
                                      floor: Any) -> None:
    assert [(v.rule, v.value, v.floor) for v in check(own, [PROVINCE])] == [
        (rule, value, floor)]


def test_stricter_is_always_accepted_and_nothing_set_is_inherited() -> None:
    strict = rules(deadlines=StageLimits(dispatch=1, resolve=5, review=1),
                   per_tag={"融资": StageLimits(resolve=3)},
                   per_channel={"meeting": StageLimits(dispatch=1, resolve=4)},
                   revisit_share=0.5, urge_interval_hours=48,
                   index_weights={"satisfaction": 0.4})
    assert check(strict, [PROVINCE]) == []
    # no own 政企恳谈会 resolve, no own 融资 rule: the floors are inherited, no violation
    assert check(rules(per_channel={}), [PROVINCE]) == []


def test_every_floor_of_every_ancestor_binds() -> None:
    city = Floors(issuer="330500", version=1, deadlines=StageLimits(resolve=12))
    [v] = check(rules(), [city, PROVINCE])
    assert (v.rule, v.issuer, v.floor) == ("deadlines.resolve_working_days", "330500", 12)


def test_the_rules_in_force_take_the_stricter_value_and_name_its_source() -> None:
    city = Floors(issuer="330500", version=2, deadlines=StageLimits(resolve=12))
    values = effective(OWN, [city, PROVINCE])
    resolve = values["deadlines.resolve_working_days"]
    assert (resolve.value, resolve.source, resolve.overridden) == (
        12, Source(issuer="330500", version=2), True)
    assert values["deadlines.dispatch_working_days"].source == Source()
    tag = values["deadlines.per_tag.用地.resolve_working_days"]
    assert (tag.value, tag.source.issuer) == (12, "330500")
    meeting = values["deadlines.per_channel.meeting.resolve_working_days"]
    assert (meeting.value, meeting.source) == (10, Source(issuer="330000", version=4))
    assert values["deadlines.per_tag.融资.resolve_working_days"].value == 10
    assert values["urge.interval_hours"].value == 24  # own, stricter than 12
    assert values["index_weights.timeliness"].value == 0.6


@pytest.mark.parametrize("body", [
    {"deadlines": {"resolve_working_days": 0}}, {"deadlines": {"resolve": 5}},
    {"per_tag": {"": {"resolve_working_days": 5}}}, {"revisit_share_min": 1.5},
    {"urge_interval_hours_min": True}, {"index_weights": {"a": -1}}, {"nonsense": 1},
])
def test_malformed_floors_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        floors_from_json("330000", 1, body)
    assert refused.value.code == "floors_malformed"


def test_deadlines_vary_by_channel_and_the_strictest_override_wins() -> None:
    policy = DeadlinePolicy(
        per_tag={"用地": TagDeadlines(resolve_working_days=12)},
        per_channel={"meeting": TagDeadlines(dispatch_working_days=2,
                                             resolve_working_days=10)})
    assert policy.for_tags((), "meeting").resolve == 10
    assert policy.for_tags(("用地",), "meeting").resolve == 10
    assert policy.for_tags(("用地",), "online").resolve == 12
    assert policy.for_tags(()).resolve == 15
    with pytest.raises(ValidationError):
        DeadlinePolicy(per_channel={"meeting": TagDeadlines(resolve_working_days=0)})
