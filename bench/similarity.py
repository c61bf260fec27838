"""Cross-city duplicates from keyed signatures (node/app/similarity.py), at a province's size.

    .venv/bin/python -m bench.similarity [--per-city 1000] [--cities 11] [--runs 5]

Takes issue texts from the generated city store (bench/citystore/, the 10,000-issue one,
generated when absent): `--cities` disjoint samples of `--per-city` texts stand for the
cities' newest open issues. Times, next to each other in one run:

* a city's side: the keyed MinHash signature of each text, packed (`compact`) — what a
  city's re-scan computes for issues it has not signed before;
* the summary: encoding it with the signatures, and its size;
* the province's side: `cross_pairs` over every city's signatures (LSH buckets, the
  estimate of each candidate pair), as `GET /clusters/cross-city` runs it;
* bare: one pass that only hashes each text's shingles (keyed BLAKE2b), no permutations.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import time
from datetime import UTC, datetime

from bench.citystore.store import CityStore, Options, sqlite_store
from bench.common.log import log
from node.domain.duplicates import compact, cross_pairs, expand, minhash, shingles
from node.domain.summary import Summary, encode

KEY = b"zhitong-bench-federation-key-0001"


def texts(n: int) -> list[str]:
    store: CityStore = sqlite_store(Options(n=10_000, seed=1))
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT title, content FROM issues ORDER BY received_at DESC "
                            "LIMIT ?", (n,)).fetchall()
    return [f"{t}\n{c}" for t, c in rows]


def best(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-city", type=int, default=1000)
    p.add_argument("--cities", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    if not 1 <= args.per_city <= 1000 or not 2 <= args.cities <= 10 or args.runs < 1:
        p.error("--per-city 1..1000, --cities 2..10, --runs >= 1")
    pool = texts(args.per_city * args.cities)
    if len(pool) < args.per_city * args.cities:
        p.error(f"the store holds only {len(pool)} texts")
    per_city = [pool[i * args.per_city:(i + 1) * args.per_city] for i in range(args.cities)]
    mine = per_city[0]
    log(f"{args.cities} cities × {args.per_city} texts")
    bare = best(lambda: [[hashlib.blake2b(s.encode(), key=KEY, digest_size=8).digest()
                          for s in shingles(t)] for t in mine], args.runs)
    sign = best(lambda: [compact(minhash(t, KEY)) for t in mine], args.runs)
    signed = {(c, i): compact(minhash(t, KEY))
              for c, city in enumerate(per_city) for i, t in enumerate(city)}
    summary = Summary(node="330500", as_of=datetime.now(UTC), signatures=tuple(
        {"number": f"330500-2026-{i:06d}", "node": "330522", "sig": s}
        for (c, i), s in signed.items() if c == 0))
    size = len(encode(summary))
    enc = best(lambda: encode(summary), args.runs)
    entries = {f"{c}/{i}": (str(c), expand(s)) for (c, i), s in signed.items()}
    pairs: list[tuple[str, str, float]] = []

    def province() -> None:
        pairs[:] = cross_pairs(entries, min_similarity=0.15)

    prov = best(province, args.runs)
    n = args.per_city
    print(f"| step | time | per issue |\n|---|---|---|\n"
          f"| bare: keyed BLAKE2b of each text's shingles, {n} texts | {bare * 1000:.0f} ms | "
          f"{bare / n * 1000:.2f} ms |\n"
          f"| a city signs {n} texts (64 positions, packed) | {sign * 1000:.0f} ms | "
          f"{sign / n * 1000:.2f} ms ({sign / bare:.1f}× bare) |\n"
          f"| the summary with {n} signatures encoded | {enc * 1000:.1f} ms | "
          f"{size:,} bytes |\n"
          f"| the province pairs {args.cities} × {n} signatures | {prov * 1000:.0f} ms | "
          f"{len(pairs)} cross-city pairs ≥ 0.15 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
