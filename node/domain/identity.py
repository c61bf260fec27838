"""Who may bring which issue: namespaces of ids and numbers, and snapshots from outside.

Every issue is born at one unit (its `origin`) with a global id `<origin>-<32 hex>` and a
human number `<origin>-<year>-<6 digits>`, both minted there. A unit therefore may only
introduce issues whose origin lies in its own subtree (GB/T 2260 codes are hierarchical:
a county's first four digits are its city's, a city's first two its province's) — else
a county could claim a sibling's or the city's next number, and the rightful issue would
later collide with it. Issues coming down (a dispatch) must have been minted above.
`check_new_issue` is that rule; the gRPC accept path and the
stream replicator both run it before a foreign issue enters the store.

`check_snapshot` re-validates a snapshot folded from foreign events with the same checks
HTTP input gets (texts, codes, phone, tags, counters), so nothing reaches the store and
the screens through replication that the node would refuse from a user.
"""

from __future__ import annotations

import re

from node.domain.channels import check_channel_fields
from node.domain.errors import ValidationError
from node.domain.issue import Issue, SubjectKind
from node.domain.validation import (
    MAX_COMMENT,
    MAX_CONTENT,
    MAX_NAME,
    MAX_ORG_UNIT,
    MAX_REASON,
    MAX_REPLY,
    MAX_TITLE,
    check_text,
    division_level,
    validate_credit_code,
    validate_division_code,
    validate_phone,
    validate_tags,
)

_ID = re.compile(r"(?P<code>[0-9]{6})-[0-9a-f]{32}")
_NUMBER = re.compile(r"(?P<code>[0-9]{6})-(?P<year>[0-9]{4})-[0-9]{6}")
MAX_COUNTER = 1_000_000  # urges, reopenings, supervisions, ladder steps: far above real use


def within(code: str, unit: str) -> bool:
    """True when division `code` is `unit` itself or lies below it."""
    if code == unit:
        return True
    level = division_level(unit)
    if level == "province":
        return code[:2] == unit[:2]
    if level == "city":
        return code[:4] == unit[:4]
    return False


def check_new_issue(issue: Issue, *, sender: str, receiver: str) -> None:
    """An issue `receiver` has never seen, brought by unit `sender`: its id and number must
    be minted by its origin; from a unit below, the origin must lie in the sender's subtree;
    from above (a dispatch), it must not lie in the receiver's own subtree."""
    origin = validate_division_code(issue.origin)
    id_match = _ID.fullmatch(issue.id)
    if id_match is None or id_match["code"] != origin:
        raise ValidationError("issue_id_invalid", field="issue.id", value=issue.id[:80])
    number_match = _NUMBER.fullmatch(issue.number)
    if number_match is None or number_match["code"] != origin:
        raise ValidationError("issue_number_invalid", field="issue.number",
                              value=issue.number[:80])
    from_below = sender != receiver and within(sender, receiver)
    if from_below and not within(origin, sender):
        raise ValidationError("issue_origin_not_below", field="issue.origin", origin=origin,
                              sender=sender)
    if not from_below and within(origin, receiver):
        raise ValidationError("issue_origin_from_above", field="issue.origin", origin=origin)


def _text(name: str, value: object, limit: int) -> None:
    if not isinstance(value, str):
        raise ValidationError("not_text", field=name)
    check_text(name, value, max_len=limit)


def check_snapshot(issue: Issue, previous: Issue | None = None) -> None:
    """The checks HTTP input gets, on a snapshot that came from another node.

    `previous`: the snapshot `issue` was evolved from, checked before (a replica's stored
    issue, or the one the same batch made of it). A field `issue` holds as the very same
    object as `previous` passed these checks then, so its checks are skipped: an event
    changes a few fields (state, version, a reply...), and the enterprise's credit code,
    phone, title and content — most of the cost — are carried over untouched. Anything an
    event set anew is checked, even when equal."""

    def kept(name: str) -> bool:
        return previous is not None and getattr(previous, name) is getattr(issue, name)

    same_enterprise = kept("enterprise")
    for name, attr, value, limit in (
        ("enterprise.name", "enterprise", issue.enterprise.name, MAX_NAME),
        ("title", "title", issue.title, MAX_TITLE),
        ("content", "content", issue.content, MAX_CONTENT),
    ):
        if not kept(attr):
            _text(name, value, limit)
    for name, opt, limit in (
        ("board", issue.board, MAX_ORG_UNIT),
        ("department", issue.department, MAX_ORG_UNIT),
        ("reply", issue.reply, MAX_REPLY),
        ("rejection_reason", issue.rejection_reason, MAX_REASON),
        ("rating_comment", issue.rating_comment, MAX_COMMENT),
    ):
        if opt is not None and not kept(name):
            _text(name, opt, limit)
    if not kept("tags"):
        if not isinstance(issue.tags, tuple) or not all(isinstance(t, str)
                                                        for t in issue.tags):
            raise ValidationError("tags_not_text", field="tags")
        if validate_tags(issue.tags) != tuple(issue.tags):
            raise ValidationError("tags_not_canonical", field="tags")
    if not (same_enterprise and kept("subject_kind")):
        for name, value, limit in (
                ("enterprise.credit_code", issue.enterprise.credit_code, 18),
                ("enterprise.contact_phone", issue.enterprise.contact_phone, 20)):
            if not (issue.is_common and value == ""):
                _text(name, value, limit)
        if not isinstance(issue.subject_kind, SubjectKind):
            raise ValidationError("not_text", field="subject_kind")
        if issue.is_common:  # 共性问题: no credit code, no phone
            if issue.enterprise.credit_code or issue.enterprise.contact_phone:
                raise ValidationError("common_issue_personal_data", field="enterprise")
        else:
            validate_credit_code(issue.enterprise.credit_code)
            validate_phone(issue.enterprise.contact_phone, "enterprise.contact_phone")
    if not kept("channel_fields") and (check_channel_fields(issue.channel_fields)
                                       != issue.channel_fields):
        raise ValidationError("channel_fields_malformed", field="channel_fields")
    for name, code in (("origin", issue.origin), ("owner", issue.owner),
                       ("came_from", issue.came_from)):
        if code is not None and not kept(name):
            _text(name, code, 6)
            validate_division_code(code)
    if issue.outcome not in (None, "resolved", "rejected", "merged"):  # merged: 并单
        raise ValidationError("outcome_invalid", field="outcome")
    for name, count in (("version", issue.version), ("ladder_step", issue.ladder_step),
                        ("urge_count", issue.urge_count),
                        ("reopen_count", issue.reopen_count),
                        ("supervision_count", issue.supervision_count)):
        if not isinstance(count, int) or isinstance(count, bool) or not (
                0 <= count <= MAX_COUNTER):
            raise ValidationError("counter_out_of_range", field=name)
