"""The production stack's secrets: ``.secrets/compose.env`` for ``docker compose --env-file``.

docker-compose.yml holds no secret and no default password: every one is ``${NAME:?}``.
This writes them in one private file (0600, git-ignored): the warehouse and Airflow
passwords and keys of this deployment (from .env and .secrets), plus the secrets only the
stack needs (Airflow's Fernet key, JWT secret and API secret key, Redis's password, the
BI tool's secret key), generated once and kept on later runs.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

from .config import PgUrl, project_root, read_env_file
from .warehouse import _write_private, secrets_dir

# copied from .env when present (the local deployment's values)
FROM_ENV = (
    "DLA_LOADER_PASSWORD",
    "DLA_TRANSFORMER_PASSWORD",
    "DLA_GATE_PASSWORD",
    "DLA_PUBLISHER_PASSWORD",
    "PSEUDONYM_KEY",
    "PSEUDONYM_KEY_VERSION",
    "ERASURE_KEY",
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "ALERT_EMAIL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_FROM",
)


def _fernet() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


# Docker secrets (files in .secrets/compose/, mounted at /run/secrets), generated once
SECRET_FILES = {
    "airflow_fernet_key": _fernet,
    "airflow_jwt_secret": lambda: secrets.token_urlsafe(48),
    "airflow_api_secret_key": lambda: secrets.token_urlsafe(48),
}

# generated for the stack only, once
GENERATED = {
    "REDIS_PASSWORD": lambda: secrets.token_urlsafe(24),
    "SUPERSET_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "SUPERSET_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
    "BI_SERVICE_PASSWORD": lambda: secrets.token_urlsafe(18),
}


def required_variables(compose_file: Path | None = None) -> set[str]:
    """Every ``${NAME:?...}`` the compose file refuses to start without."""
    text = (compose_file or project_root() / "docker-compose.yml").read_text()
    code = "\n".join(
        line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    return set(re.findall(r"\$\{([A-Z0-9_]+):\?", code))


def write_compose_env(root: Path | None = None) -> Path:
    root = root or project_root()
    env = read_env_file(root / ".env")
    path = secrets_dir(root) / "compose.env"
    values = read_env_file(path) if path.exists() else {}
    admin = secrets_dir(root) / "warehouse_admin_password"
    if admin.exists():
        values["WAREHOUSE_ADMIN_PASSWORD"] = admin.read_text().strip()
    if env.get("WAREHOUSE_URL"):
        values["DLA_OWNER_PASSWORD"] = PgUrl.parse(env["WAREHOUSE_URL"]).password
    for key in FROM_ENV:
        if env.get(key):
            values[key] = env[key]
    for key, make in GENERATED.items():
        values.setdefault(key, make())
    values["AIRFLOW_UID"] = str(os.getuid())
    folder = secrets_dir(root) / "compose"
    for name, make in SECRET_FILES.items():
        if not (folder / name).exists():
            _write_private(folder / name, make())
    missing = sorted(required_variables(root / "docker-compose.yml") - set(values))
    if missing:
        raise RuntimeError(
            f"cannot write {path}: {', '.join(missing)} unknown; run `make setup` first"
        )
    lines = ["# docker compose --env-file .secrets/compose.env up -d   (private: 0600)"]
    lines += [f"{k}={_quote(v)}" for k, v in sorted(values.items())]
    _write_private(path, "\n".join(lines) + "\n")
    return path


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.,:@/+=-]*", value):
        return value
    return "'" + value.replace("'", "") + "'"
