"""nats-server configuration for one tier's server, generated from one description.

Layout (DESIGN §5): one NATS server (or cluster) per node with its own JetStream domain
`zt<code>`; a county's server is a leaf node of its city's, a city's of the province's, so
a county keeps working when its uplink is down. Application traffic lives in account `ZT`
(JetStream enabled); the system account is never bridged over leaf links. Per-node client
users may publish only on their own subjects (`zt.<code>.>`) plus the JetStream API; leaf
links authenticate with a per-child leaf user and can run over TLS.

The same generator writes `deploy/<tier>/nats-server.conf` and the local federation's
files, so the configuration that tests exercise is the one operators deploy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT = "ZT"


def domain_of(code: str) -> str:
    return f"zt{code}"


def node_user(code: str) -> str:
    return f"node{code}"


def leaf_user(code: str) -> str:
    return f"leaf{code}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LeafTls:
    cert_file: Path
    key_file: Path
    ca_file: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class NatsServerSpec:
    code: str
    host: str = "127.0.0.1"
    client_port: int = 4222
    store_dir: Path
    node_password: str
    # hub side: children that may connect as leaves (code → password)
    leaf_port: int | None = None
    leaf_children: dict[str, str] = field(default_factory=dict)
    # leaf side: the parent's leaf listener and this node's leaf password there
    parent_leaf_url: str | None = None  # e.g. "tls://127.0.0.1:7422"
    parent_leaf_password: str | None = None
    # Deployed files: the whole remote URL (with this leaf's credentials) comes from an
    # environment variable, because nats-server does not expand variables inside strings.
    parent_leaf_url_env: str | None = None
    sys_password: str | None = None  # default: derived from node_password
    tls: LeafTls | None = None
    monitor_port: int | None = None
    sync_always: bool = False
    max_file_store: str = "10G"


def _q(value: str) -> str:
    """A NATS config string literal, or a `$VARIABLE` reference (resolved by nats-server
    from the environment), so deployed files carry no secrets."""
    if value.startswith("$") and value[1:].replace("_", "").isalnum():
        return value
    return json.dumps(value)


def _node_permissions(code: str) -> str:
    """A node's client may publish only on its own subjects and the JetStream API."""
    allow = [f"zt.{code}.>", "$JS.API.>", "$JS.*.API.>", "$JS.ACK.>", "$JS.FC.>",
             "$KV.zt_summary." + code, "_INBOX.>"]
    return ("{ publish: { allow: [" + ", ".join(_q(s) for s in allow) + "] }, "
            'subscribe: { allow: [">"] } }')


def render(spec: NatsServerSpec) -> str:
    """The nats-server configuration text for `spec`."""
    lines = [
        f"# Zhitong NATS server for node {spec.code} (generated; see federation/nats/config.py)",
        f"server_name: {_q('zt-' + spec.code)}",
        f"host: {_q(spec.host)}",
        f"port: {spec.client_port}",
    ]
    if spec.monitor_port:
        lines.append(f"http: {_q(f'{spec.host}:{spec.monitor_port}')}")
    lines += [
        "jetstream {",
        f"  domain: {_q(domain_of(spec.code))}",
        f"  store_dir: {_q(str(spec.store_dir))}",
        f"  max_file_store: {_q(spec.max_file_store)}",
    ]
    if spec.sync_always:
        lines.append('  sync_interval: "always"')
    lines.append("}")
    users = [f"      {{ user: {_q(node_user(spec.code))}, password: {_q(spec.node_password)}, "
             f"permissions: {_node_permissions(spec.code)} }}"]
    users += [f"      {{ user: {_q(leaf_user(child))}, password: {_q(pw)} }}"
              for child, pw in sorted(spec.leaf_children.items())]
    lines += [
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
        *[u + ("," if i < len(users) - 1 else "") for i, u in enumerate(users)],
        "    ]",
        "  }",
        '  SYS { users: [ { user: "sys", password: '
        + _q(spec.sys_password or spec.node_password + "-sys") + " } ] }",
        "}",
        'system_account: "SYS"',
    ]
    leaf: list[str] = []
    if spec.leaf_port is not None:
        leaf += ["  # children's servers connect here: bind the unit's internal address",
                 f"  host: {_q(spec.host)}", f"  port: {spec.leaf_port}"]
        if spec.tls:
            leaf += _tls_block(spec.tls, verify=True, indent="  ")
    if spec.parent_leaf_url or spec.parent_leaf_url_env:
        url = (f"${spec.parent_leaf_url_env}" if spec.parent_leaf_url_env
               else _q(_with_credentials(spec)))
        leaf += [
            "  remotes: [",
            "    {",
            f"      url: {url}",
            f"      account: {_q(ACCOUNT)}",
        ]
        if spec.tls:
            leaf += _tls_block(spec.tls, verify=False, indent="      ")
        leaf += ["    }", "  ]"]
    if leaf:
        lines += ["leafnodes {", *leaf, "}"]
    return "\n".join(lines) + "\n"


def _with_credentials(spec: NatsServerSpec) -> str:
    assert spec.parent_leaf_url is not None
    scheme, _, rest = spec.parent_leaf_url.partition("://")
    return f"{scheme}://{leaf_user(spec.code)}:{spec.parent_leaf_password or ''}@{rest}"


def _tls_block(tls: LeafTls, *, verify: bool, indent: str) -> list[str]:
    out = [
        f"{indent}tls {{",
        f"{indent}  cert_file: {_q(str(tls.cert_file))}",
        f"{indent}  key_file: {_q(str(tls.key_file))}",
        f"{indent}  ca_file: {_q(str(tls.ca_file))}",
    ]
    if verify:
        out.append(f"{indent}  verify: true")
    out.append(f"{indent}}}")
    return out


def write(spec: NatsServerSpec, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(spec), encoding="utf-8")
    return path


def subjects_for(code: str) -> Sequence[str]:
    return (f"zt.{code}.ev.>",)
