"""What happens to each issue of a generated city store: its plan and its story.

`plan()` runs once, in the main process: it draws every issue's arrival (ten years ending at
`now`, the intake growing over the years, mostly on working days in office hours) and
its unit of origin, sorts them by arrival and numbers them — gapless per origin and year,
as the node's counters would (`<origin>-<year>-<6 digits>`) — so that chunks of the plan
can be told in any process and in any order and still give the same store.

`tell()` turns one planned issue into its story: the `Submit` command and then the
domain commands that follow (triage, assign, start, urges, supervision, escalation to the
city and back, resolve, rating, reopen, close, revisit, rejection and review …), each
with its actor, its instant and the unit that wrote it. The story follows the lifecycle
table (`node.domain.lifecycle.next_state` refuses an illegal step), the urge interval and
the ladder length, and it stops at `now`: an issue received last week is still being
handled, one received in 2018 is long closed — unless it is one of the few stuck ones,
whose deadline ran out years ago (red). A few planned issues get a 200-event history.

Everything is drawn from a `random.Random` seeded by (seed, chunk), so a story never
depends on what another process told before it.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.citystore import vocabulary as voc
from node.domain.calendar import CST, WorkCalendar
from node.domain.issue import (
    Actor,
    ActorKind,
    Channel,
    Rating,
    RevisitResult,
    State,
)
from node.domain.lifecycle import (
    DEFAULT_LADDER,
    Assign,
    Close,
    Command,
    Escalate,
    LadderUp,
    Rate,
    Receive,
    Reject,
    Resolve,
    Return,
    ReviewRejection,
    Revisit,
    Start,
    Submit,
    Supervise,
    Triage,
    Urge,
    action_of,
    next_state,
)
from node.domain.validation import CREDIT_CODE_CHARSET, make_credit_code

YEARS = 10
LONG_HISTORY = 200  # events of each long-history issue
STUCK_SHARE = 0.003  # issues whose handling stopped mid-way (red for a long time)
_US = 1_000_000
_HOUR = timedelta(hours=1)
SYSTEM = Actor(kind=ActorKind.SYSTEM, id="system")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Planned:
    """One issue of the plan (small and picklable: chunks travel to worker processes)."""

    index: int  # position in arrival order, 0-based
    received_us: int  # microseconds since the epoch, UTC
    origin: str
    number: str
    long: bool  # a LONG_HISTORY-event history


def plan(n: int, seed: int, now: datetime, calendar: WorkCalendar, *,
         long_histories: int, units: tuple[voc.Unit, ...]) -> list[Planned]:
    """Every issue's arrival, origin and number, in arrival order."""
    rng = random.Random(f"plan-{seed}")
    end = int(now.timestamp() * _US)
    span = YEARS * 365 * 86400 * _US
    origins = rng.choices([u.code for u in units], weights=voc.ORIGIN_WEIGHTS, k=n)
    arrivals = sorted(_arrival(rng, end, span, calendar) for _ in range(n))
    counters: Counter[tuple[str, int]] = Counter()
    # Long histories take ~1 year: spread them over the first 80 % of the decade.
    long_at = {int(n * (0.05 + 0.75 * (k + 0.5) / long_histories))
               for k in range(long_histories)} if long_histories and n else set()
    planned = []
    for i, (at, origin) in enumerate(zip(arrivals, origins, strict=True)):
        year = datetime.fromtimestamp(at / _US, CST).year
        counters[(origin, year)] += 1
        planned.append(Planned(index=i, received_us=at, origin=origin,
                               number=f"{origin}-{year}-{counters[(origin, year)]:06d}",
                               long=i in long_at))
    return planned


def _arrival(rng: random.Random, end: int, span: int, calendar: WorkCalendar) -> int:
    # Density growing over the decade (x ** 0.75: the later years hold more issues).
    at = end - span + int(span * rng.random() ** 0.75)
    local = datetime.fromtimestamp(at / _US, CST)
    day = local.date()
    if not calendar.is_workday(day) and rng.random() < 0.8:
        while not calendar.is_workday(day):
            day += timedelta(days=1)
    office = rng.random() < 0.85  # 08:30–17:30
    seconds = 8.5 * 3600 + rng.random() * 9 * 3600 if office else rng.random() * 86400
    moment = datetime(day.year, day.month, day.day, tzinfo=CST) + timedelta(seconds=seconds)
    return min(int(moment.timestamp() * _US), end - 1)


