"""The federation's actions the screens offer (node/app/forwarding.py `Forwarding.actions`),
on plain values: 督办 (`supervise`) only on a replica a child tier owns and only to a
principal who may supervise; 交办下级 (`dispatch`) only on an issue owned here, at a node
with children, to a principal who may hand it down; neither on an issue owned here or
above, nor while a transfer is on its way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from node.app.forwarding import DISPATCH, Forwarding
from node.app.policy import Principal, Role
from node.app.service import IssueService
from node.app.transfers import TransferService
from node.domain.issue import Actor, ActorKind, Issue, State
from node.domain.lifecycle import submit
from tests.support.data import ENTERPRISE_A, STAFF, make_config, submit_cmd

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RULES = make_config(Path("/nonexistent")).rules()
SUPERVISOR = Principal(username="sup", role=Role.SUPERVISOR, display_name="督查")


@dataclass
class Topology:
    """What `actions` reads of the TransferService: where this node sits."""

    node: str
    parent: str | None
    children: frozenset[str]


def at(node: str, parent: str | None, *children: str) -> Forwarding:
    topology = Topology(node=node, parent=parent, children=frozenset(children))
    return Forwarding(issues=cast(IssueService, None),
                      transfers=cast(TransferService, topology))


CITY_NODE = at(CITY, PROVINCE, COUNTY)
PROVINCE_NODE = at(PROVINCE, None, CITY)
COUNTY_NODE = at(COUNTY, CITY)


def issue(owner: str, state: State = State.ASSIGNED, came_from: str | None = None) -> Issue:
    made, _ = submit(submit_cmd(), issue_id=f"{COUNTY}-x", number=f"{COUNTY}-2026-000001",
                     node=COUNTY, actor=Actor(kind=ActorKind.STAFF, id="d"), now=NOW,
                     rules=RULES)
    return replace(made, owner=owner, state=state, came_from=came_from)


@pytest.mark.parametrize("who", [STAFF["leader"], STAFF["admin"], SUPERVISOR])
def test_supervise_is_offered_on_a_replica_a_child_owns(who: Principal) -> None:
    assert CITY_NODE.actions(who, issue(COUNTY), pending=False) == ["supervise"]
    # a province replica of an issue its city owns: the city is the child on the path
    assert PROVINCE_NODE.actions(who, issue(CITY), pending=False) == ["supervise"]
    # and of one a county owns, two tiers down (routed through its city)
    assert PROVINCE_NODE.actions(who, issue(COUNTY), pending=False) == ["supervise"]


@pytest.mark.parametrize("who", [STAFF["dispatcher"], STAFF["handler"], STAFF["viewer"],
                                 ENTERPRISE_A])
def test_supervise_needs_the_permission(who: Principal) -> None:
    assert "supervise" not in CITY_NODE.actions(who, issue(COUNTY), pending=False)


def test_supervise_not_on_a_finished_issue_nor_while_a_transfer_is_pending() -> None:
    assert CITY_NODE.actions(STAFF["leader"], issue(COUNTY, State.CLOSED), pending=False) == []
    assert CITY_NODE.actions(STAFF["leader"], issue(COUNTY, State.RESOLVED), pending=False) == []
    assert CITY_NODE.actions(STAFF["leader"], issue(COUNTY), pending=True) == []


def test_neither_supervise_nor_dispatch_on_an_issue_owned_here_without_children() -> None:
    offered = COUNTY_NODE.actions(STAFF["leader"], issue(COUNTY), pending=False)
    assert "start" in offered  # the owner's own actions stay
    assert "supervise" not in offered and DISPATCH not in offered


def test_nothing_federated_on_an_issue_owned_above() -> None:
    # the county's replica of an issue its city now owns (escalated up)
    offered = COUNTY_NODE.actions(STAFF["leader"], issue(CITY, State.RECEIVED), pending=False)
    assert offered == []


def test_dispatch_is_offered_on_an_issue_owned_here_at_a_node_with_children() -> None:
    offered = PROVINCE_NODE.actions(STAFF["leader"], issue(PROVINCE, State.RECEIVED),
                                    pending=False)
    assert DISPATCH in offered and "supervise" not in offered
    assert "return" not in offered  # it came from no child: nothing to return it to
    came_up = CITY_NODE.actions(STAFF["leader"], issue(CITY, State.RECEIVED, came_from=COUNTY),
                                pending=False)
    assert "return" in came_up and DISPATCH in came_up


def test_dispatch_needs_the_permission_and_an_active_issue() -> None:
    owned = issue(PROVINCE, State.TRIAGED)
    assert DISPATCH not in PROVINCE_NODE.actions(STAFF["dispatcher"], owned, pending=False)
    assert DISPATCH not in PROVINCE_NODE.actions(SUPERVISOR, owned, pending=False)
    assert DISPATCH not in PROVINCE_NODE.actions(STAFF["viewer"], owned, pending=False)
    for state in (State.RESOLVED, State.CLOSED, State.REJECTED, State.RETURNED):
        assert DISPATCH not in PROVINCE_NODE.actions(STAFF["leader"], issue(PROVINCE, state),
                                                     pending=False)
    assert PROVINCE_NODE.actions(STAFF["leader"], owned, pending=True) == []
