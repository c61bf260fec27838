"""The transfer use cases on two SQLite files and a fake clock, without gRPC or NATS.

A county (330522) and its city (330500) each run a TransferService on their own database;
the test carries the requests between them by hand, the way the sender and the gRPC server
would: request → due (outgoing) → accept at the other node → record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from node.app.service import IssueService
from node.app.transfers import (
    DELIVERED,
    PENDING,
    REFUSED,
    Accepted,
    AutoEscalation,
    Backoff,
    Directive,
    DirectiveAccepted,
    Outgoing,
    Transfer,
    TransferService,
)
from node.domain.errors import DomainError, Forbidden, RuleViolation, ValidationError
from node.domain.issue import ActorKind, State
from node.domain.lifecycle import Triage, Urge
from node.store.db import make_engine
from node.store.migrate import ensure_schema
from node.store.outbox import TransferRecords
from node.store.records import IssueRecords
from node.store.repo import Store
from node.store.schema import events, issues, transfers_in, transfers_out
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, STAFF, make_config, submit_cmd

LEADER = STAFF["leader"]
COUNTY, OTHER_COUNTY, CITY, PROVINCE = "330522", "330523", "330500", "330000"


@dataclass
class Tier:
    code: str
    engine: Engine
    records: TransferRecords
    issues: IssueService
    transfers: TransferService
    queued: list[str]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in (issues, events, transfers_in, transfers_out)}

    def one(self, destination: str) -> Outgoing:
        [item] = self.transfers.due(destination, 10)
        return item


def make_tier(root: Path, clock: FakeClock, code: str, parent: str | None,
              children: frozenset[str]) -> Tier:
    engine = make_engine(f"sqlite:///{root / code / 'zhitong.sqlite3'}")
    ensure_schema(engine)
    store = Store(engine)
    rules = make_config(root).rules()
    records = TransferRecords(store)
    transfers = TransferService(store=records, node=code, parent=parent, children=children,
                                rules=rules, clock=clock,
                                backoff=Backoff(initial_s=10, max_s=60))
    queued: list[str] = []
    transfers.on_queued = queued.append
    return Tier(code=code, engine=engine, records=records,
                issues=IssueService(store=IssueRecords(store), node=code, rules=rules,
                                    clock=clock),
                transfers=transfers, queued=queued)


@pytest.fixture
def county(tmp_path: Path, clock: FakeClock) -> Iterator[Tier]:
    tier = make_tier(tmp_path, clock, COUNTY, CITY, frozenset())
    yield tier
    tier.engine.dispose()


@pytest.fixture
def city(tmp_path: Path, clock: FakeClock) -> Iterator[Tier]:
    tier = make_tier(tmp_path, clock, CITY, PROVINCE, frozenset({COUNTY, OTHER_COUNTY}))
    yield tier
    tier.engine.dispose()


def triaged_issue(tier: Tier) -> str:
    issue, _ = tier.issues.submit(ENTERPRISE_A, submit_cmd())
    tier.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
    return str(issue.id)


def escalate(county: Tier, city: Tier, issue_id: str) -> Accepted:
    """The whole escalation, carried by hand; returns the city's acceptance."""
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    item = county.one(CITY)
    assert item.transfer is not None
    accepted = city.transfers.accept_escalation(item.transfer, COUNTY)
    assert county.transfers.record_accepted(item.row.transfer_id, accepted)
    return accepted


def catch_up(replica: Tier, owner: Tier, issue_id: str) -> None:
    """What replication would do: bring the replica's copy to the owner's version."""
    mine = replica.issues.get(LEADER, issue_id).issue
    issue, history = owner.transfers.fetch(issue_id, replica.code, mine.version)
    with replica.records.write() as unit:
        unit.update_issue(issue, expected_version=mine.version)
        for event, writer in history:
            unit.append_event(writer, event, own=False)


# --------------------------------------------------------------------------- escalation


