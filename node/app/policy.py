"""Who may do what: roles, the actions each role may take, and the ownership rules.

One table (`ROLE_PERMISSIONS`) names every permission of every role; `authorize` adds the
rules that depend on the issue: an enterprise acts only on its own issues, a handler only
on issues dispatched to its department, and nobody changes an issue this node does not own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from node.domain.errors import Forbidden, NotFound
from node.domain.issue import Action, Actor, ActorKind, Issue


class Role(StrEnum):
    ENTERPRISE = "enterprise"  # 企业
    DISPATCHER = "dispatcher"  # 受理分办员: intake, triage, dispatch
    HANDLER = "handler"  # 承办人员 of a department or board
    LEADER = "leader"  # 领导 / 兜底办: reviews, ladder, supervision
    ADMIN = "admin"
    VIEWER = "viewer"  # read-only summaries (e.g. provincial leaders)


SUBMIT = "submit"
SUBMIT_ANY_CHANNEL = "submit_any_channel"
VIEW_POOL = "view_pool"
VIEW_METRICS = "view_metrics"
DRAW_SAMPLE = "draw_sample"
REVISIT_TASKS = "revisit_tasks"  # the supervision office's (督查室) revisit tasks: record results
JOINT_MEETING = "joint_meeting"  # record the joint meeting's (联席会议) decisions
MANAGE_USERS = "manage_users"

_A = Action
_HANDLING = {_A.START.value, _A.RESOLVE.value, _A.REJECT.value}
_DISPATCHING = {
    SUBMIT,
    SUBMIT_ANY_CHANNEL,
    VIEW_POOL,
    VIEW_METRICS,
    _A.TRIAGE.value,
    _A.ASSIGN.value,
    _A.REJECT.value,
    _A.CLOSE.value,
    _A.REVISIT.value,
    _A.LADDER_UP.value,
}
_LEADING = _DISPATCHING | _HANDLING | {
    _A.CONFIRM_REJECTION.value,
    _A.OVERTURN_REJECTION.value,
    _A.URGE.value,
    _A.ESCALATE.value,
    _A.RETURN.value,
    _A.SUPERVISE.value,
    DRAW_SAMPLE,
    REVISIT_TASKS,
    JOINT_MEETING,
}

#: An action that is another's outcome needs that one's permission and is offered through its
#: form: a revisit answered unsatisfied (which reopens the issue) is a revisit.
PERMISSION_OF: dict[Action, Action] = {_A.REVISIT_REOPEN: _A.REVISIT}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ENTERPRISE: frozenset({SUBMIT, _A.URGE.value, _A.ACCEPT.value, _A.REOPEN.value}),
    Role.DISPATCHER: frozenset(_DISPATCHING),
    Role.HANDLER: frozenset(_HANDLING | {VIEW_POOL, VIEW_METRICS}),
    Role.LEADER: frozenset(_LEADING),
    Role.ADMIN: frozenset(_LEADING | {MANAGE_USERS}),
    Role.VIEWER: frozenset({VIEW_METRICS}),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    username: str
    role: Role
    display_name: str
    credit_code: str | None = None
    department: str | None = None
    board: str | None = None

    @property
    def actor(self) -> Actor:
        if self.role is Role.ENTERPRISE:
            return Actor(kind=ActorKind.ENTERPRISE, id=self.credit_code or self.username)
        return Actor(kind=ActorKind.STAFF, id=self.username)


def can(principal: Principal, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS[principal.role]


def permitted_actions(principal: Principal, issue: Issue, node: str) -> list[str]:
    """What this principal could do next to this issue here (for the screens)."""
    from node.domain.lifecycle import allowed_actions

    out = []
    for action in allowed_actions(issue.state, issue.subject_kind):
        if action in PERMISSION_OF:
            continue
        try:
            authorize(principal, action, issue, node)
        except (Forbidden, NotFound):
            continue
        out.append(action.value)
    return out


def require(principal: Principal, permission: str) -> None:
    if not can(principal, permission):
        raise Forbidden("role_not_permitted", permission=permission, role=principal.role.value)


def not_found(key: str) -> NotFound:
    return NotFound("issue_not_found", issue=key)


def check_can_view(principal: Principal, issue: Issue, key: str | None = None) -> None:
    if principal.role is Role.ENTERPRISE:
        if issue.enterprise.credit_code != principal.credit_code:
            # Exactly the answer for an unknown key: numbers are sequential, and a 403
            # would confirm to another enterprise that the issue exists.
            raise not_found(key or issue.id)
        return
    require(principal, VIEW_POOL)


def authorize(
    principal: Principal, action: Action, issue: Issue, node: str, key: str | None = None
) -> None:
    """Refuse `action` on `issue` unless the role, the ownership and the scope allow it."""
    check_can_view(principal, issue, key)
    require(principal, PERMISSION_OF.get(action, action).value)
    if issue.owner != node:
        raise Forbidden("replica_read_only", owner=issue.owner)
    if (
        principal.role is Role.HANDLER
        and principal.department is not None
        and issue.department != principal.department
    ):
        raise Forbidden("not_your_department", department=issue.department)
