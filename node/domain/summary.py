"""Roll-up summaries of a node's subtree: what flows city → province.

A summary holds only counts, sums and a short overdue list of numbers and titles — no
enterprise names, codes, phones or free text — so it can travel to the province (data
minimisation, DESIGN §4). Rates are kept as numerator/denominator pairs, so a parent
folds its children's summaries by plain addition and gets exact rates for the whole
subtree; the ratio is computed only when displayed. Pure: `now` is passed in.

A child's published summary is foreign input: `decode` refuses anything but the shape
`encode` writes — bounded nesting and numbers (node/domain/jsonsafe.py), counts that are
integers in 0..`MAX_COUNT`, a finite `handling_hours` within ±`MAX_HANDLING_HOURS`, an
aware `as_of` — with a ValidationError and nothing else.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from node.domain.calendar import WorkCalendar
from node.domain.chain import is_link
from node.domain.errors import ValidationError
from node.domain.issue import Issue, State
from node.domain.jsonsafe import loads
from node.domain.lifecycle import current_light
from node.domain.metrics import RECURRENCE_WINDOW

OVERDUE_LIST_MAX = 30
TAGS_KEPT = 30  # kept per node so that folding still finds the subtree's top 10
#: "repeat" (重办率): reopened after an unsatisfied rating; "recurrence" (重发复发率): a closed
#: issue followed within the window by a new issue of the same enterprise and tag
#: (node/domain/metrics.py). A summary without the recurrence sums (an older node's) reads
#: as a sample of 0.
RATES = ("resolution", "on_time", "satisfaction", "repeat", "recurrence")
#: The largest count a decoded summary may carry (totals, states, rate sums, tags): far
#: beyond any real subtree, and small enough that sums and ratios stay exact floats.
MAX_COUNT = 10**12
#: The largest |handling_hours| (a sum over resolved issues) a decoded summary may carry.
MAX_HANDLING_HOURS = 1e15


@dataclass(frozen=True, kw_only=True, slots=True)
class IssueLine:
    """What a summary may know of one issue."""

    number: str
    title: str
    origin: str
    state: str
    light: str | None  # green | yellow | red, None when no deadline runs
    tags: tuple[str, ...]
    received_at: datetime
    resolved_at: datetime | None
    resolve_due: datetime | None
    due: datetime | None
    rating: str | None
    reopen_count: int
    rejected: bool
    #: what the recurrence rate reads (never in a summary: `summarize` counts with them)
    credit_code: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    node: str
    as_of: datetime
    total: int = 0
    states: Mapping[str, int] = field(default_factory=dict)
    lights: Mapping[str, int] = field(default_factory=dict)
    sums: Mapping[str, int] = field(default_factory=dict)  # rate numerators/denominators
    handling_hours: float = 0.0  # sum over resolved issues
    tags: Mapping[str, int] = field(default_factory=dict)
    overdue: tuple[Mapping[str, str], ...] = ()
    children: Mapping[str, Summary] = field(default_factory=dict)
    #: The head of each writer's hash chain this summary vouches for (node/domain/chain.py):
    #: writer → (writer_seq, link) of its latest linked event. No data of any issue, yet a
    #: parent that sees a head go back, or change at the same place, knows that writer's
    #: history was rewritten. The head of a writer's audit log (node/domain/audit.py) is
    #: here too, as "audit:<writer>" → (seq, link) of its latest audit record.
    chains: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: The name of each tag id in `tags` the node could name (node/domain/tags.py): `tags`
    #: counts by library id, so a parent folds the same province tag of two counties
    #: into one line, and names a child's local tags from what the child sent here.
    tag_names: Mapping[str, str] = field(default_factory=dict)
    #: The node's own organisation units (node/domain/units.py: id, kind, names, parent,
    #: active), so that its parent names them: ids carry the node's code, so the same-named
    #: departments of two counties stay apart at their city.
    units: tuple[Mapping[str, Any], ...] = ()
    #: The 有感指数's sums of this summary's unit for its recent periods (period key →
    #: numerators/denominators and evaluation scores, node/domain/index.py; no personal
    #: data), so that the tiers above rank counties and cities on the same figures.
    index: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Published cases (案例库) of the subtree this node holds, in their data-minimised
    #: form (node/domain/cases.py `published_form`), the newest of each unit of origin,
    #: bounded in number and bytes (`bounded`): the case library flows up with the summary.
    cases: tuple[Mapping[str, Any], ...] = ()
    #: keyed MinHash signatures of the subtree's open issues ({"number", "node", "sig"}:
    #: node/domain/duplicates.py `compact`), newest first, at most SIGNATURES_MAX: a city
    #: sends them so the province finds duplicates across cities without any text
    signatures: tuple[Mapping[str, str], ...] = ()

    def rate(self, name: str) -> float | None:
        den = self.sums.get(f"{name}_den", 0)
        return round(self.sums.get(f"{name}_num", 0) / den, 4) if den else None

    def top_tags(self, n: int = 10) -> list[tuple[str, int]]:
        return sorted(self.tags.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def to_dict(self, *, depth: int = 2, with_cases: bool = False) -> dict[str, Any]:
        """The summary as JSON; `with_cases`: with its published cases (what travels to the
        parent: the API leaves them to GET /cases, so the phone summary stays small)."""
        out: dict[str, Any] = {
            "node": self.node, "as_of": self.as_of.isoformat(), "total": self.total,
            "states": dict(self.states), "lights": dict(self.lights), "sums": dict(self.sums),
            "handling_hours": round(self.handling_hours, 2), "tags": dict(self.tags),
            "overdue": [dict(o) for o in self.overdue],
            "rates": {r: self.rate(r) for r in RATES},
            "avg_handling_hours": round(self.handling_hours / self.sums["handled"], 2)
            if self.sums.get("handled") else None,
            "top_tags": [tag_line(self, t, c) for t, c in self.top_tags()],
            "tag_names": {t: n for t, n in sorted(self.tag_names.items()) if t in self.tags},
            "chains": {w: {"seq": s, "link": h} for w, (s, h) in sorted(self.chains.items())},
        }
        if self.units:
            out["units"] = [dict(u) for u in self.units]
        if self.index:
            out["index"] = {k: dict(v) for k, v in sorted(self.index.items())}
        if with_cases and self.cases:
            out["cases"] = [dict(c) for c in self.cases]
        if with_cases and self.signatures:
            out["signatures"] = [dict(x) for x in self.signatures]
        if depth > 0:  # a child's cases are among this node's own (node/app/cases.py)
            out["children"] = {k: v.to_dict(depth=depth - 1) for k, v in self.children.items()}
        return out


def tag_line(summary: Summary, tag: str, count: int) -> dict[str, Any]:
    """One line of a top-tags list: "tag" is what people read and the pool filters by; a
    library tag adds its "id" (what it counts under; a free-text tag has none)."""
    name = summary.tag_names.get(tag, tag)
    return ({"tag": name, "count": count} if name == tag
            else {"tag": name, "id": tag, "count": count})


def summary_line(issue: Issue, now: datetime, calendar: WorkCalendar) -> IssueLine:
    """What a summary may know of `issue` (no enterprise data, no free text but the title)."""
    light = current_light(issue, now, calendar)
    return IssueLine(
        number=issue.number, title=issue.title, origin=issue.origin,
        state=issue.state.value, light=light.value if light else None, tags=issue.tags,
        received_at=issue.received_at, resolved_at=issue.resolved_at,
        resolve_due=issue.resolve_due, due=issue.deadline.due if issue.deadline else None,
        rating=issue.rating.value if issue.rating else None,
        reopen_count=issue.reopen_count, rejected=issue.outcome == "rejected",
        credit_code=issue.enterprise.credit_code or None, closed_at=issue.closed_at)


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = Counter(a)
    out.update(b)
    return dict(out)


#: Keys of the counts one issue adds to its unit of origin's summary (`line_counts`).
TOTAL, STATE, SUM, TAG, HANDLED_US = "total", "state:", "sum:", "tag:", "handled_us"
FINISHED = (State.RESOLVED.value, State.CLOSED.value)


def line_counts(line: IssueLine) -> Counter[str]:
    """What `line` adds to its summary, apart from the light and the overdue list (which
    change with time): the counts a store can keep per unit of origin, updating them in
    the transaction that writes the issue, so a summary never needs a scan of every issue.
    `handled_us` is the handling time in microseconds (an integer, so sums stay exact)."""
    out: Counter[str] = Counter({TOTAL: 1, STATE + line.state: 1})
    for tag in set(line.tags):
        out[TAG + tag] += 1
    finished = line.state in FINISHED
    if line.state != State.ESCALATED and not line.rejected:
        out[SUM + "resolution_den"] += 1
        out[SUM + "resolution_num"] += finished
    if line.resolved_at is not None:
        out[SUM + "handled"] += 1
        spent = line.resolved_at - line.received_at
        out[HANDLED_US] += (spent.days * 86_400 + spent.seconds) * 1_000_000 + spent.microseconds
        out[SUM + "on_time_den"] += 1
        out[SUM + "on_time_num"] += line.resolve_due is None or line.resolved_at <= line.resolve_due
    if line.rating is not None:
        out[SUM + "satisfaction_den"] += 1
        out[SUM + "satisfaction_num"] += line.rating != "unsatisfied"
    if line.resolved_at is not None or line.reopen_count:
        out[SUM + "repeat_den"] += 1
        out[SUM + "repeat_num"] += line.reopen_count > 0
    return +out  # zero counts dropped


@dataclass(frozen=True, kw_only=True, slots=True)
class OverdueLine:
    """One red, unfinished issue with a running deadline, as the overdue list shows it."""

    due: datetime
    number: str
    title: str
    origin: str

    def shown(self) -> dict[str, str]:
        return {"number": self.number, "title": self.title, "node": self.origin}


@dataclass(frozen=True, kw_only=True, slots=True)
class OriginPart:
    """One unit of origin's share of a summary: its `line_counts` summed, its unfinished
    issues per light, and its first `OVERDUE_LIST_MAX` overdue issues by due time."""

    counts: Mapping[str, int] = field(default_factory=dict)
    lights: Mapping[str, int] = field(default_factory=dict)
    overdue: tuple[OverdueLine, ...] = ()


def overdue_order(line: OverdueLine) -> tuple[datetime, str]:
    return (line.due, line.number)


def from_parts(node: str, parts: Mapping[str, OriginPart], *, now: datetime,
               by_origin: bool = False, tag_key: Mapping[str, str] | None = None,
               tag_names: Mapping[str, str] | None = None) -> Summary:
    """The summary of the units of origin in `parts`; with `by_origin`, also one child
    summary per origin other than `node`. Equal to `summarize` over the same issues.
    `tag_key` maps the tags issues carry (names) to the library ids they count under
    (a tag it does not know counts under its own text); `tag_names` names the ids."""
    counts: Counter[str] = Counter()
    lights: Counter[str] = Counter()
    overdue: list[OverdueLine] = []
    for part in parts.values():
        counts.update(part.counts)
        lights.update(part.lights)
        overdue.extend(part.overdue)
    overdue.sort(key=overdue_order)
    children = ({o: from_parts(o, {o: part}, now=now, tag_key=tag_key, tag_names=tag_names)
                 for o, part in sorted(parts.items()) if o != node} if by_origin else {})
    keyed = tag_key or {}
    tags: Counter[str] = Counter()
    for k, n in counts.items():
        if k.startswith(TAG) and n:
            tags[keyed.get(k[len(TAG):], k[len(TAG):])] += n
    kept = dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:TAGS_KEPT])
    return Summary(
        node=node, as_of=now, total=counts[TOTAL],
        states={k[len(STATE):]: n for k, n in counts.items() if k.startswith(STATE) and n},
        lights={k: n for k, n in lights.items() if n},
        sums={k[len(SUM):]: n for k, n in counts.items() if k.startswith(SUM) and n},
        handling_hours=counts[HANDLED_US] / 3_600_000_000,
        tags=kept,
        overdue=tuple(o.shown() for o in overdue[:OVERDUE_LIST_MAX]), children=children,
        tag_names={t: tag_names[t] for t in kept if tag_names and t in tag_names})


def recurrence_counts(lines: Iterable[IssueLine], *, now: datetime,
                      window: timedelta = RECURRENCE_WINDOW) -> dict[str, Counter[str]]:
    """Per unit of origin, the sums `recurrence_num` / `recurrence_den` of the 重发复发率 of
    `lines` (every issue the node holds) at `now`: node/domain/metrics.py's definition."""
    from node.domain.metric_counts import recurrence_flags
    from node.domain.metrics import IssueFacts

    facts = {line.number: (line, IssueFacts(
        issue_id=line.number, node=line.origin, board=None, department=None,
        state=line.state, light="none", tags=line.tags, received_at=line.received_at,
        resolved_at=None, resolve_due=None, rating=None, reopen_count=0,
        rejected=line.rejected, credit_code=line.credit_code, closed_at=line.closed_at))
        for line in lines}
    out: dict[str, Counter[str]] = {}
    for number, again in recurrence_flags((f for _, f in facts.values()), window).items():
        line = facts[number][0]
        assert line.closed_at is not None
        if again or line.closed_at + window <= now:
            sums = out.setdefault(line.origin, Counter())
            sums[SUM + "recurrence_den"] += 1
            sums[SUM + "recurrence_num"] += again
    return out


