"""The lifecycle table, exhaustively, and its invariants as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.domain.calendar import WorkCalendar
from node.domain.errors import IllegalTransition, RuleViolation, ValidationError
from node.domain.issue import (
    Action,
    Actor,
    ActorKind,
    DeadlineKind,
    Issue,
    Rating,
    RevisitResult,
    State,
    with_changes,
)
from node.domain.lifecycle import (
    TRANSITIONS,
    AddAttachment,
    Assign,
    Close,
    Command,
    Escalate,
    LadderUp,
    MarkSampled,
    Rate,
    Receive,
    Reject,
    Resolve,
    Return,
    ReviewRejection,
    Revisit,
    Rules,
    Start,
    Supervise,
    Triage,
    Urge,
    create,
    decide,
    evolve,
    submit,
)
from node.i18n import error_message
from tests.support.data import submit_cmd

RULES = Rules(calendar=WorkCalendar())
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 CST
STAFF = Actor(kind=ActorKind.STAFF, id="leader")
ENTERPRISE = Actor(kind=ActorKind.ENTERPRISE, id="x")

# The expected lifecycle, written out by hand from the specification (rows: states,
# columns: actions in the order of ACTION_COLUMNS). "." = refused; otherwise the state
# the action leads to ("=" = stays in the same state).
ACTION_COLUMNS = [
    Action.TRIAGE, Action.ASSIGN, Action.START, Action.RESOLVE, Action.REJECT,
    Action.CONFIRM_REJECTION, Action.OVERTURN_REJECTION, Action.ACCEPT, Action.REOPEN,
    Action.CLOSE, Action.URGE, Action.LADDER_UP, Action.REVISIT, Action.ESCALATE,
    Action.RETURN, Action.RECEIVE, Action.SUPERVISE, Action.REVISIT_REOPEN,
    Action.REVISIT_SAMPLED, Action.ATTACHMENT_ADDED,
]
ABBREV = {
    "TRI": State.TRIAGED, "ASG": State.ASSIGNED, "INP": State.IN_PROGRESS,
    "RES": State.RESOLVED, "CLO": State.CLOSED, "ESC": State.ESCALATED,
    "RET": State.RETURNED, "REJ": State.REJECTED, "REO": State.REOPENED,
    "REC": State.RECEIVED,
}
EXPECTED = """
state        TRI ASG STA RES REJ CNF OVR ACC REO CLS URG LAD REV ESC RET RCV SUP RVR SMP ATT
received     TRI .   .   .   REJ .   .   .   .   .   =   .   .   ESC RET .   =   .   .   =
triaged      TRI ASG .   .   REJ .   .   .   .   .   =   =   .   ESC RET .   =   .   .   =
assigned     .   ASG INP .   REJ .   .   .   .   .   =   =   .   ESC RET .   =   .   .   =
in_progress  .   .   .   RES REJ .   .   .   .   .   =   =   .   ESC RET .   =   .   .   =
resolved     .   .   .   .   .   .   .   CLO REO CLO .   .   =   .   .   .   .   REO =   =
closed       .   .   .   .   .   .   .   .   .   .   .   .   =   .   .   .   .   REO =   =
escalated    .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   REC .   .   .   .
returned     TRI .   .   .   REJ .   .   .   .   .   =   .   .   ESC .   .   =   .   .   =
rejected     .   .   .   .   .   CLO TRI .   .   .   =   .   .   .   .   .   =   .   .   =
reopened     TRI ASG .   .   REJ .   .   .   .   .   =   =   .   ESC .   .   =   .   .   =
"""


def expected_matrix() -> dict[tuple[State, Action], State]:
    out: dict[tuple[State, Action], State] = {}
    for line in EXPECTED.strip().splitlines()[1:]:
        state_name, *cells = line.split()
        state = State(state_name)
        assert len(cells) == len(ACTION_COLUMNS)
        for action, cell in zip(ACTION_COLUMNS, cells, strict=True):
            if cell == "=":
                out[(state, action)] = state
            elif cell != ".":
                out[(state, action)] = ABBREV[cell]
    return out


def command_for(action: Action) -> Command:
    commands: dict[Action, Command] = {
        Action.TRIAGE: Triage(tags=("要素保障",), board="企业服务专班"),
        Action.ASSIGN: Assign(department="经信局"),
        Action.START: Start(),
        Action.RESOLVE: Resolve(reply="已办结"),
        Action.REJECT: Reject(reason="不属于本级职责"),
        Action.CONFIRM_REJECTION: ReviewRejection(confirm=True),
        Action.OVERTURN_REJECTION: ReviewRejection(confirm=False),
        Action.ACCEPT: Rate(rating=Rating.SATISFIED),
        Action.REOPEN: Rate(rating=Rating.UNSATISFIED),
        Action.CLOSE: Close(),
        Action.URGE: Urge(),
        Action.LADDER_UP: LadderUp(),
        Action.REVISIT: Revisit(result=RevisitResult.SATISFIED),
        Action.ESCALATE: Escalate(to="330500", reason="本级无法解决"),
        Action.RETURN: Return(to="330522", instructions="请属地先行处理"),
        Action.RECEIVE: Receive(came_from="330522"),
        Action.SUPERVISE: Supervise(issued_by="330500", note="请加快办理"),
        Action.REVISIT_REOPEN: Revisit(result=RevisitResult.UNSATISFIED),
        Action.REVISIT_SAMPLED: MarkSampled(mark={"sample": 1, "draw": 1}),
        Action.ATTACHMENT_ADDED: AddAttachment(attachment={"attachment": {"id": "x"}}),
    }
    return commands[action]


def new_issue() -> Issue:
    issue, _ = submit(submit_cmd(), issue_id="330522-x", number="330522-2026-000001",
                      node="330522", actor=STAFF, now=T0, rules=RULES)
    return issue


def test_table_matches_the_specification() -> None:
    assert dict(TRANSITIONS) == expected_matrix()


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action(state: State, action: Action) -> None:
    issue = replace(new_issue(), state=state)
    expected = expected_matrix().get((state, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            decide(issue, command_for(action), actor=STAFF, now=T0, rules=RULES)
        assert (info.value.state, info.value.action) == (state.value, action.value)
        text = error_message(info.value, "en")
        assert state.value in text and action.value in text
        return
    event = decide(issue, command_for(action), actor=STAFF, now=T0, rules=RULES)
    after = evolve(issue, event)
    assert event.kind == action.value
    assert after.state is expected
    assert after.version == issue.version + 1


def test_submission_starts_dispatch_clock() -> None:
    issue = new_issue()
    assert issue.state is State.RECEIVED and issue.version == 1
    assert issue.deadline is not None and issue.deadline.kind is DeadlineKind.DISPATCH
    # Monday receipt: Tuesday and Wednesday are the two working days → due Thu 00:00 CST.
    assert issue.deadline.due == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


def test_assignment_starts_resolve_clock_and_reassign_keeps_it() -> None:
    issue = new_issue()
    issue = evolve(issue, decide(issue, Triage(tags=("a",)), actor=STAFF, now=T0, rules=RULES))
    later = T0 + timedelta(hours=3)
    issue = evolve(issue, decide(issue, Assign(department="经信局"), actor=STAFF, now=later,
                                 rules=RULES))
    assert issue.deadline is not None and issue.deadline.kind is DeadlineKind.RESOLVE
    first_due = issue.deadline.due
    assert issue.resolve_due == first_due
    issue = evolve(issue, decide(issue, Assign(department="住建局"), actor=STAFF,
                                 now=later + timedelta(days=1), rules=RULES))
    assert issue.department == "住建局"
    assert issue.deadline is not None and issue.deadline.due == first_due


def test_enterprise_urge_once_per_24_hours_staff_unlimited() -> None:
    issue = new_issue()
    issue = evolve(issue, decide(issue, Urge(), actor=ENTERPRISE, now=T0, rules=RULES))
    with pytest.raises(RuleViolation) as info:
        decide(issue, Urge(), actor=ENTERPRISE, now=T0 + timedelta(hours=23, minutes=59),
               rules=RULES)
    assert info.value.code == "urge_too_soon"
    assert info.value.details["next_allowed_at"] == (T0 + timedelta(hours=24)).isoformat()
    issue = evolve(issue, decide(issue, Urge(), actor=STAFF, now=T0 + timedelta(hours=1),
                                 rules=RULES))
    issue = evolve(issue, decide(issue, Urge(), actor=ENTERPRISE, now=T0 + timedelta(hours=24),
                                 rules=RULES))
    assert issue.urge_count == 3


def test_rejection_needs_a_reason_and_opens_a_review_deadline() -> None:
    issue = new_issue()
    with pytest.raises(ValidationError) as info:
        decide(issue, Reject(reason="  "), actor=STAFF, now=T0, rules=RULES)
    assert info.value.field == "reason"
    issue = evolve(issue, decide(issue, Reject(reason="越权"), actor=STAFF, now=T0, rules=RULES))
    assert issue.state is State.REJECTED and issue.rejection_reason == "越权"
    assert issue.deadline is not None and issue.deadline.kind is DeadlineKind.REVIEW


def test_ladder_climbs_then_refuses_at_the_top() -> None:
    issue = evolve(new_issue(), decide(new_issue(), Triage(tags=()), actor=STAFF, now=T0,
                                       rules=RULES))
    names = []
    for _ in range(len(RULES.ladder) - 1):
        event = decide(issue, LadderUp(), actor=STAFF, now=T0, rules=RULES)
        names.append(event.payload["step_name"])
        issue = evolve(issue, event)
    assert names == list(RULES.ladder[1:])
    with pytest.raises(RuleViolation) as info:
        decide(issue, LadderUp(), actor=STAFF, now=T0, rules=RULES)
    assert info.value.code == "ladder_exhausted"


def test_unsatisfied_rating_reopens_and_counts() -> None:
    issue = new_issue()
    for cmd in (Triage(tags=()), Assign(department="d"), Start(), Resolve(reply="ok")):
        issue = evolve(issue, decide(issue, cmd, actor=STAFF, now=T0, rules=RULES))
    issue = evolve(issue, decide(issue, Rate(rating=Rating.UNSATISFIED), actor=ENTERPRISE,
                                 now=T0, rules=RULES))
    assert issue.state is State.REOPENED and issue.reopen_count == 1
    assert issue.rating is Rating.UNSATISFIED


def test_evolve_refuses_out_of_order_events() -> None:
    issue = new_issue()
    event = decide(issue, Triage(tags=()), actor=STAFF, now=T0, rules=RULES)
    with pytest.raises(ValueError):
        evolve(evolve(issue, event), event)


# --------------------------------------------------------------------------- properties

ALL_COMMANDS = [command_for(a) for a in Action] + [
    Urge(),  # extra weight on the non-state actions
    Rate(rating=Rating.BASICALLY_SATISFIED),
]


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(ALL_COMMANDS),
            st.sampled_from([STAFF, ENTERPRISE]),
            st.integers(min_value=0, max_value=72 * 3600),
        ),
        max_size=40,
    )
)
def test_lifecycle_invariants(steps: list[tuple[Command, Actor, int]]) -> None:
    first, first_event = submit(submit_cmd(), issue_id="330522-p", number="330522-2026-000009",
                                node="330522", actor=STAFF, now=T0, rules=RULES)
    issue, log, now = first, [first_event], T0
    for command, actor, gap in steps:
        now += timedelta(seconds=gap)
        before = issue
        try:
            event = decide(issue, command, actor=actor, now=now, rules=RULES)
        except (IllegalTransition, RuleViolation):
            assert issue == before  # a refusal changes nothing
            continue
        issue = evolve(issue, event)
        log.append(event)
        assert issue.version == before.version + 1  # versions only increase, by one per change
        assert issue.state is State(event.payload["state"])
        assert (issue.state, issue.deadline is None) != (State.RESOLVED, False)
    # every change has exactly one event, and the events alone rebuild the snapshot
    assert [e.version for e in log] == list(range(1, issue.version + 1))
    rebuilt = create(log[0])
    for event in log[1:]:
        rebuilt = evolve(rebuilt, event)
    assert rebuilt == issue
    assert issue.urge_count == sum(1 for e in log if e.kind == Action.URGE.value)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["version", "state", "reply", "reopen_count", "tags", "board",
                     "closed_at", "rating_comment", "ladder_unit"]),
    st.integers(0, 5), max_size=6))
def test_with_changes_builds_what_dataclasses_replace_builds(picked: dict[str, int]) -> None:
    issue, _ = submit(submit_cmd(), issue_id="i1", number="330522-2026-000001",
                      node="330522", actor=ENTERPRISE, now=T0, rules=RULES)
    values: dict[str, object] = {
        "version": 7, "state": State.CLOSED, "reply": "已解决", "reopen_count": 2,
        "tags": ("用电",), "board": "要素保障", "closed_at": T0 + timedelta(days=3),
        "rating_comment": None, "ladder_unit": "330522-jxj"}
    changes = {name: values[name] for name in picked}
    new = with_changes(issue, changes)
    assert new == replace(issue, **changes)  # type: ignore[arg-type]
    assert type(new) is Issue and new is not issue
    with pytest.raises(TypeError, match="no field colour"):
        with_changes(issue, {"colour": "red"})
