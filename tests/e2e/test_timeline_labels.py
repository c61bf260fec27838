"""The timeline's words for what happened between tiers, checked on the screens' own script
(zt.js's renderTimeline and stateEl, in a real browser) with event logs the domain makes.

A `return` event is both how a tier sends an escalated issue back (退回下级) and how it
hands an issue it owns down to a child (交办下级, the dispatch API): the script calls it a
return only if the issue came up from that child (an earlier `receive` from it), and the
`returned` state it leaves a dispatched issue in reads 上级交办. `supervise` (督办) has its
label. Each log is built by `decide`/`evolve` as the nodes build them and shaped as the API
sends it (EventOut, with the enterprise's public view too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from node.app.ports import StoredEvent
from node.domain.calendar import WorkCalendar
from node.domain.issue import Actor, ActorKind, Channel, Event, Issue
from node.domain.lifecycle import (
    Command,
    Escalate,
    Receive,
    Return,
    Rules,
    Submit,
    Supervise,
    Triage,
    decide,
    evolve,
    submit,
)
from node.web.schemas import EventOut
from tests.e2e.browser import DESKTOP, USERS, Console, Served, serve
from tests.support.data import CODE_A, make_config

PROVINCE, CITY, COUNTY, OTHER_COUNTY = "330000", "330500", "330522", "330521"
RULES = Rules(calendar=WorkCalendar())
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))

expect.set_options(timeout=10_000)


class Log:
    """One issue's events as the tiers write them: (writer node, event)."""

    def __init__(self, origin: str) -> None:
        self.issue: Issue
        self.issue, first = submit(
            Submit(enterprise_name="甲企业有限公司", credit_code=CODE_A,
                   contact_phone="13905720001",
                   channel=Channel.HIGHER_LEVEL if origin == PROVINCE else Channel.ONLINE,
                   title="跨县物流通道协调", content="园区物流通道涉及两个县。"),
            issue_id="0190b5c0-0000-7000-8000-000000000001", number=f"{origin}-2026-000001",
            node=origin, actor=Actor(kind=ActorKind.STAFF, id="dispatcher"), now=T0,
            rules=RULES)
        self.events: list[tuple[str, Event]] = [(origin, first)]

    def then(self, writer: str, command: Command, actor: Actor | None = None) -> Log:
        now = T0 + timedelta(minutes=len(self.events))
        event = decide(self.issue, command, now=now, rules=RULES,
                       actor=actor or Actor(kind=ActorKind.STAFF, id="leader"))
        self.issue = evolve(self.issue, event)
        self.events.append((writer, event))
        return self

    def api(self, *, public: bool) -> list[dict[str, Any]]:
        """The timeline as GET /issues/{key} sends it (staff or enterprise view)."""
        return [EventOut.of(StoredEvent(seq=i, event_id=f"e{i}", node=writer, event=event),
                            public=public).model_dump(mode="json")
                for i, (writer, event) in enumerate(self.events, start=1)]


def node_actor(code: str) -> Actor:
    return Actor(kind=ActorKind.NODE, id=code)


def dispatched_and_supervised() -> Log:
    """Entered at the province, dispatched to the city, then supervised by the province
    (recorded by the city, the owner)."""
    return (Log(PROVINCE)
            .then(PROVINCE, Return(to=CITY, instructions="请湖州市牵头办理"))
            .then(CITY, Supervise(issued_by=PROVINCE, note="请限期办结"), node_actor(PROVINCE)))


def escalated_and_returned() -> Log:
    return (Log(COUNTY)
            .then(COUNTY, Escalate(to=CITY, reason="涉及跨县物流通道"))
            .then(CITY, Receive(came_from=COUNTY), node_actor(CITY))
            .then(CITY, Return(to=COUNTY, instructions="属县级事权，请县里办理")))


def returned_down_two_tiers() -> Log:
    """County → city → province, then back: the province returns it to the city, the city
    to the county (the latest `receive` is the province's, from the city)."""
    return (Log(COUNTY)
            .then(COUNTY, Escalate(to=CITY, reason="涉及跨县物流通道"))
            .then(CITY, Receive(came_from=COUNTY), node_actor(CITY))
            .then(CITY, Escalate(to=PROVINCE, reason="涉及跨市协调"))
            .then(PROVINCE, Receive(came_from=CITY), node_actor(PROVINCE))
            .then(PROVINCE, Return(to=CITY, instructions="请市里统筹"))
            .then(CITY, Triage(tags=("物流",)))
            .then(CITY, Return(to=COUNTY, instructions="请县里办理")))


