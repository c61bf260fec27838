"""Every message federation/codec.py translates survives the round trip: app or domain
value → protobuf → bytes → protobuf → the same value."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message

from federation import codec
from node.app.transfers import Accepted, Directive, DirectiveAccepted, Transfer
from node.domain.errors import Forbidden, ValidationError
from node.domain.issue import (
    Action,
    Actor,
    ActorKind,
    Deadline,
    DeadlineKind,
    Event,
    Issue,
    Rating,
    RevisitResult,
)
from node.domain.lifecycle import Escalate, Receive, Return, Triage, decide, evolve, submit
from tests.support.data import CODE_A, make_config, submit_cmd

NOW = datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC)
COUNTY, CITY = "330522", "330500"
RULES = make_config(Path("/nonexistent")).rules()
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")
CITY_NODE = Actor(kind=ActorKind.NODE, id=CITY)

M = TypeVar("M", bound=Message)


def wire(msg: M) -> M:
    """The message as the other node parses it."""
    return type(msg).FromString(msg.SerializeToString())


def escalated() -> tuple[Issue, list[tuple[Event, str]], Event]:
    """A real issue (submitted, triaged at the county) and its escalate event."""
    issue, first = submit(submit_cmd(tags=("用地",)), issue_id=f"{COUNTY}-0001",
                          number=f"{COUNTY}-2026-000001", node=COUNTY, actor=STAFF, now=NOW,
                          rules=RULES)
    triage = decide(issue, Triage(tags=("用地", "审批"), board="工业板块", note="研判"),
                    actor=STAFF, now=NOW, rules=RULES)
    issue = evolve(issue, triage)
    escalate = decide(issue, Escalate(to=CITY, reason="本级无法解决"), actor=STAFF, now=NOW,
                      rules=RULES)
    return issue, [(first, COUNTY), (triage, COUNTY)], escalate


def test_an_event_round_trips_with_its_writer() -> None:
    _, history, escalate = escalated()
    for event, node in [*history, (escalate, COUNTY)]:
        assert codec.event_from_pb(wire(codec.event_to_pb(event, node))) == (event, node)


def test_an_issue_round_trips_with_every_optional_field() -> None:
    issue, _, _ = escalated()
    full = dataclasses.replace(
        issue, department="经信局", reply="已协调解决", rejection_reason="不属于受理范围",
        rating=Rating.UNSATISFIED, rating_comment="还需跟进", outcome="resolved",
        revisit_result=RevisitResult.SATISFIED, came_from="330523",
        resolve_due=NOW + timedelta(days=10), last_enterprise_urge_at=NOW,
        resolved_at=NOW + timedelta(days=2), closed_at=NOW + timedelta(days=3),
        deadline=Deadline(kind=DeadlineKind.RESOLVE, start=NOW, due=NOW + timedelta(days=5)),
        urge_count=2, reopen_count=1, supervision_count=3, ladder_step=1)
    for value in (issue, full):
        assert codec.issue_from_pb(wire(codec.issue_to_pb(value))) == value


def test_an_escalation_round_trips() -> None:
    issue, history, escalate = escalated()
    transfer = Transfer(transfer_id="t-0001", origin_node=COUNTY, issue=issue,
                        history=tuple(history), transfer=escalate, transfer_node=COUNTY)
    msg = codec.transfer_to_pb(transfer)
    assert isinstance(msg, codec.EscalateRequest)
    assert codec.transfer_from_pb(wire(msg), kind=Action.ESCALATE) == transfer


def test_a_return_round_trips() -> None:
    issue, history, escalate = escalated()
    at_city = evolve(issue, escalate)
    received = decide(at_city, Receive(came_from=COUNTY), actor=CITY_NODE, now=NOW,
                      rules=RULES)
    at_city = evolve(at_city, received)
    back = decide(at_city, Return(to=COUNTY, instructions="请县级继续办理"), actor=STAFF,
                  now=NOW, rules=RULES)
    transfer = Transfer(transfer_id="t-0002", origin_node=CITY, issue=at_city,
                        history=(*history, (escalate, COUNTY), (received, CITY)),
                        transfer=back, transfer_node=CITY)
    msg = codec.transfer_to_pb(transfer)
    assert isinstance(msg, codec.ReturnRequest)
    assert codec.transfer_from_pb(wire(msg), kind=Action.RETURN) == transfer


@pytest.mark.parametrize("duplicate", [False, True])
def test_an_acceptance_round_trips(duplicate: bool) -> None:
    accepted = Accepted(transfer_id="t-0001", issue_id=f"{COUNTY}-0001", new_owner=CITY,
                        number=f"{COUNTY}-2026-000001", version=4, accepted_at=NOW,
                        duplicate=duplicate)
    assert codec.accepted_from_pb(wire(codec.accepted_to_pb(accepted))) == accepted
    assert Accepted.from_json(accepted.to_json(), duplicate=duplicate) == accepted


@pytest.mark.parametrize("directive", [
    Directive(transfer_id="d-0001", origin_node=CITY, issue_key=f"{COUNTY}-2026-000001",
              kind="supervise", note="请限期办结", issued_by="330000"),
    Directive(transfer_id="d-0002", origin_node=CITY, issue_key=f"{COUNTY}-0001",
              kind="urge", note=None, issued_by=CITY),
    Directive(transfer_id="d-0003", origin_node=COUNTY, issue_key=f"{COUNTY}-0001",
              kind="enterprise_urge", note="请加快", issued_by=COUNTY, credit_code=CODE_A),
    Directive(transfer_id="d-0004", origin_node=COUNTY, issue_key=f"{COUNTY}-0001",
              kind="rate", note=None, issued_by=COUNTY, rating=Rating.SATISFIED.value,
              credit_code=CODE_A),
    Directive(transfer_id="d-0005", origin_node=COUNTY, issue_key=f"{COUNTY}-0001",
              kind="enterprise_attach", note=None, issued_by=COUNTY, credit_code=CODE_A,
              attachment={"attachment": {
                  "id": f"{COUNTY}-{'ab' * 16}", "sha256": "0f" * 32, "size": 1234,
                  "content_type": "image/jpeg", "name": "补充照片.jpg", "origin": COUNTY}}),
], ids=lambda d: d.kind)
def test_a_directive_round_trips(directive: Directive) -> None:
    assert codec.directive_from_pb(wire(codec.directive_to_pb(directive))) == directive


GOOD_FILE = {"id": f"{COUNTY}-{'ab' * 16}", "sha256": "0f" * 32, "size": 1234,
             "content_type": "image/jpeg", "name": "a.jpg", "origin": COUNTY}


@pytest.mark.parametrize(("kind", "attachment_json"), [
    ("enterprise_attach", ""),  # no file
    ("enterprise_attach", "not json"),
    ("enterprise_attach", '{"attachment": {"sha256": "xyz"}}'),
    ("enterprise_attach", '{"attachment": ' + str(GOOD_FILE).replace("'", '"')[:-1]
     + ', "ref": "x@1", "ref_kind": "resolve"}}'),  # an enterprise's file names no event
    ("enterprise_attach", '{"attachment": ' + str({**GOOD_FILE, "size": -1}
                                                   ).replace("'", '"') + "}"),
    ("enterprise_attach", "[" * 5000),
    ("enterprise_urge", '{"attachment": ' + str(GOOD_FILE).replace("'", '"') + "}"),
])
def test_a_directive_with_a_malformed_file_is_refused(kind: str, attachment_json: str) -> None:
    msg = codec.directive_to_pb(Directive(
        transfer_id="d-0006", origin_node=COUNTY, issue_key=f"{COUNTY}-0001", kind=kind,
        note=None, issued_by=COUNTY, credit_code=CODE_A))
    msg.attachment_json = attachment_json
    with pytest.raises(codec.CodecError):
        codec.directive_from_pb(wire(msg))


def test_a_directives_file_travels_as_checked_and_nothing_else() -> None:
    msg = codec.directive_to_pb(Directive(
        transfer_id="d-0007", origin_node=COUNTY, issue_key=f"{COUNTY}-0001",
        kind="enterprise_attach", note=None, issued_by=COUNTY, credit_code=CODE_A))
    msg.attachment_json = ('{"attachment": ' + str({**GOOD_FILE, "extra": "x"}).replace(
        "'", '"') + ', "state": "closed"}')
    got = codec.directive_from_pb(wire(msg)).attachment
    assert got == {"attachment": GOOD_FILE}  # the extras dropped, the name cleaned


@pytest.mark.parametrize("answer", [
    DirectiveAccepted(transfer_id="d-0001", handled_by=COUNTY, forwarded=False),
    DirectiveAccepted(transfer_id="d-0001", handled_by=CITY, forwarded=True, duplicate=True),
])
def test_a_directive_acceptance_round_trips(answer: DirectiveAccepted) -> None:
    assert codec.directive_accepted_from_pb(wire(codec.directive_accepted_to_pb(answer))) == (
        answer)
    assert DirectiveAccepted.from_json(answer.to_json(), duplicate=answer.duplicate) == answer


def test_a_fetch_round_trips() -> None:
    issue, history, _ = escalated()
    request = (issue.id, 1)
    assert codec.fetch_request_from_pb(wire(codec.fetch_request_to_pb(*request))) == request
    response = codec.fetch_response_to_pb(issue, history[1:])
    assert codec.fetch_response_from_pb(wire(response)) == (issue, history[1:])


def test_a_watermark_round_trips() -> None:
    assert wire(codec.watermark_request_to_pb()) == codec.WatermarkRequest()
    assert codec.watermark_from_pb(wire(codec.watermark_to_pb(41))) == 41


def test_an_envelope_and_its_answer_round_trip() -> None:
    issue, history, escalate = escalated()
    transfers = [Transfer(transfer_id=f"t-000{k}", origin_node=COUNTY, issue=issue,
                          history=tuple(history), transfer=escalate, transfer_node=COUNTY)
                 for k in range(3)]
    msg, n = codec.pack_envelope("b-1", COUNTY, transfers)
    assert n == 3
    decoded = codec.envelope_from_pb(wire(msg))
    assert (decoded.batch_id, decoded.origin_node) == ("b-1", COUNTY)
    assert decoded.items == tuple(transfers)
    assert decoded.transfer_ids == ("t-0000", "t-0001", "t-0002")
    # packed up to a size: the first one always, the rest wait
    one, _ = codec.pack_envelope("b-2", COUNTY, transfers[:1])
    assert codec.pack_envelope("b-2", COUNTY, transfers, max_bytes=one.ByteSize())[1] == 1
    accepted = Accepted(transfer_id="t-0000", issue_id=issue.id, new_owner=CITY,
                        number=issue.number, version=4, accepted_at=NOW)
    refusal = Forbidden("caller_not_owner", caller=COUNTY, issue_id=issue.id)
    answer = codec.envelope_result_to_pb("b-1", [("t-0000", accepted), ("t-0001", refusal)])
    [(tid0, got), (tid1, error)] = codec.envelope_result_from_pb(wire(answer))
    assert (tid0, got) == ("t-0000", accepted)
    assert tid1 == "t-0001" and isinstance(error, Forbidden)
    assert (error.code, error.params) == (refusal.code, refusal.params)


def test_a_malformed_item_is_refused_alone_a_malformed_envelope_whole() -> None:
    issue, history, escalate = escalated()
    good = codec.transfer_to_pb(Transfer(transfer_id="t-1", origin_node=COUNTY, issue=issue,
                                         history=tuple(history), transfer=escalate,
                                         transfer_node=COUNTY))
    assert isinstance(good, codec.EscalateRequest)
    bad = codec.EscalateRequest()
    bad.CopyFrom(good)
    bad.transfer.kind = "return"
    msg = codec.TransferEnvelope(batch_id="b", origin_node=COUNTY, items=[
        codec.TransferItem(escalate=good), codec.TransferItem(escalate=bad),
        codec.TransferItem(), codec.TransferItem(return_down=codec.ReturnRequest())])
    first, *refused = codec.envelope_from_pb(wire(msg)).items
    assert isinstance(first, Transfer)
    assert all(isinstance(r, ValidationError) for r in refused)
    for envelope in (codec.TransferEnvelope(batch_id="b", origin_node=COUNTY),
                     codec.TransferEnvelope(batch_id="", origin_node=COUNTY, items=msg.items),
                     codec.TransferEnvelope(batch_id="b", origin_node="x", items=msg.items),
                     codec.TransferEnvelope(batch_id="b", origin_node=COUNTY, items=[
                         codec.TransferItem(escalate=good)] * (codec.MAX_BATCH_ITEMS + 1))):
        with pytest.raises(ValidationError):
            codec.envelope_from_pb(envelope)


ENCODERS: list[Callable[..., Any]] = [
    codec.envelope_result_to_pb,
    codec.event_to_pb, codec.issue_to_pb, codec.transfer_to_pb, codec.accepted_to_pb,
    codec.directive_to_pb, codec.directive_accepted_to_pb, codec.fetch_request_to_pb,
    codec.fetch_response_to_pb, codec.watermark_request_to_pb, codec.watermark_to_pb,
    codec.attachment_request_to_pb, codec.attachment_chunk_to_pb,
]


def test_attachment_request_and_chunk_round_trip() -> None:
    sha = "ab" * 32
    request = wire(codec.attachment_request_to_pb(sha, "330522-x", "330500"))
    assert codec.attachment_request_from_pb(request) == (sha, "330522-x", "330500")
    for bad in ("AB" * 32, "ab" * 31, ""):
        with pytest.raises(ValidationError):
            codec.attachment_request_from_pb(codec.attachment_request_to_pb(bad, "k", "c"))
    chunk = wire(codec.attachment_chunk_to_pb(b"\x00\xff" * 10, size=20,
                                              content_type="image/png"))
    assert codec.attachment_chunk_from_pb(chunk) == b"\x00\xff" * 10
    assert (chunk.size, chunk.content_type) == (20, "image/png")
    with pytest.raises(ValidationError):
        codec.attachment_chunk_from_pb(codec.attachment_chunk_to_pb(
            b"x" * (2 * codec.ATTACHMENT_CHUNK_BYTES + 1)))


def test_every_encoder_is_covered_here() -> None:
    """A new `*_to_pb` in the codec needs its round trip in this module."""
    found = {name for name in vars(codec) if name.endswith("_to_pb") and name != "ts_to_pb"}
    assert found == {f.__name__ for f in ENCODERS}
