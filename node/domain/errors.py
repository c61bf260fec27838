"""The domain's error tree, and the one table of every stable error code the product raises.

A refusal is raised with a stable code and named parameters only, e.g.
``RuleViolation("urge_too_soon", next_allowed_at=...)`` or
``ValidationError("text_too_long", field="title", max_len=100, length=101)``. What people read
is rendered at the edge (API error body, screens, CLI) from the message catalogue in
`node/i18n`, keyed by the same code, in their language; the domain holds no texts.

Every error has two codes:

* `code`, the stable fine-grained one (`text_too_long`, `issue_not_found`, `urge_too_soon`):
  the catalogue key, and what travels between nodes (gRPC trailing metadata,
  federation/failures.py), so a peer rebuilds the very same typed error;
* `public_code`, what the HTTP API's error body names, unchanged since the API exists: the
  class's `family` (`invalid_input`, `not_found`, `forbidden`, `unauthenticated`,
  `conflict`, `illegal_transition`), except that a rule violation publishes its own code.

`params` are every named value of the error (what the messages are filled with); `details`
are the ones the API body shows: `params` minus the code's `private` ones (values a message
names that the body never carried, kept out so the bodies stay as they were).

`ERRORS` is the table: code → class, HTTP status, gRPC status (by name, so nothing here
imports grpc), whether the same request may succeed if simply tried again, and the
parameters. It lives here, next to the classes, because a code is declared where it is
raised: adding one means one row here and one entry per language in the catalogue (a unit
test checks both against every raise site). The HTTP adapter (node/web/problems.py) and the
gRPC adapter (federation/failures.py) read it; neither keeps a table of its own. Codes raised
by an adapter itself (`body_too_large`, `internal`, ...) are rows without a class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "ERRORS",
    "Conflict",
    "DomainError",
    "ErrorSpec",
    "Forbidden",
    "IllegalTransition",
    "NotFound",
    "RuleViolation",
    "Unauthenticated",
    "ValidationError",
    "spec_of",
]


class DomainError(Exception):
    """Base of every expected refusal. Never used for programming errors."""

    family: ClassVar[str] = "domain_error"

    def __init__(self, code: str, /, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params: dict[str, Any] = params
        spec = ERRORS.get(code)
        private = spec.private if spec is not None else ()
        self.details: dict[str, Any] = {k: v for k, v in params.items() if k not in private}

    @classmethod
    def public_code_of(cls, code: str) -> str:
        """The code the HTTP API shows for an error of this class with this stable code."""
        return cls.family

    @property
    def public_code(self) -> str:
        return self.public_code_of(self.code)

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if tried again (the table decides)."""
        return spec_of(self).retryable

    @classmethod
    def rebuild(cls, code: str, params: Mapping[str, Any]) -> DomainError:
        """The error again from its code and parameters (e.g. received from a peer)."""
        return cls(code, **params)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.code}({inner})"


class ValidationError(DomainError):
    """Input that does not satisfy a rule (format, check character, length, range)."""

    family = "invalid_input"

    def __init__(self, code: str, /, *, field: str = "", **params: Any) -> None:
        super().__init__(code, field=field, **params)
        self.field = field

    @classmethod
    def rebuild(cls, code: str, params: Mapping[str, Any]) -> DomainError:
        rest = {k: v for k, v in params.items() if k != "field"}
        return cls(code, field=str(params.get("field", "")), **rest)


class IllegalTransition(DomainError):
    """An action that the lifecycle table does not allow from the issue's current state."""

    family = "illegal_transition"

    def __init__(self, state: str, action: str) -> None:
        super().__init__("illegal_transition", state=state, action=action)
        self.state = state
        self.action = action

    @classmethod
    def rebuild(cls, code: str, params: Mapping[str, Any]) -> DomainError:
        return cls(str(params.get("state", "")), str(params.get("action", "")))


class RuleViolation(DomainError):
    """A business rule refused the action (e.g. urge too soon, ladder exhausted). Its code is
    also its public code: clients branch on it (`urge_too_soon` → show the next time)."""

    family = "rule_violation"

    @classmethod
    def public_code_of(cls, code: str) -> str:
        return code


