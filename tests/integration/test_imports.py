"""Importing issues from .xlsx / .csv: checks, all-or-nothing, idempotence, the back-dated
history, metrics, replication, the CLI as a process and the upload API.

The store tests run on SQLite and PostgreSQL (the `node` fixture)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from node.app.imports import ImportReport, Table, read_table, template_xlsx
from node.domain.calendar import CST
from node.domain.importing import COLUMNS
from node.domain.issue import Rating, State
from node.domain.lifecycle import create, evolve
from node.runtime import Node
from node.store import repo
from node.store.schema import events, import_keys, issues
from tests.support.api import Api
from tests.support.clock import FakeClock
from tests.support.data import STAFF
from tests.support.federation import nats_federation
from tests.support.flows import replica_version
from tests.support.imports import closed_row, new_row
from tests.support.wait import until, until_sync

ADMIN = STAFF["admin"]
ROOT = Path(__file__).resolve().parents[2]


def table(*rows: dict[str, object]) -> Table:
    return Table(rows=[(i + 2, r) for i, r in enumerate(rows)])


def count(node: Node, tbl: Any) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())


def run(node: Node, t: Table, **kw: Any) -> ImportReport:
    assert node.services.imports is not None
    return node.services.imports.service.run(ADMIN, t, **kw)


def xlsx_bytes(rows: list[dict[str, object]], *, zh: bool = True) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([c.zh if zh else c.key for c in COLUMNS])
    for r in rows:
        sheet.append([r.get(c.key) for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


BAD = [
    closed_row("B1", credit_code="91330522MA2AAAAA10"),  # wrong check character
    closed_row("B2", received_at="三月四日"),  # not a date
    new_row("B3", channel="微信"),  # unknown channel
    closed_row("B4", resolved_at="2025-03-01 09:00"),  # resolved before assigned
    new_row("B5", title=""),  # missing
]


def test_a_dry_run_reports_every_bad_row_and_writes_nothing(node: Node) -> None:
    report = run(node, table(closed_row("G1"), *BAD, new_row("G2")), dry_run=True)
    assert report.status == "dry_run"
    assert report.valid == 2 and report.invalid_rows == 5 and report.written == 0
    found = {(p["row"], p["column"]): p for p in report.to_dict()["problems"]}
    assert set(found) == {(3, "credit_code"), (4, "received_at"), (5, "channel"),
                          (6, "resolved_at"), (7, "title")}
    credit = found[(3, "credit_code")]
    assert credit["value"] == "91330522MA2AAAAA10" and credit["column_zh"] == "统一社会信用代码"
    assert "校验" in credit["reason"] and "check" in credit["reason_en"]
    assert "早于" in found[(6, "resolved_at")]["reason"]
    assert count(node, issues) == count(node, events) == count(node, import_keys) == 0


def test_all_or_nothing_by_default_and_skip_invalid_on_request(node: Node) -> None:
    rows = table(closed_row("A1"), BAD[0], new_row("A2"))
    refused = run(node, rows)
    assert refused.status == "refused" and refused.written == 0
    assert [p.row for p in refused.problems] == [3]
    assert count(node, issues) == count(node, events) == 0
    done = run(node, rows, skip_invalid=True)
    assert done.status == "done" and done.written == 2 and done.invalid_rows == 1
    assert count(node, issues) == 2


def test_importing_the_same_file_twice_adds_nothing(node: Node) -> None:
    rows = table(closed_row("R1"), new_row("R2"), closed_row("R3", state="办理中",
                                                             resolved_at="", reply="",
                                                             rating="", closed_at=""))
    first = run(node, rows)
    assert first.written == 3 and first.historical == 2
    n_events = count(node, events)
    again = run(node, rows)
    assert again.status == "done" and again.written == 0 and again.existing == 3
    assert count(node, issues) == 3 and count(node, events) == n_events
    with node.engine.connect() as conn:
        mapping = dict(conn.execute(select(import_keys.c.external_id,
                                           import_keys.c.original_number)).all())
    assert mapping == {"R1": "OLD-R1", "R2": None, "R3": "OLD-R3"}



def test_a_cancelled_import_keeps_its_batches_and_a_rerun_completes_it(node: Node) -> None:
    """取消导入 stops between two batches: the batches written stay whole (each issue with
    its events), the report says cancelled with what was written, and the same file again
    writes exactly the rest."""
    service = node.services.imports
    assert service is not None
    service.service.batch = 2
    rows = table(*(closed_row(f"K{i}") for i in range(5)))
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)

    stopped = service.service.run(ADMIN, rows, progress=progress,
                                  cancelled=lambda: len(seen) > 1)  # after the first batch
    assert (stopped.status, stopped.written, stopped.existing) == ("cancelled", 2, 0)
    assert seen == [0, 2]
    assert count(node, issues) == 2 and count(node, import_keys) == 2
    rest = run(node, rows)
    assert (rest.status, rest.written, rest.existing) == ("done", 3, 2)
    assert count(node, issues) == 5
    with node.engine.connect() as conn:  # every issue has its whole history
        counted = select(events.c.issue_id, func.count()).group_by(events.c.issue_id)
        per_issue = {issue: n for issue, n in conn.execute(counted)}
    assert len(per_issue) == 5 and len(set(per_issue.values())) == 1

def test_an_external_id_twice_in_one_file_is_a_problem_of_the_later_row(node: Node) -> None:
    report = run(node, table(new_row("D1"), new_row("D1")), dry_run=True)
    assert [(p.row, p.code, p.params["first_row"]) for p in report.problems] == \
        [(3, "import_external_id_repeated", 2)]


def test_a_historical_issue_folds_from_its_back_dated_events_and_counts_in_metrics(
        node: Node) -> None:
    report = run(node, table(closed_row("H1")))
    assert report.written == 1
    with node.engine.connect() as conn:
        issue_id = conn.execute(select(import_keys.c.issue_id)).scalar_one()
        stored = repo.load_issue(conn, issue_id)
        log = repo.events_of(conn, issue_id)
        unpublished = conn.execute(select(func.count()).select_from(events)
                                   .where(events.c.published.is_(False))).scalar_one()
    assert stored is not None
    assert [e.event.kind for e in log] == ["submitted", "triage", "assign", "start", "resolve",
                                           "accept"]
    assert all(e.event.payload["imported"] is True for e in log)
    assert log[0].event.payload["external_id"] == "H1"
    assert log[0].event.at == datetime(2025, 3, 4, 10, 0, tzinfo=CST)
    assert log[-1].event.at == datetime(2025, 3, 11, 10, 0, tzinfo=CST)
    folded = create(log[0].event)
    for e in log[1:]:
        folded = evolve(folded, e.event)
    assert folded == stored
    assert stored.state is State.CLOSED and stored.rating is Rating.SATISFIED
    assert stored.number == "330522-2025-000001"  # this node's number of the year received
    assert stored.department == "供电公司" and stored.tags == ("要素保障", "用电")
    assert unpublished == 6  # own events: the publisher ships them like any other
    overall = node.services.issues.metrics(STAFF["leader"]).to_dict()["overall"]
    assert overall["total"] == 1 and overall["satisfaction_rate"] == 1.0
    assert overall["avg_handling_hours"] == pytest.approx(151.0)  # 03-04 10:00 → 03-10 17:00


def test_a_new_issue_from_a_meeting_list_is_received_with_its_channel(node: Node) -> None:
    run(node, table(new_row("N1")))
    page = node.services.issues.list_issues(STAFF["leader"])
    (issue, light), = page.items
    assert issue.state is State.RECEIVED and issue.channel.value == "meeting"
    assert issue.received_at == datetime(2026, 2, 27, 9, 30, tzinfo=CST)
    assert issue.deadline is not None and light is not None  # its dispatch deadline runs


def test_the_template_reads_back_and_its_example_rows_are_valid(node: Node) -> None:
    t = read_table(io.BytesIO(template_xlsx()), "template.xlsx")
    assert len(t.rows) == 2
    report = run(node, t, dry_run=True)
    assert report.problems == [] and report.valid == 2


def test_csv_in_gb18030_and_english_headers_are_read(node: Node) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c.key for c in COLUMNS])
    writer.writerow([new_row("C1").get(c.key, "") for c in COLUMNS])
    t = read_table(io.BytesIO(buf.getvalue().encode("gb18030")), "list.csv")
    assert run(node, t).written == 1


def test_a_file_without_a_required_column_is_refused_naming_it() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["企业名称", "标题"])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    with pytest.raises(Exception, match="import_columns_missing") as info:
        read_table(out, "x.xlsx")
    assert "外部编号 (external_id)" in info.value.params["columns"]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the CLI


def test_the_cli_imports_with_a_progress_bar_and_refuses_a_bad_file(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f"""
[node]
code = "330522"
name = "长兴县"
level = "county"
parent = "330500"
data_dir = "{tmp_path / 'data'}"
""", encoding="utf-8")
    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx_bytes([closed_row(f"K{i}") for i in range(1200)]))
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes([closed_row("Z1"), BAD[0]]))
    cli = [sys.executable, "-m", "node.cli", "import", "issues"]

    def go(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args, "--config", str(config)], capture_output=True,
                              text=True, timeout=120, cwd=ROOT)

    refused = go(str(bad))
    assert refused.returncode == 1, refused.stderr
    assert "row 3, 统一社会信用代码 (credit_code)" in refused.stdout
    assert "refused" in refused.stdout and "0 written" in refused.stdout
    dry = go(str(good), "--dry-run")
    assert dry.returncode == 0 and "dry_run: 1200 rows, 1200 valid" in dry.stdout
    done = go(str(good))
    assert done.returncode == 0, done.stderr
    assert "1200 written (1200 historical)" in done.stdout
    assert "[" + "#" * 30 + "]    1200/1200" in done.stderr  # the progress bar, finished
    again = go(str(good))
    assert "0 written" in again.stdout and "1200 already imported" in again.stdout


# --------------------------------------------------------------------------- the upload API


def test_the_upload_runs_in_the_background_and_reports_progress(api: Api) -> None:
    data = xlsx_bytes([closed_row("U1"), new_row("U2"), BAD[2]])

    def upload(who: str, **form: str) -> Any:
        return api.client.post("/api/v1/imports", headers=api.headers(who),
                               files={"file": ("library.xlsx", data, "application/octet-stream")},
                               data=form)

    assert upload("handler").status_code == 403
    assert upload("viewer").status_code == 403

    def finished(job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {}

        def done() -> bool:
            nonlocal body
            body = api.get("dispatcher", f"/imports/{job_id}").json()
            return body["state"] in ("finished", "failed")

        until_sync(done, what="import job")
        return body

    first = upload("dispatcher")
    assert first.status_code == 202, first.text
    refused = finished(first.json()["id"])
    assert refused["report"]["status"] == "refused"
    assert refused["report"]["problems"][0]["row"] == 4
    assert api.pool()["total"] == 0
    skipped = finished(upload("dispatcher", skip_invalid="true").json()["id"])
    assert skipped["report"]["written"] == 2 and skipped["done"] == skipped["total"] == 2
    assert api.pool()["total"] == 2
    assert api.get("admin", f"/imports/{first.json()['id']}").status_code == 404  # not theirs
    done = api.post("dispatcher", f"/imports/{first.json()['id']}/cancel")
    assert done.status_code == 202  # finished already: answered as it is, nothing changes
    assert done.json()["state"] == "finished" and done.json()["cancel_requested"] is False
    assert api.post("admin", f"/imports/{first.json()['id']}/cancel").status_code == 404
    assert api.post("dispatcher", "/imports/nope/cancel").status_code == 404
    assert api.post("viewer", f"/imports/{first.json()['id']}/cancel").status_code == 403
    template = api.get("dispatcher", "/imports/template.xlsx")
    assert template.status_code == 200 and template.content[:2] == b"PK"
    wrong = api.client.post("/api/v1/imports", headers=api.headers("dispatcher"),
                            files={"file": ("list.txt", b"x", "text/plain")})
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["field"] == "file"


# --------------------------------------------------------------------------- replication


@pytest.mark.timeout(240)
async def test_an_imported_closed_issue_reaches_the_city_replica(tmp_path: Path) -> None:
    clock = FakeClock()
    topology = {"330000": None, "330500": "330000", "330522": "330500"}
    async with nats_federation(tmp_path, topology, clock) as fed:
        county, city = fed.nodes["330522"], fed.nodes["330500"]
        imports = county.node.services.imports
        assert imports is not None
        report = imports.service.run(ADMIN, table(closed_row("F1")))
        assert report.written == 1
        issue = county.issues.list_issues(STAFF["leader"]).items[0][0]
        await until(lambda: replica_version(city, issue.id) == issue.version, timeout_s=60,
                    what="city replica of the imported issue")
        replica = city.issues.get(STAFF["leader"], issue.id)
        assert replica.issue == issue
        assert [e.event.kind for e in replica.timeline][-1] == "accept"
        assert city.issues.metrics(STAFF["leader"]).to_dict()["overall"][
            "avg_handling_hours"] == pytest.approx(151.0)
