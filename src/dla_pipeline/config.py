"""Settings from the environment, with dev defaults from the git-ignored ``.env``.

Precedence: a variable already in the process environment wins over ``.env``, so
``WAREHOUSE_URL=postgresql://... make night`` points everything at another server.
Read with pydantic-settings; secrets never appear in a repr or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SOURCES = ("allowance", "tax", "vaccination")


def project_root() -> Path:
    env = os.environ.get("DLA_HOME")
    if env:
        return Path(env).resolve()
    # src/dla_pipeline/config.py -> repo root (editable install or a checkout)
    return Path(__file__).resolve().parents[2]


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """Parse a simple KEY=VALUE file (comments and blank lines ignored)."""
    path = path or project_root() / ".env"
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def setting(name: str, default: str | None = None) -> str | None:
    if name in os.environ:
        return os.environ[name]
    return read_env_file().get(name, default)


@dataclass(frozen=True)
class PgUrl:
    """The parts of a postgresql:// URL, as dbt and libpq env vars need them."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def parse(cls, url: str) -> PgUrl:
        u = urlsplit(url)
        return cls(
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            user=unquote(u.username or ""),
            password=unquote(u.password or ""),
            dbname=(u.path or "/").lstrip("/") or "postgres",
        )

    def url(
        self, dbname: str | None = None, user: str | None = None, password: str | None = None
    ) -> str:
        user = self.user if user is None else user
        password = self.password if password is None else password
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname or self.dbname}"

    def safe(self) -> str:
        """The URL without its password (for logs and messages)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


class ConfigError(RuntimeError):
    pass


# The pipeline's roles: each step connects as the one that may do exactly its work.
#   owner        owns raw, ops and access; runs migrations (setup only)
#   loader       writes raw and the ops ledger; the only role that reads clear IDs
#   transformer  dbt: reads raw without the clear-ID columns, builds staging/core/marts_build
#   gate         Great Expectations: reads what dbt built, writes quality results
#   publisher    moves checked marts into marts/restricted, row-level security, grants
PIPELINE_ROLES = ("owner", "loader", "transformer", "gate", "publisher")


class Settings(BaseSettings):
    """Everything configurable, from the environment or ``.env``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    root: Path = Field(default_factory=project_root, validation_alias="DLA_HOME")
    # the owner's URL; the other roles connect to the same host and database
    warehouse_url: str = Field(repr=False)
    analyst_url: str | None = Field(default=None, repr=False)
    dla_loader_password: str | None = Field(default=None, repr=False)
    dla_transformer_password: str | None = Field(default=None, repr=False)
    dla_gate_password: str | None = Field(default=None, repr=False)
    dla_publisher_password: str | None = Field(default=None, repr=False)
    # identifies erased people (tombstones, masked IDs in quarantine); never rotated
    erasure_key: str | None = Field(default=None, repr=False)

    # -- operating the nights (Airflow) -------------------------------------------------
    # the morning after a night by which LAOs have sent their files (Bangkok time): an
    # ingest waits for it, then loads what arrived; a source with no file fails
    night_cutoff: str = Field(default="06:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # nights before the extract date that an ingest run loads again if files arrived late
    catchup_days: int = Field(default=7, ge=0, le=60)
    # alert when a night is not published this many minutes after its cutoff
    publish_deadline_minutes: int = Field(default=240, ge=1)
    # who is told when a night fails, is blocked or is late (empty: log only)
    alert_email: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = "dla-pipeline@localhost"
    # the local Airflow (make airflow): its metadata database on the warehouse server
    airflow_db_password: str | None = Field(default=None, repr=False)
    airflow_db_name: str = "airflow"
    airflow_db_user: str = Field(default="airflow", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    airflow_port: int = Field(default=8080, ge=1024, le=65535)
    airflow_admin_password: str | None = Field(default=None, repr=False)
    landing_dir: Path = Path("data/landing")
    runs_dir: Path = Path("data/runs")
    pseudonym_key: str = Field(repr=False)
    # which master key the pseudonyms are made with (stored beside every hash)
    pseudonym_key_version: int = Field(default=1, ge=1, le=32767)
    ingest_batches: int = Field(default=4, ge=1, le=256)
    # loader processes on this machine (0 = one per core)
    load_workers: int = Field(default=0, ge=0, le=64)
    # models dbt builds at once: about the warehouse server's cores (on this 2-core
    # machine 3 made a national night's build 8% slower than 2: README, Performance)
    dbt_threads: int = Field(default=2, ge=1, le=64)

    @property
    def pg(self) -> PgUrl:
        return PgUrl.parse(self.warehouse_url)

    def role_url(self, role: str = "owner") -> str:
        """The URL a pipeline role connects with (same server and database as the owner)."""
        if role == "owner":
            return self.warehouse_url
        if role not in PIPELINE_ROLES:
            raise ValueError(f"unknown pipeline role {role!r}")
        password = getattr(self, f"dla_{role}_password")
        if not password:
            raise ConfigError(
                f"DLA_{role.upper()}_PASSWORD is not set: run `make setup` (writes .env) or export it."
            )
        return self.pg.url(user=f"dla_{role}", password=password)

    @property
    def erasure_secret(self) -> bytes:
        """The key of erasure tokens (derived from the master key when none is set)."""
        from .pseudonyms import master_bytes

        return master_bytes(self.erasure_key or self.pseudonym_key)

    @property
    def dbt_dir(self) -> Path:
        return self.root / "dbt_project"

    @property
    def expectations_dir(self) -> Path:
        return self.root / "expectations"

    @property
    def reference_dir(self) -> Path:
        return self.dbt_dir / "seeds" / "reference"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"


_REQUIRED_HINT = {
    "warehouse_url": "WAREHOUSE_URL is not set: run `make setup` (writes .env) or export it.",
    "pseudonym_key": "PSEUDONYM_KEY is not set: run `make setup` (writes .env) or export it.",
}


@cache
def _cached(root: Path, env_key: tuple) -> Settings:
    try:
        s = Settings(_env_file=root / ".env", DLA_HOME=str(root))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(_REQUIRED_HINT.get(name.lower()) or f"{name.upper()}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
    landing = s.landing_dir if s.landing_dir.is_absolute() else root / s.landing_dir
    runs = s.runs_dir if s.runs_dir.is_absolute() else root / s.runs_dir
    return s.model_copy(update={"landing_dir": landing, "runs_dir": runs})


def _env_names() -> tuple[str, ...]:
    """Every variable a setting may come from: a change to any of them re-reads settings."""
    return ("DLA_HOME", *(name.upper() for name in Settings.model_fields))


def get_settings() -> Settings:
    """Settings for this process; re-read when the relevant environment changes."""
    root = project_root()
    env_file = root / ".env"
    stamp = env_file.stat().st_mtime_ns if env_file.exists() else 0
    return _cached(root, (stamp, *(os.environ.get(n) for n in _env_names())))
