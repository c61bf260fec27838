"""Valid sample inputs for tests."""

from __future__ import annotations

from node.app.policy import Principal, Role
from node.domain.issue import Channel
from node.domain.lifecycle import Submit
from node.domain.validation import make_credit_code

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
