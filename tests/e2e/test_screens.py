"""The four screens in a real browser against a real node (tests/e2e/browser.py).

The scenario on one county node: an enterprise submits in the portal and sees its issue
with a green light and a countdown; a dispatcher triages and assigns it in the workbench;
a handler starts and resolves it; the enterprise reads the reply in the timeline, rates it
satisfied and the issue is closed. On the way: the urge button's second click is refused
with the next allowed time, the cockpit shows the counts (and updates by itself), exports
CSV and prints, the phone page shows the unit within its weight budget, English works.
Synchronisation is Playwright's auto-waiting and expect(); nothing sleeps.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, expect

from node.domain.summary import IssueLine, decode, encode, summarize
from node.runtime import Node
from tests.e2e.browser import (
    DESKTOP,
    PASSWORD,
    PHONE_BUDGET,
    USERS,
    Console,
    Served,
    act,
    login,
    open_phone,
    report_phone,
    serve,
)
from tests.support.data import CODE_A, make_config, submit_body

CST = timezone(timedelta(hours=8))
TITLE = "厂区扩建用地指标审批进度咨询"
CONTENT = "厂区扩建项目用地指标审批已两个月，希望了解进度和还需补充的材料。"
REPLY = "已协调自然资源局，用地指标已于本周下达，请于三个工作日内到窗口办理后续手续。"

expect.set_options(timeout=10_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


# --------------------------------------------------------------------------- helpers


def cst(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- the scenario


def test_an_issue_closes_the_loop_across_the_screens(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    # -- the enterprise submits in the portal -----------------------------------------
    ent = console.watch(browser.new_page(viewport=DESKTOP))
    ent.goto(county.base + "/")
    expect(ent).to_have_url(county.base + "/ui/")
    ent.screenshot(path=shots / "01-home.png", full_page=True)
    ent.get_by_role("link", name=re.compile("^企业服务门户")).click()
    expect(ent.get_by_role("heading", name="登录")).to_be_visible()
    ent.get_by_role("tab", name="密码登录").click()  # the SMS-code tab comes first
    form = ent.locator("#login-form")
    form.get_by_label("统一社会信用代码").fill(CODE_A.lower())  # the page upper-cases it
    form.get_by_label("密码").fill(PASSWORD)
    ent.screenshot(path=shots / "02-portal-login.png", full_page=True)
    form.get_by_role("button", name="登录").click()
    expect(ent.get_by_text("您还没有提交过诉求。")).to_be_visible()
    new = ent.locator("#submit-form")
    expect(new.get_by_label("统一社会信用代码")).to_have_value(CODE_A)
    new.get_by_label("企业名称").fill("甲企业有限公司")
    new.get_by_label("联系电话").fill("139 0572 0001")
    new.get_by_label("诉求标题").fill(TITLE)
    new.get_by_label("诉求内容").fill(CONTENT)
    new.get_by_role("button", name="提交诉求").click()

    expect(ent).to_have_url(re.compile(r"/ui/portal/issues/330522-\d{4}-000001$"))
    number = ent.url.rsplit("/", 1)[1]
    expect(ent.locator("#flash")).to_have_text(f"提交成功，受理编号 {number}。")
    expect(ent.get_by_role("heading", name=TITLE)).to_be_visible()
    status = ent.locator("#status")
    expect(status.locator(".badge")).to_have_text("已接收")
    expect(status.locator(".light")).to_have_text("绿灯")
    expect(status.locator(".deadline-kind")).to_contain_text("分流交办时限")
    expect(status.locator(".countdown")).to_have_text(re.compile(r"^剩余 \d+ 天 \d+ 小时 \d+ 分$"))
    expect(ent.locator("#timeline li")).to_have_count(1)
    expect(ent.locator("#timeline li").first).to_contain_text("诉求已提交")
    ent.screenshot(path=shots / "03-portal-issue-received.png", full_page=True)

    # -- urge: the first is recorded, the second within 24 h refused with the next time --
    urge = ent.get_by_role("button", name="催办", exact=True)
    urge.click()
    expect(ent.locator("#urge-result")).to_have_text("已催办，承办部门将尽快处理。")
    expect(ent.locator("#timeline li")).to_have_count(2)
    urge.click()
    issue = county.call("GET", f"/issues/{number}", user="enterprise")
    urged_at = next(e["at"] for e in issue["timeline"] if e["kind"] == "urge")
    next_allowed = (datetime.fromisoformat(urged_at) + timedelta(hours=24)).isoformat()
    expect(ent.locator("#urge-result")).to_have_text(
        f"24小时内只能催办一次，下次可催办时间：{cst(next_allowed)}（北京时间）")
    assert issue["urge_count"] == 1
    ent.screenshot(path=shots / "04-portal-urge-refused.png", full_page=True)

    # -- the dispatcher triages and assigns in the workbench ---------------------------
    staff = console.watch(browser.new_page(viewport=DESKTOP))
    staff.goto(county.base + "/ui/workbench")
    login(staff, "dispatcher")
    expect(staff.locator("#pool-count")).to_have_text("共 1 件")
    row = staff.locator("#pool tbody tr").filter(has_text=number)
    expect(row.locator(".light")).to_have_text("绿灯")
    expect(row.locator(".light .dot")).to_have_count(1)
    staff.get_by_label("灯色", exact=True).select_option("red")
    staff.get_by_role("button", name="筛选").click()
    expect(staff.get_by_text("没有符合条件的诉求。")).to_be_visible()
    expect(staff).to_have_url(re.compile(r"\?light=red$"))
    staff.get_by_label("灯色", exact=True).select_option("")
    staff.get_by_label("关键词", exact=False).fill("扩建用地")
    staff.get_by_label("仅看超期").uncheck()
    staff.get_by_role("button", name="筛选").click()
    expect(staff.locator("#pool-count")).to_have_text("共 1 件")
    expect(row).to_be_visible()
    staff.screenshot(path=shots / "05-workbench-pool.png", full_page=True)
    row.get_by_role("link", name=number).click()

    expect(staff.get_by_role("heading", name=TITLE)).to_be_visible()
    actions = staff.locator("#actions summary")
    expect(actions).to_have_text(["研判分类", "不予受理"])
    act(staff, "研判分类", {"标签": "要素保障，用地", "专班/板块（选填）": "经信专班"}, "确认研判")
    expect(staff.locator("#issue .badge")).to_have_text("已研判")
    expect(actions).to_have_text(["研判分类", "交办承办部门", "不予受理", "提级协调"])
    act(staff, "交办承办部门", {"承办部门": "经信局"}, "确认交办")
    expect(staff.locator("#issue .badge")).to_have_text("已交办")
    expect(staff.locator("#status .deadline-kind")).to_contain_text("办结时限")
    expect(staff.locator("#timeline li").first).to_contain_text("交办承办部门")
    expect(staff.locator("#timeline li").first).to_contain_text("经信局")
    staff.screenshot(path=shots / "06-workbench-issue-assigned.png", full_page=True)

    # -- the handler starts and resolves --------------------------------------------------
    staff.get_by_role("button", name="退出登录").click()
    login(staff, "handler")
    expect(staff.locator("#issue .badge")).to_have_text("已交办")
    expect(actions).to_have_text(["开始办理", "不予受理"])
    act(staff, "开始办理", {"备注（选填）": "已联系企业"}, "开始办理")
    expect(staff.locator("#issue .badge")).to_have_text("办理中")
    act(staff, "办结答复", {"答复内容": REPLY}, "办结并答复企业",
        shot=shots / "07a-workbench-resolve-form.png")
    expect(staff.locator("#issue .badge")).to_have_text("已办结")
    expect(actions).to_have_count(0)
    expect(staff.get_by_text("当前状态下您没有可执行的操作。")).to_be_visible()
    staff.screenshot(path=shots / "07-workbench-issue-resolved.png", full_page=True)

    # -- the enterprise reads the reply in the timeline and rates it ---------------------
    ent.reload()
    expect(ent.locator("#reply-text")).to_have_text(REPLY)
    latest = ent.locator("#timeline li").first
    expect(latest).to_contain_text("办结答复")
    expect(latest).to_contain_text(REPLY)
    expect(ent.locator("#timeline li")).to_have_count(6)
    expect(ent.locator("#timeline")).not_to_contain_text("handler")  # no staff names
    expect(ent.locator("#status .countdown")).to_have_count(0)
    expect(ent.get_by_role("button", name="催办", exact=True)).to_be_hidden()
    ent.screenshot(path=shots / "08-portal-resolved-rate.png", full_page=True)
    ent.get_by_label("满意", exact=True).check()
    ent.get_by_role("button", name="提交评价").click()
    expect(ent.locator("#flash")).to_have_text("感谢评价，本诉求已结案。")
    expect(ent.locator("#status .badge")).to_have_text("已结案")
    expect(ent.locator("#timeline li").first).to_contain_text("企业评价，结案")
    expect(ent.locator("#timeline li").first).to_contain_text("满意")
    expect(ent.locator("#rate-card")).to_be_hidden()
    ent.screenshot(path=shots / "09-portal-closed.png", full_page=True)
    assert county.call("GET", f"/issues/{number}", user="enterprise")["state"] == "closed"
    ent.get_by_role("link", name="‹ 返回我的诉求").click()
    mine = ent.locator("#my-issues li").filter(has_text=TITLE)
    expect(mine.locator(".badge")).to_have_text("已结案")

    # -- the cockpit shows the counts, updates by itself, exports and prints ------------
    leader = console.watch(browser.new_page(viewport={"width": 1440, "height": 1000},
                                            accept_downloads=True))
    leader.goto(county.base + "/ui/cockpit?refresh=1")
    login(leader, "leader")

    def kpi(key: str) -> Locator:
        return leader.locator(f'[data-kpi="{key}"] .kpi-value')

    expect(kpi("total")).to_have_text("1")
    expect(kpi("open")).to_have_text("0")
    expect(kpi("resolution")).to_have_text("100.0%")
    expect(kpi("on_time")).to_have_text("100.0%")
    expect(kpi("satisfaction")).to_have_text("100.0%")
    expect(kpi("repeat")).to_have_text("0.0%")
    expect(leader.locator('#stages [data-key="closed"] .bar-value')).to_have_text("1")
    expect(leader.locator("#tags li")).to_have_count(2)
    expect(leader.locator('#tags [data-key="要素保障"] .bar-value')).to_have_text("1")
    expect(leader.locator("#units tbody tr")).to_have_count(1)
    expect(leader.locator("#units tbody tr").first).to_contain_text("合计")
    expect(leader.locator("#departments tbody tr").first).to_contain_text("经信局")
    leader.screenshot(path=shots / "10-cockpit.png", full_page=True)

    with leader.expect_download() as download:
        leader.get_by_role("button", name="导出单位表（CSV）").click()
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets open it as UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:4] == ["单位代码", "单位", "总数", "在办"]
    assert table[1][:8] == ["330522", "合计", "1", "0", "0", "0", "0", "100.0%"]
    assert download.value.suggested_filename.startswith("zhitong-units-330522-")

    county.call("POST", "/issues", submit_body(title="新上生产线用电增容申请"), user="enterprise")
    expect(kpi("total")).to_have_text("2")  # within seconds, without reloading
    expect(kpi("open")).to_have_text("1")
    expect(leader.locator("#lights [data-light=green] .light-tile-value")).to_have_text("1")

    leader.get_by_role("link", name="打印报表").click()
    expect(leader.get_by_role("heading", name="长兴县涉企问题办理情况报表")).to_be_visible()
    expect(leader.locator("#report-kpis")).to_contain_text("满意率")
    leader.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    leader.emulate_media(media="print")
    expect(leader.locator(".topbar")).to_be_hidden()
    expect(leader.get_by_role("button", name="打印")).to_be_hidden()
    leader.screenshot(path=shots / "11-cockpit-report-print.png", full_page=True)
    leader.pdf(path=shots.parent / "cockpit-report.pdf", format="A4", print_background=True)
    leader.emulate_media(media="screen")
    leader.set_viewport_size({"width": 1440, "height": 1000})

    # -- English once ----------------------------------------------------------------------
    leader.goto(county.base + "/ui/cockpit")
    leader.get_by_role("link", name="English").click()
    expect(leader.locator("html")).to_have_attribute("lang", "en")
    expect(leader.locator('[data-kpi="resolution"] .kpi-label')).to_have_text("Resolution rate")
    expect(leader.get_by_role("button", name="Export units (CSV)")).to_be_visible()
    expect(leader.locator('#stages [data-key="closed"] .bar-label')).to_have_text("Closed")
    leader.screenshot(path=shots / "12-cockpit-en.png", full_page=True)
    leader.get_by_role("link", name="中文").click()
    expect(leader.locator("html")).to_have_attribute("lang", "zh-CN")

    # -- the phone page: the unit with its numbers, within its weight budget -------------
    phone, weight, timings = open_phone(browser, county.base + "/ui/phone?refresh=2",
                                        county.token("viewer"))
    console.watch(phone)
    report_phone("county 330522, viewer", weight, timings)
    assert weight < PHONE_BUDGET
    expect(phone.locator("#total-body .big b")).to_have_text("2")
    expect(phone.locator("#total-body .chip.green")).to_have_text("绿灯 1")
    expect(phone.locator("#total-body .rates")).to_contain_text("100.0%")
    expect(phone.locator("#own")).to_be_hidden()  # a viewer may not list issues
    expect(phone.get_by_text("暂无下级单位数据")).to_be_visible()
    phone.screenshot(path=shots / "13-phone-county.png", full_page=True)
    county.call("POST", "/issues", submit_body(title="出口退税办理时间长"), user="enterprise")
    expect(phone.locator("#total-body .big b")).to_have_text("3")  # live within seconds


def test_operations_outbox_escalation_and_revisit_sample(
        county: Served, browser: Browser, shots: Path, console: Console) -> None:
    # One issue walked to closed through the API, one to escalate through the screen.
    done = county.call("POST", "/issues", submit_body(title="高企奖励资金尚未到位"),
                       user="enterprise")
    key = done["id"]
    county.call("POST", f"/issues/{key}/triage", {"tags": ["惠企政策"]}, user="dispatcher")
    county.call("POST", f"/issues/{key}/assign", {"department": "经信局"}, user="dispatcher")
    county.call("POST", f"/issues/{key}/start", {}, user="handler")
    county.call("POST", f"/issues/{key}/resolve", {"reply": "资金已拨付。"}, user="handler")
    up = county.call("POST", "/issues", submit_body(title="跨区域物流通道协调"),
                     user="enterprise")

    page = console.watch(browser.new_page(viewport=DESKTOP))
    page.goto(county.base + f"/ui/workbench/issues/{up['number']}")
    login(page, "leader")
    expect(page.get_by_role("heading", name="跨区域物流通道协调")).to_be_visible()
    act(page, "上报上级", {"理由": "涉及跨县物流通道，需市级统筹协调"}, "上报")
    expect(page.locator("#flash")).to_have_text("已提交：上报上级，等待对方节点确认")

    page.get_by_role("link", name="运行监控与回访抽查").click()
    outbox = page.locator("#outbox tbody tr")
    expect(outbox).to_have_count(1)
    expect(outbox.first.locator("th")).to_have_text("湖州市 (330500)")
    expect(outbox.first.locator("td").first).to_have_text("1")
    expect(page.locator("#refused")).to_contain_text("没有被拒绝的移交。")

    month = datetime.now(CST).strftime("%Y-%m")
    expect(page.get_by_label("抽样月份")).to_have_value(month)
    page.get_by_label("抽样比例（%）").fill("100")
    page.get_by_role("button", name="抽取").click()
    result = page.locator("#sample-result")
    expect(result).to_contain_text("已办结 1 件，抽中 1 件")
    expect(result.get_by_role("link", name=done["number"])).to_be_visible()
    expect(result).to_contain_text("高企奖励资金尚未到位")
    page.screenshot(path=shots / "14-workbench-operations.png", full_page=True)


# --------------------------------------------------------------------------- the province


def _lines(origin: str, numbers: Callable[[], str], now: datetime,
           states: list[tuple[str, str | None, str | None]]) -> list[IssueLine]:
    out = []
    for state, light, rating in states:
        received = now - timedelta(days=10)
        resolved = now - timedelta(days=2) if state in ("resolved", "closed") else None
        due = now - timedelta(days=1) if light == "red" else now + timedelta(days=3)
        out.append(IssueLine(
            number=numbers(), title=f"{origin} 诉求", origin=origin, state=state, light=light,
            tags=("要素保障",) if light else ("惠企政策",), received_at=received,
            resolved_at=resolved, resolve_due=now if resolved else due, due=due, rating=rating,
            reopen_count=0, rejected=False))
    return out


def put_city_summaries(node: Node) -> None:
    """What the province's stream side holds of its cities (summaries built by the domain,
    encoded by the city, decoded here): the streams are not connected, the test puts the
    cities' latest summaries where the NATS reader would."""
    issues = node.services.issues
    now = issues.clock.now()
    seq = iter(range(1, 1000))

    def numbers(code: str) -> Callable[[], str]:
        return lambda: f"{code}-{now.year}-{next(seq):06d}"

    closed = ("closed", None, "satisfied")
    huzhou = summarize("330500", [
        *_lines("330522", numbers("330522"), now, [closed, closed, ("in_progress", "green", None),
                                                   ("assigned", "red", None)]),
        *_lines("330521", numbers("330521"), now, [closed, ("triaged", "yellow", None)]),
        *_lines("330500", numbers("330500"), now, [("assigned", "green", None)]),
    ], now=now, by_origin=True)
    hangzhou = summarize("330100", [
        *_lines("330106", numbers("330106"), now, [closed, ("closed", None, "unsatisfied"),
                                                   ("in_progress", "green", None)]),
    ], now=now, by_origin=True)
    assert node.streams is not None
    node.streams.summaries.children = {s.node: decode(encode(s)) for s in (huzhou, hangzhou)}


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Served]:
    config = make_config(tmp_path, node={"code": "330000", "name": "浙江省", "level": "province",
                                         "parent": None, "children": ["330100", "330500"]},
                         nats={"enabled": True})
    for served in serve(config, USERS, connect_streams=False):
        served.call("POST", "/issues", submit_body(channel="higher_level",
                                                   title="省级交办：重大项目用能指标协调"),
                    user="dispatcher")
        put_city_summaries(served.node)
        yield served