def summarize(node: str, lines: Iterable[IssueLine], *, now: datetime,
              by_origin: bool = False,
              recurrence_window: timedelta = RECURRENCE_WINDOW) -> Summary:
    """The summary of `lines`; with `by_origin`, also one child summary per origin unit."""
    counts: dict[str, Counter[str]] = {}
    lights: dict[str, Counter[str]] = {}
    overdue: dict[str, list[OverdueLine]] = {}
    lines = list(lines)
    for origin, sums in recurrence_counts(lines, now=now, window=recurrence_window).items():
        counts.setdefault(origin, Counter()).update(sums)
    for line in lines:
        counts.setdefault(line.origin, Counter()).update(line_counts(line))
        lit = lights.setdefault(line.origin, Counter())
        late = overdue.setdefault(line.origin, [])
        if line.state in FINISHED or line.light is None:
            continue
        lit[line.light] += 1
        if line.light == "red" and line.due is not None:
            late.append(OverdueLine(due=line.due, number=line.number, title=line.title,
                                    origin=line.origin))
    parts = {o: OriginPart(counts=counts[o], lights=lights[o],
                           overdue=tuple(sorted(overdue[o], key=overdue_order)[:OVERDUE_LIST_MAX]))
             for o in counts}
    return from_parts(node, parts, now=now, by_origin=by_origin)


