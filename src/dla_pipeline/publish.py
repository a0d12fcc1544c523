"""Write-audit-publish: checked marts become visible to readers in one transaction.

dbt builds open marts in ``marts_build`` and person-level ones in ``restricted_build``
(nobody reads either); the gate checks them there. Publishing (as ``dla_publisher``)
moves each table, renamed with a version suffix, to ``marts_store``, and in the same
transaction:

* turns on **row-level security** on it when it has a ``province_code``: a reader sees
  the provinces ``access.my_provinces`` gives its login (a province officer one, a
  central analyst every one). The policy is on the stored table, so it survives every
  publish, and the stable views are ``security_invoker`` views: a reader's query runs
  with the reader's rights, through the policy, whatever function it calls;
* grants SELECT to ``marts_reader`` (open marts) or only ``auditor`` (``restricted``);
* points the stable view ``marts.<name>`` / ``restricted.<name>`` at it with
  ``CREATE OR REPLACE VIEW``.

No data is copied; a reader's statement sees the previous night or the new one, never
a mix; views analysts build on marts keep working. A blocked night changes nothing.
Publishing waits a few seconds for a reader's lock, then gives way and retries, rather
than queueing every BI query behind it. Superseded versions are dropped afterwards,
except a **kept** mart's (``Target.kept``, dbt_project/macros/kept_tables.sql): one that
grows with history and is updated in place. Its superseded copy goes back to the build
schema for the next build to bring up to date, so a night recomputes what it touched
instead of every row of every year; a kept mart that the last build did not bring up to
date is never published.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

from . import ledger
from .config import Settings
from .db import connect

log = logging.getLogger(__name__)
PUBLISH_LOCK = 4243


@dataclass(frozen=True)
class Target:
    build: str  # where dbt built it
    published: str  # the schema of the stable views
    reader: str  # who may read it
    prefix: str  # of the versioned tables in marts_store
    kept: tuple[str, ...] = ()  # marts updated in place: their superseded copy comes back


TARGETS = (
    Target("marts_build", "marts", "marts_reader", ""),
    Target("restricted_build", "restricted", "auditor", "restricted__", ("allowance_findings",)),
)
LOCK_TIMEOUT = "5s"
ATTEMPTS = 24  # about two minutes of waiting for readers, then the run fails loudly
PROVINCE_POLICY = (
    "province_code in (select mp.province_code from access.my_provinces as mp)"
    " or exists (select 1 from access.my_provinces as mp where mp.province_code = '*')"
)


class PublishRefused(RuntimeError):
    """marts_build is not what this run's gate passed: nothing is published."""


class PublishBlocked(RuntimeError):
    pass


def _point_view(conn, schema: str, name: str, versioned: str) -> None:
    view = sql.Identifier(schema, name)
    target = sql.Identifier("marts_store", versioned)
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid ="
        " c.relnamespace where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    if kind and kind[0] == "r":  # a table from an older layout: becomes a view
        conn.execute(sql.SQL("drop table {} cascade").format(view))
    create = sql.SQL("create or replace view {} with (security_invoker = true) as select * from {}")
    try:
        with conn.transaction():  # savepoint: the columns may have changed
            conn.execute(create.format(view, target))
    except (
        psycopg.errors.InvalidTableDefinition,
        psycopg.errors.DatatypeMismatch,
        psycopg.errors.FeatureNotSupported,
    ):
        log.warning(
            "%s.%s changed shape: recreating the view (dependent views dropped)", schema, name
        )
        conn.execute(sql.SQL("drop view {} cascade").format(view))
        conn.execute(create.format(view, target))


def _copy_comments(conn, schema: str, name: str, versioned: str) -> None:
    """The dbt descriptions (persist_docs put them on the built table) onto the view readers
    query, re-applied at every publish: psql \\d+, SQLAlchemy and BI tools show them."""
    table = f"marts_store.{sql.Identifier(versioned).as_string(conn)}"
    view = sql.Identifier(schema, name)
    (text,) = conn.execute("select obj_description(%s::regclass, 'pg_class')", (table,)).fetchone()
    conn.execute(sql.SQL("comment on view {} is {}").format(view, sql.Literal(text)))
    for column, note in conn.execute(
        "select attname, col_description(attrelid, attnum) from pg_attribute"
        " where attrelid = %s::regclass and attnum > 0 and not attisdropped",
        (table,),
    ).fetchall():
        conn.execute(
            sql.SQL("comment on column {}.{} is {}").format(
                view, sql.Identifier(column), sql.Literal(note)
            )
        )


