"""Who may do what: roles, the actions each role may take, and the ownership rules.

One table (`ROLE_PERMISSIONS`) names every permission of every role; `authorize` adds the
rules that depend on the issue: an enterprise acts only on its own issues, a handler only
on issues in its units' queues, and nobody changes an issue this node does not own.

Memberships (账号的单元与角色). A staff account has its account role and may be bound to
organisation units with a role per unit (`Principal.memberships`, loaded with the account:
node/app/accounts.py). A membership grants its role's permissions; a handler's (the one
queue-bound role, `QUEUE_BOUND`) only on the issues in that unit's queue
(`node.domain.units.queue_of`), every other role's node-wide. An account with a handler
membership and no node-wide grant sees only its units' queues: another issue reads as 404,
exactly like an unknown key, and the pool is filtered to them (`queue_scope`). An account
without memberships keeps the behaviour of its role as before (a handler: its department).

Rejection review (否定报备 联审). Whoever rejected an issue (`Issue.rejected_by`) may not
confirm or overturn that rejection (`own_rejection`); where the node has a review unit
(营商局 联审, kind "review": `Principal.review_units`, the node's active ones), the reviewer
must hold a membership of one with a role that may review (`not_review_unit`); a node
without one lets a leader review as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from node.domain.errors import Forbidden, NotFound
from node.domain.issue import Action, Actor, ActorKind, Issue
from node.domain.units import queue_of


class Role(StrEnum):
    ENTERPRISE = "enterprise"  # 企业
    DISPATCHER = "dispatcher"  # 受理分办员: intake, triage, dispatch
    HANDLER = "handler"  # 承办人员 of a department or board
    LEADER = "leader"  # 领导 / 兜底办: reviews, ladder, supervision
    ADMIN = "admin"
    VIEWER = "viewer"  # read-only summaries (e.g. provincial leaders)
    INTAKE = "intake"  # 综合窗口 受理: registers issues of every channel
    SUPERVISOR = "supervisor"  # 督查室: urges, supervision, revisit tasks
    REVIEWER = "reviewer"  # 营商局 联审: reviews rejections


SUBMIT = "submit"
SUBMIT_ANY_CHANNEL = "submit_any_channel"
VIEW_POOL = "view_pool"
VIEW_METRICS = "view_metrics"
DRAW_SAMPLE = "draw_sample"
REVISIT_TASKS = "revisit_tasks"  # the supervision office's (督查室) revisit tasks: record results
JOINT_MEETING = "joint_meeting"  # record the joint meeting's (联席会议) decisions
MANAGE_USERS = "manage_users"
GENERATE_REPORT = "generate_report"  # a periodic report on demand (node/app/reports.py)
MANAGE_UNITS = "manage_units"  # the organisation units' catalogue (node/app/units.py)
VIEW_AUDIT = "view_audit"  # read and export the audit trail (node/app/audit.py)
MANAGE_TAGS = "manage_tags"  # the tag library: categories, tags, merges (node/app/tags.py)
APPROVE_TAGS = "approve_tags"  # decide the tags proposed during triage
MANAGE_RULES = "manage_rules"  # this node's own rules, within the floors (node/app/floors.py)
ENTER_EVALUATION = "enter_evaluation"  # the 有感指数's external evaluations (node/app/index.py)
MANAGE_POLICIES = "manage_policies"  # the policy library: enter, import (node/app/policies.py)
MERGE_ISSUES = "merge_issues"  # 并单: merge duplicates into a master (node/app/merges.py)
UNMERGE_ISSUES = "unmerge_issues"  # 撤销并单: a leader undoes a merge
REVIEW_CASES = "review_cases"  # open and edit a review (问题复盘): node/app/cases.py
PUBLISH_CASES = "publish_cases"  # publish a review as a case: 典型案例 / 负面案例

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
    MERGE_ISSUES,
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
    GENERATE_REPORT,
    APPROVE_TAGS,
    ENTER_EVALUATION,
    MANAGE_POLICIES,
    UNMERGE_ISSUES,
    REVIEW_CASES,
    PUBLISH_CASES,
}

#: An action that is another's outcome needs that one's permission and is offered through its
#: form: a revisit answered unsatisfied (which reopens the issue) is a revisit.
PERMISSION_OF: dict[Action, Action] = {_A.REVISIT_REOPEN: _A.REVISIT}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ENTERPRISE: frozenset({SUBMIT, _A.URGE.value, _A.ACCEPT.value, _A.REOPEN.value}),
    Role.DISPATCHER: frozenset(_DISPATCHING),
    Role.HANDLER: frozenset(_HANDLING | {VIEW_POOL, VIEW_METRICS}),
    Role.LEADER: frozenset(_LEADING),
    Role.ADMIN: frozenset(_LEADING | {MANAGE_USERS, MANAGE_UNITS, VIEW_AUDIT, MANAGE_TAGS,
                                      MANAGE_RULES}),
    Role.VIEWER: frozenset({VIEW_METRICS}),
    Role.INTAKE: frozenset({SUBMIT, SUBMIT_ANY_CHANNEL, VIEW_POOL}),
    Role.SUPERVISOR: frozenset({VIEW_POOL, VIEW_METRICS, _A.URGE.value, _A.SUPERVISE.value,
                                REVISIT_TASKS, _A.REVISIT.value, VIEW_AUDIT}),
    Role.REVIEWER: frozenset({VIEW_POOL, VIEW_METRICS, _A.CONFIRM_REJECTION.value,
                              _A.OVERTURN_REJECTION.value}),
}

#: the role whose membership grants its permissions only on its unit's queue
QUEUE_BOUND: frozenset[Role] = frozenset({Role.HANDLER})
#: the actions of a rejection review (否定报备 联审)
REVIEW_ACTIONS: frozenset[Action] = frozenset({_A.CONFIRM_REJECTION, _A.OVERTURN_REJECTION})
#: roles an account may hold in a unit (an enterprise is never a member of one)
MEMBER_ROLES: tuple[Role, ...] = (Role.INTAKE, Role.DISPATCHER, Role.HANDLER, Role.LEADER,
                                  Role.SUPERVISOR, Role.REVIEWER, Role.ADMIN, Role.VIEWER)


@dataclass(frozen=True, kw_only=True, slots=True)
class Membership:
    """An account's role in one organisation unit (a unit id: "<node code>.<slug>")."""

    unit: str
    role: Role


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    username: str
    role: Role
    display_name: str
    credit_code: str | None = None
    department: str | None = None
    board: str | None = None
    memberships: tuple[Membership, ...] = ()
    #: the node's active review units (kind "review"), known when the principal is loaded
    review_units: frozenset[str] = frozenset()

    @property
    def actor(self) -> Actor:
        if self.role is Role.ENTERPRISE:
            return Actor(kind=ActorKind.ENTERPRISE, id=self.credit_code or self.username)
        return Actor(kind=ActorKind.STAFF, id=self.username)

    def units(self, role: Role | None = None) -> tuple[str, ...]:
        """The units this account belongs to (in `role`, if given), in membership order."""
        return tuple(dict.fromkeys(m.unit for m in self.memberships
                                   if role is None or m.role is role))