def test_an_escalation_is_requested_shipped_accepted_and_recorded(
        county: Tier, city: Tier, clock: FakeClock) -> None:
    issue_id = triaged_issue(county)
    transfer_id = county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    assert county.queued == [CITY]
    # requested: nothing changed yet, the issue is frozen
    assert county.transfers.is_pending(issue_id)
    before = county.issues.get(LEADER, issue_id).issue
    assert (before.owner, before.state, before.version) == (COUNTY, State.TRIAGED, 2)
    with pytest.raises(RuleViolation) as frozen:
        county.issues.act(LEADER, issue_id, Urge())
    assert frozen.value.code == "transfer_pending"

    # outgoing: the snapshot, its whole history and the prepared transfer event
    item = county.one(CITY)
    assert (item.row.transfer_id, item.row.status, item.directive) == (transfer_id, PENDING,
                                                                       None)
    transfer = item.transfer
    assert transfer is not None
    assert (transfer.transfer_id, transfer.origin_node, transfer.transfer_node) == (
        transfer_id, COUNTY, COUNTY)
    assert transfer.issue == before
    assert [(e.version, n) for e, n in transfer.history] == [(1, COUNTY), (2, COUNTY)]
    assert (transfer.transfer.kind, transfer.transfer.version) == ("escalate", 3)
    assert transfer.transfer.payload["to"] == CITY

    # accepted at the city: history, transfer event and its own receive event
    clock.advance(timedelta(minutes=1))
    accepted = city.transfers.accept_escalation(transfer, COUNTY)
    assert accepted == Accepted(transfer_id=transfer_id, issue_id=issue_id, new_owner=CITY,
                                number=before.number, version=4, accepted_at=clock.now())
    at_city = city.issues.get(LEADER, issue_id)
    assert (at_city.issue.owner, at_city.issue.state, at_city.issue.came_from) == (
        CITY, State.RECEIVED, COUNTY)
    assert [(s.event.kind, s.node) for s in at_city.timeline] == [
        ("submitted", COUNTY), ("triage", COUNTY), ("escalate", COUNTY), ("receive", CITY)]
    assert county.issues.get(LEADER, issue_id).issue.owner == COUNTY  # not recorded yet

    # recorded at the county: ownership given up only now, once
    assert county.transfers.record_accepted(transfer_id, accepted)
    after = county.issues.get(LEADER, issue_id).issue
    assert (after.owner, after.state, after.version) == (CITY, State.ESCALATED, 3)
    assert not county.transfers.is_pending(issue_id)
    assert county.transfers.due(CITY, 10) == []
    assert not county.transfers.record_accepted(transfer_id, accepted)
    assert county.counts()["events"] == 3
    status = county.transfers.outbox_status(timedelta(hours=1))
    assert status["destinations"][CITY]["depth"] == 0
    assert status["destinations"][CITY]["last_success_at"] is not None
    with county.engine.connect() as conn:
        row = conn.execute(select(transfers_out.c.status, transfers_out.c.response)).one()
    assert row.status == DELIVERED and row.response == accepted.to_json()


def test_a_repeated_accept_returns_the_same_acceptance_and_creates_nothing(
        county: Tier, city: Tier, clock: FakeClock) -> None:
    issue_id = triaged_issue(county)
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    transfer = county.one(CITY).transfer
    assert transfer is not None
    first = city.transfers.accept_escalation(transfer, COUNTY)
    counts = city.counts()
    clock.advance(timedelta(hours=2))  # the answer was lost; the county retries later
    again = city.transfers.accept_escalation(transfer, COUNTY)
    assert again == dataclasses.replace(first, duplicate=True)
    assert city.counts() == counts
    assert counts["transfers_in"] == 1


def refusal(county: Tier, city: Tier, transfer: Transfer, caller: str) -> DomainError:
    counts = city.counts()
    with pytest.raises(DomainError) as refused:
        city.transfers.accept_escalation(transfer, caller)
    assert city.counts() == counts
    return refused.value


