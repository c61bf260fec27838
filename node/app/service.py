"""Use cases of one node. Each write is one transaction: load → decide → save + event.

`IssueService` is what the HTTP API, the CLI, the forwarding use case and auto-escalation
call; `AccountService` (node/app/accounts.py, re-exported here) logs principals in and
manages accounts. A use case reads the clock
once, authorises the principal against the issue, lets the pure domain decide, and writes
the new snapshot together with its event in one unit of work of the store
(node.app.ports.IssueStore), so the log and the snapshot can never disagree. A failed check
raises a `DomainError` before anything is written.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from node.app.accounts import AccountService as AccountService  # re-exported
from node.app.clock import new_issue_id
from node.app.merges import fan_out_followers
from node.app.policy import (
    SUBMIT,
    SUBMIT_ANY_CHANNEL,
    VIEW_METRICS,
    VIEW_POOL,
    Principal,
    Role,
    authorize,
    check_can_view,
    not_found,
    queue_scope,
    require,
)
from node.app.ports import (
    Clock,
    ConstraintViolation,
    IssueFilter,
    IssueStore,
    IssueUnit,
    LightCount,
    PoolPosition,
    StoredEvent,
    TagLibraryReads,
)
from node.app.units import UnitService
from node.domain.calendar import CST
from node.domain.deadlines import Light
from node.domain.errors import (
    Conflict,
    RuleViolation,
    ValidationError,
)
from node.domain.issue import Action, ActorKind, Channel, Issue, State
from node.domain.lifecycle import (
    TRANSITIONS,
    Assign,
    Command,
    LadderUp,
    Rules,
    Submit,
    Triage,
    action_of,
    current_light,
    decide,
    evolve,
    submit,
)
from node.domain.metric_counts import from_counts
from node.domain.metrics import RECURRENCE_WINDOW, IssueFacts, Metrics, compute_metrics
from node.domain.search import Snippet, query_terms, snippet
from node.domain.summary import Summary, from_parts
from node.domain.tags import check_triage
from node.domain.validation import check_text, validate_credit_code

MAX_IDEMPOTENCY_KEY = 80
#: events that hand an issue to another tier: the urges before them were made elsewhere
_HANDOVERS = frozenset({Action.ESCALATE.value, Action.RETURN.value, Action.RECEIVE.value})


def enterprise_urges_here(history: list[StoredEvent], node: str) -> int:
    """The enterprise's urges recorded by `node` since the issue last changed tier."""
    count = 0
    for stored in history:
        if stored.event.kind in _HANDOVERS:
            count = 0
        elif (stored.event.kind == Action.URGE.value and stored.node == node
              and stored.event.actor.kind is ActorKind.ENTERPRISE):
            count += 1
    return count


@dataclass(frozen=True, kw_only=True, slots=True)
class IssueView:
    issue: Issue
    light: Light | None
    timeline: list[StoredEvent]


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuePage:
    """A page of the pool; `next_cursor` names where the next page starts (None: this is
    the last one)."""

    items: list[tuple[Issue, Light | None]]
    total: int
    next_cursor: str | None = None
    #: False: `total` is a lower bound ("at least"), counting stopped there.
    total_exact: bool = True
    #: With a search: per issue id, where the query's words occur (node/domain/search.py).
    snippets: Mapping[str, Snippet] = field(default_factory=dict)


#: A search combined with other filters counts its matches up to this many ("1,000+").
SEARCH_COUNT_LIMIT = 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR = 200


