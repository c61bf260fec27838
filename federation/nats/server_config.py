"""nats-server configuration for one tier's server, generated from one description.

Layout (DESIGN §5): one NATS server (or cluster) per node with its own JetStream domain
`zt<code>`; a county's server is a leaf node of its city's, a city's of the province's, so
a county keeps working when its uplink is down. Application traffic lives in account `ZT`
(JetStream enabled); the system account is never bridged over leaf links. Leaf links
authenticate with a per-child leaf user and can run over TLS.

Permissions (least privilege; a leaf link carries stream sourcing and nothing else):

* Node user `node<code>` (the node's own client). Publish: `zt.<code>.>` (its events and
  summary); its own domain's JetStream API, `$JS.API.>` and `$JS.zt<code>.API.>` (the node
  reads everything, children's summaries included, from its own streams); `$JS.ACK.ZT_IN_
  <code>.>` and `$JS.ACK.ZT_PUB_<code>.>` (acks of its pull consumers). Subscribe:
  `_INBOX.>` (API replies, fetched
  messages), `zt.<code>.>` and each child's `zt.<child>.>` (operators watching traffic;
  the province: each city's `zt.<city>.sum`, the push of a new summary).
  No other domain's API: that is what let a county purge or delete other units' streams.
* Leaf user `leaf<child>`: `allowed_connection_types: LEAFNODE` (no client login with it).
  On the hub side of a leaf link, `publish` is what the child's server may send up and
  `subscribe` what this server sends down (nats-server swaps them for leaf connections).
  Up: `zt.<child>.>` (its own subjects; from a city to the province only `zt.<child>.sum`,
  its summary, which also wakes the province at once); `ztsrc.<code>.<child>.>`, the
  deliver subjects of this node's streams that source the child (messages, heartbeats,
  flow-control requests; `deliver_prefix`); `$JSC.R.>`, replies to consumer creation
  (nats-server's fixed prefix for sourcing); for every `a` of this node and its ancestors,
  the creation of the consumer of this node's publication stream (`ZT_PUB_<code>`, the
  rule floors and tag categories flowing down, unfiltered) and its flow-control replies
  (`$JS.FC.ZT_PUB_<code>.>`);
  the creation of the one kind of consumer the child's subtree needs on `a`'s log —
  filtered to issues that originated in the subtree
  (`$JS.zt<a>.API.CONSUMER.CREATE.ZT_EV_<a>.*.zt.<a>.ev.<origin>.>`; the server checks that
  the subject's filter is the consumer's) — the flow-control replies to it
  (`$JS.FC.ZT_EV_<a>.>`), and `INTEREST_ONLY` (below). Down: the creation of this node's
  consumers on the child's log (whole for a city; for the province only the issues it
  dispatched down: enterprise data never travels up to it) and summary stream, their
  flow-control replies (`$JS.FC.ZT_EV_<child>.>`, `$JS.FC.ZT_SUM_<child>.>`), `$JSC.R.>`,
  and deliveries addressed to a unit of the child's subtree (`ztsrc.<unit>.>`). No purge,
  delete, info or fetch on any other domain; nothing of a sibling, whose events, deliveries
  and flow control go to names the child may neither receive nor send. What every child
  still sees are `$JSC.R.` replies (no per-requester prefix in nats-server: consumer
  metadata, not events).

The same generator writes `deploy/<tier>/nats-server.conf` and the local federation's
files, so the configuration that tests exercise is the one operators deploy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from federation.nats.subjects import Subject
from node.domain.topology import Topology, ancestors_of, full_children

ACCOUNT = "ZT"


def domain_of(code: str) -> str:
    return f"zt{code}"


def node_user(code: str) -> str:
    return f"node{code}"


def leaf_user(code: str) -> str:
    return f"leaf{code}"


# A subject with no JetStream API behind it: nats-server forwards a wildcard interest (here
# an ancestor's `$JS.<domain>.API.CONSUMER.>`) to a leaf only when it matches the leaf's
# publish allow list in reverse, and that reverse match does not look past a `*` (the
# consumer-name token of the CREATE permissions). This literal makes the match succeed
# without allowing anything: publishing on it reaches no API handler.
INTEREST_ONLY = "ZT_INTEREST_ONLY"


def deliver_prefix(receiver: str, source: str) -> str:
    """The deliver subject prefix of `receiver`'s stream sourcing `source`'s stream (the
    consumer at `source` pushes to `<prefix>.S.<token>`): addressed to the receiver and
    naming the source, so a hub lets each delivery through to exactly one side."""
    return f"ztsrc.{receiver}.{source}"


#: A port of the spec that nats-server picks itself (its `-1`, "random"); the bound port
#: is read back from the server's output (federation/nats/process.py).
RANDOM_PORT = -1


@dataclass(frozen=True, kw_only=True, slots=True)
class LeafTls:
    cert_file: Path
    key_file: Path
    ca_file: Path

    @classmethod
    def of_dir(cls, directory: Path) -> LeafTls:
        """The node's certificate folder as `zhitong certs init` writes it."""
        return cls(cert_file=directory / "node.pem", key_file=directory / "node.key",
                   ca_file=directory / "ca.pem")