def _secure(conn, versioned: str, reader: str) -> None:
    """Row-level security by province (when the table has one), then the readers' grant."""
    table = sql.Identifier("marts_store", versioned)
    has_province = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'marts_store'"
        " and table_name = %s and column_name = 'province_code'",
        (versioned,),
    ).fetchone()
    if has_province:
        conn.execute(sql.SQL("alter table {} enable row level security").format(table))
        conn.execute(
            sql.SQL("create policy province_scope on {} for select to public using ({})").format(
                table, sql.SQL(PROVINCE_POLICY)
            )
        )
    conn.execute(sql.SQL("grant select on {} to {}").format(table, sql.Identifier(reader)))


def _built_tables(conn) -> list[tuple[Target, str]]:
    out = []
    for target in TARGETS:
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s"
            " and table_type = 'BASE TABLE' order by table_name",
            (target.build,),
        ).fetchall():
            out.append((target, name))
    return out


def _rename_indexes(conn, schema: str, table: str) -> None:
    """A table's indexes (a kept mart's primary key) named after it, so two copies of a
    mart never hold the same index name in one schema when they change places."""
    for i, (index,) in enumerate(
        conn.execute(
            "select ic.relname from pg_index i join pg_class ic on ic.oid = i.indexrelid"
            " where i.indrelid = %s::regclass order by ic.relname",
            (sql.Identifier(schema, table).as_string(conn),),
        ).fetchall()
    ):
        conn.execute(
            sql.SQL("alter index {} rename to {}").format(
                sql.Identifier(schema, index), sql.Identifier(f"{table}__ix{i}")
            )
        )


def _move(conn, target: Target, name: str, version: int) -> str:
    versioned = f"{target.prefix}{name}__v{version}"
    conn.execute(
        sql.SQL("alter table {} rename to {}").format(
            sql.Identifier(target.build, name), sql.Identifier(versioned)
        )
    )
    _rename_indexes(conn, target.build, versioned)
    conn.execute(
        sql.SQL("alter table {} set schema marts_store").format(
            sql.Identifier(target.build, versioned)
        )
    )
    conn.execute(
        sql.SQL("alter table {} owner to dla_publisher").format(
            sql.Identifier("marts_store", versioned)
        )
    )
    return versioned


def _publish_once(conn, night: date, run_id: str) -> list[str]:
    conn.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
    # no build rewrites marts_build while it is published (one running now is waited for)
    conn.execute("select pg_advisory_xact_lock_shared(%s)", (ledger.BUILD_LOCK,))
    change_hi = _gated_build(conn, night, run_id)
    conn.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
    tables = _built_tables(conn)
    if not [t for t, name in tables if name not in t.kept]:
        raise RuntimeError("nothing to publish: marts_build is empty (did dbt run?)")
    for target, name in tables:
        if name in target.kept:
            _require_up_to_date(conn, target, name)
    # the waiting nights this build holds: one loaded after it began stays waiting for the
    # build and the gate that will hold and check it
    nights = ledger.nights_in_build(
        conn, sorted(set(ledger.pending_nights(conn)) | {night}), change_hi
    )
    version = ledger.next_publish_version(conn)
    published = []
    for target, name in tables:
        versioned = _move(conn, target, name, version)
        _secure(conn, versioned, target.reader)
        _point_view(conn, target.published, name, versioned)
        _copy_comments(conn, target.published, name, versioned)
        conn.execute(
            sql.SQL("grant select on {} to {}").format(
                sql.Identifier(target.published, name), sql.Identifier(target.reader)
            )
        )
        published.append(name if target.published == "marts" else f"{target.published}.{name}")
    _retire(conn, {(t.published, name) for t, name in tables})
    for n in nights:
        conn.execute(
            "insert into marts.published_nights values (%s, now(), %s)"
            " on conflict (extract_date) do update set published_at = now(),"
            " run_id = excluded.run_id",
            (n, run_id),
        )
    ledger.record_publish(conn, night, run_id, "published", published)
    return published


