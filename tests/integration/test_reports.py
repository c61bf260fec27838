"""Periodic reports on SQLite and PostgreSQL: a county's history with known dates (a fake
clock, every issue made through the use cases), the schedule after the period closes making
exactly one report per (node, kind, period) — run twice, from a restarted node, from two
threads at once —, the files opened (pypdf: A4, the Chinese text, the embedded CJK font;
openpyxl: the sheets and numbers) and checked against the API's figures, and generation on
demand with its refusals (nothing written)."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import Engine

from node.app.reports import ReportService
from node.domain.issue import Rating
from node.domain.lifecycle import Assign, Command, Rate, Resolve, Start, Triage
from node.runtime import REPORT_FONT, Node, build, running
from tests.support.api import assert_error
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, STAFF, make_config, submit_cmd
from tests.support.db import table_counts
from tests.support.wait import until

PASSWORD = "reports-password-1"
#: 1 April 2026 00:30 CST: March, the first quarter and (still) 2025 are the last ended
AFTER_MARCH = datetime.fromisoformat("2026-04-01T00:30:00+08:00")
FONT_SHA256 = "e841c3bd4897a6710209eaaddfcfb3ecd3ee2fa0984cc2e65fe0cf675d7e5157"


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def history(node: Node, clock: FakeClock) -> None:
    """Four issues of 长兴县: two received in March 2026, one in February resolved in March,
    one of March 2025 (the same period a year before)."""
    svc = node.services.issues

    def make(at: str, steps: list[Command], title: str) -> str:
        clock.set(cst(at))
        issue, _ = svc.submit(LEADER, submit_cmd(title=title))
        for cmd in steps:
            issue = svc.act(LEADER, issue.id, cmd)
        return issue.id

    handled: list[Command] = [Triage(tags=("用地",)), Assign(department="经信局"), Start()]
    old = make("2025-03-04T10:00", handled, "去年同期诉求")
    clock.set(cst("2025-03-06T10:00"))
    svc.act(LEADER, old, Resolve(reply="已办结。"))
    feb = make("2026-02-10T10:00", [Triage(tags=("融资",)), Assign(department="住建局"),
                                    Start()], "二月诉求")
    first = make("2026-03-02T10:00", handled, "三月诉求一")
    clock.set(cst("2026-03-03T10:00"))
    svc.act(LEADER, first, Resolve(reply="已办结。"))
    svc.act(ENTERPRISE_A, first, Rate(rating=Rating.SATISFIED, comment="满意"))
    make("2026-03-09T10:00", [Triage(tags=("用地", "融资")), Assign(department="住建局")],
         "三月诉求二")
    clock.set(cst("2026-03-10T10:00"))
    svc.act(LEADER, feb, Resolve(reply="已办结。"))
    clock.set(AFTER_MARCH)


def into_may(node: Node, clock: FakeClock) -> None:
    """An issue received in April, then the clock on 1 May: April's report is due."""
    clock.set(cst("2026-04-10T10:00"))
    node.services.issues.submit(LEADER, submit_cmd(title="四月诉求"))
    clock.set(datetime.fromisoformat("2026-05-01T01:00:00+08:00"))


def reports(node: Node) -> ReportService:
    assert node.services.reports is not None
    return node.services.reports


@pytest.fixture
def county(node: Node, clock: FakeClock) -> Node:
    history(node, clock)
    return node


