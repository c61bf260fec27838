"""Property-based fuzzing of every decoder at a trust boundary, and of the HTTP API.

* federation/codec.py (gRPC messages from another node): for any message — arbitrary bytes
  that parse as protobuf, mutated bytes of a valid message, valid messages with one field
  replaced by anything — the decoders raise nothing but CodecError / ValidationError.
* federation/nats/messages.decode (events on the streams): nothing but MessageError.
* node/domain/summary.decode (a child's published summary): nothing but ValidationError.
* node/domain/lifecycle create/evolve (the fold both the codec and the replicator run on
  foreign payloads): nothing but KeyError / ValueError / TypeError, which they map.
* The HTTP API, from its own OpenAPI document (schemathesis, in-process over ASGI, logged
  in): no generated request, valid or not, gets a 5xx.

The generated JSON goes beyond what json.dumps can write: nesting tens of thousands deep,
integer literals beyond int's 4300-digit limit, NaN/Infinity, numbers that overflow a float,
and any uint32 for a claimed issue version; the crashes these once caused are kept as
regression tests at the end of the file ("known crashes, fixed"); nothing is kept out of
the properties.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from federation import codec
from federation.nats import messages
from node.app.ports import StoredEvent
from node.app.transfers import DIRECTIVE_KINDS, Transfer
from node.domain import jsonsafe
from node.domain import summary as summaries
from node.domain.errors import ValidationError
from node.domain.issue import Action, Actor, ActorKind, Event, Issue
from node.domain.lifecycle import Escalate, Triage, create, decide, evolve, submit
from node.runtime import Node
from node.web.api import API, router
from tests.support.api import Template
from tests.support.data import CODE_A, ENTERPRISE_A, make_config, submit_cmd

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
COUNTY, CITY = "330522", "330500"
RULES = make_config(Path("/nonexistent")).rules()
STAFF = Actor(kind=ActorKind.STAFF, id="dispatcher")

#: ZHITONG_FUZZ_SCALE=20 runs twenty times as many examples (a deeper, slower search)
SCALE = int(os.environ.get("ZHITONG_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=150 * SCALE, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


# --------------------------------------------------------------------------- valid messages


def _history() -> tuple[Issue, list[Event], Event]:
    """A real issue (submitted, triaged) and the escalate event that would move it up."""
    issue, first = submit(submit_cmd(tags=("用地",)), issue_id=f"{COUNTY}-0001",
                          number=f"{COUNTY}-2026-000001", node=COUNTY, actor=STAFF, now=NOW,
                          rules=RULES)
    triage = decide(issue, Triage(tags=("用地", "审批"), board="工业板块", note="研判"),
                    actor=STAFF, now=NOW, rules=RULES)
    issue = evolve(issue, triage)
    escalate = decide(issue, Escalate(to=CITY, reason="本级无法解决"), actor=STAFF, now=NOW,
                      rules=RULES)
    return issue, [first, triage], escalate


def _escalate_request() -> codec.EscalateRequest:
    msg = codec.transfer_to_pb(Transfer(
        transfer_id="t-0001", origin_node=COUNTY, issue=ISSUE,
        history=tuple((e, COUNTY) for e in HISTORY), transfer=TRANSFER, transfer_node=COUNTY))
    assert isinstance(msg, codec.EscalateRequest)
    return msg


ISSUE, HISTORY, TRANSFER = _history()
VALID = _escalate_request()
VALID_BYTES = VALID.SerializeToString()
VALID_DIRECTIVE = codec.DirectiveRequest(transfer_id="d-0001", origin_node=CITY,
                                      issue_id=ISSUE.number, kind="supervise", note="督办",
                                      issued_by=CITY)
VALID_EVENT = json.loads(messages.encode(
    StoredEvent(seq=1, event_id=f"{ISSUE.id}@1", node=COUNTY, event=HISTORY[0], writer_seq=1),
    COUNTY))
VALID_SUMMARY = json.loads(summaries.encode(summaries.summarize(
    CITY, [summaries.summary_line(ISSUE, NOW, RULES.calendar)], now=NOW, by_origin=True)))

DECODE_OK = (codec.CodecError, ValidationError)


def test_the_valid_samples_decode() -> None:
    assert codec.transfer_from_pb(VALID, kind=Action.ESCALATE).issue == ISSUE
    assert codec.directive_from_pb(VALID_DIRECTIVE).kind == "supervise"
    assert messages.decode(json.dumps(VALID_EVENT).encode()).event == HISTORY[0]
    assert summaries.decode(json.dumps(VALID_SUMMARY).encode()).total == 1


# --------------------------------------------------------------------------- strategies

#: any integer json.dumps can write (up to 4300 digits), small ones most often
any_ints = st.integers() | st.builds(lambda digits, sign: sign * 10**digits - sign,
                                     st.integers(1, 4_300), st.sampled_from([1, -1]))
json_scalars = st.none() | st.booleans() | any_ints | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)


def _nested(depth: int, shape: str) -> str:
    opening, leaf, closing = {"array": ("[", "", "]"), "object": ('{"k":', "0", "}"),
                              "mixed": ('[{"k":', "0", "}]"), "open": ("[", "", "")}[shape]
    return opening * depth + leaf + closing * depth


#: JSON text that json.dumps cannot write: nested deeper than the parser's recursion limit
#: (up to 60 KB, under every size limit), integer literals beyond int's 4300-digit limit,
#: floats that overflow, the non-standard constants
hostile_json = st.one_of(
    st.builds(_nested, st.integers(0, 30_000),
              st.sampled_from(["array", "object", "mixed", "open"])),
    st.builds(lambda sign, n: sign + "9" * n, st.sampled_from(["", "-"]),
              st.integers(4_000, 20_000)),
    st.sampled_from(["1e400", "-1e400", "1" * 400 + ".5", "NaN", "Infinity", "-Infinity",
                     "[1e999]", '{"a": NaN}']),
)
#: a JSON text, well-formed or hostile
json_texts = st.builds(json.dumps, json_values) | hostile_json


class Raw(str):
    """JSON text that `_dumps` splices into the document verbatim."""


#: a value of a JSON document to be built by `_dumps`: an ordinary value, or a hostile text
#: spliced in verbatim
json_parts = json_values | hostile_json.map(Raw)


def _dumps(data: Any) -> str:
    """json.dumps, but every `Raw` value (however deep) replaced by its text verbatim."""
    raws: list[str] = []

    def placeholders(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: placeholders(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholders(v) for v in value]
        return value

    text = json.dumps(placeholders(data))
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@raw{i}@@"', raw, 1)
    return text

#: what a protobuf string can carry: any code point but a lone surrogate
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=80),
    st.sampled_from(["", " ", "\x00", "\x1b[31m", "330522", "330500", "110000", "999999",
                     "submitted", "escalate", "staff:x", "enterprise:", "node:330522",
                     "9" * 70, "长" * 6000, "<script>", "'; DROP TABLE issues; --",
                     "2026-03-02T01:00:00+00:00", "2026-03-02T01:00:00", "NaN"]),
)
uint32 = st.integers(min_value=0, max_value=2**32 - 1)
timestamps = st.builds(lambda s, n: (s, n), st.integers(-(2**40), 2**40),
                       st.integers(0, 999_999_999))


def _event(draw: st.DrawFn) -> codec.EventMessage:
    msg = codec.EventMessage(issue_id=draw(hostile_text), version=draw(uint32),
                   kind=draw(st.sampled_from(sorted(codec.EVENT_KINDS)) | hostile_text),
                   actor=draw(hostile_text), node=draw(hostile_text),
                   payload_json=draw(json_texts | hostile_text))
    if draw(st.booleans()):
        seconds, nanos = draw(timestamps)
        msg.at.seconds, msg.at.nanos = seconds, nanos
    return msg


events = st.composite(_event)()


# --------------------------------------------------------------------------- codec

#: (path, kind of value) of every scalar field a mutation may replace
_FIELDS: list[tuple[str, str]] = [
    ("transfer_id", "text"), ("origin_node", "text"),
    *[(f"issue.{f}", "text") for f in ("id", "number", "origin", "owner", "state", "channel",
                                       "title", "content", "board", "department", "reply",
                                       "rejection_reason", "rating", "rating_comment",
                                       "outcome", "revisit_result", "came_from")],
    *[(f"issue.enterprise.{f}", "text") for f in ("name", "credit_code", "contact_phone")],
    ("issue.version", "version"),
    *[(f"issue.{f}", "int") for f in ("ladder_step", "urge_count", "reopen_count",
                                      "supervision_count")],
    ("issue.deadline.kind", "text"),
    *[(f"{p}.{f}", "text") for p in ("history[0]", "history[1]", "transfer")
      for f in ("issue_id", "kind", "actor", "node", "payload_json")],
    *[(f"{p}.version", "int") for p in ("history[0]", "history[1]", "transfer")],
    *[(f"{p}.seconds", "ts") for p in ("issue.received_at", "issue.updated_at",
                                        "issue.deadline.due", "history[0].at", "transfer.at",
                                        "issue.resolved_at")],
    *[(f"{p}.nanos", "int32") for p in ("issue.received_at", "transfer.at")],
]


def _resolve(msg: Any, path: str) -> tuple[Any, str] | None:
    """The message holding the field at `path`, or None if a history entry is gone."""
    *parents, leaf = path.split(".")
    for part in parents:
        if part.endswith("]"):
            name, index = part[:-1].split("[")
            items = getattr(msg, name)
            if int(index) >= len(items):
                return None
            msg = items[int(index)]
        else:
            msg = getattr(msg, part)
    return msg, leaf


@st.composite
def mutated_requests(draw: st.DrawFn) -> codec.EscalateRequest:
    msg = codec.EscalateRequest()
    msg.CopyFrom(VALID)
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.integers(0, 9))
        if choice == 0 and msg.history:  # a history event dropped, duplicated or replaced
            i = draw(st.integers(0, len(msg.history) - 1))
            how = draw(st.sampled_from(["drop", "dup", "replace"]))
            if how == "drop":
                del msg.history[i]
            elif how == "dup":
                msg.history.append(msg.history[i])
            else:
                msg.history[i].CopyFrom(draw(events))
        elif choice == 1 and msg.history:  # one key of a payload set to anything
            i = draw(st.integers(0, len(msg.history) - 1))
            try:
                payload = jsonsafe.loads(msg.history[i].payload_json)
            except jsonsafe.JSONError:
                continue
            if isinstance(payload, dict) and payload:
                key = draw(st.sampled_from(sorted(payload)) | st.text(max_size=10))
                payload[key] = draw(json_parts)
                msg.history[i].payload_json = _dumps(payload)
        elif choice == 2:
            msg.ClearField(draw(st.sampled_from(["issue", "transfer", "history"])))
        elif choice == 3:
            msg.issue.tags.append(draw(hostile_text))
        else:
            path, kind = draw(st.sampled_from(_FIELDS))
            found = _resolve(msg, path)
            value: Any = {"text": hostile_text, "int": uint32,
                          "ts": st.integers(-(2**40), 2**40),
                          "int32": st.integers(-(2**31), 2**31 - 1),
                          # small ones most often, so that some are right
                          "version": st.integers(0, 10) | uint32}[kind]
            if found is not None:
                setattr(found[0], found[1], draw(value))
    return msg


def _decodes_or_refuses(decode: Callable[[], object]) -> None:
    with contextlib.suppress(*DECODE_OK):
        decode()


@FUZZ
@given(mutated_requests())
def test_mutated_transfers_decode_or_are_refused(msg: codec.EscalateRequest) -> None:
    _decodes_or_refuses(lambda: codec.transfer_from_pb(msg, kind=Action.ESCALATE))
    returned = codec.ReturnRequest()
    returned.ParseFromString(msg.SerializeToString())
    _decodes_or_refuses(lambda: codec.transfer_from_pb(returned, kind=Action.RETURN))
    _decodes_or_refuses(lambda: codec.issue_from_pb(msg.issue))
    _decodes_or_refuses(lambda: codec.fetch_response_from_pb(
        codec.FetchResponse(issue=msg.issue, history=msg.history)))


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID_BYTES)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        how = draw(st.integers(0, 2))
        if how == 0:
            data[i] = draw(st.integers(0, 255))
        elif how == 1:
            del data[i]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@FUZZ
@given(mutated_bytes() | st.binary(max_size=600))
def test_arbitrary_bytes_decode_or_are_refused(data: bytes) -> None:
    for cls, decode in (
        (codec.EscalateRequest, lambda m: codec.transfer_from_pb(m, kind=Action.ESCALATE)),
        (codec.ReturnRequest, lambda m: codec.transfer_from_pb(m, kind=Action.RETURN)),
        (codec.IssueSnapshot, codec.issue_from_pb),
        (codec.EventMessage, codec.event_from_pb),
        (codec.DirectiveRequest, codec.directive_from_pb),
        (codec.FetchResponse, codec.fetch_response_from_pb),
        (codec.TransferAccepted, codec.accepted_from_pb),
    ):
        try:
            msg = cls.FromString(data)
        except DecodeError:
            continue  # grpc refuses these before the servicer runs
        _decodes_or_refuses(lambda m=msg, d=decode: d(m))  # type: ignore[misc]


@FUZZ
@given(events)
def test_arbitrary_events_decode_or_are_refused(msg: codec.EventMessage) -> None:
    _decodes_or_refuses(lambda: codec.event_from_pb(msg))


@FUZZ
@given(st.builds(codec.DirectiveRequest, transfer_id=hostile_text, origin_node=hostile_text,
                 issue_id=hostile_text,
                 kind=st.sampled_from(DIRECTIVE_KINDS) | hostile_text,
                 note=hostile_text, issued_by=hostile_text,
                 rating=st.sampled_from(["satisfied", "unsatisfied"]) | hostile_text,
                 credit_code=st.sampled_from([ISSUE.enterprise.credit_code]) | hostile_text))
def test_arbitrary_directives_decode_or_are_refused(msg: codec.DirectiveRequest) -> None:
    _decodes_or_refuses(lambda: codec.directive_from_pb(msg))


# --------------------------------------------------------------------------- the fold


@FUZZ
@given(st.sampled_from(range(len(HISTORY) + 1)), st.text(max_size=12), json_values,
       st.sampled_from(sorted(codec.EVENT_KINDS)))
def test_the_fold_of_a_foreign_payload_raises_only_what_its_callers_map(
    index: int, key: str, value: Any, kind: str
) -> None:
    """codec.check_history and Replicator.handle both catch KeyError/ValueError/TypeError."""
    base = [*HISTORY, TRANSFER][index]
    payload = dict(base.payload)
    payload[key if key or not payload else next(iter(payload))] = value
    event = Event(issue_id=ISSUE.id, version=base.version, kind=kind if index else "submitted",
                  actor=STAFF, at=NOW, payload=payload)
    try:
        if event.version == 1:
            create(event)
        else:
            previous = create(HISTORY[0]) if event.version == 2 else evolve(
                create(HISTORY[0]), HISTORY[1])
            evolve(previous, event)
    except (KeyError, ValueError, TypeError):
        pass


# --------------------------------------------------------------------------- streams


@st.composite
def mutated_event_messages(draw: st.DrawFn) -> bytes:
    data: dict[str, Any] = copy.deepcopy(VALID_EVENT)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(data)) | st.text(max_size=10))
        if draw(st.booleans()) and key in data:
            del data[key]
        else:
            data[key] = draw(json_parts | hostile_text)
    return _dumps(data).encode()


@FUZZ
@given(mutated_event_messages() | st.binary(max_size=300) | json_texts.map(str.encode))
@example(json.dumps({**VALID_EVENT, "at": "2026-03-02T01:00:00"}).encode())  # naive time
@example(b"\xef\xbb\xbf" + json.dumps(VALID_EVENT).encode())  # BOM
@example(b"A" * (messages.MAX_MESSAGE_BYTES + 1))
def test_event_messages_decode_or_are_refused(raw: bytes) -> None:
    with contextlib.suppress(messages.MessageError):
        messages.decode(raw)


@st.composite
def mutated_summaries(draw: st.DrawFn) -> bytes:
    data: dict[str, Any] = copy.deepcopy(VALID_SUMMARY)
    for _ in range(draw(st.integers(1, 3))):
        target = data
        children = data.get("children")
        if draw(st.booleans()) and isinstance(children, dict) and children:
            child = children[draw(st.sampled_from(sorted(children)))]
            target = child if isinstance(child, dict) else data
        key = draw(st.sampled_from(sorted(target)) | st.text(max_size=10))
        if draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = draw(json_parts | hostile_text)
    return _dumps(data).encode()


@FUZZ
@given(mutated_summaries() | st.binary(max_size=300) | json_texts.map(str.encode))
def test_summaries_decode_or_are_refused(raw: bytes) -> None:
    with contextlib.suppress(ValidationError):
        summaries.decode(raw)


# --------------------------------------------------------------------------- known crashes, fixed
# Each of these once escaped its decoder (found by the properties above, which were bounded
# to stay green until the fixes): node/domain/jsonsafe.py now bounds nesting and numbers
# before any decoder sees them, and codec.check_history never sizes anything by a claim.

DEEP = b"[" * 30_000 + b"]" * 30_000
HUGE_INT = b"9" * 5_000


def test_deeply_nested_event_messages_are_refused() -> None:
    """Was RecursionError, which Replicator.handle did not catch (never dead-lettered)."""
    with pytest.raises(messages.MessageError):
        messages.decode(DEEP)


@pytest.mark.parametrize("raw", [
    pytest.param(b'{"version": ' + HUGE_INT + b"}", id="over-4300-digits"),
    pytest.param(json.dumps({**VALID_EVENT, "version": 10**40}).encode(), id="huge-version"),
    pytest.param(json.dumps({**VALID_EVENT, "writer_seq": 2**63}).encode(),
                 id="writer-seq-over-int64"),
    pytest.param(json.dumps({**VALID_EVENT, "payload": {**VALID_EVENT["payload"],
                                                        "x": float("nan")}}).encode(),
                 id="nan"),
])
def test_event_messages_with_huge_numbers_are_refused(raw: bytes) -> None:
    """Was json's ValueError for an integer of more than 4300 digits."""
    with pytest.raises(messages.MessageError):
        messages.decode(raw)