def encode_cursor(position: PoolPosition) -> str:
    """An opaque cursor for a place in the pool's order (url-safe text)."""
    micros = (position.received_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}:{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PoolPosition:
    """The place a cursor of `encode_cursor` names; anything else is a ValidationError."""
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, _, issue_id = raw.partition(":")
        if not issue_id or not micros.lstrip("-").isdigit():
            raise ValueError("not a cursor")
        at = _EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise ValidationError("cursor_invalid", field="cursor") from None
    return PoolPosition(received_at=at, id=issue_id)


def encode_rank_cursor(offset: int) -> str:
    """The cursor of a ranked search's next page: its offset (a score is no position)."""
    return base64.urlsafe_b64encode(f"@{offset}".encode()).decode().rstrip("=")


def decode_rank_cursor(cursor: str) -> int:
    """The offset an `encode_rank_cursor` cursor names; anything else is a ValidationError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if len(cursor) > _MAX_CURSOR or not raw.startswith("@") or not raw[1:].isdigit():
            raise ValueError("not a ranked cursor")
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError("cursor_invalid", field="cursor") from None


class IssueService:
    def __init__(
        self,
        *,
        store: IssueStore,
        node: str,
        rules: Rules,
        clock: Clock,
        ids: Callable[[str], str] = new_issue_id,
        revisit_share: float = 0.2,
        min_sample: int = 5,
        recurrence_window: timedelta = RECURRENCE_WINDOW,
        units: UnitService | None = None,
        tags: TagLibraryReads | None = None,
    ) -> None:
        self.store = store
        #: the tag library: triage accepts only its active tags once it is in force, and
        #: metrics and summaries count under its surviving ids (node/domain/tags.py)
        self.tags = tags
        #: the organisation units: dispatch names an active unit id, the ladder its queue
        self.units = units
        self._recurrence_window = recurrence_window
        self.node = node
        self.rules = rules
        self.clock = clock
        self._ids = ids
        self._revisit_share = revisit_share
        self._min_sample = min_sample

    # ----------------------------------------------------------------- writes

    def submit(
        self, principal: Principal, command: Submit, *, idempotency_key: str | None = None
    ) -> tuple[Issue, bool]:
        """Create an issue. Returns (issue, created); a repeated key returns the first one."""
        require(principal, SUBMIT)
        if principal.role is Role.ENTERPRISE:
            if validate_credit_code(command.credit_code) != principal.credit_code:
                raise ValidationError("credit_code_not_yours", field="credit_code")
            if command.channel is not Channel.ONLINE:
                raise ValidationError("channel_not_online", field="channel")
        else:
            require(principal, SUBMIT_ANY_CHANNEL)
            command = self._library_tags(command)
        if idempotency_key is not None:
            idempotency_key = check_text(
                "Idempotency-Key", idempotency_key, max_len=MAX_IDEMPOTENCY_KEY
            )
        now = self.clock.now()
        try:
            with self.store.write() as unit:
                if idempotency_key is not None:
                    earlier = unit.submission(principal.username, idempotency_key)
                    if earlier is not None:
                        issue = unit.load_issue(earlier)
                        assert issue is not None
                        return issue, False
                issue = self._create(unit, principal, command, now)
                if idempotency_key is not None:
                    unit.add_submission(principal=principal.username,
                                        idempotency_key=idempotency_key, issue_id=issue.id,
                                        at=now)
        except ConstraintViolation:
            if idempotency_key is None:
                raise
            # A concurrent retry with the same key won the race: return its issue.
            with self.store.read() as unit:
                earlier = unit.submission(principal.username, idempotency_key)
                if earlier is None:
                    raise
                found = unit.load_issue(earlier)
                assert found is not None
                return found, False
        return issue, True

    def _create(self, unit: IssueUnit, principal: Principal, command: Submit,
                now: datetime) -> Issue:
        """Number, build and store one new issue with its first event, in `unit`."""
        year = now.astimezone(CST).year
        seq = unit.next_number(year)
        issue, event = submit(
            command,
            issue_id=self._ids(self.node),
            number=f"{self.node}-{year}-{seq:06d}",
            node=self.node,
            actor=principal.actor,
            now=now,
            rules=self.rules,
        )
        unit.insert_issue(issue)
        unit.append_event(self.node, event, own=True)
        return issue

    def submit_many(self, principal: Principal, commands: list[Submit]) -> list[Issue]:
        """Staff intake of several issues at once (a meeting's list): all in one
        transaction, so either every one is created or none is. The caller checks every
        command first (node/app/intake.py) so that a refusal can name each bad row."""
        require(principal, SUBMIT)
        require(principal, SUBMIT_ANY_CHANNEL)
        commands = [self._library_tags(c) for c in commands]
        now = self.clock.now()
        with self.store.write() as unit:
            return [self._create(unit, principal, c, now) for c in commands]

    def _library_tags(self, command: Submit) -> Submit:
        """Staff intake tags like triage does: library tags once the library is in force."""
        if self.tags is None or not command.tags:
            return command
        return replace(command, tags=check_triage(self.tags.library(), command.tags))

    def act(
        self,
        principal: Principal,
        key: str,
        command: Command,
        *,
        expected_version: int | None = None,
    ) -> Issue:
        """Apply one staff or enterprise action to an issue this node owns."""
        action = action_of(command)
        self._check_units(command)
        if isinstance(command, Triage) and self.tags is not None:
            # ids or names → the surviving library tags' names; an unknown one is refused
            command = replace(command, tags=check_triage(self.tags.library(), command.tags))
        now = self.clock.now()
        with self.store.write() as unit:
            issue = unit.load_issue(key, for_update=True)
            if issue is None:
                raise not_found(key)
            authorize(principal, action, issue, self.node, key)
            command = self._with_step_unit(issue, command)
            if unit.transfer_pending(issue.id):
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            if expected_version is not None and expected_version != issue.version:
                raise Conflict("version_mismatch", current_version=issue.version,
                               expected_version=expected_version)
            event = decide(issue, command, actor=principal.actor, now=now, rules=self.rules)
            new = evolve(issue, event)
            unit.update_issue(new, expected_version=issue.version)
            unit.append_event(self.node, event, own=True)
            fan_out_followers(unit, self.node, new, event)  # 并单: the followers answered too
        return new

    def _check_units(self, command: Command) -> None:
        """Dispatch names units of this node's catalogue (node/app/units.py)."""
        if self.units is None:
            return
        match command:
            case Triage(board=board):
                self.units.check_board(board)
            case Assign(department=department, board=board):
                self.units.check_department(department)
                self.units.check_board(board)

    def _with_step_unit(self, issue: Issue, command: Command) -> Command:
        """A ladder step moves the issue into the queue of the unit the step names."""
        if (self.units is None or not isinstance(command, LadderUp) or command.unit
                or issue.ladder_step + 1 >= len(self.rules.ladder)):
            return command
        found = self.units.step_unit(self.rules.ladder[issue.ladder_step + 1], issue)
        return replace(command, unit=found) if found else command

    # ----------------------------------------------------------------- reads

    def light_of(self, issue: Issue) -> Light | None:
        return current_light(issue, self.clock.now(), self.rules.calendar)

    def get(self, principal: Principal, key: str) -> IssueView:
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            timeline = unit.events_of(issue.id)
        return IssueView(
            issue=issue,
            light=current_light(issue, self.clock.now(), self.rules.calendar),
            timeline=timeline,
        )

    def list_issues(
        self,
        principal: Principal,
        *,
        states: tuple[State, ...] = (),
        light: Light | None = None,
        tag: str | None = None,
        board: str | None = None,
        department: str | None = None,
        in_unit: str | None = None,
        ladder_step: int | None = None,
        origin: str | None = None,
        owner: str | None = None,
        overdue: bool = False,
        red_within: timedelta | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
        count_limit: int | None = None,
    ) -> IssuePage:
        """A page of the pool, newest first: from `cursor` (a page's `next_cursor`, what the
        screens follow) or, for compatibility, `offset` issues in. `text`: a full-text
        search (node/domain/search.py), best match first, each with its snippet; its pages
        go by offset (the cursor names one). `origin`/`owner`: only the issues submitted at
        / held now by that unit (a node code: a city's pool per county). `red_within`: only
        issues not red yet that turn red within that time. `total` is exact unless
        `count_limit` is given: then counting stops there (a total equal to it means "at
        least", and `total_exact` is False), which bounds the cost of counting a large
        filtered pool. A search with other filters counts up to SEARCH_COUNT_LIMIT by
        default: its exact total joins every match to its issue (用电 AND open states at
        1,000,000 issues: 93,000 lookups, ~300 ms); the words alone count exactly."""
        credit_code = None
        queues = None
        if principal.role is Role.ENTERPRISE:
            credit_code = principal.credit_code
        else:
            require(principal, VIEW_POOL)
            queues = queue_scope(principal)  # a handler of units: their queues only
        ranked = bool(text and query_terms(text))
        bound = count_limit
        if bound is None and ranked:
            bound = SEARCH_COUNT_LIMIT + 1  # one more: more than the limit shows "1,000+"
        after = None
        if cursor is not None and ranked:
            offset = decode_rank_cursor(cursor)
        elif cursor is not None:
            after = decode_cursor(cursor)
        now = self.clock.now()
        f = IssueFilter(
            states=states,
            tag=tag,
            board=board,
            department=department,
            credit_code=credit_code,
            queues=queues,
            unit=in_unit,  # the unit's queue now (node/domain/units.py queue_of)
            ladder_step=ladder_step,
            origin=origin,
            owner=owner,
            overdue_at=now if overdue else None,
            light=light,
            red_by=now + red_within if red_within is not None else None,
            now=now,
            text=text,
            ranked=ranked,
            after=after,
            limit=limit + 1,  # one more: is there a next page?
            offset=offset,
            count_limit=bound,
        )
        with self.store.read() as unit:
            found, total = unit.list_issues(f)
        capped = bound is not None and total == bound
        if capped and count_limit is None:
            total = SEARCH_COUNT_LIMIT
        more = len(found) > limit
        found = found[:limit]
        next_cursor = (encode_rank_cursor(offset + limit) if ranked else
                       encode_cursor(PoolPosition(received_at=found[-1].received_at,
                                                  id=found[-1].id))
                       ) if more and found else None
        items = [(i, current_light(i, now, self.rules.calendar)) for i in found]
        snippets = ({i.id: hit for i in found if (hit := snippet(i, text)) is not None}
                    if ranked and text else {})
        return IssuePage(items=items, total=total, next_cursor=next_cursor, snippets=snippets,
                         total_exact=not capped)

    def counts(self, principal: Principal) -> list[LightCount]:
        """Issues per origin unit, owner, state and light now: the cockpit's counts, from one
        aggregate of the store (no issue is read)."""
        require(principal, VIEW_METRICS)
        now = self.clock.now()
        with self.store.read() as unit:
            return unit.count_by_light(now)

    def auto_escalation_candidates(self, min_urges: int) -> list[str]:
        """Owned, open issues whose light is red and that the enterprise urged `min_urges`
        times at this tier (staff urges, unlimited, and urges made before the issue came
        here do not count: `enterprise_urges_here`)."""
        now = self.clock.now()
        with self.store.read() as unit:
            found, _ = unit.list_issues(IssueFilter(overdue_at=now, owner=self.node,
                                                    limit=10_000, count=False))
            return [
                i.id for i in found
                if i.urge_count >= min_urges  # every urge: a cheap bound of those counted
                and (i.state, Action.ESCALATE) in TRANSITIONS
                and not unit.transfer_pending(i.id)
                and enterprise_urges_here(unit.events_of(i.id), self.node) >= min_urges
            ]

    def local_summary(self) -> Summary:
        """This node's summary from its own store (when no event streams run)."""
        now = self.clock.now()
        with self.store.read() as unit:
            parts = unit.summary_parts(now)
        library = self.tags.library() if self.tags is not None else None
        return from_parts(self.node, parts, now=now, by_origin=True,
                          tag_key=library.canonical_map() if library else None,
                          tag_names=library.names_map() if library else None)

    def metrics(self, principal: Principal) -> Metrics:
        """The handling metrics from the counts the store keeps per group in every issue
        write and the running rows' lights (node/store/metric_counts.py): no issue is read.
        Equal to `metrics_by_scan` (tests/integration/test_metric_counts.py)."""
        require(principal, VIEW_METRICS)
        now = self.clock.now()
        with self.store.read() as unit:
            groups = unit.metric_groups(now)
        rename: dict[str, str] = {}
        if self.tags is not None:  # count per library entry, shown by its surviving name
            library = self.tags.library()
            rename = {k: library.tags[v].name_zh for k, v in library.canonical_map().items()}
        return from_counts(groups, now=now, min_sample=self._min_sample, rename=rename)

    def metrics_by_scan(self, principal: Principal) -> Metrics:
        """The same from every issue (the reference fold `compute_metrics`)."""
        require(principal, VIEW_METRICS)
        now = self.clock.now()
        with self.store.read() as unit:
            facts = [self._facts(i, now) for i in unit.all_issues()]
        if self.tags is not None:  # count per library entry, shown by its surviving name
            library = self.tags.library()
            named = {k: library.tags[v].name_zh for k, v in library.canonical_map().items()}
            facts = [replace(f, tags=tuple(named.get(t, t) for t in f.tags)) for f in facts]
        return compute_metrics(facts, now=now, min_sample=self._min_sample,
                               recurrence_window=self._recurrence_window)

    def _facts(self, issue: Issue, now: datetime) -> IssueFacts:
        light = current_light(issue, now, self.rules.calendar)
        return IssueFacts(
            issue_id=issue.id,
            node=issue.owner,
            board=issue.board,
            department=issue.department,
            state=issue.state.value,
            light=light.value if light else "none",
            tags=issue.tags,
            received_at=issue.received_at,
            resolved_at=issue.resolved_at,
            resolve_due=issue.resolve_due,
            rating=issue.rating.value if issue.rating else None,
            reopen_count=issue.reopen_count,
            rejected=issue.outcome == "rejected",
            credit_code=issue.enterprise.credit_code or None,
            closed_at=issue.closed_at,
        )

    # revisit sampling (回访抽查) and its tasks: node/app/revisits.py (RevisitService)
