"""The pure side of revisit acceptance (node/domain/revisits.py): periods, the frame rule,
the draw's mark, and the audit a parent runs on the events it holds — an honest draw
verifies; a frame with an issue left out, a changed selection, a re-draw without a reason
are each flagged; events written after the draw do not change the rebuilt frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.domain.calendar import CST, WorkCalendar
from node.domain.errors import ValidationError
from node.domain.issue import Actor, ActorKind, Event, RevisitResult
from node.domain.lifecycle import (
    Assign,
    Command,
    MarkSampled,
    Resolve,
    Revisit,
    Rules,
    Start,
    Triage,
    decide,
    evolve,
    submit,
)
from node.domain.revisits import (
    Logged,
    Mark,
    audit,
    frame_digest,
    period_bounds,
    task_due,
)
from node.domain.sampling import draw_revisit_sample
from tests.support.data import submit_cmd

RULES = Rules(calendar=WorkCalendar())
STAFF = Actor(kind=ActorKind.STAFF, id="leader")
NODE = "330522"
MARCH = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DRAW_AT = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


class Log:
    """A node's log in memory: issues folded from their events, each with its writer_seq."""

    def __init__(self) -> None:
        self.seq = 0
        self.histories: dict[str, list[Logged]] = {}
        self.issues = {}  # type: ignore[var-annotated]

    def add(self, event: Event) -> None:
        self.seq += 1
        self.histories.setdefault(event.issue_id, []).append(
            Logged(event=event, writer=NODE, writer_seq=self.seq))

    def resolved(self, n: int) -> list[str]:
        out = []
        for i in range(n):
            issue, event = submit(submit_cmd(title=f"诉求{i}"), issue_id=f"{NODE}-{i:04d}",
                                  number=f"{NODE}-2026-{i:06d}", node=NODE, actor=STAFF,
                                  now=MARCH, rules=RULES)
            self.add(event)
            for cmd in (Triage(tags=("用地",)), Assign(department="经信局"), Start(),
                        Resolve(reply="已办结")):
                issue = self.act(issue, cmd, MARCH)
            self.issues[issue.id] = issue
            out.append(issue.id)
        return out

    def act(self, issue, command: Command, at: datetime):  # type: ignore[no-untyped-def]
        event = decide(issue, command, actor=STAFF, now=at, rules=RULES)
        self.add(event)
        new = evolve(issue, event)
        self.issues[new.id] = new
        return new

    def draw(self, frame: list[str], *, sample: int, draw: int = 1, seed: str = "s",
             reason: str | None = None, selected: tuple[str, ...] | None = None) -> Mark:
        drawn = draw_revisit_sample(frame, share=0.4, seed=seed)
        mark = Mark(node=NODE, period="2026-03", sample=sample, draw=draw, seed=seed,
                    share=drawn.share, frame_size=len(drawn.frame),
                    frame_digest=frame_digest(drawn.frame), reason=reason)
        for issue_id in drawn.selected if selected is None else selected:
            self.act(self.issues[issue_id], MarkSampled(mark=mark.payload()), DRAW_AT)
        return mark


def test_periods_are_cst_months() -> None:
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=CST),
                                        datetime(2027, 1, 1, tzinfo=CST))
    for bad in ("2026-13", "2026-00", "2026-3", "March", "2026-03-01", "", "2026/03"):
        with pytest.raises(ValidationError) as info:
            period_bounds(bad)
        assert info.value.code == "period_invalid"


def test_a_task_is_due_five_working_days_after_the_draw_on_the_calendar() -> None:
    # Wed 1 April 2026: Thu 2, Fri 3, (清明 Sat 4 – Mon 6), Tue 7, Wed 8, Thu 9 → 24:00 CST
    assert task_due(RULES.calendar, DRAW_AT, 5) == datetime(2026, 4, 9, 16, 0, tzinfo=UTC)


def test_an_honest_draw_verifies_and_later_events_do_not_change_it() -> None:
    log = Log()
    keys = log.resolved(5)
    mark = log.draw(keys, sample=1)
    chosen = sorted(draw_revisit_sample(keys, share=0.4, seed="s").selected)
    # after the draw, at the very same instant: an unsatisfied revisit reopens an issue
    log.act(log.issues[chosen[0]], Revisit(result=RevisitResult.UNSATISFIED, sample=1),
            DRAW_AT)
    (found,) = audit(log.histories, node=NODE, period="2026-03")
    assert (found.mark, found.frame, found.marked) == (mark, tuple(keys), tuple(chosen))
    assert found.verified and found.problems() == []
    assert found.done == {chosen[0]: "unsatisfied"}
    assert audit(log.histories, node="330523", period="2026-03") == []
    assert audit(log.histories, node=NODE, period="2026-04") == []


def test_a_frame_with_an_issue_left_out_is_flagged() -> None:
    log = Log()
    keys = log.resolved(5)
    log.draw(keys[1:], sample=1)  # the county drew from four of its five issues
    (found,) = audit(log.histories, node=NODE, period="2026-03")
    assert "frame_differs" in found.problems() and not found.verified


def test_a_changed_selection_is_flagged() -> None:
    log = Log()
    keys = log.resolved(5)
    honest = draw_revisit_sample(keys, share=0.4, seed="s").selected
    others = tuple(k for k in keys if k not in honest)[:2]
    log.draw(keys, sample=1, selected=others)  # its best cases instead
    (found,) = audit(log.histories, node=NODE, period="2026-03")
    assert found.problems() == ["selection_differs"]
    assert (found.marked, found.expected) == (tuple(sorted(others)), honest)


def test_a_redraw_without_a_reason_is_flagged() -> None:
    log = Log()
    keys = log.resolved(5)
    log.draw(keys, sample=1)
    log.draw(keys, sample=2, draw=2, seed="t")
    log.draw(keys, sample=3, draw=3, seed="u", reason="抽样框有误")
    found = audit(log.histories, node=NODE, period="2026-03")
    assert [(a.mark.draw, a.problems()) for a in found] == [
        (1, []), (2, ["redraw_without_reason"]), (3, [])]


def test_a_reopening_after_the_draw_keeps_the_frame_of_its_instant() -> None:
    log = Log()
    keys = log.resolved(4)
    log.draw(keys, sample=1)
    # an issue reopened an hour after the draw still counts in the frame it was drawn from
    log.act(log.issues[keys[0]], Revisit(result=RevisitResult.UNSATISFIED),
            DRAW_AT + timedelta(hours=1))
    (found,) = audit(log.histories, node=NODE, period="2026-03")
    assert found.frame == tuple(keys) and found.verified


def test_a_malformed_mark_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        Mark.of({"node": NODE, "period": "2026-03"})
    assert info.value.code == "sample_malformed"
