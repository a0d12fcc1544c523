"""docker-compose.yml cannot run here (no Docker engine): check it by reading it."""

from __future__ import annotations

import re

import yaml

from dla_pipeline.config import project_root

ROOT = project_root()
AIRFLOW = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_mirror_the_official_airflow_3_stack_plus_a_warehouse():
    services = _compose()["services"]
    assert set(services) == {*AIRFLOW, "airflow-db", "redis", "warehouse"}
    commands = {name: services[name].get("command") for name in AIRFLOW[:-1]}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-worker": "celery worker",
        "airflow-triggerer": "triggerer",
    }
    assert services["warehouse"]["image"].startswith("postgres:")
    assert services["airflow-db"]["image"].startswith("postgres:")


def test_airflow_services_mount_the_project_and_point_at_the_warehouse():
    services = _compose()["services"]
    for name in AIRFLOW:
        s = services[name]
        mounts = {v.split(":")[1] for v in s["volumes"] if v.startswith("./")}
        assert {
            "/opt/airflow/dags",
            "/opt/dla/dbt_project",
            "/opt/dla/expectations",
            "/opt/dla/data/landing",
        } <= mounts, name
        env = s["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "@warehouse:5432/dla" in env["WAREHOUSE_URL"]
        assert "@airflow-db/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["PSEUDONYM_KEY"].startswith("${PSEUDONYM_KEY")
    for name in ("redis", "airflow-db", "warehouse"):
        assert name in services["airflow-scheduler"]["depends_on"]
    for src, _, _ in (v.partition(":") for v in services["airflow-scheduler"]["volumes"]):
        if src.startswith("./") and src not in ("./data/landing", "./data/runs"):
            assert (ROOT / src).exists(), src


def test_no_secret_is_committed_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    settings = re.findall(r"^\s*([A-Z_]*(?:PASSWORD|_KEY))\s*:\s*(.+)$", text, re.MULTILINE)
    assert len(settings) >= 4
    for name, value in settings:
        assert value.startswith("${") or value == '""', f"{name} has a literal value"
    assert "${WAREHOUSE_OWNER_PASSWORD:?" in text


def test_setup_against_an_external_warehouse_starts_nothing(warehouse_db, tmp_path):
    """What the compose init container does: WAREHOUSE_URL set, no .env, no local server."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dla_pipeline.config import read_env_file

    from dla_pipeline.warehouse import secrets_dir

    password = (secrets_dir() / "warehouse_admin_password").read_text().strip()
    port = read_env_file(ROOT / ".env")["WAREHOUSE_PORT"]
    admin = (
        os.environ.get("WAREHOUSE_ADMIN_URL")
        or f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    )
    env = {**os.environ, "DLA_HOME": str(tmp_path), "WAREHOUSE_ADMIN_URL": admin}
    env["PSEUDONYM_KEY"] = "k"
    out = subprocess.run(
        [str(Path(sys.executable).with_name("dla")), "setup"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "external server: nothing started" in out
    assert not (tmp_path / ".env").exists()
    assert not (tmp_path / "data").exists()
