"""Exports: the pool of a filter as .xlsx / .csv (read back), the viewer's redacted file,
the export log, 100,000 rows with bounded memory, and the cockpit's workbook."""

from __future__ import annotations

import csv
import io
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from node.app import exports
from node.app.exports import PoolQuery
from node.app.imports import Table
from node.runtime import Node, build
from node.store import repo
from node.store.db import make_engine
from node.store.schema import export_log, issues
from node.web import ui
from tests.support.api import Api
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, STAFF, make_config
from tests.support.imports import closed_row, new_row


def seed(node: Node) -> None:
    assert node.services.imports is not None
    report = node.services.imports.service.run(
        STAFF["admin"], Table(rows=[(2, closed_row("E1")), (3, new_row("E2")),
                                    (4, closed_row("E3", title="=1+1 公式", state="已交办",
                                                   resolved_at="", reply="", rating="",
                                                   closed_at=""))]))
    assert report.written == 3


def logged(node: Node) -> list[dict[str, object]]:
    with node.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(export_log))]


def test_the_pool_as_xlsx_reads_back_with_header_block_columns_and_china_time(
        api: Api, api_node: Node) -> None:
    seed(api_node)
    resp = api.get("leader", "/issues/export", format="xlsx", state="closed")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-disposition"].startswith("attachment; filename=\"zhitong-pool-")
    sheet = load_workbook(io.BytesIO(resp.content), read_only=True).active
    assert sheet is not None
    rows: list[list[Any]] = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0].startswith("长兴县 (330522) 问题池导出")
    assert rows[1][0] == "筛选条件：状态 = 已结案"
    assert rows[2][0] == "导出时间：2026-03-02 09:00（北京时间）"  # the fake clock, China time
    assert rows[3][0] == "导出人：leader"
    header = rows[5]
    assert header[:3] == ["编号", "标题", "状态"]
    data = rows[6:]
    assert len(data) == 1  # the filter: only the closed one
    row = dict(zip(header, data[0], strict=True))
    assert row["状态"] == "已结案" and row["渠道"] == "12345营商环境专线"
    assert row["受理时间"] == datetime(2025, 3, 4, 10, 0)  # China time, as typed
    assert row["联系电话"] == "13905720001" and row["评价"] == "满意"
    assert [e["rows"] for e in logged(api_node)] == [1]  # personal data: logged
    entry = logged(api_node)[0]
    assert entry["actor"] == "staff:leader" and entry["filter"] == {"state": ["closed"]}


def test_the_pool_as_csv_in_english_quotes_formulas(api: Api, api_node: Node) -> None:
    seed(api_node)
    resp = api.get("dispatcher", "/issues/export", format="csv", lang="en")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    text = resp.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["Filter: all issues"]
    assert rows[5][:3] == ["Number", "Title", "State"]
    assert len(rows[6:]) == 3
    titles = {r[1] for r in rows[6:]}
    assert "'=1+1 公式" in titles  # never a formula when opened in a spreadsheet
    received = {r[13] for r in rows[6:]}
    assert "2025-03-04 10:00:00" in received