@pytest.mark.parametrize("raw", [
    pytest.param(DEEP, id="deeply-nested"),
    pytest.param(json.dumps({**VALID_SUMMARY, "handling_hours": 10**400}).encode(),
                 id="huge-handling-hours"),
    pytest.param(json.dumps({**VALID_SUMMARY, "handling_hours": 10**20}).encode(),
                 id="handling-hours-out-of-range"),
    pytest.param(json.dumps({**VALID_SUMMARY, "handling_hours": float("inf")}).encode(),
                 id="infinite-handling-hours"),
    pytest.param(json.dumps({**VALID_SUMMARY, "total": 10**30}).encode(), id="huge-total"),
    pytest.param(json.dumps({**VALID_SUMMARY, "sums": {"handled": -1}}).encode(),
                 id="negative-count"),
    pytest.param(json.dumps({**VALID_SUMMARY, "tags": {"用地": True}}).encode(),
                 id="boolean-count"),
    pytest.param(json.dumps({**VALID_SUMMARY, "as_of": "2026-03-02T01:00:00"}).encode(),
                 id="naive-as-of"),
])
def test_malformed_summaries_are_refused(raw: bytes) -> None:
    """Was RecursionError / OverflowError (float(10**400)), which stopped the province from
    computing its summary; a naive as_of would have broken fold's max() the same way."""
    with pytest.raises(ValidationError):
        summaries.decode(raw)