class NotFound(DomainError):
    family = "not_found"


class Forbidden(DomainError):
    family = "forbidden"


class Unauthenticated(DomainError):
    family = "unauthenticated"


class Conflict(DomainError):
    """Someone else changed the state the request was based on."""

    family = "conflict"


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    error: type[DomainError] | None  # None: raised by an adapter, not a domain error
    http: int
    grpc: str  # a grpc.StatusCode name
    retryable: bool
    params: tuple[str, ...] = ()  # every parameter a raise gives (the messages use a subset)
    private: tuple[str, ...] = ()  # of `params`, those kept out of the API's `details`

    @property
    def public_code(self) -> str:
        return self.code if self.error is None else self.error.public_code_of(self.code)


class _Kind:
    """Rows of one class with its usual statuses (a row may override them)."""

    def __init__(self, error: type[DomainError] | None, http: int, grpc: str,
                 *, retryable: bool = False) -> None:
        self.error, self.http, self.grpc, self.retryable = error, http, grpc, retryable

    def __call__(self, code: str, *params: str, private: tuple[str, ...] = (),
                 http: int | None = None, grpc: str | None = None,
                 retryable: bool | None = None) -> ErrorSpec:
        implicit = ("field",) if self.error is ValidationError else ()
        return ErrorSpec(
            code=code, error=self.error, http=self.http if http is None else http,
            grpc=self.grpc if grpc is None else grpc,
            retryable=self.retryable if retryable is None else retryable,
            params=(*implicit, *params, *private), private=private)


_BASE = _Kind(DomainError, 400, "FAILED_PRECONDITION")
_INVALID = _Kind(ValidationError, 422, "INVALID_ARGUMENT")
_ILLEGAL = _Kind(IllegalTransition, 409, "FAILED_PRECONDITION")
_RULE = _Kind(RuleViolation, 409, "FAILED_PRECONDITION")
_MISSING = _Kind(NotFound, 404, "NOT_FOUND")
_FORBIDDEN = _Kind(Forbidden, 403, "PERMISSION_DENIED")
_UNAUTHENTICATED = _Kind(Unauthenticated, 401, "UNAUTHENTICATED")
_CONFLICT = _Kind(Conflict, 409, "FAILED_PRECONDITION")
_ADAPTER = _Kind(None, 400, "UNKNOWN")

