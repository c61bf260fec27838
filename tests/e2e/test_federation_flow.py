"""One issue through three tiers of a real local federation, in a real browser.

`zhitong up --topology small --no-demo-data` runs 浙江省 → 湖州市 → 长兴县/德清县 as separate
processes (nats-servers in a leaf topology, one node each; see federation_helpers.py). The
scenario: the enterprise submits at the 长兴县 portal (green light); the county leader
escalates it in the county workbench; 湖州市 staff find it in their pool, triage, assign,
start and resolve it; the reply flows down over NATS to the county portal, the
enterprise's satisfied rating is forwarded up (202) and the closure flows back down; the
province's phone page shows 湖州市 and, drilled down, 长兴县 with the closed issue.
Screenshots: test-artifacts/screenshots/federation-*.png. Waiting is expect() with
timeouts or polling with deadlines (portal and workbench do not refresh by themselves).
"""

from __future__ import annotations

import re
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from node.demo import demo_companies
from tests.e2e.browser import DESKTOP, PHONE_BUDGET, Console, act, open_phone, report_phone
from tests.e2e.federation_helpers import (
    CITY,
    COUNTY,
    DEMO_PASSWORD,
    OTHER_COUNTY,
    PROVINCE,
    Federation,
    reload_until,
    running_federation,
)
from tests.support.wait import until_sync

TITLE = "跨县物流通道建设需市级统筹协调"
CONTENT = "园区至高速互通的物流通道涉及两个县，县里协调两个月未果，希望市里统筹推进。"
REASON = "涉及跨县物流通道，需市级统筹协调"
REPLY = "市交通运输局已牵头与德清县对接，物流通道纳入本年度计划，下月开工。"
RATING_COMMENT = "市里协调很及时"
SHORT = 2_000  # ms: one look at a page that is reloaded until it shows the change

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("zhitong-up")) as running:
        yield running


def login(page: Page, username: str, display_name: str, label: str = "用户名") -> None:
    tab = page.locator("#tab-password")  # the portal opens on its SMS-code tab
    if tab.count():
        tab.click()
    form = page.locator("#login-form")
    form.get_by_label(label, exact=True).fill(username)
    form.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#user-name")).to_contain_text(display_name)


def county_summary(fed: Federation, code: str) -> dict[str, Any]:
    """A county's line in the province's summary (empty before it has any issue)."""
    summary = fed.get(PROVINCE, "/summary", "viewer")
    line: dict[str, Any] = summary["children"].get(CITY, {}).get("children", {}).get(code, {})
    return line


def escalate_and_resolve_by_api(fed: Federation, county: str, enterprise: str,
                                title: str) -> str:
    """Set-up for the small checks: an issue of `county` escalated, then resolved by the
    city (the scenario does the same through the screens)."""
    company = demo_companies(county)[0]
    _, issue = fed.call(county, "POST", "/issues", {
        "enterprise_name": company.name, "credit_code": company.credit_code,
        "contact_phone": company.phone, "channel": "online", "title": title,
        "content": CONTENT}, user=enterprise)
    number = str(issue["number"])
    fed.call(county, "POST", f"/issues/{number}/escalate", {"reason": REASON}, user="leader")
    until_sync(lambda: fed.get(county, f"/issues/{number}", "leader")["owner"] == CITY,
               what="the city accepted the escalation", interval_s=0.1)
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("leader", "triage", {"tags": ["要素保障"]}),
        ("leader", "assign", {"department": f"{CITY}.jxj"}),  # deploy/city/node.toml
        ("handler", "start", {}), ("handler", "resolve", {"reply": REPLY})]
    for user, action, body in steps:
        fed.call(CITY, "POST", f"/issues/{number}/{action}", body, user=user)
    until_sync(lambda: fed.get(county, f"/issues/{number}", enterprise)["state"] == "resolved",
               what="the resolution reached the county", interval_s=0.1)
    return number


