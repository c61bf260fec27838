"""Use cases of one node. Each write is one transaction: load → decide → save + event.

`IssueService` is what the HTTP API, the CLI and (later) the federation call. It reads the
clock once per use case, authorises the principal against the issue, lets the pure domain
decide, and writes the new snapshot together with its event, so the log and the snapshot
can never disagree. A failed check raises a `DomainError` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from node.app.auth import hash_password, verify_password
from node.app.clock import new_issue_id
from node.app.policy import (
    DRAW_SAMPLE,
    SUBMIT,
    SUBMIT_ANY_CHANNEL,
    VIEW_METRICS,
    VIEW_POOL,
    Principal,
    Role,
    authorize,
    check_can_view,
    not_found,
    require,
)
from node.app.ports import Clock
from node.domain.calendar import CST
from node.domain.deadlines import Light
from node.domain.errors import (
    Conflict,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
)
from node.domain.issue import Action, Channel, Issue, State
from node.domain.lifecycle import (
    TRANSITIONS,
    Command,
    Rules,
    Submit,
    action_of,
    current_light,
    decide,
    evolve,
    submit,
)
from node.domain.metrics import IssueFacts, Metrics, compute_metrics
from node.domain.sampling import RevisitSample, draw_revisit_sample, make_seed
from node.domain.summary import Summary, summarize, summary_line
from node.domain.validation import check_text, validate_credit_code
from node.store import repo, transfers, users
from node.store.repo import IssueFilter, Store, StoredEvent
from node.store.schema import revisit_samples, submissions

MAX_IDEMPOTENCY_KEY = 80


@dataclass(frozen=True, kw_only=True, slots=True)
class IssueView:
    issue: Issue
    light: Light | None
    timeline: list[StoredEvent]


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuePage:
    items: list[tuple[Issue, Light | None]]
    total: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredSample:
    id: int
    period: str
    actor: str
    created_at: datetime
    sample: RevisitSample


class IssueService:
    def __init__(
        self,
        *,
        store: Store,
        node: str,
        rules: Rules,
        clock: Clock,
        ids: Callable[[str], str] = new_issue_id,
        revisit_share: float = 0.2,
        min_sample: int = 5,
    ) -> None:
        self.store = store
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
                raise ValidationError(
                    "credit_code",
                    "企业只能以本企业的统一社会信用代码提交诉求",
                    "an enterprise may only submit under its own credit code",
                )
            if command.channel is not Channel.ONLINE:
                raise ValidationError(
                    "channel", "企业只能通过线上平台提交", "enterprises submit through 'online'"
                )
        else:
            require(principal, SUBMIT_ANY_CHANNEL)
        if idempotency_key is not None:
            idempotency_key = check_text(
                "Idempotency-Key", idempotency_key, max_len=MAX_IDEMPOTENCY_KEY
            )
        now = self.clock.now()
        try:
            with self.store.write() as conn:
                if idempotency_key is not None:
                    earlier = conn.execute(
                        select(submissions.c.issue_id).where(
                            submissions.c.principal == principal.username,
                            submissions.c.idempotency_key == idempotency_key,
                        )
                    ).scalar_one_or_none()
                    if earlier is not None:
                        issue = repo.load_issue(conn, earlier)
                        assert issue is not None
                        return issue, False
                year = now.astimezone(CST).year
                seq = repo.next_counter(conn, f"number:{year}")
                issue, event = submit(
                    command,
                    issue_id=self._ids(self.node),
                    number=f"{self.node}-{year}-{seq:06d}",
                    node=self.node,
                    actor=principal.actor,
                    now=now,
                    rules=self.rules,
                )
                repo.insert_issue(conn, issue)
                repo.append_event(conn, self.node, event, own=True)
                if idempotency_key is not None:
                    conn.execute(
                        insert(submissions).values(
                            principal=principal.username,
                            idempotency_key=idempotency_key,
                            issue_id=issue.id,
                            created_at=now,
                        )
                    )
        except IntegrityError:
            if idempotency_key is None:
                raise
            # A concurrent retry with the same key won the race: return its issue.
            with self.store.read() as conn:
                earlier = conn.execute(
                    select(submissions.c.issue_id).where(
                        submissions.c.principal == principal.username,
                        submissions.c.idempotency_key == idempotency_key,
                    )
                ).scalar_one()
                found = repo.load_issue(conn, earlier)
                assert found is not None
                return found, False
        return issue, True

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
        now = self.clock.now()
        with self.store.write() as conn:
            issue = repo.load_issue(conn, key, for_update=True)
            if issue is None:
                raise not_found(key)
            authorize(principal, action, issue, self.node, key)
            if transfers.pending_for_issue(conn, issue.id) is not None:
                raise RuleViolation(
                    "transfer_pending",
                    "该诉求正在移交上级/下级，暂不能办理",
                    "the issue is being transferred to another tier; wait for the answer",
                    issue_id=issue.id,
                )
            if expected_version is not None and expected_version != issue.version:
                raise Conflict(
                    f"版本不一致：当前为 {issue.version}，请求基于 {expected_version}",
                    f"version mismatch: the issue is at {issue.version}, "
                    f"the request expected {expected_version}",
                    current_version=issue.version,
                )
            event = decide(issue, command, actor=principal.actor, now=now, rules=self.rules)
            new = evolve(issue, event)
            repo.update_issue(conn, new, expected_version=issue.version)
            repo.append_event(conn, self.node, event, own=True)
        return new

    # ----------------------------------------------------------------- reads

    def light_of(self, issue: Issue) -> Light | None:
        return current_light(issue, self.clock.now(), self.rules.calendar)

    def get(self, principal: Principal, key: str) -> IssueView:
        with self.store.read() as conn:
            issue = repo.load_issue(conn, key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            timeline = repo.events_of(conn, issue.id)
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
        overdue: bool = False,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> IssuePage:
        credit_code = None
        if principal.role is Role.ENTERPRISE:
            credit_code = principal.credit_code
        else:
            require(principal, VIEW_POOL)
        now = self.clock.now()
        f = IssueFilter(
            states=states,
            tag=tag,
            board=board,
            department=department,
            credit_code=credit_code,
            overdue_at=now if overdue or light is Light.RED else None,
            text=text,
            limit=limit if light is None else 100_000,
            offset=offset if light is None else 0,
        )
        with self.store.read() as conn:
            found, total = repo.list_issues(conn, f)
        items = [(i, current_light(i, now, self.rules.calendar)) for i in found]
        if light is not None:
            # Lights depend on `now` and the calendar, so they are filtered after the query.
            items = [pair for pair in items if pair[1] is light]
            total = len(items)
            items = items[offset : offset + limit]
        return IssuePage(items=items, total=total)

    def auto_escalation_candidates(self, min_urges: int) -> list[str]:
        """Owned, open issues whose light is red and that were urged `min_urges` times."""
        now = self.clock.now()
        with self.store.read() as conn:
            found, _ = repo.list_issues(conn, IssueFilter(overdue_at=now, limit=10_000))
            return [
                i.id for i in found
                if i.owner == self.node and i.urge_count >= min_urges
                and (i.state, Action.ESCALATE) in TRANSITIONS
                and transfers.pending_for_issue(conn, i.id) is None
            ]

    def local_summary(self) -> Summary:
        """This node's summary from its own store (when no event streams run)."""
        now = self.clock.now()
        with self.store.read() as conn:
            lines = [summary_line(i, now, self.rules.calendar) for i in repo.all_issues(conn)]
        return summarize(self.node, lines, now=now, by_origin=True)

    def metrics(self, principal: Principal) -> Metrics:
        require(principal, VIEW_METRICS)
        now = self.clock.now()
        with self.store.read() as conn:
            facts = [self._facts(i, now) for i in repo.all_issues(conn)]
        return compute_metrics(facts, now=now, min_sample=self._min_sample)

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
        )

    # ----------------------------------------------------------------- revisit sampling

    def draw_revisit_sample(
        self, principal: Principal, *, period: str, share: float | None, salt: str
    ) -> StoredSample:
        """Draw this period's revisit sample from issues resolved in it, and store it."""
        require(principal, DRAW_SAMPLE)
        start, end = _period_bounds(period)
        now = self.clock.now()
        with self.store.write() as conn:
            # The frame: issues resolved in the month that are still resolved or closed as
            # resolved (a reopened issue is being handled again and cannot be revisited).
            frame = [
                i.id
                for i in repo.all_issues(conn)
                if i.resolved_at is not None
                and start <= i.resolved_at.astimezone(CST) < end
                and (i.state is State.RESOLVED or (i.state is State.CLOSED
                                                   and i.outcome == "resolved"))
            ]
            seed = make_seed(node=self.node, period=period, salt=salt)
            sample = draw_revisit_sample(
                frame, share=share if share is not None else self._revisit_share, seed=seed
            )
            sample_id = conn.execute(
                insert(revisit_samples)
                .values(
                    node=self.node,
                    period=period,
                    seed=sample.seed,
                    share=str(sample.share),
                    frame=list(sample.frame),
                    selected=list(sample.selected),
                    actor=principal.actor.label(),
                    created_at=now,
                )
                .returning(revisit_samples.c.id)
            ).scalar_one()
        return StoredSample(id=int(sample_id), period=period, actor=principal.actor.label(),
                            created_at=now, sample=sample)

    def get_revisit_sample(self, principal: Principal, sample_id: int) -> StoredSample:
        require(principal, VIEW_METRICS)
        with self.store.read() as conn:
            row = conn.execute(
                select(revisit_samples).where(revisit_samples.c.id == sample_id)
            ).first()
        if row is None:
            raise NotFound(f"未找到抽样 {sample_id}", f"no revisit sample {sample_id}")
        m = row._mapping
        return StoredSample(
            id=m["id"],
            period=m["period"],
            actor=m["actor"],
            created_at=m["created_at"],
            sample=RevisitSample(
                seed=m["seed"],
                share=Fraction(m["share"]),
                frame=tuple(m["frame"]),
                selected=tuple(m["selected"]),
            ),
        )


