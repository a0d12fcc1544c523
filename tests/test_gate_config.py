"""The gate's configuration as data (expectations/checks.yml): pure tests, no database."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dla_pipeline.config import ConfigError, get_settings
from dla_pipeline.quality import build_expectation, load_checks

N1, N2, N3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def query_of(item: dict, nights: list[date]) -> str:
    return build_expectation(item, nights).unexpected_rows_query


def test_a_night_query_names_every_waiting_night_and_its_params():
    item = {
        "unexpected_rows_expectation": {
            "unexpected_rows_query": (
                "select 1 from {batch} where extract_date in ({nights})"
                " and extract_date between {first_night} and {last_night} and s = '{source}'"
            ),
            "params": {"source": "tax"},
        }
    }
    q = query_of(item, [N3, N1, N2])
    assert "in (date '2026-10-01', date '2026-10-02', date '2026-10-03')" in q
    assert "between date '2026-10-01' and date '2026-10-03'" in q
    assert "s = 'tax'" in q and "{" not in q.replace("{batch}", "")


def test_every_configured_query_is_complete_for_one_night_and_for_many():
    for check in load_checks():
        for item in check.expectations:
            for nights in ([N1], [N1, N2, N3]):
                exp = build_expectation(item, nights)
                query = getattr(exp, "unexpected_rows_query", None) or ""
                assert "{" not in query.replace("{batch}", ""), (check.suite, query)


def test_a_night_check_cannot_use_mostly(tmp_path: Path):
    """A share over all waiting nights is not a share of each night."""
    config = {
        "raw_x": {
            "table": "raw.allowance_payments",
            "batch": "night",
            "expectations": [
                {"expect_column_values_to_not_be_null": {"column": "amount", "mostly": 0.9}}
            ],
        }
    }
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "checks.yml").write_text(yaml.safe_dump(config))
    settings = get_settings().model_copy(update={"root": tmp_path})
    with pytest.raises(ConfigError, match="mostly"):
        load_checks(settings)


def test_sample_values_are_fetched_only_to_describe_a_blocking_failure(monkeypatch):
    """Counts only on the first pass (one query per expectation); a blocking failure is
    validated again with sample values, night by night; a warning is not."""
    from dla_pipeline import quality

    checks = [
        quality.Check("fine", "raw", "t", per_night=True),
        quality.Check("warns", "raw", "t", per_night=True),
        quality.Check("blocks", "raw", "t", per_night=True),
        quality.Check("mart_blocks", "marts_build", "m", per_night=False),
    ]
    calls = []

    def validate(ctx, check, bd, nights, night, run, label, result_format=quality.COUNTS):
        calls.append((label, result_format))
        ok = check.suite == "fine" or (check.suite == "blocks" and nights == [date(2026, 11, 1)])
        severity = "warning" if check.suite == "warns" else "blocking"
        return [quality.Outcome(label, "x", None, severity, ok, "")]

    monkeypatch.setattr(quality, "load_checks", lambda settings: checks)
    monkeypatch.setattr(quality, "point_gate_view", lambda conn, check, nights: None)
    monkeypatch.setattr(quality, "_batch_definition", lambda ds, check: None)
    monkeypatch.setattr(
        quality, "_definition", lambda ctx, check, bd, nights, night: (check, nights)
    )
    monkeypatch.setattr(
        quality,
        "_outcomes",
        lambda vd, run, label, result_format=quality.COUNTS: validate(
            None, vd[0], None, vd[1], None, run, label, result_format
        ),
    )
    nights = [date(2026, 11, 1), date(2026, 11, 2)]
    result = quality.GateResult(nights[-1])
    one_worker = SimpleNamespace(load_workers=1)
    quality._validate_all(None, None, result, nights, nights[-1], None, None, one_worker)

    samples = [label for label, fmt in calls if fmt is quality.SAMPLES]
    assert samples == ["blocks[2026-11-01]", "blocks[2026-11-02]", "mart_blocks"]
    assert quality.COUNTS["partial_unexpected_count"] == 0
    assert [o.suite for o in result.blocking_failures] == ["blocks[2026-11-02]", "mart_blocks"]


def test_outcomes_follow_checks_yml_a_missing_table_in_its_place(monkeypatch):
    """The checks run side by side, but the report lists them as checks.yml does: a
    table that is missing blocks in its own place, not first."""
    from dla_pipeline import quality

    checks = [quality.Check(s, "marts_build", s, per_night=False) for s in ("a", "b", "c")]

    def batch_definition(ds, check):
        if check.suite == "b":
            raise LookupError("relation marts_build.b does not exist")
        return check.suite

    monkeypatch.setattr(quality, "load_checks", lambda settings: checks)
    monkeypatch.setattr(quality, "_batch_definition", batch_definition)
    monkeypatch.setattr(quality, "_definition", lambda ctx, check, bd, nights, night: check)
    monkeypatch.setattr(
        quality,
        "_outcomes",
        lambda vd, run, label, result_format=quality.COUNTS: [
            quality.Outcome(label, "x", None, "blocking", True, "")
        ],
    )
    result = quality.GateResult(date(2026, 11, 2))
    one_worker = SimpleNamespace(load_workers=1)
    quality._validate_all(None, None, result, [], date(2026, 11, 2), None, None, one_worker)
    assert [(o.suite, o.expectation) for o in result.outcomes] == [
        ("a", "x"),
        ("b", "table_exists"),
        ("c", "x"),
    ]
    assert [o.suite for o in result.blocking_failures] == ["b"]


def test_every_night_suite_belongs_to_one_source():
    """A night's summary counts each night suite's results for its source
    (``night._night_suite_of``): a suite named otherwise would drop out of it silently."""
    from dla_pipeline.contract import SOURCES
    from dla_pipeline.night import _night_suite_of

    for check in load_checks():
        owners = [s for s in SOURCES if _night_suite_of(f"{check.suite}[2026-11-05]", s)]
        if check.per_night:
            assert len(owners) == 1, (check.suite, owners)
        else:
            assert owners == [], (check.suite, owners)
