"""dbt build -> Great Expectations gate -> publish, once per night (all three sources announced). Logic: dla_pipeline.airflow_dags."""

from dla_pipeline.airflow_dags import build_marts_dag

dag = build_marts_dag()
