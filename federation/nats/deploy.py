"""The nats-server configurations shipped under deploy/<tier>/ — generated, never edited.

`python -m federation.nats.deploy` rewrites them from the specs below;
tests/integration/test_deploy.py fails when the files and the specs disagree and checks
that nats-server accepts each one. Secrets are `$VARIABLES` taken from the environment
of the nats-server unit (see deploy/<tier>/README.md).
"""

from __future__ import annotations

import csv
import sys
from importlib import resources
from pathlib import Path

from federation.nats.server_config import LeafTls, NatsServerSpec, render

ROOT = Path(__file__).resolve().parents[2]
HUZHOU_COUNTIES = ("330502", "330503", "330521", "330522", "330523")
ZHEJIANG_CITIES = ("330100", "330200", "330300", "330400", "330500", "330600", "330700",
                   "330800", "330900", "331000", "331100")


def _tls(code: str) -> LeafTls:
    return LeafTls.of_dir(Path("/etc/zhitong/tls") / code)


def counties_of(city: str) -> tuple[str, ...]:
    """The counties of `city` (node/data/zhejiang_divisions.csv): the province's leaf
    permissions for a city let through status of the issues of the city's whole subtree."""
    text = resources.files("node.data").joinpath("zhejiang_divisions.csv").read_text("utf-8")
    return tuple(sorted(row["code"] for row in csv.DictReader(text.splitlines())
                        if row["level"] == "county" and row["parent"] == city))


def specs() -> dict[str, NatsServerSpec]:
    common = {"host": "127.0.0.1", "client_port": 4222, "monitor_port": 8222,
              "node_password": "$ZT_NATS_NODE_PASSWORD",
              "sys_password": "$ZT_NATS_SYS_PASSWORD"}
    return {
        "county": NatsServerSpec(
            code="330522", store_dir=Path("/var/lib/nats/330522"), tls=_tls("330522"),
            parent_leaf_url_env="ZT_NATS_PARENT_LEAF_URL", **common),  # type: ignore[arg-type]
        "city": NatsServerSpec(
            code="330500", store_dir=Path("/var/lib/nats/330500"), tls=_tls("330500"),
            leaf_port=7422, leaf_children={c: f"$ZT_NATS_LEAF_{c}" for c in HUZHOU_COUNTIES},
            parent_leaf_url_env="ZT_NATS_PARENT_LEAF_URL", **common),  # type: ignore[arg-type]
        "province": NatsServerSpec(
            code="330000", store_dir=Path("/var/lib/nats/330000"), tls=_tls("330000"),
            leaf_port=7422, leaf_children={c: f"$ZT_NATS_LEAF_{c}" for c in ZHEJIANG_CITIES},
            leaf_subtrees={c: counties_of(c) for c in ZHEJIANG_CITIES}, full_children=False,
            sync_always=True, **common),  # type: ignore[arg-type]
    }


def main() -> int:
    for tier, spec in specs().items():
        (ROOT / "deploy" / tier / "nats-server.conf").write_text(render(spec), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