def _period_bounds(period: str) -> tuple[datetime, datetime]:
    """A month 'YYYY-MM' as [start, end) in China Standard Time."""
    try:
        year_s, month_s = period.split("-")
        year, month = int(year_s), int(month_s)
        start = datetime(year, month, 1, tzinfo=CST)
    except ValueError:
        raise ValidationError(
            "period", "抽样周期格式应为 YYYY-MM", "period must be a month as YYYY-MM"
        ) from None
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CST)
    return start, end


class AccountService:
    """Logins and account management."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def authenticate(self, username: str, password: str) -> Principal:
        with self.store.read() as conn:
            found = users.get_user(conn, username)
        if found is None or not found[2] or not verify_password(password, found[1]):
            raise Unauthenticated("用户名或密码错误", "wrong username or password")
        return found[0]

    def principal(self, username: str) -> Principal:
        with self.store.read() as conn:
            found = users.get_user(conn, username)
        if found is None or not found[2]:
            raise Unauthenticated("账号不存在或已停用", "unknown or disabled account")
        return found[0]

    def add(self, principal: Principal, password: str) -> None:
        check_text("username", principal.username, max_len=40)
        check_text("password", password, max_len=200, min_len=8)
        if principal.role is Role.ENTERPRISE:
            if principal.credit_code is None:
                raise ValidationError("credit_code", "企业账号需要统一社会信用代码",
                                      "an enterprise account needs a credit code")
            validate_credit_code(principal.credit_code)
        try:
            with self.store.write() as conn:
                users.add_user(
                    conn, principal, password_hash=hash_password(password), now=self.clock.now()
                )
        except IntegrityError:
            raise Conflict(
                f"账号 {principal.username} 已存在", f"account {principal.username} exists"
            ) from None

    def count(self) -> int:
        with self.store.read() as conn:
            return users.count_users(conn)
