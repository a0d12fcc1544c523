"""Who may do what in the warehouse: roles, schema owners and grants (run as superuser).

Pipeline roles (logins, one per step; config.PIPELINE_ROLES):

* ``dla_owner`` owns raw, ops and access and runs the migrations; it may bypass
  row-level security (it is the pipeline's administrator).
* ``dla_loader`` writes raw and the ledger: the only step that reads clear IDs.
* ``dla_transformer`` (dbt) owns staging, core, marts_build and restricted_build; it reads
  raw through column grants that leave out ``citizen_id`` and ``taxpayer_id``.
* ``dla_gate`` (Great Expectations) reads what dbt built, owns the ``gate`` views.
* ``dla_publisher`` owns marts, marts_store and restricted: it moves checked tables there,
  turns on row-level security and grants reading.

People's groups (nobody logs in as a group; `dla users` creates personal logins):

* ``marts_reader`` - reads published marts (row-level security applies);
  ``analyst`` > ``central_analyst`` (every province), ``province_officer`` (one province);
  ``bi_service`` (a BI tool's login, central or per province); ``auditor`` (also the
  person-level marts in ``restricted``).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

PIPELINE = {
    "owner": "dla_owner",
    "loader": "dla_loader",
    "transformer": "dla_transformer",
    "gate": "dla_gate",
    "publisher": "dla_publisher",
}
# group -> the groups it belongs to
GROUPS = {
    "marts_reader": (),
    "analyst": ("marts_reader",),
    "central_analyst": ("analyst",),
    "province_officer": ("analyst",),
    "bi_service": ("marts_reader",),
    "auditor": ("marts_reader",),
}
# groups that see every province (row-level security)
ALL_PROVINCES = ("central_analyst", "auditor")

SCHEMA_OWNERS = {
    "raw": "dla_owner",
    "ops": "dla_owner",
    "access": "dla_owner",
    "staging": "dla_transformer",
    "core": "dla_transformer",
    "marts_build": "dla_transformer",
    "restricted_build": "dla_transformer",
    "gate": "dla_gate",
    "marts": "dla_publisher",
    "marts_store": "dla_publisher",
    "restricted": "dla_publisher",
}
CLEAR_ID_COLUMNS = {"citizen_id", "taxpayer_id"}


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def ensure_roles(conn, passwords: dict[str, str]) -> None:
    """Pipeline logins with their passwords, people's groups (NOLOGIN), memberships."""
    for key, role in PIPELINE.items():
        _role(conn, role, passwords.get(key))
    conn.execute("alter role dla_owner bypassrls")
    for group, parents in GROUPS.items():
        _role(conn, group, None)
        conn.execute(sql.SQL("alter role {} nologin").format(_ident(group)))
        for parent in parents:
            conn.execute(sql.SQL("grant {} to {}").format(_ident(parent), _ident(group)))
    # the publisher moves tables dbt built; the owner administers every step
    conn.execute("grant dla_transformer to dla_publisher")
    for role in ("dla_loader", "dla_transformer", "dla_gate", "dla_publisher"):
        conn.execute(sql.SQL("grant {} to dla_owner").format(_ident(role)))


def _role(conn, name: str, password: str | None) -> None:
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("create role {} nologin").format(_ident(name)))
    if password:
        conn.execute(
            sql.SQL("alter role {} with login password {}").format(
                _ident(name), sql.Literal(password)
            )
        )


def ensure_database(conn, dbname: str) -> None:
    if not conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone():
        conn.execute(
            sql.SQL("create database {} owner dla_owner encoding 'UTF8' template template0").format(
                _ident(dbname)
            )
        )
    db = _ident(dbname)
    conn.execute(sql.SQL("revoke all on database {} from public").format(db))
    conn.execute(sql.SQL("grant connect, temporary on database {} to marts_reader").format(db))
    for role in PIPELINE.values():
        conn.execute(sql.SQL("grant connect on database {} to {}").format(db, _ident(role)))
    conn.execute(sql.SQL("grant temporary on database {} to dla_transformer, dla_gate").format(db))
    # nobody but the superuser connects to, or makes temp tables in, the other databases
    for other in ("postgres", "template1"):
        conn.execute(
            sql.SQL("revoke connect, temporary on database {} from public").format(_ident(other))
        )


def server_settings(conn) -> None:
    """Connection logging on, whatever the cluster was created with (superuser), and a
    statement whose client died is cancelled within seconds: a killed run's backend
    otherwise goes on with its insert or its sleep until it tries to reply, holding the
    run's locks (the next run waits on them) and a core."""
    conn.execute("alter system set client_connection_check_interval = '2s'")
    conn.execute("alter system set log_connections = on")
    conn.execute("alter system set log_disconnections = on")
    conn.execute("alter system set log_line_prefix = '%m [%p] %q%u@%d %a '")
    conn.execute("select pg_reload_conf()")


def ensure_schemas(conn) -> None:
    """Every schema with its owner; objects left by an older release change owner too."""
    conn.execute("revoke create on schema public from public")
    for schema, owner in SCHEMA_OWNERS.items():
        conn.execute(
            sql.SQL("create schema if not exists {} authorization {}").format(
                _ident(schema), _ident(owner)
            )
        )
        conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), _ident(owner)))
        conn.execute(sql.SQL("revoke all on schema {} from public").format(_ident(schema)))
        if owner == "dla_owner":
            continue  # migrations' objects stay the owner's
        for kind, name in conn.execute(
            "select c.relkind, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relkind in ('r','v','m','S','p')"
            " and pg_get_userbyid(c.relowner) <> %s",
            (schema, owner),
        ).fetchall():
            what = {"v": "view", "m": "materialized view", "S": "sequence"}.get(kind, "table")
            conn.execute(
                sql.SQL("alter {} {} owner to {}").format(
                    sql.SQL(what), sql.Identifier(schema, name), _ident(owner)
                )
            )