def _gated_build(conn, night: date, run_id: str) -> int:
    """The last change of the build in marts_build, if it is the build this run's gate
    passed: a build that began after the gate recorded its outcomes (another run's, whose
    own gate may block it) is not published under this run's gate."""
    gated_at = ledger.gate_recorded_at(conn, run_id, night)
    if gated_at is None:
        raise PublishRefused(
            f"no quality gate recorded for {night} in run {run_id}: nothing was published."
            " The gate runs before every publish (dla night runs both)"
        )
    change_hi, built_at = conn.execute(
        "select change_hi, started_at from core.build_state"
    ).fetchone()
    if built_at is not None and built_at > gated_at:
        raise PublishRefused(
            f"marts_build was rebuilt at {built_at:%Y-%m-%d %H:%M:%S %Z} by another run, after"
            f" this run's gate passed {night} at {gated_at:%H:%M:%S}: nothing was published."
            " The night stays waiting: the next run builds, checks and publishes it"
        )
    return change_hi


def _retire(conn, current: set[tuple[str, str]]) -> None:
    """Views onto stored marts that this publish no longer has (a mart moved to restricted,
    or removed): dropped, so no reader keeps an old mart's rows."""
    for schema, name in conn.execute(
        "select distinct v.schemaname, v.viewname from pg_views v"
        " join pg_depend d on d.objid = (select oid from pg_rewrite r where r.ev_class ="
        "   (quote_ident(v.schemaname) || '.' || quote_ident(v.viewname))::regclass)"
        " join pg_class c on c.oid = d.refobjid join pg_namespace n on n.oid = c.relnamespace"
        " where v.schemaname in ('marts', 'restricted') and n.nspname = 'marts_store'"
    ).fetchall():
        if (schema, name) not in current:
            log.warning("%s.%s is no longer built: its view is dropped", schema, name)
            conn.execute(sql.SQL("drop view {} cascade").format(sql.Identifier(schema, name)))


def publish(night: date, run_id: str = "cli", settings: Settings | None = None) -> list[str]:
    with connect(settings, role="publisher") as conn:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with conn.transaction():
                    tables = _publish_once(conn, night, run_id)
                break
            except psycopg.errors.LockNotAvailable as exc:
                if attempt == ATTEMPTS:
                    raise PublishBlocked(
                        f"publishing {night} gave way to readers {ATTEMPTS} times ({exc});"
                        " a session holds a mart open: see pg_stat_activity, then rerun the night"
                    ) from exc
                log.info(
                    "a reader holds a mart: publish retries in %ss (%d/%d)",
                    attempt,
                    attempt,
                    ATTEMPTS,
                )
                time.sleep(min(attempt, 5))
        drop_superseded(conn)
    log.info("published %s (%s): %s", night, run_id, ", ".join(tables))
    return tables


def _copy_watermark(conn, name: str, schema: str, table: str) -> int | None:
    """The last change a kept mart's copy consumed: its row in core.model_watermarks,
    keyed by mart name and the copy's oid (kept_tables.sql, kept_watermark_key)."""
    row = conn.execute(
        "select change_id from core.model_watermarks where model = %s || '#' || to_regclass(%s)::oid",
        (name, sql.Identifier(schema, table).as_string(conn)),
    ).fetchone()
    return row[0] if row else None


def _require_up_to_date(conn, target: Target, name: str) -> None:
    """A kept mart is published only when this build brought it up to date: its copy's
    watermark is the build's last change. Otherwise it is the copy a publish handed back,
    not yet rebuilt: publishing it would take a night back."""
    consumed = _copy_watermark(conn, name, target.build, name)
    (build_hi,) = conn.execute("select change_hi from core.build_state").fetchone() or (None,)
    if consumed is None or consumed != build_hi:
        raise RuntimeError(
            f"{target.build}.{name} was not brought up to date by the last build (its changes"
            f" end at {consumed}, the build's at {build_hi}): build again (dla build), then publish"
        )