# --------------------------------------------------------------------------- the scenario


@pytest.mark.timeout(240)
def test_an_issue_escalated_by_a_county_is_solved_by_the_city_and_seen_by_the_province(
        browser: Browser, fed: Federation, shots: Path, console: Console) -> None:
    t_start = time.monotonic()
    timings: dict[str, float] = {"zhitong up until ready": fed.started_s}
    county, city, province = fed.url(COUNTY), fed.url(CITY), fed.url(PROVINCE)
    company = demo_companies(COUNTY)[0]  # the demo enterprise login of 长兴县

    # -- 1. the enterprise submits at the county portal ---------------------------------
    t = time.monotonic()
    ent = console.watch(browser.new_page(viewport=DESKTOP))
    ent.goto(county + "/ui/portal")
    login(ent, company.credit_code, company.name, label="统一社会信用代码")
    new = ent.locator("#submit-form")
    expect(new.get_by_label("企业名称")).to_have_value(company.name)
    new.get_by_label("联系电话").fill(company.phone)
    new.get_by_label("诉求标题").fill(TITLE)
    new.get_by_label("诉求内容").fill(CONTENT)
    new.get_by_role("button", name="提交诉求").click()
    expect(ent).to_have_url(re.compile(rf"/ui/portal/issues/{COUNTY}-\d{{4}}-\d{{6}}$"))
    number = ent.url.rsplit("/", 1)[1]
    status = ent.locator("#status")
    expect(status.locator(".badge")).to_have_text("已接收")
    expect(status.locator(".light")).to_have_text("绿灯")
    expect(status.locator(".deadline-kind")).to_contain_text("分流交办时限")
    ent.screenshot(path=shots / "federation-1-county-portal-submitted.png", full_page=True)
    timings["1 submit at the county portal"] = time.monotonic() - t

    # -- 2. the county leader escalates it to the city -----------------------------------
    t = time.monotonic()
    staff = console.watch(browser.new_page(viewport=DESKTOP))
    staff.goto(f"{county}/ui/workbench/issues/{number}")
    login(staff, "leader", "兜底办 陈主任")
    expect(staff.get_by_role("heading", name=TITLE)).to_be_visible()
    act(staff, "上报上级", {"理由": REASON}, "上报",
        shot=shots / "federation-2a-county-escalate-form.png")
    expect(staff.locator("#flash")).to_have_text("已提交：上报上级，等待对方节点确认")

    def accepted_by_the_city() -> None:
        # The county's own `escalated` lasts only until the city's `receive` flows down
        # (milliseconds): what stays visible is the owner and the two steps.
        expect(staff.locator("#status")).to_contain_text(
            "该诉求由 湖州市 (330500) 办理，本节点仅持有只读副本。", timeout=SHORT)
        expect(staff.locator("#timeline")).to_contain_text("上级接收", timeout=SHORT)

    timings["2 escalation accepted (page reloads)"] = reload_until(
        staff, accepted_by_the_city, "the county shows the issue owned by the city")
    expect(staff.locator("#timeline")).to_contain_text("上报上级")
    expect(staff.locator("#timeline")).to_contain_text(REASON)
    expect(staff.get_by_text("当前状态下您没有可执行的操作。")).to_be_visible()
    staff.screenshot(path=shots / "federation-2b-county-escalated.png", full_page=True)
    at_county = fed.get(COUNTY, f"/issues/{number}", "leader")
    assert at_county["owner"] == CITY
    assert [e["kind"] for e in at_county["timeline"]] == ["submitted", "escalate", "receive"]
    timings["2 escalate in the county workbench"] = time.monotonic() - t

    # -- 3. 湖州市 staff find it in their pool and solve it ---------------------------------
    t = time.monotonic()
    cw = console.watch(browser.new_page(viewport=DESKTOP))
    cw.goto(city + "/ui/workbench")
    login(cw, "leader", "兜底办 陈主任")
    cw.get_by_label("关键词", exact=False).fill(number)
    cw.get_by_role("button", name="筛选").click()
    expect(cw.locator("#pool-count")).to_have_text("共 1 件")
    row = cw.locator("#pool tbody tr").filter(has_text=number)
    expect(row).to_contain_text(TITLE)
    expect(row.locator(".badge")).to_have_text("已接收")  # re-entered triage at the city
    expect(row.locator(".light")).to_have_text("绿灯")
    cw.screenshot(path=shots / "federation-3a-city-pool.png", full_page=True)
    row.get_by_role("link", name=number).click()
    expect(cw.get_by_role("heading", name=TITLE)).to_be_visible()
    actions = cw.locator("#actions summary")
    # back to the county it came from, or (交办下级) to whichever county the city chooses
    expect(actions).to_have_text(["研判分类", "不予受理", "催办", "上报上级", "退回下级",
                                  "交办下级"])
    expect(cw.locator("#timeline")).to_contain_text(REASON)  # the county's history came along
    act(cw, "研判分类", {"标签": "要素保障，物流", "专班/板块（选填）": f"{CITY}.b-zhengce"},
        "确认研判")
    expect(cw.locator("#issue .badge")).to_have_text("已研判")
    act(cw, "交办承办部门", {"承办部门": f"{CITY}.jxj"}, "确认交办")  # a unit of the city
    expect(cw.locator("#issue .badge")).to_have_text("已交办")
    cw.get_by_role("button", name="退出登录").click()
    login(cw, "handler", "经信局 李强")
    expect(actions).to_have_text(["开始办理", "不予受理"])
    act(cw, "开始办理", {"备注（选填）": "已联系企业和德清县"}, "开始办理")
    expect(cw.locator("#issue .badge")).to_have_text("办理中")
    act(cw, "办结答复", {"答复内容": REPLY}, "办结并答复企业",
        shot=shots / "federation-3b-city-resolve-form.png")
    expect(cw.locator("#issue .badge")).to_have_text("已办结")
    cw.screenshot(path=shots / "federation-3c-city-resolved.png", full_page=True)
    timings["3 triage, assign, start, resolve at the city"] = time.monotonic() - t

    # -- 4. the reply reaches the county portal; the rating goes up; closed comes down ----
    t = time.monotonic()

    def replied() -> None:
        expect(ent.locator("#reply-text")).to_have_text(REPLY, timeout=SHORT)

    timings["4 reply visible at the county (page reloads)"] = reload_until(
        ent, replied, "the city's reply in the county portal")
    expect(ent.locator("#status .badge")).to_have_text("已办结")
    latest = ent.locator("#timeline li").first
    expect(latest).to_contain_text("办结答复")
    expect(latest).to_contain_text(REPLY)
    expect(ent.locator("#timeline")).to_contain_text("上级接收")
    expect(ent.locator("#timeline")).not_to_contain_text("handler")  # no staff names
    ent.screenshot(path=shots / "federation-4a-county-portal-replied.png", full_page=True)

    # the enterprise rates where it submitted; the county forwards it to the owner (202)
    ent.get_by_label("满意", exact=True).check()
    ent.locator("#rate-form [name=comment]").fill(RATING_COMMENT)
    ent.get_by_role("button", name="提交评价").click()
    expect(ent.locator("#flash")).to_contain_text("转交上级")

    def closed() -> None:
        expect(ent.locator("#status .badge")).to_have_text("已结案", timeout=SHORT)

    timings["4 closure back at the county (page reloads)"] = reload_until(
        ent, closed, "the closure in the county portal")
    expect(ent.locator("#timeline li").first).to_contain_text("企业评价，结案")
    expect(ent.locator("#timeline li").first).to_contain_text("满意")
    expect(ent.locator("#facts")).to_contain_text("满意")
    expect(ent.locator("#rate-card")).to_be_hidden()
    ent.screenshot(path=shots / "federation-4b-county-portal-closed.png", full_page=True)
    at_city = fed.get(CITY, f"/issues/{number}", "leader")
    assert (at_city["owner"], at_city["state"], at_city["rating"]) == (
        CITY, "closed", "satisfied")
    assert at_city["rating_comment"] == RATING_COMMENT
    timings["4 reply, rating, closure at the county portal"] = time.monotonic() - t

    # -- 5. the province's phone page: 湖州市, drilled down to 长兴县 -----------------------
    t = time.monotonic()
    timings["5 closure in the province's summary (API)"] = until_sync(
        lambda: county_summary(fed, COUNTY).get("states", {}).get("closed") == 1,
        what="the province's summary counts the closed issue of 长兴县", interval_s=0.1)
    summary = fed.get(PROVINCE, "/summary", "viewer")
    phone, weight, first = open_phone(browser, province + "/ui/phone?refresh=1",
                                      fed.token(PROVINCE, "viewer"))
    console.watch(phone)
    report_phone("province 330000 of a live federation, viewer", weight, first)
    assert weight < PHONE_BUDGET
    expect(phone.locator("h1")).to_contain_text("浙江省")
    expect(phone.locator("#total-body .big b")).to_have_text(str(summary["total"]))
    cities = phone.locator("#units > ul > li")
    expect(cities.locator("summary .u > b")).to_have_text(["湖州市"])
    huzhou = cities.filter(has_text="湖州市")
    expect(huzhou.locator("summary .u small")).to_have_text(
        f"{summary['children'][CITY]['total']} 件")
    expect(phone.locator("#own")).to_be_hidden()  # a viewer may not list issues
    expect(phone.locator("body")).not_to_contain_text(company.name)  # summaries only
    phone.screenshot(path=shots / "federation-5a-province-phone.png", full_page=True)
    huzhou.locator("summary").tap()
    changxing = huzhou.locator(".sub > li").filter(has_text="长兴县")
    expect(changxing.locator(".u small")).to_have_text("1 件")
    for light in ("red", "yellow", "green"):  # closed: no running deadline any more
        expect(changxing.locator(f".chip.{light}")).to_have_text(re.compile(r" 0$"))
    expect(changxing.locator(".rates .k")).to_have_text(["按期率", "满意率"])
    expect(changxing.locator(".rates b").nth(1)).to_have_text("100.0%")
    phone.screenshot(path=shots / "federation-5b-province-phone-drilldown.png", full_page=True)
    timings["5 province phone page"] = time.monotonic() - t

    timings["scenario (browser steps)"] = time.monotonic() - t_start
    print("\n[federation flow timings]")
    for name, seconds in timings.items():
        print(f"  {name:<48} {seconds:6.2f} s")


