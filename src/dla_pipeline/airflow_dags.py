"""DAG factories (Airflow 3 SDK). The files in ``dags/`` only call these.

* ``ingest_<source>``: runs each day at midnight Bangkok for the night that ends then
  (its data interval, in Asia/Bangkok, is the night loaded), or by hand with the
  ``extract_date`` param (default yesterday). It resolves the night, waits for it without
  holding a worker slot until the cutoff (06:00 by default), loads what arrived in
  batches, closes the night (conservation; "no <source> files for <date>" fails the run),
  reloads files that came late for the previous nights, and announces the night on its
  raw Asset, partition = the extract date, with the source's status.
* ``build_marts``: one run per night, when all three sources have announced that night
  (partitioned Asset scheduling), or by hand with ``extract_date``. dbt, the quality
  gate, publish, and the night's report (``data/runs/<DATE>.json``). A night that is
  already published since its last load costs nothing.
* ``purge``: applies the retention periods every night.

People are told (SMTP notifier, ``ALERT_EMAIL``) when a night fails, the gate blocks,
sources are missing (once per night), reporting drops sharply, or a night is not
published by its deadline.
"""

from __future__ import annotations

import contextlib
import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import (
    Asset,
    AsyncCallback,
    DeadlineAlert,
    DeadlineReference,
    Param,
    PartitionedAssetTimetable,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from .config import SOURCES, PgUrl, setting
from .contract import SOURCES as SOURCE_SPECS
from .nights import BadNight, resolve_night, yesterday_in_bangkok

os.umask(0o077)  # task logs, reports and spools hold personal data: private files

BANGKOK = ZoneInfo("Asia/Bangkok")
START = datetime(2026, 1, 1, tzinfo=BANGKOK)
DEFAULT_ARGS = {
    "owner": "dla-data",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    # no task may hang a night: a stuck task fails (and is retried)
    "execution_timeout": timedelta(hours=2),
}


def raw_asset(source: str) -> Asset:
    """Asset URI of a raw table: postgres://host:port/db/schema/table (no credentials)."""
    url = setting("WAREHOUSE_URL") or "postgresql://warehouse:5432/dla"
    pg = PgUrl.parse(url)
    table = SOURCE_SPECS[source].table
    return Asset(
        name=f"raw_{source}", uri=f"postgres://{pg.host}:{pg.port}/{pg.dbname}/raw/{table}"
    )


def night_params() -> dict:
    return {
        "extract_date": Param(
            yesterday_in_bangkok().isoformat(),
            type="string",
            format="date",
            title="Extract date (the night to load)",
            description="YYYY-MM-DD in the CE calendar, e.g. 2026-11-05. Scheduled runs use the night of their data interval.",
        ),
    }


def _night(ctx) -> date:
    """The night of this run; a bad value fails at once, without retries."""
    run = ctx.get("dag_run")
    interval = ctx.get("data_interval_start")
    try:
        return resolve_night(
            str(getattr(run, "run_type", "manual") or "manual"),
            interval,
            ctx.get("params") or {},
            getattr(run, "partition_key", None),
        )
    except BadNight as exc:
        raise AirflowFailException(str(exc)) from None


def _run_id(ctx) -> str:
    return ctx["run_id"]


def _who(ctx) -> str:
    run = ctx.get("dag_run")
    user = getattr(run, "triggering_user_name", None)
    return user or str(getattr(run, "run_type", "scheduled"))


def _alert_on_failure(context) -> None:
    """A task failed for a reason people must act on (a missing source is told once, by
    build_marts; a blocked gate by its own message)."""
    from . import notify
    from .quality import QualityGateFailed
    from .steps import NoFiles

    exc = context.get("exception")
    if isinstance(exc, (NoFiles, QualityGateFailed, SourceMissing, NightNotPublished)):
        return
    ti = context.get("ti")
    night = (context.get("params") or {}).get("extract_date", "?")
    with contextlib.suppress(Exception):
        night = str(_night(context))
    step = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
    notify.send(notify.night_failed(night, step, str(exc)), context)


class SourceMissing(AirflowFailException):
    """No LAO sent anything for the source and night: build_marts tells people, once."""


class NightNotPublished(AirflowFailException):
    """build_marts ends failed when its night was not published (already told why)."""


TASK_ARGS = {**DEFAULT_ARGS, "on_failure_callback": _alert_on_failure}


def _ingest_params() -> dict:
    return {
        **night_params(),
        "announce": Param(
            True,
            type="boolean",
            description="announce the night to build_marts (a backfill builds once at its end)",
        ),
        "cutoff": Param(
            None,
            type=["null", "string"],
            description="wait until this ISO time instead of the night's cutoff (tests, operators)",
        ),
    }


def _load_tasks(source: str):
    """night -> plan -> load (mapped over batches) -> close -> catch_up, for one source."""

    @task(retries=0, execution_timeout=timedelta(minutes=2))
    def night() -> str:
        return _night(get_current_context()).isoformat()

    @task(execution_timeout=timedelta(minutes=10))
    def plan(night: str) -> list[list[str]]:
        from .steps import ingest_plan, step

        ctx = get_current_context()
        with step(
            _run_id(ctx),
            date.fromisoformat(night),
            f"ingest_{source}",
            "plan",
            triggered_by=_who(ctx),
        ):
            return ingest_plan(source, date.fromisoformat(night))

    @task(max_active_tis_per_dagrun=2, execution_timeout=timedelta(hours=1))
    def load(units: list[str], night: str) -> dict:
        from .steps import ingest_batch, step

        ctx = get_current_context()
        with step(
            _run_id(ctx),
            date.fromisoformat(night),
            f"ingest_{source}",
            f"load[{ctx['ti'].map_index}]",
        ):
            return ingest_batch(source, date.fromisoformat(night), units, _run_id(ctx))

    # runs when there was nothing to load too (no batch): "no files" is its verdict
    @task(retries=0, trigger_rule="none_failed", execution_timeout=timedelta(minutes=15))
    def close(night: str, loaded: list[dict] | None) -> dict:
        from .ingest import close_night
        from .steps import step

        ctx = get_current_context()
        with step(_run_id(ctx), date.fromisoformat(night), f"ingest_{source}", "close"):
            return close_night(source, date.fromisoformat(night))

    @task(trigger_rule="all_done", execution_timeout=timedelta(hours=1))
    def catch_up(night: str) -> list[str]:
        from .steps import ingest_catch_up, step

        ctx = get_current_context()
        with step(_run_id(ctx), date.fromisoformat(night), f"ingest_{source}", "catch_up"):
            return ingest_catch_up(source, date.fromisoformat(night), _run_id(ctx))

    return night, plan, load, close, catch_up


def _verdict_tasks(source: str, asset):
    """announce (the Asset event, partition = the night) and the run's verdict."""

    @task(
        outlets=[asset],
        trigger_rule="all_done",
        retries=0,
        execution_timeout=timedelta(minutes=5),
    )
    def announce(night: str) -> str:
        """The source's verdict for the night, on its Asset (partition = the night)."""
        ctx = get_current_context()
        closed = ctx["ti"].xcom_pull(task_ids="close")
        # closed: loaded (and conserved); missing: no LAO sent anything; failed: close did not run
        status = "failed" if not closed else ("closed" if closed["laos_sending"] else "missing")
        if ctx["params"].get("announce", True):
            ctx["outlet_events"][asset].add_partitions(night)
            ctx["outlet_events"][asset].extra = {
                "extract_date": night,
                "source": source,
                "status": status,
            }
        return status

    @task(retries=0, trigger_rule="all_done")
    def verdict(status: str | None, night: str | None) -> None:
        """The run fails when the source failed or sent nothing (after announcing it)."""
        from .db import connect
        from .ledger import finish_run

        with connect(role="loader", autocommit=True) as conn:
            finish_run(conn, _run_id(get_current_context()), status == "closed", status)
        if status == "missing":
            raise SourceMissing(f"no {source} files for {night}")
        if status != "closed":
            raise AirflowFailException(f"ingest_{source} failed for {night}: see the failed task")

    return announce, verdict


def ingest_dag(source: str):
    assert source in SOURCES
    asset = raw_asset(source)

    @dag(
        dag_id=f"ingest_{source}",
        description=f"Load the night's {source} extracts from the landing zone into raw.",
        # the run at midnight Bangkok loads the night that just ended: its data interval
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Bangkok"),
        start_date=START,
        catchup=False,
        max_active_runs=3,
        default_args=TASK_ARGS,
        params=_ingest_params(),
        tags=["ingest", source],
        doc_md=__doc__,
    )
    def _dag():
        from .arrival import WaitForNight

        night, plan, load, close, catch_up = _load_tasks(source)
        announce, verdict = _verdict_tasks(source, asset)
        n = night()
        batches = plan(n)
        wait = WaitForNight(
            task_id="wait",
            source=source,
            night="{{ ti.xcom_pull(task_ids='night') }}",
            cutoff="{{ params.cutoff or '' }}",
            execution_timeout=timedelta(hours=12),
            retries=0,
        )
        n >> wait >> batches
        closed = close(n, load.partial(night=n).expand(units=batches))
        said = announce(n)
        closed >> catch_up(n) >> said
        verdict(said, n)

    return _dag()


def _deadline() -> list:
    from .config import get_settings

    minutes = get_settings().publish_deadline_minutes
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=minutes),
            callback=AsyncCallback(
                "dla_pipeline.notify_async.night_not_published", kwargs={"minutes": minutes}
            ),
            name="night_not_published_in_time",
        )
    ]


