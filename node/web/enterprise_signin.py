"""Enterprises sign in by SMS code, and staff record a rating taken by phone, over HTTP.

* `POST /api/v1/auth/enterprise/code` `{credit_code}` — 202 `{expires_in, resend_after}`,
  the same for every well-formed credit code (known or not), after the same writes; the
  SMS is queued after the answer (a background task) and sent by the notification
  outbox's dispatcher. 429 `signin_code_too_soon` / `signin_too_many` with
  Retry-After.
* `POST /api/v1/auth/enterprise/verify` `{credit_code, code}` — the session of the staff
  login (`TokenOut`: bearer token, expiry, role, name); 401 `signin_code_invalid` for any
  wrong, stale or unknown code; 429 once the address or phone made too many wrong guesses.
* `POST /api/v1/auth/enterprise/window-code` `{credit_code}` — staff at the window
  (`submit_any_channel`): a code for that credit code, shown in this answer only.
* `POST /api/v1/issues/{key}/staff-rating` `{rating, comment, contact}` — a rating taken
  during a revisit, recorded by staff with the revisit permission (node/app/staff_ratings.py).
* `GET /api/v1/auth/oidc/start`, `GET /api/v1/auth/oidc/callback` — signing in through the
  node's OpenID Connect provider ([sso], node/sso/oidc.py), when one is configured.

Thin like node/web/api.py: parse, call one use case, shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from node.app.enterprise_signin import EnterpriseSignIn
from node.app.staff_ratings import StaffRatings
from node.domain.errors import NotFound
from node.domain.issue import ContactMethod, Rating
from node.web import guards
from node.web.api import _ERRORS, API, PrincipalDep, Services, ServicesDep, _out
from node.web.schemas import IssueOut, Note, TokenOut

router = APIRouter(prefix=API, responses=_ERRORS)
_STRICT = ConfigDict(extra="forbid")


class CodeIn(BaseModel):
    model_config = _STRICT
    credit_code: str = Field(min_length=1, max_length=40)


class CodeOut(BaseModel):
    status: str = "sent_if_known"  # the same whether the credit code is known or not
    expires_in: int
    resend_after: int


class VerifyIn(BaseModel):
    model_config = _STRICT
    credit_code: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=20)


class WindowCodeOut(BaseModel):
    credit_code: str
    code: str
    expires_at: datetime


class StaffRatingIn(BaseModel):
    model_config = _STRICT
    rating: Rating
    comment: str | None = Note
    contact: ContactMethod = ContactMethod.PHONE
    expected_version: int | None = Field(default=None, ge=1)


def _signin(services: Services) -> EnterpriseSignIn:
    if services.enterprise_signin is None:  # pragma: no cover - node.runtime.build sets it
        raise NotFound("not_found")
    return services.enterprise_signin


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/auth/enterprise/code", response_model=CodeOut, status_code=202,
             tags=["auth"])
def request_code(body: CodeIn, services: ServicesDep, request: Request,
                 background: BackgroundTasks) -> CodeOut:
    """获取验证码: an SMS code to the phone on record of the credit code's issues here
    (queued after the answer is sent, whether the credit code is known or not)."""
    guards.check_param("credit_code", body.credit_code)
    signin = _signin(services)
    done = signin.request_code(body.credit_code, address=_address(request))
    background.add_task(signin.send, done.pending)
    return CodeOut(expires_in=done.answer.expires_in_s,
                   resend_after=done.answer.resend_after_s)


@router.post("/auth/enterprise/verify", response_model=TokenOut, tags=["auth"])
def verify(body: VerifyIn, services: ServicesDep, request: Request) -> TokenOut:
    """登录: the credit code and its code; the account is created on first sign-in."""
    guards.check_param("credit_code", body.credit_code)
    guards.check_param("code", body.code)
    signed = _signin(services).verify(body.credit_code, body.code, address=_address(request))
    principal = signed.principal
    return TokenOut(
        access_token=services.tokens.issue(principal.username, signed.token_generation),
        expires_in=services.tokens.ttl_seconds,
        role=principal.role.value,
        display_name=principal.display_name,
    )


@router.post("/auth/enterprise/window-code", response_model=WindowCodeOut, status_code=201,
             tags=["auth"])
def window_code(body: CodeIn, principal: PrincipalDep, services: ServicesDep,
                response: Response) -> WindowCodeOut:
    """A code given at the window (综合窗口) by staff, shown once."""
    guards.check_param("credit_code", body.credit_code)
    given = _signin(services).window_code(principal, body.credit_code)
    response.headers["Cache-Control"] = "no-store"
    return WindowCodeOut(credit_code=given.credit_code, code=given.code,
                         expires_at=given.expires_at)


@router.post("/issues/{key}/staff-rating", response_model=IssueOut, tags=["actions"])
def staff_rating(key: str, body: StaffRatingIn, p: PrincipalDep, s: ServicesDep) -> IssueOut:
    """代录评价: a rating the enterprise gave during a revisit call, recorded by staff."""
    issue = StaffRatings(issues=s.issues).record(
        p, key, body.rating, comment=body.comment, contact=body.contact,
        expected_version=body.expected_version)
    return _out(s, p, issue, s.issues.light_of(issue))


# --------------------------------------------------------------------------- OpenID Connect

OIDC_COOKIE = "zt_oidc"
OIDC_PATH = f"{API}/auth/oidc"


@router.get("/auth/oidc/start", status_code=302, tags=["auth"])
def oidc_start(services: ServicesDep, request: Request) -> RedirectResponse:
    """统一身份认证 (浙里办 企业码): off to the identity provider ([sso])."""
    url, state = _signin(services).external_start()
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(OIDC_COOKIE, state, max_age=600, path=OIDC_PATH, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/auth/oidc/callback", status_code=302, tags=["auth"])
def oidc_callback(services: ServicesDep, request: Request,
                  code: Annotated[str, Query(min_length=1, max_length=2000)],
                  state: Annotated[str, Query(min_length=1, max_length=200)]) -> RedirectResponse:
    """Back from the provider: the portal, signed in (the session in the URL fragment, which
    no server sees: static/portal_signin.js keeps it like a password login's)."""
    signin = _signin(services)
    signed = signin.external_finish(code=code, state=state,
                                    cookie=request.cookies.get(OIDC_COOKIE),
                                    address=_address(request))
    token = services.tokens.issue(signed.principal.username, signed.token_generation)
    fragment = urlencode({"sso": token, "expires_in": services.tokens.ttl_seconds})
    portal = signin.provider_portal or "/ui/portal"
    response = RedirectResponse(f"{portal}#{fragment}", status_code=302)
    response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
