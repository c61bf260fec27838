"""The files under deploy/ are the ones the code generates and nats-server accepts."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from federation.certs import ensure_federation_certs
from federation.nats.deploy import ROOT, counties_of, specs
from federation.nats.process import binary
from federation.nats.server_config import (
    INTEREST_ONLY,
    domain_of,
    leaf_permissions,
    leaf_user,
    node_permissions,
    render,
)
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


def codes(subject: str) -> set[str]:
    return set(re.findall(r"(?<![0-9])[0-9]{6}(?![0-9])", subject))


@pytest.mark.parametrize("tier", TIERS)
def test_a_node_user_keeps_to_its_own_subjects_and_domain(tier: str) -> None:
    spec = specs()[tier]
    perms = node_permissions(spec)
    assert set(perms.publish) == {f"zt.{spec.code}.>", "$JS.API.>",
                                  f"$JS.{domain_of(spec.code)}.API.>",
                                  f"$JS.ACK.ZT_IN_{spec.code}.>",
                                  f"$JS.ACK.ZT_PUB_{spec.code}.>"}
    # a city watches its counties' subjects; the province only its cities' summaries
    of_child = "sum" if tier == "province" else ">"
    assert set(perms.subscribe) == {"_INBOX.>", f"zt.{spec.code}.>",
                                    *(f"zt.{c}.{of_child}" for c in spec.leaf_children)}


@pytest.mark.parametrize("tier", ["city", "province"])
def test_a_leaf_link_carries_its_childs_subtree_and_nothing_of_its_siblings(
    tier: str,
) -> None:
    spec = specs()[tier]
    text = render(spec)
    lineage = set(spec.lineage())
    for child in spec.leaf_children:
        user = text.index(f'user: "{leaf_user(child)}"')
        assert 'allowed_connection_types: ["LEAFNODE"]' in text[user:user + 200]
        subtree = set(spec.subtree(child))
        if tier == "province":
            assert subtree == {child, *counties_of(child)} and len(subtree) > 1
        siblings = {c for other in spec.leaf_children if other != child
                    for c in spec.subtree(other)}
        perms = leaf_permissions(spec, child)
        # the child's own subjects: all on a full link, only its summary on the province's
        assert perms.publish[0] == (f"zt.{child}.sum" if tier == "province"
                                    else f"zt.{child}.>")
        for subject in (*perms.publish, *perms.subscribe):
            assert not codes(subject) & siblings, (child, subject)
            assert not subject.startswith(("$JS.*", "$JS.>", ">", "_INBOX", "zt.*")), subject
        for subject in perms.publish:  # up: only the subtree's own and sourcing traffic
            assert codes(subject) <= lineage | subtree, (child, subject)
            if ".API." in subject:
                assert re.fullmatch(
                    rf"\$JS\.zt(\d{{6}})\.API\.CONSUMER\.(CREATE\.ZT_EV_\1\.\*\.zt\.\1\.ev"
                    rf"\.\d{{6}}\.>|{INTEREST_ONLY}|CREATE\.ZT_PUB_\1)", subject), subject
        # down the link: the child sources this node's publications (floors, tags), whole
        assert f"$JS.{domain_of(spec.code)}.API.CONSUMER.CREATE.ZT_PUB_{spec.code}" in (
            perms.publish)
        for subject in perms.subscribe:  # down: only what is addressed to the subtree
            assert codes(subject) <= subtree | {spec.code}, (child, subject)
        creates = [s for s in perms.subscribe if ".CREATE." in s]
        if spec.full_children:  # a city reads its counties' whole logs
            assert f"$JS.zt{child}.API.CONSUMER.CREATE.ZT_EV_{child}" in creates
        else:  # the province: only the issues it dispatched down, and summaries
            assert sorted(creates) == sorted([
                f"$JS.zt{child}.API.CONSUMER.CREATE.ZT_EV_{child}.*.zt.{child}.ev.{spec.code}.>",
                f"$JS.zt{child}.API.CONSUMER.CREATE.ZT_SUM_{child}"])
