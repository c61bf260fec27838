"""`zhitong` — the operator's command line.

    zhitong node run     --config deploy/county/node.toml   run one node
    zhitong host         --config hosting.toml [--check]   several units in one process
    zhitong config check --config FILE                       validate a configuration
    zhitong db upgrade   --config FILE                       apply schema migrations
    zhitong db current   --config FILE                       show the schema revision
    zhitong user add     --config FILE --username U --role R [--password-stdin] …
    zhitong user disable|enable|unlock --config FILE --username U   (audited as "cli")
    zhitong demo seed    --config FILE                       demo logins + demo issues
    zhitong import issues FILE --config FILE [--dry-run] [--skip-invalid]   .xlsx / .csv
    zhitong org export|import [FILE] --config FILE [--apply]  the organisation as one file
    zhitong audit verify --config FILE                       check every hash chain (events, audit)
    zhitong certs init   --dir DIR --node CODE [--node …]    private CA + node certificates
    zhitong up                                               the local demo (see README)
"""

from __future__ import annotations

import argparse
import getpass
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


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every chain holds (the event log's and the audit log's); 1 at the first
    break, naming writer, event or audit record, and why."""
    from node.store.audit import verify_engine
    from node.store.chains import verify_store
    from node.store.db import single_use_engine

    cfg = _config(args)
    engine = single_use_engine(cfg.database_url)
    try:
        checked = verify_store(engine, cfg.node.code)
        audited = verify_engine(engine)
    finally:
        engine.dispose()
    status = 0
    for c in checked:
        if c.found is None:
            print(f"ok: {c.writer}: {c.events} events, chain intact")
            continue
        b = c.found
        print(f"BROKEN: {b.writer} event {b.writer_seq} ({b.event_id}): {b.problem}",
              file=sys.stderr)
        status = 1
        break
    for writer, records, found in audited if status == 0 else ():
        if found is None:
            print(f"ok: audit log {writer}: {records} records, chain intact")
            continue
        print(f"BROKEN: audit log {writer} record {found.writer_seq} ({found.event_id}): "
              f"{found.problem}", file=sys.stderr)
        status = 1
        break
    return status


def cmd_node_run(args: argparse.Namespace) -> int:
    from node.runtime import serve

    serve(_config(args))
    return 0


def cmd_host(args: argparse.Namespace) -> int:
    from node.hosting import load_hosting, serve_hosted

    hosted = load_hosting(args.config, os.environ)
    if args.check:
        for c in hosted.configs:
            print(f"ok: unit {c.node.code} {c.node.name} ({c.node.level}), HTTP "
                  f"{c.http.host}:{c.http.port}, database {c.database_url.split('@')[-1]}")
        return 0
    serve_hosted(hosted)
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from node.app.policy import Membership, Principal, Role
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
            # --unit: a unit the account belongs to, in its role (node/app/policy.py)
            memberships=tuple(Membership(unit=u, role=Role(args.role)) for u in args.unit),
        ),
        password,
    )
    node.engine.dispose()
    print(f"added {args.role} {args.username}")
    return 0


def cmd_org(args: argparse.Namespace) -> int:
    """Export this node's organisation as one file, or import one (a dry run unless
    --apply): units, its own tags, its own rules (node/app/organisation.py)."""
    import json

    from node.app.policy import Principal, Role
    from node.runtime import build
    from node.web.admin_organisation import organisation_of

    node = build(_config(args))
    operator = Principal(username="cli", role=Role.ADMIN, display_name="operator (CLI)")
    try:
        service = organisation_of(node.services)
        if args.cmd == "export":
            text = json.dumps(service.export(operator), ensure_ascii=False, indent=2)
            if args.output == "-":
                print(text)
            else:
                Path(args.output).write_text(text + "\n", encoding="utf-8")
            return 0
        try:
            raw = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.file}: not a readable JSON file ({exc})") from None
        report = service.import_(operator, raw, dry_run=not args.apply)
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return 0
    finally:
        node.engine.dispose()


def cmd_user_state(args: argparse.Namespace) -> int:
    """Disable, enable or unlock an account from the host (e.g. the only admin locked out)."""
    from node.app.policy import Principal, Role
    from node.runtime import build

    node = build(_config(args))
    operator = Principal(username="cli", role=Role.ADMIN, display_name="operator (CLI)")
    accounts = node.services.accounts
    try:
        if args.cmd == "unlock":
            lifted = accounts.unlock_account(operator, args.username)
            print(f"{'unlocked' if lifted else 'no lock on'} {args.username}")
        elif args.cmd == "disable":
            accounts.disable(operator, args.username)
            print(f"disabled {args.username}")
        else:
            accounts.enable(operator, args.username)
            print(f"enabled {args.username}")
    finally:
        node.engine.dispose()
    return 0


def cmd_demo_seed(args: argparse.Namespace) -> int:
    """Demo logins and a year of demo activity through the import path (node/demo_year.py)."""
    from node.demo import ensure_demo_accounts
    from node.demo_year import DemoClock, seed_demo_year
    from node.runtime import build

    clock = DemoClock()
    node = build(_config(args), clock=clock)
    logins = ensure_demo_accounts(node.services.accounts, node.config.node.code)
    done = seed_demo_year(node, clock, seed=args.seed, count=args.count)
    node.engine.dispose()
    print(("demo issues of this seed already there" if done.skipped else
           f"{done.issues} demo issues (a year, seed {args.seed}), {done.follow_ups} actions "
           f"after the import, {done.revisits} revisits, {len(done.escalated)} escalated")
          + "; logins: " + ", ".join(f"{u} ({r})" for u, r, _ in logins))
    return 0


def cmd_import_issues(args: argparse.Namespace) -> int:
    """Import a file of issues (node/app/imports.py): progress on stderr, the report on
    stdout; exit 1 when rows were refused (nothing written unless --skip-invalid)."""
    import time

    from node.app.imports import iter_progress_lines, problem_dict, read_table
    from node.app.policy import Principal, Role
    from node.runtime import build

    node = build(_config(args))
    assert node.services.imports is not None
    service = node.services.imports.service
    principal = Principal(username=args.actor, role=Role.ADMIN, display_name=args.actor)
    started = time.monotonic()
    with open(args.file, "rb") as data:
        table = read_table(data, args.file)
    print(f"{len(table.rows)} rows read from {args.file}", file=sys.stderr, flush=True)

    def progress(done: int, total: int) -> None:
        print(f"\r{iter_progress_lines(done, total)}", end="" if done < total else "\n",
              file=sys.stderr, flush=True)

    report = service.run(principal, table, dry_run=args.dry_run,
                         skip_invalid=args.skip_invalid, progress=progress)
    node.engine.dispose()
    elapsed = time.monotonic() - started
    for p in report.problems:
        d = problem_dict(p)
        print(f"row {d['row']}, {d['column_zh']} ({d['column']}), {d['value']!r}: "
              f"{d['reason']} / {d['reason_en']}")
    print(f"{report.status}: {report.rows} rows, {report.valid} valid, "
          f"{report.invalid_rows} invalid, {report.existing} already imported, "
          f"{report.written} written ({report.historical} historical) in {elapsed:.1f} s")
    return 1 if report.status == "refused" or (report.problems and args.dry_run) else 0


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
    """A whole federation on this machine (see node/localfed.py)."""
    import signal
    import time

    from node.demo import DEMO_PASSWORD
    from node.localfed import LocalFederation

    hosted = args.hosted if args.hosted is not None else args.topology != "small"
    fed = LocalFederation(Path(args.data_dir).resolve(), args.topology,
                          base_port=args.base_port, say=lambda m: print(m, flush=True),
                          hosted=hosted)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        manifest = fed.start(demo_data=args.demo_data)
        print(f"\nready: {len(manifest)} nodes ({args.topology}); "
              f"manifest {fed.root}/manifest.json")
        for n in manifest:
            indent = {"province": "", "city": "  ", "county": "    "}[n["level"]]
            print(f"  {indent}{n['name']} {n['code']:<8} {n['http_url']}/ui/   "
                  f"API {n['http_url']}/api/v1/   gRPC {n['grpc_address']}")
        print(f"\n  demo logins at every node (password {DEMO_PASSWORD}): dispatcher, handler, "
              "leader, admin, viewer; enterprise: see the manifest")
        print("  Ctrl-C stops everything; data stays in", fed.root, flush=True)
        while not stopping:
            for code, proc in fed.procs.items():
                if proc.poll() is not None:
                    print(f"zhitong up: node {code} exited with {proc.returncode}; see "
                          f"{fed.root}/logs/node-{code}.log", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)  # supervision tick of the foreground process
    finally:
        print("stopping …", flush=True)
        fed.stop()
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
    hosting = sub.add_parser("host", help="run several units in one process (市级统建)")
    hosting.add_argument("--config", required=True, help="the hosting TOML file")
    hosting.add_argument("--check", action="store_true", help="check the file and exit")
    hosting.set_defaults(fn=cmd_host)

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
                     choices=["enterprise", "intake", "dispatcher", "handler", "leader",
                              "supervisor", "reviewer", "admin", "viewer"])
    add.add_argument("--display-name")
    add.add_argument("--credit-code")
    add.add_argument("--department")
    add.add_argument("--board")
    add.add_argument("--unit", action="append", default=[], metavar="UNIT_ID",
                     help="a unit the account belongs to, in its role (repeatable)")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(fn=cmd_user_add)
    for verb in ("disable", "enable", "unlock"):
        state = with_config(user.add_parser(verb))
        state.add_argument("--username", required=True)
        state.set_defaults(fn=cmd_user_state)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="cmd", required=True)
    seed = with_config(demo.add_parser("seed"))
    seed.add_argument("--count", type=int, default=None,
                      help="issues of the year, besides the ~20 laid out for today's lights "
                           "(default: 320-420, drawn from the seed)")
    seed.add_argument("--seed", type=int, default=2026, help="same seed, same dataset")
    seed.set_defaults(fn=cmd_demo_seed)

    orgs = sub.add_parser("org", help="the organisation as one file").add_subparsers(
        dest="cmd", required=True)
    export = with_config(orgs.add_parser("export", help="units, own tags, own rules"))
    export.add_argument("--output", default="-", help="a file (default: standard output)")
    export.set_defaults(fn=cmd_org)
    org_import = with_config(orgs.add_parser("import", help="a file exported elsewhere"))
    org_import.add_argument("file")
    org_import.add_argument("--apply", action="store_true", help="write (default: dry run)")
    org_import.set_defaults(fn=cmd_org)

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="cmd", required=True)
    issues = with_config(imp.add_parser("issues", help="issues from .xlsx or .csv "
                                        "(GET /api/v1/imports/template.xlsx)"))
    issues.add_argument("file")
    issues.add_argument("--dry-run", action="store_true",
                        help="check every row and report, write nothing")
    issues.add_argument("--skip-invalid", action="store_true",
                        help="write the valid rows even if others are refused")
    issues.add_argument("--actor", default="import", help="who the events name (staff:NAME)")
    issues.set_defaults(fn=cmd_import_issues)

    audit = sub.add_parser("audit", help="tamper evidence").add_subparsers(dest="cmd",
                                                                          required=True)
    with_config(audit.add_parser("verify", help="check every writer's hash chain")
                ).set_defaults(fn=cmd_audit_verify)

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

    up = sub.add_parser("up", help="run a whole local federation")
    up.add_argument("--topology", choices=["small", "huzhou", "zhejiang"], default="small")
    up.add_argument("--data-dir", default="var/up")
    up.add_argument("--base-port", type=int, default=8100,
                    help="HTTP ports from here; gRPC +1000, NATS +2000, leaf +3000")
    up.add_argument("--no-demo-data", dest="demo_data", action="store_false")
    up.add_argument("--hosted", dest="hosted", action="store_true", default=None,
                    help="each city's process hosts its counties (default for huzhou and "
                         "zhejiang)")
    up.add_argument("--one-process-per-unit", dest="hosted", action="store_false")
    up.set_defaults(fn=cmd_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from node.web.observability import configure_logging

    configure_logging(os.environ.get("ZHITONG_LOG_FORMAT", "text"))
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
        from node.i18n import error_texts

        if isinstance(exc, DomainError):
            print(f"zhitong: {' / '.join(error_texts(exc))}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
