"""Generate a city's store at ten years' size (or find the one generated before).

    .venv/bin/python -m bench.generate [--n 1000000] [--backend sqlite|postgres] [--seed 1]
        [--workers 0] [--fresh] [--cache-dir var/bench] [--pg-url URL]

湖州市 (330500) and its five counties, N issues received over ten years ending now, each
with its history of 1–16 events (and `--long-histories` of them with 200), built with the
domain's own rules and the store's own row mapping and bulk-inserted (bench/citystore/).
SQLite: `var/bench/citystore-<n>-<seed>-<schema>-g<generator>.sqlite` with a `.json`
sidecar, reused by every later run with the same key. PostgreSQL: a throwaway cluster
(tests/support/pg.py) unless `--pg-url` names a server to keep the database in (then it
is reused too). Prints the description of the store as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.citystore.store import (
    CACHE_DIR,
    DEFAULT_CHUNK,
    CityStore,
    Options,
    postgres_store,
    sqlite_store,
)
from bench.common.log import log
from tests.support.pg import find_bindir, postgres_cluster


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="issues (default 1,000,000)")
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=0,
                   help="generating processes (default: one per CPU; 1: in this process)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="issues per work item")
    p.add_argument("--verify-every", type=int, default=1_000,
                   help="fold every k-th issue with the domain as well and compare")
    p.add_argument("--long-histories", type=int, default=5,
                   help="issues with a 200-event history (default 5)")
    p.add_argument("--fresh", action="store_true", help="rebuild even if it exists")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--pg-url", default=None,
                   help="admin URL of a PostgreSQL server to keep the database in "
                        "(default: a throwaway cluster)")
    args = p.parse_args(argv)
    if args.n < 1 or args.chunk < 1 or args.workers < 0 or args.verify_every < 0 or (
            args.long_histories < 0 or args.long_histories > args.n):
        p.error("--n, --chunk >= 1; --workers, --verify-every >= 0; "
                "0 <= --long-histories <= --n")
    opts = Options(n=args.n, seed=args.seed, workers=args.workers, chunk=args.chunk,
                   verify_every=args.verify_every, long_histories=args.long_histories,
                   fresh=args.fresh)
    store: CityStore
    if args.backend == "sqlite":
        store = sqlite_store(opts, cache_dir=args.cache_dir)
    elif args.pg_url:
        store = postgres_store(args.pg_url, opts)
    else:
        if find_bindir() is None:
            log("postgres: PostgreSQL server binaries (initdb, pg_ctl) not found")
            return 2
        with postgres_cluster() as admin_url:
            store = postgres_store(admin_url, opts)
    if store.reused:
        log(f"reused {store.key} (generated {store.meta['generated_at']})")
    json.dump({"url": store.url, "reused": store.reused, **store.meta}, sys.stdout,
              ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
