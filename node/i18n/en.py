"""English texts of every stable error code (see node/i18n/__init__.py for the syntax)."""

from __future__ import annotations

from typing import Final

LIST_SEPARATOR: Final = ", "

TERMS: Final[dict[str, str]] = {
    # GB 32100-2015 registration authorities (position 1 of a credit code)
    "authority.1": "establishment administration",
    "authority.2": "foreign affairs",
    "authority.3": "justice administration",
    "authority.4": "culture",
    "authority.5": "civil affairs",
    "authority.6": "tourism",
    "authority.7": "religious affairs",
    "authority.8": "trade unions",
    "authority.9": "market regulation",
    "authority.A": "CMC reform and establishment office",
    "authority.N": "agriculture",
    "authority.Y": "other",
}

_DIVISION: Final = "positions 3–8 (division code of the registering office) are invalid: "

MESSAGES: Final[dict[str, str]] = {
    # families
    "domain_error": "the request was refused",
    "invalid_input": "invalid input: {field}",
    "illegal_transition": "action '{action}' is not allowed in state '{state}'",
    "rule_violation": "a business rule refused the action",
    "not_found": "not found",
    "forbidden": "not allowed",
    "unauthenticated": "authentication required",
    "conflict": "the request conflicts with the current state; reload and retry",
    # input
    "division_length": "a division code has 6 digits, got {length} characters",
    "division_digits": "a division code contains digits only",
    "division_province": "the first two digits '{prefix}' are not a province-level code",
    "division_structure": "invalid division code structure: when the city digits are 00 the "
                          "county digits must be 00 too",
    "credit_code_length": "a credit code has 18 characters, got {length}",
    "credit_code_check_length": "the check character needs the first 17 characters, "
                                "got {length}",
    "credit_code_character": "illegal character '{character}' at position {position} of the "
                             "credit code (allowed: digits and capital letters except I, O, "
                             "Z, S, V)",
    "credit_code_authority": "position 1 (registration authority) '{character}' is not a "
                             "valid code",
    "credit_code_entity_type": "position 2 (entity type) '{character}' is not valid for "
                               "registration authority '{authority}' ({authority:term}); "
                               "expected one of {allowed:list}",
    "credit_code_division_length": _DIVISION + "a division code has 6 digits, got {length} "
                                               "characters",
    "credit_code_division_digits": _DIVISION + "a division code contains digits only",
    "credit_code_division_province": _DIVISION + "the first two digits '{prefix}' are not a "
                                                 "province-level code",
    "credit_code_division_structure": _DIVISION + "invalid division code structure: when the "
                                                  "city digits are 00 the county digits must "
                                                  "be 00 too",
    "credit_code_check_character": "bad check character: the first 17 characters give "
                                   "'{expected}' but the code ends in '{actual}'; a character "
                                   "was probably mistyped",
    "text_required": "{field} is required",
    "text_control_character": "{field} contains a disallowed control character ({codepoint}) "
                              "at position {position}",
    "text_too_long": "{field} must be at most {max_len} characters, got {length}",
    "text_too_short": "{field} must be at least {min_len} characters, got {length}",
    "not_text": "{field} must be text",
    "phone_invalid": "invalid phone number: expected an 11-digit mobile number or a landline "
                     "as area code + number (e.g. 0571-88888888)",
    "tags_not_a_list": "tags must be a list of strings",
    "tags_not_text": "tags must be a list of text",
    "tags_not_canonical": "tags are duplicated or not canonical",
    "tags_too_many": "at most {max_count} tags are allowed, got {count}",
    "issue_id_invalid": "the issue id is malformed or not minted by its origin",
    "issue_number_invalid": "the issue number is malformed or not minted by its origin",
    "issue_origin_not_below": "{sender} may not introduce an issue that originated at "
                              "{origin}",
    "issue_origin_from_above": "an issue that originated in this subtree cannot arrive from "
                               "above as a new one",
    "outcome_invalid": "invalid outcome",
    "counter_out_of_range": "{field} is out of range",
    "year_out_of_range": "year {year} is out of range",
    "calendar_foreign_date": "calendar for {year} contains a date of another year: {date}",
    "calendar_date_both": "{date} cannot be both a holiday and a make-up workday",
    "calendar_year_mismatch": "configured year {key} does not match its calendar's year "
                              "{year}",
    "working_days_not_integer": "{field} must be a whole number of working days",
    "working_days_out_of_range": "{field} must be between {min} and {max} working days",
    "deadline_tag_empty": "tags in per_tag must be non-empty strings",
    "deadline_tag_invalid": "{field} must be a TagDeadlines",
    "sample_malformed": "malformed revisit sample record",
    "share_not_a_number": "share must be a number",
    "share_out_of_range": "share must be in (0, 1]",
    "seed_empty": "seed must be a non-empty string",
    "seed_part_empty": "{field} must be a non-empty string",
    "frame_id_invalid": "frame ids must be non-empty strings",
    "fact_invalid": "issue {issue_id}: invalid {name} {value}",
    "now_naive": "now must be timezone-aware",
    "min_sample_invalid": "min_sample must be an integer >= 1",
    "recurrence_window_invalid": "the recurrence window must be positive (given: {value})",
    "publication_malformed": "malformed publication ({problem})",
    "publication_misaddressed": "publication {kind} of {issuer} arrived on another node's subject",
    "publication_issuer_unknown": "publication {kind} of {issuer}: that"
        " node is not above this one",
    "publication_kind_unknown": "publication {kind} of {issuer}: this node knows no such kind",
    "publication_bad_signature": "publication {kind} of {issuer} refused:"
        " bad signature ({problem})",
    "publication_older": "publication {kind} of {issuer} version {version} is"
        " older than the stored version {stored}",
    "publication_version_conflict": "publication {kind} of {issuer} version {version} differs"
        " from the stored document of the same version",
    "floors_malformed": "malformed rule floors ({problem})",
    "rules_invalid": "invalid rules ({problem})",
    "rule_looser_than_floor": "{rule} = {value} is looser than the floor {floor} set by node"
        " {issuer} (version {version}); a node may only be stricter",
    "summary_malformed": "malformed summary: {problem}",
    "credit_code_not_yours": "an enterprise may only submit under its own credit code",
    "channel_not_online": "enterprises submit through 'online'",
    "enterprise_not_found": "no issue at this node was raised under credit code {credit_code}",
    "channel_not_configured": "this node has no intake channel '{channel}'",
    "channel_field_unknown": "the channel '{channel}' has no field '{key}'",
    "channel_field_date_invalid": "{field} must be a date (YYYY-MM-DD), not '{value}'",
    "common_issue_personal_data": "a common issue carries no credit code or phone",
    "channel_fields_malformed": "channel fields must be a few 'key: text' pairs",
    "intake_batch_empty": "enter at least one issue",
    "intake_batch_too_large": "at most {max_rows} issues can be entered at once",
    "intake_rows_invalid": "some rows are not valid; nothing was saved: correct them and "
                           "submit again",
    "open311_window_reversed": "end_date may not be before start_date",
    "open311_window_too_long": "start_date and end_date may be at most {max_days} days apart",
    "open311_parameter_required": "the parameter {field} is required",
    "open311_parameter_invalid": "the parameter {field} has an invalid value: {value}",
    "open311_body_invalid": "the body cannot be read: send a form "
                            "(application/x-www-form-urlencoded) or a JSON object",
    "open311_service_code_unknown": "there is no service with the code {service_code}",
    "open311_service_not_found": "there is no service with the code {service_code}",
    "open311_request_not_found": "there is no service request {service_request_id}",
    "open311_jurisdiction_unknown": "this endpoint takes no requests for jurisdiction "
                                    "{jurisdiction_id}",
    "open311_client_not_found": "there is no client system {client}",
    "open311_key_invalid": "the api_key is not valid or was revoked",
    "period_invalid": "period must be a month as YYYY-MM",
    "cursor_invalid": "the page cursor is not valid: start again from the first page",
    "enterprise_needs_credit_code": "an enterprise account needs a credit code",
    "role_invalid": "an enterprise account cannot become a staff account",
    "directive_kind_invalid": "kind must be one of {kinds:list}",
    "transfer_misaddressed": "the transfer is addressed to another node",
    "number_or_origin_differs": "the issue's number or origin differs from this node's copy",
    "replica_not_from_origin": "a new issue must be published by its origin",
    "replica_number_taken": "another issue already holds this number",
    "replica_identity_changed": "an event may not change an issue's id, number or origin",
    "federation_message_invalid": "invalid federation message: {field}: {problem}",
    "request_invalid": "invalid request: {field}",
    "import_value_unknown": "{field}: value not recognised, see the template's notes",
    "import_date_invalid": "{field}: not a date and time (e.g. 2025-03-04 09:30)",
    "import_date_in_future": "{field}: later than now",
    "import_needs_value": "{field} is required when the state is {state}",
    "import_rating_needs_closed": "only a closed issue can carry a rating",
    "import_rating_unsatisfied_closed": "an unsatisfied rating reopens an issue: it cannot be "
                                        "imported as closed",
    "import_date_before": "{field} is earlier than {before}",
    "import_external_id_repeated": "external id repeats row {first_row}",
    "import_columns_missing": "the file lacks required columns: {columns:list}",
    "import_file_type": "only .xlsx and .csv files can be imported",
    "import_file_empty": "the file has no data (the first row must name the columns)",
    "import_file_unreadable": "the file cannot be read: is it .xlsx or .csv?",
    "import_too_many_rows": "a file may have at most {max_rows} rows",
    # the tag library
    "tag_unknown": ("'{tag}' is not a tag of this node's library: choose a library tag or propose "
                    "a new one"),
    "tag_inactive": "tag '{tag}' is no longer active",
    "tag_slug_invalid": "a slug has lowercase letters, digits and '-' only",
    "tag_publication_invalid": "a published tag library was malformed: {problem}",
    "tag_from_above": ("tag library entry {tag} was defined by node {origin}: it cannot be "
                       "renamed, deactivated or merged here"),
    "tag_name_taken": "the name '{name}' is already used by {tag}",
    "tag_not_found": "no tag {tag}",
    "tag_category_not_found": "no tag category {category}",
    "tag_proposal_not_found": "no tag proposal {proposal}",
    "tag_category_inactive": "tag category {category} is not active",
    "tag_already_merged": "tag {tag} was merged into {into}",
    "tag_merge_self": "a tag cannot be merged into itself ({tag})",
    "tag_inactive_target": "tag {tag} is not active: merge into an active tag",
    "tag_proposal_decided": "tag proposal {proposal} was already decided ({state})",
    "policy_date_invalid": "{field} is not a date (e.g. 2025-01-01)",
    "policy_valid_to_before_from": "the end date is before the start date ({valid_from})",
    "policy_tags_required": "give at least one tag: policies are matched to issues by tag",
    "policy_industry_unknown": "{industry} is not an industry section (e.g. 制造业 or C)",
    "policy_size_unknown": "{size} is not an enterprise size: micro, small, medium or large",
    "policy_region_outside": "region {region} is not within this node ({node})",
    "policy_link_invalid": "the link must start with http:// or https://",
    "policy_profile_needs_consent": ("an enterprise's industry and size are kept only with its "
                                     "consent"),
    "policy_doc_number_repeated": "the document number repeats row {first_row}",
    "policy_publication_invalid": "the policy library received from above is malformed: {problem}",
    "policy_doc_number_taken": ("a policy with document number {doc_number} is already in the "
                                "library"),
    "policy_exists": ("someone entered or imported the same policy just now: reload the library "
                      "and try again (policies already there are not imported twice)"),
    "policy_already_attached": "policy {policy} is already attached to this issue's reply",
    "policy_from_above": ("policy {policy} was published by node {origin} above: it cannot be "
                          "changed or withdrawn here"),
    "policy_not_found": "no policy {policy}",
    # organisation units
    "unit_id_invalid": ("unit id '{value}' is invalid: it is '<node code>.<slug>', the slug of "
                        "lower-case letters, digits, - or _ (at most 32)"),
    "unit_kind_invalid": "unit kind '{value}' is invalid",
    "unit_parent_invalid": ("parent unit {parent} does not exist or is no department of this node "
                            "(only a department sits under a bureau)"),
    "unit_parent_cycle": "{parent} cannot be the parent: that would make a cycle",
    "unit_unknown": "{unit} is not a unit of this node's catalogue",
    "organisation_invalid": "the organisation file is invalid ({field}): {problem}",
    "organisation_conflict": "unit {unit} exists as a {have}; the file has a {want}",
    "unit_kind_mismatch": "unit {unit} is a {kind}; this needs {expected}",
    "unit_inactive": "unit {unit} is deactivated and takes no dispatch",
    "unit_not_found": "no unit {unit}",
    "unit_exists": "unit {unit} already exists",
    "unit_active_unchanged": "unit {unit} is already so (active: {active})",
    "merge_self": "an issue cannot be merged into itself",
    "cluster_members_count": "a common-issue cluster holds 2 to {max_count} issues, not {count}",
    "cluster_one_unit": "a common-issue cluster groups issues of two or more units",
    "cluster_member_taken": "issue {issue} is already in cluster {cluster}",
    "cluster_not_found": "no cluster {cluster}",
    "merge_followers_count": "name 1 to {max_count} issues to merge, not {count}",
    "merge_not_open": "issue {issue} cannot be merged in state '{state}': only open issues "
                      "handled here can",
    "merge_has_followers": "issue {issue} has followers merged into it: it cannot follow "
                           "another",
    "not_merged": "issue {issue} is not merged (or was answered since): nothing to undo",
    # rules
    "urge_too_soon": "an issue can be urged once per 24 h; next allowed at {next_allowed_at}",
    "ladder_exhausted": "the issue is at the top of this node's ladder; escalate it to the "
                        "next tier",
    "common_issue_enterprise_only": "a common issue (no single enterprise) cannot be "
                                    "urged or rated",
    "transfer_pending": "the issue is being transferred to another tier; wait for the answer",
    "no_parent": "this node has no parent to escalate to",
    "not_escalated_here": "the issue did not come from a child; nothing to return to",
    "not_a_child": "{child} is not a child of this node",
    "owned_here": "this node owns the issue: urge it directly",
    "sample_already_drawn": "the revisit sample of {period} is already drawn (sample "
                            "{sample_id}); only a leader may re-draw it, with a reason",
    "redraw_without_sample": "{period} has no sample yet: a re-draw reason is not expected",
    "meeting_not_on_agenda": "issue {issue} is not on the joint meeting's agenda",
    "case_too_many_measures": "at most {max_count} measures (there are {count})",
    "case_incomplete": "a case needs these before it is published: {missing}",
    "case_malformed": "malformed case from a lower tier: {problem}",
    "case_subject_not_closed": "{subject} is not closed yet ({state}): review it once closed",
    "case_subject_unsupported": "reviews of a {kind} are not supported yet",
    "case_already_published": "review {case} is published as a case and can no longer change",
    "case_not_published": "review {case} is not published",
    "case_not_found": "no review or case {case}",
    "meeting_no_decision": "the joint meeting of {meeting} has no decision on issue {issue} "
                           "yet: record it before escalating",
    "report_period_invalid": "the report period must be YYYY-MM (month), YYYY-Q1…Q4 "
                             "(quarter) or YYYY (year)",
    "report_period_open": "{period} has not ended yet (it ends {end}): a report is made "
                          "once it has",
    "meeting_step_not_in_ladder": "this node's ladder has no step \"{step}\"",
    "index_weights_invalid": "the index weights are not valid ({field}): {problem}",
    "evaluation_invalid": "the external evaluation is not valid ({field}): {problem}",
    "index_level_invalid": "the ranking level must be county, city or department (got {level})",
    "report_special_invalid": "the special report's choice is not valid ({field}): {problem}",
    "deadline_before_meeting": "the deadline cannot be before the meeting on {meeting}",
    "meeting_decision_exists": "this meeting has already decided on issue {issue}",
    "revisit_task_closed": "revisit task {task} is {state}: no result can be recorded",
    "login_throttled": "too many failed sign-ins; try again in {retry_after} s",
    "login_locked": "too many failed sign-ins: locked for now; try again in {retry_after} s "
                    "or ask an administrator to unlock it",
    "own_account_protected": "you cannot disable your own account or change your own role",
    "signin_code_too_soon": "a code was just sent; ask again in {retry_after} s",
    "signin_too_many": "too many sign-in codes or attempts; try again in {retry_after} s",
    "live_streams_limit": "too many live pages open (at most {max_streams}); close some and retry",
    "membership_role_invalid": "'{role}' is not a role an account may hold in a unit",
    "membership_unit_unknown": "this node has no unit '{unit}'",
    "membership_unit_inactive": "unit '{unit}' is inactive",
    "membership_not_staff": "an enterprise account cannot belong to a unit",
    "membership_too_many": "an account may belong to at most {max_units} units",
    "membership_exists": "the account is already {role} of unit '{unit}'",
    "membership_not_found": "the account is not {role} of unit '{unit}'",
    "not_your_unit": "the issue is not in the queue of your unit ({unit})",
    "own_rejection": "you cannot review your own rejection (another person must review it)",
    "not_review_unit": "a rejection is reviewed by a member of the review unit ({units})",
    # not found
    "issue_not_found": "no issue {issue}",
    "sample_not_found": "no revisit sample {sample_id}",
    "revisit_task_not_found": "no revisit task {task}",
    "notification_not_parked": "no parked notification {delivery_id}",
    "notify_account_unknown": "no account '{username}'",
    "notifications_disabled": "this node sends no notifications (notify.enabled is off)",
    "template_malformed": "the template's {field} has a malformed placeholder",
    "import_job_not_found": "no such import job",
    "account_not_found": "no account '{username}'",
    # forbidden
    "role_not_permitted": "role '{role}' may not '{permission}'",
    "replica_read_only": "the issue is owned by node {owner}; this node holds a read-only "
                         "replica",
    "not_your_department": "the issue is not assigned to your department",
    "not_below_node": "{unit} is not below this node",
    "not_owner": "this node does not own the issue",
    "caller_not_child": "{caller} is not a configured child of this node",
    "caller_not_parent": "{caller} is not this node's parent",
    "origin_mismatch": "the calling node is not the origin the message claims",
    "certificate_mismatch": "certificate names {caller}, the message claims {claimed}",
    "caller_not_owner": "{caller} does not own issue {issue_id}",
    "owner_differs": "this node records {owner} as the owner, not {caller}",
    "directive_not_allowed": "{caller} may not send a {kind} directive to this node",
    "caller_off_path": "{caller} is not on the path of issue {issue_id}",
    "enterprise_mismatch": "the enterprise does not own this issue",
    "read_not_allowed": "{caller} may not read this issue",
    "watermark_not_allowed": "only a configured child, with its certificate, may ask",
    # unauthenticated
    "login_required": "log in first (Authorization: Bearer <token>)",
    "wrong_password": "wrong username or password",
    "signin_code_invalid": "wrong or expired code; ask for a new one if needed",
    "oidc_failed": "signing in through the identity provider failed; try again",
    "oidc_disabled": "this node has no identity provider for enterprises",
    "account_unknown": "unknown or disabled account",
    "session_expired": "session expired; log in again",
    "session_invalid": "invalid session token",
    "live_ticket_invalid": "the live update ticket is unknown, used or expired",
    "session_revoked": "session ended (account disabled or password reset); log in again",
    "no_client_certificate": "no client certificate",
    "fetch_needs_certificate": "Fetch needs a client certificate (insecure mode)",
    # conflicts
    "version_mismatch": "version mismatch: the issue is at {current_version}, the request "
                        "expected {expected_version}",
    "concurrent_update": "the issue was changed by someone else; reload and retry",
    "account_exists": "account {username} exists",
    "transfer_outdated": "the transferred issue is older than this node's copy",
    "number_taken": "another issue already holds this number",
    # attachments
    "attachment_too_large": "the file is too large: at most {max_bytes} bytes",
    "attachment_issue_full": "the issue's files would exceed {max_bytes} bytes",
    "attachment_type_refused": "this kind of file is not accepted ({detected}): images, "
                               "PDF and office documents only",
    "attachment_malformed": "the upload is malformed ({reason})",
    "attachment_not_found": "attachment {attachment} not found",
    "attachment_fetch_refused": "node {caller} may not fetch this attachment",
    "attachment_unavailable": "the file is held by node {origin}, which cannot be reached "
                              "now; try again later",
    "attachment_hash_mismatch": "the file received does not match its SHA-256",
    "attachment_not_image": "attachment {attachment} has no thumbnail",
    "attachment_image_too_large": "the image is too large for a thumbnail: at most "
                                  "{max_pixels} pixels",
    # the adapters' own
    "body_too_large": "request body too large: at most {max_bytes} bytes",
    "method_not_allowed": "method not allowed",
    "http_error": "{detail}",
    "streams_not_running": "this node runs no event streams",
    "internal": "internal server error; please try again later, and give the request id to "
                "the administrator if it keeps happening",
}