def test_deeply_nested_payloads_are_refused() -> None:
    """Was RecursionError: gRPC UNKNOWN, retried by the sender, instead of INVALID_ARGUMENT."""
    msg = codec.EscalateRequest()
    msg.CopyFrom(VALID)
    msg.history[1].payload_json = DEEP.decode()
    with pytest.raises(codec.CodecError):
        codec.transfer_from_pb(msg, kind=Action.ESCALATE)


@pytest.mark.parametrize("version", [codec.MAX_HISTORY + 1, 2**32 - 1])
def test_a_huge_claimed_version_is_refused_without_allocating(
    tmp_path: Path, version: int
) -> None:
    """Was list(range(1, issue.version + 1)): MemoryError for 2**32 - 1, and gigabytes (the
    OOM killer) for versions around 10**8..10**9."""
    msg = codec.EscalateRequest()
    msg.CopyFrom(VALID)
    msg.issue.version = version
    (tmp_path / "request.bin").write_bytes(msg.SerializeToString())
    program = (  # in a child process whose address space is capped at 1.5 GB
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**29, 3 * 2**29))\n"
        "from federation import codec\n"
        "from node.domain.issue import Action\n"
        "msg = codec.EscalateRequest.FromString(open(sys.argv[1], 'rb').read())\n"
        "try:\n"
        "    codec.transfer_from_pb(msg, kind=Action.ESCALATE)\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__)\n")
    result = subprocess.run([sys.executable, "-c", program, str(tmp_path / "request.bin")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.stdout.strip() == "CodecError", (result.stdout, result.stderr[-500:])


def test_a_history_longer_than_claimed_is_refused() -> None:
    msg = codec.EscalateRequest()
    msg.CopyFrom(VALID)
    msg.history.append(msg.history[-1])
    with pytest.raises(codec.CodecError, match=r"1\.\.version"):
        codec.transfer_from_pb(msg, kind=Action.ESCALATE)
    too_long = codec.FetchResponse(issue=VALID.issue,
                                history=[VALID.history[0]] * (codec.MAX_HISTORY + 1))
    with pytest.raises(codec.CodecError, match="more than"):
        codec.fetch_response_from_pb(too_long)


def test_an_out_of_range_sample_id_is_a_clear_refusal(api: Any) -> None:
    resp = api.client.get(f"{API}/revisit-samples/{2**63}", headers=api.headers("viewer"))
    assert resp.status_code in (404, 422)


# --------------------------------------------------------------------------- the HTTP API

#: Every operation of the API's OpenAPI document (built from the router alone, so that the
#: tests can be listed without a node; the fuzzing itself reads the live app's document).
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in get_openapi(title="zhitong", version="1", routes=router.routes)[
        "paths"].items()
    for method in item
)
EXAMPLES = {GenerationMode.POSITIVE: 15 * SCALE, GenerationMode.NEGATIVE: 10 * SCALE}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_server_error(
    api_node: Node, api_template: Template, method: str, path: str
) -> None:
    """schemathesis, in-process over ASGI, logged in as a leader (the widest role).

    Every other case is steered deeper than a schema can say: it names a real issue, and a
    submission carries a valid credit code and phone, so that the domain rules run too."""
    issue, _ = api_node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", api_node.app)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {api_template.tokens['leader']}"}
    calls = itertools.count()
    problems: list[str] = []
    for mode, count in EXAMPLES.items():

        @given(case=operation.as_strategy(generation_mode=mode), mode=st.just(mode))
        @settings(max_examples=count, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case[Any], mode: GenerationMode) -> None:
            if next(calls) % 2:
                if case.path_parameters and "key" in case.path_parameters:
                    case.path_parameters["key"] = issue.number
                if isinstance(case.body, dict) and "credit_code" in case.body:
                    case.body.update(credit_code=CODE_A, contact_phone="13905720001")
            response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(f"{mode}: {case.as_curl_command()} -> {response.status_code}")
            elif response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/json")
                assert "error" in response.json()

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (GET /health)
    assert problems == []
