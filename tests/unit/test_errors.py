"""The one error table, the message catalogue and the gRPC failure converter.

* every stable code round-trips through `to_status` / `from_rpc_error` (through a real gRPC
  call once, so the trailing metadata is known to survive the transport);
* the catalogue has zh-CN and en for every code, using only the code's parameters;
* every raise site in the tree names a code of the table with the parameters it declares
  (and no texts: the pre-catalogue `(zh, en)` constructors are gone);
* the statuses are the ones the two former tables gave.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from federation.failures import (
    CODE_KEY,
    PARAMS_KEY,
    RETRYABLE,
    RemoteError,
    from_rpc_error,
    is_retryable,
    to_status,
)
from node.domain import errors
from node.domain.errors import (
    ERRORS,
    Conflict,
    DomainError,
    ErrorSpec,
    Forbidden,
    IllegalTransition,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
    spec_of,
)
from node.domain.validation import validate_credit_code
from node.i18n import LANGUAGES, error_message, error_texts, message, template_fields
from node.web.problems import status_of as http_status_of

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_CODES = [code for code, spec in ERRORS.items() if spec.error is not None]
ADAPTER_CODES = [code for code, spec in ERRORS.items() if spec.error is None]

#: sample values for parameters whose messages format them specially
SAMPLES: dict[str, Any] = {
    "allowed": "123", "authority": "9", "kinds": ["supervise", "urge"],
    "stage": "resolve_working_days", "dates": ["2027-02-06"], "field": "title",
}


def sample_params(spec: ErrorSpec) -> dict[str, Any]:
    return {name: SAMPLES.get(name, f"<{name}>") for name in spec.params}


def build(spec: ErrorSpec) -> DomainError:
    assert spec.error is not None
    params = sample_params(spec)
    if spec.error is IllegalTransition:
        return IllegalTransition(params["state"], params["action"])
    return spec.error(spec.code, **params)


def rpc_error(status: grpc.StatusCode, details: str,
              metadata: tuple[tuple[str, str | bytes], ...]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), grpc.aio.Metadata(*metadata),
                                details)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("code", DOMAIN_CODES)
def test_every_domain_code_round_trips_through_grpc_status(code: str) -> None:
    spec = ERRORS[code]
    exc = build(spec)
    status, details, metadata = to_status(exc)
    assert status is grpc.StatusCode[spec.grpc]
    assert details == f"{exc.public_code}: {error_message(exc, 'en')}"
    back = from_rpc_error(rpc_error(status, details, metadata))
    assert type(back) is spec.error
    assert isinstance(back, DomainError)
    assert (back.code, back.params, back.details) == (exc.code, exc.params, exc.details)
    assert error_texts(back) == error_texts(exc)
    assert back.retryable is exc.retryable is spec.retryable
    assert is_retryable(rpc_error(status, details, metadata)) is spec.retryable


@pytest.mark.parametrize("code", ADAPTER_CODES)
def test_an_adapter_code_comes_back_as_a_remote_error_retryable_by_the_table(code: str) -> None:
    spec = ERRORS[code]
    back = from_rpc_error(rpc_error(grpc.StatusCode[spec.grpc], "x", ((CODE_KEY, code),)))
    assert isinstance(back, RemoteError)
    assert back.code == code and back.retryable is spec.retryable


def test_anything_but_a_domain_error_is_internal_and_says_nothing_of_itself() -> None:
    status, details, metadata = to_status(RuntimeError("database is locked at /secret/path"))
    assert (status, details) == (grpc.StatusCode.INTERNAL, "internal error (logged)")
    back = from_rpc_error(rpc_error(status, details, metadata))
    assert isinstance(back, RemoteError) and back.code == "internal" and back.retryable


@pytest.mark.parametrize("status", list(grpc.StatusCode))
def test_without_a_code_or_with_an_unknown_one_the_status_decides(
        status: grpc.StatusCode) -> None:
    for metadata in ((), ((CODE_KEY, "a_code_of_a_newer_peer"),)):
        back = from_rpc_error(rpc_error(status, "peer said no", metadata))
        assert isinstance(back, RemoteError)
        assert back.status is status and back.details == "peer said no"
        assert back.retryable is (status in RETRYABLE)


def test_unusable_parameters_are_dropped_not_trusted() -> None:
    for raw in (b"not json", b"[1, 2]", b"[" * 3000 + b"]" * 3000, b'{"x": 1e999}',
                b"x" * 5000):
        back = from_rpc_error(rpc_error(grpc.StatusCode.NOT_FOUND, "",
                                        ((CODE_KEY, "issue_not_found"), (PARAMS_KEY, raw))))
        assert isinstance(back, NotFound) and back.code == "issue_not_found"
        assert back.params == {}
        assert error_message(back, "en") == "no issue {issue}"


def test_a_peer_cannot_break_the_rebuild_with_odd_parameter_names_or_types() -> None:
    params = json.dumps({"field": 7, "code": "y", "state": None}).encode()
    back = from_rpc_error(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "d",
                                    ((CODE_KEY, "text_required"), (PARAMS_KEY, params))))
    # `code` is positional-only, so it is just a parameter: still the typed error
    assert isinstance(back, ValidationError) and back.params["code"] == "y"
    assert back.field == "7"
    back = from_rpc_error(rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "d",
                                    ((CODE_KEY, "illegal_transition"), (PARAMS_KEY, params))))
    assert isinstance(back, IllegalTransition) and back.params == {"state": "None",
                                                                    "action": ""}


def test_oversized_parameters_are_not_sent_but_the_code_is() -> None:
    exc = ValidationError("summary_malformed", field="summary", problem="x" * 10_000)
    _, _, metadata = to_status(exc)
    assert metadata == ((CODE_KEY, "summary_malformed"),)


async def test_the_code_and_parameters_survive_a_real_grpc_call() -> None:
    refusal = RuleViolation("urge_too_soon", next_allowed_at="2026-03-03T01:00:00+00:00")

    async def fail(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        status, details, metadata = to_status(refusal)
        await context.abort(status, details, metadata)

    handler = grpc.method_handlers_generic_handler("test.Errors", {
        "Fail": grpc.unary_unary_rpc_method_handler(fail)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            fail_call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/test.Errors/Fail")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await fail_call(b"", timeout=5)
    finally:
        await server.stop(None)
    back = from_rpc_error(info.value)
    assert isinstance(back, RuleViolation)
    assert (back.code, back.details) == ("urge_too_soon", refusal.details)
    assert error_texts(back) == error_texts(refusal)
    assert not back.retryable


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_catalogue_covers_exactly_the_table(lang: str) -> None:
    assert set(LANGUAGES[lang].messages) == set(ERRORS)


@pytest.mark.parametrize("code", list(ERRORS))
def test_every_message_uses_only_the_codes_parameters_and_fills_them_all(code: str) -> None:
    spec = ERRORS[code]
    used: set[str] = set()
    for lang in LANGUAGES.values():
        template = lang.messages[code]
        for name, spec_ in template_fields(template):
            assert name in spec.params, (lang.tag, code, name)
            assert spec_ in ("", "term", "list"), (lang.tag, code, spec_)
            used.add(name)
        text = message(code, sample_params(spec), lang.tag)
        assert "{" not in text and "}" not in text, (lang.tag, code, text)
        assert text.strip()
    # a private parameter exists only for a message: one must use it
    assert set(spec.private) <= used, code
    assert set(spec.private) <= set(spec.params)


def test_every_term_a_message_looks_up_exists_in_every_language() -> None:
    from node.domain.validation import _ENTITY_TYPES

    zh, en = LANGUAGES["zh-CN"], LANGUAGES["en"]
    for authority in _ENTITY_TYPES:
        assert f"authority.{authority}" in zh.terms and f"authority.{authority}" in en.terms
    for stage in ("dispatch_working_days", "resolve_working_days", "review_working_days"):
        assert f"stage.{stage}" in zh.terms


def test_messages_keep_their_wording() -> None:
    exc = ValidationError("credit_code_entity_type", field="credit_code", position=2,
                          character="9", authority="9", allowed="123")
    assert error_message(exc, "zh-CN") == (
        "统一社会信用代码第 2 位（机构类别代码）“9”对登记管理部门“工商（市场监管）”无效，"
        "应为 1、2、3 之一")
    assert error_message(exc, "en") == (
        "position 2 (entity type) '9' is not valid for registration authority '9' (market "
        "regulation); expected one of 1, 2, 3")
    assert exc.details == {"field": "credit_code", "position": 2, "character": "9"}
    assert message("urge_too_soon", {"next_allowed_at": "T"}, "zh-CN") == (
        "24小时内只能催办一次，下次可催办时间：T")


def test_a_language_tag_falls_back_by_primary_subtag_then_to_the_default() -> None:
    assert message("not_found", None, "en-GB") == "not found"
    assert message("not_found", None, "zh-Hans") == "未找到"
    assert message("not_found", None, "fr") == "未找到"
    assert message("no_such_code", {}, "en") == "no_such_code"


@pytest.mark.parametrize(("bad", "code"), [
    ("B14403001922038216", "credit_code_authority"),
    ("944403001922038216", "credit_code_entity_type"),
    ("919900001922038216", "credit_code_division_province"),
    ("91A400001922038216", "credit_code_division_digits"),
    ("913300011922038216", "credit_code_division_structure"),
    ("91440300192203821", "credit_code_length"),
    ("9144030019220382I6", "credit_code_character"),
])
def test_every_credit_code_problem_renders_in_both_languages(bad: str, code: str) -> None:
    from node.domain.validation import credit_code_check_char

    if len(bad) == 18 and "I" not in bad:
        bad = bad[:17] + credit_code_check_char(bad[:17])
    with pytest.raises(ValidationError) as info:
        validate_credit_code(bad)
    assert info.value.code == code
    for text in error_texts(info.value):
        assert "{" not in text and text


# --------------------------------------------------------------------------- constructors


def test_private_parameters_stay_out_of_the_details() -> None:
    exc = Conflict("version_mismatch", current_version=3, expected_version=2)
    assert exc.details == {"current_version": 3}
    assert exc.params == {"current_version": 3, "expected_version": 2}
    assert "2" in error_message(exc, "en") and "3" in error_message(exc, "zh-CN")


def test_errors_take_a_code_and_parameters_only_never_texts() -> None:
    with pytest.raises(TypeError):
        Forbidden("不行", "no")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ValidationError("title", "太长", "too long")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RuleViolation("no_parent", "没有", "none")  # type: ignore[call-arg]
    assert str(RuleViolation("transfer_pending", issue_id="k")) == (
        "transfer_pending(issue_id='k')")


def test_public_codes_are_what_the_api_always_answered() -> None:
    assert ValidationError("text_required", field="x").public_code == "invalid_input"
    assert NotFound("issue_not_found", issue="k").public_code == "not_found"
    assert Unauthenticated("wrong_password").public_code == "unauthenticated"
    assert IllegalTransition("closed", "urge").public_code == "illegal_transition"
    assert RuleViolation("urge_too_soon", next_allowed_at="t").public_code == "urge_too_soon"
    assert ERRORS["request_invalid"].public_code == "invalid_input"
    assert ERRORS["body_too_large"].public_code == "body_too_large"


#: what the HTTP and the gRPC adapter each answered before the one table
OLD_HTTP = {ValidationError: 422, IllegalTransition: 409, Conflict: 409, RuleViolation: 409,
            NotFound: 404, Forbidden: 403, Unauthenticated: 401}
OLD_GRPC = {ValidationError: "INVALID_ARGUMENT", Forbidden: "PERMISSION_DENIED",
            Unauthenticated: "UNAUTHENTICATED", NotFound: "NOT_FOUND",
            IllegalTransition: "FAILED_PRECONDITION", Conflict: "FAILED_PRECONDITION",
            RuleViolation: "FAILED_PRECONDITION"}
#: deliberate differences: a lost race is worth retrying (ABORTED), urging too soon is 429
CHANGED = {"concurrent_update": (409, "ABORTED"), "urge_too_soon": (429, "FAILED_PRECONDITION"),
           # sign-in back-off (node/app/accounts.py): wait, with Retry-After
           "login_throttled": (429, "FAILED_PRECONDITION"),
           "login_locked": (429, "FAILED_PRECONDITION"),
           "signin_code_too_soon": (429, "FAILED_PRECONDITION"),
           "signin_too_many": (429, "FAILED_PRECONDITION"),
           # too many live streams of one account (node/app/live.py)
           "live_streams_limit": (429, "FAILED_PRECONDITION"),
           # attachments (node/domain/attachments.py): too large, not a type taken, and a
           # file another tier holds that cannot be had now or arrived corrupted
           "attachment_too_large": (413, "RESOURCE_EXHAUSTED"),
           "attachment_issue_full": (413, "RESOURCE_EXHAUSTED"),
           "attachment_type_refused": (415, "INVALID_ARGUMENT"),
           "attachment_unavailable": (503, "UNAVAILABLE"),
           "attachment_hash_mismatch": (502, "DATA_LOSS")}


@pytest.mark.parametrize("code", DOMAIN_CODES)
def test_statuses_are_those_of_the_former_tables(code: str) -> None:
    spec = ERRORS[code]
    exc = build(spec)
    assert spec_of(exc) is spec
    assert spec.error is not None
    family = next(c for c in OLD_HTTP if issubclass(spec.error, c)) if (
        spec.error is not DomainError) else None
    expected = CHANGED.get(code) or (
        (OLD_HTTP[family], OLD_GRPC[family]) if family else (400, "FAILED_PRECONDITION"))
    assert (http_status_of(exc), spec.grpc) == expected
    assert spec.retryable is (code == "concurrent_update")


def test_an_unlisted_code_gets_its_class_row() -> None:
    assert spec_of(Forbidden("some_new_code")) is ERRORS["forbidden"]
    assert spec_of(RuleViolation("some_new_rule")) is ERRORS["rule_violation"]

    class CodecLike(ValidationError):
        pass

    assert spec_of(CodecLike("federation_message_invalid", field="f", problem="p")) is (
        ERRORS["federation_message_invalid"])


# --------------------------------------------------------------------------- raise sites

_CLASSES: dict[str, type[DomainError]] = {
    "ValidationError": ValidationError, "CodecError": ValidationError,
    "RuleViolation": RuleViolation, "NotFound": NotFound, "Forbidden": Forbidden,
    "Unauthenticated": Unauthenticated, "Conflict": Conflict, "DomainError": DomainError,
}

def _raise_sites() -> list[tuple[str, int, str, ast.Call]]:
    sites = []
    for base in ("node", "federation"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("federation/wire/") or rel == "node/domain/errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else (
                        func.attr if isinstance(func, ast.Attribute) else "")
                    if name in _CLASSES:
                        sites.append((rel, node.lineno, name, node))
    return sites


def test_every_raise_site_names_a_code_of_the_table_with_its_parameters() -> None:
    problems = []
    checked = 0
    for rel, line, name, call in _raise_sites():
        where = f"{rel}:{line}"
        if len(call.args) > 1:
            problems.append(f"{where}: {name} with positional texts")
            continue
        first = call.args[0] if call.args else None
        if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
            continue  # a computed code (e.g. f"division_{problem}"): tested by behaviour
        code = first.value
        spec = ERRORS.get(code)
        if spec is None or spec.error is None or not issubclass(_CLASSES[name], spec.error):
            problems.append(f"{where}: {name}({code!r}) is not in the table as a {name}")
            continue
        given = {k.arg for k in call.keywords if k.arg is not None}
        splat = any(k.arg is None for k in call.keywords)
        wanted = set(spec.params)
        if not (given <= wanted if splat else given == wanted):
            problems.append(f"{where}: {code} given {sorted(given)}, declared {sorted(wanted)}")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 40


def test_the_table_is_plain_data() -> None:
    # the domain holds no texts and imports nothing of the project (not even the catalogue)
    source = Path(errors.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "collections.abc", "dataclasses", "typing"}