def grant_pipeline(conn) -> None:
    """What each pipeline step may touch (after the migrations created the tables)."""
    g = conn.execute
    g("grant usage on schema raw, ops to dla_loader, dla_transformer, dla_gate, dla_publisher")
    g("grant select, insert, update, delete on all tables in schema raw, ops to dla_loader")
    g("grant usage, select, update on all sequences in schema ops to dla_loader")
    for schema in ("raw", "ops"):
        g(
            sql.SQL(
                "alter default privileges for role dla_owner in schema {} grant select, insert,"
                " update, delete on tables to dla_loader"
            ).format(_ident(schema))
        )
    _column_grants(conn, ("dla_transformer", "dla_gate"))
    g(
        "grant select on ops.submissions, ops.files, ops.nights, ops.lao_night_changes,"
        " ops.change_counter, ops.quarantine, ops.landing_issues to dla_transformer"
    )
    g("grant select, insert, delete on ops.seed_state to dla_transformer")
    # a build first refreshes the planner's statistics of what was loaded (transform.build)
    g("grant maintain on all tables in schema raw to dla_transformer")
    g("grant maintain on ops.files, ops.lao_night_changes to dla_transformer")
    g("grant select on ops.nights, ops.publish_log to dla_gate, dla_publisher")
    g("grant select on ops.files to dla_gate")  # rows and baht per file: usual levels
    g("grant select, insert, delete on ops.quality_results to dla_gate")
    g("grant select on ops.quality_results to dla_publisher")  # when the gate passed
    g("grant insert on ops.publish_log to dla_gate, dla_publisher")
    g("grant usage, select on sequence ops.publish_seq to dla_publisher")
    g("grant select, insert, update, delete on marts.published_nights to dla_publisher")
    g("grant usage on schema marts to dla_gate, dla_loader")
    g("grant select on marts.published_nights to dla_gate, dla_loader")
    # what dbt builds, the gate checks and the publisher moves
    g(
        "grant usage on schema staging, core, marts_build, restricted_build to dla_gate, dla_publisher"
    )
    g(
        "grant select on all tables in schema staging, core, marts_build, restricted_build to dla_gate"
    )
    g(
        "alter default privileges for role dla_transformer in schema staging, core, marts_build,"
        " restricted_build grant select on tables to dla_gate"
    )
    # people read published marts; access decides which provinces
    g("grant usage on schema marts, marts_store, access to marts_reader")
    g("grant select on marts.published_nights, marts.data_as_of to marts_reader")
    g("grant usage on schema access to dla_publisher")
    g("grant select on access.my_provinces to marts_reader, dla_publisher")
    g("grant usage on schema restricted to auditor")


def _column_grants(conn, roles: tuple[str, ...]) -> None:
    """SELECT on raw without the clear-ID columns: dbt and the gate never see them."""
    rows = conn.execute(
        "select table_name, array_agg(column_name::text order by ordinal_position)"
        " from information_schema.columns where table_schema = 'raw' group by 1"
    ).fetchall()
    for table, columns in rows:
        allowed = [c for c in columns if c not in CLEAR_ID_COLUMNS]
        for role in roles:
            conn.execute(
                sql.SQL("revoke select on {} from {}").format(
                    sql.Identifier("raw", table), _ident(role)
                )
            )
            conn.execute(
                sql.SQL("grant select ({}) on {} to {}").format(
                    sql.SQL(", ").join(map(_ident, allowed)),
                    sql.Identifier("raw", table),
                    _ident(role),
                )
            )


def map_groups(conn) -> None:
    """Groups that see every province."""
    for group in ALL_PROVINCES:
        conn.execute(
            "insert into access.role_provinces (role_name, province_code) values (%s, '*')"
            " on conflict do nothing",
            (group,),
        )


def ensure_airflow_db(admin: str, dbname: str, user: str, password: str) -> None:
    """Airflow's metadata database, with a role of its own (no rights in the warehouse)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        _role(conn, user, password)
        if not conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone():
            conn.execute(
                sql.SQL("create database {} owner {} encoding 'UTF8' template template0").format(
                    _ident(dbname), _ident(user)
                )
            )
        conn.execute(sql.SQL("revoke all on database {} from public").format(_ident(dbname)))
        conn.execute(
            sql.SQL("grant connect, temporary on database {} to {}").format(
                _ident(dbname), _ident(user)
            )
        )


def bootstrap(admin: str, admin_db: str, dbname: str, passwords: dict[str, str]) -> None:
    """Roles, the database and its schemas (before the migrations)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        ensure_roles(conn, passwords)
        ensure_database(conn, dbname)
        server_settings(conn)
    with psycopg.connect(admin_db, autocommit=True) as conn:
        ensure_schemas(conn)


def finish(admin_db: str) -> None:
    """Grants and the group mapping (after the migrations)."""
    with psycopg.connect(admin_db, autocommit=True) as conn:
        grant_pipeline(conn)
        map_groups(conn)