def _build_params() -> dict:
    return {
        **night_params(),
        "from_date": Param(
            None,
            type=["null", "string"],
            description="with a backfill: the first night of the range (all are checked and published at once)",
        ),
    }


def _build_step(name: str, task_id: str):
    """One step of the build (dbt, the gate, publish) as a task: builds.run_step does it."""

    @task(task_id=task_id)
    def run(info: dict):
        from .builds import run_step

        return run_step(name, info, get_current_context())

    return run


def build_marts_dag():
    assets = [raw_asset(s) for s in SOURCES]

    @dag(
        dag_id="build_marts",
        description="dbt build, Great Expectations gate, then publish the marts: once per night.",
        # one run per night, once every source has announced that night
        schedule=PartitionedAssetTimetable(assets=assets[0] & assets[1] & assets[2]),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={**TASK_ARGS, "retries": 0},
        params=_build_params(),
        deadline=_deadline(),
        tags=["transform", "quality", "publish"],
        doc_md=__doc__,
    )
    def _dag():
        @task(retries=0)
        def night() -> dict:
            from .builds import check_sources
            from .steps import step

            ctx = get_current_context()
            night = _night(ctx)
            with step(_run_id(ctx), night, "build_marts", "check", triggered_by=_who(ctx)):
                return check_sources(night, ctx.get("triggering_asset_events") or {}, ctx)

        @task(trigger_rule="all_done", retries=0)
        def report(info: dict | None) -> dict:
            from .builds import report as write

            out = write(info, get_current_context())
            if not out.get("published"):  # the run ends failed, visibly (people were told)
                raise NightNotPublished(
                    "the night was not published: see the failed task and data/runs"
                )
            return out

        info = night()
        built = _build_step("dbt", "dbt_build")(info)
        gated = _build_step("quality_gate", "quality_gate")(info)
        published = _build_step("publish", "publish")(info)
        built >> gated >> published >> report(info)

    return _dag()


def purge_dag():
    @dag(
        dag_id="purge",
        description="Apply the retention periods (config/retention.yml) and report what was removed.",
        schedule=CronDataIntervalTimetable("30 7 * * *", timezone="Asia/Bangkok"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=TASK_ARGS,
        tags=["pdpa", "retention"],
    )
    def _dag():
        @task(execution_timeout=timedelta(hours=1))
        def purge() -> list[dict]:
            from .pdpa import purge as apply

            return [{k: str(v) for k, v in r.items()} for r in apply()]

        purge()

    return _dag()
