"""Retention (PDPA): the periods in config/retention.yml, applied every morning."""

from dla_pipeline.airflow_dags import purge_dag

purge_dag()