def test_province_phone_summary_drills_down_to_counties(
        province: Served, browser: Browser, shots: Path, console: Console) -> None:
    summary: dict[str, Any] = province.call("GET", "/summary", user="viewer")
    assert set(summary["children"]) == {"330100", "330500"}

    page, weight, timings = open_phone(browser, province.base + "/ui/phone",
                                       province.token("viewer"))
    console.watch(page)
    report_phone("province 330000, viewer", weight, timings)
    assert weight < PHONE_BUDGET
    expect(page.locator("#total-body .big b")).to_have_text(str(summary["total"]))
    expect(page.locator("#total-body .chip.red")).to_have_text("红灯 1")
    cities = page.locator("#units > ul > li")
    expect(cities).to_have_count(2)
    expect(cities.locator("summary .u > b")).to_have_text(["杭州市", "湖州市"])
    expect(page.locator("#own")).to_be_hidden()  # viewer: 403 on /issues, section hidden
    page.screenshot(path=shots / "15-phone-province.png", full_page=True)

    huzhou = cities.filter(has_text="湖州市")
    counties = huzhou.locator(".sub > li")
    expect(counties.first).to_be_hidden()
    huzhou.locator("summary").tap()
    expect(counties.locator(".u > b")).to_have_text(["德清县", "长兴县"])
    changxing = counties.filter(has_text="长兴县")
    expect(changxing.locator(".chip.red")).to_have_text("红灯 1")
    expect(changxing.locator(".chip.green")).to_have_text("绿灯 1")
    expect(changxing).to_contain_text("4 件")
    expect(changxing.locator(".rates")).to_contain_text("100.0%")
    page.screenshot(path=shots / "16-phone-province-drilldown.png", full_page=True)

    # a leader of the province also sees the issues the province itself handles
    leader, _, _ = open_phone(browser, province.base + "/ui/phone", province.token("leader"))
    console.watch(leader)
    expect(leader.locator("#own")).to_be_visible()
    expect(leader.locator("#own-list li")).to_contain_text(["省级交办：重大项目用能指标协调"])


