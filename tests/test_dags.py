"""DAG integrity: every DAG file imports, with the shape the platform relies on."""

from __future__ import annotations

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
    assert set(dagbag.dag_ids) == {*(f"ingest_{s}" for s in SOURCES), "build_marts"}


@pytest.mark.parametrize("source", SOURCES)
def test_ingest_dag_maps_over_batches_and_emits_its_asset(dagbag, source):
    dag = dagbag.get_dag(f"ingest_{source}")
    assert set(dag.task_ids) == {"plan", "load", "close"}
    # one task instance per batch of files, not one per file
    assert type(dag.get_task("load")).__name__ == "DecoratedMappedOperator"
    close = dag.get_task("close")
    assert [a.uri for a in close.outlets][0].endswith(
        "/raw/"
        + {
            "allowance": "allowance_payments",
            "tax": "tax_receipts",
            "vaccination": "vaccination_reports",
        }[source]
    )
    assert close.outlets[0].uri.startswith("postgres://")
    assert not dag.catchup


def test_build_marts_runs_on_raw_assets_then_gates_then_publishes(dagbag):
    dag = dagbag.get_dag("build_marts")
    assert dag.get_task("quality_gate").upstream_task_ids == {"dbt_build"}
    assert dag.get_task("publish").upstream_task_ids == {"quality_gate"}
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # any source's new night triggers a build
    assert sorted(a.uri.rsplit("/", 1)[-1] for a in condition.objects) == [
        "allowance_payments",
        "tax_receipts",
        "vaccination_reports",
    ]
