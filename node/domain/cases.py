"""Reviews (问题复盘) and the case library (案例库): what a solved issue taught.

A review (`Review`) is written by a leader about a closed subject — an issue, or a 共性问题
cluster whose common issue is closed (`SubjectKind`): the root cause, the policy or rule gap, the
measures taken (建章立制: which rule, policy or procedure changed, each with a reference:
`Measure`) and the outcome. It stays a draft, editable, until it is published as a case:
典型案例 (the red list, `CaseKind.EXEMPLARY`) or 负面案例 (the black list,
`CaseKind.NEGATIVE`), with tags. A published review is never edited again.

The review keeps its subject's enterprise as the owner node knows it (name, credit code,
phone: the owner holds them anyway). What leaves the review is only its published form
(`published_form`), data-minimised: no enterprise name, credit code or phone — and those
values scrubbed from the free texts as well, for a leader may have typed the name into the
root cause — unless the enterprise consented (`Consent`: who recorded it, when, how it was
given); even then the phone never: a case names a model enterprise, it does not call it. A
phone is scrubbed also as its digits alone, however separated; the free-text `unit` like
every text; and for a cluster every member enterprise (`Party`) always, consent or not.

The published form is what the case library holds at every tier and what travels up in the
summaries (node/domain/summary.py `cases`), bounded per unit of origin and in bytes
(`bounded`) so a summary stays small, and checked like any foreign input where it arrives
(`decode_case`). Pure: ids and `now` are passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from node.domain.errors import Conflict, RuleViolation, ValidationError
from node.domain.topology import ancestors_of
from node.domain.validation import check_text, validate_division_code, validate_tags

MAX_CASE_TITLE = 100
MAX_CASE_TEXT = 2000  # root cause, gap, outcome
MAX_MEASURE_TEXT = 500
MAX_REFERENCE = 200
MAX_MEASURES = 10
MAX_NOTE = 500
#: Published cases per unit of origin that a summary carries (the newest), and the bytes
#: all its cases may take: a summary is one NATS message (1 MiB by default) and also
#: carries counts, catalogues and chain heads.
CASES_PER_ORIGIN = 20
CASES_BUDGET_BYTES = 256 * 1024
#: The most one encoded summary may take (node/domain/summary.py `encode`): NATS refuses a
#: message over its max_payload (1 MiB by default) and the publish adds headers; past this,
#: the summary's oldest cases give way (the counts must always get through).
SUMMARY_MAX_BYTES = 900 * 1024
#: What stands in for the enterprise's name, code and phone in a case without consent.
REDACTED = "某企业"
REDACTED_CODE = "＊＊＊"

_CASE_ID = re.compile(r"[0-9]{6}-[0-9a-f]{32}")


class CaseKind(StrEnum):
    EXEMPLARY = "exemplary"  # 典型案例 (红榜)
    NEGATIVE = "negative"  # 负面案例 (黑榜)


class SubjectKind(StrEnum):
    ISSUE = "issue"
    CLUSTER = "cluster"  # a 共性问题 cluster of several issues (issue 14, 并单)


class ReviewState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class MeasureKind(StrEnum):
    RULE = "rule"  # 制度
    POLICY = "policy"  # 政策
    PROCEDURE = "procedure"  # 流程


@dataclass(frozen=True, kw_only=True, slots=True)
class Measure:
    """One measure taken (建章立制): what changed, and where it is written down."""

    kind: MeasureKind
    text: str
    reference: str  # the document number, link or rule id that records the change


@dataclass(frozen=True, kw_only=True, slots=True)
class Party:
    """An enterprise a review's subject concerns besides its own: each member of a 共性问题
    cluster. Never published, not even with consent (that is the subject's enterprise's);
    kept only so that its name, credit code and phone are scrubbed from the texts."""

    name: str | None = None
    credit_code: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    """What a review needs of its subject, read where the subject is held."""

    kind: SubjectKind
    id: str
    number: str
    title: str
    closed: bool
    state: str
    origin: str
    unit: str | None = None  # the unit that handled it (board, department)
    enterprise_name: str | None = None
    credit_code: str | None = None
    contact_phone: str | None = None
    #: a cluster's member enterprises (their issues' enterprises), scrubbed like its own
    members: tuple[Party, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Consent:
    """The enterprise agreed to be named in the published case."""

    recorded_by: str
    at: datetime
    note: str  # how it was given (in writing, by phone on …)


@dataclass(frozen=True, kw_only=True, slots=True)
class Draft:
    """What a leader writes; every field but the title may still be empty in a draft."""

    title: str
    root_cause: str | None = None
    gap: str | None = None
    measures: tuple[Measure, ...] = ()
    outcome: str | None = None
    tags: tuple[str, ...] = ()
    unit: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Review:
    id: str
    node: str
    subject: Subject
    draft: Draft
    state: ReviewState
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    kind: CaseKind | None = None
    published_by: str | None = None
    published_at: datetime | None = None
    consent: Consent | None = None


def check_draft(draft: Draft) -> Draft:
    """The draft with its texts stripped and checked (ValidationError naming the field)."""
    if len(draft.measures) > MAX_MEASURES:
        raise ValidationError("case_too_many_measures", field="measures",
                              max_count=MAX_MEASURES, count=len(draft.measures))
    measures = tuple(
        Measure(kind=MeasureKind(m.kind),
                text=_text(f"measures[{i}].text", m.text, MAX_MEASURE_TEXT),
                reference=_text(f"measures[{i}].reference", m.reference, MAX_REFERENCE))
        for i, m in enumerate(draft.measures))
    unit = check_text("unit", draft.unit, max_len=60, required=False)
    return Draft(title=_text("title", draft.title, MAX_CASE_TITLE),
                 root_cause=check_text("root_cause", draft.root_cause,
                                       max_len=MAX_CASE_TEXT, required=False),
                 gap=check_text("gap", draft.gap, max_len=MAX_CASE_TEXT, required=False),
                 measures=measures,
                 outcome=check_text("outcome", draft.outcome, max_len=MAX_CASE_TEXT,
                                    required=False),
                 tags=validate_tags(draft.tags), unit=unit)


def _text(field: str, value: str | None, max_len: int) -> str:
    text = check_text(field, value, max_len=max_len)
    assert text is not None  # required
    return text


def open_review(*, id: str, node: str, subject: Subject, draft: Draft, actor: str,
                now: datetime) -> Review:
    """A new draft review of a closed subject."""
    if not subject.closed:
        raise RuleViolation("case_subject_not_closed", subject=subject.number,
                            state=subject.state)
    checked = check_draft(draft)
    if checked.unit is None and subject.unit is not None:
        checked = replace(checked, unit=subject.unit)
    return Review(id=id, node=node, subject=subject, draft=checked, state=ReviewState.DRAFT,
                  version=1, created_by=actor, created_at=now, updated_by=actor,
                  updated_at=now)


def _check_open(review: Review, expected_version: int) -> None:
    if review.state is ReviewState.PUBLISHED:
        raise RuleViolation("case_already_published", case=review.id)
    if expected_version != review.version:
        raise Conflict("version_mismatch", current_version=review.version,
                       expected_version=expected_version)


def edit(review: Review, draft: Draft, *, expected_version: int, actor: str,
         now: datetime) -> Review:
    """The draft rewritten (refused once published, or when someone edited it since)."""
    _check_open(review, expected_version)
    return replace(review, draft=check_draft(draft), version=review.version + 1,
                   updated_by=actor, updated_at=now)


def publish(review: Review, *, kind: CaseKind, tags: Sequence[str] | None,
            consent: Consent | None, expected_version: int, actor: str,
            now: datetime) -> Review:
    """The review published as a case of `kind`: it needs a root cause and an outcome."""
    _check_open(review, expected_version)
    missing = [name for name, value in (("root_cause", review.draft.root_cause),
                                        ("outcome", review.draft.outcome)) if not value]
    if missing:
        raise ValidationError("case_incomplete", field=missing[0], missing=",".join(missing))
    draft = review.draft if tags is None else replace(review.draft, tags=validate_tags(tags))
    if consent is not None:
        consent = Consent(recorded_by=consent.recorded_by, at=consent.at,
                          note=_text("consent.note", consent.note, MAX_NOTE))
    return replace(review, draft=draft, state=ReviewState.PUBLISHED, kind=CaseKind(kind),
                   version=review.version + 1, updated_by=actor, updated_at=now,
                   published_by=actor, published_at=now, consent=consent)


# ------------------------------------------------------------------ the published form


#: A phone needs this many digits before its digits alone (whatever separates them) are
#: scrubbed too: fewer would match inside ordinary numbers of a text.
_PHONE_MIN_DIGITS = 7
_PHONE_GAP = r"[-\s\u3000－]*"  # what people put between a phone's digits: - and spaces


def redact(text: str | None, secrets: Iterable[str | None],
           phones: Iterable[str | None] = ()) -> str | None:
    """`text` with every occurrence of the enterprise's name, code and phone replaced.

    `secrets` are replaced where they occur as written (a credit code whatever its letters'
    case); each of `phones` also in its digits alone, with or without separators between
    them ("139-0572-0001", "139 0572 0001", "13905720001" for any of them)."""
    if text is None:
        return None
    numbers = [p for p in phones if p]
    patterns: list[tuple[int, re.Pattern[str], str]] = []
    for secret in {s for s in (*secrets, *numbers) if s and len(s) >= 2}:
        numeric = any(c.isdigit() for c in secret)
        patterns.append((len(secret), re.compile(re.escape(secret), re.IGNORECASE),
                         REDACTED_CODE if numeric else REDACTED))
    for phone in numbers:
        digits = re.sub(r"\D", "", phone)
        national = digits[2:] if digits.startswith("86") and len(digits) > 11 else ""
        for run in (d for d in {digits, national} if len(d) >= _PHONE_MIN_DIGITS):
            patterns.append((len(run), re.compile(_PHONE_GAP.join(run)), REDACTED_CODE))
    for _, pattern, mask in sorted(patterns, key=lambda p: (p[0], p[1].pattern), reverse=True):
        text = pattern.sub(mask, text)
    return text


def published_form(review: Review) -> dict[str, Any]:
    """What the case library holds and the tiers above see of a published review.

    Without the enterprise's consent nothing names it: no name, credit code or phone, and
    those values are scrubbed from every text. With consent the name and credit code are
    kept (`enterprise`); the phone never. Nothing of the review's authors either: the case
    is the unit's (`origin`, `unit`)."""
    if review.state is not ReviewState.PUBLISHED or review.kind is None \
            or review.published_at is None:
        raise RuleViolation("case_not_published", case=review.id)
    s, d = review.subject, review.draft
    # a cluster's members are scrubbed always: the consent is the subject's enterprise's
    secrets: list[str | None] = [] if review.consent is not None else [
        s.enterprise_name, s.credit_code]
    phones: list[str | None] = [s.contact_phone]
    for member in s.members:
        secrets += [member.name, member.credit_code]
        phones.append(member.contact_phone)

    def clean(text: str | None) -> str | None:
        return redact(text, secrets, phones)

    form: dict[str, Any] = {
        "id": review.id, "origin": review.node, "kind": review.kind.value,
        "title": clean(d.title),
        "subject": {"kind": s.kind.value, "number": s.number},
        "root_cause": clean(d.root_cause), "gap": clean(d.gap),
        "measures": [{"kind": m.kind.value, "text": clean(m.text),
                      "reference": clean(m.reference)} for m in d.measures],
        "outcome": clean(d.outcome), "tags": [clean(t) for t in d.tags], "unit": clean(d.unit),
        "published_at": review.published_at.isoformat(),
        "consented": review.consent is not None,
    }
    if review.consent is not None and s.enterprise_name:
        form["enterprise"] = {"name": s.enterprise_name, "credit_code": s.credit_code}
    return form