def test_province_phone_supervises_a_county_overdue_issue(
        province: Served, browser: Browser, shots: Path, console: Console) -> None:
    """督办 from the phone page: a province leader signs in through the form, taps 督办 on
    长兴县 (one red issue), the overdue list loads and one tap sends the directive; the
    province queues it to 湖州市, the child on the way to the county that owns it."""
    summary: dict[str, Any] = province.call("GET", "/summary", user="viewer")
    [late] = summary["children"]["330500"]["children"]["330522"]["overdue"]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = console.watch(context.new_page())
    page.goto(province.base + "/ui/phone")
    form = page.locator("#login-form")
    form.get_by_label("用户名", exact=True).fill(USERS["leader"].username)
    form.get_by_label("密码", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    huzhou = page.locator("#units > ul > li").filter(has_text="湖州市")
    huzhou.locator("summary .u").tap()
    changxing = huzhou.locator(".sub > li").filter(has_text="长兴县")
    expect(changxing.locator(".overdue")).to_have_text("超期 1 件")
    expect(huzhou.locator(".sub > li").filter(has_text="德清县").locator("button.sv")
           ).to_have_count(0)  # nothing overdue there
    changxing.get_by_role("button", name="督办", exact=True).tap()
    panel = page.locator("#sv")
    expect(panel.locator("h2")).to_have_text("督办 · 长兴县")
    item = panel.locator(f"li[data-number='{late['number']}']")
    expect(item).to_contain_text(late["title"])
    panel.get_by_label("督办意见").fill("请三日内办结")
    item.get_by_role("button", name="发出督办").tap()
    expect(item.get_by_role("status")).to_have_text("已督办，正送达承办单位")
    expect(item.get_by_role("button", name="发出督办")).to_be_disabled()
    page.screenshot(path=shots / "17-phone-province-supervise.png", full_page=True)
    outbox = province.call("GET", "/federation/outbox", user="leader")
    assert outbox["destinations"]["330500"]["depth"] == 1
    context.close()