_ROWS: tuple[ErrorSpec, ...] = (
    # -- the families: an error whose code has no row of its own gets its class's row
    _BASE("domain_error"),
    _INVALID("invalid_input"),
    _ILLEGAL("illegal_transition", "state", "action"),
    _RULE("rule_violation"),
    _MISSING("not_found"),
    _FORBIDDEN("forbidden"),
    _UNAUTHENTICATED("unauthenticated"),
    _CONFLICT("conflict"),
    # -- input (node/domain/validation.py, identity.py, calendar.py, deadlines.py, ...)
    _INVALID("division_length", "value", private=("length",)),
    _INVALID("division_digits", "value"),
    _INVALID("division_province", "value", private=("prefix",)),
    _INVALID("division_structure", "value"),
    _INVALID("credit_code_length", "length"),
    _INVALID("credit_code_check_length", "length"),
    _INVALID("credit_code_character", "position", "character"),
    _INVALID("credit_code_authority", "position", "character"),
    _INVALID("credit_code_entity_type", "position", "character",
             private=("authority", "allowed")),
    _INVALID("credit_code_division_length", "position", "division", private=("length",)),
    _INVALID("credit_code_division_digits", "position", "division"),
    _INVALID("credit_code_division_province", "position", "division", private=("prefix",)),
    _INVALID("credit_code_division_structure", "position", "division"),
    _INVALID("credit_code_check_character", "position", "expected", "actual"),
    _INVALID("text_required"),
    _INVALID("text_control_character", "position", "codepoint"),
    _INVALID("text_too_long", "max_len", "length"),
    _INVALID("text_too_short", "min_len", "length"),
    _INVALID("not_text"),
    _INVALID("phone_invalid", "value"),
    _INVALID("tags_not_a_list"),
    _INVALID("tags_not_text"),
    _INVALID("tags_not_canonical"),
    _INVALID("tags_too_many", "max_count", "count"),
    _INVALID("issue_id_invalid", "value"),
    _INVALID("issue_number_invalid", "value"),
    _INVALID("issue_origin_not_below", "origin", private=("sender",)),
    _INVALID("issue_origin_from_above", "origin"),
    _INVALID("outcome_invalid"),
    _INVALID("counter_out_of_range"),
    _INVALID("year_out_of_range", "year"),
    _INVALID("calendar_foreign_date", "year", "dates", private=("date",)),
    _INVALID("calendar_date_both", "year", "dates", private=("date",)),
    _INVALID("calendar_year_mismatch", "key", "year"),
    _INVALID("working_days_not_integer", "value", private=("stage",)),
    _INVALID("working_days_out_of_range", "value", "min", "max", private=("stage",)),
    _INVALID("deadline_tag_empty", "tag"),
    _INVALID("deadline_tag_invalid", private=("tag",)),
    _INVALID("sample_malformed", "reason"),
    _INVALID("share_not_a_number", "value"),
    _INVALID("share_out_of_range", "value"),
    _INVALID("seed_empty"),
    _INVALID("seed_part_empty"),
    _INVALID("frame_id_invalid", "value"),
    _INVALID("fact_invalid", "issue_id", "value", private=("name",)),
    _INVALID("now_naive", "value"),
    _INVALID("min_sample_invalid", "value"),
    _INVALID("recurrence_window_invalid", "value"),
    _INVALID("summary_malformed", private=("problem",)),
    _INVALID("credit_code_not_yours"),
    _INVALID("channel_not_online"),
    # staff intake (node/domain/channels.py, node/app/intake.py)
    _INVALID("channel_not_configured", "channel"),
    _INVALID("channel_field_unknown", "key", "channel"),
    _INVALID("channel_field_date_invalid", "value"),
    _INVALID("channel_fields_malformed"),
    _INVALID("common_issue_personal_data"),
    _INVALID("intake_batch_empty"),
    _INVALID("intake_batch_too_large", "max_rows"),
    _INVALID("intake_rows_invalid", "rows"),
    # Open311 GeoReport v2 (node/domain/open311.py, node/app/open311.py)
    _INVALID("open311_window_reversed"),
    _INVALID("open311_window_too_long", "max_days"),
    _INVALID("open311_parameter_required"),
    _INVALID("open311_parameter_invalid", "value"),
    _INVALID("open311_body_invalid"),
    _INVALID("open311_service_code_unknown", "service_code"),
    _MISSING("open311_service_not_found", "service_code"),
    _MISSING("open311_request_not_found", "service_request_id"),
    _MISSING("open311_jurisdiction_unknown", "jurisdiction_id"),
    _MISSING("open311_client_not_found", "client"),
    _FORBIDDEN("open311_key_invalid"),
    _INVALID("period_invalid"),
    _INVALID("deadline_before_meeting", "meeting"),
    _INVALID("cursor_invalid"),
    _INVALID("enterprise_needs_credit_code"),
    _INVALID("role_invalid"),  # account administration (node/app/accounts.py)
    _INVALID("directive_kind_invalid", private=("kinds",)),
    _INVALID("transfer_misaddressed"),
    _INVALID("number_or_origin_differs"),
    _INVALID("replica_not_from_origin"),
    _INVALID("replica_number_taken"),
    _INVALID("replica_identity_changed"),
    _INVALID("federation_message_invalid", private=("problem",)),
    # publications flowing down the federation (node/app/publications.py)
    _INVALID("publication_malformed", "problem"),
    _INVALID("publication_misaddressed", "issuer", "kind"),
    _INVALID("publication_issuer_unknown", "issuer", "kind"),
    _INVALID("publication_kind_unknown", "issuer", "kind"),
    _INVALID("publication_bad_signature", "issuer", "kind", "problem"),
    _INVALID("publication_older", "issuer", "kind", "version", "stored"),
    _INVALID("publication_version_conflict", "issuer", "kind", "version", "stored"),
    # rule floors and this node's rules (node/domain/floors.py, node/app/floors.py)
    _INVALID("floors_malformed", "problem"),
    _INVALID("rules_invalid", "problem"),
    # the HTTP adapter's own: a request FastAPI could not parse (details: the problems)
    _INVALID("request_invalid", "problems"),
    _INVALID("template_malformed"),  # node/app/notify.py: a `{` without its `}`
    # importing a file of issues (node/domain/importing.py, node/app/imports.py)
    _INVALID("import_value_unknown"),
    _INVALID("import_date_invalid"),
    _INVALID("import_date_in_future"),
    _INVALID("import_needs_value", "state"),
    _INVALID("import_rating_needs_closed"),
    _INVALID("import_rating_unsatisfied_closed"),
    _INVALID("import_date_before", "before"),
    _INVALID("import_external_id_repeated", "first_row"),
    _INVALID("import_columns_missing", "columns"),
    _INVALID("import_file_type"),
    _INVALID("import_file_empty"),
    _INVALID("import_file_unreadable", "problem"),
    _INVALID("import_too_many_rows", "max_rows"),
    # the tag library (node/domain/tags.py, node/app/tags.py)
    _INVALID("tag_unknown", "tag"),
    _INVALID("tag_inactive", "tag"),
    _INVALID("tag_slug_invalid"),
    _INVALID("tag_publication_invalid", private=("problem",)),
    _FORBIDDEN("tag_from_above", "tag", "origin"),
    _CONFLICT("tag_name_taken", "name", "tag"),
    _MISSING("tag_not_found", "tag"),
    _MISSING("tag_category_not_found", "category"),
    _MISSING("tag_proposal_not_found", "proposal"),
    _RULE("tag_category_inactive", "category"),
    _RULE("tag_already_merged", "tag", "into"),
    _RULE("tag_merge_self", "tag"),
    _RULE("tag_inactive_target", "tag"),
    _RULE("tag_proposal_decided", "proposal", "state"),
    # the policy library (node/domain/policies.py, node/app/policies.py)
    _INVALID("policy_date_invalid"),
    _INVALID("policy_valid_to_before_from", "valid_from"),
    _INVALID("policy_tags_required"),
    _INVALID("policy_industry_unknown", "industry"),
    _INVALID("policy_size_unknown", "size"),
    _INVALID("policy_region_outside", "region", "node"),
    _INVALID("policy_link_invalid"),
    _INVALID("policy_profile_needs_consent"),
    _INVALID("policy_doc_number_repeated", "first_row"),
    _INVALID("policy_publication_invalid", private=("problem",)),
    _CONFLICT("policy_doc_number_taken", "doc_number"),
    _CONFLICT("policy_exists"),  # a concurrent entry or import wrote the same one first
    _CONFLICT("policy_already_attached", "policy"),
    _FORBIDDEN("policy_from_above", "policy", "origin"),
    _MISSING("policy_not_found", "policy"),
    # organisation units (node/domain/units.py, node/app/units.py)
    _INVALID("unit_id_invalid", "value"),
    _INVALID("unit_kind_invalid", "value"),
    _INVALID("unit_parent_invalid", "parent"),
    _INVALID("unit_parent_cycle", "parent"),
    _INVALID("unit_unknown", "unit"),
    _INVALID("unit_kind_mismatch", "unit", "kind", "expected"),
    _INVALID("unit_inactive", "unit"),
    # the organisation file (node/domain/organisation.py)
    _INVALID("organisation_invalid", "problem"),
    _INVALID("organisation_conflict", "unit", "have", "want"),
    # -- rules (node/domain/lifecycle.py, node/app)
    _RULE("urge_too_soon", "next_allowed_at", http=429),
    _RULE("ladder_exhausted", "step"),
    _RULE("common_issue_enterprise_only", "action", "subject_kind"),
    _RULE("transfer_pending", "issue_id"),
    _RULE("no_parent"),
    _RULE("not_escalated_here"),
    _RULE("not_a_child", private=("child",)),
    _RULE("owned_here"),
    # revisit acceptance (node/app/revisits.py): one sample per node and period
    _RULE("sample_already_drawn", "period", "sample_id"),
    _RULE("redraw_without_sample", "period"),
    _RULE("revisit_task_closed", "task", "state"),
    # a floor set from above (node/domain/floors.py): a node may only be stricter
    _RULE("rule_looser_than_floor", "rule", "value", "floor", "version", "issuer"),
    # the joint meeting (node/app/meetings.py)
    _RULE("meeting_not_on_agenda", "issue"),
    _RULE("meeting_no_decision", "issue", "meeting"),
    # periodic reports (node/app/reports.py): only a period that has ended
    _INVALID("report_period_invalid", "kind"),
    _RULE("report_period_open", "period", "end"),
    # the 有感指数 (node/domain/index.py): weights and external evaluations
    _INVALID("index_weights_invalid", "problem"),
    _INVALID("evaluation_invalid", "problem"),
    _INVALID("index_level_invalid", "level"),
    _INVALID("report_special_invalid", "problem"),  # a special report's choice
    _RULE("meeting_step_not_in_ladder", "step"),
    # sign-in back-off and account administration (node/app/accounts.py)
    _RULE("login_throttled", "retry_after", http=429),
    _RULE("login_locked", "retry_after", http=429),
    # enterprises' sign-in codes (node/app/enterprise_signin.py)
    _RULE("signin_code_too_soon", "retry_after", http=429),
    _RULE("signin_too_many", "retry_after", http=429),
    # live streams (node/app/live.py): open streams per account
    _RULE("live_streams_limit", "max_streams", http=429),
    _RULE("own_account_protected"),
    # memberships of units and the rejection review (node/app/accounts.py, policy.py)
    _INVALID("membership_role_invalid", "role"),
    _INVALID("membership_unit_unknown", "unit"),
    _INVALID("membership_unit_inactive", "unit"),
    _INVALID("membership_not_staff"),
    _INVALID("membership_too_many", "max_units"),
    _CONFLICT("membership_exists", "unit", "role"),
    _MISSING("membership_not_found", "unit", "role"),
    _FORBIDDEN("not_your_unit", "unit"),
    _FORBIDDEN("own_rejection"),
    _FORBIDDEN("not_review_unit", "units"),
    # -- not found
    _MISSING("issue_not_found", "issue"),
    _MISSING("sample_not_found", private=("sample_id",)),
    _MISSING("revisit_task_not_found", "task"),
    _MISSING("notification_not_parked", private=("delivery_id",)),
    _MISSING("notify_account_unknown", "username"),
    _MISSING("notifications_disabled"),
    _MISSING("import_job_not_found", "job"),
    _MISSING("enterprise_not_found", "credit_code"),
    _MISSING("account_not_found", "username"),
    _MISSING("oidc_disabled"),
    _MISSING("unit_not_found", "unit"),
    # -- forbidden (node/app/policy.py; the federation's caller checks)
    _FORBIDDEN("role_not_permitted", "permission", private=("role",)),
    _FORBIDDEN("replica_read_only", "owner"),
    _FORBIDDEN("not_your_department", "department"),
    _FORBIDDEN("not_below_node", private=("unit",)),
    _FORBIDDEN("not_owner"),
    _FORBIDDEN("caller_not_child", private=("caller",)),
    _FORBIDDEN("caller_not_parent", private=("caller",)),
    _FORBIDDEN("origin_mismatch"),
    _FORBIDDEN("certificate_mismatch", private=("caller", "claimed")),
    _FORBIDDEN("caller_not_owner", private=("caller", "issue_id")),
    _FORBIDDEN("owner_differs", private=("owner", "caller")),
    _FORBIDDEN("directive_not_allowed", private=("caller", "kind")),
    _FORBIDDEN("caller_off_path", private=("caller", "issue_id")),
    _FORBIDDEN("enterprise_mismatch"),
    _FORBIDDEN("read_not_allowed", private=("caller",)),
    _FORBIDDEN("watermark_not_allowed"),
    # -- unauthenticated
    _UNAUTHENTICATED("login_required"),
    _UNAUTHENTICATED("wrong_password"),
    _UNAUTHENTICATED("signin_code_invalid"),
    _UNAUTHENTICATED("oidc_failed"),  # node/sso/oidc.py: whatever failed (logged)
    _UNAUTHENTICATED("account_unknown"),
    _UNAUTHENTICATED("session_expired"),
    _UNAUTHENTICATED("session_invalid"),
    _UNAUTHENTICATED("session_revoked"),
    _UNAUTHENTICATED("live_ticket_invalid"),  # node/app/live.py: unknown, used or expired
    _UNAUTHENTICATED("no_client_certificate"),
    _UNAUTHENTICATED("fetch_needs_certificate"),
    # -- conflicts: only a lost race is worth trying again; a stale or taken state is not
    _CONFLICT("version_mismatch", "current_version", private=("expected_version",)),
    _CONFLICT("concurrent_update", "issue_id", "expected_version", grpc="ABORTED",
              retryable=True),
    _CONFLICT("account_exists", private=("username",)),
    _CONFLICT("transfer_outdated"),
    _CONFLICT("number_taken"),
    _CONFLICT("meeting_decision_exists", "issue"),
    _CONFLICT("unit_exists", "unit"),
    # reviews and the case library (node/domain/cases.py, node/app/cases.py)
    _INVALID("case_too_many_measures", "max_count", "count"),
    _INVALID("case_incomplete", "missing"),
    _INVALID("case_malformed", private=("problem",)),
    _RULE("case_subject_not_closed", "subject", "state"),
    _RULE("case_subject_unsupported", "kind"),
    _RULE("case_already_published", "case"),
    _RULE("case_not_published", "case"),
    _MISSING("case_not_found", "case"),
    _RULE("unit_active_unchanged", "unit", "active"),
    # 并单: merging duplicates (node/domain/merging.py, node/app/merges.py)
    _INVALID("merge_self"),
    _INVALID("merge_followers_count", "max_count", "count"),
    _RULE("merge_not_open", "issue", "state"),
    _RULE("merge_has_followers", "issue"),
    _RULE("not_merged", "issue"),
    _INVALID("cluster_members_count", "max_count", "count"),
    _RULE("cluster_one_unit"),
    _RULE("cluster_member_taken", "issue", "cluster"),
    _MISSING("cluster_not_found", "cluster"),
    # -- attachments (node/domain/attachments.py, node/app/attachments.py)
    _INVALID("attachment_too_large", "max_bytes", http=413, grpc="RESOURCE_EXHAUSTED"),
    _INVALID("attachment_issue_full", "max_bytes", http=413, grpc="RESOURCE_EXHAUSTED"),
    _INVALID("attachment_type_refused", "detected", http=415),
    _INVALID("attachment_malformed", "reason"),
    _MISSING("attachment_not_found", "attachment"),
    _FORBIDDEN("attachment_fetch_refused", "caller"),
    _RULE("attachment_unavailable", "origin", http=503, grpc="UNAVAILABLE"),
    _RULE("attachment_hash_mismatch", "expected", "actual", http=502, grpc="DATA_LOSS"),
    _MISSING("attachment_not_image", "attachment"),
    _INVALID("attachment_image_too_large", "max_pixels"),
    # -- raised by the adapters themselves
    _ADAPTER("body_too_large", "max_bytes", http=413, grpc="RESOURCE_EXHAUSTED"),
    _ADAPTER("method_not_allowed", http=405, grpc="UNIMPLEMENTED"),
    _ADAPTER("http_error", private=("detail",)),
    _ADAPTER("streams_not_running", http=501, grpc="UNIMPLEMENTED"),
    _ADAPTER("internal", "request_id", http=500, grpc="INTERNAL", retryable=True),
)

ERRORS: Mapping[str, ErrorSpec] = {row.code: row for row in _ROWS}
assert len(ERRORS) == len(_ROWS), "an error code is listed twice"


def spec_of(exc: DomainError) -> ErrorSpec:
    """The row of `exc`'s code, else the row of its class's family."""
    spec = ERRORS.get(exc.code)
    if spec is not None and spec.error is not None and isinstance(exc, spec.error):
        return spec
    for cls in type(exc).__mro__:
        family = ERRORS.get(getattr(cls, "family", ""))
        if family is not None:
            return family
    return ERRORS["domain_error"]  # pragma: no cover - DomainError's own row