# --------------------------------------------------------------------------- small checks


def test_the_county_portal_offers_rating_of_an_issue_resolved_above(
        browser: Browser, fed: Federation, shots: Path, console: Console) -> None:
    # 德清县, so that the scenario's numbers for 长兴县 do not depend on the order
    company = demo_companies(OTHER_COUNTY)[0]
    number = escalate_and_resolve_by_api(fed, OTHER_COUNTY, company.credit_code,
                                         "德清县企业跨县用工协调")
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{fed.url(OTHER_COUNTY)}/ui/portal/issues/{number}")
    login(page, company.credit_code, company.name, label="统一社会信用代码")
    expect(page.locator("#reply-text")).to_have_text(REPLY)
    page.screenshot(path=shots / "federation-6-portal-rating-hidden.png", full_page=True)
    expect(page.locator("#rate-card")).to_be_visible(timeout=3_000)
    page.get_by_label("满意", exact=True).check()
    page.get_by_role("button", name="提交评价").click()

    def closed() -> None:
        expect(page.locator("#status .badge")).to_have_text("已结案", timeout=SHORT)

    reload_until(page, closed, "the closure in the county portal")


def test_a_province_dispatch_and_its_supervision_read_as_such_at_the_city(
        browser: Browser, fed: Federation, shots: Path, console: Console) -> None:
    """交办下级 travels as a `return` event and 督办 as a directive recorded by the owner:
    the city's workbench calls them 交办下级 / 上级交办 and 督办, never 退回/已退回 or a raw
    `supervise`. Staff and the province leader sign in through the forms."""
    company = demo_companies(COUNTY)[0]
    title = "省级交办：跨市物流通道用地指标协调"
    _, issue = fed.call(PROVINCE, "POST", "/issues", {
        "enterprise_name": company.name, "credit_code": company.credit_code,
        "contact_phone": company.phone, "channel": "higher_level", "title": title,
        "content": CONTENT}, user="dispatcher")
    number = str(issue["number"])
    fed.call(PROVINCE, "POST", f"/issues/{number}/dispatch",
             {"to": CITY, "instructions": "请湖州市牵头办理"}, user="leader")

    def at_city() -> dict[str, Any]:
        try:
            found: dict[str, Any] = fed.get(CITY, f"/issues/{number}", "leader")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            return {}
        return found

    until_sync(lambda: at_city().get("owner") == CITY, what="the city accepted the dispatch",
               interval_s=0.1)
    fed.call(PROVINCE, "POST", f"/issues/{number}/supervise",
             {"kind": "supervise", "note": "请限期办结"}, user="leader")
    until_sync(lambda: at_city().get("supervision_count") == 1,
               what="the city recorded the supervision", interval_s=0.1)
    kinds = [e["kind"] for e in at_city()["timeline"]]
    assert kinds == ["submitted", "return", "supervise"]  # as the API sends them

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{fed.url(CITY)}/ui/workbench/issues/{number}")
    login(page, "leader", "兜底办 陈主任")
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.locator("#issue .badge")).to_have_text("上级交办")
    steps = page.locator("#timeline li")
    expect(steps.locator(".step-title strong")).to_have_text(["督办", "交办下级", "诉求已提交"])
    expect(steps.nth(0)).to_contain_text("督办单位 浙江省 (330000)")
    expect(steps.nth(0)).to_contain_text("请限期办结")
    expect(steps.nth(1)).to_contain_text("移交至 湖州市 (330500)")
    expect(steps.nth(1)).to_contain_text("请湖州市牵头办理")
    expect(steps.nth(1).locator(".step-state")).to_have_text("上级交办")
    timeline = page.locator("#timeline")
    for wrong in ("退回", "supervise", "return"):
        expect(timeline).not_to_contain_text(wrong)
    expect(page.locator("#actions summary").first).to_have_text("研判分类")
    page.screenshot(path=shots / "federation-7-city-dispatched-supervised.png", full_page=True)

    # the province leader's phone page, through its own form
    phone = console.watch(browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page())
    phone.goto(fed.url(PROVINCE) + "/ui/phone")
    form = phone.locator("#login-form")
    form.get_by_label("用户名", exact=True).fill("leader")
    form.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(form).to_be_hidden()
    expect(phone.locator("body")).to_have_attribute("data-loaded", "1")
    expect(phone.locator("#total-body .big b")).to_have_text(re.compile(r"^\d+$"))
    expect(phone.locator("#own")).to_be_visible()  # a leader's view, not a viewer's
    phone.context.close()


