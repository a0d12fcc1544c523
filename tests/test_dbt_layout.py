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
