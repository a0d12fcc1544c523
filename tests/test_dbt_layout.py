"""The dbt project's layout (pure, no database): one YAML beside each model, which
describes that model alone and holds its unit tests."""

from pathlib import Path

import pytest
import yaml

MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
SQL = sorted(MODELS.rglob("*.sql"))


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@pytest.mark.parametrize("sql", SQL, ids=lambda p: p.stem)
def test_every_model_has_its_own_yaml_beside_it(sql):
    beside = sql.with_suffix(".yml")
    assert beside.is_file(), f"{sql.relative_to(MODELS)}: add {beside.name} beside it"
    doc = _yaml(beside)
    names = [m["name"] for m in doc.get("models", [])]
    assert names == [sql.stem], f"{beside.name} should describe {sql.stem} alone, not {names}"
    assert doc["models"][0].get("description"), f"{beside.name}: the model has no description"
    for test in doc.get("unit_tests", []):
        assert test["model"] == sql.stem, (
            f"{beside.name}: unit test {test['name']} is for another model"
        )


def test_no_yaml_describes_a_model_that_is_not_beside_it():
    for path in MODELS.rglob("*.yml"):
        for model in _yaml(path).get("models", []):
            assert (path.parent / f"{model['name']}.sql").is_file(), (
                f"{path.relative_to(MODELS)} describes {model['name']}, which is not beside it"
            )


STAGED_RAW = sorted(p for p in (MODELS / "staging").glob("stg_*.yml") if "reference" not in p.stem)
CHECKS = MODELS.parents[1] / "expectations" / "checks.yml"


@pytest.mark.parametrize("path", STAGED_RAW, ids=lambda p: p.stem)
def test_raw_nights_are_checked_by_the_gate_not_again_by_dbt(path):
    """A data test on a staging view of raw runs before the night's models may start (dbt
    build waits for a parent's tests: ~2 s of a national night, 1 M lines a test) and
    repeats the loader's contract and the gate's raw suite, which checks every pending
    night. The raw nights have one owner: the gate."""
    (model,) = _yaml(path)["models"]
    # `tests:` is dbt's older name for `data_tests:`
    tested = [c["name"] for c in model.get("columns", []) if c.get("data_tests") or c.get("tests")]
    assert not (model.get("data_tests") or model.get("tests")) and not tested, (
        f"{path.name}: move these checks to the gate's raw suite in checks.yml: {tested}"
    )


def test_the_gate_checks_what_the_allowance_contract_promises():
    """What the staging tests used to check, each night: now the gate's, on every pending
    night."""
    suite = yaml.safe_load(CHECKS.read_text(encoding="utf-8"))["raw_allowance_night"]
    # blocking ones (a warning would publish what the staging tests used to stop)
    kinds = {
        (name, (kwargs or {}).get("column"))
        for item in suite["expectations"]
        if item.get("severity", "blocking") == "blocking"
        for name, kwargs in item.items()
        if isinstance(kwargs, dict)
    }
    for column in ("person_key", "lao_code", "amount"):
        assert ("expect_column_values_to_not_be_null", column) in kinds
    for column in ("status", "channel", "birth_date_precision"):
        assert ("expect_column_values_to_be_in_set", column) in kinds
    assert ("expect_column_values_to_be_between", "amount") in kinds
    queries = " ".join(
        item["unexpected_rows_expectation"]["unexpected_rows_query"]
        for item in suite["expectations"]
        if "unexpected_rows_expectation" in item and item.get("severity") != "warning"
    )
    assert "staging.dla_lao_registry" in queries  # every LAO in the registry


def test_the_profile_builds_as_many_models_at_once_as_the_settings_say():
    """DBT_THREADS (settings) reaches dbt's profile through ``transform.dbt_env``; unset,
    dbt builds two models at once, as before the setting existed."""
    from jinja2 import Environment

    from dla_pipeline.config import Settings
    from dla_pipeline.transform import dbt_env

    text = (MODELS.parent / "profiles.yml").read_text(encoding="utf-8")

    def threads(env: dict) -> int:
        rendered = Environment().from_string(text).render(env_var=lambda k, d=None: env.get(k, d))
        return int(yaml.safe_load(rendered)["dla_warehouse"]["outputs"]["warehouse"]["threads"])

    settings = Settings(
        warehouse_url="postgresql://dla_owner:x@127.0.0.1:55432/dla",
        pseudonym_key="k" * 32,
        dla_transformer_password="x",
        dbt_threads=5,
    )
    assert threads(dbt_env(settings)) == 5
    assert threads({}) == 2 == Settings.model_fields["dbt_threads"].default
