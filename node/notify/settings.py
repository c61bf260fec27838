"""The `[notify]` section of a node's configuration (node/config.py includes it).

Everything is off by default: an existing deployment (and every test) writes no
notification and tries to send nothing until `notify.enabled` and a channel are set.

```toml
[notify]
enabled = true
base_url = "https://zhitong.huzhou.example"     # links in messages
enterprise_channels = ["sms"]
staff_channels = ["inbox", "email", "oa"]
[notify.inbox]
enabled = true
[notify.sms]
enabled = true
url = "https://sms-gateway.internal/send"
token_file = "/etc/zhitong/sms.token"           # sent as Authorization: Bearer …
signature = "湖州市营商办"
template_ids = { receipt = "SMS_0001", resolved = "SMS_0002" }
quiet_hours = "22:00-08:00"                     # China time; held texts go out at 08:00
[notify.email]
enabled = true
host = "smtp.internal"
port = 587
user = "zhitong"
password_file = "/etc/zhitong/smtp.pass"
sender = "zhitong@huzhou.example"
[notify.oa]
enabled = true
url = "https://oa.internal/hooks/zhitong"
secret_file = "/etc/zhitong/oa.secret"
[notify.recipients]                            # topic → groups ([] switches a topic off)
urged = ["handlers", "leaders"]
[notify.templates.zh-CN.receipt]
subject = "诉求已受理：{number}"
body = "您的诉求“{title}”已受理，编号{number}。查询进度：{track_url}"
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from node.domain.notifications import LOCALES, Group, QuietHours, Topic, template_names

Channel = Literal["sms", "email", "oa", "inbox"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(value: str | None, path: Path | None) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    return value


class InboxSettings(_Section):
    enabled: bool = False


class SmsSettings(_Section):
    enabled: bool = False
    url: str | None = None
    token: str | None = None
    token_file: Path | None = None
    signature: str = Field(default="", max_length=40)
    template_ids: dict[Topic, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    #: 免打扰: no text in these hours (China time, "22:00-08:00"); the topics in
    #: quiet_exempt (e.g. a sign-in code someone is waiting for) are sent at once
    quiet_hours: str | None = None
    quiet_exempt: tuple[str, ...] = ("sign_in_code",)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            QuietHours.parse(value)  # ValueError names what is wrong
        return value

    def quiet(self) -> QuietHours | None:
        return QuietHours.parse(self.quiet_hours) if self.quiet_hours else None

    @model_validator(mode="after")
    def _complete(self) -> SmsSettings:
        if self.enabled and not self.url:
            raise ValueError("notify.sms.url is required when notify.sms.enabled")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("notify.sms.url must be an http:// or https:// URL")
        return self

    def secret(self) -> str | None:
        return _secret(self.token, self.token_file)


class EmailSettings(_Section):
    enabled: bool = False
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    password_file: Path | None = None
    sender: str | None = None
    ca_file: Path | None = None  # a private CA the server's certificate is signed by
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> EmailSettings:
        if self.enabled and (not self.host or not self.sender):
            raise ValueError("notify.email.host and notify.email.sender are required when "
                             "notify.email.enabled")
        if self.user and not self.starttls:
            raise ValueError("notify.email.user needs notify.email.starttls (no password "
                             "in clear text)")
        return self

    def secret(self) -> str | None:
        return _secret(self.password, self.password_file)


class OaSettings(_Section):
    enabled: bool = False
    url: str | None = None
    secret: str | None = None
    secret_file: Path | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> OaSettings:
        if self.enabled and (not self.url or not (self.secret or self.secret_file)):
            raise ValueError("notify.oa.url and notify.oa.secret (or secret_file) are "
                             "required when notify.oa.enabled")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("notify.oa.url must be an http:// or https:// URL")
        return self

    def shared_secret(self) -> bytes:
        found = _secret(self.secret, self.secret_file)
        assert found, "validated: an enabled OA webhook has a secret"
        return found.encode()


class TemplateSettings(_Section):
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("subject", "body")
    @classmethod
    def _fields(cls, value: str) -> str:
        try:
            template_names(value)
        except ValueError as exc:
            raise ValueError(f"malformed template: {exc}") from None
        return value


class NotifySection(_Section):
    enabled: bool = False
    base_url: str = ""
    locale: Literal["zh-CN", "en"] = "zh-CN"
    enterprise_channels: tuple[Channel, ...] = ("sms",)
    staff_channels: tuple[Channel, ...] = ("inbox", "email", "oa")
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_initial_s: float = Field(default=30.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    batch_size: int = Field(default=50, ge=1, le=1000)
    poll_every_s: float = Field(default=60.0, gt=0, le=3600)  # at the latest; see run()
    light_scan_every_s: float = Field(default=60.0, gt=0, le=86400)
    recipients: dict[Topic, tuple[Group, ...]] = Field(default_factory=dict)
    templates: dict[str, dict[Topic, TemplateSettings]] = Field(default_factory=dict)
    inbox: InboxSettings = InboxSettings()
    sms: SmsSettings = SmsSettings()
    email: EmailSettings = EmailSettings()
    oa: OaSettings = OaSettings()

    @field_validator("templates")
    @classmethod
    def _locales(cls, value: dict[str, dict[Topic, TemplateSettings]]
                 ) -> dict[str, dict[Topic, TemplateSettings]]:
        unknown = sorted(set(value) - set(LOCALES))
        if unknown:
            raise ValueError(f"unknown template locales {unknown}; known: {list(LOCALES)}")
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("notify.base_url must be an http:// or https:// URL")
        return value.rstrip("/")