# --------------------------------------------------------------------------- the cast


@dataclass(frozen=True, kw_only=True, slots=True)
class Enterprise:
    name: str
    credit_code: str
    phone: str
    industry: str
    county: int  # index into the units (1..): where it is registered


@dataclass(frozen=True, kw_only=True, slots=True)
class Cast:
    """The enterprises and the units of one generated store (the same in every process)."""

    units: tuple[voc.Unit, ...]
    enterprises: tuple[Enterprise, ...]
    by_county: dict[int, tuple[int, ...]]  # unit index → enterprise indices

    @staticmethod
    def make(n: int, seed: int, units: tuple[voc.Unit, ...]) -> Cast:
        """About one enterprise per eight issues (some file many, most a few)."""
        rng = random.Random(f"cast-{seed}")
        count = max(50, min(n // 8, 120_000))
        found: list[Enterprise] = []
        seen: set[str] = set()
        while len(found) < count:
            county = rng.randrange(1, len(units))
            unit = units[county]
            org = "".join(rng.choice(CREDIT_CODE_CHARSET) for _ in range(9))
            code = make_credit_code(f"91{unit.code}{org}")
            if code in seen:
                continue
            seen.add(code)
            industry = voc.pick(rng, voc.INDUSTRIES)
            phone = (f"1{rng.choice('3578')}{rng.randrange(10**9):09d}" if rng.random() < 0.8
                     else f"0572-{rng.randrange(2, 9)}{rng.randrange(10**6):06d}")
            found.append(Enterprise(name=voc.enterprise_name(rng, unit, industry),
                                    credit_code=code, phone=phone, industry=industry,
                                    county=county))
        by_county: dict[int, list[int]] = {}
        for i, e in enumerate(found):
            by_county.setdefault(e.county, []).append(i)
        return Cast(units=units, enterprises=tuple(found),
                    by_county={k: tuple(v) for k, v in by_county.items()})


# --------------------------------------------------------------------------- stories


@dataclass(frozen=True, slots=True)
class Step:
    command: Command
    actor: Actor
    at: datetime
    writer: str  # the unit that wrote the event: the owner before it


@dataclass(slots=True)
class Story:
    issue_id: str
    number: str
    origin: str
    submit: Submit
    submit_actor: Actor
    received_at: datetime
    steps: list[Step] = field(default_factory=list)


class _Done(Exception):
    """The story reached `now` (or the point where a stuck issue stopped)."""


_TOPIC_CUM = list(itertools.accumulate(voc.topic_weights()))
_CHANNELS = [Channel(c) for c, _ in voc.CHANNEL_WEIGHTS]
_CHANNEL_CUM = list(itertools.accumulate(w for _, w in voc.CHANNEL_WEIGHTS))


class _Teller:
    """Builds one story step by step, tracking what the rules depend on."""

    def __init__(self, rng: random.Random, story: Story, now: datetime, cast: Cast,
                 topic: voc.Topic, enterprise: Actor, max_steps: int) -> None:
        self.rng = rng
        self.story = story
        self.now = now
        self.cast = cast
        self.topic = topic
        self.enterprise = enterprise
        self.t = story.received_at
        self.state = State.RECEIVED
        self.owner = story.origin
        self.ladder = 0
        self.last_urge: datetime | None = None
        self.max_steps = max_steps

    # -- primitives

    def unit(self, code: str) -> voc.Unit:
        return next(u for u in self.cast.units if u.code == code)

    def staff(self, role: str, k: int = 3) -> Actor:
        k = int(self.rng.random() * k)
        return Actor(kind=ActorKind.STAFF, id=f"{self.owner}-{role}-{k:02d}")

    def do(self, command: Command, actor: Actor, hours: float) -> None:
        at = self.t + _HOUR * max(hours, 0.02)
        if at >= self.now or len(self.story.steps) >= self.max_steps:
            raise _Done
        self.state = next_state(self.state, action_of(command))  # the lifecycle decides
        self.story.steps.append(Step(command, actor, at, self.owner))
        self.t = at
        match command:
            case Escalate(to=to) | Return(to=to):
                self.owner = to
            case LadderUp():
                self.ladder += 1
            case Receive():
                self.ladder = 0
            case Urge() if actor.kind is ActorKind.ENTERPRISE:
                self.last_urge = at
            case _:
                pass

    def hours(self, median: float, sigma: float = 0.9) -> float:
        return self.rng.lognormvariate(0, sigma) * median

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def note(self) -> str | None:
        return voc.pick(self.rng, voc.NOTES) if self.chance(0.3) else None

    # -- episodes

    def triage(self) -> None:
        self.do(Triage(tags=voc.triage_tags(self.rng, self.topic),
                       board=self.topic.board if self.chance(0.8) else None, note=self.note()),
                self.staff("dispatcher"), self.hours(3))

    def assign(self) -> None:
        keys = self.topic.departments
        key = keys[0] if self.chance(0.7) else voc.pick(self.rng, keys)
        self.do(Assign(department=voc.department_name(key, self.unit(self.owner)),
                       note=self.note()), self.staff("dispatcher"), self.hours(5))

    def urges(self, p: float) -> None:
        while self.chance(p):
            p /= 2
            last = self.last_urge
            wait = self.hours(40, 0.5)
            if last is not None and self.t + _HOUR * wait < last + timedelta(hours=25):
                wait = (last + timedelta(hours=25) - self.t) / _HOUR
            self.do(Urge(note=voc.pick(self.rng, voc.URGE_NOTES)), self.enterprise, wait)

    def handle(self) -> None:
        """From assigned to resolved, with what may happen on the way."""
        if self.chance(0.03) and self.ladder + 1 < len(DEFAULT_LADDER):
            self.do(LadderUp(note=self.note()), self.staff("leader", 2), self.hours(20))
        self.do(Start(note=self.note()), self.staff("handler", 20), self.hours(8))
        self.urges(0.12)
        if self.chance(0.025):
            parent = voc.PROVINCE if self.owner == voc.CITY else voc.CITY
            self.do(Supervise(issued_by=parent, note=voc.pick(self.rng, voc.SUPERVISE_NOTES)),
                    Actor(kind=ActorKind.NODE, id=parent), self.hours(48))
        self.do(Resolve(reply=voc.reply(self.rng, self.topic)), self.staff("handler", 20),
                self.hours(120, 0.8))

    def rejection(self) -> bool:
        """Rejected and reviewed; True when the rejection stood (the issue is closed)."""
        self.do(Reject(reason=voc.pick(self.rng, voc.REJECT_REASONS)),
                self.staff("dispatcher"), self.hours(6))
        confirm = self.chance(0.75)
        self.do(ReviewRejection(confirm=confirm, comment=self.note()), self.staff("leader", 2),
                self.hours(16))
        return confirm

    def escalation(self) -> bool:
        """County → city, received there; sometimes returned. True when it went on."""
        if self.owner == voc.CITY:
            if self.chance(0.004):  # the city hands it to the province: it leaves the store
                self.do(Escalate(to=voc.PROVINCE, reason=voc.pick(self.rng,
                                                                  voc.ESCALATE_REASONS)),
                        self.staff("leader", 2), self.hours(24))
                raise _Done
            return False
        if not self.chance(0.04):
            return False
        came_from = self.owner
        self.do(Escalate(to=voc.CITY, reason=voc.pick(self.rng, voc.ESCALATE_REASONS)),
                self.staff("leader", 2), self.hours(30))
        self.do(Receive(came_from=came_from), Actor(kind=ActorKind.NODE, id=voc.CITY),
                self.hours(0.05, 0.5))
        self.triage()
        if self.chance(0.15):
            self.do(Return(to=came_from, instructions=voc.pick(self.rng,
                                                               voc.RETURN_INSTRUCTIONS)),
                    self.staff("leader", 2), self.hours(20))
        return True

    def rating(self) -> None:
        """Rated (reopened and handled again once at most), or closed without a rating."""
        for round_ in range(2):
            if not self.chance(0.83):
                self.do(Close(note=voc.pick(self.rng, voc.CLOSE_NOTES)), SYSTEM,
                        self.hours(110, 0.3))
                return
            roll = self.rng.random()
            rating = (Rating.SATISFIED if roll < 0.80 else Rating.BASICALLY_SATISFIED
                      if roll < 0.93 or round_ else Rating.UNSATISFIED)
            self.do(Rate(rating=rating, comment=voc.pick(self.rng, voc.RATING_COMMENTS)),
                    self.enterprise, self.hours(20))
            if rating is not Rating.UNSATISFIED:
                return
            self.triage()
            self.assign()
            self.handle()

    def revisit(self) -> None:
        if self.chance(0.2):
            roll = self.rng.random()
            result = (RevisitResult.SATISFIED if roll < 0.85 else RevisitResult.UNREACHABLE
                      if roll < 0.95 else RevisitResult.UNSATISFIED)
            self.do(Revisit(result=result, note=self.note()), self.staff("dispatcher"),
                    self.hours(24 * 14, 0.6))

    def ordinary(self) -> None:
        if self.chance(0.03):
            if self.rejection():
                return
        else:
            self.triage()
            if self.chance(0.01) and self.rejection():
                return
        if self.escalation():
            if self.state is State.RETURNED:
                self.triage()
            else:
                self.assign()
                self.handle()
                self.rating()
                self.revisit()
                return
        self.assign()
        self.handle()
        self.rating()
        self.revisit()

    def long(self) -> None:
        """LONG_HISTORY events: a hard case urged and supervised for months, then solved."""
        self.triage()
        self.assign()
        self.do(Start(note=None), self.staff("handler", 20), self.hours(8))
        parent = voc.PROVINCE if self.owner == voc.CITY else voc.CITY
        while len(self.story.steps) < LONG_HISTORY - 3:
            roll = self.rng.random()
            if roll < 0.5:
                self.do(Urge(note=voc.pick(self.rng, voc.URGE_NOTES)), self.enterprise,
                        26 + self.rng.random() * 20)
            elif roll < 0.8:
                self.do(Urge(note=voc.pick(self.rng, voc.NOTES)), self.staff("leader", 2),
                        self.hours(6))
            else:
                self.do(Supervise(issued_by=parent,
                                  note=voc.pick(self.rng, voc.SUPERVISE_NOTES)),
                        Actor(kind=ActorKind.NODE, id=parent), self.hours(24))
        self.do(Resolve(reply=voc.reply(self.rng, self.topic)), self.staff("handler", 20),
                self.hours(24))
        self.do(Rate(rating=Rating.BASICALLY_SATISFIED, comment=None), self.enterprise,
                self.hours(20))


def issue_id(rng: random.Random, origin: str, received_us: int) -> str:
    """`<origin>-<UUIDv7 hex>` with the arrival's millisecond, as node.app.clock mints."""
    ms = received_us // 1000
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return f"{origin}-{value:032x}"


def tell(rng: random.Random, p: Planned, cast: Cast, now: datetime) -> Story:
    """The story of planned issue `p`, up to `now`."""
    units = cast.units
    origin_index = next(i for i, u in enumerate(units) if u.code == p.origin)
    county = origin_index or 1 + int(rng.random() * (len(units) - 1))
    pool = cast.by_county.get(county) or tuple(range(len(cast.enterprises)))
    ent = cast.enterprises[pool[int(len(pool) * rng.random() ** 2)]]  # a few file often
    topic = voc.TOPICS[bisect.bisect(_TOPIC_CUM, rng.random() * _TOPIC_CUM[-1])]
    channel = _CHANNELS[bisect.bisect(_CHANNEL_CUM, rng.random() * _CHANNEL_CUM[-1])]
    texts = voc.issue_texts(rng, topic, units[origin_index], ent.industry)
    enterprise = Actor(kind=ActorKind.ENTERPRISE, id=ent.credit_code)
    submit_actor = enterprise if channel is Channel.ONLINE else Actor(
        kind=ActorKind.STAFF, id=f"{p.origin}-dispatcher-{int(rng.random() * 3):02d}")
    story = Story(
        issue_id=issue_id(rng, p.origin, p.received_us), number=p.number, origin=p.origin,
        submit=Submit(enterprise_name=ent.name, credit_code=ent.credit_code,
                      contact_phone=ent.phone, channel=channel, title=texts.title,
                      content=texts.content, tags=texts.tags),
        submit_actor=submit_actor,
        received_at=datetime.fromtimestamp(p.received_us / _US, UTC),
    )
    stuck = rng.random() < STUCK_SHARE
    max_steps = rng.randrange(1, 6) if stuck else LONG_HISTORY
    teller = _Teller(rng, story, now, cast, topic, enterprise, max_steps)
    try:
        if p.long:
            teller.long()
        else:
            teller.ordinary()
    except _Done:
        pass
    return story
