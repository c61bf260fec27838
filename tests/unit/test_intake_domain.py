"""Common issues (共性问题) in the lifecycle, and channels with their own fields.

A common issue needs no credit code or phone, refuses the enterprise-only steps (urge,
rating) in every state with `common_issue_enterprise_only`, and otherwise moves exactly as
an enterprise's issue does (same table, same resulting state). Channel fields are checked
against a node's spec (unknown keys, required ones, dates) and, on any snapshot, for shape.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.config import ConfigError, parse_config
from node.domain.channels import (
    DEFAULT_CHANNELS,
    ChannelSpec,
    FieldSpec,
    check_channel_fields,
    check_channel_specs,
    validate_channel_fields,
)
from node.domain.errors import IllegalTransition, RuleViolation, ValidationError
from node.domain.identity import check_snapshot
from node.domain.issue import Action, Channel, Event, Issue, State, SubjectKind
from node.domain.lifecycle import (
    ENTERPRISE_ONLY,
    TRANSITIONS,
    Submit,
    allowed_actions,
    create,
    decide,
    evolve,
    submit,
)
from node.i18n import error_message
from tests.unit.test_lifecycle import RULES, STAFF, T0, command_for, new_issue

MEETING = next(c for c in DEFAULT_CHANNELS if c.id is Channel.MEETING)


def common_cmd(**overrides: object) -> Submit:
    values: dict[str, object] = dict(
        enterprise_name="吴兴区童装产业", credit_code="", contact_phone="",
        channel=Channel.MEETING, title="童装产业用工难", content="多家企业反映熟练工短缺。",
        subject_kind=SubjectKind.INDUSTRY,
        channel_fields=(("meeting", "第12期政企恳谈会"), ("meeting_date", "2026-02-27")))
    values.update(overrides)
    return Submit(**values)  # type: ignore[arg-type]


def new_common() -> tuple[Issue, Event]:
    return submit(common_cmd(), issue_id="330522-c", number="330522-2026-000002",
                  node="330522", actor=STAFF, now=T0, rules=RULES)


def test_a_common_issue_needs_no_credit_code_or_phone_and_keeps_its_facts() -> None:
    issue, event = submit(common_cmd(credit_code="garbage", contact_phone="x"),
                          issue_id="330522-c", number="330522-2026-000002", node="330522",
                          actor=STAFF, now=T0, rules=RULES)
    assert issue.is_common and issue.subject_kind is SubjectKind.INDUSTRY
    assert (issue.enterprise.name, issue.enterprise.credit_code,
            issue.enterprise.contact_phone) == ("吴兴区童装产业", "", "")
    assert issue.channel_fields == (("meeting", "第12期政企恳谈会"),
                                    ("meeting_date", "2026-02-27"))
    assert event.payload["subject_kind"] == "industry"
    assert event.payload["channel_fields"] == {"meeting": "第12期政企恳谈会",
                                               "meeting_date": "2026-02-27"}
    assert create(event) == issue  # the event alone rebuilds it (replicas, transfers)
    check_snapshot(issue)


def test_a_common_issue_needs_its_subjects_name() -> None:
    with pytest.raises(ValidationError) as info:
        submit(common_cmd(enterprise_name=" "), issue_id="x", number="y", node="330522",
               actor=STAFF, now=T0, rules=RULES)
    assert (info.value.code, info.value.params["field"]) == ("text_required", "subject_name")


def test_an_enterprise_issue_still_needs_a_valid_credit_code_and_its_event_is_unchanged() -> None:
    with pytest.raises(ValidationError) as info:
        submit(common_cmd(subject_kind=SubjectKind.ENTERPRISE, contact_phone="13800000000"),
               issue_id="x", number="y", node="330522", actor=STAFF, now=T0, rules=RULES)
    assert info.value.code == "credit_code_length"
    issue = new_issue()
    assert not issue.is_common and issue.channel_fields == ()
    _, event = submit(replace(common_cmd(), subject_kind=SubjectKind.ENTERPRISE,
                              enterprise_name="甲", credit_code=issue.enterprise.credit_code,
                              contact_phone="13800000000", channel_fields=()),
                      issue_id="x", number="y", node="330522", actor=STAFF, now=T0,
                      rules=RULES)
    assert "subject_kind" not in event.payload and "channel_fields" not in event.payload


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action_of_a_common_issue(state: State, action: Action) -> None:
    common, _ = new_common()
    issue = replace(common, state=state)
    try:
        command = command_for(action)  # the lifecycle tests' command of each action
    except KeyError:
        pytest.skip(f"tests/unit/test_lifecycle.py has no command for {action} yet")
    if action in ENTERPRISE_ONLY:
        with pytest.raises(RuleViolation) as info:
            decide(issue, command, actor=STAFF, now=T0, rules=RULES)
        assert info.value.code == "common_issue_enterprise_only"
        assert info.value.params["action"] == action.value
        assert "urged or rated" in error_message(info.value, "en")
        assert action not in allowed_actions(state, SubjectKind.INDUSTRY)
        return
    expected = TRANSITIONS.get((state, action))
    if expected is None:
        with pytest.raises(IllegalTransition):
            decide(issue, command, actor=STAFF, now=T0, rules=RULES)
        return
    after = evolve(issue, decide(issue, command, actor=STAFF, now=T0, rules=RULES))
    assert after.state is expected
    assert (after.subject_kind, after.channel_fields) == (issue.subject_kind,
                                                          issue.channel_fields)
    assert action in allowed_actions(state, SubjectKind.INDUSTRY)


def test_an_enterprise_issue_keeps_urge_and_rating() -> None:
    for state in State:
        assert allowed_actions(state) == tuple(a for a in Action if (state, a) in TRANSITIONS)


def test_channel_fields_against_the_spec() -> None:
    ok = validate_channel_fields(MEETING, {"meeting": " 第12期 ", "meeting_date": "2026-02-27"})
    assert ok == (("meeting", "第12期"), ("meeting_date", "2026-02-27"))
    for values, code, field in (
        ({"meeting_date": "2026-02-27"}, "text_required", "channel_fields.meeting"),
        ({"meeting": "m", "meeting_date": "27/02/2026"}, "channel_field_date_invalid",
         "channel_fields.meeting_date"),
        ({"meeting": "m", "meeting_date": "2026-02-27", "leader": "x"},
         "channel_field_unknown", "channel_fields"),
        ({"meeting": "m" * 101, "meeting_date": "2026-02-27"}, "text_too_long",
         "channel_fields.meeting"),
    ):
        with pytest.raises(ValidationError) as info:
            validate_channel_fields(MEETING, values)
        assert (info.value.code, info.value.params["field"]) == (code, field), values


def test_channel_fields_shape_on_any_snapshot() -> None:
    assert check_channel_fields({"b": "2", "a": "1"}) == (("a", "1"), ("b", "2"))
    for bad in ({"Bad": "x"}, {"a": 1}, "a=1", {f"k{i}": "v" for i in range(9)}):
        with pytest.raises(ValidationError):
            check_channel_fields(bad)
    issue = new_issue()
    with pytest.raises(ValidationError):
        check_snapshot(replace(issue, channel_fields=(("b", "1"), ("a", "2"))))  # unsorted
    common, _ = new_common()
    with pytest.raises(ValidationError):  # a common issue carries no personal data
        check_snapshot(replace(common, enterprise=issue.enterprise))


def test_the_default_channels_are_the_twelve_and_valid() -> None:
    assert len(check_channel_specs(DEFAULT_CHANNELS)) == 12
    assert {c.id for c in DEFAULT_CHANNELS} == set(Channel)
    with pytest.raises(ValueError, match="twice"):
        check_channel_specs((MEETING, MEETING))
    with pytest.raises(ValueError, match="field meeting is listed twice"):
        check_channel_specs((ChannelSpec(id=Channel.MEETING, zh="会", en="m", fields=(
            FieldSpec(key="meeting", zh="a", en="a"), FieldSpec(key="meeting", zh="b",
                                                                en="b"))),))


NODE = {"code": "330522", "name": "德清县", "level": "county", "parent": "330500"}


def test_channels_are_configured_per_node_and_every_bad_key_is_named() -> None:
    config = parse_config({"node": dict(NODE), "intake": {"channels": [
        {"id": "meeting", "zh": "恳谈会", "en": "Meeting",
         "fields": [{"key": "meeting", "zh": "会议", "en": "Meeting", "required": True}]},
        {"id": "window", "zh": "窗口", "en": "Window"}]}}, source="t", env={})
    specs = config.intake.specs()
    assert [s.id for s in specs] == [Channel.MEETING, Channel.WINDOW]
    assert specs[0].fields[0].required
    assert parse_config({"node": dict(NODE)}, source="t", env={}).intake.specs() == (
        DEFAULT_CHANNELS)
    with pytest.raises(ConfigError) as info:
        parse_config({"node": dict(NODE), "intake": {"channels": [
            {"id": "fax", "zh": "传真", "en": "Fax"},
            {"id": "meeting", "zh": "", "en": "M", "colour": "red",
             "fields": [{"key": "Meeting", "zh": "会", "en": "m", "kind": "number"}]}]}},
            source="t", env={})
    text = str(info.value)
    for key in ("intake.channels.0.id", "intake.channels.1.zh", "intake.channels.1.colour",
                "intake.channels.1.fields.0.key", "intake.channels.1.fields.0.kind"):
        assert key in text, (key, text)
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({"node": dict(NODE), "intake": {"channels": [
            {"id": "window", "zh": "窗口", "en": "W"},
            {"id": "window", "zh": "窗口", "en": "W"}]}}, source="t", env={})


def test_a_common_issue_round_trips_through_the_federation_codec() -> None:
    from federation import codec

    common, _ = new_common()
    msg = codec.issue_to_pb(common)
    assert msg.subject_kind == "industry" and dict(msg.channel_fields) == dict(
        common.channel_fields)
    assert codec.issue_from_pb(msg) == common
    plain = new_issue()
    plain_msg = codec.issue_to_pb(plain)
    assert not plain_msg.HasField("subject_kind") and not plain_msg.channel_fields
    assert codec.issue_from_pb(plain_msg) == plain
    msg.channel_fields["Bad Key"] = "x"
    with pytest.raises(ValidationError):
        codec.issue_from_pb(msg)
