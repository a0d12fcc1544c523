"""The BI tool in the box (bi/).

* The dashboards as code (bi/assets) match the marts' contracts (dbt_project/models/marts/*.yml):
  every dataset column exists, every chart uses only what its dataset lists, the province
  filter reaches every chart in its scope. No Superset needed.
* Superset (bi/bi.py setup + start) over a night published in the test database, then a
  real browser (bi/check_dashboards.py, Debian's chromium) opens every dashboard with and
  without a province selected: no chart error, Thai drawn with a Thai font, no request to
  another host. Screenshots: data/screenshots/test_bi/. Needs `make bi-install` (.venv-bi,
  chromium, fonts-thai-tlwg): skipped without .venv-bi. Superset runs from a data dir under
  tmp_path on a free port, as the warehouse login bi_test (roles are per server: not the
  dev login), and is stopped in any case.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from datetime import date
from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import free_port

from dla_pipeline import access, warehouse
from dla_pipeline.config import PgUrl, get_settings
from dla_pipeline.generator import generate_night
from dla_pipeline.night import run_night

ROOT = Path(__file__).resolve().parents[1]
BI_PY = ROOT / ".venv-bi" / "bin" / "python"
SHOTS = ROOT / "data" / "screenshots" / "test_bi"
NIGHT = date(2026, 11, 5)  # the night tests/test_e2e.py publishes, same files
LOGIN = "bi_test"
DASHBOARDS = {"rabies", "allowance", "revenue", "scorecard"}
# fonts with Thai glyphs Chromium may use on Linux (fonts-thai-tlwg, Noto)
THAI_FONTS = {
    "Loma",
    "Garuda",
    "Sawasdee",
    "Norasi",
    "Kinnari",
    "Umpush",
    "Waree",
    "Noto Sans Thai",
}

needs_bi_venv = pytest.mark.skipif(
    not BI_PY.exists(),
    reason=".venv-bi is absent: `make bi-install` creates it (Superset's own venv,"
    " plus chromium and fonts-thai-tlwg as root)",
)

ASSETS = ROOT / "bi" / "assets"
METRIC_KEYS = ("metrics", "metric", "timeseries_limit_metric", "x_axis_sort")
COLUMN_KEYS = ("groupby", "all_columns", "x_axis")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _mart_contracts() -> dict[str, set[str]]:
    models = {}
    for path in (ROOT / "dbt_project" / "models" / "marts").glob("*.yml"):
        for model in _yaml(path).get("models") or []:
            models[model["name"]] = {c["name"] for c in model.get("columns") or []}
    return models


def test_dashboards_as_code_match_the_mart_contracts():
    marts = _mart_contracts()
    datasets = {}
    for path in (ASSETS / "datasets").rglob("*.yaml"):
        d = _yaml(path)
        assert d["schema"] == "marts" and d["table_name"] in marts, f"{path.name}: not a mart"
        columns = {c["column_name"] for c in d["columns"]}
        missing = columns - marts[d["table_name"]]
        assert not missing, f"{d['table_name']}: no such column(s) in the mart: {sorted(missing)}"
        metrics = {m["metric_name"] for m in d.get("metrics") or []}
        assert not metrics & columns, f"{d['table_name']}: a metric named like a column"
        datasets[d["uuid"]] = {"name": d["table_name"], "columns": columns, "metrics": metrics}
    charts = {}
    for path in (ASSETS / "charts").glob("*.yaml"):
        c = _yaml(path)
        ds = datasets[c["dataset_uuid"]]
        p = c["params"]
        used = {v for k in COLUMN_KEYS for v in _as_list(p.get(k))}
        used |= {f["subject"] for f in p.get("adhoc_filters", []) if f.get("subject")}
        used |= {json.loads(o)[0] for o in p.get("order_by_cols", [])}
        assert used <= ds["columns"], f"{path.name}: not in {ds['name']}: {used - ds['columns']}"
        metrics = {v for k in METRIC_KEYS for v in _as_list(p.get(k))}
        assert metrics <= ds["metrics"], (
            f"{path.name}: not in {ds['name']}: {metrics - ds['metrics']}"
        )
        charts[c["uuid"]] = ds
    slugs = set()
    for path in (ASSETS / "dashboards").glob("*.yaml"):
        d = _yaml(path)
        slugs.add(d["slug"])
        assert " / " in d["dashboard_title"], f"{path.name}: title not 'Thai / English'"
        nodes = [
            n for n in d["position"].values() if isinstance(n, dict) and n.get("type") == "CHART"
        ]
        assert nodes and all(n["meta"]["uuid"] in charts for n in nodes), path.name
        (flt,) = d["metadata"]["native_filter_configuration"]
        assert [t["column"]["name"] for t in flt["targets"]] == ["province_name_th"]
        excluded = set(flt["scope"]["excluded"])
        for n in nodes:
            if n["meta"]["chartId"] not in excluded:
                assert "province_name_th" in charts[n["meta"]["uuid"]]["columns"], (
                    f"{path.name}: chart {n['id']} cannot be filtered by province"
                )
    assert slugs == DASHBOARDS
    database = _yaml(ASSETS / "databases" / "DLA_warehouse.yaml")
    assert ":XXXXXXXXXX@" in database["sqlalchemy_uri"], "no password in the assets"


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


# the province with the most to show: rabies reports, graded LAOs, allowance, revenue
PROVINCE_SQL = """
select d.province_name_th
from (select distinct province_code, province_name_th from marts.dim_lao) as d
order by
    (select count(*) from marts.rabies_coverage_by_lao as r where r.province_code = d.province_code) > 0 desc,
    (select count(*) from marts.lao_scorecard as s
      where s.province_code = d.province_code and s.performance_group <> 'not_rated') > 0 desc,
    (select count(*) from marts.allowance_by_lao_period as a
      where a.province_code = d.province_code and a.is_latest_period) > 0 desc,
    (select count(*) from marts.revenue_by_lao_account as v where v.province_code = d.province_code) desc,
    d.province_code