def test_a_viewers_export_has_no_personal_data_and_is_not_logged(api: Api,
                                                                 api_node: Node) -> None:
    seed(api_node)
    resp = api.get("viewer", "/issues/export", format="csv")
    assert resp.status_code == 200, resp.text
    text = resp.content.decode("utf-8-sig")
    for personal in ("13905720001", "0572-6012345", CODE_A, "甲企业有限公司", "联系电话",
                     "新产线需要电力增容", "增容方案已批复"):
        assert personal not in text
    assert "已去除企业及个人信息" in text and "电力增容 E1" in text
    xlsx = api.get("viewer", "/issues/export", format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    cells = {str(c) for r in sheet.iter_rows(values_only=True) for c in r if c is not None}
    assert "13905720001" not in cells and "企业名称" not in cells
    assert logged(api_node) == []
    assert api.get("ent_a", "/issues/export").status_code == 403
    # nor can a viewer find issues by an enterprise's name or a content word: the text
    # index holds personal data
    for q in ("甲企业有限公司", "电力增容"):
        refused = api.get("viewer", "/issues/export", format="csv", q=q)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"


def test_the_cockpit_tables_as_one_workbook(api: Api, api_node: Node) -> None:
    seed(api_node)
    resp = api.get("viewer", "/cockpit/export.xlsx")
    assert resp.status_code == 200, resp.text
    book = load_workbook(io.BytesIO(resp.content), read_only=True)
    assert book.sheetnames == ["单位", "部门", "板块", "标签", "红灯清单"]
    units: list[list[Any]] = [list(r) for r in book["单位"].iter_rows(values_only=True)]
    assert units[1][0].startswith("统计时间：")
    header = units[4]
    assert header[:3] == ["单位代码", "单位", "问题总数"]
    assert units[5][:3] == ["330522", "长兴县", 3]
    # the two rates named apart, as the cockpit names them
    assert header[-3:-1] == ["重办率（不满意重办）", "重发复发率"]
    assert len(units[5]) == len(header)
    departments: list[list[Any]] = [list(r) for r in book["部门"].iter_rows(values_only=True)][5:]
    assert {d[0] for d in departments} == {"供电公司", "（未指定）"}
    assert api.get("ent_a", "/cockpit/export.xlsx").status_code == 403


@pytest.mark.timeout(600)  # ~40 s on an idle machine (tracemalloc slows every allocation)
def test_100k_rows_stream_with_bounded_memory(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = make_engine(f"sqlite:///{tmp_path / 'big.sqlite3'}")
    node = build(make_config(tmp_path), clock=clock, engine=engine)
    assert node.services.imports is not None and node.services.exports is not None
    node.services.imports.service.run(STAFF["admin"], Table(rows=[(2, closed_row("T"))]))
    with node.engine.connect() as conn:
        template = dict(conn.execute(select(issues)).one()._mapping)
    # 100,000 rows written straight into the table: this test measures the export
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with node.engine.begin() as conn:
        for lo in range(0, 100_000, 10_000):
            conn.execute(insert(issues), [
                {**template, "id": f"330522-big{i:07d}", "number": f"330522-2024-{i:06d}",
                 "received_at": start + timedelta(minutes=i)}
                for i in range(lo, lo + 10_000)])
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(issues)).scalar_one() == 100_001
    labels = ui.STRINGS["zh-CN"]
    tracemalloc.start(1)
    try:
        started = time.monotonic()
        made = node.services.exports.pool(STAFF["leader"], PoolQuery(), format="csv",
                                          labels=labels)
        size = lines = 0
        for chunk in made.chunks:
            size += len(chunk)
            lines += chunk.count(b"\r\n")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        engine.dispose()
    assert lines == 6 + 100_001  # header block (5 lines + blank), columns, every row
    print(f"100k csv: {size / 1e6:.1f} MB in {elapsed:.1f} s, peak traced {peak / 1e6:.1f} MB")
    # the file is ~25 MB; one page of 1,000 issues and a 256 KiB chunk are in memory at once
    assert peak < 40e6, peak
    assert size > 20e6


def test_paging_exports_every_issue_once_across_equal_received_times(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(node)  # E1 and E3 were received at the same instant
    monkeypatch.setattr(exports, "PAGE", 2)
    assert node.services.exports is not None
    made = node.services.exports.pool(STAFF["leader"], PoolQuery(), format="csv",
                                      labels=ui.STRINGS["zh-CN"])
    body = b"".join(made.chunks).decode("utf-8-sig")
    numbers = [line.split(",")[0] for line in body.splitlines()[6:]]
    assert sorted(numbers) == ["330522-2025-000001", "330522-2025-000002",
                               "330522-2026-000001"]


def test_the_pool_and_its_export_filter_by_the_unit_of_origin_and_the_holder(
        api: Api, api_node: Node) -> None:
    """A city's pool per county: `origin` keeps the issues submitted at a unit, `owner`
    those held there now; the export takes the same filters and names them in its header,
    and a malformed code is refused before anything is read."""
    seed(api_node)
    with api_node.engine.begin() as conn:
        template = dict(conn.execute(select(issues).limit(1)).one()._mapping)
        conn.execute(insert(issues), [
            {**template, "id": "330521-x1", "number": "330521-2025-000001",
             "origin": "330521", "owner": "330521"},
            {**template, "id": "330521-x2", "number": "330521-2025-000002",
             "origin": "330521", "owner": "330500"}])
        repo.rebuild_counts(conn)  # the rows went around the store: recount them

    def numbers(**params: str) -> list[str]:
        resp = api.get("leader", "/issues", **params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["total"] == len(resp.json()["items"])
        return sorted(i["number"] for i in resp.json()["items"])

    assert numbers(origin="330521") == ["330521-2025-000001", "330521-2025-000002"]
    assert numbers(origin="330521", owner="330500") == ["330521-2025-000002"]
    assert len(numbers(origin="330522")) == 3
    assert numbers(owner="330511") == []
    for bad in ({"origin": "33052"}, {"owner": "abcdef"}):
        assert api.get("leader", "/issues", **bad).status_code == 422
        assert api.get("leader", "/issues/export", format="csv", **bad).status_code == 422
    resp = api.get("leader", "/issues/export", format="csv", origin="330521", owner="330500")
    assert resp.status_code == 200, resp.text
    lines = resp.content.decode("utf-8-sig").splitlines()
    assert lines[1] == "筛选条件：来源单位 = 330521；承办单位 = 330500"
    assert [line.split(",")[0] for line in lines[6:]] == ["330521-2025-000002"]
