"""The people's screens, served by every node under /ui/ (zh-CN first, English available).

Four screens, each a page that calls the JSON API (/api/v1) from a small hand-written
script with the bearer token kept in sessionStorage:

* /ui/portal     — enterprises: log in with the credit code, submit, follow, urge, rate
* /ui/workbench  — staff: the pool with filters, an issue's actions, outbox, revisit samples
* /ui/cockpit    — a city's 驾驶舱: live counts, units, tags, overdue and case lists, CSV, report
* /ui/phone      — the province's phone summary: units with lights and rates, drill-down

Nothing is loaded from outside the node (government networks are offline): the CSS and
JavaScript are served from `static/`, fonts are the system's. Every user-visible string is
in one dictionary per language, `static/i18n/<lang>.json`; the page is rendered in the
chosen language and carries the strings its script needs as a JSON data block. The
language comes from `?lang=` (remembered in a cookie), default zh-CN.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
STATIC_URL = "/ui/static"
LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "zt_lang"
API_PATH = "/api/v1"

#: No asset from anywhere but the node itself; no inline script (data blocks are not run).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def load_strings() -> dict[str, dict[str, str]]:
    """Every language's dictionary (flat keys such as "portal.submit.title")."""
    out: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        raw = json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise ValueError(f"static/i18n/{lang}.json must map string keys to strings")
        out[lang] = raw
    return out


def _asset_version() -> str:
    """A short hash of every static file, appended to asset URLs to bust caches."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


STRINGS = load_strings()
ASSET_VERSION = _asset_version()

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Screen:
    template: str
    title: str  # string key
    app: str  # which session (token) the page uses: portal | staff | phone
    sections: tuple[str, ...]  # string-key prefixes its script needs


_COMMON = ("common.", "app.", "state.", "light.", "event.", "deadline.", "role.", "err.")
SCREENS: dict[str, Screen] = {
    "home": Screen(template="home.html", title="home.title", app="home", sections=()),
    "portal": Screen(template="portal.html", title="portal.title", app="portal",
                     sections=(*_COMMON, "portal.", "rating.", "channel.")),
    "portal_issue": Screen(template="portal_issue.html", title="portal.issue.title",
                           app="portal", sections=(*_COMMON, "portal.", "rating.", "channel.",
                                                   "policies.", "attachments.")),
    "workbench": Screen(template="workbench.html", title="workbench.title", app="staff",
                        sections=(*_COMMON, "workbench.")),
    "workbench_issue": Screen(template="workbench_issue.html", title="workbench.issue.title",
                              app="staff",
                              sections=(*_COMMON, "workbench.", "action.", "rating.",
                                        "channel.", "revisit.", "ladder.", "unit.",
                                        "policies.", "attachments.")),
    "workbench_ops": Screen(template="workbench_ops.html", title="workbench.ops.title",
                            app="staff",
                            sections=(*_COMMON, "workbench.", "ops.", "unit.", "revisit.")),
    "workbench_meeting": Screen(template="workbench_meeting.html", title="meeting.title",
                                app="staff", sections=(*_COMMON, "workbench.", "meeting.")),
    "workbench_import": Screen(template="workbench_import.html", title="import.heading",
                               app="staff", sections=(*_COMMON, "workbench.", "import.")),
    "workbench_intake": Screen(template="workbench_intake.html", title="intake.heading",
                               app="staff", sections=(*_COMMON, "workbench.", "intake.",
                                                      "policies.")),
    "workbench_accounts": Screen(template="workbench_accounts.html", title="accounts.title",
                                 app="staff", sections=(*_COMMON, "workbench.", "accounts.")),
    "workbench_tags": Screen(template="workbench_tags.html", title="tags.title",
                             app="staff", sections=(*_COMMON, "workbench.", "tags.", "action.")),
    "workbench_policies": Screen(template="workbench_policies.html", title="policies.title",
                                 app="staff", sections=(*_COMMON, "workbench.", "policies.")),
    "workbench_units": Screen(template="workbench_units.html", title="units.title",
                              app="staff", sections=(*_COMMON, "workbench.", "units.")),
    "workbench_open311": Screen(template="workbench_open311.html", title="open311.title",
                                app="staff", sections=(*_COMMON, "workbench.", "open311.")),
    "workbench_audit": Screen(template="workbench_audit.html", title="audit.title",
                              app="staff", sections=(*_COMMON, "workbench.", "audit.")),
    "workbench_reports": Screen(template="workbench_reports.html", title="reports.title",
                                app="staff", sections=(*_COMMON, "workbench.", "reports.")),
    "workbench_rules": Screen(template="workbench_rules.html", title="rules.title",
                              app="staff", sections=(*_COMMON, "workbench.", "rules.",
                                                     "channel.")),
    "workbench_ranking": Screen(template="workbench_ranking.html", title="ranking.title",
                                app="staff", sections=(*_COMMON, "workbench.", "ranking.")),
    "workbench_cases": Screen(template="workbench_cases.html", title="cases.title",
                              app="staff", sections=(*_COMMON, "workbench.", "cases.")),
    "cockpit": Screen(template="cockpit.html", title="cockpit.title", app="staff",
                      sections=(*_COMMON, "cockpit.", "unit.", "channel.")),
    "cockpit_report": Screen(template="cockpit_report.html", title="cockpit.report.title",
                             app="staff", sections=(*_COMMON, "cockpit.", "unit.")),
    "phone": Screen(template="phone.html", title="phone.title", app="phone",
                    sections=("common.", "app.", "light.", "err.", "phone.")),  # names: /divisions
}


def choose_lang(request: Request) -> tuple[str, bool]:
    """(language, whether it was chosen now through ?lang= and must be remembered)."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, True
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGS:
        return remembered, False
    return DEFAULT_LANG, False


