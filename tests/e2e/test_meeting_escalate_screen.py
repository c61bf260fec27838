"""What the joint meeting cannot solve, escalated in one step from the meeting page in a
real browser: a leader logs in through the form, records the decision through the page's
form, presses 上报上级 on the agenda row, and the escalation to the city is queued with
the decision as its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from node.store.schema import transfers_out
from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_a_leader_escalates_what_the_meeting_cannot_solve(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    issue: dict[str, str] = county.call("POST", "/issues", submit_body(title="跨县用地指标协调"),
                                        user="enterprise")
    county.call("POST", f"/issues/{issue['id']}/triage", {"tags": ["要素保障"]},
                user="dispatcher")
    for _ in range(3):
        county.call("POST", f"/issues/{issue['id']}/ladder", {}, user="dispatcher")
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench/meeting")
    login(page, "leader")
    rows = page.locator("#meeting-agenda tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("button", name="上报上级")).to_have_count(0)  # no decision
    form = page.locator("#meeting-decision-form")
    form.get_by_label("议题").select_option(label=f"{issue['number']} · 跨县用地指标协调")
    form.get_by_label("牵头领导").fill("王副县长")
    form.get_by_label("会议决定").fill("县内无法调剂，提请市级统筹用地指标")
    form.get_by_label("办结时限").fill("2099-01-31")
    form.get_by_role("button", name="保存会议决定").click()
    expect(page.locator("#meeting-msg")).to_have_text("已记录会议决定。")

    rows.first.get_by_role("button", name="上报上级").click()
    expect(page.locator("#meeting-msg")).to_have_text(
        f"{issue['number']} 已连同会议决定上报上级")
    page.screenshot(path=shots / "62-meeting-escalated.png", full_page=True)
    with county.node.engine.connect() as conn:
        row = conn.execute(select(transfers_out).where(
            transfers_out.c.issue_id == issue["id"])).one()
    assert (row.kind, row.destination) == ("escalate", "330500")
    assert "县内无法调剂，提请市级统筹用地指标" in row.event["payload"]["reason"]
