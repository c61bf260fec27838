"""Where a person's action on an issue is carried out, given this node's place in the tiers.

The issue's state machine says what may happen to an issue; these rules say *where*, and
they depend on the topology (this node, its parent, its children) and on who owns the
issue now:

- an enterprise acts where it always does (its county's node); when the issue has gone up
  to a tier above, its urge or rating is queued to the owner and recorded there once
  (`enterprise_act`, 202 at the API);
- past the last step of the in-node ladder an issue is escalated to the parent instead
  (`ladder_up`);
- the actions worth offering a principal are the role's minus what federation would refuse
  (`actions`), plus the federation's own: 督办 (`supervise`, routed down to the owner) on
  a replica a tier below owns, 交办下级 (`dispatch`) of an issue owned here to a child.

`Forwarding` combines the node's own use cases (IssueService) with the transfer use cases
(TransferService); the HTTP API only parses, calls it and renders the `Outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.app.policy import Principal, Role, authorize, can, check_can_view, permitted_actions
from node.app.service import IssueService
from node.app.transfers import TransferService
from node.domain.deadlines import Light
from node.domain.errors import Forbidden, NotFound, RuleViolation
from node.domain.issue import Action, Issue
from node.domain.lifecycle import LadderUp, Rate, Urge, allowed_actions
from node.domain.topology import next_hop

#: The escalation reason when the ladder ran out and the person gave no note.
LADDER_TOP_REASON = "本级处理层级（含联席会议）已用尽，提请上级协调"
#: What an enterprise may still do here to an issue owned by a tier above (forwarded up).
FORWARDED_ENTERPRISE_ACTIONS = ("urge", "accept", "reopen")
#: The offered action of POST /issues/{key}/dispatch (交办下级), not a lifecycle action.
DISPATCH = "dispatch"


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """The issue as the person sees it after the action; `transfer_id` is set when the
    action was queued for another tier (accepted there later) instead of done here."""

    issue: Issue
    light: Light | None
    transfer_id: str | None = None


class Forwarding:
    def __init__(self, *, issues: IssueService, transfers: TransferService) -> None:
        self.issues = issues
        self.transfers = transfers

    def _owned_above(self, issue: Issue) -> bool:
        """Owned neither here nor by a child: the issue went up the tiers."""
        return issue.owner != self.transfers.node and issue.owner not in self.transfers.children

    def actions(self, principal: Principal, issue: Issue, *, pending: bool) -> list[str]:
        """The actions worth offering: the role's, minus what federation would refuse."""
        if pending:
            return []  # a transfer is on its way: everything would answer transfer_pending
        t = self.transfers
        if (principal.role is Role.ENTERPRISE and self._owned_above(issue)
                and issue.enterprise.credit_code == principal.credit_code):
            # escalated: the enterprise still rates and urges here; both are forwarded up
            return [a.value for a in allowed_actions(issue.state, issue.subject_kind)
                    if a.value in FORWARDED_ENTERPRISE_ACTIONS and can(principal, a.value)]
        if issue.owner != t.node and next_hop(t.node, issue.owner) in t.children:
            return self._directives(principal, issue)  # owned below: a child's subtree
        offered = [
            a for a in permitted_actions(principal, issue, t.node)
            if not (a == "escalate" and t.parent is None)
            and not (a == "return" and issue.came_from not in t.children)
            and a != Action.SUPERVISE.value  # 督办 goes down to an owner, never here
        ]
        if t.children and Action.RETURN in allowed_actions(issue.state, issue.subject_kind):
            try:  # /dispatch: 交办下级 is a return to a child this node chooses
                authorize(principal, Action.RETURN, issue, t.node)
            except (Forbidden, NotFound):
                return offered
            offered.append(DISPATCH)
        return offered

    @staticmethod
    def _directives(principal: Principal, issue: Issue) -> list[str]:
        """On a replica a tier below owns: 督办 (POST /supervise, which also carries an urge
        as a directive) for a principal who may supervise, while the issue is open."""
        if principal.role is Role.ENTERPRISE or not can(principal, Action.SUPERVISE.value):
            return []
        try:
            check_can_view(principal, issue)
        except (Forbidden, NotFound):
            return []
        if Action.SUPERVISE not in allowed_actions(issue.state, issue.subject_kind):
            return []
        return [Action.SUPERVISE.value]

    def enterprise_act(self, principal: Principal, key: str, command: Urge | Rate, *,
                       expected_version: int | None) -> Outcome:
        """An urge or a rating: done here, or — by the enterprise, on an issue owned above
        — forwarded to the owner (the outcome shows the issue as it is here now)."""
        if principal.role is Role.ENTERPRISE:
            view = self.issues.get(principal, key)
            # just escalated: queued behind the escalation, so the new owner records it
            if self._owned_above(view.issue) or self.transfers.escalating(view.issue.id):
                transfer_id = self.transfers.request_upward(principal, key, command)
                return Outcome(issue=view.issue, light=view.light, transfer_id=transfer_id)
        return self._act(principal, key, command, expected_version=expected_version)

    def ladder_up(self, principal: Principal, key: str, note: str | None, *,
                  expected_version: int | None) -> Outcome:
        """One step up the in-node ladder; past the last step, escalation to the parent
        (with the note as the reason). Without a parent the ladder's refusal stands."""
        try:
            return self._act(principal, key, LadderUp(note=note),
                             expected_version=expected_version)
        except RuleViolation as exc:
            if exc.code != "ladder_exhausted" or self.transfers.parent is None:
                raise
        return self.escalate(principal, key, note or LADDER_TOP_REASON)

    def escalate(self, principal: Principal, key: str, reason: str) -> Outcome:
        """Queue the escalation; the outcome shows the issue frozen here until accepted."""
        transfer_id = self.transfers.request_escalation(principal, key, reason)
        view = self.issues.get(principal, key)
        return Outcome(issue=view.issue, light=view.light, transfer_id=transfer_id)

    def _act(self, principal: Principal, key: str, command: LadderUp | Urge | Rate, *,
             expected_version: int | None) -> Outcome:
        issue = self.issues.act(principal, key, command, expected_version=expected_version)
        return Outcome(issue=issue, light=self.issues.light_of(issue))