def search_text(form: Mapping[str, Any]) -> str:
    """The texts of a published case a query matches (lower case, one string)."""
    parts = [form.get("title"), form.get("root_cause"), form.get("gap"), form.get("outcome"),
             (form.get("subject") or {}).get("number"), *form.get("tags", ()),
             *(f"{m.get('text')} {m.get('reference')}" for m in form.get("measures", ()))]
    enterprise = form.get("enterprise")
    if isinstance(enterprise, Mapping):
        parts.append(enterprise.get("name"))
    return "\n".join(str(p) for p in parts if p).lower()


def encoded_size(form: Mapping[str, Any]) -> int:
    return len(json.dumps(form, ensure_ascii=False, separators=(",", ":")).encode())


def bounded(forms: Iterable[Mapping[str, Any]], *, per_origin: int = CASES_PER_ORIGIN,
            budget_bytes: int = CASES_BUDGET_BYTES) -> list[Mapping[str, Any]]:
    """The newest `per_origin` cases of each unit of origin, newest first overall, as many
    as fit in `budget_bytes`: what one summary carries."""
    ordered = sorted(forms, key=lambda f: (str(f["published_at"]), str(f["id"])), reverse=True)
    taken: dict[str, int] = {}
    out: list[Mapping[str, Any]] = []
    used = 0
    for form in ordered:
        origin = str(form["origin"])
        if taken.get(origin, 0) >= per_origin:
            continue
        size = encoded_size(form)
        if used + size > budget_bytes:
            continue
        taken[origin] = taken.get(origin, 0) + 1
        used += size
        out.append(form)
    return out


