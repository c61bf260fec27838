"""Automatic escalation: the configured rule "red light plus N urges" escalates an issue.

`run_once()` is one pass: find the owned, open issues the rule picks, queue each one's
escalation to the parent in its own transaction (as the node itself, with the rule as the
reason), log what happened. A refusal (the issue moved meanwhile, a transfer is already
pending) skips that issue only. The periodic loop that calls it lives in the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from node.app.transfers.service import TransferService

log = logging.getLogger("zhitong.node")


class AutoEscalation:
    def __init__(self, *, transfers: TransferService,
                 candidates: Callable[[int], Sequence[str]], after_urges: int | None) -> None:
        """`candidates(n)`: the ids of owned, open, red issues urged at least n times
        (IssueService.auto_escalation_candidates); `after_urges` None turns the rule off."""
        self.transfers = transfers
        self.candidates = candidates
        self.after_urges = after_urges

    @property
    def enabled(self) -> bool:
        """Configured, and there is a parent to escalate to."""
        return self.after_urges is not None and self.transfers.parent is not None

    def reason(self) -> str:
        return f"自动上报：红灯且催办达到 {self.after_urges} 次"

    def run_once(self) -> list[str]:
        """One pass of the rule; returns the ids whose escalation was queued."""
        threshold = self.after_urges
        if threshold is None or self.transfers.parent is None:
            return []
        queued = []
        for issue_id in self.candidates(threshold):
            try:
                self.transfers.request_escalation(None, issue_id, self.reason())
            except Exception as exc:
                log.warning("automatic escalation of %s refused: %s", issue_id, exc)
                continue
            log.info("issue %s escalated automatically (red + %d urges)", issue_id,
                     threshold, extra={"issue_id": issue_id})
            queued.append(issue_id)
        return queued