def fold(own: Summary, children: Iterable[Summary], *,
         names: Mapping[str, str] | None = None) -> Summary:
    """`own` (this node's issues) plus its children's subtree summaries. Tags fold by
    id; each is named from `names` (this node's library), else as a child named it."""
    total, states, lights, sums = own.total, dict(own.states), dict(own.lights), dict(own.sums)
    tags, hours, overdue = dict(own.tags), own.handling_hours, list(own.overdue)
    kids = dict(own.children)
    chains = dict(own.chains)
    named: dict[str, str] = {}
    for child in children:
        named.update(child.tag_names)
        total += child.total
        states, lights, sums = _add(states, child.states), _add(lights, child.lights), _add(
            sums, child.sums)
        tags = _add(tags, child.tags)
        hours += child.handling_hours
        overdue.extend(child.overdue)
        kids[child.node] = child
        chains.update(child.chains)
    top = dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:TAGS_KEPT])
    named.update(own.tag_names)
    named.update(names or {})
    return Summary(node=own.node, as_of=max([own.as_of, *(k.as_of for k in kids.values())]),
                   total=total, states=states, lights=lights, sums=sums, handling_hours=hours,
                   tags=top, overdue=tuple(overdue[:OVERDUE_LIST_MAX]), children=kids,
                   chains=chains, tag_names={t: named[t] for t in top if t in named},
                   units=own.units, index=own.index, cases=own.cases,
                   signatures=own.signatures)


