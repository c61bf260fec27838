"""Rejections waiting for review (否定报备 联审), and the overdue ones.

A rejection starts a review deadline (config `deadlines.review_working_days`, 2 working
days by default: node/domain/lifecycle.py `Reject`); the issue then shows the light of that
deadline, RED once it has passed. `ReviewService.pending` lists this node's rejections
waiting for review — with who rejected each (`Issue.rejected_by`, who may not review it),
its due time and light — oldest first, for the people who answer for reviews: the members
of the node's review unit (营商局 联审, kind "review") whose role may review (its leader, its
reviewers), and the admins and supervisors; on a node without a review unit, whoever may
confirm a rejection (a leader). `overdue=True` keeps only the red ones.

The list is one query of the pool (state rejected, owner this node, and with `overdue` the
SQL light predicate on the stored red instant), never a scan of issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.app.policy import REVIEW_ACTIONS, ROLE_PERMISSIONS, Principal, Role, can
from node.app.ports import Clock, IssueFilter, IssueStore
from node.domain.deadlines import Light
from node.domain.errors import Forbidden
from node.domain.issue import Issue, State
from node.domain.lifecycle import Rules, current_light

MAX_LISTED = 500
REVIEW_LIST = "review_list"  # the permission named in a refusal

#: account roles that oversee every review whatever their units
_OVERSEERS: frozenset[Role] = frozenset({Role.ADMIN, Role.SUPERVISOR})


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingReview:
    issue: Issue
    light: Light | None
    due: datetime | None
    overdue: bool


def may_list_reviews(principal: Principal) -> bool:
    """Whether `principal` answers for this node's rejection reviews (see the module)."""
    if principal.role in _OVERSEERS:
        return True
    if not principal.review_units:
        return any(can(principal, a.value) for a in REVIEW_ACTIONS)
    return any(m.unit in principal.review_units
               and any(a.value in ROLE_PERMISSIONS[m.role] for a in REVIEW_ACTIONS)
               for m in principal.memberships)


class ReviewService:
    def __init__(self, *, store: IssueStore, node: str, rules: Rules, clock: Clock) -> None:
        self.store = store
        self.node = node
        self.rules = rules
        self.clock = clock

    def pending(self, principal: Principal, *, overdue: bool = False,
                limit: int = MAX_LISTED) -> list[PendingReview]:
        """This node's rejections waiting for review (only the red ones with `overdue`),
        the longest waiting first."""
        if not may_list_reviews(principal):
            raise Forbidden("role_not_permitted", permission=REVIEW_LIST,
                            role=principal.role.value)
        now = self.clock.now()
        f = IssueFilter(states=(State.REJECTED,), owner=self.node,
                        overdue_at=now if overdue else None, now=now,
                        limit=min(limit, MAX_LISTED), count=False)
        with self.store.read() as unit:
            found, _ = unit.list_issues(f)
        out = []
        for issue in found:
            light = current_light(issue, now, self.rules.calendar)
            due = issue.deadline.due if issue.deadline is not None else None
            out.append(PendingReview(issue=issue, light=light, due=due,
                                     overdue=light is Light.RED))
        out.sort(key=lambda r: (r.due is None, r.due or now, r.issue.number))
        return out