def test_dispatch_and_supervision_through_the_workbench_and_the_phone_page(
        browser: Browser, fed: Federation, shots: Path, console: Console) -> None:
    """交办下级 and 督办 through the screens' own forms: the province leader dispatches an
    issue it owns to the city in the province workbench; the city hands it on to the county
    the same way; the city leader sends 督办 from the city's replica and the county records
    it; the province leader sends another from the phone page and it reaches the county."""
    company = demo_companies(COUNTY)[0]
    title = "省级交办：县域工业用地指标统筹"
    _, issue = fed.call(PROVINCE, "POST", "/issues", {
        "enterprise_name": company.name, "credit_code": company.credit_code,
        "contact_phone": company.phone, "channel": "higher_level", "title": title,
        "content": CONTENT}, user="dispatcher")
    number = str(issue["number"])

    def at(code: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = fed.get(code, f"/issues/{number}", "leader")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            return {}
        return found

    # -- the province workbench: 交办下级 to 湖州市 ---------------------------------------
    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(f"{fed.url(PROVINCE)}/ui/workbench/issues/{number}")
    login(page, "leader", "兜底办 陈主任")
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.locator("details.action[data-action=supervise]")).to_have_count(0)  # owned here
    act(page, "交办下级", {"下级单位": CITY, "指导意见": "请湖州市牵头办理"}, "交办",
        shot=shots / "federation-8-province-dispatch-form.png")
    expect(page.locator("#flash")).to_contain_text("已提交")
    until_sync(lambda: at(CITY).get("owner") == CITY, what="the city accepted the dispatch",
               interval_s=0.1)

    # -- the city: triage, then 交办下级 to 长兴县 through its workbench form ----------------
    fed.call(CITY, "POST", f"/issues/{number}/triage",
             {"tags": ["要素保障"], "expected_version": at(CITY)["version"]}, user="leader")
    page.goto(f"{fed.url(CITY)}/ui/workbench/issues/{number}")
    login(page, "leader", "兜底办 陈主任")
    act(page, "交办下级", {"下级单位": COUNTY, "指导意见": "请长兴县落实"}, "交办")
    until_sync(lambda: at(COUNTY).get("owner") == COUNTY,
               what="the county accepted the dispatch", interval_s=0.1)
    until_sync(lambda: at(CITY).get("owner") == COUNTY,
               what="the city's replica shows the county as owner", interval_s=0.1)

    # -- the city's replica: 督办 through the form, recorded by the county ---------------
    def supervise_offered() -> None:
        expect(page.locator("details.action[data-action=supervise]")).to_have_count(1,
                                                                                 timeout=SHORT)

    reload_until(page, supervise_offered, "督办 offered on the city's replica")
    expect(page.locator("details.action[data-action=dispatch]")).to_have_count(0)  # not owned
    act(page, "督办", {"备注（选填）": "请本周内办结"}, "发出督办",
        shot=shots / "federation-9-city-supervise-form.png")
    until_sync(lambda: at(COUNTY).get("supervision_count") == 1,
               what="the county recorded the city's supervision", interval_s=0.1)
    county_page = console.watch(browser.new_page(viewport=DESKTOP))
    county_page.goto(f"{fed.url(COUNTY)}/ui/workbench/issues/{number}")
    login(county_page, "leader", "兜底办 陈主任")
    first = county_page.locator("#timeline li").nth(0)
    expect(first.locator(".step-title strong")).to_have_text("督办")
    expect(first).to_contain_text("请本周内办结")

    # -- the province leader's phone page: 督办 on the issue its county owns --------------
    until_sync(lambda: at(PROVINCE).get("owner") == COUNTY,
               what="the province's replica shows the county as owner", interval_s=0.1)
    phone = console.watch(browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page())
    phone.goto(fed.url(PROVINCE) + "/ui/phone")
    form = phone.locator("#login-form")
    form.get_by_label("用户名", exact=True).fill("leader")
    form.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(phone.locator("body")).to_have_attribute("data-loaded", "1")
    line = phone.locator(f"#own-list li[data-number='{number}']")
    line.get_by_role("button", name="发出督办").click(timeout=20_000)  # a refresh may re-draw
    expect(line.get_by_role("status")).to_have_text("已督办，正送达承办单位")
    phone.screenshot(path=shots / "federation-10-phone-supervised.png", full_page=True)
    until_sync(lambda: at(COUNTY).get("supervision_count") == 2,
               what="the county recorded the province's supervision", interval_s=0.1)
    phone.context.close()