def rewritten_chains(before: Summary, after: Summary) -> list[str]:
    """Writers whose chain head in `after` goes back or differs at the same place from
    `before` (summaries of the same child, in the order they were published)."""
    out = []
    for writer, (seq, head) in sorted(after.chains.items()):
        known = before.chains.get(writer)
        if known is not None and (seq < known[0] or (seq == known[0] and head != known[1])):
            out.append(writer)
    return out


def encode(summary: Summary) -> bytes:
    """The summary as it is published: only its top level carries cases, and past
    node/domain/cases.py SUMMARY_MAX_BYTES its oldest cases are left out (with a warning in
    the log) so that the counts always fit one NATS message."""
    from node.domain.cases import SUMMARY_MAX_BYTES, newest_within

    data = summary.to_dict(depth=1, with_cases=True)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) <= SUMMARY_MAX_BYTES or not data.get("cases"):
        return raw
    cases = data.pop("cases")
    rest = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    data["cases"] = newest_within(cases, SUMMARY_MAX_BYTES - len(rest) - len(',"cases":'))
    import logging  # a diagnostic only: the domain stays free of I/O it depends on

    logging.getLogger("zhitong.domain.summary").warning(
        "the summary of %s takes %d bytes: %d of its %d cases left out", summary.node,
        len(raw), len(cases) - len(data["cases"]), len(cases))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def decode(raw: bytes) -> Summary:
    """Parse a child's published summary; anything malformed is a ValidationError."""
    try:
        return _from_dict(loads(raw), depth=1)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
            RecursionError) as exc:
        raise ValidationError("summary_malformed", field="summary",
                              problem=str(exc)[:200]) from None


