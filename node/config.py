"""Node configuration: one TOML file per node plus environment overrides, validated once.

`load_config(path, env)` reads the file, applies every `ZHITONG__SECTION__KEY=value`
variable on top (lists, tables, true/false/null as JSON; anything else as a string the
schema converts, so `ZHITONG__HTTP__PORT=8080`, `ZHITONG__NODE__CODE=330522` and
`ZHITONG__DATABASE__URL=postgresql://…` all work), then
validates the whole tree with frozen pydantic models that forbid unknown keys. Any problem
raises `ConfigError` listing every offending key with its location, before anything starts.
Relative paths are taken relative to the current working directory.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from node.domain.calendar import WorkCalendar, YearCalendar
from node.domain.channels import (
    DEFAULT_CHANNELS,
    MAX_CHANNEL_FIELD,
    ChannelSpec,
    FieldKind,
    FieldSpec,
    check_channel_specs,
)
from node.domain.deadlines import DeadlinePolicy, TagDeadlines
from node.domain.errors import DomainError, ValidationError
from node.domain.issue import Channel
from node.domain.lifecycle import DEFAULT_LADDER, Rules
from node.domain.units import Unit
from node.domain.validation import division_level, validate_division_code
from node.i18n import error_message
from node.notify.settings import NotifySection
from node.sso.settings import SsoSection

ENV_PREFIX = "ZHITONG__"


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    code: str
    name: str = Field(min_length=1, max_length=40)
    level: Literal["county", "city", "province"]
    parent: str | None = None
    children: tuple[str, ...] = ()
    data_dir: Path = Path("var/node")

    @field_validator("code", "parent")
    @classmethod
    def _division(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_division_code(value)
        except ValidationError as exc:
            raise ValueError(error_message(exc, "en")) from None

    @field_validator("children")
    @classmethod
    def _children(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for code in value:
            try:
                out.append(validate_division_code(code))
            except ValidationError as exc:
                raise ValueError(f"{code}: {error_message(exc, 'en')}") from None
        return tuple(out)

    @model_validator(mode="after")
    def _consistent(self) -> NodeSection:
        if division_level(self.code) != self.level:
            raise ValueError(
                f"code {self.code} is a {division_level(self.code)} code but level is "
                f"{self.level}"
            )
        if self.level == "province" and self.parent is not None:
            raise ValueError("a province node has no parent")
        if self.level != "province" and self.parent is None:
            raise ValueError(f"a {self.level} node needs a parent")
        if self.level == "county" and self.children:
            raise ValueError("a county node has no children")
        return self


class DatabaseSection(_Section):
    url: str | None = None  # default: SQLite file in the data dir
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("database.url must be a sqlite:/// or postgresql:// URL")
        return value


class HttpSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: a request with a larger body is refused (413) before it is read; the largest valid
    #: request is well under 200 KB (node/web/guards.py)
    max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    #: on stop, requests still running after this long are cancelled (a stream a client
    #: holds open, a slow export) so the node always stops
    shutdown_timeout_s: int = Field(default=10, ge=1, le=600)


class TagDeadlineSection(_Section):
    dispatch_working_days: int | None = Field(default=None, ge=1, le=365)
    resolve_working_days: int | None = Field(default=None, ge=1, le=365)
    review_working_days: int | None = Field(default=None, ge=1, le=365)


class DeadlineSection(_Section):
    dispatch_working_days: int = Field(default=2, ge=1, le=365)
    resolve_working_days: int = Field(default=15, ge=1, le=365)
    review_working_days: int = Field(default=2, ge=1, le=365)
    per_tag: dict[str, TagDeadlineSection] = Field(default_factory=dict)
    #: per intake channel: its id (`meeting`) or its Chinese name (`"政企恳谈会"`)
    per_channel: dict[str, TagDeadlineSection] = Field(default_factory=dict)

    @field_validator("per_channel")
    @classmethod
    def _channels(cls, value: dict[str, TagDeadlineSection]) -> dict[str, TagDeadlineSection]:
        out: dict[str, TagDeadlineSection] = {}
        for key, limits in value.items():
            channel = channel_id(key)
            if channel is None:
                raise ValueError(f"{key!r} is not an intake channel (its id or Chinese name)")
            out[channel] = limits
        return out


def channel_id(key: str) -> str | None:
    """The channel id a configuration key names: an id, or a default channel's zh name."""
    ids = {c.value for c in Channel}
    if key in ids:
        return key
    names = {spec.zh: spec.id.value for spec in DEFAULT_CHANNELS}
    return names.get(key)


