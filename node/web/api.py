"""The people-facing JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json).

Routes are thin: parse the body (pydantic), resolve the caller from the bearer token,
call one use case (node/app: IssueService, TransferService, and Forwarding for what depends
on the node's place in the tiers), shape the answer. Every refusal is a DomainError and is
rendered by node/web/problems.py; nothing is written unless the use case's transaction
commits.
Handlers are plain `def`: FastAPI runs them in its thread pool, which suits the
synchronous SQLAlchemy store.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from node.app.attachments import AttachmentService
from node.app.audit import AuditService, ContactReads, bind_principal
from node.app.auth import TokenSigner
from node.app.cases import CaseService
from node.app.duplicates import DuplicateService
from node.app.enterprise_signin import EnterpriseSignIn
from node.app.exports import ExportService
from node.app.floors import RulesService
from node.app.forwarding import Forwarding, Outcome
from node.app.imports import ImportJobs
from node.app.index import IndexService
from node.app.intake import IntakeService
from node.app.live import Live
from node.app.meetings import MeetingService
from node.app.notify import NotifyService
from node.app.open311 import Open311Service, Open311Setup
from node.app.policies import PolicyService
from node.app.policy import VIEW_METRICS, Principal, Role, require
from node.app.reports import ReportService
from node.app.revisits import RevisitService
from node.app.rollup import Rollup
from node.app.service import AccountService, IssueService
from node.app.stats import StatsService
from node.app.tags import TagService
from node.app.transfers import TransferService
from node.domain.audit import mask_contacts, mask_phone
from node.domain.channels import DEFAULT_CHANNELS, ChannelSpec
from node.domain.deadlines import Light
from node.domain.errors import DomainError, Unauthenticated
from node.domain.issue import Issue, State
from node.domain.lifecycle import (
    Assign,
    Close,
    Command,
    Rate,
    Reject,
    Resolve,
    ReviewRejection,
    Revisit,
    Start,
    Submit,
    Triage,
    Urge,
)
from node.domain.search import Snippet
from node.domain.summary import Summary
from node.web import guards, observability, problems, unitnames
from node.web.schemas import (
    NODE_CODE,
    AssignIn,
    DirectiveIn,
    DispatchIn,
    ErrorOut,
    EscalateIn,
    EventOut,
    IssueDetailOut,
    IssueOut,
    IssuePageOut,
    LoginIn,
    MeOut,
    NoteIn,
    RateIn,
    RejectIn,
    ResolveIn,
    ReturnIn,
    ReviewIn,
    RevisitIn,
    SampleIn,
    SampleOut,
    SnippetOut,
    SubmitIn,
    TokenOut,
    TriageIn,
    VersionedIn,
)

API = "/api/v1"
SQL_INTEGER_MAX = 2**63 - 1  # the largest id a BIGINT column holds


class StreamsView(Protocol):
    """What the API and /metrics read of the node's event streams (node/runtime.Streams)."""

    @property
    def summaries(self) -> Rollup: ...
    @property
    def latest(self) -> Summary | None: ...
    def applied_count(self) -> int: ...
    def last_lag_s(self) -> float: ...
    def dead_letters_waiting(self) -> int: ...
    def malformed_summaries(self) -> dict[str, int]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Services:
    node: str
    node_name: str
    issues: IssueService
    accounts: AccountService
    tokens: TokenSigner
    transfers: TransferService
    #: the node's event streams (NATS enabled): live summary, replication stats
    streams: StreamsView | None = None
    stuck_after: timedelta = timedelta(hours=1)
    #: notifications (config notify.enabled): inbox, outbox, dispatcher (node/app/notify.py)
    notify: NotifyService | None = None
    #: a larger request body is refused with 413 (config http.max_body_bytes)
    max_body_bytes: int = guards.DEFAULT_MAX_BODY_BYTES
    #: the cockpit's weekly series and rankings (node/web/stats_api.py)
    stats: StatsService | None = None
    #: exports of the pool and the cockpit, and imports (node/web/files_api.py)
    exports: ExportService | None = None
    imports: ImportJobs | None = None
    #: revisit acceptance: one sample per period, the tasks, the audit (node/web/revisits_api.py)
    revisits: RevisitService | None = None
    #: the joint meeting: agenda and decisions (node/web/meetings_api.py)
    meetings: MeetingService | None = None
    #: the rules in force within the floors set from above (node/web/admin_rules.py)
    rules: RulesService | None = None
    #: the tag library (node/web/admin_tags.py)
    tags: TagService | None = None
    #: periodic reports: made after each period, kept, downloaded (node/web/reports_api.py)
    reports: ReportService | None = None
    #: the audit trail: recording, reading, exporting (node/app/audit.py, audit_api.py)
    audit: AuditService | None = None
    #: enterprises' sign-in by SMS code (node/web/enterprise_signin.py)
    enterprise_signin: EnterpriseSignIn | None = None
    #: staff intake's channels (config `[intake]`) and its batch size (node/web/intake_api.py)
    intake_channels: tuple[ChannelSpec, ...] = DEFAULT_CHANNELS
    intake_max_rows: int = 50
    #: Open311 GeoReport v2 (node/web/open311.py): client keys store and catalogue
    open311_setup: Open311Setup | None = None
    #: live updates of the screens: server-sent events (node/web/live.py)
    live: Live | None = None
    #: the 有感指数 ranking and its external evaluations (node/web/index_api.py)
    index: IndexService | None = None
    #: likely duplicates (疑似重复) at intake and triage (node/web/duplicates_api.py)
    duplicates: DuplicateService | None = None
    #: files on the issues (node/app/attachments.py, node/web/attachments_api.py)
    attachments: AttachmentService | None = None
    #: the policy library (政策库) and matching (node/web/policies_api.py)
    policies: PolicyService | None = None
    #: reviews (问题复盘) and the case library (node/web/cases_api.py)
    cases: CaseService | None = None
    #: where an action is carried out (here or another tier), built from the two above
    forwarding: Forwarding = field(init=False)
    intake: IntakeService = field(init=False)
    open311: Open311Service | None = field(init=False)
    contacts: ContactReads = field(init=False)  # an issue's contact details, recorded

    def __post_init__(self) -> None:
        object.__setattr__(self, "forwarding",
                           Forwarding(issues=self.issues, transfers=self.transfers))
        object.__setattr__(self, "intake", IntakeService(
            issues=self.issues, channels=self.intake_channels, max_rows=self.intake_max_rows))
        object.__setattr__(self, "open311", None if self.open311_setup is None else Open311Service(
            setup=self.open311_setup, intake=self.intake, channels=self.intake_channels,
            node=self.node, node_name=self.node_name, clock=self.issues.clock))
        object.__setattr__(self, "contacts", ContactReads(issues=self.issues, audit=self.audit))


