"""Nightly allowance extracts -> raw.allowance_payments. Logic: dla_pipeline.airflow_dags."""

from dla_pipeline.airflow_dags import ingest_dag

dag = ingest_dag("allowance")
