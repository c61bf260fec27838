"""SQL schema of one node's store (SQLAlchemy Core tables).

The `events` table is the node's log and, for the federation, its outbox: `seq` is the
per-node sequence, allocated from the `counters` row inside the writing transaction so it
is gapless and in commit order on every backend (a PostgreSQL SEQUENCE can commit out of
order and would let a relay that reads `seq > cursor` skip rows). `(issue_id, version)`
is unique, which is what makes a second writer of the same version fail instead of
forking the history. The `issues` table is the current snapshot (a projection of the
events, written in the same transaction, with the instants its light changes at, which
depend on the node's calendar); `issue_tags` exists only to filter by tag.

Every change of this file needs an Alembic revision under `migrations/versions/`;
`tests/integration/test_store.py` fails when the two disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no offset) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = UTCDateTime()
RUNNING = text("light_red_at IS NOT NULL")  # the rows of issues whose deadline runs
RESOLVED = text("resolved_at IS NOT NULL")
CLOSED = text("closed_at IS NOT NULL")

issues = Table(
    "issues",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("origin", String(6), nullable=False),
    Column("owner", String(6), nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("enterprise_name", String(100), nullable=False),
    Column("credit_code", String(18), nullable=False),
    Column("contact_phone", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("title", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("board", String(60)),
    Column("department", String(60)),
    Column("ladder_step", Integer, nullable=False, default=0),
    Column("deadline_kind", String(10)),
    Column("deadline_start", TS),
    Column("deadline_due", TS),
    Column("resolve_due", TS),
    Column("urge_count", Integer, nullable=False, default=0),
    Column("last_enterprise_urge_at", TS),
    Column("reply", Text),
    Column("rejection_reason", Text),
    Column("rating", String(20)),
    Column("rating_comment", Text),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("resolved_at", TS),
    Column("closed_at", TS),
    Column("outcome", String(10)),
    Column("revisit_result", String(12)),
    Column("came_from", String(6)),
    Column("supervision_count", Integer, nullable=False, default=0, server_default="0"),
    Column("received_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # The running deadline's first YELLOW and first RED instant on this node's calendar
    # (node/domain/lights.py), NULL when no deadline runs: the lights are range predicates.
    Column("light_yellow_at", TS),
    Column("light_red_at", TS),
    # 0015: the unit a ladder step above 0 moved the issue to, and the unit whose queue
    # holds it now (node/domain/units.py `queue_of`), kept by every write of the row
    Column("ladder_unit", String(60)),
    Column("queue_unit", String(60)),
    # 0016: who rejected it (the reject event's actor label): never its reviewer
    Column("rejected_by", String(64)),
    # The pool lists newest first, (received_at, id) descending, and pages by that key:
    # each filter it offers has an index that yields its rows already in that order.
    Index(None, "received_at", "id"),
    Index(None, "state", "received_at", "id"),
    Index(None, "owner", "received_at", "id"),
    Index(None, "board", "received_at", "id"),
    Index(None, "department", "received_at", "id"),
    Index(None, "credit_code", "received_at", "id"),
    Index(None, "queue_unit", "received_at", "id"),  # 0015: the pool by unit queue
    # Lights (and overdue, and "turning red by"): the running rows only — the open ones, a
    # small part of ten years' issues — in pool order with what the light predicates read
    # (a light predicate implies `light_red_at IS NOT NULL`, so both backends may take these
    # partial indexes), by unit and state for the cockpit's counts, or by instant.
    Index("ix_issues_running", "received_at", "id", "light_red_at", "light_yellow_at",
          "state", sqlite_where=RUNNING, postgresql_where=RUNNING),
    Index("ix_issues_running_counts", "origin", "owner", "state", "light_red_at",
          "light_yellow_at", sqlite_where=RUNNING, postgresql_where=RUNNING),
    Index(None, "light_red_at", "light_yellow_at"),
    Index(None, "light_yellow_at"),
    # 0031: the cockpit's weekly resolved and closed series (node/store/stats.py) from the
    # resolved, or closed, rows only, with what those aggregates group by
    Index("ix_issues_resolved", "resolved_at", "origin", "department", "resolve_due",
          sqlite_where=RESOLVED, postgresql_where=RESOLVED),
    Index("ix_issues_closed", "closed_at", "origin", sqlite_where=CLOSED,
          postgresql_where=CLOSED),
)

# `received_at` is the issue's (it never changes): the pool filtered by a tag pages through
# this table's index in the pool's order.
issue_tags = Table(
    "issue_tags",
    metadata,
    Column("issue_id", String(64), ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(30), primary_key=True),
    Column("received_at", TS, nullable=False),
    Index(None, "tag", "received_at", "issue_id"),
)

# How many issues there are per origin unit, owner and state: maintained by every write of
# an issues row, in its transaction (node/store/repo.py), so the cockpit counts ten years of
# issues without reading them.
issue_counts = Table(
    "issue_counts",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("owner", String(6), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("n", Integer, nullable=False),
)

# What each unit of origin's issues add to the node's summary (node/domain/summary.py
# line_counts: totals, states, rate sums, tags, handling time), kept by every write of an
# issues row in its own transaction, so a summary reads this and the running rows only.
summary_counts = Table(
    "summary_counts",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

# 0030: the handling metrics without a scan (node/store/metric_counts.py). metric_facts: per
# issue, what it last added to metric_counts (its group and counts) and what the 重发复发率
# reads of it (enterprise, tags, received/closed instants, whether it recurred); kept by
# every write of an issues row in its transaction. metric_counts: the sums per finest group.
metric_facts = Table(
    "metric_facts",
    metadata,
    Column("issue_id", String(64), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("owner", String(6), nullable=False),
    Column("board", String(60), nullable=False),
    Column("department", String(60), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("credit_code", String(18)),
    Column("tags", JSON, nullable=False),
    Column("received_at", TS, nullable=False),
    Column("closed_at", TS),
    Column("state", String(16), nullable=False),
    Column("rejected", Boolean, nullable=False),
    # a closed issue the recurrence rate counts: it recurred / its window ended by the
    # store's recurrence watermark without a recurrence (counted in metric_counts)
    Column("eligible", Boolean, nullable=False),
    Column("recurred", Boolean, nullable=False),
    Column("matured", Boolean, nullable=False),
    Index(None, "credit_code"),
    Index(None, "eligible", "recurred", "closed_at"),
)

metric_counts = Table(
    "metric_counts",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("owner", String(6), primary_key=True),
    Column("board", String(60), primary_key=True),
    Column("department", String(60), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(80), nullable=False, unique=True),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("node", String(6), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", TS, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("published", Boolean, nullable=False, default=False),
    # The writer's own gapless sequence of the events it wrote (its stream order). Local
    # events get the next value; replicated ones keep the writer's. The parent's
    # replication mark per writer is compared with it to find what to re-send.
    Column("writer_seq", Integer),
    # The event's link in its writer's hash chain (node/domain/chain.py): set for this
    # node's own events, kept as received for replicated ones (None: not known).
    Column("chain", String(64)),
    UniqueConstraint("issue_id", "version"),
    UniqueConstraint("node", "writer_seq"),
    Index(None, "published", "seq"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Integer, nullable=False),
)

# Facts about the store itself, by name: `lights_calendar` is the fingerprint of the
# calendar the light instants of the issues rows were computed with (node/store/repo.py).
store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("username", String(40), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("board", String(60)),
    Column("department", String(60)),
    Column("credit_code", String(18), unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
    # 0008: bumped when the account is disabled or its password reset; a session token
    # names the generation it was issued at and is refused once it differs
    Column("token_generation", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", TS),
)

# 0008: failed sign-ins per subject ("account:<username>" or "address:<ip>"), with the
# back-off or lock they earned (node/app/accounts.py); kept so a restart resets nothing
login_failures = Table(
    "login_failures",
    metadata,
    Column("subject", String(120), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", TS, nullable=False),
    Column("blocked_until", TS),
    Column("locked", Boolean, nullable=False, default=False),
)

# 0008: who changed which account when (never a password or its hash)
account_events = Table(
    "account_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_account_events_subject_id", "subject", "id"),
)

# 0021: enterprises' one-time sign-in codes (node/store/signin_codes.py): the digest only
# (HMAC under the node's key), never the digits; `notice_id` is the SMS that carried the
# code until its digits are scrubbed from the outbox after expiry
signin_codes = Table(
    "signin_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credit_code", String(18), nullable=False),
    Column("phone", String(20)),
    Column("digest", String(64), nullable=False),
    Column("via", String(8), nullable=False),  # sms | window | none
    Column("issued_by", String(64)),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", TS),
    Column("notice_id", Integer),
    Index(None, "credit_code", "id"),
    Index(None, "expires_at"),
)

# 0021: sign-in code limits per subject ("req-credit:<code>", "fail-phone:<phone>", ...)
# in a window that starts at the subject's first event (node/domain/signin_codes.py)
signin_limits = Table(
    "signin_limits",
    metadata,
    Column("subject", String(120), primary_key=True),
    Column("window_start", TS, nullable=False),
    Column("count", Integer, nullable=False),
    Column("last_at", TS, nullable=False),
    Index(None, "window_start"),
)

# 0016: the units a staff account belongs to, with its role in each (node/app/policy.py
# `Membership`); a unit id is "<node code>.<slug>" (node/domain/units.py)
account_units = Table(
    "account_units",
    metadata,
    Column("username", String(40), ForeignKey("users.username"), primary_key=True),
    Column("unit_id", String(40), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("created_at", TS, nullable=False),
    Index(None, "unit_id", "role"),
)

# 0015: the organisation units (node/domain/units.py): this node's catalogue, and the units
# its children published (node = the child's code); `unit_events` is the change log of
# this node's own units, append-only (one row per change, in the change's transaction).
units = Table(
    "units",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("node", String(6), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name_zh", String(40), nullable=False),
    Column("name_en", String(80)),
    Column("parent_id", String(40)),
    Column("active", Boolean, nullable=False, default=True),
    Column("external_code", String(40)),
    Column("updated_at", TS, nullable=False),
    Index(None, "node", "kind"),
)

unit_events = Table(
    "unit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unit_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("at", TS, nullable=False),
    Column("before", JSON),
    Column("after", JSON, nullable=False),
    Index(None, "unit_id", "id"),
)

# 0020: periodic reports (node/app/reports.py): one per node, kind and period, with the
# content as JSON and both files (PDF, .xlsx) in the row with their SHA-256
reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(6), nullable=False),
    Column("kind", String(8), nullable=False),  # month | quarter | year | special
    # 2026-11 | 2026-Q4 | 2026 | 2026-01-01~2026-03-31[#<8 hex>] (0025: String(40))
    Column("period", String(40), nullable=False),
    Column("version", Integer, nullable=False),  # 1, +1 per regeneration on demand
    Column("trigger", String(10), nullable=False),  # schedule | demand
    Column("actor", String(64), nullable=False),
    Column("as_of", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("content", JSON, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    Column("pdf_sha256", String(64), nullable=False),
    Column("xlsx", LargeBinary, nullable=False),
    Column("xlsx_sha256", String(64), nullable=False),
    Index("ux_reports_node_kind_period", "node", "kind", "period", unique=True),
)

# 0023: the external evaluations of the 有感指数 (node/domain/index.py), one per unit,
# period and kind (基层评价 grassroots, 企业评价 enterprise, 第三方评价 third_party)
index_evaluations = Table(
    "index_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unit", String(60), nullable=False),  # a division code or a unit id
    Column("period", String(8), nullable=False),  # 2026-11 | 2026-Q4 | 2026
    Column("kind", String(12), nullable=False),
    Column("score", Float, nullable=False),  # 0–100
    Column("source", String(200), nullable=False),
    Column("entered_by", String(64), nullable=False),
    Column("entered_at", TS, nullable=False),
    Index("ux_index_evaluations_unit_period_kind", "unit", "period", "kind", unique=True),
)

revisit_samples = Table(
    "revisit_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(6), nullable=False),
    Column("period", String(20), nullable=False),
    Column("seed", String(200), nullable=False),
    Column("share", String(20), nullable=False),
    Column("frame", JSON, nullable=False),
    Column("selected", JSON, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    # 0014: one sample per node and period — draw 1, and a leader's re-draws with a reason
    Column("draw", Integer, nullable=False, server_default=text("1")),
    Column("reason", String(1000)),
    Column("redraw_of", Integer),
    Index("ux_revisit_samples_node_period_draw", "node", "period", "draw", unique=True),
)

# 0014: the supervision office's revisit tasks, one per sampled issue and draw (回访验收)
revisit_tasks = Table(
    "revisit_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sample_id", Integer, ForeignKey("revisit_samples.id"), nullable=False),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False),
    Column("state", String(12), nullable=False),  # open | done | superseded
    Column("due", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("result", String(20)),
    Column("contact", String(12)),
    Column("note", Text),
    Column("done_at", TS),
    Column("done_by", String(64)),
    UniqueConstraint("sample_id", "issue_id"),
    Index("ix_revisit_tasks_state_due", "state", "due"),
)

# 0014: the joint meeting's (联席会议) decisions, one per meeting and issue
meeting_decisions = Table(
    "meeting_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(6), nullable=False),
    Column("meeting", Date, nullable=False),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False),
    Column("leader", String(200), nullable=False),
    Column("decision", Text, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("meeting", "issue_id"),
)

# A client's retry of the same submission (same principal, same Idempotency-Key) returns
# the issue created the first time instead of creating a second one.
submissions = Table(
    "submissions",
    metadata,
    Column("principal", String(64), primary_key=True),
    Column("idempotency_key", String(80), primary_key=True),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False),
    Column("created_at", TS, nullable=False),
)

# ----------------------------------------------------------------------------- federation
#
# transfers_out is the outbox of ownership transfers (escalations up, returns down): a row is
# written in the same transaction as the staff decision and stays `pending` until the
# receiver accepts; the issue is frozen meanwhile. `seq` orders the rows per sender.
transfers_out = Table(
    "transfers_out",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    # No foreign key: a directive may name an issue this node holds no copy of (the
    # province supervises by number from a summary).
    Column("issue_id", String(64), nullable=False),
    # escalate | return | supervise | urge | enterprise_urge | rate (0024: 10 → 24)
    Column("kind", String(24), nullable=False),
    Column("destination", String(6), nullable=False),
    Column("event", JSON, nullable=False),  # the prepared transfer event (version n+1)
    Column("status", String(10), nullable=False),  # pending | delivered | refused
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("response", JSON),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS),
    Index(None, "status", "destination", "seq"),
    Index(None, "issue_id", "status"),
)

# transfers_in is the inbox: (origin, transfer_id) → the acceptance we answered, written in
# the same transaction as the received issue. Never pruned: a child may retry after days.
transfers_in = Table(
    "transfers_in",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("transfer_id", String(64), primary_key=True),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False),
    Column("response", JSON, nullable=False),
    Column("received_at", TS, nullable=False),
)

# Persisted backoff per destination: survives restarts, resets when the peer answers.
destinations = Table(
    "destinations",
    metadata,
    Column("node", String(6), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS),
    Column("last_error", Text),
    Column("last_attempt_at", TS),
    Column("last_success_at", TS),
)


# ----------------------------------------------------------------------------- streams
#
# What this node has applied of each writer's event stream: every writer_seq up to and
# including `through_seq` has been seen (applied or found to be a duplicate).
replication_marks = Table(
    "replication_marks",
    metadata,
    Column("writer", String(6), primary_key=True),
    Column("through_seq", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Messages that cannot be applied (malformed, or refused after max deliveries) are parked
# here and acknowledged, so that one poison message never blocks the rest.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stream", String(64), nullable=False),
    Column("stream_seq", Integer, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("error", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("at", TS, nullable=False),
    # set when a parked message was applied later (a gap repaired once the peer answered)
    Column("resolved_at", TS, nullable=True),
    UniqueConstraint("stream", "stream_seq"),
)

# 0018: publications (node/app/publications.py): the newest version per (issuer, kind) of
# what this node and its ancestors publish down the federation (rule floors, tag
# categories), with the signed envelope as received (what is verified, relayed, shown).
publications = Table(
    "publications",
    metadata,
    Column("issuer", String(12), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("body", JSON, nullable=False),
    Column("envelope", Text, nullable=False),
    Column("received_at", TS, nullable=False),
)

# 0029: the policy library (政策库, node/domain/policies.py): this node's own policies and
# those its ancestors published down (`origin`: the node that entered it; an ancestor's
# rows are replaced by each new version of its publication); the policies a handler
# attached to an issue's reply; and what an enterprise told about itself for matching
# (industry, size), kept only with its consent.
policies = Table(
    "policies",
    metadata,
    Column("id", String(40), primary_key=True),  # p.<origin>.<token>
    Column("origin", String(6), nullable=False),
    Column("title", String(200), nullable=False),
    Column("issuer", String(100), nullable=False),
    Column("doc_number", String(60)),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("tags", JSON, nullable=False),
    Column("industries", JSON, nullable=False),
    Column("sizes", JSON, nullable=False),
    Column("regions", JSON, nullable=False),
    Column("summary", Text, nullable=False),
    Column("link", String(500)),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("origin", "doc_number"),
    Index(None, "origin"),
)

issue_policies = Table(
    "issue_policies",
    metadata,
    Column("issue_id", String(64), primary_key=True),
    Column("policy_id", String(40), primary_key=True),
    Column("attached_by", String(80), nullable=False),
    Column("attached_at", TS, nullable=False),
)

enterprise_profiles = Table(
    "enterprise_profiles",
    metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("industry", String(1)),
    Column("size", String(8)),
    Column("consent_at", TS, nullable=False),  # when the enterprise agreed
    Column("recorded_by", String(80), nullable=False),  # who recorded it (itself or staff)
    Column("updated_at", TS, nullable=False),
)


# ----------------------------------------------------------------------------- notifications
#
# The notification outbox (node/store/notifications.py): one row per notice, written in the
# transaction of the event (or light transition) that causes it; `expanded_at` is set when
# the dispatcher has turned it into deliveries, one per (recipient, channel) with its one
# idempotency key, retried with persisted backoff and parked after too many attempts.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("topic", String(24), nullable=False),
    Column("issue_id", String(64), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expanded_at", TS),
    Index(None, "expanded_at", "id"),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("notification_id", Integer, ForeignKey("notifications.id"), nullable=False),
    Column("recipient", String(80), nullable=False),  # user:<name> | enterprise:<credit code>
    Column("channel", String(8), nullable=False),  # sms | email | oa | inbox
    Column("address", String(200), nullable=False),  # personal data: stays at this node
    Column("locale", String(8), nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered | parked
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS),
    Index(None, "status", "next_attempt_at"),
)

# The in-app inbox of staff accounts; the delivery's idempotency key makes it deduplicate.
inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(40), nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("topic", String(24), nullable=False),
    Column("issue_id", String(64), nullable=False),
    Column("number", String(32), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("read_at", TS),
    Index(None, "username", "read_at", "id"),
)

# Each light transition of a running deadline, recorded once by the light scanner.
light_transitions = Table(
    "light_transitions",
    metadata,
    Column("issue_id", String(64), primary_key=True),
    Column("deadline_kind", String(10), primary_key=True),
    Column("deadline_due", TS, primary_key=True),
    Column("colour", String(6), primary_key=True),
    Column("recorded_at", TS, nullable=False),
    Column("notified", Boolean, nullable=False),
)

# Message templates an admin edited (over the defaults in code and the configuration).
notification_templates = Table(
    "notification_templates",
    metadata,
    Column("locale", String(8), primary_key=True),
    Column("topic", String(24), primary_key=True),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_by", String(40), nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Where staff accounts are reached besides the in-app inbox (set by an admin).
notification_contacts = Table(
    "notification_contacts",
    metadata,
    Column("username", String(40), primary_key=True),
    Column("email", String(200)),
    Column("phone", String(20)),
    Column("oa_id", String(80)),
    Column("locale", String(8)),
    Column("updated_at", TS, nullable=False),
)


# ----------------------------------------------------------------------------- tags
#
# 0017: the tag library (node/domain/tags.py, node/store/tags.py): categories and tags with
# the node that defined each (`origin`: this node, or an ancestor whose publication brought
# it); nothing is deleted. `tag_aliases` keeps history: a tag's former names (kind `name`)
# and the ids merged into it (kind `merge`). Proposals from triage wait for a leader;
# `tag_changes` is the append-only change log.
tag_categories = Table(
    "tag_categories",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name_zh", String(30), nullable=False),
    Column("name_en", String(60)),
    Column("active", Boolean, nullable=False),
    Column("origin", String(6), nullable=False),
    Column("updated_at", TS, nullable=False),
)

tag_entries = Table(
    "tag_entries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("name_zh", String(30), nullable=False),
    Column("name_en", String(60)),
    Column("active", Boolean, nullable=False),
    Column("origin", String(6), nullable=False),
    Column("merged_into", String(64)),
    Column("updated_at", TS, nullable=False),
    Index(None, "category"),
)

tag_aliases = Table(
    "tag_aliases",
    metadata,
    Column("tag_id", String(64), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),  # name | merge
    Column("at", TS, nullable=False),
)

tag_proposals = Table(
    "tag_proposals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("category", String(64), nullable=False),
    Column("name_zh", String(30), nullable=False),
    Column("name_en", String(60)),
    Column("issue_id", String(64)),
    Column("note", String(500)),
    Column("state", String(10), nullable=False),  # pending | approved | refused
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", TS, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", TS),
    Column("tag_id", String(64)),
    Index(None, "state", "id"),
)

tag_changes = Table(
    "tag_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Index(None, "subject", "id"),
)


# ----------------------------------------------------------------------------- files
#
# 0022: Open311 client systems (node/store/open311.py): each posts requests with its own
# API key, known here by its SHA-256 only, into the intake channel it is bound to.
open311_clients = Table(
    "open311_clients",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_hint", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", TS),
    Column("revoked_by", String(64)),
)

# An imported issue's external id (the unique id of the row in the file it came from, what
# makes importing the same file twice add nothing) → the issue it became, with the number
# the issue had in the system it came from (the issue gets a number of this node).
import_keys = Table(
    "import_keys",
    metadata,
    Column("external_id", String(64), primary_key=True),
    Column("issue_id", String(64), ForeignKey("issues.id"), nullable=False, unique=True),
    Column("original_number", String(40)),
    Column("actor", String(64), nullable=False),
    Column("imported_at", TS, nullable=False),
)

# Who exported which issues with their personal data (enterprise contact, phone), when, by
# what filter, and how many rows: kept until an audit log exists.
export_log = Table(
    "export_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(64), nullable=False),
    Column("at", TS, nullable=False),
    Column("format", String(8), nullable=False),
    Column("filter", JSON, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("personal", Boolean, nullable=False),
    Index(None, "at"),
)

# 0019: the audit trail (node/store/audit.py): append-only, one gapless `seq` per writer
# (this node) and each row's link in the writer's audit hash chain (node/domain/chain.py
# audit_link), so an edited or deleted row is found by `zhitong audit verify`.
audit_log = Table(
    "audit_log",
    metadata,
    Column("writer", String(6), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", TS, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("actor_role", String(20)),
    Column("address", String(64)),
    Column("action", String(120), nullable=False),
    Column("target_kind", String(20)),
    Column("target_id", String(120)),
    Column("outcome", String(10), nullable=False),  # success | refused
    Column("detail", JSON, nullable=False),
    Column("chain", String(64), nullable=False),
    Index(None, "at"),
    Index(None, "actor", "seq"),
    Index(None, "action", "seq"),
    Index(None, "target_kind", "target_id", "seq"),
)

# 0026: the attachments (附件, node/domain/attachments.py) of the issues this node holds,
# one row per `attachment_added` event (own or replicated: a store projection,
# node/store/attachments.py); the bytes are content-addressed by `sha256` in the node's
# BlobStore, at `origin` (and wherever they were fetched to and cached)
attachments = Table(
    "attachments",
    metadata,
    Column("id", String(40), primary_key=True),  # "<node>-<32 hex>"
    Column("issue_id", String(64), nullable=False),
    Column("ref", String(80)),  # the event it belongs to ("<issue id>@<version>"), e.g. a reply
    Column("ref_kind", String(24)),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploader_kind", String(12), nullable=False),
    Column("uploaded_at", TS, nullable=False),
    Column("origin", String(6), nullable=False),
    Index("ix_attachments_issue", "issue_id"),
    Index("ix_attachments_sha256", "sha256"),
)

# ----------------------------------------------------------------------------- cases
#
# 0028: reviews (问题复盘) of this node's closed issues, the whole review as JSON (with the
# enterprise's data: the owner holds it anyway); and the case library, the published form
# of every case this node may see (its own, and what its children published in their
# summaries: `via` the child it came from), data-minimised (node/domain/cases.py).
case_reviews = Table(
    "case_reviews",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("node", String(6), nullable=False),
    Column("subject_kind", String(10), nullable=False),  # issue | cluster
    Column("subject_id", String(64), nullable=False),
    Column("state", String(10), nullable=False),  # draft | published
    Column("version", Integer, nullable=False),
    Column("record", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index(None, "subject_kind", "subject_id"),
    Index(None, "state", "updated_at"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("via", String(6)),  # NULL: this node's own; else the child it arrived from
    Column("kind", String(10), nullable=False),  # exemplary | negative
    Column("unit", String(60)),
    Column("published_at", TS, nullable=False),
    Column("tags", Text, nullable=False),  # "|tag|tag|": a tag filter is one LIKE
    Column("search", Text, nullable=False),  # lower-cased texts (node/domain/cases.py)
    Column("form", JSON, nullable=False),
    Index(None, "kind", "published_at"),
    Index(None, "via"),
    Index(None, "origin", "published_at"),
)


# 0027: 并单 (node/domain/merging.py): which issue follows which, projected from the merge
# events in their transaction (own and replicated alike: node/store/duplicates.py), so both
# directions are one indexed lookup; a row stays after an unmerge, with who and when.
issue_merges = Table(
    "issue_merges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("master_id", String(64), nullable=False),
    Column("follower_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),  # of the follower's merged_into event
    Column("master_number", String(32), nullable=False),
    Column("follower_number", String(32), nullable=False),
    Column("merged_by", String(80), nullable=False),
    Column("merged_at", TS, nullable=False),
    Column("unmerged_by", String(80)),
    Column("unmerged_at", TS),
    UniqueConstraint("follower_id", "version"),
    Index(None, "master_id"),
)

# 0027 too: 共性问题 clusters (node/domain/clusters.py): a city's record of its counties'
# issues that say the same, handled once by one common issue of the city
# (`common_issue_id`); an issue is in at most one cluster (the members' unique issue_id).
issue_clusters = Table(
    "issue_clusters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("node", String(6), nullable=False),
    Column("title", String(200), nullable=False),
    Column("common_issue_id", String(64), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", TS, nullable=False),
)

issue_cluster_members = Table(
    "issue_cluster_members",
    metadata,
    Column("cluster_id", String(40), nullable=False),
    Column("issue_id", String(64), primary_key=True),
    Column("number", String(32), nullable=False),
    Column("origin", String(6), nullable=False),
    Index(None, "cluster_id"),
)


# ----------------------------------------------------------------------------- search
#
# The full-text index of the issues (node/store/search.py), one row per issue, written in
# the issue's transaction. `doc_id` keys the issue's terms: on SQLite in the contentless
# FTS5 table `issue_fts` (created and dropped with this table, below; FTS5 needs its own
# DDL), which removes a document's old terms only when they are handed back — `source` keeps
# the indexed field texts for that, and to skip rewriting unchanged text; on PostgreSQL the
# weighted tsvector `terms` with its GIN index (`source` kept for the same skip).
issue_search = Table(
    "issue_search",
    metadata,
    Column("doc_id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", String(64), nullable=False, unique=True),
    Column("source", JSON, nullable=False),
    Column("terms", Text().with_variant(TSVECTOR(), "postgresql")),
)
#: The dialect's own search structures, outside the metadata (SQLAlchemy describes neither
#: an FTS5 table nor, portably, a GIN index): created and dropped with issue_search, and
#: left out of schema comparisons (`managed_name`). SQLite: the FTS5 table (and the shadow
#: tables FTS5 makes, issue_fts_*); PostgreSQL: the GIN index of the tsvector.
ISSUE_FTS = "issue_fts"
ISSUE_FTS_DDL = (f"CREATE VIRTUAL TABLE IF NOT EXISTS {ISSUE_FTS} USING fts5("
                 "head, meta, body, reply, content='', tokenize='ascii')")
#: FTS5's vocabulary of issue_fts: each term's document count (node/store/duplicates.py)
ISSUE_FTS_VOCAB = "issue_fts_vocab"
ISSUE_FTS_VOCAB_DDL = (f"CREATE VIRTUAL TABLE IF NOT EXISTS {ISSUE_FTS_VOCAB} "
                       f"USING fts5vocab({ISSUE_FTS}, 'row')")
ISSUE_GIN = "ix_issue_search_terms"
ISSUE_GIN_DDL = f"CREATE INDEX IF NOT EXISTS {ISSUE_GIN} ON issue_search USING gin (terms)"


def _create_search(target: Any, connection: Any, **_: Any) -> None:
    ddl = {"sqlite": (ISSUE_FTS_DDL, ISSUE_FTS_VOCAB_DDL),
           "postgresql": (ISSUE_GIN_DDL,)}.get(connection.dialect.name, ())
    for statement in ddl:
        connection.exec_driver_sql(statement)


def _drop_search(target: Any, connection: Any, **_: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {ISSUE_FTS_VOCAB}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {ISSUE_FTS}")


event.listen(issue_search, "after_create", _create_search)
event.listen(issue_search, "before_drop", _drop_search)


def managed_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's `include_name`: False for the search structures the metadata does not
    describe (above), so that comparing a database with the metadata — the schema test, an
    autogenerated migration — neither reports nor drops them."""
    if name is None:
        return True
    if type_ == "table":
        return not (name == ISSUE_FTS or name.startswith(ISSUE_FTS + "_"))
    return not (type_ == "index" and name == ISSUE_GIN)