def newest_within(forms: Sequence[Mapping[str, Any]], room: int) -> list[Mapping[str, Any]]:
    """Those of `forms` (in their order) that fit in `room` bytes as one JSON list, the
    oldest left out first: what a summary too large for one message still carries."""
    by_age = sorted(range(len(forms)), key=lambda i: (str(forms[i]["published_at"]),
                                                      str(forms[i]["id"])), reverse=True)
    keep: set[int] = set()
    used = 2  # "[]"
    for i in by_age:
        size = encoded_size(forms[i]) + (1 if keep else 0)  # and its comma
        if used + size > room:
            break
        keep.add(i)
        used += size
    return [f for i, f in enumerate(forms) if i in keep]


def within(origin: str, sender: str) -> bool:
    """Whether `origin` is `sender` or a unit below it (by division codes)."""
    return origin == sender or sender in ancestors_of(origin)


# ------------------------------------------------------------ a case from another node


def decode_case(raw: Any, sender: str) -> dict[str, Any]:
    """A published case another node (`sender`, a child) sent, re-checked field by field:
    the shape `published_form` writes, origin within the sender's subtree, every text
    bounded. Anything else is a ValidationError ("case_malformed")."""
    try:
        return _decode(raw, sender)
    except ValidationError as exc:
        raise ValidationError("case_malformed", field="case",
                              problem=f"{exc.code} {exc.params.get('field', '')}"[:200]
                              ) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValidationError("case_malformed", field="case", problem=str(exc)[:200]) from None


