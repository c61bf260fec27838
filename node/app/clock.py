"""The one place that reads the wall clock and mints ids."""

from __future__ import annotations

from datetime import UTC, datetime

import uuid6


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def new_issue_id(node: str) -> str:
    """A global id no two nodes can mint alike: origin code + time-ordered UUIDv7."""
    return f"{node}-{uuid6.uuid7().hex}"
