"""Nightly tax extracts -> raw.tax_receipts. Logic: dla_pipeline.airflow_dags."""

from dla_pipeline.airflow_dags import ingest_dag

dag = ingest_dag("tax")