def escalated_then_dispatched_elsewhere() -> Log:
    """Escalated by 长兴县; the city hands it to 德清县 instead, then 德清县 triages it."""
    return (Log(COUNTY)
            .then(COUNTY, Escalate(to=CITY, reason="涉及跨县物流通道"))
            .then(CITY, Receive(came_from=COUNTY), node_actor(CITY))
            .then(CITY, Return(to=OTHER_COUNTY, instructions="请德清县牵头办理"))
            .then(OTHER_COUNTY, Triage(tags=("物流",))))


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(make_config(tmp_path_factory.mktemp("county")), USERS)


@pytest.fixture
def page(county: Served, browser: Browser, console: Console) -> Iterator[Page]:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench/issues/x")  # any screen: the script is zt.js
    expect(page.locator("#login-form")).to_be_visible()
    yield page
    page.context.close()


def timeline(page: Page, events: list[dict[str, Any]], *, staff: bool) -> list[dict[str, Any]]:
    """The steps renderTimeline draws, newest first."""
    steps: list[dict[str, Any]] = page.evaluate("""([events, staff]) => {
        const list = document.createElement("ol");
        window.ZT.renderTimeline(list, events, staff);
        return [...list.children].map((li) => ({
            kind: li.dataset.kind,
            title: li.querySelector(".step-title strong").textContent,
            state: (li.querySelector(".step-state") || {}).textContent || null,
            facts: [...li.querySelectorAll(".step-fact")].map((p) => p.textContent),
        }));
    }""", [events, staff])
    return steps


def badge(page: Page, state: str, events: list[dict[str, Any]] | None) -> str:
    text: str = page.evaluate("([s, events]) => window.ZT.stateEl(s, events).textContent",
                              [state, events])
    return text


def test_a_dispatch_from_above_and_its_supervision_read_as_such(page: Page) -> None:
    log = dispatched_and_supervised()
    staff = timeline(page, log.api(public=False), staff=True)
    assert [s["kind"] for s in staff] == ["supervise", "dispatch", "submitted"]
    assert [s["title"] for s in staff] == ["督办", "交办下级", "诉求已提交"]
    assert [s["state"] for s in staff] == ["上级交办", "上级交办", "已接收"]
    assert "督办单位 浙江省 (330000)" in staff[0]["facts"]
    assert "备注 请限期办结" in staff[0]["facts"]
    assert "移交至 湖州市 (330500)" in staff[1]["facts"]
    assert "指导意见 请湖州市牵头办理" in staff[1]["facts"]
    assert badge(page, log.issue.state.value, log.api(public=False)) == "上级交办"

    public = timeline(page, log.api(public=True), staff=False)  # no units in the payloads
    assert [s["title"] for s in public] == ["督办", "交办下级", "诉求已提交"]
    assert not any("督办单位" in fact for s in public for fact in s["facts"])  # staff only
    assert badge(page, log.issue.state.value, log.api(public=True)) == "上级交办"


def test_a_return_to_the_tier_that_escalated_stays_a_return(page: Page) -> None:
    for log in (escalated_and_returned(), returned_down_two_tiers()):
        for public in (False, True):
            events = log.api(public=public)
            steps = timeline(page, events, staff=not public)
            assert steps[0]["kind"] == "return"
            assert steps[0]["title"] == "退回下级"
            assert steps[0]["state"] == "已退回"
            assert "交办下级" not in [s["title"] for s in steps]
            assert badge(page, "returned", events) == "已退回"
    two = timeline(page, returned_down_two_tiers().api(public=False), staff=True)
    assert [s["title"] for s in two] == ["退回下级", "研判分类", "退回下级", "上级接收",
                                         "上报上级", "上级接收", "上报上级", "诉求已提交"]
    assert [s["state"] for s in two][:3] == ["已退回", "已研判", "已退回"]


def test_an_issue_handed_to_another_child_is_a_dispatch_for_staff(page: Page) -> None:
    log = escalated_then_dispatched_elsewhere()
    steps = timeline(page, log.api(public=False), staff=True)
    assert [s["title"] for s in steps] == ["研判分类", "交办下级", "上级接收", "上报上级",
                                           "诉求已提交"]
    assert steps[1]["state"] == "上级交办"
    assert steps[0]["state"] == "已研判"


def test_without_a_timeline_the_badge_is_the_plain_state(page: Page) -> None:
    assert badge(page, "returned", None) == "已退回"  # lists carry no timeline
    assert badge(page, "triaged", dispatched_and_supervised().api(public=False)) == "已研判"


def test_the_labels_in_english(county: Served, browser: Browser, console: Console) -> None:
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + "/ui/workbench/issues/x?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    steps = timeline(page, dispatched_and_supervised().api(public=False), staff=True)
    assert [s["title"] for s in steps] == ["Supervised", "Dispatched to the lower tier",
                                           "Issue submitted"]
    assert steps[0]["state"] == "Dispatched from above"
    assert "Supervised by Zhejiang (330000)" in steps[0]["facts"]
    page.context.close()