def _translator(lang: str) -> Any:
    strings = STRINGS[lang]

    def t(key: str, **values: Any) -> str:
        text = strings[key]  # a missing key is a bug: fail loudly (KeyError → 500)
        return text.format(**values) if values else text

    return t


def render(request: Request, screen_name: str, **context: Any) -> HTMLResponse:
    screen = SCREENS[screen_name]
    lang, chosen = choose_lang(request)
    services = request.app.state.services
    strings = STRINGS[lang]
    root = request.scope.get("root_path", "")
    page_strings = {k: v for k, v in strings.items() if k.startswith(screen.sections)}
    html = _env.get_template(screen.template).render(
        lang=lang,
        langs=LANGS,
        t=_translator(lang),
        strings=page_strings,
        page=screen_name,
        app_key=screen.app,
        title_key=screen.title,
        node=services.node,
        node_name=services.node_name,
        api=root + API_PATH,
        ui=root + "/ui",
        static=lambda name: f"{root}{STATIC_URL}/{name}?v={ASSET_VERSION}",
        **context,
    )
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    if chosen:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/ui",
                            samesite="lax", httponly=True)
    return response


router = APIRouter(include_in_schema=False)


@router.get("/")
def root(request: Request) -> Response:
    return RedirectResponse(request.scope.get("root_path", "") + "/ui/", status_code=307)


@router.get("/ui")
def ui_root(request: Request) -> Response:
    return RedirectResponse(request.scope.get("root_path", "") + "/ui/", status_code=307)


@router.get("/ui/")
def home(request: Request) -> HTMLResponse:
    return render(request, "home")


@router.get("/ui/portal")
def portal(request: Request) -> HTMLResponse:
    return render(request, "portal")


@router.get("/ui/portal/issues/{key}")
def portal_issue(key: str, request: Request) -> HTMLResponse:
    return render(request, "portal_issue", key=key)


@router.get("/ui/workbench")
def workbench(request: Request) -> HTMLResponse:
    return render(request, "workbench")


@router.get("/ui/workbench/issues/{key}")
def workbench_issue(key: str, request: Request) -> HTMLResponse:
    return render(request, "workbench_issue", key=key)


@router.get("/ui/workbench/operations")
def workbench_ops(request: Request) -> HTMLResponse:
    return render(request, "workbench_ops")


@router.get("/ui/workbench/meeting")
def workbench_meeting(request: Request) -> HTMLResponse:
    return render(request, "workbench_meeting")


@router.get("/ui/workbench/import")
def workbench_import(request: Request) -> HTMLResponse:
    return render(request, "workbench_import")


@router.get("/ui/workbench/intake")
def workbench_intake(request: Request) -> HTMLResponse:
    return render(request, "workbench_intake")


@router.get("/ui/workbench/accounts")
def workbench_accounts(request: Request) -> HTMLResponse:
    return render(request, "workbench_accounts")


@router.get("/ui/workbench/tags")
def workbench_tags(request: Request) -> HTMLResponse:
    return render(request, "workbench_tags")  # the tag library (admin_tags.py)


@router.get("/ui/workbench/policies")
def workbench_policies(request: Request) -> HTMLResponse:
    return render(request, "workbench_policies")  # the policy library (policies_api.py)


@router.get("/ui/workbench/units")
def workbench_units(request: Request) -> HTMLResponse:
    return render(request, "workbench_units")  # the organisation units (admin_units.py)


@router.get("/ui/workbench/open311")
def workbench_open311(request: Request) -> HTMLResponse:
    return render(request, "workbench_open311")


@router.get("/ui/workbench/audit")
def workbench_audit(request: Request) -> HTMLResponse:
    return render(request, "workbench_audit")  # the audit trail (node/web/audit_api.py)


@router.get("/ui/workbench/reports")
def workbench_reports(request: Request) -> HTMLResponse:
    return render(request, "workbench_reports")  # periodic reports (node/web/reports_api.py)


@router.get("/ui/workbench/rules")
def workbench_rules(request: Request) -> HTMLResponse:
    return render(request, "workbench_rules")  # rules in force and floors (admin_rules.py)


def refresh_seconds(request: Request, default: int = 5) -> int:
    """The auto-refresh period of a live screen: `?refresh=` seconds (1–300), default 5."""
    try:
        asked = int(request.query_params.get("refresh", default))
    except ValueError:
        return default
    return min(300, max(1, asked))


@router.get("/ui/workbench/ranking")
def workbench_ranking(request: Request) -> HTMLResponse:
    return render(request, "workbench_ranking")  # 晾晒比拼: the 有感指数 (index_api.py)


@router.get("/ui/workbench/cases")
def workbench_cases(request: Request) -> HTMLResponse:
    return render(request, "workbench_cases")  # 案例库 and 问题复盘 (node/web/cases_api.py)


@router.get("/ui/cockpit")
def cockpit(request: Request) -> HTMLResponse:
    return render(request, "cockpit", request_refresh=refresh_seconds(request))


@router.get("/ui/cockpit/report")
def cockpit_report(request: Request) -> HTMLResponse:
    return render(request, "cockpit_report")


@router.get("/ui/phone")
def phone(request: Request) -> HTMLResponse:
    return render(request, "phone", request_refresh=refresh_seconds(request))


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)
