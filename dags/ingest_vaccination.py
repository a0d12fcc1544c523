"""Nightly vaccination extracts -> raw.vaccination_reports. Logic: dla_pipeline.airflow_dags."""

from dla_pipeline.airflow_dags import ingest_dag

dag = ingest_dag("vaccination")