class FloorLimitsSection(_Section):
    dispatch_working_days: int | None = Field(default=None, ge=1, le=365)
    resolve_working_days: int | None = Field(default=None, ge=1, le=365)
    review_working_days: int | None = Field(default=None, ge=1, le=365)


class FloorsSection(_Section):
    """Rule floors this node sets for its subtree (`[floors]`; a province, or a city for
    its counties): published down the federation, signed (node/domain/floors.py)."""

    dispatch_working_days: int | None = Field(default=None, ge=1, le=365)
    resolve_working_days: int | None = Field(default=None, ge=1, le=365)
    review_working_days: int | None = Field(default=None, ge=1, le=365)
    per_tag: dict[str, FloorLimitsSection] = Field(default_factory=dict)
    per_channel: dict[str, FloorLimitsSection] = Field(default_factory=dict)
    revisit_share_min: float | None = Field(default=None, gt=0, le=1)
    urge_interval_hours_min: int | None = Field(default=None, ge=1, le=24 * 30)
    index_weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("per_channel")
    @classmethod
    def _channels(cls, value: dict[str, FloorLimitsSection]) -> dict[str, FloorLimitsSection]:
        out: dict[str, FloorLimitsSection] = {}
        for key, limits in value.items():
            channel = channel_id(key)
            if channel is None:
                raise ValueError(f"{key!r} is not an intake channel (its id or Chinese name)")
            out[channel] = limits
        return out

    @field_validator("index_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("index weights are non-negative")
        return value

    def body(self) -> dict[str, Any] | None:
        """The publication body (node/domain/floors.py `Floors.as_json`); None: no floor."""
        def limits(section: FloorLimitsSection | FloorsSection) -> dict[str, int]:
            return {name: v for name in ("dispatch_working_days", "resolve_working_days",
                                         "review_working_days")
                    if (v := getattr(section, name)) is not None}

        body: dict[str, Any] = {
            "deadlines": limits(self),
            "per_tag": {k: limits(v) for k, v in self.per_tag.items() if limits(v)},
            "per_channel": {k: limits(v) for k, v in self.per_channel.items() if limits(v)},
        }
        if self.revisit_share_min is not None:
            body["revisit_share_min"] = self.revisit_share_min
        if self.urge_interval_hours_min is not None:
            body["urge_interval_hours_min"] = self.urge_interval_hours_min
        if self.index_weights:
            body["index_weights"] = dict(self.index_weights)
        empty = not (body["deadlines"] or body["per_tag"] or body["per_channel"]) and len(
            body) == 3
        return None if empty else body


class CalendarYear(_Section):
    year: int = Field(ge=2000, le=2100)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()  # make-up working days (调休上班) on weekends


class CalendarSection(_Section):
    years: tuple[CalendarYear, ...] = ()


class LadderSection(_Section):
    steps: tuple[str, ...] = DEFAULT_LADDER

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("the ladder needs at least one step")
        if len(set(value)) != len(value):
            raise ValueError("ladder steps must be unique")
        return value


class UrgeSection(_Section):
    interval_hours: int = Field(default=24, ge=1, le=24 * 30)


class RevisitSection(_Section):
    share: float = Field(default=0.2, gt=0, le=1)
    #: working days (node calendar) the supervision office has for a sampled issue's revisit
    task_days: int = Field(default=5, ge=1, le=60)


class MeetingSection(_Section):
    #: the ladder step whose issues go to the monthly joint meeting (联席会议)
    step: str = Field(default="joint_meeting", min_length=1, max_length=40)


class MetricsSection(_Section):
    min_sample: int = Field(default=5, ge=1)
    #: 重发复发率: a closed issue recurs when the enterprise raises the same tag again
    #: within this many days (node/domain/metrics.py)
    recurrence_days: int = Field(default=90, ge=1, le=3650)


class IndexSection(_Section):
    """The 有感指数 (`[index]`, node/domain/index.py): component weights (`[index.weights]`,
    components left out keep their defaults; a floor from above replaces a weight) and how
    often the summary's index sums are recomputed."""

    weights: dict[str, float] = Field(default_factory=dict)
    summary_every_s: float = Field(default=60.0, ge=0, le=3600)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        from node.domain.errors import DomainError
        from node.domain.index import weights_in_force

        try:
            weights_in_force(value, ())
        except DomainError as exc:
            raise ValueError(f"index weights: {exc.params.get('problem', exc.code)} "
                             f"({exc.params.get('field', '')})") from None
        return value


class IntakeFieldSection(_Section):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=60)
    kind: FieldKind = FieldKind.TEXT
    required: bool = False
    max_len: int = Field(default=100, ge=1, le=MAX_CHANNEL_FIELD)


