"""The files under deploy/ are the ones the code generates and nats-server accepts."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from federation.certs import ensure_federation_certs
from federation.nats.config import render
from federation.nats.deploy import ROOT, specs
from federation.nats.process import binary
from node.config import load_config

TIERS = ("county", "city", "province")


@pytest.mark.parametrize("tier", TIERS)
def test_nats_server_conf_is_generated(tier: str) -> None:
    committed = (ROOT / "deploy" / tier / "nats-server.conf").read_text(encoding="utf-8")
    assert committed == render(specs()[tier]), "run `python -m federation.nats.deploy`"


@pytest.mark.parametrize("tier", TIERS)
def test_nats_server_accepts_the_tier_conf(tier: str, tmp_path: Path) -> None:
    spec = specs()[tier]
    ensure_federation_certs(tmp_path / "tls", [spec.code], now=datetime.now(UTC))
    text = (ROOT / "deploy" / tier / "nats-server.conf").read_text(encoding="utf-8")
    text = text.replace(f"/etc/zhitong/tls/{spec.code}", str(tmp_path / "tls" / spec.code))
    text = text.replace(f"/var/lib/nats/{spec.code}", str(tmp_path / "js"))
    conf = tmp_path / "nats.conf"
    conf.write_text(text, encoding="utf-8")
    env = {**os.environ, "ZT_NATS_NODE_PASSWORD": "n", "ZT_NATS_SYS_PASSWORD": "s",
           "ZT_NATS_PARENT_LEAF_URL": "tls://leaf:x@127.0.0.1:7422",
           **{f"ZT_NATS_LEAF_{c}": "l" for c in spec.leaf_children}}
    result = subprocess.run([binary(), "-t", "-c", str(conf)], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


@pytest.mark.parametrize("tier", TIERS)
def test_tier_node_config_matches_its_nats_server(tier: str) -> None:
    cfg = load_config(ROOT / "deploy" / tier / "node.toml")
    spec = specs()[tier]
    assert cfg.node.code == spec.code and cfg.nats.enabled
    assert cfg.nats.url.endswith(f":{spec.client_port}")
    assert set(spec.leaf_children) == set(cfg.node.children)
    for unit in ("zhitong-node.service", "nats-server.service", "postgresql.conf", "README.md"):
        assert (ROOT / "deploy" / tier / unit).is_file()
