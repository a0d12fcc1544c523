# Airflow image with the project's pinned dependencies, the dla_pipeline package and the
# code it runs (DAGs, dbt project, expectations, config). Used by docker-compose.yml.
# The official image ships the FAB auth manager and the Celery provider the stack uses.
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:root requirements.lock /opt/dla/requirements.lock
RUN pip install --no-cache-dir -r /opt/dla/requirements.lock

COPY --chown=airflow:root pyproject.toml README.md /opt/dla/
COPY --chown=airflow:root src /opt/dla/src
RUN pip install --no-cache-dir --no-deps /opt/dla

# code, not data: baked in, never bind-mounted in production
COPY --chown=airflow:root dags /opt/dla/dags
COPY --chown=airflow:root dbt_project /opt/dla/dbt_project
COPY --chown=airflow:root expectations /opt/dla/expectations
COPY --chown=airflow:root config /opt/dla/config

ENV DLA_HOME=/opt/dla
WORKDIR /opt/dla
