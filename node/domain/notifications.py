"""Who is told what: the notification rules, pure (no I/O, `now` passed in).

How it works. An event this node wrote (never a replicated one) may cause a *notice*: a
topic (receipt, assigned, urged, ...), the recipient *groups* it goes to (the enterprise,
the issue's department, its handlers, the leaders, ...) and the parameters its templates
are filled with. `notice_for_event` decides that from the event and the issue snapshot
after it; `notice_for_light` does the same for a running deadline that turned yellow or
red (the light scanner calls it once per issue, deadline and colour). The notice is
written to the outbox in the transaction of its event, so it exists iff the event does.

Later, and outside any user transaction, the dispatcher turns a notice into *deliveries*:
`members` picks the accounts of each group, and each (recipient, channel) gets one
delivery with one idempotency key (`delivery_key`), the same on every retry and after a
crash between sending and recording, so that a receiver that deduplicates on it shows each
message once. The key is a hash: gateways see no personal data in it.

Defaults follow the issue text and are configurable per topic (`NotifyRules.groups`);
templates exist in zh-CN and en and may be overridden per (locale, topic).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from node.domain.calendar import CST
from node.domain.issue import Event, Issue, event_id_of


class Topic(StrEnum):
    RECEIPT = "receipt"  # 受理回执 → enterprise
    ASSIGNED = "assigned"  # 交办 → the department and its members
    URGED = "urged"  # 催办 → handler and leader
    SUPERVISED = "supervised"  # 督办 → the owner unit
    REJECTION_REVIEW = "rejection_review"  # 否定报备 waiting → reviewers
    RESOLVED = "resolved"  # 答复/办结 with the rating link → enterprise
    REOPENED = "reopened"  # 不满意重办 → handler
    LIGHT_YELLOW = "light_yellow"  # 黄灯 → handler and leader
    LIGHT_RED = "light_red"  # 红灯 → handler and leader
    REVIEW_OVERDUE = "review_overdue"  # the rejection review's own deadline → reviewers
    SIGN_IN_CODE = "sign_in_code"  # an enterprise's one-time sign-in code (no issue, no group)
    FORWARD_REFUSED = "forward_refused"  # its urge/rating, forwarded up, refused → enterprise
    REPORT_READY = "report_ready"  # a report was made (node/app/reports.py) → the leaders
    MERGED = "merged"  # 并单: its issue merged into another, answered with it → enterprise
    MERGED_CLOSED = "merged_closed"  # the master closed without an answer → enterprise


class Group(StrEnum):
    ENTERPRISE = "enterprise"  # the enterprise, at the phone on record
    DEPARTMENT = "department"  # every account of the issue's department
    HANDLERS = "handlers"  # handlers of the issue's department (dispatchers before it has one)
    LEADERS = "leaders"  # leaders of the department, else the node's leaders
    REVIEWERS = "reviewers"  # every leader (否定报备 is reviewed by another unit)
    DISPATCHERS = "dispatchers"
    OWNER_UNIT = "owner_unit"  # the department, else the board, else the leaders


class Colour(StrEnum):
    YELLOW = "yellow"
    RED = "red"


#: event kind → topic. Only these kinds notify.
EVENT_TOPICS: Mapping[str, Topic] = {
    "submitted": Topic.RECEIPT,
    "assign": Topic.ASSIGNED,
    "urge": Topic.URGED,
    "supervise": Topic.SUPERVISED,
    "reject": Topic.REJECTION_REVIEW,
    "resolve": Topic.RESOLVED,
    "reopen": Topic.REOPENED,
    # 并单 (node/domain/merging.py): a follower's enterprise is told of the merge, gets the
    # master's reply with its own rating link, or the master's closure
    "merged_into": Topic.MERGED,
    "merged_reply": Topic.RESOLVED,
    "merged_closed": Topic.MERGED_CLOSED,
}

DEFAULT_GROUPS: Mapping[Topic, tuple[Group, ...]] = {
    Topic.RECEIPT: (Group.ENTERPRISE,),
    Topic.ASSIGNED: (Group.DEPARTMENT,),
    Topic.URGED: (Group.HANDLERS, Group.LEADERS),
    Topic.SUPERVISED: (Group.OWNER_UNIT,),
    Topic.REJECTION_REVIEW: (Group.REVIEWERS,),
    Topic.RESOLVED: (Group.ENTERPRISE,),
    Topic.REOPENED: (Group.HANDLERS,),
    Topic.LIGHT_YELLOW: (Group.HANDLERS, Group.LEADERS),
    Topic.LIGHT_RED: (Group.HANDLERS, Group.LEADERS),
    Topic.REVIEW_OVERDUE: (Group.REVIEWERS,),
    Topic.FORWARD_REFUSED: (Group.ENTERPRISE,),
    Topic.REPORT_READY: (Group.LEADERS,),  # no issue, no department: the node's leaders
    Topic.MERGED: (Group.ENTERPRISE,),
    Topic.MERGED_CLOSED: (Group.ENTERPRISE,),
}

LOCALES = ("zh-CN", "en")

#: (locale, topic) → (subject, body); `{name}` is filled from the notice's params (an unknown
#: name renders empty). SMS gateways get the body and, where configured, a template id.
DEFAULT_TEMPLATES: Mapping[tuple[str, Topic], tuple[str, str]] = {
    ("zh-CN", Topic.RECEIPT): (
        "诉求已受理：{number}",
        "您的诉求“{title}”已受理，编号{number}。查询进度：{track_url}"),
    ("zh-CN", Topic.ASSIGNED): (
        "新交办诉求：{number}",
        "诉求{number}“{title}”已交办{department}，请在期限内办理：{work_url}"),
    ("zh-CN", Topic.URGED): (
        "诉求被催办：{number}",
        "诉求{number}“{title}”收到催办（第{urge_count}次），请尽快办理：{work_url}"),
    ("zh-CN", Topic.SUPERVISED): (
        "督办：{number}",
        "上级（{issued_by}）督办诉求{number}“{title}”：{note} {work_url}"),
    ("zh-CN", Topic.REJECTION_REVIEW): (
        "待审核退回：{number}",
        "诉求{number}“{title}”被退回（理由：{reason}），请在期限内审核：{work_url}"),
    ("zh-CN", Topic.RESOLVED): (
        "诉求已办结：{number}",
        "您的诉求{number}已答复：{reply} 请评价：{rate_url}"),
    ("zh-CN", Topic.REOPENED): (
        "诉求重办：{number}",
        "企业对诉求{number}“{title}”的办理不满意，已重新打开：{work_url}"),
    ("zh-CN", Topic.LIGHT_YELLOW): (
        "黄灯预警：{number}",
        "诉求{number}“{title}”已用去三分之二办理时限，到期{due}：{work_url}"),
    ("zh-CN", Topic.LIGHT_RED): (
        "红灯超期：{number}",
        "诉求{number}“{title}”已超过办理时限（{due}）：{work_url}"),
    ("zh-CN", Topic.REVIEW_OVERDUE): (
        "退回审核超期：{number}",
        "诉求{number}“{title}”的退回审核已{colour_zh}（到期{due}）：{work_url}"),
    ("zh-CN", Topic.SIGN_IN_CODE): (
        "登录验证码",
        "您的登录验证码为{code}，{minutes}分钟内有效。如非本人操作，请忽略本短信。"),
    ("zh-CN", Topic.FORWARD_REFUSED): (
        "{action_zh}未被受理：{number}",
        "您对诉求{number}的{action_zh}未被办理单位受理（{reason_zh}），请查看：{track_url}"),
    ("zh-CN", Topic.REPORT_READY): (
        "报告已生成：{title}",
        "{title}已生成（{trigger_zh}）。查看与下载：{reports_url}"
        "（PDF {pdf_url}，Excel {xlsx_url}）"),
    ("zh-CN", Topic.MERGED): (
        "诉求已合并办理：{number}",
        "您的诉求{number}与同类诉求{master_number}合并办理，答复后将通知您并请您评价：{track_url}"),
    ("zh-CN", Topic.MERGED_CLOSED): (
        "诉求已办结：{number}",
        "与您的诉求{number}合并办理的诉求{master_number}已办结（{reason}）：{track_url}"),
    ("en", Topic.RECEIPT): (
        "Issue received: {number}",
        "Your issue \"{title}\" was received as {number}. Track it: {track_url}"),
    ("en", Topic.ASSIGNED): (
        "Issue assigned: {number}",
        "Issue {number} \"{title}\" was assigned to {department}: {work_url}"),
    ("en", Topic.URGED): (
        "Issue urged: {number}",
        "Issue {number} \"{title}\" was urged (urge {urge_count}): {work_url}"),
    ("en", Topic.SUPERVISED): (
        "Supervision: {number}",
        "{issued_by} supervises issue {number} \"{title}\": {note} {work_url}"),
    ("en", Topic.REJECTION_REVIEW): (
        "Rejection to review: {number}",
        "Issue {number} \"{title}\" was rejected ({reason}); please review: {work_url}"),
    ("en", Topic.RESOLVED): (
        "Issue resolved: {number}",
        "Your issue {number} was answered: {reply} Please rate it: {rate_url}"),
    ("en", Topic.REOPENED): (
        "Issue reopened: {number}",
        "The enterprise was not satisfied with issue {number} \"{title}\": {work_url}"),
    ("en", Topic.LIGHT_YELLOW): (
        "Yellow light: {number}",
        "Issue {number} \"{title}\" has used 2/3 of its time, due {due}: {work_url}"),
    ("en", Topic.LIGHT_RED): (
        "Red light: {number}",
        "Issue {number} \"{title}\" is overdue (due {due}): {work_url}"),
    ("en", Topic.REVIEW_OVERDUE): (
        "Rejection review {colour}: {number}",
        "The review of rejected issue {number} \"{title}\" is {colour} (due {due}): "
        "{work_url}"),
    ("en", Topic.SIGN_IN_CODE): (
        "Sign-in code",
        "Your sign-in code is {code}, valid for {minutes} minutes. If you did not ask for "
        "it, ignore this message."),
    ("en", Topic.FORWARD_REFUSED): (
        "Your {action} was not accepted: {number}",
        "Your {action} of issue {number} was not accepted by the tier handling it "
        "({reason}). See: {track_url}"),
    ("en", Topic.REPORT_READY): (
        "Report ready: {kind} {period}",
        "The {kind} report {period} of {node_name} was made ({trigger}). View and download "
        "it: {reports_url} (PDF {pdf_url}, Excel {xlsx_url})"),
    ("en", Topic.MERGED): (
        "Issue merged: {number}",
        "Your issue {number} is handled together with the same issue {master_number}; you will "
        "get the answer and be asked to rate it: {track_url}"),
    ("en", Topic.MERGED_CLOSED): (
        "Issue closed: {number}",
        "Issue {master_number}, handled together with your issue {number}, was closed "
        "({reason}): {track_url}"),
}

MAX_PARAM = 200  # characters of free text (a reply, a reason) a message carries


@dataclass(frozen=True, kw_only=True, slots=True)
class NotifyRules:
    """Which topics go to which groups (a topic mapped to no group is off), and links."""

    groups: Mapping[Topic, tuple[Group, ...]] = field(
        default_factory=lambda: dict(DEFAULT_GROUPS))
    #: the node's public address: links in messages (tracking, rating, the workbench)
    base_url: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """One thing to tell: written to the outbox in the transaction of its cause."""

    key: str  # unique per cause: "event:<event id>" or "light:<issue>:<deadline>:<colour>"
    topic: Topic
    issue_id: str
    groups: tuple[Group, ...]
    params: Mapping[str, str]
    at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """A staff account as recipient selection sees it."""

    username: str
    role: str
    department: str | None = None
    board: str | None = None


def _short(text: Any) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= MAX_PARAM else value[:MAX_PARAM - 1] + "…"


def issue_params(issue: Issue, base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "number": issue.number,
        "title": _short(issue.title),
        "state": issue.state.value,
        "department": issue.department or "",
        "board": issue.board or "",
        "urge_count": str(issue.urge_count),
        "track_url": f"{base}/ui/portal/issues/{issue.number}",
        "rate_url": f"{base}/ui/portal/issues/{issue.number}#rate",
        "work_url": f"{base}/ui/workbench/issues/{issue.number}",
    }


def notice_for_event(event: Event, issue: Issue, rules: NotifyRules) -> Notice | None:
    """The notice `event` (written by this node; `issue` is the snapshot after it) causes.
    A back-dated event of an imported history causes none: it happened long ago."""
    topic = EVENT_TOPICS.get(event.kind)
    if topic is None or event.payload.get("imported") is True:
        return None
    groups = tuple(rules.groups.get(topic, ()))
    if not groups:
        return None
    params = issue_params(issue, rules.base_url)
    p = event.payload
    for name in ("reply", "reason", "note", "issued_by", "comment", "master_number"):
        if p.get(name) is not None:
            params[name] = _short(p[name])
    return Notice(key=f"event:{event_id_of(event.issue_id, event.version)}", topic=topic,
                  issue_id=issue.id, groups=groups, params=params, at=event.at)


def notice_for_replicated(event: Event, issue: Issue, rules: NotifyRules, *,
                          home: str) -> Notice | None:
    """The notice a replicated `event` causes at `home`, the node where the issue was raised:
    only what its enterprise is told (a reply written by the tier that owns the issue now),
    because the enterprise's contact and portal live at its home node. Staff are told by
    the node that wrote the event; every other node stays silent."""
    if issue.origin != home:
        return None
    notice = notice_for_event(event, issue, rules)
    if notice is None or Group.ENTERPRISE not in notice.groups:
        return None
    return replace(notice, groups=(Group.ENTERPRISE,))


#: a forwarded act's kind → (English, Chinese) name in a refusal message
_FORWARDED = {"enterprise_urge": ("urge", "催办"), "rate": ("rating", "评价")}
#: the owner's refusal code → why, as the enterprise reads it (others: the generic one)
_REFUSALS = {"urge_too_soon": ("urged within the last 24 hours", "24小时内已催办"),
             "illegal_transition": ("the issue has moved on", "诉求状态已变化")}
_REFUSED = ("not accepted", "办理单位未受理")


def notice_for_refused(issue: Issue, *, transfer_id: str, kind: str, error: str,
                       at: datetime, rules: NotifyRules) -> Notice | None:
    """The notice of an enterprise's urge or rating that this node forwarded up and the
    owner refused (`error` holds the refusal's code): told to the enterprise, once per
    transfer, by its home node."""
    groups = tuple(rules.groups.get(Topic.FORWARD_REFUSED, ()))
    if kind not in _FORWARDED or not groups:
        return None
    reason = next((why for code, why in _REFUSALS.items() if code in error), _REFUSED)
    params = issue_params(issue, rules.base_url)
    params.update(action=_FORWARDED[kind][0], action_zh=_FORWARDED[kind][1],
                  reason=reason[0], reason_zh=reason[1])
    return Notice(key=f"refused:{transfer_id}", topic=Topic.FORWARD_REFUSED,
                  issue_id=issue.id, groups=groups, params=params, at=at)


_TRIGGERS = {"schedule": "定时生成", "demand": "按需生成"}


def notice_for_report(*, report_id: int, node: str, node_name: str, kind: str, period: str,
                      title: str, trigger: str, at: datetime, rules: NotifyRules
                      ) -> Notice | None:
    """The notice of a report made here (scheduled or on demand): told to the node's
    leaders once per report (the key names the report), with links to download it. It
    concerns no issue (`issue_id` is empty)."""
    groups = tuple(rules.groups.get(Topic.REPORT_READY, ()))
    if not groups:
        return None
    base = rules.base_url.rstrip("/")
    params = {"title": _short(title), "node_name": _short(node_name), "kind": kind,
              "period": period, "trigger": trigger, "trigger_zh": _TRIGGERS.get(trigger, ""),
              "number": "", "reports_url": f"{base}/ui/workbench/reports",
              "pdf_url": f"{base}/api/v1/reports/{report_id}/pdf",
              "xlsx_url": f"{base}/api/v1/reports/{report_id}/xlsx"}
    return Notice(key=f"report:{node}:{report_id}", topic=Topic.REPORT_READY, issue_id="",
                  groups=groups, params=params, at=at)


def light_key(issue_id: str, deadline_kind: str, due: datetime, colour: Colour) -> str:
    return f"light:{issue_id}:{deadline_kind}:{due.isoformat()}:{colour.value}"


def notice_for_light(issue: Issue, colour: Colour, rules: NotifyRules, *,
                     now: datetime) -> Notice | None:
    """The notice of `issue`'s running deadline turning `colour` (once per transition)."""
    if issue.deadline is None:
        return None
    review = issue.deadline.kind.value == "review"
    if review:
        topic = Topic.REVIEW_OVERDUE
    else:
        topic = Topic.LIGHT_YELLOW if colour is Colour.YELLOW else Topic.LIGHT_RED
    groups = tuple(rules.groups.get(topic, ()))
    if not groups:
        return None
    params = issue_params(issue, rules.base_url)
    params["due"] = issue.deadline.due.isoformat(timespec="minutes")
    params["deadline_kind"] = issue.deadline.kind.value
    params["colour"] = colour.value
    params["colour_zh"] = "临近到期" if colour is Colour.YELLOW else "超期"
    key = light_key(issue.id, issue.deadline.kind.value, issue.deadline.due, colour)
    return Notice(key=key, topic=topic, issue_id=issue.id, groups=groups, params=params,
                  at=now)


def members(group: Group, accounts: Iterable[Member], *, department: str | None,
            board: str | None) -> list[str]:
    """The usernames `group` means for an issue of `department` / `board`, sorted."""
    staff = [a for a in accounts if a.role != "enterprise"]

    def of_role(role: str) -> list[Member]:
        return [a for a in staff if a.role == role]

    picked: list[Member]
    match group:
        case Group.ENTERPRISE:
            picked = []
        case Group.DEPARTMENT:
            picked = [a for a in staff if department and a.department == department]
        case Group.HANDLERS:
            picked = ([a for a in of_role("handler") if a.department == department]
                      if department else of_role("dispatcher"))
        case Group.LEADERS:
            leaders = of_role("leader")
            own = [a for a in leaders if department and a.department == department]
            picked = own or [a for a in leaders if a.department is None]
        case Group.REVIEWERS:  # the review unit's (营商局 联审) reviewers, else the leaders
            picked = of_role("reviewer") or of_role("leader")
        case Group.DISPATCHERS:
            picked = of_role("dispatcher")
        case Group.OWNER_UNIT:
            picked = ([a for a in staff if a.department == department] if department
                      else [a for a in staff if board and a.board == board])
            if not picked:
                picked = of_role("leader")
    return sorted({a.username for a in picked})


def delivery_key(node: str, notice_key: str, recipient: str, channel: str) -> str:
    """The one idempotency key of a delivery: the same on every attempt, everywhere.

    `zt1-` and 40 hex digits of SHA-256 over node, notice, recipient and channel; it names
    no person (a gateway operator can deduplicate on it without learning anything)."""
    digest = hashlib.sha256("\n".join((node, notice_key, recipient, channel)).encode())
    return "zt1-" + digest.hexdigest()[:40]


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


_FORMATTER = string.Formatter()


def template_names(text: str) -> list[str]:
    """The `{name}` fields of a template (raises ValueError for a malformed one)."""
    return [name for _, name, _, _ in _FORMATTER.parse(text) if name]


def render(topic: Topic, locale: str, params: Mapping[str, str],
           overrides: Mapping[tuple[str, Topic], tuple[str, str]] | None = None
           ) -> tuple[str, str]:
    """(subject, body) of `topic` in `locale` (zh-CN when the locale has no template)."""
    chosen = locale if locale in LOCALES else "zh-CN"
    templates = {**DEFAULT_TEMPLATES, **(overrides or {})}
    subject, body = templates[(chosen, topic)]
    values = _Lenient(params)
    return subject.format_map(values), body.format_map(values)


def channels_for(recipient_is_enterprise: bool, enterprise_channels: Sequence[str],
                 staff_channels: Sequence[str]) -> tuple[str, ...]:
    return tuple(enterprise_channels if recipient_is_enterprise else staff_channels)


# --------------------------------------------------------------------------- quiet hours


@dataclass(frozen=True, kw_only=True, slots=True)
class QuietHours:
    """免打扰时段 for SMS, in China time: `start` to `end`, across midnight when
    `end` <= `start` (22:00-08:00). A text that falls due inside waits for `end`."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """"HH:MM-HH:MM"; ValueError naming what is wrong."""
        parts = text.strip().split("-")
        if len(parts) != 2:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}")
        try:
            start, end = (time.fromisoformat(p.strip()) for p in parts)
        except ValueError:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}") from None
        if start == end:
            raise ValueError(f"quiet hours {text!r} start and end at the same time")
        return cls(start=start.replace(second=0, microsecond=0),
                   end=end.replace(second=0, microsecond=0))

    def until(self, now: datetime) -> datetime | None:
        """The instant the quiet period that holds `now` ends; None outside of one."""
        local = now.astimezone(CST)
        at = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= at < self.end
        else:
            inside = at >= self.start or at < self.end
        if not inside:
            return None
        end = datetime.combine(local.date(), self.end, tzinfo=CST)
        if end <= local:
            end += timedelta(days=1)
        return end
