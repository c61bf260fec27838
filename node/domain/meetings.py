"""The leaders' joint meeting (联席会议): when it sits, what is on its agenda, what it decides.

How it works: what the catch-all office cannot solve climbs the in-node ladder to the step
named by the node's configuration (default `joint_meeting`, the last step of the default
ladder). The meeting sits monthly, by default on the first working Monday of the month on
the node's calendar (`next_meeting`: a Monday that is a holiday moves to the next working
day). Its agenda (`on_agenda`) is every open issue this node owns that stands at that step
when the agenda is read. For each issue the meeting records the leader in charge, the
decision and a deadline (`Decision`), checked here before anything is stored.

Pure: no I/O, `today` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError
from node.domain.issue import OPEN_STATES, Issue
from node.domain.validation import MAX_NAME, MAX_REASON, check_text

DEFAULT_STEP = "joint_meeting"


def first_working_monday(year: int, month: int, calendar: WorkCalendar) -> date:
    """The first Monday of the month, or the first working day after it if it is a
    holiday (the meeting keeps its week)."""
    day = date(year, month, 1)
    day += timedelta(days=(7 - day.weekday()) % 7)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def next_meeting(today: date, calendar: WorkCalendar) -> date:
    """The first working Monday of the month after `today`'s."""
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return first_working_monday(year, month, calendar)


def on_agenda(issue: Issue, *, node: str, step: int) -> bool:
    """Whether `issue` is for the meeting: owned here, open, at the joint-meeting step."""
    return issue.owner == node and issue.state in OPEN_STATES and issue.ladder_step == step


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What the meeting decided for one issue."""

    meeting: date
    issue_id: str
    leader: str  # the leader in charge (牵头领导)
    decision: str
    deadline: date

    @staticmethod
    def checked(*, meeting: date, issue_id: str, leader: str, decision: str,
                deadline: date) -> Decision:
        lead = check_text("leader", leader, max_len=MAX_NAME)
        text = check_text("decision", decision, max_len=MAX_REASON)
        assert lead is not None and text is not None  # required=True never returns None
        if deadline < meeting:
            raise ValidationError("deadline_before_meeting", field="deadline",
                                  meeting=meeting.isoformat())
        return Decision(meeting=meeting, issue_id=issue_id, leader=lead, decision=text,
                        deadline=deadline)
