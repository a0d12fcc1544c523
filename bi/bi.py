#!/usr/bin/env python3
"""A BI tool in the box: Apache Superset 6.1 over the published marts.

Run with the BI venv's python (`make bi-install`); Superset cannot share the pipeline's
venv (it pins Flask 3.1 and SQLAlchemy 1.4), so the project's settings are read by the
project's own python in a subprocess.

    .venv-bi/bin/python bi/bi.py setup       # warehouse login, Superset metadata, admin, dashboards
    .venv-bi/bin/python bi/bi.py import      # re-import bi/assets only (after editing YAML)
    .venv-bi/bin/python bi/bi.py start       # gunicorn on 127.0.0.1:$BI_PORT in the background
    .venv-bi/bin/python bi/bi.py stop
    .venv-bi/bin/python bi/bi.py status
    .venv-bi/bin/python bi/bi.py serve       # gunicorn in the foreground (the Docker image)
    .venv-bi/bin/python bi/bi.py export DIR  # what Superset holds now, cleaned into YAML (UI -> code)
    .venv-bi/bin/python bi/bi.py bundle ZIP  # bi/assets as the zip `superset import-dashboards` takes
    .venv-bi/bin/python bi/bi.py env         # BI_URL, BI_ADMIN_USER, BI_ADMIN_PASSWORD (the only
                                             # command that prints a secret)

Every step is idempotent. Settings, from the environment first:

    BI_DATA_DIR          metadata DB, logs, pid file, bi.env   default: $SUPERSET_HOME, else <repo>/data/bi
    BI_PORT              web port                              default: 8088
    BI_HOST              address gunicorn binds                default: 127.0.0.1
    BI_WORKERS           gunicorn workers                      default: 2
    SUPERSET_SECRET_KEY  Flask secret; also encrypts the stored warehouse password
      (or BI_SECRET_KEY)                                       generated once into bi.env
    SUPERSET_ADMIN_PASSWORD  the Superset admin's password     generated once into bi.env
      (or BI_ADMIN_PASSWORD); BI_ADMIN_USER (default admin)
    BI_DATABASE_URL      postgresql://login:password@host:port/db of the warehouse (docker-compose);
                         when unset: the project's warehouse (host, port, database from
                         dla_pipeline.config) as login $BI_LOGIN (default bi_superset, group bi_service)
                         with BI_SERVICE_PASSWORD (generated once into bi.env), and `setup`
                         creates or refreshes that login with `dla users add`
    BI_ASSETS_DIR        the dashboards as YAML                default: bi/assets

bi.env is written once, mode 0600, and holds only what was generated (never what the
environment gave).
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("DLA_HOME") or HERE.parent).resolve()
PROJECT_VENV = ROOT / ".venv" / "bin"
WAREHOUSE_DB_NAME = "DLA warehouse"  # database_name in assets/databases/*.yaml
WAREHOUSE_DB_FILE = "databases/DLA_warehouse.yaml"  # its path inside the bundle
LOGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{2,40}$")  # as `dla users add` accepts
# the warehouse login of a local `make bi` (roles are per server: tests use another one);
# not "bi", which `dla users add` refuses (3 characters at least)
DEFAULT_LOGIN = "bi_superset"

# (name in bi.env, other names it may have in the environment, how to make one)
SECRETS = {
    "BI_SECRET_KEY": (("SUPERSET_SECRET_KEY",), lambda: secrets.token_urlsafe(48)),
    "BI_ADMIN_PASSWORD": (("SUPERSET_ADMIN_PASSWORD",), lambda: secrets.token_urlsafe(15)),
    "BI_SERVICE_PASSWORD": ((), lambda: secrets.token_urlsafe(24)),
}


class BiError(RuntimeError):
    """Something the user must fix; the message says what."""


# ---------------------------------------------------------------- settings
def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def _env(*names: str) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, without a moment where others could."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _port(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4,5}", value) or not 1024 <= int(value) <= 65535:
        raise BiError(f"BI_PORT must be a number from 1024 to 65535, not {value!r}")
    return value


def _host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise BiError(
            f"BI_HOST must be an IP address (127.0.0.1, 0.0.0.0), not {value!r}"
        ) from None


def _project_pg() -> dict:
    """host, port and database of the project's warehouse, from its own settings
    (the project's venv: dla_pipeline cannot be imported here)."""
    python = PROJECT_VENV / "python"
    if not python.exists():
        raise BiError(f"no project venv at {PROJECT_VENV.parent}: run `make setup` first")
    code = (
        "import json; from dla_pipeline.config import get_settings; p = get_settings().pg;"
        " print(json.dumps({'host': p.host, 'port': p.port, 'dbname': p.dbname}))"
    )
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise BiError(f"cannot read the project's settings: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def settings(need_warehouse: bool = True) -> dict:
    data_dir = Path(_env("BI_DATA_DIR", "SUPERSET_HOME") or ROOT / "data" / "bi").resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (data_dir / "logs").mkdir(exist_ok=True)
    env_file = data_dir / "bi.env"
    saved = _read_env_file(env_file)
    database_url = _env("BI_DATABASE_URL")
    values: dict[str, str] = {}
    generated: dict[str, str] = {}
    for key, (aliases, make) in SECRETS.items():
        if key == "BI_SERVICE_PASSWORD" and database_url:
            continue  # docker-compose: the password is in BI_DATABASE_URL
        value = _env(key, *aliases) or saved.get(key)
        if not value:
            value = generated[key] = make()
        values[key] = value
    if generated:
        saved.update(generated)
        _write_private(
            env_file,
            "# generated once by bi/bi.py (git-ignored, 0600); the environment wins over it\n"
            + "".join(f"{k}={v}\n" for k, v in saved.items()),
        )
    login = _env("BI_LOGIN") or DEFAULT_LOGIN
    if not LOGIN_NAME.match(login):
        raise BiError(f"BI_LOGIN {login!r}: 3-41 lower-case letters, digits or _")
    s = {
        "data_dir": str(data_dir),
        "env_file": str(env_file),
        "port": _port(_env("BI_PORT") or "8088"),
        "host": _host(_env("BI_HOST") or "127.0.0.1"),
        "workers": str(int(_env("BI_WORKERS") or "2")),
        "secret_key": values["BI_SECRET_KEY"],
        "admin_user": _env("BI_ADMIN_USER") or "admin",
        "admin_password": values["BI_ADMIN_PASSWORD"],
        "assets_dir": str(Path(_env("BI_ASSETS_DIR") or HERE / "assets").resolve()),
        "project_login": None,
    }
    if need_warehouse:
        if database_url:
            s["warehouse_url"] = database_url
        else:
            pg = _project_pg()
            password = values["BI_SERVICE_PASSWORD"]
            s["warehouse_url"] = (
                f"postgresql://{login}:{quote(password, safe='')}@{pg['host']}:{pg['port']}/{pg['dbname']}"
            )
            s["project_login"] = login
            s["service_password"] = password
    return s


def superset_env(s: dict) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SUPERSET_CONFIG_PATH": str(HERE / "superset_config.py"),
            "SUPERSET_HOME": s["data_dir"],
            "BI_DATA_DIR": s["data_dir"],
            "SUPERSET_SECRET_KEY": s["secret_key"],
            "FLASK_APP": "superset.app:create_app()",
            "SUPERSET_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in (
        "BI_SECRET_KEY",
        "BI_SERVICE_PASSWORD",
        "BI_DATABASE_URL",
        "BI_ADMIN_PASSWORD",
        "SUPERSET_ADMIN_PASSWORD",
    ):
        env.pop(name, None)  # Superset needs none of these
    return env


def superset_cli(s: dict, *args: str) -> None:
    exe = Path(sys.executable).parent / "superset"
    t = time.monotonic()
    r = subprocess.run([str(exe), *args], env=superset_env(s), capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        raise BiError(f"superset {' '.join(args)} failed (exit {r.returncode})")
    print(f"  superset {' '.join(args)}: {time.monotonic() - t:.1f}s")


# ---------------------------------------------------------------- the warehouse login
def ensure_login(s: dict) -> None:
    """The project's bi login (group bi_service), created or its password set again."""
    login = s["project_login"]
    if not login:
        return  # BI_DATABASE_URL: whoever runs the warehouse made the login (docker-compose: airflow-init)
    dla = PROJECT_VENV / "dla"
    env = dict(os.environ, BI_SERVICE_PASSWORD=s["service_password"])
    t = time.monotonic()
    r = subprocess.run(
        [
            str(dla),
            "users",
            "add",
            login,
            "--role",
            "bi_service",
            "--password-from-env",
            "BI_SERVICE_PASSWORD",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if r.returncode != 0:
        raise BiError(
            f"`dla users add {login} --role bi_service` failed: {(r.stderr or r.stdout).strip()}"
        )
    print(f"  warehouse login {login} (bi_service) ready: {time.monotonic() - t:.1f}s")


def check_warehouse(s: dict) -> None:
    """Connect as Superset will; warn when row-level security shows the login nothing."""
    import psycopg2

    u = urlsplit(s["warehouse_url"])
    with (
        psycopg2.connect(
            host=u.hostname,
            port=u.port or 5432,
            dbname=u.path.lstrip("/"),
            user=unquote(u.username or ""),
            password=unquote(u.password or ""),
            application_name="superset-setup",
            connect_timeout=10,
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("select count(*) from information_schema.tables where table_schema = 'marts'")
        (marts,) = cur.fetchone()
        provinces = None
        cur.execute("select to_regclass('access.my_provinces') is not null")
        if cur.fetchone()[0]:
            cur.execute("select count(*) from access.my_provinces")
            (provinces,) = cur.fetchone()
    print(
        f"  warehouse: {u.username}@{u.hostname}:{u.port}{u.path} reachable, {marts} marts visible"
    )
    if marts == 0:
        print(
            "  WARNING: no published marts yet: the dashboards stay empty until a night is published"
            " (make run)"
        )
    if provinces == 0:
        print(
            f"  WARNING: row-level security gives login {u.username} no province"
            " (access.my_provinces is empty for it): every chart will be empty"
        )


# ---------------------------------------------------------------- the bundle
def warehouse_uri_and_password(url: str) -> tuple[str, str]:
    """postgresql://u:pw@h:p/db -> ('postgresql+psycopg2://u:XXXXXXXXXX@h:p/db', 'pw').

    The masked form is what Superset itself exports; the password goes to the
    importer separately (ImportDashboardsCommand(passwords=...))."""
    u = urlsplit(url)
    if u.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise BiError("the warehouse URL must be postgresql://login:password@host:port/db")
    netloc = f"{u.username or ''}:XXXXXXXXXX@{u.hostname or '127.0.0.1'}" + (
        f":{u.port}" if u.port else ""
    )
    return f"postgresql+psycopg2://{netloc}{u.path}", unquote(u.password or "")


def sqlalchemy_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+psycopg2)?://", "postgresql+psycopg2://", url, count=1)


def build_bundle(assets_dir: Path, warehouse_url: str) -> tuple[bytes, dict[str, str]]:
    """Zip assets/ in Superset's export format, with the warehouse URI filled in
    (login, host, port, database from the URL; never the password)."""
    import yaml

    uri, password = warehouse_uri_and_password(warehouse_url)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(assets_dir.rglob("*.yaml")):
            rel = path.relative_to(assets_dir).as_posix()
            text = path.read_text(encoding="utf-8")
            if rel.startswith("databases/"):
                doc = yaml.safe_load(text)
                doc["sqlalchemy_uri"] = uri
                text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
            zf.writestr(f"bundle/{rel}", text)
    return buf.getvalue(), {WAREHOUSE_DB_FILE: password}


# ---------------------------------------------------------------- in-app steps
def _app(s: dict):
    import logging
    import warnings

    os.environ.update(superset_env(s))
    warnings.filterwarnings("ignore", module="superset")  # SAWarnings of the importer: harmless
    logging.getLogger().setLevel(logging.WARNING)
    from superset.app import create_app

    return create_app()


def ensure_admin(s: dict) -> None:
    from superset import db, security_manager

    user = security_manager.find_user(username=s["admin_user"])
    if user is None:
        role = security_manager.find_role("Admin")
        security_manager.add_user(
            s["admin_user"],
            "BI",
            "Admin",
            f"{s['admin_user']}@localhost",
            role,
            password=s["admin_password"],
        )
        print(f"  admin user {s['admin_user']} created")
    else:  # the environment (or bi.env) is the source of truth for the password
        security_manager.reset_password(user.id, s["admin_password"])
        print(f"  admin user {s['admin_user']}: password set again")
    db.session.commit()


def import_assets(s: dict) -> None:
    from flask import g
    from superset import db, security_manager
    from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
    from superset.commands.database.importers.dispatcher import ImportDatabasesCommand
    from superset.commands.importers.v1.utils import get_contents_from_bundle
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard

    t = time.monotonic()
    data, passwords = build_bundle(Path(s["assets_dir"]), s["warehouse_url"])
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        contents = get_contents_from_bundle(bundle)
    g.user = security_manager.find_user(username=s["admin_user"])
    # 1. the connection alone (a dashboard import only brings the databases its datasets use)
    db_contents = {k: v for k, v in contents.items() if k.startswith("databases/")}
    db_contents["metadata.yaml"] = "version: 1.0.0\ntype: Database\n"
    ImportDatabasesCommand(db_contents, overwrite=True, passwords=passwords).run()
    db.session.commit()
    # 2. datasets, charts, dashboards (upsert by uuid)
    if any(k.startswith("dashboards/") for k in contents):
        ImportDashboardsCommand(contents, overwrite=True, passwords=passwords).run()
        db.session.commit()
    database = db.session.query(Database).filter_by(database_name=WAREHOUSE_DB_NAME).one()
    # stored encrypted with the secret key; set again so a changed password or host takes effect
    database.set_sqlalchemy_uri(sqlalchemy_url(s["warehouse_url"]))
    db.session.commit()
    n = db.session.query(Dashboard).count()
    print(
        f"  imported {len(contents)} files from {s['assets_dir']}: {n} dashboard(s)"
        f" in {time.monotonic() - t:.1f}s"
    )
    with database.get_sqla_engine() as engine, engine.connect() as conn:
        conn.exec_driver_sql("select 1").one()
    url = database.url_object
    print(
        f"  Superset connection '{WAREHOUSE_DB_NAME}' ok ({url.username}@{url.host}:{url.port}/{url.database})"
    )


def export_assets(s: dict, out_dir: Path) -> None:
    """UI -> code: what Superset holds now, as cleaned YAML under out_dir. An object that
    is already in bi/assets keeps its file name there (matched by uuid), so
    `diff -ru bi/assets DIR` shows what the UI changed; copy what you mean to keep (or
    export straight into bi/assets and review with git diff). databases/ is left out:
    bi/assets has the hand-written connection without a password."""
    import yaml
    from flask import g
    from superset import db, security_manager
    from superset.commands.dashboard.export import ExportDashboardsCommand
    from superset.models.dashboard import Dashboard

    assets = Path(s["assets_dir"])
    known = {}
    for path in assets.rglob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if doc.get("uuid"):
            known[str(doc["uuid"])] = path.relative_to(assets)
    g.user = security_manager.find_user(username=s["admin_user"])
    ids = [d.id for d in db.session.query(Dashboard).all()]
    for name, content in ExportDashboardsCommand(ids).run():
        kind = Path(name).parts[0]
        if kind not in ("datasets", "charts", "dashboards"):
            continue
        doc = CLEAN[kind](yaml.safe_load(content()))
        rel = known.get(str(doc.get("uuid"))) or Path(re.sub(r"_\d+\.yaml$", ".yaml", name))
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110), encoding="utf-8"
        )
        print(f"  {path}")


def _prune(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != ""}


def _clean_dataset(doc: dict) -> dict:
    doc = _prune(doc)
    doc.pop("catalog", None)  # the exporting database's name
    for k in ("offset", "normalize_columns", "always_filter_main_dttm"):
        if doc.get(k) in (0, False):
            doc.pop(k)
    cols = []
    for c in doc.get("columns", []):
        c = _prune(c)
        for k, default in (
            ("is_dttm", False),
            ("is_active", True),
            ("groupby", True),
            ("filterable", True),
        ):
            if c.get(k) == default:
                c.pop(k)
        cols.append(c)
    doc["columns"] = cols
    doc["metrics"] = [_prune(m) for m in doc.get("metrics", []) if m["metric_name"] != "count"]
    return doc


def _clean_chart(doc: dict) -> dict:
    doc = _prune(doc)
    doc.get("params", {}).pop("datasource", None)  # the importer sets it
    doc.pop("query_context", None)
    return doc


def _clean_dashboard(doc: dict) -> dict:
    doc = _prune(doc)
    meta = doc.get("metadata", {})
    for k, default in {
        "color_scheme": "",
        "refresh_frequency": 0,
        "expanded_slices": {},
        "label_colors": {},
        "timed_refresh_immune_slices": [],
        "default_filters": "{}",
        "shared_label_colors": [],
        "map_label_colors": {},
        "color_scheme_domain": [],
        "chart_configuration": {},
    }.items():
        if meta.get(k) == default:
            meta.pop(k)
    for f in meta.get("native_filter_configuration", []):
        f.pop("chartsInScope", None)  # the exporting instance's ids; scope.rootPath is what counts
        f.pop("tabsInScope", None)
    (meta.get("global_chart_configuration") or {}).pop("chartsInScope", None)
    n = 0
    for node in doc.get("position", {}).values():
        if isinstance(node, dict) and node.get("type") == "CHART":
            n += 1
            node["meta"]["chartId"] = n
            node["meta"].pop("sliceName", None)
    return doc


CLEAN = {"datasets": _clean_dataset, "charts": _clean_chart, "dashboards": _clean_dashboard}


# ---------------------------------------------------------------- server
def _pidfile(s: dict) -> Path:
    return Path(s["data_dir"]) / "gunicorn.pid"


def _running_pid(s: dict) -> int | None:
    """The gunicorn master this data dir started, if it still runs (not a reused pid)."""
    p = _pidfile(s)
    try:
        pid = int(p.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        p.unlink(missing_ok=True)
        return None
    if b"gunicorn" not in cmdline or str(_pidfile(s)).encode() not in cmdline:
        p.unlink(missing_ok=True)
        return None
    return pid


def _healthy(s: dict) -> bool:
    host = "127.0.0.1" if s["host"] in ("0.0.0.0", "::") else s["host"]
    try:
        with urllib.request.urlopen(f"http://{host}:{s['port']}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _gunicorn_cmd(s: dict, daemon: bool) -> list[str]:
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind",
        f"{s['host']}:{s['port']}",
        "--workers",
        s["workers"],
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "120",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "--no-control-socket",  # gunicorn 27's default socket in ~/.gunicorn is shared by every instance
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
    ]
    if daemon:
        cmd += ["--pid", str(_pidfile(s))]
    return [*cmd, "superset.app:create_app()"]


def start(s: dict) -> None:
    pid = _running_pid(s)
    if pid:
        print(f"already running (pid {pid}) on http://{s['host']}:{s['port']}/")
        return
    log = Path(s["data_dir"]) / "logs" / "gunicorn.log"
    t = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            _gunicorn_cmd(s, daemon=True),
            env=superset_env(s),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=s["data_dir"],
        )
    while time.monotonic() - t < 120:
        if proc.poll() is not None:
            raise BiError(
                f"gunicorn exited with {proc.returncode} (port {s['port']} in use?); see {log}"
            )
        if _healthy(s):
            print(
                f"started (pid {proc.pid}) on http://{s['host']}:{s['port']}/ in "
                f"{time.monotonic() - t:.1f}s; log {log}"
            )
            return
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise BiError(f"not healthy after 120s (stopped it); see {log}")


def stop(s: dict) -> None:
    pid = _running_pid(s)
    if not pid:
        print("not running")
        return
    os.kill(pid, signal.SIGTERM)  # the gunicorn master stops its workers gracefully
    for _ in range(60):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)  # its own session (start_new_session): master + workers
    _pidfile(s).unlink(missing_ok=True)
    print(f"stopped (pid {pid})")


def status(s: dict) -> int:
    pid = _running_pid(s)
    ok = _healthy(s)
    print(
        f"pid {pid or '-'}; http://{s['host']}:{s['port']}/health {'ok' if ok else 'not answering'}"
    )
    return 0 if pid and ok else 1


# ---------------------------------------------------------------- main
def setup(s: dict) -> None:
    t = time.monotonic()
    ensure_login(s)
    check_warehouse(s)
    superset_cli(s, "db", "upgrade")
    superset_cli(s, "init")
    with _app(s).app_context():
        ensure_admin(s)
        import_assets(s)
    print(f"setup done in {time.monotonic() - t:.1f}s (URL and admin password: bi.py env)")


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "help"
    if cmd in ("help", "-h", "--help"):
        print(__doc__)
        return 0
    os.umask(0o077)  # the metadata DB holds the encrypted warehouse password; logs hold requests
    warehouse = cmd in ("setup", "import", "bundle")
    try:
        s = settings(need_warehouse=warehouse)
        if cmd == "setup":
            setup(s)
        elif cmd == "import":
            with _app(s).app_context():
                import_assets(s)
        elif cmd == "export":
            out = Path(argv[2] if len(argv) > 2 else "/tmp/bi-export")
            with _app(s).app_context():
                export_assets(s, out)
        elif cmd == "bundle":  # for `superset import-dashboards -p ZIP` (needs the DB to exist)
            out = Path(argv[2] if len(argv) > 2 else "/tmp/bi-bundle.zip")
            data, _ = build_bundle(Path(s["assets_dir"]), s["warehouse_url"])
            out.write_bytes(data)
            print(f"  {out} ({len(data)} bytes; no password in it)")
        elif cmd == "start":
            start(s)
        elif cmd == "stop":
            stop(s)
        elif cmd == "restart":
            stop(s)
            start(s)
        elif cmd == "status":
            return status(s)
        elif cmd == "serve":  # foreground, for a container: the process becomes gunicorn
            os.chdir(s["data_dir"])
            cmd_line = _gunicorn_cmd(s, daemon=False)
            os.execve(cmd_line[0], cmd_line, superset_env(s))
        elif cmd == "env":
            host = "127.0.0.1" if s["host"] in ("0.0.0.0", "::") else s["host"]
            print(f"BI_URL=http://{host}:{s['port']}")
            print(f"BI_ADMIN_USER={s['admin_user']}")
            print(f"BI_ADMIN_PASSWORD={s['admin_password']}")
        else:
            print(__doc__)
            return 2
    except BiError as exc:
        print(f"bi: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
