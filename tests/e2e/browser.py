"""What the browser suites share: a node served on loopback with every test account
(`serve`), API calls beside the browser (`Served`), watching pages for console problems
(`Console`), and page helpers (a workbench action, a cold phone tab and its report).

The node runs through `node.runtime.running()` in a background thread
(tests/support/served.py), on a port the OS picks.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, Response, ViewportSize, expect

from node.app.policy import Principal
from node.config import Config
from node.runtime import Node
from tests.support.data import ENTERPRISE_A, STAFF
from tests.support.served import serving

PASSWORD = "e2e-password-1"
USERS: dict[str, Principal] = {**STAFF, "enterprise": ENTERPRISE_A}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE_BUDGET = 100 * 1024


# --------------------------------------------------------------------------- a served node


@dataclass
class Served:
    """A node answering HTTP on 127.0.0.1:`port`, with every test account."""

    node: Node
    base: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.base + "/api/v1"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             user: str | None = None) -> Any:
        """One JSON API call outside the browser (set-up and checks)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        if user is not None:
            req.add_header("Authorization", f"Bearer {self.token(user)}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            answer = self.call("POST", "/auth/login",
                               {"username": USERS[user].username, "password": PASSWORD})
            self.tokens[user] = answer["access_token"]
        return self.tokens[user]


def serve(config: Config, users: dict[str, Principal], **knobs: Any) -> Iterator[Served]:
    """The node of `config` with `users` (password PASSWORD); `knobs` are running()'s."""
    with serving(config, http_port=0, **knobs) as node:
        for principal in users.values():
            node.services.accounts.add(principal, PASSWORD)
        yield Served(node=node.node, base=f"http://127.0.0.1:{node.http_port}")


# --------------------------------------------------------------------------- page hygiene


@dataclass
class Console:
    """Errors and warnings the pages logged (missing strings, CSP refusals, exceptions)."""

    problems: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        return page

    def _console(self, msg: ConsoleMessage) -> None:
        # A refused request (4xx) is logged by chromium itself; the page handles those.
        if msg.type in ("error", "warning") and not msg.text.startswith(
                "Failed to load resource"):
            self.problems.append(f"{msg.type}: {msg.text}")


# --------------------------------------------------------------------------- page helpers


def login(page: Page, user: str, label: str = "用户名") -> None:
    """Sign in as USERS[user] through the screen's own login form (`label`: the name
    field's label, 统一社会信用代码 on the portal) and wait until the screen shows who."""
    form = page.locator("#login-form")
    password_tab = page.locator("#tab-password")  # the portal opens on its SMS-code tab
    if password_tab.count():
        password_tab.click()
    form.get_by_label(label, exact=True).fill(USERS[user].username)
    form.get_by_label("密码", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#user-name")).to_contain_text(USERS[user].display_name)


def act(page: Page, action: str, fields: dict[str, str], button: str,
        shot: Path | None = None) -> None:
    """Open the action's form in the workbench, fill it in and send it."""
    form = page.locator("details.action").filter(
        has=page.locator("summary", has_text=re.compile(f"^{action}$")))
    form.locator("summary").click()
    for label, value in fields.items():
        field = form.get_by_label(label)
        if field.evaluate("e => e.tagName") == "SELECT":  # a unit of the catalogue, ...
            field.select_option(value)  # by its id or its option's text
        else:
            field.fill(value)
    if shot is not None:
        page.screenshot(path=shot, full_page=True)
    form.locator("form").get_by_role("button", name=button, exact=True).click()
    expect(page.locator("#flash")).to_contain_text(action)


def open_phone(browser: Browser, url: str, token: str) -> tuple[Page, int, dict[str, float]]:
    """A cold phone-sized tab already logged in; returns it with the bytes and timings of
    its first load (every response body until the first data is on screen)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    session = json.dumps({"token": token, "expires": 4102444800000})
    context.add_init_script(f"sessionStorage.setItem('zt.session.phone', {json.dumps(session)})")
    page = context.new_page()
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    first_load = list(responses)
    weight = sum(len(r.body()) for r in first_load)
    timings: dict[str, float] = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        const data = performance.getEntriesByName('zt-first-data')[0];
        return {first_contentful_paint: paint ? paint.startTime : -1,
                first_data: data ? data.startTime : -1,
                dom_content_loaded: nav.domContentLoadedEventEnd};
    }""")
    timings["requests"] = len(first_load)
    return page, weight, timings


def report_phone(name: str, weight: int, timings: dict[str, float]) -> None:
    print(f"\n[phone page, {name}] {weight} bytes ({weight / 1024:.1f} KB) in "
          f"{int(timings['requests'])} responses; first contentful paint "
          f"{timings['first_contentful_paint']:.0f} ms, first data on screen "
          f"{timings['first_data']:.0f} ms, DOMContentLoaded "
          f"{timings['dom_content_loaded']:.0f} ms")