_bearer = HTTPBearer(auto_error=False)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 422, 429)
}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def _principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("login_required")
    username, generation = services.tokens.claims(credentials.credentials)
    principal = services.accounts.principal(username, generation)
    bind_principal(principal)  # the request's caller, for the audit trail
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]

router = APIRouter(prefix=API, responses=_ERRORS)


def _out(services: Services, principal: Principal, issue: Issue, light: Light | None,
         *, pending: bool = False) -> IssueOut:
    out = IssueOut.of(issue, light, services.forwarding.actions(principal, issue, pending=pending))
    if principal.role is not Role.ENTERPRISE:  # staff open it, recorded: GET …/contact
        out.enterprise.contact_phone = mask_phone(out.enterprise.contact_phone)
    return unitnames.named(out, issue, services.issues.units)  # names of the unit ids


def _outcome(services: Services, principal: Principal, done: Outcome,
             response: Response) -> IssueOut:
    """An action done here (200), or queued for another tier (202 and its transfer id)."""
    if done.transfer_id is not None:
        response.status_code = 202
        response.headers["X-Transfer-Id"] = done.transfer_id
    return _out(services, principal, done.issue, done.light)


@router.get("/health", tags=["operations"])
def health(services: ServicesDep) -> dict[str, str]:
    return {"status": "ok", "node": services.node, "name": services.node_name}


