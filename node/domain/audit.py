"""The audit trail's record: who did what to which target, from where, and whether it was
allowed — and the masking of personal data that makes reading it an explicit, recorded act.

An `AuditRecord` is what a use case (or the store's projection of staff events) hands to
the audit log; the log gives it its place (`seq`, gapless per writer) and its link in the
writer's hash chain (node/domain/chain.py `audit_link`, the construction of the event
log's chain), so an edited or deleted row is found by `zhitong audit verify`. `detail`
must survive a JSON round trip unchanged (strings, integers, booleans, None, lists and
string-keyed objects): the link covers its canonical JSON. Pure: no I/O, `at` passed in.

Actions are dotted names, `<area>.<verb>` (`login`, `issue.assign`, `contact.read`,
`export.personal`, `account.disabled`, `unit.renamed`, ...); a refused API request (403)
is recorded with the route as its action ("POST /api/v1/issues/{key}/assign").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SUCCESS = "success"
    REFUSED = "refused"


LOGIN = "login"
CONTACT_READ = "contact.read"  # an issue's contact details opened (GET /issues/{id}/contact)
ENTERPRISE_LOOKUP = "enterprise.lookup"  # intake: name and phone under a credit code
EXPORT_PERSONAL = "export.personal"  # an export that carries personal data
ISSUE_PREFIX = "issue."  # + the event kind of a staff member's change of an issue

MAX_ACTION = 120
MAX_DETAIL_BYTES = 8000


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditRecord:
    """One entry of the audit trail, before the log gives it a place and a link."""

    at: datetime
    actor: str  # "staff:<username>", an account name for a login, "system", "cli"
    action: str
    actor_role: str | None = None
    address: str | None = None  # the caller's IP address, when there was a caller
    target_kind: str | None = None  # issue | account | enterprise | export | unit | tag | rule
    target_id: str | None = None
    outcome: Outcome = Outcome.SUCCESS
    detail: Mapping[str, Any] = field(default_factory=dict)


def check_record(record: AuditRecord) -> AuditRecord:
    """`record` if it can be kept and linked as it is. A record that cannot is a bug of
    the code recording it (never input): ValueError."""
    if record.at.tzinfo is None:
        raise ValueError("an audit record's time must carry a time zone")
    if not record.action or len(record.action) > MAX_ACTION:
        raise ValueError(f"an audit action must have 1 to {MAX_ACTION} characters")
    try:
        text = json.dumps(record.detail, sort_keys=True, ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("an audit record's detail must be plain JSON") from None
    if len(text.encode()) > MAX_DETAIL_BYTES or json.loads(text) != record.detail:
        raise ValueError("an audit record's detail must be plain JSON, at most "
                         f"{MAX_DETAIL_BYTES} bytes")
    return record


_MOBILE = re.compile(r"^1\d{10}$")


def mask_phone(phone: str) -> str:
    """What a staff answer shows of a contact phone: a mobile as 138****1234, any other
    number with all but its first 3 and last 2 characters starred ("" stays "")."""
    if not phone:
        return phone
    if _MOBILE.fullmatch(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    if len(phone) <= 5:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]


def mask_contacts(value: Any) -> Any:
    """`value` (an event payload) with every `contact_phone` in it masked."""
    if isinstance(value, Mapping):
        return {k: (mask_phone(v) if k == "contact_phone" and isinstance(v, str)
                    else mask_contacts(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_contacts(v) for v in value]
    return value
