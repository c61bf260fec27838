"""Valid sample inputs for tests: accounts, a county's configuration, issues, hostile text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.app.policy import Principal, Role
from node.config import Config, parse_config
from node.domain.issue import Channel
from node.domain.lifecycle import Submit
from node.domain.validation import make_credit_code

STAFF = {
    "dispatcher": Principal(username="dispatcher", role=Role.DISPATCHER, display_name="受理员"),
    "handler": Principal(username="handler", role=Role.HANDLER, display_name="承办",
                         department="经信局"),
    "other_handler": Principal(username="other_handler", role=Role.HANDLER,
                               display_name="承办2", department="住建局"),
    "leader": Principal(username="leader", role=Role.LEADER, display_name="领导"),
    "admin": Principal(username="admin", role=Role.ADMIN, display_name="管理员"),
    "viewer": Principal(username="viewer", role=Role.VIEWER, display_name="省领导"),
}
LEADER = STAFF["leader"]

CODE_A = make_credit_code("91330522MA2AAAAA1")
CODE_B = make_credit_code("91330522MA2BBBBB2")

ENTERPRISE_A = Principal(username=CODE_A, role=Role.ENTERPRISE, display_name="甲企业",
                         credit_code=CODE_A)
ENTERPRISE_B = Principal(username=CODE_B, role=Role.ENTERPRISE, display_name="乙企业",
                         credit_code=CODE_B)


def submit_cmd(code: str = CODE_A, *, title: str = "用地审批进度咨询",
               channel: Channel = Channel.ONLINE, tags: tuple[str, ...] = ()) -> Submit:
    return Submit(enterprise_name="甲企业有限公司", credit_code=code,
                  contact_phone="13905720001", channel=channel, title=title,
                  content="厂区扩建项目用地指标审批已两个月，希望了解进度。", tags=tags)


def submit_body(code: str = CODE_A, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "enterprise_name": "甲企业有限公司",
        "credit_code": code,
        "contact_phone": "13905720001",
        "channel": "online",
        "title": "用地审批进度咨询",
        "content": "厂区扩建项目用地指标审批已两个月，希望了解进度。",
        "tags": [],
    }
    body.update(overrides)
    return body


def make_config(tmp_path: Path, **sections: dict[str, Any] | list[dict[str, Any]]) -> Config:
    """长兴县 (330522), a county of 湖州市, with its files under `tmp_path`; `sections`
    override settings (e.g. `http={"port": 0}`)."""
    tree: dict[str, Any] = {
        "node": {"code": "330522", "name": "长兴县", "level": "county", "parent": "330500",
                 "data_dir": str(tmp_path / "data")},
    }
    for name, values in sections.items():
        if isinstance(values, list):  # an array of tables, e.g. units=COUNTY_UNITS
            tree[name] = values
        else:
            tree.setdefault(name, {}).update(values)
    return parse_config(tree, source="test", env={})


#: A small centre's organisation units as `[[units]]` entries (node/config.py UnitEntry):
#: pass `units=COUNTY_UNITS` to `make_config`; ids are "<code>.<slug>".
COUNTY_UNITS: list[dict[str, Any]] = [
    {"slug": "hub", "kind": "hub", "name_zh": "综合窗口", "name_en": "Intake hub"},
    {"slug": "b-zhengce", "kind": "board", "name_zh": "政策板块", "name_en": "Policy Board"},
    {"slug": "z-touzi", "kind": "zone", "name_zh": "投资项目专区"},
    {"slug": "doudi", "kind": "catch_all", "name_zh": "兜底办", "name_en": "Catch-all Office"},
    {"slug": "lianxi", "kind": "joint_meeting", "name_zh": "联席会议"},
    {"slug": "zrzyj", "kind": "department", "name_zh": "自然资源和规划局"},
    {"slug": "bdc", "kind": "department", "name_zh": "不动产登记中心", "parent": "zrzyj"},
    {"slug": "shuiwu", "kind": "department", "name_zh": "税务局", "name_en": "Tax Bureau"},
    {"slug": "dcs", "kind": "supervision", "name_zh": "督查室"},
    {"slug": "yshj", "kind": "review", "name_zh": "营商局（联审）"},
]


#: Script, SQL and template injection: valid text (no control characters), so the product
#: must store and return it verbatim, never execute or interpret it.
HOSTILE = [
    "<script>alert(document.cookie)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'; DROP TABLE issues; --",
    "\" OR \"1\"=\"1",
    "1' OR '1'='1' --",
    "Robert'); DELETE FROM events; --",
    "%' UNION SELECT username, password_hash, role FROM users --",
    "'; UPDATE users SET role='admin' WHERE '1'='1",
    "\\'; SELECT pg_sleep(5); --",
    "{{7*7}} ${7*7} <%= 7*7 %> #{7*7} %s %n %x",
    "javascript:alert(1)//../../../../etc/passwd",
    "%_%\\",
]
