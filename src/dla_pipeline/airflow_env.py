"""The environment Airflow runs with locally (one place, used by make and tests)."""

from __future__ import annotations

import os

from .config import project_root


def airflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
    root = project_root()
    env = dict(os.environ if base is None else base)
    env.setdefault("AIRFLOW_HOME", str(root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(root / "dags"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    # dags test runs tasks in-process; keep its output readable
    env.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    env.setdefault("DLA_HOME", str(root))
    env.setdefault("NO_PROXY", "*")  # macOS fork-safety issue with proxies; harmless elsewhere
    return env