def _opt(field: str, value: Any, max_len: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{field} must be text")
    return check_text(field, value, max_len=max_len, required=False)


def _decode(raw: Any, sender: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise TypeError("a case must be an object")
    case_id = raw["id"]
    origin = validate_division_code(str(raw["origin"]))
    if not isinstance(case_id, str) or not _CASE_ID.fullmatch(case_id) \
            or not case_id.startswith(origin + "-"):
        raise ValueError("a case id is <origin>-<32 hex digits>")
    if not within(origin, sender):
        raise ValueError(f"case {case_id} is not from {sender}'s subtree")
    subject = raw["subject"]
    if not isinstance(subject, Mapping):
        raise TypeError("subject must be an object")
    measures = raw["measures"]
    if not isinstance(measures, list) or len(measures) > MAX_MEASURES:
        raise ValueError(f"measures must be a list of at most {MAX_MEASURES}")
    tags = raw["tags"]
    if not isinstance(tags, list):
        raise TypeError("tags must be a list")
    published_at = datetime.fromisoformat(str(raw["published_at"]))
    if published_at.tzinfo is None:
        raise ValueError("published_at must carry a time zone")
    consented = raw["consented"]
    if not isinstance(consented, bool):
        raise TypeError("consented must be true or false")
    out: dict[str, Any] = {
        "id": case_id, "origin": origin, "kind": CaseKind(raw["kind"]).value,
        "title": _text("title", raw["title"], MAX_CASE_TITLE),
        "subject": {"kind": SubjectKind(subject["kind"]).value,
                    "number": _text("subject.number", subject["number"], 40)},
        "root_cause": _opt("root_cause", raw.get("root_cause"), MAX_CASE_TEXT),
        "gap": _opt("gap", raw.get("gap"), MAX_CASE_TEXT),
        "measures": [{"kind": MeasureKind(m["kind"]).value,
                      "text": _text("measures.text", m["text"], MAX_MEASURE_TEXT),
                      "reference": _text("measures.reference", m["reference"], MAX_REFERENCE)}
                     for m in measures],
        "outcome": _opt("outcome", raw.get("outcome"), MAX_CASE_TEXT),
        "tags": list(validate_tags([str(t) for t in tags])),
        "unit": _opt("unit", raw.get("unit"), 60),
        "published_at": published_at.isoformat(), "consented": consented,
    }
    enterprise = raw.get("enterprise")
    if enterprise is not None:
        if not consented or not isinstance(enterprise, Mapping):
            raise ValueError("an enterprise is named only with its consent")
        out["enterprise"] = {"name": _text("enterprise.name", enterprise.get("name"), 100),
                             "credit_code": _opt("enterprise.credit_code",
                                                 enterprise.get("credit_code"), 18)}
    return out
