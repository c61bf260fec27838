"""Organisation units of a service centre (中心的组织单元): each one is a queue.

A unit id is the node's division code, a dot and a slug (`330522.fgj`), so the same-named
departments of two counties stay apart at their city. `Issue.department` and `Issue.board`
hold unit ids; `queue_of` names the unit whose queue holds an issue now.
"""

from __future__ import annotations

from enum import StrEnum

from node.domain.issue import Issue


class UnitKind(StrEnum):
    HUB = "hub"  # 综合窗口 / 中台枢纽: intake and triage
    BOARD = "board"  # 板块
    ZONE = "zone"  # 专区
    CATCH_ALL = "catch_all"  # 兜底办
    JOINT_MEETING = "joint_meeting"  # 联席会议
    DEPARTMENT = "department"  # 部门 (with its parent bureau)
    SUPERVISION = "supervision"  # 督查室
    REVIEW = "review"  # 营商局 联审: reviews rejections


def queue_of(issue: Issue) -> str | None:
    """The unit whose queue holds `issue` now (None: still at intake, the hub's)."""
    return issue.department or issue.board