@dataclass(frozen=True, kw_only=True, slots=True)
class NatsServerSpec:
    code: str
    host: str = "127.0.0.1"
    client_port: int = 4222  # RANDOM_PORT: chosen by the server
    store_dir: Path
    node_password: str
    # this node's ancestors, nearest first (None: from the division code)
    ancestors: tuple[str, ...] | None = None
    # hub side: children that may connect as leaves (code → password)
    leaf_children: dict[str, str] = field(default_factory=dict)
    # ... and the units whose issues each child's link carries status of: the child and the
    # units below it that have their own streams (default: the child alone, a county)
    leaf_subtrees: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the replication profile of the links below (topology.Place.full_children): True — this
    # node sources its children's whole logs (a city); False — only the issues it dispatched
    # down, plus summaries (the province: enterprise data never travels up to it)
    full_children: bool = True
    leaf_port: int | None = None  # RANDOM_PORT: chosen by the server
    # the leaf listener does not gossip its address to the leaves: they keep the URL they
    # were given (a fault proxy in front of the listener stays in the path)
    no_advertise: bool = False
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

    def lineage(self) -> tuple[str, ...]:
        """This node and its ancestors, nearest first."""
        ancestors = self.ancestors if self.ancestors is not None else ancestors_of(self.code)
        return (self.code, *ancestors)

    def subtree(self, child: str) -> tuple[str, ...]:
        below = self.leaf_subtrees.get(child, ())
        return (child, *(c for c in below if c != child))


def _q(value: str) -> str:
    """A NATS config string literal, or a `$VARIABLE` reference (resolved by nats-server
    from the environment), so deployed files carry no secrets."""
    if value.startswith("$") and value[1:].replace("_", "").isalnum():
        return value
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def node_permissions(spec: NatsServerSpec) -> Permissions:
    """The node's client: its own subjects and its own domain's JetStream API only."""
    code = spec.code
    return Permissions(
        publish=(Subject.everything(code).build(), "$JS.API.>", f"$JS.{domain_of(code)}.API.>",
                 f"$JS.ACK.ZT_IN_{code}.>", f"$JS.ACK.ZT_PUB_{code}.>"),
        subscribe=("_INBOX.>", Subject.everything(code).build(),
                   *(child_subjects(spec, child) for child in sorted(spec.leaf_children))))


def child_subjects(spec: NatsServerSpec, child: str) -> str:
    """What of a child's own subjects crosses its leaf link: all of it on a full link
    (county → city); on a summary link (city → province) only its summary — the city's
    event log (enterprise data) never travels up, not even as a plain message."""
    return (Subject.everything(child) if spec.full_children else Subject.summary(child)).build()