limit 1
"""


@pytest.fixture(scope="module")
def published(warehouse_db):
    generate_night(NIGHT, laos=60, seed=7, bad_fraction=0.03)
    summary = run_night(NIGHT, runner="direct")
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        rows = conn.execute("select count(*) from marts.allowance_by_province").fetchone()[0]
        province = conn.execute(PROVINCE_SQL).fetchone()[0]
    assert rows > 0, f"nothing published: {json.dumps(summary.get('steps'), default=str)[:2000]}"
    return province


def _drop_login(admin_db: str) -> None:
    """bi_test out of the test database and off the server (a role outlives a dropped database)."""
    with contextlib.suppress(access.AccessError):
        access.remove_user(admin_db, LOGIN)
    with psycopg.connect(warehouse.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f"drop role if exists {LOGIN}")


def _run(cmd: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    print(f"$ {' '.join(map(str, cmd[1:]))}\n{r.stdout}{r.stderr[-3000:]}")
    return r


@needs_bi_venv
def test_every_dashboard_renders_with_and_without_a_province(published, warehouse_db, tmp_path):
    province = published
    admin_db = warehouse.admin_conninfo(dbname=get_settings().pg.dbname)
    _drop_login(admin_db)
    password = secrets.token_urlsafe(18)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BI_", "SUPERSET_"))}
    env.update(
        {
            "BI_DATA_DIR": str(tmp_path / "bi"),
            "BI_PORT": str(free_port()),
            "BI_LOGIN": LOGIN,
            "BI_SERVICE_PASSWORD": password,
            "BI_WORKERS": "1",
        }
    )
    bi = [str(BI_PY), str(ROOT / "bi" / "bi.py")]
    try:
        r = _run([*bi, "setup"], env, 600)
        assert r.returncode == 0, "bi.py setup failed"
        secrets_file = tmp_path / "bi" / "bi.env"
        assert secrets_file.stat().st_mode & 0o077 == 0, "bi.env must be private (0600)"
        assert password not in r.stdout + r.stderr, "setup printed the warehouse password"

        # what Superset will see: the login exists and row-level security lets it see provinces
        bi_url = PgUrl.parse(warehouse_db["WAREHOUSE_URL"]).url(user=LOGIN, password=password)
        with psycopg.connect(bi_url) as conn:
            seen = conn.execute("select count(*) from marts.allowance_by_province").fetchone()[0]
            assert seen > 0, (
                f"the central bi_service login {LOGIN} sees no rows of the published marts:"
                " access.role_provinces gives it no province (a bi_service login without"
                " --province needs the '*' mapping)"
            )

        r = _run([*bi, "start"], env, 180)
        assert r.returncode == 0, "bi.py start failed"
        result_file = tmp_path / "check.json"
        r = _run(
            [
                str(BI_PY),
                str(ROOT / "bi" / "check_dashboards.py"),
                "--filter",
                province,
                "--out",
                str(SHOTS),
                "--json",
                str(result_file),
            ],
            env,
            900,
        )
        assert result_file.exists(), "the browser check wrote no result"
        result = json.loads(result_file.read_text(encoding="utf-8"))
        views = {(d["slug"], d["province"]): d for d in result["dashboards"]}
        assert {slug for slug, _ in views} == DASHBOARDS
        for slug in DASHBOARDS:
            for selected in (None, province):
                view = views[(slug, selected)]
                assert view["charts"] >= 5, f"{slug}: only {view['charts']} charts"
                assert not view["problems"], f"{slug} (province {selected}): {view['problems']}"
                assert (SHOTS / f"{slug}{'-' + selected if selected else ''}.png").exists()
            thai = set(views[(slug, None)]["fonts"]) & THAI_FONTS
            assert thai, f"{slug}: the Thai title was drawn with {views[(slug, None)]['fonts']}"
        assert not result["outside_completed"], (
            f"requests left the machine: {result['outside_completed']}"
        )
        assert not result["problems"], result["problems"]
        assert r.returncode == 0
    finally:
        _run([*bi, "stop"], env, 120)
        _drop_login(admin_db)
