"""Connections and schema migrations (Alembic, in ``dla_pipeline/migrations``)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from .config import Settings, get_settings

MIGRATIONS = Path(__file__).with_name("migrations")


def connect(settings: Settings | None = None, role: str = "owner", **kwargs) -> psycopg.Connection:
    """A connection as one of the pipeline's roles (config.PIPELINE_ROLES)."""
    settings = settings or get_settings()
    kwargs.setdefault("application_name", f"dla-{role}")
    return psycopg.connect(settings.role_url(role), **kwargs)


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["sqlalchemy_url"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("postgresql://")).get_current_head()


def current_revision(settings: Settings | None = None) -> str | None:
    with connect(settings) as conn:
        exists = conn.execute("select to_regclass('ops.alembic_version')").fetchone()[0]
        if not exists:
            return None
        row = conn.execute("select version_num from ops.alembic_version").fetchone()
        return row[0] if row else None


class SchemaBehind(RuntimeError):
    pass


def require_current(settings: Settings | None = None, role: str = "loader") -> None:
    """The pipeline steps do not migrate (they have no right to): they refuse a warehouse
    whose schema is older than the code, and say what to do."""
    settings = settings or get_settings()
    with connect(settings, role=role) as conn:
        row = conn.execute("select version_num from ops.alembic_version").fetchone()
    head = head_revision()
    if not row or row[0] != head:
        raise SchemaBehind(
            f"the warehouse schema is at revision {row[0] if row else 'none'}, the code needs {head}:"
            " run `make setup` (or `dla migrate`) to upgrade it in place"
        )


def migrate(settings: Settings | None = None) -> str:
    """Upgrade the warehouse schema in place to the newest revision (no-op when current)."""
    from alembic import command

    settings = settings or get_settings()
    head = head_revision()
    if current_revision(settings) != head:
        command.upgrade(_alembic_config(settings.warehouse_url), "head")
    return head