@router.post("/auth/login", response_model=TokenOut, tags=["auth"])
def login(body: LoginIn, services: ServicesDep, request: Request) -> TokenOut:
    """Sign in. Repeated failures (per account name and per address) are answered 429
    `login_throttled` / `login_locked` with Retry-After (node/app/accounts.py)."""
    # no account holds a control character; NUL would not even reach PostgreSQL's query
    guards.check_param("username", body.username)
    guards.check_param("password", body.password)
    address = request.client.host if request.client else None
    try:
        signed = services.accounts.sign_in(body.username, body.password, address=address)
    except DomainError as exc:  # a failed sign-in, with its reason, in the audit trail
        if services.audit is not None:
            services.audit.login(body.username, address=address, principal=None,
                                 refused=exc.code)
        raise
    principal = signed.principal
    if services.audit is not None:
        services.audit.login(body.username, address=address, principal=principal)
    return TokenOut(
        access_token=services.tokens.issue(principal.username, signed.token_generation),
        expires_in=services.tokens.ttl_seconds,
        role=principal.role.value,
        display_name=principal.display_name,
    )


@router.get("/me", response_model=MeOut, tags=["auth"])
def me(principal: PrincipalDep, services: ServicesDep) -> MeOut:
    return MeOut(
        username=principal.username,
        role=principal.role.value,
        display_name=principal.display_name,
        credit_code=principal.credit_code,
        department=principal.department,
        board=principal.board,
        node=services.node,
    )


