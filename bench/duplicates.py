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
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from node.app.duplicates import CANDIDATES, query_terms_of
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
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
    bare, suggest, found = [], [], []
    for title, content in drafts:
        terms = query_terms_of(title, content)
        t0 = time.perf_counter()
        with reads.read() as unit:
            unit.similar(terms, CANDIDATES)
        bare.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        hits = service.for_text(STAFF["dispatcher"], title=title, content=content,
                                credit_code=None)
        suggest.append((time.perf_counter() - t0) * 1000)
        found.append(len(hits))
    out = {"n": args.n, "runs": args.runs, "store_built_s": round(load_s, 1),
           "bare_p50_ms": round(pct(bare, .5), 2), "bare_p99_ms": round(pct(bare, .99), 2),
           "suggest_p50_ms": round(pct(suggest, .5), 2),
           "suggest_p99_ms": round(pct(suggest, .99), 2),
           "suggestions_mean": round(sum(found) / len(found), 1)}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
