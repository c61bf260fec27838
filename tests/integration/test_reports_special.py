"""Special reports (专项报告) on SQLite and PostgreSQL, over HTTP: a hand-countable history
of 长兴县 (a fake clock, every issue made through the use cases), a span of days with and
without chosen tags and units — only the chosen issues count, in the period, in the span
before and in the same days a year before —, kept once per choice and listed, the files
naming the choice, and every refusal with nothing written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import Engine

from node.domain.issue import Rating
from node.domain.lifecycle import Assign, Command, Rate, Resolve, Start, Triage
from node.runtime import Node
from tests.support.api import assert_error
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, STAFF, submit_cmd
from tests.support.db import table_counts

PASSWORD = "special-password-1"
AFTER_MARCH = datetime.fromisoformat("2026-04-01T00:30:00+08:00")
ZR, SW = "330522.zrzyj", "330522.shuiwu"  # (free text: this node has no unit catalogue)


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def history(node: Node, clock: FakeClock) -> None:
    """A 2025-02-10 用地 ZR resolved 02-12 · B 2026-01-20 融资 SW resolved 02-05 ·
    C 2026-02-03 用地 ZR resolved 02-04, satisfied · D 2026-03-09 用地+融资 SW open ·
    E 2026-03-20 税费 ZR resolved 03-21."""
    svc = node.services.issues

    def make(at: str, tags: tuple[str, ...], dept: str, resolved: str | None,
             rate: bool = False) -> None:
        clock.set(cst(at))
        issue, _ = svc.submit(LEADER, submit_cmd(title=f"{tags[0]}诉求"))
        steps: list[Command] = [Triage(tags=tags), Assign(department=dept), Start()]
        for cmd in steps:
            issue = svc.act(LEADER, issue.id, cmd)
        if resolved:
            clock.set(cst(resolved))
            svc.act(LEADER, issue.id, Resolve(reply="已办结。"))
        if rate:
            svc.act(ENTERPRISE_A, issue.id, Rate(rating=Rating.SATISFIED, comment="满意"))

    make("2025-02-10T10:00", ("用地",), ZR, "2025-02-12T10:00")
    make("2026-01-20T10:00", ("融资",), SW, "2026-02-05T10:00")
    make("2026-02-03T10:00", ("用地",), ZR, "2026-02-04T10:00", rate=True)
    make("2026-03-09T10:00", ("用地", "融资"), SW, None)
    make("2026-03-20T10:00", ("税费",), ZR, "2026-03-21T10:00")
    clock.set(AFTER_MARCH)


@pytest.fixture
def client(node: Node, clock: FakeClock) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    history(node, clock)
    for who in ("viewer", "leader", "admin"):
        node.services.accounts.add(STAFF[who], PASSWORD)
    with TestClient(node.app) as c:
        auth = {}
        for who in ("viewer", "leader", "admin"):
            login = c.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
            assert login.status_code == 200, login.text
            auth[who] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield c, auth


def counts(c: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """(received, resolved) now, in the span before, in the same days a year before."""
    return (c["current"]["received"], c["current"]["resolved"], c["previous"]["received"],
            c["previous"]["resolved"], c["year_before"]["received"],
            c["year_before"]["resolved"])


SPAN = {"kind": "special", "from": "2026-02-01", "to": "2026-03-31"}


@pytest.mark.parametrize(("choice", "expected"), [
    ({}, (3, 3, 1, 0, 1, 1)),  # C D E received; B C E resolved; before: B; 2025: A
    ({"tags": ["用地"]}, (2, 1, 0, 0, 1, 1)),  # C D; C; —; A
    ({"units": [SW]}, (1, 1, 1, 0, 0, 0)),  # D; B; B received in January
    ({"tags": ["用地"], "units": [ZR]}, (1, 1, 0, 0, 1, 1)),  # C; C; —; A
    ({"tags": ["用地", "税费"], "units": [ZR, SW]}, (3, 2, 0, 0, 1, 1)),  # C D E; C E; A
])
def test_a_special_report_counts_only_the_chosen_issues(
        client: tuple[TestClient, dict[str, dict[str, str]]], choice: dict[str, Any],
        expected: tuple[int, ...]) -> None:
    c, auth = client
    made = c.post("/api/v1/reports", json=SPAN | choice, headers=auth["leader"])
    assert made.status_code == 201, made.text
    body = made.json()
    content = body["content"]
    assert counts(content) == expected
    assert (body["kind"], content["start"], content["end"]) == (
        "special", "2026-02-01T00:00:00+08:00", "2026-04-01T00:00:00+08:00")
    assert content["previous_period"].startswith("2025-12-04~2026-01-31")  # as many days
    assert content["year_before_period"].startswith("2025-02-01~2025-03-31")
    assert content["special"] == {"from": "2026-02-01", "to": "2026-03-31",
                                  "tags": sorted(choice.get("tags", [])),
                                  "units": sorted(choice.get("units", []))}
    assert body["period"].startswith("2026-02-01~2026-03-31")
    assert ("#" in body["period"]) == bool(choice)
    assert content["index"] is None  # the index is kept per month, quarter and year


def test_special_reports_are_kept_once_per_choice_listed_and_their_files_name_it(
        client: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine) -> None:
    c, auth = client
    first = c.post("/api/v1/reports", json=SPAN | {"tags": ["用地"]}, headers=auth["leader"])
    again = c.post("/api/v1/reports", json=SPAN | {"tags": ["用地"]}, headers=auth["admin"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = c.post("/api/v1/reports", json=SPAN | {"tags": ["融资"]}, headers=auth["leader"])
    assert other.status_code == 201 and other.json()["period"] != first.json()["period"]
    assert table_counts(engine)["reports"] == 2
    listed = c.get("/api/v1/reports", params={"kind": "special"}, headers=auth["viewer"])
    assert {i["id"] for i in listed.json()["items"]} == {first.json()["id"],
                                                         other.json()["id"]}
    item = first.json()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(
        c.get(item["pdf_url"], headers=auth["viewer"]).content)).pages)
    assert "长兴县2026年2月1日至2026年3月31日涉企问题闭环办理专项报告" in text
    assert "专项范围" in text and "用地" in text
    book = load_workbook(io.BytesIO(c.get(item["xlsx_url"], headers=auth["viewer"]).content))
    assert book.sheetnames[0] == "专项范围"
    rows = {r[0]: r for r in book["主要指标"].iter_rows(min_row=3, values_only=True)}
    assert rows["受理件数"][1:3] == (2, 0)


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"kind": "special", "to": "2026-03-31"}, 422, "invalid_input", "from"),
    ({"kind": "special", "from": "2026-3-1", "to": "2026-03-31"}, 422, "invalid_input", "from"),
    ({"kind": "special", "from": "2026-02-30", "to": "2026-03-31"}, 422, "invalid_input",
     "from"),
    ({"kind": "special", "from": "2026-03-31", "to": "2026-03-01"}, 422, "invalid_input", "to"),
    ({"kind": "special", "from": "2025-01-01", "to": "2026-01-01"}, 422, "invalid_input", "to"),
    (SPAN | {"tags": [""]}, 422, "invalid_input", "tags"),
    (SPAN | {"tags": [f"t{i}" for i in range(21)]}, 422, "invalid_input", "tags"),
    (SPAN | {"units": ["经信局"]}, 422, "invalid_input", "units"),
    ({"kind": "month", "period": "2026-02", "tags": ["用地"]}, 422, "invalid_input", "kind"),
    (SPAN | {"period": "2026-02"}, 422, "invalid_input", "period"),
    ({"kind": "special", "from": "2026-03-01", "to": "2026-04-01"}, 409,
     "report_period_open", None),
])
def test_a_bad_choice_is_refused_with_nothing_written(
        client: tuple[TestClient, dict[str, dict[str, str]]], engine: Engine,
        body: dict[str, Any], status: int, code: str, field: str | None) -> None:
    c, auth = client
    before = table_counts(engine)
    refused = c.post("/api/v1/reports", json=body, headers=auth["leader"])
    details = assert_error(refused, status, code)
    if field is not None:
        assert details["field"] == field
    if code == "invalid_input":
        assert refused.json()["error"]["message"]
    after = table_counts(engine)
    after.pop("audit_log", None), before.pop("audit_log", None)
    assert after == before


def test_a_viewer_may_not_order_one(
        client: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    c, auth = client
    assert_error(c.post("/api/v1/reports", json=SPAN, headers=auth["viewer"]), 403, "forbidden")
