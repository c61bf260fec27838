"""Revisit acceptance (回访验收): draw a period's sample once, turn it into the supervision
office's tasks, record their results as revisit events, and audit a draw from the events.

How it works: `draw` reads the clock once and, in one transaction of the store, refuses a
second draw of the period unless it is a leader's re-draw with a reason
(`sample_already_drawn`; a reason for a first draw is `redraw_without_sample`), draws from
the node's own issues resolved in the period (node/domain/revisits.py `in_frame`), keeps
the draw next to the earlier ones, supersedes the earlier draws' open tasks, and for every
sampled issue writes its `revisit_sampled` event and an open task due a configurable number
of working days later (default 5). A concurrent first draw loses on the store's unique key
and gets the same refusal. `record` applies the lifecycle's `Revisit` command (with the
contact method, the note and the sample id) to the issue and updates the task in the same
transaction: 不满意 reopens the issue (the lifecycle table says so), 未联系上 is an attempt
and leaves the task open. `audit` rebuilds the draws of a node and period from the issue
events this node holds — at a parent, from the child's replicated events — and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.app.policy import (
    DRAW_SAMPLE,
    REVISIT_TASKS,
    VIEW_METRICS,
    VIEW_POOL,
    Principal,
    authorize,
    require,
)
from node.app.ports import (
    Clock,
    ConstraintViolation,
    RevisitStore,
    RevisitTask,
    RevisitUnit,
    StoredSample,
)
from node.domain.errors import NotFound, RuleViolation
from node.domain.issue import ContactMethod, RevisitResult
from node.domain.lifecycle import MarkSampled, Revisit, Rules, action_of, decide, evolve
from node.domain.revisits import (
    DEFAULT_TASK_DAYS,
    FINAL_RESULTS,
    DrawAudit,
    Mark,
    audit,
    frame_digest,
    in_frame,
    period_bounds,
    task_due,
)
from node.domain.sampling import draw_revisit_sample, make_seed
from node.domain.validation import MAX_REASON, check_text, validate_division_code

OPEN, DONE, SUPERSEDED = "open", "done", "superseded"


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """Completion of one draw's tasks at `now`."""

    total: int
    done: int
    open: int
    overdue: int
    superseded: int


def progress(tasks: list[RevisitTask], now: datetime) -> Progress:
    return Progress(
        total=len(tasks),
        done=sum(t.state == DONE for t in tasks),
        open=sum(t.state == OPEN for t in tasks),
        overdue=sum(t.state == OPEN and t.due <= now for t in tasks),
        superseded=sum(t.state == SUPERSEDED for t in tasks),
    )


