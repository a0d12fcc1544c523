# Airflow image with the project's pinned dependencies and the dla_pipeline package.
# Used by docker-compose.yml (the production-like path).
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:root requirements.lock /opt/dla/requirements.lock
RUN pip install --no-cache-dir -r /opt/dla/requirements.lock

COPY --chown=airflow:root pyproject.toml README.md /opt/dla/
COPY --chown=airflow:root src /opt/dla/src
RUN pip install --no-cache-dir --no-deps /opt/dla

ENV DLA_HOME=/opt/dla
WORKDIR /opt/dla