def leaf_permissions(spec: NatsServerSpec, child: str) -> Permissions:
    """The hub side of `child`'s leaf link: `publish` is what the child's server may send
    up, `subscribe` what this server sends down (see the module docstring)."""
    subtree = spec.subtree(child)
    up = [child_subjects(spec, child), f"{deliver_prefix(spec.code, child)}.>", "$JSC.R.>",
          f"$JS.{domain_of(spec.code)}.API.CONSUMER.CREATE.ZT_PUB_{spec.code}",
          f"$JS.FC.ZT_PUB_{spec.code}.>"]
    for a in spec.lineage():
        api = f"$JS.{domain_of(a)}.API.CONSUMER"
        up += [f"$JS.FC.ZT_EV_{a}.>", f"{api}.{INTEREST_ONLY}"]
        up += [f"{api}.CREATE.ZT_EV_{a}.*.{Subject.events(a, origin).build()}"
               for origin in subtree]
    api = f"$JS.{domain_of(child)}.API.CONSUMER"
    logs = ([f"{api}.CREATE.ZT_EV_{child}"] if spec.full_children
            else [f"{api}.CREATE.ZT_EV_{child}.*.{Subject.events(child, spec.code).build()}"])
    down = [f"{api}.{INTEREST_ONLY}", *logs, f"{api}.CREATE.ZT_SUM_{child}",
            f"$JS.FC.ZT_EV_{child}.>", f"$JS.FC.ZT_SUM_{child}.>", "$JSC.R.>",
            *(f"ztsrc.{unit}.>" for unit in subtree)]
    return Permissions(publish=tuple(up), subscribe=tuple(down))


def _allow(subjects: Sequence[str], indent: str) -> list[str]:
    return [f"{indent}  {_q(s)}{',' if i < len(subjects) - 1 else ''}"
            for i, s in enumerate(subjects)]


def _permissions_block(perms: Permissions, indent: str, *, up: str, down: str) -> list[str]:
    return [
        f"{indent}permissions: {{",
        f"{indent}  # {up}",
        f"{indent}  publish: {{ allow: [",
        *_allow(perms.publish, indent + "  "),
        f"{indent}  ] }}",
        f"{indent}  # {down}",
        f"{indent}  subscribe: {{ allow: [",
        *_allow(perms.subscribe, indent + "  "),
        f"{indent}  ] }}",
        f"{indent}}}",
    ]


def render(spec: NatsServerSpec) -> str:
    """The nats-server configuration text for `spec`."""
    lines = [
        f"# Zhitong NATS server for node {spec.code} "
        "(generated; see federation/nats/server_config.py)",
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
    indent = "        "
    users: list[list[str]] = [[
        f"      {{ user: {_q(node_user(spec.code))}, password: {_q(spec.node_password)},",
        *_permissions_block(node_permissions(spec), indent,
                            up="what the node may publish: own subjects, own domain's API",
                            down="what it may receive: replies, own and children's subjects"),
        "      }",
    ]]
    for child, pw in sorted(spec.leaf_children.items()):
        users.append([
            f"      {{ user: {_q(leaf_user(child))}, password: {_q(pw)},",
            f'{indent}allowed_connection_types: ["LEAFNODE"],',
            *_permissions_block(leaf_permissions(spec, child), indent,
                                up=f"what {child}'s server may send up this leaf link",
                                down=f"what this server sends down to {child}"),
            "      }",
        ])
    for i, user in enumerate(users):
        if i < len(users) - 1:
            user[-1] += ","
    lines += [
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
        *[line for user in users for line in user],
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
        if spec.no_advertise:
            leaf.append("  no_advertise: true")
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


def spec_in(topology: Topology, code: str, *, store_dir: Path, node_password: str,
            leaf_password: str, tls: LeafTls | None, parent_leaf_url: str | None,
            client_port: int = RANDOM_PORT, leaf_port: int = RANDOM_PORT,
            host: str = "127.0.0.1", no_advertise: bool = False) -> NatsServerSpec:
    """The server of unit `code` in a federation on one machine (`zhitong up`, the test
    harnesses): one leaf password for every link, leaf listeners only where there are
    children. `parent_leaf_url` is where the parent's leaf listener is reached (ignored
    for a unit without a parent)."""
    kids = topology.children(code)
    parent = topology.parent(code)
    return NatsServerSpec(
        code=code, host=host, client_port=client_port, store_dir=store_dir,
        node_password=node_password, ancestors=topology.ancestors(code),
        leaf_port=leaf_port if kids else None, no_advertise=no_advertise,
        leaf_children={c: leaf_password for c in kids},
        leaf_subtrees={c: topology.descendants(c) for c in kids},
        full_children=full_children(topology.level(code)),
        parent_leaf_url=parent_leaf_url if parent else None,
        parent_leaf_password=leaf_password if parent else None, tls=tls)


def write(spec: NatsServerSpec, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(spec), encoding="utf-8")
    return path


def subjects_for(code: str) -> Sequence[str]:
    return (Subject.events(code).build(),)
