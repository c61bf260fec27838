"""Ratings staff record for an enterprise: what it said during a phone revisit (电话回访).

An enterprise rates its own resolved issue in its portal (node/app/service.py `act` with
`Rate`: satisfied closes, unsatisfied reopens) — those rules stay. Many enterprises answer
the revisit call instead; `record` lets a staff member holding the revisit permission
write that answer as the issue's rating: the same `Rate` command of the lifecycle, so the
same transitions and refusals (only a resolved issue, never a common issue), with
`recorded_via` set: the event's actor is the staff member (who), its time the recording
(when), and its payload says `recorded_by_staff` and how the enterprise was reached — the
timeline shows it as recorded by staff, never as the enterprise's own click.
"""

from __future__ import annotations

from node.app.policy import Principal, Role, authorize, not_found
from node.app.service import IssueService
from node.domain.errors import Conflict, Forbidden, RuleViolation
from node.domain.issue import Action, ContactMethod, Issue, Rating
from node.domain.lifecycle import Rate, decide, evolve


class StaffRatings:
    def __init__(self, *, issues: IssueService) -> None:
        self.issues = issues

    def record(self, principal: Principal, key: str, rating: Rating, *,
               comment: str | None = None, contact: ContactMethod = ContactMethod.PHONE,
               expected_version: int | None = None) -> Issue:
        if principal.role is Role.ENTERPRISE:  # its own rating goes through `Rate` itself
            raise Forbidden("role_not_permitted", permission=Action.REVISIT.value,
                            role=principal.role.value)
        s = self.issues
        command = Rate(rating=rating, comment=comment, recorded_via=contact)
        now = s.clock.now()
        with s.store.write() as unit:
            issue = unit.load_issue(key, for_update=True)
            if issue is None:
                raise not_found(key)
            # the revisit permission, on an issue this node owns, within the caller's scope
            authorize(principal, Action.REVISIT, issue, s.node, key)
            if unit.transfer_pending(issue.id):
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            if expected_version is not None and expected_version != issue.version:
                raise Conflict("version_mismatch", current_version=issue.version,
                               expected_version=expected_version)
            event = decide(issue, command, actor=principal.actor, now=now, rules=s.rules)
            new = evolve(issue, event)
            unit.update_issue(new, expected_version=issue.version)
            unit.append_event(s.node, event, own=True)
        return new
