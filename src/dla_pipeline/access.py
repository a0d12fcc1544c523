"""People and their access: `dla users add|list|remove|reset-password`, and provisioning a
warehouse (roles, database, schemas, migrations, grants) as its superuser.

A person gets a personal login in one group (roles.GROUPS). Its password is random,
printed once in the connection URL and stored nowhere in the project. People's logins
carry a statement timeout and an idle-in-transaction timeout, so one forgotten session
cannot hold a lock that blocks publishing; an auditor's login logs every statement it
runs (reads of the restricted schema are auditable: `dla audit`).

Row-level security on the published marts keys on ``access.role_provinces``: a province
officer (or a province's BI login) is mapped to its province, central analysts and
auditors (as groups) to every province.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from . import roles
from .config import PgUrl, Settings, get_settings

PERSON_ROLES = ("central_analyst", "province_officer", "bi_service", "auditor")
LOGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{2,40}$")
RESERVED = set(roles.PIPELINE.values()) | set(roles.GROUPS) | {"postgres", "public"}


class AccessError(RuntimeError):
    """A request that cannot be done as asked; the message says what to type."""


@dataclass(frozen=True)
class PeoplePolicy:
    statement_timeout: str = "5min"
    idle_in_transaction_session_timeout: str = "2min"
    connection_limit: int = 20

    @classmethod
    def load(cls, path: Path) -> PeoplePolicy:
        if not path.exists():
            return cls()
        return cls(**((yaml.safe_load(path.read_text()) or {}).get("people") or {}))


def provision(admin: str, admin_db: str, settings: Settings) -> None:
    """Roles, database, schemas, migrations, grants: a warehouse ready for the pipeline."""
    from .db import migrate

    passwords = {"owner": settings.pg.password}
    for role in ("loader", "transformer", "gate", "publisher"):
        passwords[role] = getattr(settings, f"dla_{role}_password") or ""
    roles.bootstrap(admin, admin_db, settings.pg.dbname, passwords)
    if settings.airflow_db_password:
        roles.ensure_airflow_db(
            admin, settings.airflow_db_name, settings.airflow_db_user, settings.airflow_db_password
        )
    migrate(settings)
    with psycopg.connect(admin_db, autocommit=True) as conn:
        roles.ensure_schemas(conn)  # objects the migrations made in other roles' schemas
    roles.finish(admin_db)


def _provinces(settings: Settings) -> set[str]:
    import csv

    with (settings.reference_dir / "dopa_provinces.csv").open(encoding="utf-8") as fh:
        return {row["province_code"] for row in csv.DictReader(fh)}


def _check(login: str, role: str, province: str | None, settings: Settings) -> None:
    if not LOGIN_NAME.match(login) or login in RESERVED:
        raise AccessError(
            f"{login!r} cannot be a login: use 3-41 lower-case letters, digits or _,"
            " starting with a letter (e.g. officer51), and not a group's name"
        )
    if role not in PERSON_ROLES:
        raise AccessError(f"unknown role {role!r}: choose one of {', '.join(PERSON_ROLES)}")
    if role == "province_officer" and not province:
        raise AccessError(
            "a province_officer needs --province CODE (the 2-digit DOPA code, e.g. 51)"
        )
    if role in ("central_analyst", "auditor") and province:
        raise AccessError(f"a {role} sees every province: leave out --province")
    if province and province not in _provinces(settings):
        raise AccessError(
            f"{province!r} is not a DOPA province code (2 digits, e.g. 51 for Lamphun)"
        )


def add_user(
    admin_db: str,
    login: str,
    role: str,
    province: str | None = None,
    settings: Settings | None = None,
    password: str | None = None,
) -> str:
    """Create a personal login; returns its connection URL (the only copy of the password)."""
    settings = settings or get_settings()
    _check(login, role, province, settings)
    policy = PeoplePolicy.load(settings.config_dir / "access.yml")
    password = password or secrets.token_urlsafe(18)
    with psycopg.connect(admin_db, autocommit=True) as conn, conn.transaction():
        if conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
            raise AccessError(
                f"{login} exists already: `dla users reset-password {login}` gives a new password"
            )
        who = sql.Identifier(login)
        conn.execute(
            sql.SQL("create role {} login password {} in role {} connection limit {}").format(
                who,
                sql.Literal(password),
                sql.Identifier(role),
                sql.Literal(policy.connection_limit),
            )
        )
        for name in ("statement_timeout", "idle_in_transaction_session_timeout"):
            conn.execute(
                sql.SQL("alter role {} set {} = {}").format(
                    who, sql.Identifier(name), sql.Literal(getattr(policy, name))
                )
            )
        if role == "auditor":  # every statement an auditor runs is in the server log
            conn.execute(sql.SQL("alter role {} set log_statement = 'all'").format(who))
        conn.execute(
            "insert into access.people (login, role, province_code) values (%s, %s, %s)",
            (login, role, province),
        )
        _map_provinces(conn, login, role, province)
    return settings.pg.url(user=login, password=password)


def _map_provinces(conn, login: str, role: str, province: str | None) -> None:
    """The login's rows in access.role_provinces (what row-level security keys on): its
    province, or every province for a central BI login (central_analyst and auditor get
    theirs through their group). Idempotent."""
    if province or role == "bi_service":
        conn.execute(
            "insert into access.role_provinces (role_name, province_code) values (%s, %s)"
            " on conflict do nothing",
            (login, province or "*"),
        )


def list_users(admin_db: str) -> list[tuple]:
    with psycopg.connect(admin_db) as conn:
        return conn.execute(
            "select p.login, p.role, coalesce(p.province_code, 'all'), p.created_at::date,"
            " p.created_by, r.rolvaliduntil from access.people p"
            " left join pg_roles r on r.rolname = p.login order by p.role, p.login"
        ).fetchall()


def remove_user(admin_db: str, login: str) -> None:
    with psycopg.connect(admin_db, autocommit=True) as conn:
        if not conn.execute("select 1 from access.people where login = %s", (login,)).fetchone():
            raise AccessError(f"{login} is not a person's login (see `dla users list`)")
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (login,)
        )
        with conn.transaction():
            conn.execute("delete from access.role_provinces where role_name = %s", (login,))
            conn.execute("delete from access.people where login = %s", (login,))
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))


def reset_password(
    admin_db: str, login: str, settings: Settings | None = None, password: str | None = None
) -> str:
    settings = settings or get_settings()
    password = password or secrets.token_urlsafe(18)
    with psycopg.connect(admin_db, autocommit=True) as conn:
        if not conn.execute("select 1 from access.people where login = %s", (login,)).fetchone():
            raise AccessError(f"{login} is not a person's login (see `dla users list`)")
        conn.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(login), sql.Literal(password)
            )
        )
    return settings.pg.url(user=login, password=password)


def ensure_user(
    admin_db: str, login: str, role: str, province: str | None, password: str, settings: Settings
) -> str:
    """Automation's idempotent form (docker compose, make bi): the login exists afterwards
    with this role and password, whatever it was before."""
    with psycopg.connect(admin_db, autocommit=True) as conn:
        row = conn.execute(
            "select role, province_code from access.people where login = %s", (login,)
        ).fetchone()
    if row is None:
        return add_user(admin_db, login, role, province, settings, password)
    if tuple(row) != (role, province):
        raise AccessError(
            f"{login} exists with role {row[0]} (province {row[1] or '-'}): remove it first"
        )
    with psycopg.connect(admin_db, autocommit=True) as conn:  # logins made by older releases
        _map_provinces(conn, login, role, province)
    return reset_password(admin_db, login, settings, password)


def ensure_dev_analyst(admin_db: str, url: str, settings: Settings) -> None:
    """The developer's own central_analyst login (ANALYST_URL in .env, for make psql)."""
    dev = PgUrl.parse(url)
    with psycopg.connect(admin_db, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from access.people where login = %s", (dev.user,)
        ).fetchone()
    if exists:
        with psycopg.connect(admin_db, autocommit=True) as conn:
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(dev.user), sql.Literal(dev.password)
                )
            )
        return
    with psycopg.connect(admin_db, autocommit=True) as conn:  # a release-0.1 login of that name
        if conn.execute("select 1 from pg_roles where rolname = %s", (dev.user,)).fetchone():
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(dev.user)))
    add_user(admin_db, dev.user, "central_analyst", settings=settings, password=dev.password)
