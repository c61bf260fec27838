"""The scope and review rules of node/app/policy.py, on plain values (no store, no HTTP):
a handler of units sees and acts on their queues only, an account without units keeps its
role, the rejection's author never reviews it, and where the node has a review unit only
its members do. Also: who rejected travels in the snapshot (evolve, and the codec)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from federation import codec
from node.app.policy import (
    Membership,
    Principal,
    Role,
    authorize,
    check_can_view,
    permitted_actions,
    queue_scope,
)
from node.domain.errors import Forbidden, NotFound
from node.domain.issue import Action, Actor, ActorKind, Issue, State
from node.domain.lifecycle import Reject, ReviewRejection, decide, evolve, submit
from tests.support.data import make_config, submit_cmd

NODE = "330522"
JXJ, TAX, REVIEW = f"{NODE}.jxj", f"{NODE}.shuiwu", f"{NODE}.yshj"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RULES = make_config(Path("/nonexistent")).rules()


def staff(username: str, role: Role, *units: tuple[str, Role], department: str | None = None,
          review: frozenset[str] = frozenset()) -> Principal:
    return Principal(username=username, role=role, display_name=username,
                     department=department,
                     memberships=tuple(Membership(unit=u, role=r) for u, r in units),
                     review_units=review)


def issue_in(department: str | None, state: State = State.ASSIGNED,
             rejected_by: str | None = None) -> Issue:
    issue, _ = submit(submit_cmd(), issue_id=f"{NODE}-x", number=f"{NODE}-2026-000001",
                      node=NODE, actor=Actor(kind=ActorKind.STAFF, id="d"), now=NOW,
                      rules=RULES)
    return replace(issue, department=department, state=state, rejected_by=rejected_by)


H_JXJ = staff("h1", Role.HANDLER, (JXJ, Role.HANDLER))


def test_a_handler_of_a_unit_sees_and_acts_on_its_queue_only() -> None:
    mine, theirs = issue_in(JXJ), issue_in(TAX)
    check_can_view(H_JXJ, mine)
    authorize(H_JXJ, Action.START, mine, NODE)
    with pytest.raises(NotFound):
        check_can_view(H_JXJ, theirs)
    with pytest.raises(NotFound):
        authorize(H_JXJ, Action.START, theirs, NODE)
    assert permitted_actions(H_JXJ, theirs, NODE) == []
    assert queue_scope(H_JXJ) == (JXJ,)


def test_a_handler_of_two_units_and_node_wide_roles() -> None:
    both = staff("h2", Role.HANDLER, (JXJ, Role.HANDLER), (TAX, Role.HANDLER))
    assert queue_scope(both) == (JXJ, TAX)
    authorize(both, Action.START, issue_in(TAX), NODE)
    # a node-wide membership role widens the view; a handler's grant stays in its unit
    mixed = staff("h3", Role.HANDLER, (JXJ, Role.HANDLER), (TAX, Role.VIEWER))
    assert queue_scope(mixed) == (JXJ,)  # a viewer does not see the pool
    lead = staff("l", Role.LEADER, (JXJ, Role.LEADER))
    assert queue_scope(lead) is None
    authorize(lead, Action.START, issue_in(TAX), NODE)


def test_an_account_without_units_keeps_its_roles_behaviour() -> None:
    old = staff("h0", Role.HANDLER, department=TAX)
    assert queue_scope(old) is None
    check_can_view(old, issue_in(JXJ))
    with pytest.raises(Forbidden) as refused:
        authorize(old, Action.START, issue_in(JXJ), NODE)
    assert refused.value.code == "not_your_department"
    authorize(old, Action.START, issue_in(TAX), NODE)


def test_new_roles_have_their_permissions() -> None:
    intake = staff("i", Role.INTAKE)
    with pytest.raises(Forbidden):
        authorize(intake, Action.TRIAGE, issue_in(None, State.RECEIVED), NODE)
    supervisor = staff("s", Role.SUPERVISOR)
    authorize(supervisor, Action.URGE, issue_in(JXJ), NODE)
    with pytest.raises(Forbidden):
        authorize(supervisor, Action.START, issue_in(JXJ), NODE)


@pytest.mark.parametrize("action", [Action.CONFIRM_REJECTION, Action.OVERTURN_REJECTION])
def test_nobody_reviews_his_own_rejection(action: Action) -> None:
    lead = staff("lead", Role.LEADER)
    rejected = issue_in(JXJ, State.REJECTED, rejected_by="staff:lead")
    with pytest.raises(Forbidden) as refused:
        authorize(lead, action, rejected, NODE)
    assert refused.value.code == "own_rejection"
    authorize(staff("other", Role.LEADER), action, rejected, NODE)  # no review unit here


def test_where_there_is_a_review_unit_only_its_members_review() -> None:
    rejected = issue_in(JXJ, State.REJECTED, rejected_by="staff:h1")
    review = frozenset({REVIEW})
    member = staff("r", Role.REVIEWER, (REVIEW, Role.REVIEWER), review=review)
    authorize(member, Action.CONFIRM_REJECTION, rejected, NODE)
    for outsider in (staff("r2", Role.REVIEWER, (JXJ, Role.REVIEWER), review=review),
                     staff("l", Role.LEADER, review=review),
                     staff("v", Role.VIEWER, (REVIEW, Role.VIEWER), review=review)):
        with pytest.raises(Forbidden) as refused:
            authorize(outsider, Action.CONFIRM_REJECTION, rejected, NODE)
        assert refused.value.code in ("not_review_unit", "role_not_permitted")
    assert "confirm_rejection" in permitted_actions(member, rejected, NODE)


def test_who_rejected_is_kept_by_evolve_and_the_codec() -> None:
    issue = issue_in(JXJ, State.IN_PROGRESS)
    handler = Actor(kind=ActorKind.STAFF, id="h1")
    rejected = evolve(issue, decide(issue, Reject(reason="不属于受理范围"), actor=handler,
                                    now=NOW, rules=RULES))
    assert rejected.rejected_by == "staff:h1"
    wire = codec.issue_to_pb(rejected).SerializeToString()
    assert codec.issue_from_pb(type(codec.issue_to_pb(rejected)).FromString(wire)) == rejected
    reviewer = Actor(kind=ActorKind.STAFF, id="r")
    overturned = evolve(rejected, decide(rejected, ReviewRejection(confirm=False),
                                         actor=reviewer, now=NOW, rules=RULES))
    assert overturned.rejected_by is None
    confirmed = evolve(rejected, decide(rejected, ReviewRejection(confirm=True),
                                        actor=reviewer, now=NOW, rules=RULES))
    assert confirmed.rejected_by == "staff:h1"