def test_the_schedule_makes_one_report_per_period_even_twice_or_restarted(
        county: Node, engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    made = reports(county).run_due()
    assert sorted((r.kind, r.period) for r in made) == [
        ("month", "2026-03"), ("quarter", "2026-Q1"), ("year", "2025")]
    assert all(r.trigger == "schedule" and r.actor == "system" for r in made)
    assert reports(county).run_due() == []
    # a restarted node (a new process on the same database) makes nothing again
    again = build(make_config(tmp_path), clock=clock, engine=engine)
    assert reports(again).run_due() == []
    # two at once: one of them makes nothing (the unique key, not luck)
    into_may(county, clock)
    results: list[list[Any]] = []
    start = threading.Barrier(2)

    def run(node: Node) -> None:
        start.wait()
        results.append(reports(node).run_due())

    threads = [threading.Thread(target=run, args=(n,)) for n in (county, again)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) in ([0, 1], [1, 1])
    assert sum(len(r) for r in results) >= 1
    assert table_counts(engine)["reports"] == 4  # + April; the quarter and year stand
    listed = reports(county).reports(LEADER)
    assert [(r.kind, r.period) for r in listed] == [
        ("month", "2026-04"), ("month", "2026-03"), ("quarter", "2026-Q1"), ("year", "2025")]


def test_a_period_without_activity_gets_no_scheduled_report(node: Node, clock: FakeClock,
                                                             engine: Engine) -> None:
    clock.set(AFTER_MARCH)
    assert reports(node).run_due() == [] and table_counts(engine)["reports"] == 0
    history(node, clock)  # March has issues now; 2025 too; the quarter as well
    assert len(reports(node).run_due()) == 3


def test_the_month_report_has_the_hand_counted_figures(county: Node) -> None:
    [month] = [r for r in reports(county).run_due() if r.kind == "month"]
    c = month.content
    assert (c["node"], c["period"], c["previous_period"], c["year_before_period"]) == (
        "330522", "2026-03", "2026-02", "2025-03")
    cur = c["current"]
    assert (cur["received"], cur["resolved"], cur["closed"]) == (2, 2, 1)
    assert cur["rates"]["resolution"] == {"value": 0.5, "num": 1, "den": 2}
    assert cur["rates"]["satisfaction"] == {"value": 1.0, "num": 1, "den": 1}
    assert cur["mix"]["done"] == 1 and sum(cur["mix"].values()) == 2
    assert c["previous"]["received"] == 1 and c["year_before"]["resolved"] == 1
    assert c["top_tags"] == [{"tag": "用地", "count": 2}, {"tag": "融资", "count": 1}]
    assert {(d["unit"], d["department"]) for d in c["departments"]} == {
        ("330522", "经信局"), ("330522", "住建局")}
    assert c["units"] == []  # a county has no child units
    text = repr(c)
    assert "甲企业" not in text and ENTERPRISE_A.username not in text  # no enterprise data


@pytest.fixture
def client(county: Node) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    for who in ("viewer", "leader", "admin"):
        county.services.accounts.add(STAFF[who], PASSWORD)
    with TestClient(county.app) as c:
        auth = {}
        for who in ("viewer", "leader", "admin"):
            login = c.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
            assert login.status_code == 200, login.text
            auth[who] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield c, auth


def pdf_fonts(reader: PdfReader) -> list[dict[str, Any]]:
    out = []
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font: Any = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            out.append({"base": str(font["/BaseFont"]), "subtype": str(font["/Subtype"]),
                        "cid": str(descendant["/Subtype"]),
                        "embedded": "/FontFile2" in descriptor,
                        "unicode": "/ToUnicode" in font})
    return out


def test_the_files_open_and_show_the_apis_figures(
        client: tuple[TestClient, dict[str, dict[str, str]]], county: Node) -> None:
    c, auth = client
    reports(county).run_due()
    listed = c.get("/api/v1/reports", params={"kind": "month"}, headers=auth["viewer"])
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    detail = c.get(f"/api/v1/reports/{item['id']}", headers=auth["viewer"]).json()
    figures = detail["content"]["current"]

    pdf = c.get(item["pdf_url"], headers=auth["viewer"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == item["pdf_sha256"] == \
        pdf.headers["x-content-sha256"]
    assert "attachment" in pdf.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(pdf.content))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "长兴县2026年3月涉企问题闭环办理月度报告" in text
    lines = text.splitlines()
    assert f"受理件数 {figures['received']} 1 " in next(x for x in lines if "受理件数" in x) + " "
    assert any(x.startswith(f"办结件数 {figures['resolved']} ") for x in lines)
    assert any(x.startswith("办结率 50.0%") for x in lines)
    assert "热点标签前十" in text and "用地" in text and "经信局" in text
    fonts = pdf_fonts(reader)
    assert fonts and all(f["subtype"] == "/Type0" and f["cid"] == "/CIDFontType2"
                         and f["embedded"] and f["unicode"] for f in fonts)
    assert all("WenQuanYiMicroHei" in f["base"] for f in fonts)  # subset tag + name

    xlsx = c.get(item["xlsx_url"], headers=auth["viewer"])
    assert xlsx.status_code == 200
    assert hashlib.sha256(xlsx.content).hexdigest() == item["xlsx_sha256"]
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["主要指标", "亮灯情况", "有感指数排名", "部门排名", "热点标签前十"]
    rows = {r[0]: r for r in book["主要指标"].iter_rows(min_row=3, values_only=True)}
    assert rows["受理件数"][1:3] == (figures["received"], 1)
    assert rows["办结率"][1] == figures["rates"]["resolution"]["value"]
    assert [r[1:] for r in book["热点标签前十"].iter_rows(min_row=3, values_only=True)] == [
        ("用地", 2), ("融资", 1)]


def test_generation_on_demand_and_its_refusals(
        client: tuple[TestClient, dict[str, dict[str, str]]], county: Node,
        engine: Engine) -> None:
    c, auth = client
    made = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-02"},
                  headers=auth["leader"])
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["trigger"], body["actor"], body["version"]) == ("demand", "leader", 1)
    assert body["content"]["current"]["received"] == 1
    kept = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-02"},
                  headers=auth["admin"])
    assert kept.status_code == 200 and kept.json()["id"] == body["id"]
    redone = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-02",
                                             "replace": True}, headers=auth["admin"])
    assert redone.status_code == 201 and redone.json()["version"] == 2
    before = table_counts(engine)
    details = assert_error(c.post("/api/v1/reports", json={"kind": "month", "period": "2026-04"},
                                  headers=auth["leader"]), 409, "report_period_open")
    assert details["period"] == "2026-04"
    bad = c.post("/api/v1/reports", json={"kind": "quarter", "period": "2026-05"},
                 headers=auth["leader"])
    assert assert_error(bad, 422, "invalid_input")["field"] == "period"
    assert "YYYY-Q1" in bad.json()["error"]["message"]  # report_period_invalid's message
    assert_error(c.post("/api/v1/reports", json={"kind": "week", "period": "2026"},
                        headers=auth["leader"]), 422, "invalid_input")
    assert_error(c.post("/api/v1/reports", json={"kind": "year", "period": "2025"},
                        headers=auth["viewer"]), 403, "forbidden")
    assert_error(c.get("/api/v1/reports"), 401, "unauthenticated")
    assert_error(c.get("/api/v1/reports/999999/pdf", headers=auth["viewer"]), 404, "not_found")
    after = table_counts(engine)
    after.pop("audit_log", None), before.pop("audit_log", None)  # refusals may be audited
    assert after == before


