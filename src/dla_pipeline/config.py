"""Settings from the environment, with dev defaults from the git-ignored ``.env``.

Precedence: a variable already in the process environment wins over ``.env``, so
``WAREHOUSE_URL=postgresql://... make night`` points everything at another server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

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
            user=u.username or "",
            password=u.password or "",
            dbname=(u.path or "/").lstrip("/") or "postgres",
        )

    def url(self, dbname: str | None = None) -> str:
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/"
            f"{dbname or self.dbname}"
        )


@dataclass(frozen=True)
class Settings:
    root: Path
    warehouse_url: str
    analyst_url: str | None
    landing_dir: Path
    runs_dir: Path
    pseudonym_key: str

    @property
    def pg(self) -> PgUrl:
        return PgUrl.parse(self.warehouse_url)

    @property
    def dbt_dir(self) -> Path:
        return self.root / "dbt_project"

    @property
    def expectations_dir(self) -> Path:
        return self.root / "expectations"

    @property
    def reference_dir(self) -> Path:
        return self.dbt_dir / "seeds" / "reference"


class ConfigError(RuntimeError):
    pass


@cache
def _cached(root: Path, env_key: tuple) -> Settings:
    return _build(root)


def _build(root: Path) -> Settings:
    url = setting("WAREHOUSE_URL")
    if not url:
        raise ConfigError("WAREHOUSE_URL is not set: run `make setup` (writes .env) or export it.")
    key = setting("PSEUDONYM_KEY")
    if not key:
        raise ConfigError("PSEUDONYM_KEY is not set: run `make setup` (writes .env) or export it.")
    landing = Path(setting("LANDING_DIR", str(root / "data" / "landing")))
    runs = Path(setting("RUNS_DIR", str(root / "data" / "runs")))
    return Settings(
        root=root,
        warehouse_url=url,
        analyst_url=setting("ANALYST_URL"),
        landing_dir=landing if landing.is_absolute() else root / landing,
        runs_dir=runs if runs.is_absolute() else root / runs,
        pseudonym_key=key,
    )


def get_settings() -> Settings:
    """Settings for this process; re-read when the relevant environment changes."""
    names = ("WAREHOUSE_URL", "ANALYST_URL", "LANDING_DIR", "RUNS_DIR", "PSEUDONYM_KEY", "DLA_HOME")
    return _cached(project_root(), tuple(os.environ.get(n) for n in names))