class RevisitService:
    def __init__(self, *, store: RevisitStore, node: str, rules: Rules, clock: Clock,
                 share: float = 0.2, task_days: int = DEFAULT_TASK_DAYS) -> None:
        self.store = store
        self.node = node
        self.rules = rules
        self.clock = clock
        self.share = share
        self.task_days = task_days

    # ----------------------------------------------------------------- draws

    def draw(self, principal: Principal, *, period: str, share: float | None, salt: str,
             reason: str | None = None) -> StoredSample:
        """Draw `period`'s sample (once; again only with a reason) and open its tasks."""
        require(principal, DRAW_SAMPLE)
        start, end = period_bounds(period)
        reason = check_text("reason", reason, max_len=MAX_REASON, required=False)
        now = self.clock.now()
        actor = principal.actor
        try:
            with self.store.write() as unit:
                earlier = unit.draws_of(self.node, period)
                if earlier and reason is None:
                    raise RuleViolation("sample_already_drawn", period=period,
                                        sample_id=earlier[0].id)
                if not earlier and reason is not None:
                    raise RuleViolation("redraw_without_sample", period=period)
                frame = [i.id for i in unit.all_issues()
                         if in_frame(i, node=self.node, start=start, end=end)]
                sample = draw_revisit_sample(
                    frame, share=share if share is not None else self.share,
                    seed=make_seed(node=self.node, period=period, salt=salt))
                number = len(earlier) + 1
                redraw_of = earlier[-1].id if earlier else None
                sample_id = unit.add_draw(node=self.node, period=period, sample=sample,
                                          actor=actor.label(), at=now, draw=number,
                                          reason=reason, redraw_of=redraw_of)
                unit.supersede_tasks(node=self.node, period=period, at=now)
                mark = Mark(node=self.node, period=period, sample=sample_id, draw=number,
                            seed=sample.seed, share=sample.share,
                            frame_size=len(sample.frame),
                            frame_digest=frame_digest(sample.frame), method=sample.method,
                            reason=reason, redraw_of=redraw_of)
                due = task_due(self.rules.calendar, now, self.task_days)
                for issue_id in sample.selected:
                    issue = unit.load_issue(issue_id, for_update=True)
                    assert issue is not None  # it was in the frame, in this transaction
                    event = decide(issue, MarkSampled(mark=mark.payload()), actor=actor,
                                   now=now, rules=self.rules)
                    unit.update_issue(evolve(issue, event), expected_version=issue.version)
                    unit.append_event(self.node, event, own=True)
                    unit.add_task(sample_id=sample_id, issue_id=issue_id, due=due, at=now)
        except ConstraintViolation:
            with self.store.read() as unit:
                earlier = unit.draws_of(self.node, period)
            if not earlier:
                raise
            raise RuleViolation("sample_already_drawn", period=period,
                                sample_id=earlier[0].id) from None
        return StoredSample(id=sample_id, period=period, actor=actor.label(), created_at=now,
                            sample=sample, draw=number, reason=reason, redraw_of=redraw_of)

    def get(self, principal: Principal, sample_id: int) -> StoredSample:
        require(principal, VIEW_METRICS)
        with self.store.read() as unit:
            found = unit.draw(sample_id)
        if found is None:
            raise NotFound("sample_not_found", sample_id=sample_id)
        return found

    def draws(self, principal: Principal, period: str) -> list[tuple[StoredSample, Progress]]:
        """Every draw of the period here, the first one first (re-draws next to it), each
        with its tasks' completion (counts only: no issue is named)."""
        require(principal, VIEW_METRICS)
        period_bounds(period)
        now = self.clock.now()
        with self.store.read() as unit:
            draws = unit.draws_of(self.node, period)
            tasks = unit.tasks(node=self.node, period=period) if draws else []
        return [(d, progress([t for t in tasks if t.sample_id == d.id], now)) for d in draws]

    # ----------------------------------------------------------------- tasks

    def tasks(self, principal: Principal, *, sample_id: int | None = None,
              period: str | None = None) -> list[RevisitTask]:
        require(principal, VIEW_POOL)
        if period is not None:
            period_bounds(period)
        with self.store.read() as unit:
            if sample_id is not None and unit.draw(sample_id) is None:
                raise NotFound("sample_not_found", sample_id=sample_id)
            return unit.tasks(node=self.node, sample_id=sample_id, period=period)

    def record(self, principal: Principal, task_id: int, *, result: RevisitResult,
               contact: ContactMethod, note: str | None = None) -> RevisitTask:
        """Record a revisit of an open task: an event on the issue and the task's outcome,
        in one transaction. 不满意 reopens the issue; 未联系上 leaves the task open."""
        require(principal, REVISIT_TASKS)
        now = self.clock.now()
        with self.store.write() as unit:
            task = self._open_task(unit, task_id)
            issue = unit.load_issue(task.issue_id, for_update=True)
            if issue is None:  # pragma: no cover - a task names an issue of this store
                raise NotFound("issue_not_found", issue=task.issue_id)
            command = Revisit(result=result, note=note, contact=contact, sample=task.sample_id)
            authorize(principal, action_of(command), issue, self.node)
            if unit.transfer_pending(issue.id):
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            event = decide(issue, command, actor=principal.actor, now=now, rules=self.rules)
            unit.update_issue(evolve(issue, event), expected_version=issue.version)
            unit.append_event(self.node, event, own=True)
            unit.record_attempt(task.id, state=DONE if result in FINAL_RESULTS else OPEN,
                                result=result.value, contact=ContactMethod(contact).value,
                                note=event.payload.get("note"), at=now,
                                by=principal.actor.label())
            done = unit.task(task.id)
        assert done is not None
        return done

    def _open_task(self, unit: RevisitUnit, task_id: int) -> RevisitTask:
        task = unit.task(task_id, for_update=True)
        if task is None:
            raise NotFound("revisit_task_not_found", task=task_id)
        if task.state != OPEN:
            raise RuleViolation("revisit_task_closed", task=task_id, state=task.state)
        return task

    def now(self) -> datetime:
        return self.clock.now()

    # ----------------------------------------------------------------- audit

    def audit(self, principal: Principal, *, node: str, period: str) -> list[DrawAudit]:
        """The draws of `node` (this node or one below) for `period`, rebuilt from the issue
        events held here and checked: frame, selection, reason; with completion."""
        require(principal, VIEW_METRICS)
        validate_division_code(node)
        start, _ = period_bounds(period)
        with self.store.read() as unit:
            histories = unit.histories(resolved_since=start)
        return audit(histories, node=node, period=period)