def test_the_vendored_font_is_the_one_its_readme_names() -> None:
    assert hashlib.sha256(REPORT_FONT.read_bytes()).hexdigest() == FONT_SHA256
    readme = (REPORT_FONT.parent / "README.md").read_text("utf-8")
    assert FONT_SHA256 in readme and (REPORT_FONT.parent / "LICENSE-Apache-2.0.txt").exists()


def kept(node: Node) -> list[tuple[str, str]]:
    return sorted((r.kind, r.period) for r in reports(node).reports(LEADER))


async def test_the_runtimes_task_makes_them_and_a_restart_adds_no_second(
        tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path)
    async with running(config, clock=clock, http_port=0, reports_every_s=None) as run:
        history(run.node, clock)  # (the task does not run while the clock jumps about)
    async with running(config, clock=clock, http_port=0, reports_every_s=0.05) as run:
        await until(lambda: len(kept(run.node)) == 3, what="the three reports")
    async with running(config, clock=clock, http_port=0, reports_every_s=None) as run:
        into_may(run.node, clock)
    async with running(config, clock=clock, http_port=0, reports_every_s=0.05) as run:
        await until(lambda: ("month", "2026-04") in kept(run.node), what="April's report")
        assert kept(run.node) == [("month", "2026-03"), ("month", "2026-04"),
                                  ("quarter", "2026-Q1"), ("year", "2025")]


def test_the_reports_index_ranking_is_the_apis(
        client: tuple[TestClient, dict[str, dict[str, str]]], county: Node) -> None:
    """The ranking in the report (content, workbook, PDF) is GET /api/v1/index's for the
    same period and level (a county ranks its departments), not a second computation."""
    c, auth = client
    [month] = [r for r in reports(county).run_due() if r.kind == "month"]
    api = c.get("/api/v1/index", params={"period": "2026-03", "level": "department"},
                headers=auth["viewer"])
    assert api.status_code == 200, api.text
    ranking = month.content["index"]
    assert ranking == api.json()
    rows = ranking["rows"]
    assert {r["unit"] for r in rows} == {"330522|经信局", "330522|住建局"}
    assert all(r["index"] is not None or r["reason"] for r in rows)
    book = load_workbook(io.BytesIO(c.get(f"/api/v1/reports/{month.id}/xlsx",
                                          headers=auth["viewer"]).content))
    sheet = list(book["有感指数排名"].iter_rows(min_row=2, values_only=True))
    assert sheet[0][:6] == ("名次", "单位", "指数", "上期指数", "指数变化", "名次变化")
    by_name = {r[1]: r for r in sheet[1:len(rows) + 1]}
    for r in rows:
        got = by_name[r["name"]]
        scores = {x["name"]: x["value"] for x in r["components"]}
        assert got[2:6] == (r["index"], r["previous_index"], r["index_change"],
                            r["rank_change"])
        assert got[6] == scores["resolution"] and got[7] == scores["on_time"]
        assert got[0] == (r["rank"] if r["rank"] is not None else "样本不足")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(
        c.get(f"/api/v1/reports/{month.id}/pdf", headers=auth["viewer"]).content)).pages)
    assert "有感指数排名" in text and "经信局" in text
