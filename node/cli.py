"""`zhitong` — the operator's command line.

    zhitong node run     --config deploy/county/node.toml   run one node
    zhitong config check --config FILE                       validate a configuration
    zhitong db upgrade   --config FILE                       apply schema migrations
    zhitong db current   --config FILE                       show the schema revision
    zhitong user add     --config FILE --username U --role R [--password-stdin] …
    zhitong demo seed    --config FILE                       demo logins + demo issues
    zhitong certs init   --dir DIR --node CODE [--node …]    private CA + node certificates
    zhitong up                                               the local demo (see README)
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from federation.certs import CertError
from node.config import Config, ConfigError, load_config

REPO_ROOT = Path(__file__).resolve().parent.parent


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config, os.environ)


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _config(args)
    print(f"ok: node {cfg.node.code} {cfg.node.name} ({cfg.node.level}), "
          f"database {cfg.database_url.split('@')[-1]}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from node.store import migrate
    from node.store.db import single_use_engine

    cfg = _config(args)
    engine = single_use_engine(cfg.database_url)
    migrate.upgrade(engine)
    print(f"schema at {migrate.current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from node.store import migrate
    from node.store.db import single_use_engine

    engine = single_use_engine(_config(args).database_url)
    print(f"current {migrate.current_revision(engine)}, head {migrate.head_revision()}")
    engine.dispose()
    return 0


def cmd_node_run(args: argparse.Namespace) -> int:
    from node.runtime import build, serve

    serve(build(_config(args)))
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from node.app.policy import Principal, Role
    from node.runtime import build

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    node = build(_config(args))
    node.services.accounts.add(
        Principal(
            username=args.username,
            role=Role(args.role),
            display_name=args.display_name or args.username,
            credit_code=args.credit_code,
            department=args.department,
            board=args.board,
        ),
        password,
    )
    node.engine.dispose()
    print(f"added {args.role} {args.username}")
    return 0


def cmd_demo_seed(args: argparse.Namespace) -> int:
    from node.demo import ensure_demo_accounts, seed_demo_issues
    from node.runtime import build

    node = build(_config(args))
    logins = ensure_demo_accounts(node.services.accounts, node.config.node.code)
    leader = node.services.accounts.principal("leader")
    made = seed_demo_issues(node.services.issues, leader, count=args.count)
    node.engine.dispose()
    print(f"{made} demo issues; logins: " + ", ".join(f"{u} ({r})" for u, r, _ in logins))
    return 0


def cmd_certs_init(args: argparse.Namespace) -> int:
    """A private CA (if absent) and a certificate per node, for a deployment or local use."""
    from federation.certs import ensure_federation_certs
    from node.app.clock import SystemClock

    hosts = tuple(args.host) if args.host else ("localhost", "127.0.0.1")
    dirs = ensure_federation_certs(Path(args.dir), args.node, hosts=hosts,
                                   now=SystemClock().now())
    for code, path in dirs.items():
        print(f"{code}: {path}/node.pem, node.key, ca.pem")
    print(f"CA: {Path(args.dir) / 'ca'} (keep ca.key offline once every node has its cert)")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """The local demo. Until the federation lands this runs one county node (长兴县)."""
    from node.demo import ensure_demo_accounts, seed_demo_issues
    from node.runtime import build, serve

    data_dir = Path(args.data_dir).resolve()
    env = dict(os.environ)
    env.setdefault("ZHITONG__NODE__DATA_DIR", str(data_dir / "330522"))
    env.setdefault("ZHITONG__HTTP__PORT", str(args.port))
    env.setdefault("ZHITONG__FEDERATION__ENABLED", "false")
    env.setdefault("ZHITONG__NATS__ENABLED", "false")
    cfg = load_config(REPO_ROOT / "deploy" / "county" / "node.toml", env)
    print(f"[1/3] starting node {cfg.node.code} {cfg.node.name} in {cfg.node.data_dir} …",
          flush=True)
    node = build(cfg)
    logins = ensure_demo_accounts(node.services.accounts, cfg.node.code)
    if args.demo_data and node.services.issues.list_issues(
        node.services.accounts.principal("leader"), limit=1
    ).total == 0:
        print("[2/3] loading the demo dataset …", flush=True)
        seed_demo_issues(node.services.issues, node.services.accounts.principal("leader"))
    else:
        print("[2/3] keeping the existing data", flush=True)
    base = f"http://{cfg.http.host}:{cfg.http.port}"
    print(f"[3/3] ready: {cfg.node.name} ({cfg.node.code}) at {base}/api/v1/health")
    print(f"      API: {base}/api/v1/  OpenAPI: {base}/api/v1/openapi.json")
    print("      demo logins (POST /api/v1/auth/login):")
    for user, role, password in logins:
        print(f"        {role:<10} {user:<20} password {password}")
    print("      Ctrl-C stops; data is kept in", data_dir, flush=True)
    serve(node)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhitong", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="group", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", required=True, help="the node's TOML file")
        return p

    node = sub.add_parser("node", help="run a node").add_subparsers(dest="cmd", required=True)
    with_config(node.add_parser("run", help="run one node")).set_defaults(fn=cmd_node_run)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="cmd",
                                                                           required=True)
    with_config(config.add_parser("check")).set_defaults(fn=cmd_config_check)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="cmd", required=True)
    with_config(db.add_parser("upgrade")).set_defaults(fn=cmd_db_upgrade)
    with_config(db.add_parser("current")).set_defaults(fn=cmd_db_current)

    user = sub.add_parser("user", help="accounts").add_subparsers(dest="cmd", required=True)
    add = with_config(user.add_parser("add"))
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True,
                     choices=["enterprise", "dispatcher", "handler", "leader", "admin", "viewer"])
    add.add_argument("--display-name")
    add.add_argument("--credit-code")
    add.add_argument("--department")
    add.add_argument("--board")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(fn=cmd_user_add)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="cmd", required=True)
    seed = with_config(demo.add_parser("seed"))
    seed.add_argument("--count", type=int, default=24)
    seed.set_defaults(fn=cmd_demo_seed)

    certs = sub.add_parser("certs", help="federation certificates (mutual TLS)").add_subparsers(
        dest="cmd", required=True)
    init = certs.add_parser("init", help="create the CA if absent and a certificate per node")
    init.add_argument("--dir", required=True, help="root folder: ca/ and one folder per node")
    init.add_argument("--node", action="append", required=True,
                      help="division code of a node (repeat)")
    init.add_argument("--host", action="append",
                      help="a DNS name or IP the nodes are reached at (repeat); "
                           "default localhost, 127.0.0.1")
    init.set_defaults(fn=cmd_certs_init)

    up = sub.add_parser("up", help="run the local demo")
    up.add_argument("--data-dir", default="var/up")
    up.add_argument("--port", type=int, default=8522)
    up.add_argument("--no-demo-data", dest="demo_data", action="store_false")
    up.set_defaults(fn=cmd_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (ConfigError, CertError) as exc:
        print(f"zhitong: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from node.domain.errors import DomainError

        if isinstance(exc, DomainError):
            print(f"zhitong: {exc.message_zh} / {exc.message_en}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