class IntakeChannelSection(_Section):
    id: Channel  # one of the domain's channel ids (node/domain/issue.py)
    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=60)
    fields: tuple[IntakeFieldSection, ...] = ()


class IntakeSection(_Section):
    """Staff intake (综合受理): the channels this node offers, each with its own fields
    (`[[intake.channels]]`; absent: node/domain/channels.py DEFAULT_CHANNELS)."""

    channels: tuple[IntakeChannelSection, ...] | None = None
    batch_max_rows: int = Field(default=50, ge=1, le=500)  # a meeting's table, at most

    @model_validator(mode="after")
    def _specs(self) -> IntakeSection:
        check_channel_specs(self.specs())  # ValueError names the channel and field
        return self

    def specs(self) -> tuple[ChannelSpec, ...]:
        if self.channels is None:
            return DEFAULT_CHANNELS
        return tuple(ChannelSpec(id=c.id, zh=c.zh, en=c.en, fields=tuple(
            FieldSpec(key=f.key, zh=f.zh, en=f.en, kind=f.kind, required=f.required,
                      max_len=f.max_len) for f in c.fields)) for c in self.channels)


class SecuritySection(_Section):
    secret_file: Path | None = None  # default: <data_dir>/session.key, created on first start
    token_ttl_minutes: int = Field(default=720, ge=5, le=60 * 24 * 30)
    # sign-in back-off (node/app/accounts.py SignInRules), per account name and per address:
    # from *_backoff_after failures each attempt waits initial·2^n (≤ max); at *_lock_after
    # the name (address) is locked for login_lock_s or until an administrator lifts it
    login_backoff_after: int = Field(default=5, ge=1, le=1000)
    login_lock_after: int = Field(default=10, ge=1, le=10_000)
    login_address_backoff_after: int = Field(default=20, ge=1, le=10_000)
    login_address_lock_after: int = Field(default=100, ge=1, le=100_000)
    login_backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    login_backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)
    login_lock_s: int = Field(default=3600, ge=1, le=30 * 86_400)
    login_forget_after_s: int = Field(default=86_400, ge=60, le=365 * 86_400)
    # enterprises' SMS sign-in codes (node/domain/signin_codes.py CodeRules): lifetime,
    # guesses per code, one request per resend_s, and per-hour limits of requests (per
    # credit code, per address), sends (per phone) and wrong codes (per address, phone)
    signin_code_ttl_s: int = Field(default=300, ge=60, le=3600)
    signin_code_attempts: int = Field(default=5, ge=1, le=20)
    signin_code_resend_s: int = Field(default=60, ge=0, le=3600)
    signin_codes_per_credit_code: int = Field(default=5, ge=1, le=1000)
    signin_codes_per_phone: int = Field(default=5, ge=1, le=1000)
    signin_codes_per_address: int = Field(default=30, ge=1, le=100_000)
    signin_failures_per_address: int = Field(default=30, ge=1, le=100_000)
    signin_failures_per_phone: int = Field(default=10, ge=1, le=1000)