def _count(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be an integer in 0..{MAX_COUNT}")
    return value


def _counts(value: Any, name: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must map names to counts")
    for k, v in value.items():
        if not isinstance(k, str):
            raise ValueError(f"{name} must map names to counts")
        _count(v, name)
    return value


def _hours(value: Any) -> float:
    # compared before float(): float(10**400) would raise OverflowError
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not -MAX_HANDLING_HOURS <= value <= MAX_HANDLING_HOURS  # False for NaN
            or not math.isfinite(value)):
        raise ValueError(f"handling_hours must be a number within ±{MAX_HANDLING_HOURS:g}")
    return float(value)


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def _overdue_line(raw: Any) -> dict[str, str]:
    from node.domain.validation import validate_division_code

    line = _object(raw, "an overdue line")
    return {"number": str(line["number"])[:40], "title": str(line["title"])[:100],
            "node": validate_division_code(str(line["node"]))}


def _from_dict(raw: Any, depth: int) -> Summary:
    from node.domain.index import decode_summary_index
    from node.domain.validation import validate_division_code

    data = _object(raw, "a summary")
    if not isinstance(data["overdue"], list):
        raise ValueError("overdue must be a list")
    overdue = tuple(_overdue_line(o) for o in data["overdue"][:OVERDUE_LIST_MAX])
    children = {}
    if depth > 0:
        children = {validate_division_code(k): _from_dict(v, depth - 1)
                    for k, v in _object(data.get("children", {}), "children").items()}
    as_of = datetime.fromisoformat(data["as_of"])
    if as_of.tzinfo is None:  # fold compares it with aware times
        raise ValueError("as_of must carry a time zone")
    return Summary(node=validate_division_code(data["node"]), as_of=as_of,
                   total=_count(data["total"], "total"),
                   states=_counts(data["states"], "states"),
                   lights=_counts(data["lights"], "lights"),
                   sums=_counts(data["sums"], "sums"),
                   handling_hours=_hours(data["handling_hours"]),
                   tags=_counts(data["tags"], "tags"), overdue=overdue, children=children,
                   chains=_chains(data.get("chains", {})),
                   tag_names=_tag_names(data.get("tag_names", {})),
                   units=_units(data.get("units", []), str(data["node"])),
                   index=decode_summary_index(data.get("index", {})),
                   cases=_cases(data.get("cases", []), str(data["node"])),
                   signatures=_signatures(data.get("signatures", [])))


SIGNATURES_MAX = 1000  # open issues a summary carries signatures of (~230 KB)


def _signatures(value: Any) -> tuple[dict[str, str], ...]:
    """A child's signatures, each re-checked; a malformed one is dropped."""
    from node.domain.duplicates import expand
    from node.domain.errors import DomainError
    from node.domain.validation import validate_division_code

    if not isinstance(value, list) or len(value) > SIGNATURES_MAX:
        raise ValueError(f"signatures must be a list of at most {SIGNATURES_MAX}")
    out = []
    for raw in value:
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("number"), str):
                raise ValueError("a signature entry is an object with a number")
            expand(raw["sig"])
            out.append({"number": raw["number"][:40],
                        "node": validate_division_code(str(raw["node"])),
                        "sig": raw["sig"]})
        except (ValueError, KeyError, TypeError, DomainError):
            continue
    return tuple(out)


