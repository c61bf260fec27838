"""Browser tests of the screens: Playwright for Python driving Debian's chromium.

A real node is built in-process (`node.runtime.build`) and served by uvicorn on a free
loopback port in a background thread. The browser is Debian's /usr/bin/chromium (never
`playwright install`, which downloads browsers). Without it the tests are skipped, unless
ZHITONG_REQUIRE_BROWSER=1, which makes its absence a failure (CI).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from node.app.policy import Principal
from node.config import Config
from node.runtime import Node, build
from tests.conftest import STAFF
from tests.support.data import ENTERPRISE_A
from tests.support.pg import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_BROWSER = os.environ.get("ZHITONG_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "e2e-password-1"
USERS: dict[str, Principal] = {**STAFF, "enterprise": ENTERPRISE_A}

@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"{CHROMIUM} is missing and ZHITONG_REQUIRE_BROWSER=1: install it with "
                        "`apt-get install -y chromium` (`make sysdeps` does as root)")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y "
                    "chromium); ZHITONG_REQUIRE_BROWSER=1 makes its absence a failure")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


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


def serve(config: Config, users: dict[str, Principal]) -> Iterator[Served]:
    node = build(config)
    for principal in users.values():
        node.services.accounts.add(principal, PASSWORD)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(node.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"the node did not start on port {port}")
        time.sleep(0.02)  # polling a flag with a deadline, not synchronising the browser
    try:
        yield Served(node=node, base=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.engine.dispose()


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


@pytest.fixture
def console() -> Iterator[Console]:
    watched = Console()
    yield watched
    assert watched.problems == [], watched.problems
