"""``dla`` command line: what the Makefile targets call."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from . import warehouse
from .config import SOURCES, ConfigError, project_root
from .landing import LandingError

DEFAULT_NIGHT = "2026-11-05"  # inside the allowance payment window (1st-10th)
BANGKOK = "Asia/Bangkok"


class UsageError(RuntimeError):
    """A command line that cannot be run: the message says what to type instead."""


def extract_date(text: str) -> date:
    """An extract date as the CLI and the Makefile take it: YYYY-MM-DD (CE)."""
    from .nights import BadNight, parse_night

    try:
        return parse_night(text)
    except BadNight as exc:
        raise argparse.ArgumentTypeError(
            str(exc)
            .replace("extract_date ", "", 1)
            .replace("type it as YYYY-MM-DD", "type it as YYYY-MM-DD")
            .replace("e.g. ", "e.g. DATE=", 1)
        ) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line that says what to type, not a usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _setup(args) -> int:
    from . import access
    from .config import get_settings

    root = project_root()
    if warehouse.external_warehouse(root):
        # e.g. the docker-compose init container: the server is someone else's to run
        print("WAREHOUSE_URL points at an external server: nothing started, no .env written")
    else:
        env = warehouse.ensure_env_file(root)
        print(
            f"starting embedded PostgreSQL on 127.0.0.1:{env['WAREHOUSE_PORT']} "
            f"(data in {warehouse.Embedded(root).pgdata})"
        )
        warehouse.start_embedded(root)
    settings = get_settings()
    if not warehouse.admin_configured(root):
        from .db import migrate

        print("no superuser access (WAREHOUSE_ADMIN_URL): roles and database are assumed to exist")
        migrate(settings)
        return 0
    admin = warehouse.admin_conninfo(root)
    admin_db = warehouse.admin_conninfo(root, settings.pg.dbname)
    access.provision(admin, admin_db, settings)
    from .pdpa import rekey_legacy

    rekeyed = rekey_legacy(admin_db, settings)
    if rekeyed:
        print(f"pseudonyms of release 0.1 re-derived with the keys per purpose: {rekeyed}")
    if warehouse.embedded_in_use(root) and settings.analyst_url:
        access.ensure_dev_analyst(admin_db, settings.analyst_url, settings)
        warehouse.write_person_service(root, "dla_analyst", settings.analyst_url)
    print(
        "warehouse ready: pipeline roles dla_owner, dla_loader, dla_transformer, dla_gate,"
        " dla_publisher; groups central_analyst, province_officer, bi_service, auditor"
        " (add people with `dla users add`)"
    )
    return 0


def _users(args) -> int:
    from . import access
    from .config import get_settings

    settings = get_settings()
    admin_db = warehouse.admin_conninfo(project_root(), settings.pg.dbname)
    try:
        if args.action == "add" and args.password_from_env:
            password = os.environ.get(args.password_from_env)
            if not password:
                raise UsageError(f"{args.password_from_env} is empty or not set")
            access.ensure_user(admin_db, args.name, args.role, args.province, password, settings)
            print(f"{args.name} ({args.role}) ready; password from ${args.password_from_env}")
        elif args.action == "add":
            url = access.add_user(admin_db, args.name, args.role, args.province, settings)
            print(
                f"{args.name} ({args.role}{', province ' + args.province if args.province else ''}):"
            )
            print(f"  {url}")
            print("  this is the only copy of the password: hand it over now; it is stored nowhere")
        elif args.action == "list":
            rows = access.list_users(admin_db)
            print(f"{'login':<24}{'role':<18}{'province':<10}{'created':<12}by")
            for login, role, province, created, by, _valid in rows:
                print(f"{login:<24}{role:<18}{province:<10}{created!s:<12}{by}")
        elif args.action == "remove":
            access.remove_user(admin_db, args.name)
            print(f"{args.name} removed (its sessions were ended)")
        else:
            url = access.reset_password(admin_db, args.name, settings)
            print(f"new password for {args.name} (only copy):\n  {url}")
    except access.AccessError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _republish(reason: str) -> None:
    """Rebuild, check and publish the latest night (after an erasure or a key rotation)."""
    from datetime import datetime

    from . import steps
    from .db import connect
    from .ledger import loaded_nights
    from .quality import QualityGateFailed

    with connect(role="loader") as conn:
        nights = loaded_nights(conn)
    if not nights:
        return
    night, run_id = nights[-1], f"{reason}__{datetime.now():%Y%m%dT%H%M%S}"
    steps.transform(night, gate_next=True)
    try:
        steps.quality_gate(night, run_id)
    except QualityGateFailed as exc:
        print(
            f"the marts were rebuilt but not published (the gate blocked): {exc}", file=sys.stderr
        )
        return
    steps.publish_marts(night, run_id)
    print(f"marts rebuilt and published ({night}, run {run_id})")


def _erase(args) -> int:
    from . import pdpa
    from .config import get_settings

    settings = get_settings()
    purpose, clear_id = (
        ("citizen", args.citizen_id) if args.citizen_id else ("taxpayer", args.taxpayer_id)
    )
    admin_db = warehouse.admin_conninfo(project_root(), settings.pg.dbname)
    try:
        out = pdpa.erase(
            purpose, clear_id, args.by or os.environ.get("USER", "unknown"), admin_db, settings
        )
    except pdpa.PdpaError as exc:
        raise UsageError(str(exc)) from None
    print(f"erased a {purpose} (tombstone {out['token']}...):")
    for table, n in out["removed"].items():
        print(f"  {table}: {n} row(s)")
    if args.no_publish:
        print("not rebuilt: the next night removes the person from the facts and marts")
        return 0
    _republish("erase")
    for table, n in pdpa.finish_erasure(admin_db, purpose, out["key"]).items():
        if n:
            print(f"  {table}: {n} row(s)")
    return 0


def _rotate_key(args) -> int:
    from . import pdpa
    from .config import get_settings

    settings = get_settings()
    admin_db = warehouse.admin_conninfo(project_root(), settings.pg.dbname)
    try:
        out = pdpa.rotate_key(admin_db, settings)
    except pdpa.PdpaError as exc:
        raise UsageError(str(exc)) from None
    print(f"pseudonym key version {out['version']} (fingerprints {out['fingerprints']}):")
    for table, n in out["updated"].items():
        print(f"  {table}: {n} row(s) re-derived")
    if not args.no_publish:
        _republish("rotate-key")
    return 0


def _purge(args) -> int:
    from . import pdpa

    for r in pdpa.purge(dry_run=args.dry_run):
        n = f"{r.get('rows', 0):,} row(s)" if "rows" in r else f"{r.get('files', 0):,} file(s)"
        print(
            f"{'would remove' if args.dry_run else 'removed'} {r['what']} older than {r['older_than']}: {n}"
        )
    return 0


def _audit(args) -> int:
    from . import pdpa

    lines = pdpa.audit(warehouse.Embedded(project_root()).logfile, args.since)
    print("\n".join(lines) if lines else "no reads of the restricted schema in the server log")
    return 0


def _warehouse(args) -> int:
    root = project_root()
    if not warehouse.embedded_in_use(root):
        print("WAREHOUSE_URL points at an external server: nothing to start or stop")
        return 0
    if args.action == "start":
        env = warehouse.start_embedded(root)
        print(f"warehouse running on 127.0.0.1:{env['WAREHOUSE_PORT']}")
    elif args.action == "stop":
        warehouse.stop_embedded(root)
        print("warehouse stopped")
    else:
        running = warehouse.Embedded(root).is_running()
        print("running" if running else "stopped")
        return 0 if running else 1
    return 0


def _generate(args) -> int:
    from .generator import generate_night

    night = args.date
    out = generate_night(
        night,
        laos=args.laos,
        seed=args.seed,
        bad_fraction=args.bad_fraction,
        sources=args.sources,
        scale=args.scale,
    )
    print(f"generated {out['files']} files, {out['rows']:,} rows for {night} in {out['landing']}")
    return 0


def _load(args) -> int:
    from .ingest import load_night

    for source in args.sources:
        print(load_night(source, args.date, batches=args.batches))
    return 0


def _forget(args) -> int:
    from .ingest import forget_night

    for source in args.sources:
        forget_night(source, args.date, lao=args.lao)
    what = f"LAO {args.lao}'s file" if args.lao else "every file"
    print(f"forgot {', '.join(args.sources)} for {args.date}: the next run reloads {what}")
    return 0


def _yesterday() -> date:
    from .nights import yesterday_in_bangkok

    return yesterday_in_bangkok()


def _night(args) -> int:
    from .night import run_night

    summary = run_night(args.date or _yesterday(), runner=args.runner)
    return 0 if summary["ok"] else 1


def _backfill(args) -> int:
    from .quality import QualityGateFailed

    start, end = args.date_from, args.date_to
    if end < start:
        raise UsageError(
            f"FROM {start} is after TO {end}: type the earlier night first, e.g."
            f" make backfill FROM={end} TO={start}"
        )
    runner = args.runner
    if runner == "auto":
        from .airflow_local import api_up

        runner = "airflow" if api_up() else "direct"
    print(
        f"backfill {start}..{end} ({runner}): load every night, then build, check and publish once"
    )
    try:
        if runner == "airflow":
            from .airflow_local import backfill

            backfill(start, end)
        else:
            from .backfill import backfill_direct

            backfill_direct(start, end)
    except QualityGateFailed as exc:
        print(f"backfill loaded, NOT published: {exc}", file=sys.stderr)
        print(
            f"fix it (e.g. the LAO re-sends), then `make backfill FROM={start} TO={end}`",
            file=sys.stderr,
        )
        return 1
    from .night import print_summary, write_summary

    print_summary(write_summary(end, "backfill", runner))
    return 0


def _airflow_up(args) -> int:
    from .airflow_local import start

    url = start()
    from .config import get_settings

    print(f"Airflow is up: {url}  (user admin, password AIRFLOW_ADMIN_PASSWORD in .env)")
    print(
        f"scheduler, dag-processor, triggerer, api-server: logs in {get_settings().root / '.airflow/logs/components'}"
    )
    print("stop everything with `make airflow-stop`")
    return 0


def _airflow_stop(args) -> int:
    from .airflow_local import stop

    stopped = stop()
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _run(args) -> int:
    from .config import get_settings
    from .generator import generate_night
    from .night import run_night

    night = args.date
    landing = get_settings().landing_dir
    if not any(landing.glob("*/*/*.csv")):
        print(f"landing zone {landing} is empty: generating a sample night {night}")
        out = generate_night(night, laos=args.laos, seed=42, bad_fraction=0.02)
        print(f"generated {out['files']} files, {out['rows']:,} rows")
    summary = run_night(night, runner=args.runner)
    return 0 if summary["ok"] else 1


def _migrate(args) -> int:
    from .db import migrate

    print(f"warehouse schema at revision {migrate()}")
    return 0


def _dbt(args) -> int:
    import shlex

    from .transform import DbtFailed, refresh_seeds, run_dbt

    # `make dbt ARGS="..."` passes the arguments as one string: split here, never by a shell
    rest = shlex.split(args.args_text) if args.args_text else list(args.rest)
    if not rest:
        raise UsageError('no dbt command: type e.g. make dbt ARGS="build --select marts"')
    if rest[0] in ("build", "run", "test"):
        refresh_seeds()
    try:
        run_dbt(rest)
    except DbtFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _docs(args) -> int:
    from .transform import DbtFailed, generate_docs

    try:
        page = generate_docs()
    except DbtFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"dbt docs written to {page}")
    return 0


def _compose_env(args) -> int:
    from .compose import write_compose_env

    try:
        path = write_compose_env()
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"wrote {path} (0600): docker compose --env-file {path.relative_to(project_root())} up -d"
    )
    return 0


def _followup_pack(args) -> int:
    from .config import get_settings
    from .db import connect
    from .followup_pack import PackError, dopa_provinces, write_pack

    settings = get_settings()
    try:
        # dla_publisher: the pipeline role that can read the published marts (read only here)
        with connect(settings, role="publisher") as conn:
            written = write_pack(
                conn,
                args.out,
                provinces=args.province,
                all_provinces=not args.province,
                dopa=dopa_provinces(settings.reference_dir),
                root=settings.root,
            )
    except PackError as exc:
        raise UsageError(str(exc)) from None
    for w in written:
        print(
            f"{w.path}: {w.rabies:,} without a rabies report,"
            f" {w.missing:,} file(s) missing, {w.rejected:,} rejected"
        )
    print(f"{len(written)} workbook(s) in {written[0].path.parent} (folder 0700, files 0600)")
    return 0


def _airflow(args) -> int:
    from .airflow_env import airflow_env

    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.call([str(airflow), *args.rest], env=airflow_env())


def _pipeline_commands(sub) -> None:
    """setup, the warehouse, loading, nights, dbt."""
    sub.add_parser("setup", help="write .env, start the warehouse, create roles and schemas")
    sub.add_parser("migrate", help="upgrade the warehouse schema (raw, ops) in place")
    w = sub.add_parser("warehouse", help="start/stop/status of the embedded warehouse")
    w.add_argument("action", choices=["start", "stop", "status"])

    g = sub.add_parser("generate", help="write sample extracts into the landing zone")
    g.add_argument("--date", type=extract_date, default=DEFAULT_NIGHT)
    g.add_argument("--laos", type=int, default=300, help="how many LAOs (0 = all 7,849)")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--bad-fraction", type=float, default=0.02)
    g.add_argument("--scale", type=float, default=1.0, help="volume multiplier")
    g.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)

    ld = sub.add_parser("load", help="load one night without Airflow (debugging, benchmarks)")
    ld.add_argument("--date", type=extract_date, required=True)
    ld.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    ld.add_argument("--batches", type=int, default=4)

    f = sub.add_parser("forget", help="make the next run reload a night (or one LAO's file)")
    f.add_argument("--date", type=extract_date, required=True)
    f.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    f.add_argument("--lao", default=None, help="only this LAO's file (7-digit code)")

    n = sub.add_parser("night", help="the whole chain for one extract date (default: yesterday)")
    n.add_argument("--date", type=extract_date, default=None)
    n.add_argument("--runner", choices=["auto", "airflow", "direct"], default="auto")
    r = sub.add_parser("run", help="the main job: a sample night if the landing zone is empty")
    r.add_argument("--date", type=extract_date, default=extract_date(DEFAULT_NIGHT))
    r.add_argument("--runner", choices=["auto", "airflow", "direct"], default="auto")
    r.add_argument("--laos", type=int, default=300)

    d = sub.add_parser("dbt", help="run a dbt command with the warehouse settings")
    d.add_argument("--args", dest="args_text", default=None, help="dbt arguments as one string")
    d.add_argument("rest", nargs=argparse.REMAINDER)


def _operations_commands(sub) -> None:
    """backfill, the local Airflow, docs, the compose secrets."""
    b = sub.add_parser("backfill", help="run a range of nights in order (stops at a failure)")
    b.add_argument("--from", dest="date_from", type=extract_date, required=True)
    b.add_argument("--to", dest="date_to", type=extract_date, required=True)
    b.add_argument("--runner", choices=["auto", "airflow", "direct"], default="auto")
    sub.add_parser(
        "airflow-up",
        help="start the local Airflow (scheduler, api-server, dag-processor, triggerer)",
    )
    sub.add_parser("airflow-stop", help="stop every process the local Airflow started")
    sub.add_parser("docs", help="dbt docs of the published marts, one self-contained page")
    sub.add_parser(
        "compose-env", help="write .secrets/compose.env: the secrets docker-compose.yml needs"
    )


def _people_commands(sub) -> None:
    """logins, PDPA rights and retention, the provincial follow-up pack."""
    u = sub.add_parser("users", help="people's logins: add, list, remove, reset-password")
    usub = u.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ua = usub.add_parser("add", help="a personal login; prints its URL (password) once")
    ua.add_argument("name")
    ua.add_argument(
        "--role",
        required=True,
        choices=["central_analyst", "province_officer", "bi_service", "auditor"],
    )
    ua.add_argument(
        "--province", default=None, help="2-digit DOPA code (province_officer, provincial BI)"
    )
    ua.add_argument(
        "--password-from-env",
        metavar="VAR",
        default=None,
        help="automation: take the password from this environment variable, print no URL,"
        " and accept an existing login with the same role (its password is set again)",
    )
    usub.add_parser("list", help="the people with a login")
    ur = usub.add_parser("remove", help="drop a login (its sessions end)")
    ur.add_argument("name")
    up = usub.add_parser("reset-password", help="a new password, printed once")
    up.add_argument("name")

    e = sub.add_parser("erase", help="PDPA: remove a person everywhere and keep them out")
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--citizen-id")
    who.add_argument("--taxpayer-id")
    e.add_argument("--by", default=None, help="who asked (logged, default: your user name)")
    e.add_argument("--no-publish", action="store_true", help="do not rebuild and publish now")
    rk = sub.add_parser("rotate-key", help="a new pseudonym key; every hash re-derived, no reload")
    rk.add_argument("--no-publish", action="store_true")
    pg = sub.add_parser("purge", help="apply the retention periods (config/retention.yml)")
    pg.add_argument("--dry-run", action="store_true")
    au = sub.add_parser("audit", help="who read the restricted marts (from the server log)")
    au.add_argument("--since", type=extract_date, default=None)

    fp = sub.add_parser(
        "followup-pack",
        help="the provincial offices' follow-up list in Thai: one .xlsx per province",
    )
    fp.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder to write (default: data/followup/<latest extract date>)",
    )
    fp.add_argument(
        "--province",
        metavar="CODE",
        action="append",
        default=None,
        help="only this province (2-digit DOPA code, e.g. 51); repeatable",
    )


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="dla", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    _pipeline_commands(sub)
    _operations_commands(sub)
    _people_commands(sub)
    a = sub.add_parser("airflow", help="run an airflow command with the project's settings")
    a.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


HANDLERS = {
    "setup": _setup,
    "users": _users,
    "erase": _erase,
    "rotate-key": _rotate_key,
    "purge": _purge,
    "audit": _audit,
    "migrate": _migrate,
    "warehouse": _warehouse,
    "generate": _generate,
    "load": _load,
    "night": _night,
    "run": _run,
    "airflow": _airflow,
    "forget": _forget,
    "dbt": _dbt,
    "backfill": _backfill,
    "airflow-up": _airflow_up,
    "airflow-stop": _airflow_stop,
    "compose-env": _compose_env,
    "followup-pack": _followup_pack,
    "docs": _docs,
}


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # files the pipeline writes (reports, logs, spools) are private
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    try:
        return HANDLERS[args.cmd](args)
    except (UsageError, ConfigError, LandingError) as exc:
        print(f"dla {args.cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