MAX_CASES = 2000  # cases a summary may carry: beyond what `cases.bounded` lets through


def _cases(value: Any, node: str) -> tuple[dict[str, Any], ...]:
    """A child's published cases, each re-checked; a malformed one is dropped (the rest of
    the summary, and the child's other cases, still count)."""
    from node.domain.cases import decode_case
    from node.domain.errors import DomainError

    if not isinstance(value, list) or len(value) > MAX_CASES:
        raise ValueError(f"cases must be a list of at most {MAX_CASES}")
    out = []
    for raw in value:
        try:
            out.append(decode_case(raw, node))
        except DomainError:
            continue
    return tuple(out)


MAX_UNITS = 1000  # units a summary may name: far beyond a centre's catalogue


def _units(value: Any, node: str) -> tuple[dict[str, Any], ...]:
    """A child's catalogue: every unit its own (id "<node>.<slug>"), checked like a unit."""
    from node.domain.errors import DomainError
    from node.domain.units import as_record, from_record, split_unit_id

    if not isinstance(value, list) or len(value) > MAX_UNITS:
        raise ValueError(f"units must be a list of at most {MAX_UNITS}")
    out = []
    for raw in value:
        record = _object(raw, "a unit")
        try:
            unit = from_record(record)
            if split_unit_id(unit.id)[0] != node or unit.node != node:
                raise ValueError(f"unit {unit.id[:48]!r} is not {node}'s")
        except DomainError as exc:
            raise ValueError(f"a unit: {exc.code}") from None
        if not (isinstance(unit.name_zh, str) and 0 < len(unit.name_zh) <= 40
                and (unit.name_en is None or (isinstance(unit.name_en, str)
                                              and len(unit.name_en) <= 80))
                and (unit.parent_id is None or (isinstance(unit.parent_id, str)
                                                and len(unit.parent_id) <= 40))):
            raise ValueError("a unit's names must be short texts")
        out.append({k: v for k, v in as_record(unit).items() if k != "external_code"})
    return tuple(out)


MAX_TAG_NAMES = 1000
MAX_TAG_NAME = 30


def _tag_names(value: Any) -> dict[str, str]:
    names = _object(value, "tag_names")
    if len(names) > MAX_TAG_NAMES or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64
            for k, v in names.items()):
        raise ValueError(f"tag_names must map at most {MAX_TAG_NAMES} tag ids to names")
    return {k: v[:MAX_TAG_NAME] for k, v in names.items()}


AUDIT_HEAD = "audit:"  # the key of a writer's audit-log head in `chains`
MAX_CHAINS = 5000  # writers a summary may vouch for: far beyond a province's units
MAX_WRITER_SEQ = 2**63 - 1


def _chains(value: Any) -> dict[str, tuple[int, str]]:
    from node.domain.validation import validate_division_code

    heads = _object(value, "chains")
    if len(heads) > MAX_CHAINS:
        raise ValueError(f"more than {MAX_CHAINS} chain heads")
    out: dict[str, tuple[int, str]] = {}
    for writer, head in heads.items():
        head = _object(head, "a chain head")
        seq, link = head.get("seq"), head.get("link")
        if (not isinstance(seq, int) or isinstance(seq, bool)
                or not 1 <= seq <= MAX_WRITER_SEQ or not is_link(link)):
            raise ValueError("a chain head must be a writer_seq and a SHA-256 link")
        audit = isinstance(writer, str) and writer.startswith(AUDIT_HEAD)
        code = validate_division_code(writer[len(AUDIT_HEAD):] if audit else writer)
        out[AUDIT_HEAD + code if audit else code] = (seq, str(link))
    return out
