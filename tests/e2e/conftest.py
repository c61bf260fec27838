"""Browser tests of the screens: Playwright for Python driving Debian's chromium.

The fixtures: the browser, the screenshot folder, and a console watch on every page (the
served node and the page helpers are in tests/e2e/browser.py). The browser is Debian's
/usr/bin/chromium (never `playwright install`, which downloads browsers). Without it the
tests are skipped, unless ZHITONG_REQUIRE_BROWSER=1, which makes its absence a failure
(CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.e2e.browser import Console

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


@pytest.fixture
def console() -> Iterator[Console]:
    watched = Console()
    yield watched
    assert watched.problems == [], watched.problems
