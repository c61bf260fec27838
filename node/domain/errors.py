"""The domain's error tree.

Every refusal carries a stable machine `code`, a Chinese message (the user-facing default)
and an English one, plus structured details. Adapters map the classes to transport status
codes in one place each (HTTP in node/web/errors.py, gRPC later in federation/errors.py).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected refusal. Never used for programming errors."""

    code: str = "domain_error"

    def __init__(self, message_zh: str, message_en: str, **details: Any) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.details: dict[str, Any] = details


class ValidationError(DomainError):
    """Input that does not satisfy a rule (format, check character, length, range)."""

    code = "invalid_input"

    def __init__(self, field: str, message_zh: str, message_en: str, **details: Any) -> None:
        super().__init__(message_zh, message_en, field=field, **details)
        self.field = field


class IllegalTransition(DomainError):
    """An action that the lifecycle table does not allow from the issue's current state."""

    code = "illegal_transition"

    def __init__(self, state: str, action: str) -> None:
        super().__init__(
            f"当前状态“{state}”下不允许执行操作“{action}”",
            f"action '{action}' is not allowed in state '{state}'",
            state=state,
            action=action,
        )
        self.state = state
        self.action = action


class RuleViolation(DomainError):
    """A business rule refused the action (e.g. urge too soon, ladder exhausted)."""

    code = "rule_violation"

    def __init__(self, code: str, message_zh: str, message_en: str, **details: Any) -> None:
        super().__init__(message_zh, message_en, **details)
        self.code = code


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Conflict(DomainError):
    """A concurrent writer changed the issue first; the caller may retry."""

    code = "conflict"
