"""The rules screen (规则与底线) in a real browser, through its own form: a county whose store
holds its province's floors (version 3: resolve at most 15 working days, a 政企恳谈会 issue
dispatched within 2 and resolved within 10) shows every rule in force with where it comes
from; an administrator who signed in through the login form tries a looser resolve
deadline (refused, the floor, its value, version and node named, nothing changed) and then
a stricter one (accepted, shown as this node's own, changed by an administrator)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from node.app.floors import KIND
from node.domain.publications import Publication, SignedPublication, encode
from node.store import migrate
from node.store.db import make_engine
from node.store.publications import SqlPublications
from node.store.repo import Store
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config

expect.set_options(timeout=15_000)
FLOORS = {"deadlines": {"resolve_working_days": 15},
          "per_channel": {"meeting": {"dispatch_working_days": 2, "resolve_working_days": 10}},
          "revisit_share_min": 0.2}


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path)
    engine = make_engine(config.database_url)
    migrate.ensure_schema(engine)
    # the province's floors as the county stored them when they flowed down (the flow
    # itself: tests/integration/test_floors_federation.py)
    doc = Publication(issuer="330000", kind=KIND, version=3,
                      issued_at=datetime(2026, 11, 30, tzinfo=UTC), body=FLOORS)
    with SqlPublications(Store(engine)).write() as unit:
        unit.put(doc, encode(SignedPublication(doc=doc, signature=b"", cert_pem="")),
                 received_at=doc.issued_at)
    engine.dispose()
    yield from serve(config, USERS)


def test_an_admin_sees_the_rules_in_force_and_may_only_be_stricter(
        county: Served, browser: Browser, console: Console, shots: Path) -> None:
    started = time.monotonic()
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench/rules")
    login(page, "admin")
    expect(page.get_by_role("heading", name="现行规则与上级底线")).to_be_visible()

    meeting = page.locator('#rules-table tr[data-rule='
                           '"deadlines.per_channel.meeting.resolve_working_days"]')
    expect(meeting).to_contain_text("10 个工作日")
    expect(meeting).to_contain_text("节点 330000 的底线，版本 3")
    resolve = page.locator('#rules-table tr[data-rule="deadlines.resolve_working_days"]')
    expect(resolve).to_contain_text("15 个工作日")
    expect(resolve).to_contain_text("本节点配置")
    expect(page.locator("#floors-table")).to_contain_text("330000")
    page.screenshot(path=shots / "rules-in-force.png", full_page=True)

    form = page.locator("#rules-form")
    form.get_by_label("办理时限（工作日）", exact=True).fill("20")
    form.get_by_role("button", name="保存规则").click()
    error = page.locator("#rules-error")
    expect(error).to_contain_text("deadlines.resolve_working_days = 20")
    expect(error).to_contain_text("节点 330000 设定的底线 15（版本 3）")
    expect(resolve).to_contain_text("15 个工作日")  # nothing changed
    assert county.call("GET", "/rules", user="admin")["own_source"] == {"from": "config"}
    page.screenshot(path=shots / "rules-refused.png", full_page=True)

    form.get_by_label("办理时限（工作日）", exact=True).fill("12")
    form.get_by_role("button", name="保存规则").click()
    expect(page.locator("#rules-flash")).to_have_text("规则已保存")
    expect(resolve).to_contain_text("12 个工作日")
    expect(resolve).to_contain_text("本节点管理员修改（版本 1）")
    expect(page.locator("#own-source")).to_have_text("本节点管理员修改（版本 1）")
    assert county.node.services.issues.rules.deadlines.resolve_working_days == 12

    # English works too
    page.goto(county.base + "/ui/workbench/rules?lang=en")
    expect(page.get_by_role("heading", name="Rules in force and floors set from above")
           ).to_be_visible()
    expect(resolve).to_contain_text("this node, changed by an administrator (version 1)")
    assert console.problems == []
    print(f"rules screen: looser refused, stricter accepted in {time.monotonic() - started:.1f}s")


def test_the_rules_screen_is_in_the_workbench_nav(county: Served, browser: Browser,
                                                  console: Console) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench")
    login(page, "leader")
    page.get_by_role("link", name="规则", exact=True).click()
    expect(page.get_by_role("heading", name="现行规则与上级底线")).to_be_visible()
    assert USERS["leader"].username
    assert console.problems == []


@pytest.fixture
def plain_county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_a_floor_stricter_than_the_running_rules_raises_an_alarm_on_the_operations_screen(
        plain_county: Served, browser: Browser, console: Console) -> None:
    rules = plain_county.node.services.rules
    assert rules is not None
    # the province's floors arrive while the county runs (no TLS here: the federation of
    # this test node is off, so the document travels unsigned), stricter than its 15 days
    doc = Publication(issuer="330000", kind=KIND, version=1,
                      issued_at=datetime(2026, 12, 1, tzinfo=UTC),
                      body={"deadlines": {"resolve_working_days": 12}})
    received = rules.publications.receive(
        encode(SignedPublication(doc=doc, signature=b"", cert_pem="")))
    assert received.outcome == "accepted"
    assert plain_county.node.services.issues.rules.deadlines.resolve_working_days == 12

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(plain_county.base + "/ui/workbench/operations")
    login(page, "admin")
    alarm = page.locator('#floor-alarms li[data-rule="deadlines.resolve_working_days"]')
    expect(alarm).to_have_text(
        "deadlines.resolve_working_days：本节点 15，节点 330000 底线 12（版本 1）")
    page.get_by_role("link", name="规则与底线").click()
    expect(page.locator('#rules-alarms li[data-rule="deadlines.resolve_working_days"]')
           ).to_contain_text("现按底线执行")
    resolve = page.locator('#rules-table tr[data-rule="deadlines.resolve_working_days"]')
    expect(resolve).to_contain_text("12 个工作日")
    expect(resolve).to_contain_text("节点 330000 的底线，版本 1")
    # the administrator makes the own rules comply: the alarm is gone
    page.locator("#rules-form").get_by_label("办理时限（工作日）", exact=True).fill("10")
    page.locator("#rules-form").get_by_role("button", name="保存规则").click()
    expect(page.locator("#rules-flash")).to_have_text("规则已保存")
    expect(page.locator("#alarms-card")).to_be_hidden()
    expect(resolve).to_contain_text("10 个工作日")
    assert console.problems == []