def _recycle(conn, orphans: list[str]) -> list[str]:
    """The newest superseded copy of each kept mart goes back to the build schema (rights,
    row-level security and index names as dbt left them), for the next build to bring up to
    date; when none can come back, a copy of the published one (``_clone_published``).
    Skipped while a build runs or a reader holds the copy: the next build then builds
    the mart whole. Returns the copies moved back."""
    moved = []
    for target in TARGETS:
        for name in target.kept:
            copies = sorted(
                (int(m.group(1)), o)
                for o in orphans
                if (m := re.fullmatch(re.escape(f"{target.prefix}{name}__v") + r"(\d+)", o))
            )
            stored = copies[-1][1] if copies else None
            try:
                with conn.transaction():
                    conn.execute("set local lock_timeout = '2s'")
                    # another publish's clean-up waits (it may be handing back this copy)
                    conn.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
                    busy = not conn.execute(
                        "select pg_try_advisory_xact_lock(%s)", (ledger.BUILD_LOCK,)
                    ).fetchone()[0]
                    if busy:
                        continue
                    # an erasure or a key rotation does not run while a copy is made
                    ledger.maintenance_shared(conn)
                    if stored and _can_come_back(conn, target, name, stored):
                        _hand_back(conn, target, stored, name)
                        moved.append(stored)
                    elif not _exists(conn, target.build, name):
                        _clone_published(conn, target, name, stored)
            except psycopg.errors.LockNotAvailable:
                log.info("%s or its copies are in use: the next build builds it whole", name)
    return moved


def _can_come_back(conn, target: Target, name: str, stored: str) -> bool:
    """The copy is still there, the build schema has none, and this one has a watermark:
    a copy without one was built before a full refresh or a key rotation (by other code,
    with other keys, maybe in another shape) and is dropped instead."""
    if (
        not conn.execute(
            "select to_regclass(%s)", (sql.Identifier("marts_store", stored).as_string(conn),)
        ).fetchone()[0]
        or conn.execute(
            "select to_regclass(%s)", (sql.Identifier(target.build, name).as_string(conn),)
        ).fetchone()[0]
    ):
        return False
    return _copy_watermark(conn, name, "marts_store", stored) is not None


def _exists(conn, schema: str, table: str) -> bool:
    ident = sql.Identifier(schema, table).as_string(conn)
    return conn.execute("select to_regclass(%s) is not null", (ident,)).fetchone()[0]


def _clone_published(conn, target: Target, name: str, stale: str | None) -> None:
    """No superseded copy came back (the first publish, or the first after a full refresh
    or a key rotation, whose old copy ``stale`` is dropped first, so the disk holds two
    copies, not three): the build schema gets a copy of the one just published, with its
    watermark, so the next build brings it up by the nights since, as it would a copy
    handed back, instead of rebuilding every row of history inside a night (the month's
    findings after a backfill: 1.77 M rows, 9.6 s alone at the end of the night's build; a
    year's, minutes). Indexes are built after the rows. Only a speed-up: the publish has
    committed, so a failure is logged and the next build builds the mart whole."""
    if stale:
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("drop table if exists {}").format(sql.Identifier("marts_store", stale))
                )
        except psycopg.errors.LockNotAvailable:
            pass  # still read: the clean-up after this drops it later
    try:
        with conn.transaction():
            _copy_published(conn, target, name)
    except psycopg.Error as exc:
        log.warning(
            "%s.%s not copied (%s): the next build builds it whole", target.build, name, exc
        )