def test_refused_transfers_change_nothing_at_the_receiver(county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    transfer = county.one(CITY).transfer
    assert transfer is not None
    # from a node that is not a child, or a child that is not the origin the message claims
    assert isinstance(refusal(county, city, transfer, "330100"), Forbidden)
    assert isinstance(refusal(county, city, transfer, OTHER_COUNTY), Forbidden)
    # addressed to another node
    elsewhere = dataclasses.replace(transfer, transfer=dataclasses.replace(
        transfer.transfer, payload={**transfer.transfer.payload, "to": "330100"}))
    assert isinstance(refusal(county, city, elsewhere, COUNTY), ValidationError)
    # an issue the sender does not own
    foreign = dataclasses.replace(transfer, issue=dataclasses.replace(transfer.issue,
                                                                      owner=OTHER_COUNTY))
    assert isinstance(refusal(county, city, foreign, COUNTY), Forbidden)
    assert city.counts()["issues"] == 0

    # the county parks the refused row: the issue is unfrozen and stays its own
    counts = county.counts()
    [item] = county.transfers.due(CITY, 10)
    county.transfers.record_refused(item.row.transfer_id, "PERMISSION_DENIED: no")
    assert not county.transfers.is_pending(issue_id)
    assert county.transfers.due(CITY, 10) == []
    assert county.issues.get(LEADER, issue_id).issue.owner == COUNTY
    assert county.counts() == counts
    [parked] = county.transfers.outbox_status(timedelta(hours=1))["refused"]
    assert (parked["transfer_id"], parked["error"]) == (item.row.transfer_id,
                                                        "PERMISSION_DENIED: no")
    with county.engine.connect() as conn:
        assert conn.execute(select(transfers_out.c.status)).scalar_one() == REFUSED
    # and may escalate it again
    county.transfers.request_escalation(LEADER, issue_id, "再次上报")
    assert county.transfers.is_pending(issue_id)


def test_requests_the_rules_refuse_queue_nothing(county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    with pytest.raises(RuleViolation) as twice:
        county.transfers.request_escalation(LEADER, issue_id, "再次上报")
    assert twice.value.code == "transfer_pending"
    with pytest.raises(RuleViolation):
        county.transfers.request_return(LEADER, issue_id, "退回")  # it came from no child
    with pytest.raises(RuleViolation):
        city.transfers.request_dispatch(LEADER, issue_id, "330100", "交办")  # not a child
    assert county.counts()["transfers_out"] == 1
    assert county.queued == [CITY]


def test_an_unreachable_destination_backs_off_and_resets_when_it_answers(
        county: Tier, clock: FakeClock) -> None:
    issue_id = triaged_issue(county)
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    [item] = county.transfers.due(CITY, 10)
    next_at = county.transfers.record_failure(CITY, [item.row.transfer_id], "UNAVAILABLE: x")
    assert clock.now() + timedelta(seconds=5) <= next_at <= clock.now() + timedelta(seconds=10)
    assert county.transfers.next_attempt_at(CITY) == next_at
    state = county.transfers.outbox_status(timedelta(hours=1))["destinations"][CITY]
    assert (state["depth"], state["failures"], state["last_error"]) == (1, 1, "UNAVAILABLE: x")
    county.transfers.record_reachable(CITY)
    assert county.transfers.next_attempt_at(CITY) is None
    assert county.transfers.is_pending(issue_id)  # still waiting to be shipped


# --------------------------------------------------------------------------- return


def test_a_return_hands_the_issue_back_to_the_child_it_came_from(
        county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    escalate(county, city, issue_id)
    transfer_id = city.transfers.request_return(LEADER, issue_id, "请县级继续办理")
    assert city.queued == [COUNTY]
    item = city.one(COUNTY)
    assert item.transfer is not None and item.transfer.transfer.kind == "return"
    with pytest.raises(Forbidden):
        county.transfers.accept_return(item.transfer, OTHER_COUNTY)  # not the parent
    accepted = county.transfers.accept_return(item.transfer, CITY)
    assert (accepted.new_owner, accepted.version, accepted.duplicate) == (COUNTY, 5, False)
    back = county.issues.get(LEADER, issue_id)
    assert (back.issue.owner, back.issue.state) == (COUNTY, State.RETURNED)
    assert [s.event.kind for s in back.timeline] == [
        "submitted", "triage", "escalate", "receive", "return"]
    assert city.transfers.record_accepted(transfer_id, accepted)
    assert city.issues.get(LEADER, issue_id).issue.owner == COUNTY


# --------------------------------------------------------------------------- directives


def test_a_directive_down_is_recorded_once_by_the_owner(county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    number = county.issues.get(LEADER, issue_id).issue.number
    # the city knows the issue only by its number (from a summary)
    transfer_id = city.transfers.request_directive(LEADER, number, "supervise", "请限期办结")
    assert city.queued == [COUNTY]
    item = city.one(COUNTY)
    directive = item.directive
    assert item.transfer is None and directive is not None
    assert (directive.transfer_id, directive.origin_node, directive.issue_key,
            directive.kind, directive.note, directive.issued_by) == (
        transfer_id, CITY, number, "supervise", "请限期办结", CITY)

    with pytest.raises(Forbidden):
        county.transfers.accept_directive(directive, OTHER_COUNTY)  # not from the parent
    answer = county.transfers.accept_directive(directive, CITY)
    assert answer == DirectiveAccepted(transfer_id=transfer_id, handled_by=COUNTY,
                                       forwarded=False)
    supervised = county.issues.get(LEADER, issue_id)
    assert supervised.issue.supervision_count == 1
    assert supervised.timeline[-1].event.actor.id == CITY
    counts = county.counts()
    assert county.transfers.accept_directive(directive, CITY) == dataclasses.replace(
        answer, duplicate=True)
    assert county.counts() == counts

    assert city.transfers.record_accepted(transfer_id, answer)
    assert city.transfers.due(COUNTY, 10) == []
    assert city.counts()["issues"] == 0  # a directive moves nothing at the sender
    with pytest.raises(RuleViolation):
        county.transfers.request_directive(LEADER, issue_id, "urge", None)  # owned here


def test_an_enterprise_kind_is_never_sent_down(county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    number = county.issues.get(LEADER, issue_id).issue.number
    for kind in ("rate", "enterprise_urge"):  # an enterprise's acts travel up only
        with pytest.raises(ValidationError) as refused:
            city.transfers.request_directive(LEADER, number, kind, None)
        assert refused.value.code == "directive_kind_invalid"
    assert city.queued == []


def test_a_directive_for_an_issue_owned_further_down_is_passed_on(
        county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    number = county.issues.get(LEADER, issue_id).issue.number
    # the province urges by number; the city holds no copy and passes it on to the county
    from_province = Directive(transfer_id="from-province", origin_node=PROVINCE,
                              issue_key=number, kind="urge", note="催", issued_by=PROVINCE)
    forwarded = city.transfers.accept_directive(from_province, PROVINCE)
    assert forwarded == DirectiveAccepted(transfer_id="from-province", handled_by=COUNTY,
                                          forwarded=True)
    assert city.queued == [COUNTY]
    passed_on = city.one(COUNTY).directive
    assert passed_on is not None
    assert (passed_on.origin_node, passed_on.issued_by, passed_on.kind) == (CITY, PROVINCE,
                                                                            "urge")
    assert county.transfers.accept_directive(passed_on, CITY).handled_by == COUNTY
    urged = county.issues.get(LEADER, issue_id)
    assert urged.issue.urge_count == 1
    assert (urged.timeline[-1].event.actor.kind, urged.timeline[-1].event.actor.id) == (
        ActorKind.NODE, PROVINCE)


def test_an_enterprise_urge_climbs_to_the_owner_and_is_recorded_as_its_own(
        county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    escalate(county, city, issue_id)
    catch_up(county, city, issue_id)  # the county's replica shows the city's receive
    transfer_id = county.transfers.request_upward(ENTERPRISE_A, issue_id, Urge(note="请加快"))
    assert county.queued == [CITY, CITY]
    directive = county.one(CITY).directive
    assert directive is not None
    assert (directive.kind, directive.credit_code, directive.note) == (
        "enterprise_urge", ENTERPRISE_A.credit_code, "请加快")

    with pytest.raises(Forbidden):
        city.transfers.accept_directive(directive, PROVINCE)  # up only from a child
    answer = city.transfers.accept_directive(directive, COUNTY)
    assert (answer.handled_by, answer.forwarded) == (CITY, False)
    urged = city.issues.get(LEADER, issue_id)
    assert urged.issue.urge_count == 1
    last = urged.timeline[-1].event
    assert (last.kind, last.actor.kind, last.actor.id) == (
        "urge", ActorKind.ENTERPRISE, ENTERPRISE_A.credit_code)
    assert county.transfers.record_accepted(transfer_id, answer)
    assert county.issues.get(LEADER, issue_id).issue.urge_count == 0  # the owner's to record

    # another enterprise's forged urge is refused at the owner
    forged = dataclasses.replace(directive, transfer_id="forged", credit_code="x")
    with pytest.raises(Forbidden):
        city.transfers.accept_directive(forged, COUNTY)


# --------------------------------------------------------------------------- fetch and auto


def test_fetch_serves_only_the_parent_and_related_children(county: Tier, city: Tier) -> None:
    issue_id = triaged_issue(county)
    escalate(county, city, issue_id)
    issue, history = city.transfers.fetch(issue_id, COUNTY, 2)
    assert issue.version == 4 and [e.version for e, _ in history] == [3, 4]
    with pytest.raises(Forbidden):
        city.transfers.fetch(issue_id, OTHER_COUNTY, 0)
    assert city.transfers.fetch(issue_id, PROVINCE, 0)[0] == issue


def test_auto_escalation_queues_each_candidate_once(county: Tier) -> None:
    hot, cold = triaged_issue(county), triaged_issue(county)
    asked: list[int] = []

    def candidates(min_urges: int) -> list[str]:
        asked.append(min_urges)
        return [hot]

    rule = AutoEscalation(transfers=county.transfers, candidates=candidates, after_urges=3)
    assert rule.enabled
    assert rule.run_once() == [hot]
    assert rule.run_once() == []  # pending: refused, logged, skipped
    assert asked == [3, 3]
    [item] = county.transfers.due(CITY, 10)
    assert item.transfer is not None
    assert item.transfer.transfer.actor.kind is ActorKind.SYSTEM
    assert item.transfer.transfer.payload["reason"] == "自动上报：红灯且催办达到 3 次"
    assert not county.transfers.is_pending(cold)
    assert not AutoEscalation(transfers=county.transfers, candidates=candidates,
                              after_urges=None).enabled


def test_an_envelope_naming_one_issue_twice_refuses_the_later_item(
        county: Tier, city: Tier) -> None:
    """Only a dishonest child builds one; the first item is taken, the second refused
    alone, and a resend of the envelope answers the same (nothing fails as a whole)."""
    issue_id = triaged_issue(county)
    county.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
    item = county.one(CITY)
    assert item.transfer is not None
    again = dataclasses.replace(item.transfer, transfer_id="forged-second")
    for _ in range(2):
        first, second = city.transfers.accept_batch([item.transfer, again], COUNTY)
        assert isinstance(first, Accepted)
        assert isinstance(second, DomainError)
    assert city.counts()["issues"] == 1
