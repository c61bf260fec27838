"""The one mapping from domain errors to gRPC status codes, and back for the sender."""

from __future__ import annotations

import grpc

from node.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
)

STATUS: list[tuple[type[DomainError], grpc.StatusCode]] = [
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (RuleViolation, grpc.StatusCode.FAILED_PRECONDITION),
]

#: Worth retrying: the peer or the path is down or busy. Everything else is a refusal that
#: the same request will meet again, so it is parked (dead-lettered), never retried.
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


def status_of(exc: DomainError) -> grpc.StatusCode:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.FAILED_PRECONDITION


def describe(exc: DomainError) -> str:
    return f"{exc.code}: {exc.message_en}"
