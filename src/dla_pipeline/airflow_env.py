"""The environment Airflow runs with locally (one place, used by make, the CLI and tests).

Metadata lives in its own database (``airflow``) on the warehouse's PostgreSQL server,
with its own role; LocalExecutor, parallelism sized to the machine; the api-server on
127.0.0.1 and a configurable port; people log in with SimpleAuthManager as ``admin``,
whose password is AIRFLOW_ADMIN_PASSWORD in .env (written to a private passwords file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config import PgUrl, get_settings, project_root


def metadata_url(driver: str = "psycopg2") -> str | None:
    s = get_settings()
    if not s.airflow_db_password:
        return None
    pg = s.pg
    return (
        PgUrl(pg.host, pg.port, s.airflow_db_user, s.airflow_db_password, s.airflow_db_name)
        .url()
        .replace("postgresql://", f"postgresql+{driver}://", 1)
    )


def passwords_file() -> Path:
    return project_root() / ".secrets" / "airflow_passwords.json"


def write_passwords_file() -> Path:
    """The admin's known password for SimpleAuthManager (re-read at every login)."""
    s = get_settings()
    path = passwords_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"admin": s.airflow_admin_password or ""}, fh)
    return path


def airflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
    root = project_root()
    env = dict(os.environ if base is None else base)
    env.setdefault("AIRFLOW_HOME", str(root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(root / "dags"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # manual and backfill runs of a paused DAG wait for ever: locally the DAGs start unpaused
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    env.setdefault("AIRFLOW__CORE__DEFAULT_TIMEZONE", "Asia/Bangkok")
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    env.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    env.setdefault("DLA_HOME", str(root))
    env.setdefault("NO_PROXY", "*")  # macOS fork-safety issue with proxies; harmless elsewhere
    _local_components(env)
    return env


def _local_components(env: dict[str, str]) -> None:
    """The scheduler, api-server, dag-processor and triggerer of `make airflow`."""
    try:
        s = get_settings()
    except Exception:  # no .env yet (before make setup)
        return
    sync, asyncurl = metadata_url("psycopg2"), metadata_url("psycopg")
    if sync:
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", sync)
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", asyncurl)
        env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    cores = os.cpu_count() or 2
    env.setdefault("AIRFLOW__CORE__PARALLELISM", str(2 * cores))
    env.setdefault("AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG", str(2 * cores))
    port = env.get("AIRFLOW_PORT") or str(s.airflow_port)
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__API__PORT", port)
    # task processes reach the execution API through it: it must follow the port
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file()))
    env.setdefault("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "30")
    env.setdefault("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "False")
    if s.alert_email:
        extra = {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": s.smtp_from,
            "timeout": 10,
            "retry_limit": 1,
        }
        conn = {"conn_type": "smtp", "host": s.smtp_host, "port": s.smtp_port, "extra": extra}
        if s.smtp_user:
            conn |= {"login": s.smtp_user, "password": s.smtp_password or ""}
        env.setdefault("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