class FederationSection(_Section):
    """Node-to-node gRPC (escalation up, returns down) with mutual TLS."""

    enabled: bool = False
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=9000, ge=0, le=65535)
    parent_address: str | None = None  # host:port of the parent node's gRPC server
    children: dict[str, str] = Field(default_factory=dict)  # child code → host:port
    tls_dir: Path | None = None  # ca.pem, node.pem, node.key; default <data_dir>/tls
    insecure: bool = False  # development only: no TLS, the claimed origin is trusted
    call_timeout_ms: int = Field(default=5000, ge=100, le=120_000)
    batch_size: int = Field(default=16, ge=1, le=500)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial_s: float = Field(default=5.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    stuck_after_s: int = Field(default=3600, ge=1)
    auto_escalate_after_urges: int | None = Field(default=3, ge=1, le=100)
    #: the key of the keyed signatures a city's summary carries for the province's
    #: cross-city duplicates (node/app/similarity.py); the same at every city of the
    #: federation. Unset: derived from the federation's CA certificate (ca.pem)
    similarity_key: str | None = Field(default=None, min_length=16, max_length=256)

    @field_validator("parent_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            _check_address(value)
        return value

    @field_validator("children")
    @classmethod
    def _children(cls, value: dict[str, str]) -> dict[str, str]:
        for code, address in value.items():
            try:
                validate_division_code(code)
            except ValidationError as exc:
                raise ValueError(f"{code}: {error_message(exc, 'en')}") from None
            _check_address(address)
        return value


def _check_address(value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port")


class NatsSection(_Section):
    """This node's connection to its tier's NATS server (JetStream domain zt<code>)."""

    enabled: bool = False
    url: str = "nats://127.0.0.1:4222"
    user: str | None = None  # default node<code>
    password: str | None = None
    password_file: Path | None = None  # preferred in production (mode 0600)
    publish_window: int = Field(default=256, ge=1, le=10_000)
    reconcile_every_s: float = Field(default=30.0, gt=0, le=86_400)
    # Idle means idle: what a node does on NATS when nothing happens. The consumer's long
    # poll for the next message (a message ends it at once) and the server's heartbeats
    # during it; the publisher's look for events written by another process (every local
    # commit wakes it at once); the province's read of its children's summaries from the
    # stream (each new one is pushed to it at once). Tests shorten them.
    fetch_wait_s: float = Field(default=20.0, gt=0, le=300)
    fetch_heartbeat_s: float = Field(default=8.0, gt=0, le=150)
    publish_poll_s: float = Field(default=30.0, gt=0, le=3600)
    summary_poll_s: float = Field(default=15.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _heartbeat(self) -> NatsSection:
        if self.fetch_heartbeat_s * 2 >= self.fetch_wait_s:
            raise ValueError("nats.fetch_heartbeat_s must be under half of nats.fetch_wait_s "
                             "(the server refuses a longer one)")
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("nats://", "tls://")):
            raise ValueError("nats.url must be nats://host:port or tls://host:port")
        return value

    def secret(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class UnitEntry(_Section):
    """One `[[units]]` entry: a unit of the centre seeded at first start (node/domain/units.py);
    its id is "<node.code>.<slug>", `parent` the slug of its bureau (a department)."""

    slug: str
    kind: str
    name_zh: str
    name_en: str | None = None
    parent: str | None = None
    external_code: str | None = None
    active: bool = True


class AttachmentsSection(_Section):
    """Files on the issues (node/domain/attachments.py): limits, and where the bytes are
    kept (default <data_dir>/attachments, content-addressed by SHA-256)."""

    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1, le=2**40)
    max_issue_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=2**42)
    dir: Path | None = None


class Config(_Section):
    node: NodeSection
    attachments: AttachmentsSection = AttachmentsSection()
    units: tuple[UnitEntry, ...] = ()  # the centre's organisation units (node/app/units.py)
    database: DatabaseSection = DatabaseSection()
    http: HttpSection = HttpSection()
    deadlines: DeadlineSection = DeadlineSection()
    calendar: CalendarSection = CalendarSection()
    ladder: LadderSection = LadderSection()
    urge: UrgeSection = UrgeSection()
    revisit: RevisitSection = RevisitSection()
    meeting: MeetingSection = MeetingSection()
    metrics: MetricsSection = MetricsSection()
    index: IndexSection = IndexSection()  # the 有感指数's weights (node/domain/index.py)
    intake: IntakeSection = IntakeSection()
    security: SecuritySection = SecuritySection()
    federation: FederationSection = FederationSection()
    nats: NatsSection = NatsSection()
    notify: NotifySection = NotifySection()  # notifications (node/notify/settings.py)
    sso: SsoSection = SsoSection()  # enterprises via OpenID Connect (node/sso/settings.py)
    floors: FloorsSection = FloorsSection()  # set for the subtree (node/domain/floors.py)

    @model_validator(mode="after")
    def _federation_matches_node(self) -> Config:
        unknown = set(self.federation.children) - set(self.node.children)
        if unknown:
            raise ValueError(
                f"federation.children names nodes that are not node.children: {sorted(unknown)}"
            )
        if self.federation.enabled and self.node.parent and not self.federation.parent_address:
            raise ValueError("federation.parent_address is required for a node with a parent")
        return self

    @model_validator(mode="after")
    def _units_valid(self) -> Config:
        from node.domain import units as dom
        from node.domain.issue import Actor, ActorKind

        seen: set[str] = set()
        catalogue: dict[str, dom.Unit] = {}
        for i, entry in enumerate(self.units):
            where = f"units[{i}] (slug {entry.slug!r})"
            if entry.slug in seen:
                raise ValueError(f"{where}: the slug is used twice")
            seen.add(entry.slug)
            if entry.parent is not None and entry.parent not in seen:
                raise ValueError(f"{where}: parent {entry.parent!r} is no earlier entry")
            try:
                unit, _ = dom.create(catalogue, self._unit_of(entry),
                                     actor=Actor(kind=ActorKind.SYSTEM, id="config"),
                                     now=datetime(2000, 1, 1, tzinfo=UTC))
            except DomainError as exc:
                raise ValueError(f"{where}: {error_message(exc, 'en')}") from None
            catalogue[unit.id] = unit
        return self

    def _unit_of(self, entry: UnitEntry) -> Unit:
        from node.domain.units import Unit, unit_id, unit_kind

        try:
            kind = unit_kind(entry.kind)
        except DomainError:
            kind = entry.kind  # type: ignore[assignment]  # create() names the problem
        return Unit(id=unit_id(self.node.code, entry.slug), node=self.node.code, kind=kind,
                    name_zh=entry.name_zh, name_en=entry.name_en,
                    parent_id=unit_id(self.node.code, entry.parent) if entry.parent else None,
                    active=entry.active, external_code=entry.external_code)

    def unit_entries(self) -> tuple[Unit, ...]:
        """The configured units as the domain's values (checked when the file was read)."""
        return tuple(self._unit_of(e) for e in self.units)

    @property
    def tls_dir(self) -> Path:
        return self.federation.tls_dir or self.node.data_dir / "tls"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.node.data_dir / 'zhitong.sqlite3'}"

    @property
    def secret_path(self) -> Path:
        return self.security.secret_file or self.node.data_dir / "session.key"

    def rules(self) -> Rules:
        """The domain rules this configuration describes (validated by the domain too)."""
        from datetime import timedelta

        years = {
            y.year: YearCalendar(
                year=y.year, holidays=frozenset(y.holidays), workdays=frozenset(y.workdays)
            )
            for y in self.calendar.years
        }
        d = self.deadlines
        policy = DeadlinePolicy(
            dispatch_working_days=d.dispatch_working_days,
            resolve_working_days=d.resolve_working_days,
            review_working_days=d.review_working_days,
            per_tag={
                tag: TagDeadlines(
                    dispatch_working_days=t.dispatch_working_days,
                    resolve_working_days=t.resolve_working_days,
                    review_working_days=t.review_working_days,
                )
                for tag, t in d.per_tag.items()
            },
            per_channel={
                channel: TagDeadlines(
                    dispatch_working_days=t.dispatch_working_days,
                    resolve_working_days=t.resolve_working_days,
                    review_working_days=t.review_working_days,
                )
                for channel, t in d.per_channel.items()
            },
        )
        return Rules(
            calendar=WorkCalendar(extra_years=years),
            deadlines=policy,
            ladder=self.ladder.steps,
            urge_interval=timedelta(hours=self.urge.interval_hours),
        )


def _apply_env(tree: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        value: Any = raw
        # Lists, tables, booleans and null are JSON; everything else stays a string and
        # the schema converts it ("9000" → 9000), so that a code like 330522 stays a code.
        if raw.strip()[:1] in ("[", "{") or raw.strip() in ("true", "false", "null"):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{key}: not valid JSON ({exc})") from None
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: {'.'.join(path)} is not a section")
            node = child
        node[path[-1]] = value


def parse_config(tree: dict[str, Any], *, source: str, env: Mapping[str, str]) -> Config:
    _apply_env(tree, env)
    try:
        config = Config.model_validate(tree)
        config.rules()  # the domain validates deadlines and calendar years as well
    except PydanticValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines)) from None
    except ValidationError as exc:
        problem = error_message(exc, "en")
        raise ConfigError(f"invalid configuration in {source}: {problem}") from None
    return config


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        with p.open("rb") as fh:
            tree = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None
    return parse_config(tree, source=str(p), env=env or {})
