"""Duplicate suggestions (疑似重复) at intake, next to the bare index query they start from.

    .venv/bin/python -m bench.duplicates [--n 20000] [--runs 60] [--json PATH]

Builds a county store of `--n` issues on SQLite (var/bench/duplicates-<n>.sqlite, reused
when present) through the node's own submit (so the search index is written as in
production), with texts drawn from a vocabulary of enterprise complaints (places,
subjects, problems, details), every 50th a rewording of an earlier one. Then times, for
drafts taken from the vocabulary:

* bare: the OR query of the draft's terms on the FTS5 index alone (top 50 ids:
  node/store/duplicates.py `similar`), through the store;
* suggest: `DuplicateService.for_text` as POST /api/v1/duplicates runs it (both index reads,
  the candidates loaded, each scored with Jaccard).

Prints p50/p99 in ms. A 1,000,000-issue store is not built here: loading it through the
node's submit would take far longer than a bench may run on this machine.

    .venv/bin/python -m bench.duplicates --store var/bench/search-citystore-…-t<k>.sqlite
        [--runs 40] [--max-seconds 300] [--json PATH]

`--store PATH` times the same two reads on an existing store instead: a generated 湖州市
store (bench/citystore/) whose search index is built, such as the indexed copy bench.search
leaves in var/bench/ (the plain generated store has no index rows). The node is built
on it as the city (bench.citystore.city; `node.runtime.build`, timed, which may write its
start-up bookkeeping into the file), and the drafts are new issues drawn from that store's
own vocabulary (bench.citystore.vocabulary.issue_texts: topic by weight, unit, industry).
`--n` is ignored then. Every loop stops at `--runs` or `--max-seconds`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import time
from pathlib import Path

from node.app.duplicates import CANDIDATES, DuplicateService, query_terms_of
from node.app.policy import Principal, Role
from node.domain.issue import Channel
from node.domain.lifecycle import Submit
from node.domain.validation import make_credit_code
from node.runtime import build
from node.store.db import make_engine
from node.store.duplicates import DuplicateRecords
from tests.support.clock import FakeClock
from tests.support.data import STAFF, make_config

REPO = Path(__file__).resolve().parents[1]
PLACES = ("新厂房", "老厂区", "园区", "车间", "仓库", "门店", "研发中心", "物流园", "办公楼",
          "工地")
SUBJECTS = ("用电报装", "供水接入", "燃气开通", "消防验收", "环评审批", "用地指标", "留抵退税",
            "高企认定", "人才公寓", "招工培训", "道路积水", "物流通道", "排污许可", "融资贷款")
PROBLEMS = ("进度缓慢", "迟迟未办", "无人答复", "材料反复补正", "费用过高", "标准不清",
            "多头跑腿", "审批超期", "现场勘查未安排", "资金未到位")
DETAILS = ("影响投产", "耽误订单交付", "企业资金紧张", "已多次电话咨询", "希望尽快协调",
           "请相关部门给予支持", "已提交全部材料", "涉及员工两百余人", "年产值约五千万元")


def text_of(rng: random.Random) -> tuple[str, str]:
    place, subject, problem = rng.choice(PLACES), rng.choice(SUBJECTS), rng.choice(PROBLEMS)
    details = "，".join(rng.sample(DETAILS, 3))
    months = rng.choice(("一个月", "两个月", "三个月", "半年"))
    return (f"{place}{subject}{problem}",
            f"我公司{place}申请{subject}已{months}，{problem}，{details}。")


def build_store(n: int, path: Path) -> None:
    config = make_config(path.parent / f"dup-{n}")
    engine = make_engine(f"sqlite:///{path}")
    node = build(config, clock=FakeClock(), engine=engine)
    rng = random.Random(14)
    texts: list[tuple[str, str]] = []
    batch: list[Submit] = []
    for k in range(n):
        title, content = text_of(rng)
        if k % 50 == 49 and texts:
            title, content = rng.choice(texts)
            content = "再次反映：" + content[4:]
        texts.append((title, content))
        code = make_credit_code(f"91330522MA{k % 9000 + 1000:04d}XY1"[:17])
        batch.append(Submit(enterprise_name=f"企业{k % 9000}", credit_code=code,
                            contact_phone="13905720001", channel=Channel.HOTLINE_12345,
                            title=title, content=content))
        if len(batch) == 500:
            node.services.issues.submit_many(STAFF["dispatcher"], batch)
            batch = []
    if batch:
        node.services.issues.submit_many(STAFF["dispatcher"], batch)
    engine.dispose()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def vocabulary_drafts(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """`count` new issues' (title, content) from the generated city store's vocabulary."""
    from bench.citystore.vocabulary import INDUSTRIES, TOPICS, issue_texts, pick, topic_weights
    from bench.citystore.vocabulary import units as city_units

    places, weights = city_units(), topic_weights()
    out = []
    for _ in range(count):
        topic = rng.choices(TOPICS, weights)[0]
        texts = issue_texts(rng, topic, pick(rng, places), pick(rng, INDUSTRIES))
        out.append((texts.title, texts.content))
    return out


def time_drafts(service: DuplicateService, reads: DuplicateRecords, principal: Principal,
                drafts: list[tuple[str, str]], max_seconds: float
                ) -> tuple[list[float], list[float], list[int], list[int]]:
    """Per draft (until the drafts or `max_seconds` run out): the bare OR query's ms, the
    suggestion's ms, the suggestions found and the terms asked."""
    bare: list[float] = []
    suggest: list[float] = []
    found: list[int] = []
    terms_asked: list[int] = []
    deadline = time.perf_counter() + max_seconds
    for title, content in drafts:
        if time.perf_counter() >= deadline:
            break
        terms = query_terms_of(title, content)
        t0 = time.perf_counter()
        with reads.read() as unit:
            unit.similar(terms, CANDIDATES)
        bare.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        hits = service.for_text(principal, title=title, content=content, credit_code=None)
        suggest.append((time.perf_counter() - t0) * 1000)
        found.append(len(hits))
        terms_asked.append(len(terms))
    return bare, suggest, found, terms_asked


