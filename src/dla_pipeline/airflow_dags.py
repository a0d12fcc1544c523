"""DAG factories (Airflow 3 SDK). The files in ``dags/`` only call these.

- ``ingest_<source>``: for its logical date (the extract date), plan batches of
  files, load them as mapped tasks, close the night (conservation), and emit the
  source's raw Asset with the extract date in the event's extra.
- ``build_marts``: runs when any raw Asset is updated (or for a date under
  ``airflow dags test``): dbt build, quality gate, publish.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from .config import SOURCES, PgUrl, setting
from .contract import SOURCES as SOURCE_SPECS

DEFAULT_ARGS = {
    "owner": "dla-data",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    # no task may hang a night: a stuck task fails, and is retried
    "execution_timeout": timedelta(hours=2),
}
BANGKOK = ZoneInfo("Asia/Bangkok")
START = datetime(2026, 1, 1, tzinfo=BANGKOK)


def raw_asset(source: str) -> Asset:
    """Asset URI of a raw table: postgres://host:port/db/schema/table (no credentials)."""
    url = setting("WAREHOUSE_URL") or "postgresql://warehouse:5432/dla"
    pg = PgUrl.parse(url)
    table = SOURCE_SPECS[source].table
    # named by its URI: the same table in another database is another asset
    return Asset(uri=f"postgres://{pg.host}:{pg.port}/{pg.dbname}/raw/{table}")


def _night_from_context(ctx) -> date:
    """The extract date: the logical date, or the triggering asset event's extra."""
    conf = (ctx.get("dag_run").conf or {}) if ctx.get("dag_run") else {}
    if conf.get("extract_date"):
        return date.fromisoformat(conf["extract_date"])
    if ctx.get("logical_date"):
        # scheduled runs start at Bangkok midnight (17:00 UTC the day before)
        return ctx["logical_date"].astimezone(BANGKOK).date()
    events = ctx.get("triggering_asset_events") or {}
    nights = [
        e.extra.get("extract_date")
        for evs in events.values()
        for e in evs
        if e.extra and e.extra.get("extract_date")
    ]
    if nights:
        return date.fromisoformat(max(nights))
    raise ValueError("no extract date: pass a logical date or conf {'extract_date': ...}")


def ingest_dag(source: str):
    assert source in SOURCES
    asset = raw_asset(source)

    @dag(
        dag_id=f"ingest_{source}",
        description=f"Load the night's {source} extracts from the landing zone into raw.",
        # logical date = the extract date; the run starts when that day is over (Bangkok)
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Bangkok"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["ingest", source],
        doc_md=__doc__,
    )
    def _dag():
        @task(execution_timeout=timedelta(minutes=10))
        def plan() -> list[list[str]]:
            from .steps import ingest_plan

            return ingest_plan(source, _night_from_context(get_current_context()))

        @task(max_active_tis_per_dagrun=2, execution_timeout=timedelta(hours=1))
        def load(names: list[str]) -> dict:
            from .steps import ingest_batch

            ctx = get_current_context()
            return ingest_batch(source, _night_from_context(ctx), names, ctx["run_id"])

        @task(outlets=[asset], execution_timeout=timedelta(minutes=15))
        def close(batches: list[dict]) -> dict:
            from .steps import ingest_close

            ctx = get_current_context()
            night = _night_from_context(ctx)
            summary = ingest_close(source, night)
            ctx["outlet_events"][asset].extra = {
                "extract_date": night.isoformat(),
                "rows_loaded": summary["rows_loaded"],
            }
            return summary

        close(load.expand(names=plan()))

    return _dag()


def build_marts_dag():
    trigger = raw_asset(SOURCES[0])
    for s in SOURCES[1:]:
        trigger = trigger | raw_asset(s)

    @dag(
        dag_id="build_marts",
        description="dbt build, Great Expectations gate, then publish the marts.",
        schedule=trigger,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "retries": 0},
        tags=["transform", "quality", "publish"],
        doc_md=__doc__,
    )
    def _dag():
        @task
        def dbt_build() -> dict:
            from .steps import transform

            return transform(_night_from_context(get_current_context()))

        @task
        def quality_gate() -> dict:
            from .steps import quality_gate as gate

            ctx = get_current_context()
            return gate(_night_from_context(ctx), ctx["run_id"])

        @task
        def publish() -> list[str]:
            from .steps import publish_marts

            ctx = get_current_context()
            return publish_marts(_night_from_context(ctx), ctx["run_id"])

        dbt_build() >> quality_gate() >> publish()

    return _dag()
