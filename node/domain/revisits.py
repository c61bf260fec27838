"""Revisit acceptance (回访验收): one sample per node and period, its mark on each sampled
issue, and the audit a higher tier runs on what it holds.

How it works:

* A node draws one sample per period (`period_bounds`: a CST month "YYYY-MM"); a leader may
  re-draw with a recorded reason, the earlier draws are kept (numbered 1, 2, … per period).
* Every sampled issue gets one `revisit_sampled` event (the lifecycle's `MarkSampled`,
  legal where its table allows it, with `Mark.payload`) naming the sample: node, period,
  sample id, draw number, seed, exact share, the frame's size and SHA-256 digest, and the
  re-draw's reason. Events are what replicates up (county → city in full), so the parent
  learns of every draw without a table of its own and without trusting the child's copy
  of the frame.
* `audit` is what the parent runs: it rebuilds the frame from the issue histories it holds —
  each issue folded up to the draw's instant: owned by the node, resolved in the period,
  still resolved or closed as resolved (exactly the rule the node drew with, `in_frame`) —
  checks the digest and the size, re-draws from the seed and share, and compares the result
  with the set of issues that carry the draw's mark. A county that picks its best cases,
  leaves an issue out of the frame or drops a mark is flagged; a replication lag shows the
  same way until the events arrive, which is why the verdict names what differs.
* Completion is read from the same histories: a revisit event with the draw's sample id and
  a final result (满意 / 基本满意 / 不满意; 未联系上 leaves the task open).

Why events and not a replicated table: issue events are the one thing every tier already
replicates idempotently, in order, with gap repair; a new table would need a stream of its
own. Why a digest and not the frame in every mark: a month's frame is hundreds of ids, and
the parent must not take the child's frame on trust anyway — it recomputes it.

Pure: no I/O, `now` passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from node.domain.calendar import CST, WorkCalendar
from node.domain.errors import ValidationError
from node.domain.issue import Action, Event, Issue, RevisitResult, State
from node.domain.lifecycle import create, evolve
from node.domain.sampling import METHOD, draw_revisit_sample

DEFAULT_TASK_DAYS = 5
SAMPLED = Action.REVISIT_SAMPLED.value
#: results that complete a revisit task; `unreachable` is an attempt, the task stays open
FINAL_RESULTS: frozenset[RevisitResult] = frozenset(
    {RevisitResult.SATISFIED, RevisitResult.BASICALLY_SATISFIED, RevisitResult.UNSATISFIED}
)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """A month "YYYY-MM" as [start, end) in China Standard Time."""
    try:
        if not isinstance(period, str) or len(period) != 7 or period[4] != "-":
            raise ValueError(period)
        year, month = int(period[:4]), int(period[5:])
        start = datetime(year, month, 1, tzinfo=CST)
    except ValueError:
        raise ValidationError("period_invalid", field="period") from None
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CST)
    return start, end


def in_frame(issue: Issue, *, node: str, start: datetime, end: datetime) -> bool:
    """Whether `issue` belongs to `node`'s frame of [start, end): owned there, resolved in
    the period and still resolved (or closed as resolved) — a reopened issue is being
    handled again and cannot be revisited."""
    return (
        issue.owner == node
        and issue.resolved_at is not None
        and start <= issue.resolved_at < end
        and (issue.state is State.RESOLVED
             or (issue.state is State.CLOSED and issue.outcome == "resolved"))
    )


def frame_digest(frame: Iterable[str]) -> str:
    """SHA-256 of the sorted, de-duplicated ids as a compact JSON list."""
    canonical = json.dumps(sorted(set(frame)), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def task_due(calendar: WorkCalendar, drawn_at: datetime, days: int) -> datetime:
    """A revisit task's deadline: `days` working days after the draw (the day itself not
    counted), at 24:00 CST of the last one."""
    return calendar.add_working_days(drawn_at, days).due


@dataclass(frozen=True, kw_only=True, slots=True)
class Mark:
    """What a `revisit_sampled` event says about its draw."""

    node: str
    period: str
    sample: int
    draw: int
    seed: str
    share: Fraction
    frame_size: int
    frame_digest: str
    method: str = METHOD
    reason: str | None = None
    redraw_of: int | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "node": self.node, "period": self.period, "sample": self.sample,
            "draw": self.draw, "seed": self.seed, "share": str(self.share),
            "method": self.method, "frame_size": self.frame_size,
            "frame_digest": self.frame_digest,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.redraw_of is not None:
            out["redraw_of"] = self.redraw_of
        return out

    @staticmethod
    def of(payload: Mapping[str, Any]) -> Mark:
        try:
            return Mark(
                node=str(payload["node"]), period=str(payload["period"]),
                sample=int(payload["sample"]), draw=int(payload["draw"]),
                seed=str(payload["seed"]), share=Fraction(str(payload["share"])),
                frame_size=int(payload["frame_size"]),
                frame_digest=str(payload["frame_digest"]),
                method=str(payload.get("method", METHOD)),
                reason=payload.get("reason"), redraw_of=payload.get("redraw_of"),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ValidationError("sample_malformed", field="sample", reason=str(exc)) from exc


# --------------------------------------------------------------------------- the audit


@dataclass(frozen=True, kw_only=True, slots=True)
class Logged:
    """An event as a node's log holds it: who wrote it and its place in the writer's
    stream (None where the log does not know it)."""

    event: Event
    writer: str
    writer_seq: int | None = None


def state_at(history: Sequence[Logged], *, node: str, cut: int | None,
             moment: datetime) -> Issue | None:
    """The issue as it stood when `node` drew: its events in version order up to the
    first one `node` wrote at or after its stream position `cut` (the draw's first mark;
    writers' positions are handed out in commit order, so this is exact) — or, for an
    event of another writer or without a known position, up to the draw's `moment`."""
    issue: Issue | None = None
    for logged in history:
        event = logged.event
        if logged.writer == node and logged.writer_seq is not None and cut is not None:
            if logged.writer_seq >= cut:
                break
        elif event.at > moment:
            break
        issue = create(event) if issue is None else evolve(issue, event)
    return issue


@dataclass(frozen=True, kw_only=True, slots=True)
class DrawAudit:
    """One draw as the auditing node sees it, and whether it holds."""

    mark: Mark
    drawn_at: datetime
    drawn_by: str
    marked: tuple[str, ...]  # the issues that carry the mark (sorted)
    frame: tuple[str, ...]  # the frame rebuilt here
    expected: tuple[str, ...]  # the selection re-drawn here from seed, share and frame
    done: Mapping[str, str]  # issue id → final revisit result recorded for this sample

    @property
    def frame_ok(self) -> bool:
        return (len(self.frame) == self.mark.frame_size
                and frame_digest(self.frame) == self.mark.frame_digest)

    @property
    def selection_ok(self) -> bool:
        return self.expected == self.marked

    @property
    def reason_ok(self) -> bool:
        """A re-draw names its reason; a first draw needs none."""
        return self.mark.draw == 1 or bool(self.mark.reason)

    @property
    def verified(self) -> bool:
        return (self.mark.method == METHOD and self.frame_ok and self.selection_ok
                and self.reason_ok)

    def problems(self) -> list[str]:
        out = []
        if self.mark.method != METHOD:
            out.append("method_unknown")
        if not self.frame_ok:
            out.append("frame_differs")
        if not self.selection_ok:
            out.append("selection_differs")
        if not self.reason_ok:
            out.append("redraw_without_reason")
        return out


def audit(histories: Mapping[str, Sequence[Logged]], *, node: str,
          period: str) -> list[DrawAudit]:
    """Every draw of `node` for `period` found in `histories` (issue id → its events in
    version order), in draw order, each checked against the frame rebuilt from them."""
    start, end = period_bounds(period)
    marks: dict[int, tuple[Mark, Event]] = {}
    cuts: dict[int, int | None] = {}
    marked: dict[int, set[str]] = {}
    done: dict[int, dict[str, str]] = {}
    for issue_id, history in histories.items():
        for logged in history:
            event = logged.event
            if event.kind == SAMPLED:
                if event.payload.get("node") != node or event.payload.get("period") != period:
                    continue
                mark = Mark.of(event.payload)
                marks.setdefault(mark.sample, (mark, event))
                marked.setdefault(mark.sample, set()).add(issue_id)
                seq = logged.writer_seq if logged.writer == node else None
                known = cuts.get(mark.sample, seq)
                cuts[mark.sample] = (None if seq is None or known is None
                                     else min(seq, known))
            elif event.kind in (Action.REVISIT.value, Action.REVISIT_REOPEN.value):
                sample = event.payload.get("sample")
                result = event.payload.get("result")
                if (isinstance(sample, int) and result in {r.value for r in FINAL_RESULTS}
                        and issue_id in marked.get(sample, ())):
                    done.setdefault(sample, {})[issue_id] = str(result)
    out = []
    for sample_id, (mark, event) in sorted(marks.items(), key=lambda kv: kv[1][0].draw):
        frame = tuple(sorted(
            issue_id for issue_id, history in histories.items()
            if (state := state_at(history, node=node, cut=cuts.get(sample_id),
                                  moment=event.at)) is not None
            and in_frame(state, node=node, start=start, end=end)
        ))
        expected = draw_revisit_sample(frame, share=mark.share, seed=mark.seed).selected \
            if mark.method == METHOD else ()
        out.append(DrawAudit(
            mark=mark, drawn_at=event.at, drawn_by=event.actor.label(),
            marked=tuple(sorted(marked[sample_id])), frame=frame, expected=expected,
            done=dict(done.get(sample_id, {})),
        ))
    return out
