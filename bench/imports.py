"""Import and export benchmark: rows/s of `zhitong import issues` and of the pool's export.

    .venv/bin/python -m bench.imports [--rows 10000] [--backend sqlite|postgres|both]
                                      [--historical 0.7] [--json bench/results/imports.json]

One run, each backend on a fresh database (SQLite: a file with the node's settings, WAL,
synchronous=FULL; PostgreSQL: a throwaway cluster, tests/support/pg.py), through the same
code as the command line (node.app.imports.ImportService on a node built by
node.runtime.build):

1. the file: --rows rows written as .xlsx (openpyxl), a `--historical` share of them closed
   and rated issues of 2025 (six back-dated events each), the rest new issues of a meeting
   list (one event each); read back with python-calamine (what the import uses) and, for
   the choice, openpyxl's read-only mode;
2. the checks alone (a dry run: every row validated, the external ids looked up);
3. the import, all rows, batches of 500 per transaction (rows/s is the headline: the
   issue's goal is 2,000 rows/s on SQLite for 10,000 rows), then a second import of the
   same file (adds nothing: rows/s of the idempotence check);
4. the export of the whole pool, .csv then .xlsx (rows/s, size).

After the import the store is checked: issues = rows, events = rows + 5 × historical,
import_keys = rows, every own event unpublished; a failed check prints FAIL, exit 1.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bench.common.log import log
from bench.common.results import RESULTS, exit_code, machine_meta, write_json
from bench.common.rows import Row
from bench.common.tables import (
    BACKEND,
    CHECK,
    SECONDS,
    Column,
    count_column,
    format_table,
    per_second_column,
    phase_column,
)
from bench.common.timing import Timing
from node.app.exports import PoolQuery
from node.app.imports import read_table
from node.app.policy import Principal, Role
from node.domain.importing import COLUMNS
from node.domain.validation import make_credit_code
from node.runtime import Node, build
from node.store.db import make_engine
from node.store.schema import events, import_keys, issues
from node.web import ui
from tests.support.clock import FakeClock
from tests.support.data import make_config

ADMIN = Principal(username="bench", role=Role.ADMIN, display_name="bench")
LEADER = Principal(username="leader", role=Role.LEADER, display_name="leader")


def make_rows(n: int, historical: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    cut = int(n * historical)
    for i in range(n):
        code = make_credit_code(f"91330522MA{i % 100_000:05d}AA"[:17])
        row: dict[str, object] = {
            "external_id": f"LIB-{i:06d}", "number": f"HZ-{i:06d}",
            "enterprise_name": f"示例企业{i % 500}有限公司", "credit_code": code,
            "contact_phone": f"139{i % 100_000_000:08d}", "channel": "12345营商环境专线",
            "title": f"要素保障诉求 {i}",
            "content": "企业反映用地、用电、融资方面的困难，请协调解决。",
            "tags": "要素保障、用地" if i % 2 else "融资",
        }
        if i < cut:
            day = 1 + i % 27
            month = 1 + i % 11
            row.update({"received_at": f"2025-{month:02d}-{day:02d} 09:00", "state": "已结案",
                        "board": "要素保障", "triaged_at": f"2025-{month:02d}-{day:02d} 14:00",
                        "department": ("经信局", "自然资源局", "供电公司")[i % 3],
                        "assigned_at": f"2025-{month:02d}-{day:02d} 16:00",
                        "resolved_at": f"2025-{month + 1:02d}-{day:02d} 10:00",
                        "reply": "已协调解决。", "rating": "满意" if i % 7 else "基本满意",
                        "closed_at": f"2025-{month + 1:02d}-{day:02d} 12:00"})
        else:
            row.update({"channel": "政企恳谈会", "received_at": "2026-02-27 09:30"})
        rows.append(row)
    return rows


def xlsx_file(rows: list[dict[str, object]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("问题清单")
    sheet.append([c.zh for c in COLUMNS])
    for r in rows:
        sheet.append([r.get(c.key) for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def timed(fn: Callable[[], Any], count: int) -> tuple[Timing, Any]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return Timing(count=count, seconds=seconds, latencies_ms=[seconds * 1000]), result


def openpyxl_rows(data: bytes) -> int:
    book = load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.worksheets[0]
    n = sum(1 for _ in sheet.iter_rows(values_only=True)) - 1
    book.close()
    return n


@contextmanager
def database(backend: str, root: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / 'bench.sqlite3'}"
        return
    from tests.support.pg import fresh_database, postgres_cluster

    with postgres_cluster() as admin:
        yield fresh_database(admin)


def count(node: Node, table: Any, *where: Any) -> int:
    with node.engine.connect() as conn:
        stmt = select(func.count()).select_from(table)
        for w in where:
            stmt = stmt.where(w)
        return int(conn.execute(stmt).scalar_one())


def run_backend(backend: str, data: bytes, n: int, n_hist: int, failures: list[str]
                ) -> list[Row]:
    out: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        engine = make_engine(url)
        node = build(make_config(Path(tmp)), clock=FakeClock(), engine=engine)
        assert node.services.imports is not None and node.services.exports is not None
        service = node.services.imports.service
        t, table = timed(lambda: read_table(io.BytesIO(data), "library.xlsx"), n)
        out.append(Row(backend=backend, phase="read .xlsx (calamine)", timing=t, target=n))
        t, report = timed(lambda: service.run(ADMIN, table, dry_run=True), n)
        out.append(Row(backend=backend, phase="check (dry run)", timing=t, target=n,
                       check="ok" if report.valid == n else "FAIL"))
        log(f"{backend}: importing {n} rows")
        t, report = timed(lambda: service.run(ADMIN, table), n)
        expected_events = n + 5 * n_hist
        problems = []
        if report.written != n:
            problems.append(f"written {report.written} != {n}")
        if count(node, issues) != n or count(node, import_keys) != n:
            problems.append("issue or key rows differ")
        if count(node, events) != expected_events:
            problems.append(f"events {count(node, events)} != {expected_events}")
        if count(node, events, events.c.published.is_(False)) != expected_events:
            problems.append("own events not all unpublished")
        failures.extend(f"{backend} import: {p}" for p in problems)
        out.append(Row(backend=backend, phase="import", timing=t, target=n,
                       check="FAIL" if problems else "ok",
                       notes=f"{n_hist} historical (6 events), {n - n_hist} new (1 event)",
                       extra={"events": expected_events}))
        t, again = timed(lambda: service.run(ADMIN, table), n)
        ok = again.written == 0 and count(node, issues) == n
        if not ok:
            failures.append(f"{backend} re-import wrote {again.written}")
        out.append(Row(backend=backend, phase="re-import (adds nothing)", timing=t, target=n,
                       check="ok" if ok else "FAIL"))
        labels = ui.STRINGS["zh-CN"]
        for fmt in ("csv", "xlsx"):
            def export(fmt: str = fmt) -> int:
                made = node.services.exports.pool(LEADER, PoolQuery(), format=fmt,  # type: ignore[union-attr]
                                                  labels=labels)
                return sum(len(c) for c in made.chunks)
            t, size = timed(export, n)
            out.append(Row(backend=backend, phase=f"export .{fmt}", timing=t, target=n,
                           notes=f"{size / 1e6:.1f} MB", extra={"bytes": size}))
        engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--historical", type=float, default=0.7)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--json", type=Path, default=RESULTS / "imports.json")
    args = p.parse_args(argv)
    n = args.rows
    n_hist = int(n * args.historical)
    log(f"writing a {n}-row .xlsx ({n_hist} historical)")
    data = xlsx_file(make_rows(n, args.historical))
    rows: list[Row] = []
    t, got = timed(lambda: openpyxl_rows(data), n)
    rows.append(Row(backend="-", phase="read .xlsx (openpyxl read-only)", timing=t, target=n,
                    check="ok" if got == n else "FAIL", baseline=True,
                    notes=f"file {len(data) / 1e6:.1f} MB"))
    failures: list[str] = []
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with ExitStack():
        for backend in backends:
            if backend == "postgres":
                from tests.support.pg import find_bindir

                if find_bindir() is None:
                    log("postgres: server binaries not installed, skipped")
                    continue
            rows.extend(run_backend(backend, data, n, n_hist, failures))
    columns: list[Column[Row]] = [BACKEND, phase_column(32), count_column(7), SECONDS,
                                  per_second_column("rows/s", 8),
                                  Column("notes", 44, lambda r: r.notes, left=True), CHECK]
    print(format_table(rows, columns))
    for f in failures:
        print(f"FAIL {f}")
    write_json(args.json, {**machine_meta(), "rows": n, "historical": n_hist,
                           "results": [r.to_json() for r in rows]})
    return exit_code(failures)


if __name__ == "__main__":
    sys.exit(main())