def summary(bare: list[float], suggest: list[float], found: list[int]) -> dict[str, float]:
    return {"bare_p50_ms": round(pct(bare, .5), 2), "bare_p99_ms": round(pct(bare, .99), 2),
            "suggest_p50_ms": round(pct(suggest, .5), 2),
            "suggest_p99_ms": round(pct(suggest, .99), 2),
            "suggestions_mean": round(sum(found) / len(found), 1)}


def run_on_store(path: Path, runs: int, max_seconds: float) -> dict[str, object]:
    """The two measurements on an existing, indexed city store (see `--store`)."""
    from bench.citystore.city import city_config

    if not path.exists():
        raise SystemExit(f"--store {path}: no such file")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        issues_n = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM issue_search").fetchone()[0]
    if indexed == 0:
        raise SystemExit(f"--store {path}: no search index rows (index it first, e.g. "
                         "with bench.search, which leaves an indexed copy in var/bench/)")
    load1 = os.getloadavg()[0]
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    started = time.perf_counter()
    node = build(city_config(url=url, data_dir=path.parent / f"dup-{path.stem}"),
                 engine=engine)
    build_s = time.perf_counter() - started
    service = node.services.duplicates
    assert service is not None
    dispatcher = Principal(username="bench-dispatcher", role=Role.DISPATCHER,
                           display_name="受理分办员")
    reads = DuplicateRecords(node.services.issues.store.store)  # type: ignore[attr-defined]
    drafts = vocabulary_drafts(random.Random(7), runs + 1)
    time_drafts(service, reads, dispatcher, drafts[:1], max_seconds)  # warm, untimed
    bare, suggest, found, terms = time_drafts(service, reads, dispatcher, drafts[1:],
                                              max_seconds)
    engine.dispose()
    return {"store": str(path), "issues": issues_n, "indexed": indexed, "runs": len(bare),
            "stopped_by_time": len(bare) < runs, "node_build_s": round(build_s, 1),
            **summary(bare, suggest, found),
            "terms_mean": round(sum(terms) / len(terms), 1),
            "bare_ms": [round(v, 2) for v in bare], "suggest_ms": [round(v, 2) for v in suggest],
            "loadavg_1m": [round(load1, 2), round(os.getloadavg()[0], 2)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--store", type=Path, default=None,
                    help="time on this existing, indexed city store (see the docstring)")
    ap.add_argument("--max-seconds", type=float, default=300.0,
                    help="wall-clock limit of the timed drafts")
    args = ap.parse_args(argv)
    if args.store is not None:
        doc = run_on_store(args.store, args.runs, args.max_seconds)
        print(json.dumps({k: v for k, v in doc.items() if k not in ("bare_ms", "suggest_ms")},
                         ensure_ascii=False, indent=1))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        return 0
    path = REPO / "var" / "bench" / f"duplicates-{args.n}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not path.exists():
        build_store(args.n, path)
    load_s = time.perf_counter() - started
    engine = make_engine(f"sqlite:///{path}")
    node = build(make_config(path.parent / f"dup-{args.n}"), clock=FakeClock(), engine=engine)
    assert node.services.duplicates is not None
    service = node.services.duplicates
    reads = DuplicateRecords(node.services.issues.store.store)  # type: ignore[attr-defined]
    rng = random.Random(7)
    drafts = [text_of(rng) for _ in range(args.runs)]
    bare, suggest, found, _ = time_drafts(service, reads, STAFF["dispatcher"], drafts,
                                          args.max_seconds)
    out = {"n": args.n, "runs": args.runs, "store_built_s": round(load_s, 1),
           **summary(bare, suggest, found)}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
