"""DAG integrity: every DAG file imports, with the shape the platform relies on."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from dla_pipeline.airflow_env import airflow_env
from dla_pipeline.config import SOURCES, project_root


@pytest.fixture(scope="module")
def dagbag():
    import os

    os.environ.update({k: v for k, v in airflow_env().items() if k.startswith("AIRFLOW")})
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(project_root() / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {*(f"ingest_{s}" for s in SOURCES), "build_marts", "purge"}


@pytest.mark.parametrize("source", SOURCES)
def test_ingest_waits_maps_over_batches_and_announces_the_night(dagbag, source):
    dag = dagbag.get_dag(f"ingest_{source}")
    assert {"night", "wait", "plan", "load", "close", "catch_up", "announce", "verdict"} == set(
        dag.task_ids
    )
    assert type(dag.get_task("load")).__name__ == "DecoratedMappedOperator"  # batches, not files
    assert type(dag.get_task("wait")).__name__ == "WaitForNight"  # deferrable: no worker slot
    assert dag.get_task("wait").upstream_task_ids == {"night"}
    announce = dag.get_task("announce")
    assert announce.outlets[0].uri.startswith("postgres://") and announce.trigger_rule == "all_done"
    assert dag.get_task("night").retries == 0  # a bad extract date fails at once
    assert all(t.execution_timeout for t in dag.tasks), "every task has an execution_timeout"
    assert "extract_date" in dag.params and dag.params["extract_date"] is not None
    assert not dag.catchup


def test_build_marts_runs_once_per_night_when_all_sources_announced(dagbag):
    dag = dagbag.get_dag("build_marts")
    assert dag.get_task("quality_gate").upstream_task_ids == {"dbt_build", "night"}
    assert dag.get_task("publish").upstream_task_ids == {"quality_gate", "night"}
    assert type(dag.timetable).__name__ == "PartitionedAssetTimetable"
    assert dag.max_active_runs == 1 and dag.deadline
    assert all(t.execution_timeout for t in dag.tasks)


def test_scheduled_runs_take_the_night_from_the_data_interval_in_bangkok():
    from dla_pipeline.nights import BadNight, resolve_night

    bkk = ZoneInfo("Asia/Bangkok")
    start = datetime(2026, 11, 5, 0, 0, tzinfo=bkk)  # 2026-11-04T17:00Z
    assert resolve_night("scheduled", start, {"extract_date": "2026-01-01"}) == date(2026, 11, 5)
    assert resolve_night("manual", None, {"extract_date": "2026-11-03"}) == date(2026, 11, 3)
    assert resolve_night("asset_triggered", None, {}, partition_key="2026-11-02") == date(
        2026, 11, 2
    )
    for bad in ("2026-13-45", "05/11/2026", "2569-11-05"):
        with pytest.raises(BadNight, match="YYYY-MM-DD|CE year"):
            resolve_night("manual", None, {"extract_date": bad})
