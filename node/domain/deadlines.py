"""Deadline policy (how many working days each stage gets) and traffic lights.

An issue passes through three timed stages: dispatch (交办), resolution (办理) and
review (审核/回访). The policy gives each a number of working days; issues carrying
certain tags, or taken in through certain channels (a 政企恳谈会 issue: dispatched
within 2 days, answered within 10), may have their own limits. When several
overrides (the issue's tags and its channel) cover the same stage, the strictest
(smallest) wins, so that tagging an issue can never silently loosen a limit another
tag or its channel imposed; a stage nothing overrides keeps the default.

The traffic light compares *working* time, not wall-clock time: an issue received
before a week-long holiday does not turn yellow during the holiday. It is GREEN
until two thirds of the working time between start and due has been used, then
YELLOW, and RED once the due moment has passed. The comparison is exact (integer
microseconds and a Fraction), so the boundary behaves the same on every machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from node.domain.calendar import WorkCalendar
from node.domain.errors import ValidationError

__all__ = [
    "MAX_WORKING_DAYS",
    "MIN_WORKING_DAYS",
    "YELLOW_FRACTION",
    "DeadlinePolicy",
    "Light",
    "ResolvedDeadlines",
    "TagDeadlines",
    "light",
]

MIN_WORKING_DAYS = 1
MAX_WORKING_DAYS = 365

YELLOW_FRACTION = Fraction(2, 3)
"""Share of the allowed working time after which an issue turns yellow."""

def _check_days(field_name: str, value: object) -> None:
    # the stage (e.g. "resolve_working_days") names the limit in a message: a catalogue term
    stage = field_name.rsplit(".", 1)[-1]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("working_days_not_integer", field=field_name, value=repr(value),
                              stage=stage)
    if not MIN_WORKING_DAYS <= value <= MAX_WORKING_DAYS:
        raise ValidationError("working_days_out_of_range", field=field_name, value=value,
                              min=MIN_WORKING_DAYS, max=MAX_WORKING_DAYS, stage=stage)


@dataclass(frozen=True, kw_only=True, slots=True)
class TagDeadlines:
    """Per-tag overrides; None means "no opinion, use the default"."""

    dispatch_working_days: int | None = None
    resolve_working_days: int | None = None
    review_working_days: int | None = None

    def __post_init__(self) -> None:
        self._validate("")

    def _validate(self, prefix: str) -> None:
        for name in ("dispatch_working_days", "resolve_working_days", "review_working_days"):
            value = getattr(self, name)
            if value is not None:
                _check_days(prefix + name, value)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedDeadlines:
    """Working days allowed for each stage of one particular issue."""

    dispatch: int
    resolve: int
    review: int


def _empty_tags() -> Mapping[str, TagDeadlines]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlinePolicy:
    dispatch_working_days: int = 2
    resolve_working_days: int = 15
    review_working_days: int = 2
    per_tag: Mapping[str, TagDeadlines] = field(default_factory=_empty_tags)
    #: per intake channel id (node/domain/issue.py Channel), the same overrides
    per_channel: Mapping[str, TagDeadlines] = field(default_factory=_empty_tags)

    def __post_init__(self) -> None:
        for name in ("dispatch_working_days", "resolve_working_days", "review_working_days"):
            _check_days(name, getattr(self, name))
        frozen: dict[str, TagDeadlines] = {}
        for tag, overrides in self.per_tag.items():
            if not isinstance(tag, str) or not tag.strip():
                raise ValidationError("deadline_tag_empty", field="per_tag", tag=repr(tag))
            if not isinstance(overrides, TagDeadlines):
                raise ValidationError("deadline_tag_invalid", field=f"per_tag.{tag}", tag=tag)
            overrides._validate(f"per_tag.{tag}.")
            frozen[tag] = overrides
        # Copy, so a caller mutating its dict cannot change a frozen policy.
        object.__setattr__(self, "per_tag", MappingProxyType(frozen))
        channels: dict[str, TagDeadlines] = {}
        for channel, overrides in self.per_channel.items():
            if not isinstance(channel, str) or not channel.strip():
                raise ValidationError("deadline_tag_empty", field="per_channel",
                                      tag=repr(channel))
            if not isinstance(overrides, TagDeadlines):
                raise ValidationError("deadline_tag_invalid", field=f"per_channel.{channel}",
                                      tag=channel)
            overrides._validate(f"per_channel.{channel}.")
            channels[channel] = overrides
        object.__setattr__(self, "per_channel", MappingProxyType(channels))

    def for_tags(self, tags: Iterable[str], channel: str | None = None) -> ResolvedDeadlines:
        """The limits for an issue with these tags, taken in through `channel` (strictest
        override per stage)."""
        dispatch: list[int] = []
        resolve: list[int] = []
        review: list[int] = []
        overrides = [self.per_tag.get(tag) for tag in dict.fromkeys(tags)]
        if channel is not None:
            overrides.append(self.per_channel.get(str(channel)))
        for o in overrides:
            if o is None:
                continue
            if o.dispatch_working_days is not None:
                dispatch.append(o.dispatch_working_days)
            if o.resolve_working_days is not None:
                resolve.append(o.resolve_working_days)
            if o.review_working_days is not None:
                review.append(o.review_working_days)
        return ResolvedDeadlines(
            dispatch=min(dispatch, default=self.dispatch_working_days),
            resolve=min(resolve, default=self.resolve_working_days),
            review=min(review, default=self.review_working_days),
        )


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def _micros(td: timedelta) -> int:
    return td // timedelta(microseconds=1)


def light(*, start: datetime, due: datetime, now: datetime, calendar: WorkCalendar) -> Light:
    """Traffic light of a stage that started at `start` and is due at `due`.

    RED strictly after `due`; YELLOW once the working time used since `start`
    reaches YELLOW_FRACTION of the working time between `start` and `due` (or if
    that allowed time is zero); GREEN otherwise. All datetimes must be aware.
    """
    for name, value in (("start", start), ("due", due), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    if now > due:
        return Light.RED
    allowed, _ = calendar.working_time_between(start, due)
    if allowed <= timedelta(0):
        return Light.YELLOW
    used, _ = calendar.working_time_between(start, now)
    if Fraction(_micros(used), _micros(allowed)) >= YELLOW_FRACTION:
        return Light.YELLOW
    return Light.GREEN