def _copy_published(conn, target: Target, name: str) -> None:
    row = conn.execute(
        "select c.relname from pg_rewrite r join pg_depend d on d.objid = r.oid"
        " join pg_class c on c.oid = d.refobjid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where r.ev_class = to_regclass(%s) and n.nspname = 'marts_store' and c.relkind = 'r'",
        (sql.Identifier(target.published, name).as_string(conn),),
    ).fetchone()
    mark = (
        row
        and conn.execute(
            "select change_id, digest, updated_at from core.model_watermarks"
            " where model = %s || '#' || to_regclass(%s)::oid",
            (name, sql.Identifier("marts_store", row[0]).as_string(conn)),
        ).fetchone()
    )
    if not mark:  # nothing published, or a copy without a watermark: the build builds it
        return
    src, dst = sql.Identifier("marts_store", row[0]), sql.Identifier(target.build, name)
    conn.execute(
        sql.SQL("create table {} (like {} including all excluding indexes)").format(dst, src)
    )
    conn.execute(sql.SQL("insert into {} select * from {}").format(dst, src))
    for (definition,) in conn.execute(
        "select case when c.contype = 'p' then 'alter table {dst} add ' || pg_get_constraintdef(c.oid)"
        " else regexp_replace(pg_get_indexdef(i.indexrelid), ' INDEX \\S+ ON \\S+ ', ' INDEX ON {dst} ')"
        " end from pg_index i"
        " left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid"
        " where i.indrelid = to_regclass(%s) order by i.indexrelid",
        (src.as_string(conn),),
    ).fetchall():
        conn.execute(definition.replace("{dst}", dst.as_string(conn)))
    # what dbt's tables in the build schemas get (roles.grant_pipeline's default privileges)
    conn.execute(sql.SQL("grant select on {} to dla_gate").format(dst))
    conn.execute(sql.SQL("alter table {} owner to dla_transformer").format(dst))
    conn.execute(
        "insert into core.model_watermarks (model, change_id, digest, updated_at)"
        " values (%s || '#' || to_regclass(%s)::oid, %s, %s, %s)"
        " on conflict (model) do update set change_id = excluded.change_id,"
        " digest = excluded.digest, updated_at = excluded.updated_at",
        (name, dst.as_string(conn), *mark),
    )
    conn.execute(sql.SQL("analyze {}").format(dst))  # the next build's plans
    log.info("%s.%s: a copy of the one published, for the next build", target.build, name)


def _hand_back(conn, target: Target, stored: str, name: str) -> None:
    table = sql.Identifier("marts_store", stored)
    conn.execute(sql.SQL("drop policy if exists province_scope on {}").format(table))
    conn.execute(sql.SQL("alter table {} disable row level security").format(table))
    conn.execute(sql.SQL("revoke all on {} from {}").format(table, sql.Identifier(target.reader)))
    conn.execute(sql.SQL("alter table {} rename to {}").format(table, sql.Identifier(name)))
    _rename_indexes(conn, "marts_store", name)
    conn.execute(
        sql.SQL("alter table {} set schema {}").format(
            sql.Identifier("marts_store", name), sql.Identifier(target.build)
        )
    )
    conn.execute(
        sql.SQL("alter table {} owner to dla_transformer").format(
            sql.Identifier(target.build, name)
        )
    )


def drop_superseded(conn) -> list[str]:
    """Drop store tables no view points to any more (skipped while a reader holds them);
    a kept mart's newest superseded copy goes back to the build schema instead."""
    orphans = [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts_store' and c.relkind = 'r' and not exists ("
            "   select 1 from pg_depend d where d.refobjid = c.oid"
            "   and d.classid = 'pg_rewrite'::regclass)"
        ).fetchall()
    ]
    recycled = _recycle(conn, orphans)
    orphans = [o for o in orphans if o not in recycled]
    dropped = []
    for name in orphans:
        try:
            with conn.transaction():
                conn.execute("set local lock_timeout = '2s'")
                conn.execute(
                    sql.SQL("drop table if exists {}").format(sql.Identifier("marts_store", name))
                )
            dropped.append(name)
        except psycopg.errors.LockNotAvailable:
            log.info("marts_store.%s still being read: dropped on a later publish", name)
    return dropped


def record_blocked(night: date, run_id: str, reason: str, settings: Settings | None = None) -> None:
    with connect(settings, role="gate") as conn:
        ledger.record_publish(conn, night, run_id, "blocked", [], reason)