def _grants(principal: Principal) -> list[tuple[Role, str | None]]:
    """(role, unit) of every grant: the account's role node-wide (None) — a handler's only
    while it has no membership — and each membership's role, in its unit for a
    queue-bound role, else node-wide."""
    out: list[tuple[Role, str | None]] = []
    if not (principal.role in QUEUE_BOUND and principal.memberships):
        out.append((principal.role, None))
    for m in principal.memberships:
        out.append((m.role, m.unit if m.role in QUEUE_BOUND else None))
    return out


def can(principal: Principal, permission: str) -> bool:
    """Whether any grant (node-wide or in some unit) holds `permission`."""
    return any(permission in ROLE_PERMISSIONS[role] for role, _ in _grants(principal))


def can_on(principal: Principal, permission: str, issue: Issue) -> bool:
    """Whether a grant that covers `issue` (node-wide, or its queue's unit) holds it."""
    queue = queue_of(issue)
    return any(permission in ROLE_PERMISSIONS[role] for role, unit in _grants(principal)
               if unit is None or unit == queue)


def queue_scope(principal: Principal) -> tuple[str, ...] | None:
    """The units whose queues are all this principal may see of the pool; None: every
    issue (a node-wide grant that may view the pool, or no membership at all)."""
    grants = _grants(principal)
    if any(unit is None and VIEW_POOL in ROLE_PERMISSIONS[role] for role, unit in grants):
        return None
    units = tuple(dict.fromkeys(unit for role, unit in grants
                                if unit is not None and VIEW_POOL in ROLE_PERMISSIONS[role]))
    return units if units else None


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
    if not can_on(principal, VIEW_POOL, issue):
        # outside the principal's queues: the answer for an unknown key, like an enterprise's
        raise not_found(key or issue.id)


def authorize(
    principal: Principal, action: Action, issue: Issue, node: str, key: str | None = None
) -> None:
    """Refuse `action` on `issue` unless the role, the ownership and the scope allow it."""
    check_can_view(principal, issue, key)
    permission = PERMISSION_OF.get(action, action).value
    require(principal, permission)
    if issue.owner != node:
        raise Forbidden("replica_read_only", owner=issue.owner)
    if not can_on(principal, permission, issue):
        raise Forbidden("not_your_unit", unit=queue_of(issue))
    if (
        principal.role is Role.HANDLER
        and not principal.memberships
        and principal.department is not None
        and issue.department != principal.department
    ):
        raise Forbidden("not_your_department", department=issue.department)
    if action in REVIEW_ACTIONS:
        check_reviewer(principal, action, issue)


def check_reviewer(principal: Principal, action: Action, issue: Issue) -> None:
    """The four-eyes rule of a rejection review: not who rejected it, and (where the node
    has a review unit) a member of one whose role may review."""
    if issue.rejected_by is not None and issue.rejected_by == principal.actor.label():
        raise Forbidden("own_rejection")
    if not principal.review_units:
        return  # no review unit here: the role decides, as before
    if not any(m.unit in principal.review_units and action.value in ROLE_PERMISSIONS[m.role]
               for m in principal.memberships):
        raise Forbidden("not_review_unit", units=",".join(sorted(principal.review_units)))
