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
PIPELINE_SECRETS = {"WAREHOUSE_URL", "PSEUDONYM_KEY", "ERASURE_KEY", "DLA_LOADER_PASSWORD"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_mirror_the_official_airflow_3_stack_plus_a_warehouse_and_bi():
    services = _compose()["services"]
    assert set(services) == {*AIRFLOW, "airflow-db", "redis", "warehouse", "superset"}
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
    assert (ROOT / services["superset"]["build"]["dockerfile"]).exists()


def test_every_port_binds_localhost_only():
    for name, s in _compose()["services"].items():
        for port in s.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_airflow_uses_real_auth_and_its_own_secrets():
    services = _compose()["services"]
    for name in AIRFLOW:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "FabAuthManager" in env["AIRFLOW__CORE__AUTH_MANAGER"], name
        assert "SIMPLE_AUTH_MANAGER_USERS" not in str(env)
        assert "@airflow-db/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        for key in (
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
        ):
            assert key not in env, (name, key)  # never in the environment
            secret = env[f"{key}_CMD"].removeprefix("cat /run/secrets/")
            assert secret in services[name]["secrets"], (name, key)
            assert _compose()["secrets"][secret]["file"].startswith("./.secrets/compose/")
        assert "${REDIS_PASSWORD:?" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert "--requirepass" in services["redis"]["command"]
    init = services["airflow-init"]["environment"]
    assert init["_AIRFLOW_WWW_USER_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")


def test_each_container_gets_only_the_secrets_it_uses():
    services = _compose()["services"]
    for name in ("airflow-scheduler", "airflow-apiserver"):
        assert not PIPELINE_SECRETS & set(services[name]["environment"]), name
    for name in ("airflow-worker", "airflow-dag-processor", "airflow-triggerer", "airflow-init"):
        env = services[name]["environment"]
        assert set(env) >= PIPELINE_SECRETS, name
        assert "@warehouse:5432/dla" in env["WAREHOUSE_URL"]
        assert "WAREHOUSE_ADMIN_URL" not in env or name == "airflow-init"
    assert "AIRFLOW_CONN_SMTP_DEFAULT" in services["airflow-worker"]["environment"]
    assert "ALERT_EMAIL" in services["airflow-worker"]["environment"]
    superset = services["superset"]["environment"]
    assert "@warehouse:5432/dla" in superset["BI_DATABASE_URL"]
    assert superset["BI_DATABASE_URL"].startswith(
        "postgresql://bi_superset:"
    )  # the bi_service login


def test_code_is_baked_in_and_only_data_is_mounted():
    services = _compose()["services"]
    for name in AIRFLOW:
        for volume in services[name].get("volumes", []):
            src = volume.split(":")[0]
            assert not src.startswith("./") or src.startswith("./data/"), (name, volume)
    triggerer = services["airflow-triggerer"]["volumes"]
    assert any(v.endswith("/opt/dla/data/landing:ro") for v in triggerer)
    dockerfile = (ROOT / "Dockerfile").read_text()
    for src in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", dockerfile, re.MULTILINE):
        for part in src.split():
            assert (ROOT / part).exists(), part
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".secrets/", "data/"} <= set(ignored)


def test_no_secret_is_committed_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    settings = re.findall(r"^\s*([A-Z_]*(?:PASSWORD|_KEY|_SECRET))\s*:\s*(.+)$", text, re.MULTILINE)
    assert len(settings) >= 8
    for name, value in settings:
        assert value.startswith("${") and (":?" in value or name == "SMTP_PASSWORD"), (
            f"{name} has a literal value"
        )
    assert "admin:admin" not in text


def test_compose_env_writes_every_variable_the_stack_requires(tmp_path):
    """`make compose-env`: one private file with every ${NAME:?} of the compose file."""
    import shutil

    from dla_pipeline.compose import required_variables, write_compose_env
    from dla_pipeline.config import read_env_file

    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(
        "WAREHOUSE_URL=postgresql://dla_owner:ownerpw@127.0.0.1:55432/dla\n"
        + "".join(
            f"{k}=v-{k.lower()}\n"
            for k in (
                "DLA_LOADER_PASSWORD",
                "DLA_TRANSFORMER_PASSWORD",
                "DLA_GATE_PASSWORD",
                "DLA_PUBLISHER_PASSWORD",
                "PSEUDONYM_KEY",
                "ERASURE_KEY",
                "AIRFLOW_DB_PASSWORD",
                "AIRFLOW_ADMIN_PASSWORD",
            )
        )
    )
    (tmp_path / ".secrets").mkdir(mode=0o700)
    (tmp_path / ".secrets" / "warehouse_admin_password").write_text("adminpw\n")
    path = write_compose_env(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    values = read_env_file(path)
    assert required_variables(tmp_path / "docker-compose.yml") <= set(values)
    assert values["DLA_OWNER_PASSWORD"] == "ownerpw"
    assert values["WAREHOUSE_ADMIN_PASSWORD"] == "adminpw"
    fernet = tmp_path / ".secrets" / "compose" / "airflow_fernet_key"
    assert len(fernet.read_text()) == 44 and fernet.stat().st_mode & 0o777 == 0o600
    for secret in _compose()["secrets"].values():
        assert (tmp_path / secret["file"]).exists()
    before = fernet.read_text()
    again = read_env_file(write_compose_env(tmp_path))
    assert again == values and fernet.read_text() == before  # kept, not regenerated


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