@router.post("/issues", response_model=IssueOut, status_code=201, tags=["issues"])
def submit_issue(
    body: SubmitIn,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=80)] = None,
) -> IssueOut:
    """Submit an issue. Send an `Idempotency-Key` header to make retries safe."""
    issue, created = services.issues.submit(
        principal,
        Submit(
            enterprise_name=body.enterprise_name,
            credit_code=body.credit_code,
            contact_phone=body.contact_phone,
            channel=body.channel,
            title=body.title,
            content=body.content,
            tags=tuple(body.tags),
        ),
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"{API}/issues/{issue.id}"
    return _out(services, principal, issue, services.issues.light_of(issue))


@router.get("/issues", response_model=IssuePageOut, tags=["issues"])
def list_issues(
    principal: PrincipalDep,
    services: ServicesDep,
    state: Annotated[list[State] | None, Query()] = None,
    light: Light | None = None,
    tag: Annotated[str | None, Query(max_length=30)] = None,
    board: Annotated[str | None, Query(max_length=60)] = None,
    department: Annotated[str | None, Query(max_length=60)] = None,
    unit: Annotated[str | None, Query(max_length=40,
                                      description="a unit id: the issues in its queue")] = None,
    step: Annotated[int | None, Query(ge=0, le=20, description="a ladder step")] = None,
    origin: Annotated[str | None, Query(pattern=NODE_CODE,
                                        description="submitted at this unit (node code)")] = None,
    owner: Annotated[str | None, Query(pattern=NODE_CODE,
                                       description="held now by this unit (node code)")] = None,
    overdue: bool = False,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="a page's next_cursor")] = None,
) -> IssuePageOut:
    page = services.issues.list_issues(
        principal,
        states=tuple(state or ()),
        light=light,
        tag=tag,
        board=board,
        department=department,
        in_unit=unit,
        ladder_step=step,
        origin=origin,
        owner=owner,
        overdue=overdue,
        text=q,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return IssuePageOut(
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
        items=[_hit(_out(services, principal, i, lt), page.snippets.get(i.id))
               for i, lt in page.items],
        next_cursor=page.next_cursor,
    )


def _hit(out: IssueOut, found: Snippet | None) -> IssueOut:
    """A pool row with the snippet of a search hit."""
    if found is not None:
        out.snippet = SnippetOut(field=found.field, text=found.text,
                                 marks=[(s, e) for s, e in found.marks])
    return out


@router.get("/issues/{key}", response_model=IssueDetailOut, tags=["issues"])
def get_issue(key: str, principal: PrincipalDep, services: ServicesDep) -> IssueDetailOut:
    """An issue by global id or number, with its full timeline."""
    view = services.issues.get(principal, key)
    base = _out(services, principal, view.issue, view.light,
                pending=services.transfers.is_pending(view.issue.id))
    public = principal.role is Role.ENTERPRISE
    timeline = [EventOut.of(e, public=public) for e in view.timeline]
    if not public:  # the phone of the receipt event too (node/domain/audit.py)
        for out in timeline:
            out.payload = mask_contacts(out.payload)
    return IssueDetailOut(**base.model_dump(), timeline=timeline)


def _act(
    services: Services, principal: Principal, key: str, command: Command, body: VersionedIn
) -> IssueOut:
    issue = services.issues.act(principal, key, command, expected_version=body.expected_version)
    return _out(services, principal, issue, services.issues.light_of(issue))




@router.post("/issues/{key}/triage", response_model=IssueOut, tags=["actions"])
def triage(key: str, body: TriageIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """研判: set tags (and optionally the board)."""
    return _act(s, p, key, Triage(tags=tuple(body.tags), board=body.board, note=body.note), body)


@router.post("/issues/{key}/assign", response_model=IssueOut, tags=["actions"])
def assign(key: str, body: AssignIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """交办: dispatch to a department (and board); starts the resolve deadline."""
    cmd = Assign(department=body.department, board=body.board, note=body.note)
    return _act(s, p, key, cmd, body)


@router.post("/issues/{key}/start", response_model=IssueOut, tags=["actions"])
def start(key: str, body: NoteIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    return _act(s, p, key, Start(note=body.note), body)


@router.post("/issues/{key}/resolve", response_model=IssueOut, tags=["actions"])
def resolve(key: str, body: ResolveIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """办结: resolve with a reply to the enterprise."""
    return _act(s, p, key, Resolve(reply=body.reply), body)


@router.post("/issues/{key}/reject", response_model=IssueOut, tags=["actions"])
def reject(key: str, body: RejectIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """不予受理/退回: needs a reason; opens a review with its own deadline."""
    return _act(s, p, key, Reject(reason=body.reason), body)


@router.post("/issues/{key}/review", response_model=IssueOut, tags=["actions"])
def review(key: str, body: ReviewIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """否定报备审核: confirm the rejection (closes) or overturn it (back to triage)."""
    cmd = ReviewRejection(confirm=body.decision == "confirm", comment=body.comment)
    return _act(s, p, key, cmd, body)


@router.post("/issues/{key}/ladder", response_model=IssueOut, tags=["actions"])
def ladder_up(
    key: str, body: NoteIn, p: PrincipalDep, s: ServicesDep, response: Response
) -> IssueOut:
    """Move one step up the in-node ladder (board → centre → 兜底办 → joint meeting); past
    the last step the issue is escalated to the next tier (202, transfer pending)."""
    done = s.forwarding.ladder_up(p, key, body.note, expected_version=body.expected_version)
    return _outcome(s, p, done, response)


@router.post("/issues/{key}/escalate", response_model=IssueOut, status_code=202,
             tags=["federation"])
def escalate(key: str, body: EscalateIn, p: PrincipalDep, s: ServicesDep,
             response: Response) -> IssueOut:
    """上报: hand the issue to the next tier. Accepted (202) once queued; the issue shows
    `escalated` when the parent has accepted it (`GET /federation/outbox` shows progress)."""
    return _outcome(s, p, s.forwarding.escalate(p, key, body.reason), response)


@router.post("/issues/{key}/return", response_model=IssueOut, status_code=202,
             tags=["federation"])
def return_down(key: str, body: ReturnIn, p: PrincipalDep, s: ServicesDep,
                response: Response) -> IssueOut:
    """退回: hand an escalated issue back to the child it came from, with instructions."""
    transfer_id = s.transfers.request_return(p, key, body.instructions)
    view = s.issues.get(p, key)
    response.headers["X-Transfer-Id"] = transfer_id
    return _out(s, p, view.issue, view.light)


@router.get("/summary", tags=["metrics"])
def summary(
    principal: PrincipalDep,
    services: ServicesDep,
    depth: Annotated[int, Query(ge=0, le=2, description="levels of child units")] = 2,
) -> dict[str, Any]:
    """The node's subtree summary (counts, lights, rates, overdue numbers and titles, top
    tags; per child unit). No enterprise data: this is what the province sees."""
    require(principal, VIEW_METRICS)
    if services.streams is not None:
        source = services.streams.summaries
        latest = source.latest or source.compute()
    else:
        latest = services.issues.local_summary()
    result: dict[str, Any] = latest.to_dict(depth=depth)
    return result


@router.post("/issues/{key}/supervise", status_code=202, tags=["federation"])
def supervise(key: str, body: DirectiveIn, p: PrincipalDep, s: ServicesDep,
              response: Response) -> dict[str, str]:
    """督办 / urge an issue owned by a unit below this node (by id or number, also one
    this node only knows from a summary). Routed down to the owner, recorded once there."""
    transfer_id = s.transfers.request_directive(p, key, body.kind, body.note)
    response.headers["X-Transfer-Id"] = transfer_id
    return {"transfer_id": transfer_id, "status": "queued"}


@router.post("/issues/{key}/dispatch", response_model=IssueOut, status_code=202,
             tags=["federation"])
def dispatch(key: str, body: DispatchIn, p: PrincipalDep, s: ServicesDep,
             response: Response) -> IssueOut:
    """交办下级: hand an issue this node owns to a child unit; its progress flows back up."""
    transfer_id = s.transfers.request_dispatch(p, key, body.to, body.instructions)
    response.headers["X-Transfer-Id"] = transfer_id
    view = s.issues.get(p, key)
    return _out(s, p, view.issue, view.light)


@router.get("/federation/outbox", tags=["federation", "operations"])
def outbox(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """Transfers waiting per destination (depth, oldest age, stuck, backoff) and refusals."""
    require(principal, VIEW_METRICS)
    return services.transfers.outbox_status(services.stuck_after)


@router.post("/issues/{key}/urge", response_model=IssueOut, tags=["actions"])
def urge(key: str, body: NoteIn, p: PrincipalDep, s: ServicesDep,
         response: Response) -> IssueOut:
    """催办: an enterprise may urge once per 24 h (forwarded to the owning tier, 202, when
    the issue was escalated)."""
    done = s.forwarding.enterprise_act(p, key, Urge(note=body.note),
                                       expected_version=body.expected_version)
    return _outcome(s, p, done, response)


@router.post("/issues/{key}/rate", response_model=IssueOut, tags=["actions"])
def rate(key: str, body: RateIn, p: PrincipalDep, s: ServicesDep,
         response: Response) -> IssueOut:
    """评价: satisfied closes the issue; unsatisfied reopens it (forwarded to the owning
    tier, 202, when the issue was escalated)."""
    done = s.forwarding.enterprise_act(p, key, Rate(rating=body.rating, comment=body.comment),
                                       expected_version=body.expected_version)
    return _outcome(s, p, done, response)


@router.post("/issues/{key}/close", response_model=IssueOut, tags=["actions"])
def close(key: str, body: NoteIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    return _act(s, p, key, Close(note=body.note), body)


@router.post("/issues/{key}/revisit", response_model=IssueOut, tags=["actions"])
def revisit(key: str, body: RevisitIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """回访: record the result of a revisit call."""
    return _act(s, p, key, Revisit(result=body.result, note=body.note, contact=body.contact),
                body)


@router.get("/metrics", tags=["metrics"])
def metrics(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return services.issues.metrics(principal).to_dict()


@router.post("/revisit-samples", response_model=SampleOut, status_code=201, tags=["metrics"])
def draw_sample(body: SampleIn, principal: PrincipalDep, services: ServicesDep) -> SampleOut:
    """Draw this month's revisit sample (回访抽查) from the issues resolved in it: once per
    period; a leader re-draws only with a `reason` (the first draw is kept)."""
    assert services.revisits is not None  # node.runtime.build always sets it
    stored = services.revisits.draw(
        principal, period=body.period, share=body.share, salt=secrets.token_hex(8),
        reason=body.reason,
    )
    return SampleOut.of(stored)


@router.get("/revisit-samples/{sample_id}", response_model=SampleOut, tags=["metrics"])
def get_sample(
    sample_id: Annotated[int, Path(ge=1, le=SQL_INTEGER_MAX)],
    principal: PrincipalDep,
    services: ServicesDep,
) -> SampleOut:
    """A stored sample with its seed and frame, so that anyone can re-draw and compare."""
    assert services.revisits is not None
    return SampleOut.of(services.revisits.get(principal, sample_id))


def create_app(services: Services) -> FastAPI:
    """The node's app: its own state (the services), exception handlers and middleware,
    around the route table every app of this process shares (`_route_table`)."""
    app = FastAPI(
        title=f"Zhitong node {services.node} {services.node_name}",
        version="1",
        openapi_url=None,  # served by the shared table, from the asking app (its own title)
        docs_url=None,  # Swagger UI loads assets from a CDN; government networks are offline
        redoc_url=None,
    )
    app.state.services = services
    app.router = _route_table()
    problems.install(app)
    from node.web import (
        attachments_api,
        audit_api,  # the audit trail: the request's caller, 403s recorded
        files_api,
        headers,
    )

    app.add_middleware(audit_api.CallerContext, audit=services.audit)
    # phones on slow links and the province's summary: compress what is worth it
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    # (the last added runs first) no NUL or other control character in an API URL; no
    # body over the limit, refused before it is read
    app.add_middleware(guards.CleanParams, prefix=API)
    app.add_middleware(guards.BodyLimit, max_bytes=services.max_body_bytes,
                       larger={files_api.IMPORTS_PATH: files_api.MAX_IMPORT_BYTES},
                       limit_of=attachments_api.upload_limit(services))
    app.add_middleware(unitnames.RequestLanguage)  # the language unit names are shown in
    app.add_middleware(headers.NoSniff)
    observability.install(app, services)
    return app


async def _openapi(request: Request) -> JSONResponse:
    """The asking app's OpenAPI document (its title names its node; cached per app)."""
    return JSONResponse(request.app.openapi())


@functools.cache
def _route_table() -> APIRouter:
    """Every route of the node, built once per process and shared by every app in it.

    The routes read their node's services from the asking app's state (`_services`), so
    one table serves every unit a process hosts (`zhitong host`). FastAPI builds an
    included router's route models on its first match, per table: a table per app cost
    each hosted unit ~0.15 s of CPU on its first request, on top of building the table."""
    table = FastAPI(openapi_url=None, docs_url=None, redoc_url=None).router
    table.add_route(f"{API}/openapi.json", _openapi, include_in_schema=False)
    from node.web import (
        admin_accounts,  # account administration
        admin_organisation,  # the organisation as one file
        admin_rules,  # the rules in force, this node's own rules
        admin_tags,  # the tag library
        admin_units,  # the organisation units and their administration
        attachments_api,  # files on the issues: upload streamed, download
        audit_api,  # contact details on request, the audit log
        cases_api,  # reviews (问题复盘) and the case library (案例库)
        duplicates_api,  # likely duplicates and 并单 (merge, unmerge)
        enterprise_signin,  # enterprises sign in by SMS code; staff ratings
        files_api,  # before `router`: /issues/export is no issue key
        inbox,  # notifications: the inbox and the operators' outbox
        index_api,  # the 有感指数: ranking (晾晒比拼), evaluations
        intake_api,  # staff intake (综合受理), enterprise lookup
        live,  # server-sent events: the screens update without reload
        meetings_api,  # the joint meeting: agenda and decisions
        open311,  # Open311 GeoReport v2 and its client keys
        policies_api,  # the policy library (政策库) and matching
        reports_api,  # periodic reports: list, download, generate
        reviews_api,  # rejections waiting for review, the overdue ones
        revisits_api,  # revisit acceptance: draws, tasks, results, audit
        stats_api,  # the cockpit's series, division names
        ui,  # the people's screens under /ui/ (no CDN)
    )

    for part in (files_api.router, attachments_api.router, router, inbox.router,
                 stats_api.router, intake_api.router, admin_accounts.router,
                 admin_tags.router, admin_units.router, admin_organisation.router,
                 reviews_api.router, revisits_api.router, meetings_api.router,
                 *open311.routers(), admin_rules.router, enterprise_signin.router,
                 reports_api.router, index_api.router, duplicates_api.router,
                 policies_api.router, cases_api.router, audit_api.router, live.router,
                 ui.router):
        table.include_router(part)
    table.mount(ui.STATIC_URL, ui.static_files(), name="ui-static")
    table.include_router(observability.router)
    return table
