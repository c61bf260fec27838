"""Errors across the gRPC boundary, both ways, read from the one error table.

Server side, `to_status(exc)` gives what a servicer aborts with: the gRPC status of the
error's row in `node.domain.errors.ERRORS`, a human-readable details string (the public code
and the English text, for logs and operators), and trailing metadata carrying the stable
code (`zhitong-error-code`) and the parameters as UTF-8 JSON (`zhitong-error-params-bin`, a
binary key because parameters may hold any text). Anything that is not a domain error is a
bug or a failing dependency on this node: `internal`, with nothing of the exception.

Client side, `from_rpc_error(err)` rebuilds the typed domain error from that metadata — the
same class, code and parameters the peer raised, so its message renders from this node's
catalogue — or, when there is no code (a transport failure, a peer without the metadata),
or the code is an adapter's own (`internal`) or unknown here (a newer peer), a
`RemoteError`. Both have `retryable`: from the table for a known code, else from the gRPC
status (`RETRYABLE`). Parking versus retrying is decided from that, never from text.

A batch call (TransferBatch) answers each refused item with the same four values as
fields instead of a status (`error_fields`, read back by `from_fields`), so one refused
transfer of an envelope is parked or retried exactly as the same refusal of a unary call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from node.domain.errors import ERRORS, DomainError, spec_of
from node.domain.jsonsafe import JSONError, loads
from node.i18n import error_message

__all__ = [
    "CODE_KEY",
    "PARAMS_KEY",
    "RETRYABLE",
    "RemoteError",
    "describe",
    "error_fields",
    "from_fields",
    "from_rpc_error",
    "is_retryable",
    "status_of",
    "to_status",
]

CODE_KEY = "zhitong-error-code"
PARAMS_KEY = "zhitong-error-params-bin"
#: parameters larger than this are not sent (the code still is): headers have a size limit
MAX_PARAMS_BYTES = 4096
INTERNAL_DETAILS = "internal error (logged)"

#: For a failure without a known code: worth retrying when the peer or the path is down or
#: busy. Everything else is a refusal that the same request will meet again, so it is
#: parked (dead-lettered), never retried.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)

Metadata = tuple[tuple[str, str | bytes], ...]


class RemoteError(Exception):
    """A failed call that is not a domain error this node knows: a transport failure (no
    code), an adapter's own code such as `internal`, or a code unknown here."""

    def __init__(self, status: grpc.StatusCode, details: str, *, code: str | None = None,
                 params: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status.name}: {details}")
        self.status = status
        self.details = details
        self.code = code
        self.params: dict[str, Any] = dict(params or {})

    @property
    def retryable(self) -> bool:
        spec = ERRORS.get(self.code) if self.code is not None else None
        return spec.retryable if spec is not None else self.status in RETRYABLE


def status_of(exc: DomainError) -> grpc.StatusCode:
    return grpc.StatusCode[spec_of(exc).grpc]


def describe(exc: DomainError) -> str:
    return f"{exc.public_code}: {error_message(exc, 'en')}"


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str, Metadata]:
    """(status, details, trailing metadata) to abort a call with, for any exception."""
    status, details, code, params = error_fields(exc)
    metadata: list[tuple[str, str | bytes]] = [(CODE_KEY, code)]
    if params:
        metadata.append((PARAMS_KEY, params))
    return status, details, tuple(metadata)


def error_fields(exc: BaseException) -> tuple[grpc.StatusCode, str, str, bytes]:
    """(status, details, code, parameters as UTF-8 JSON or b"") for any exception: what
    `to_status` sends as a status and trailing metadata, as plain values — a batch call
    answers each refused item with them (codec.ItemError)."""
    if not isinstance(exc, DomainError):
        internal = ERRORS["internal"]
        return grpc.StatusCode[internal.grpc], INTERNAL_DETAILS, internal.code, b""
    encoded = b""
    if exc.params:
        encoded = json.dumps(exc.params, ensure_ascii=False, default=str,
                             separators=(",", ":")).encode()
        if len(encoded) > MAX_PARAMS_BYTES:
            encoded = b""
    return status_of(exc), describe(exc), exc.code, encoded


def from_rpc_error(err: grpc.RpcError) -> Exception:
    """The typed error a failed call carries (a DomainError), else a RemoteError."""
    code, params = _read_metadata(err.trailing_metadata() or ())
    return _typed(err.code(), err.details() or "", code, params)


def from_fields(status: str, details: str, code: str, params: bytes) -> Exception:
    """The typed error of one refused item of a batch (the fields `error_fields` gave the
    peer), else a RemoteError; an unknown status name reads as UNKNOWN."""
    try:
        grpc_status = grpc.StatusCode[status]
    except KeyError:
        grpc_status = grpc.StatusCode.UNKNOWN
    return _typed(grpc_status, details, code or None, _read_params(params))


def _typed(status: grpc.StatusCode, details: str, code: str | None,
           params: dict[str, Any]) -> Exception:
    spec = ERRORS.get(code) if code is not None else None
    if spec is not None and spec.error is not None:
        try:
            return spec.error.rebuild(code or "", params)
        except TypeError:  # parameters that do not fit the class: keep what is known
            pass
    return RemoteError(status, details, code=code, params=params)


def is_retryable(exc: BaseException) -> bool:
    """Whether the request that failed with `exc` may succeed if simply sent again."""
    if isinstance(exc, grpc.RpcError):
        exc = from_rpc_error(exc)
    if isinstance(exc, DomainError | RemoteError):
        return exc.retryable
    return False


def _read_metadata(metadata: Iterable[Any]) -> tuple[str | None, dict[str, Any]]:
    code: str | None = None
    params: dict[str, Any] = {}
    for item in metadata:
        key, value = item if isinstance(item, tuple) else (item.key, item.value)
        if key == CODE_KEY:
            code = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        elif key == PARAMS_KEY:
            params = _read_params(value) or params
    return code, params


def _read_params(value: bytes | str) -> dict[str, Any]:
    if not value or len(value) > MAX_PARAMS_BYTES:
        return {}
    try:  # the peer's text: bounded in size, and in depth by jsonsafe
        decoded = loads(value)
    except JSONError:
        return {}
    if isinstance(decoded, dict) and all(isinstance(k, str) for k in decoded):
        return decoded
    return {}
