"""The gate's unexpected-rows expectation against the real server: its query runs once
when the gate only counts, and the rows come along only when it describes a failure."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import psycopg
import pytest

from dla_pipeline.quality import COUNTS, SAMPLES, build_expectation

NIGHT = date(2026, 11, 5)
ITEM = {
    "unexpected_rows_expectation": {
        "unexpected_rows_query": (
            "select x from {batch} where nextval('gx_probe.runs') > 0 and x > {limit}"
        ),
        "params": {"limit": 5},
        "description": "x stays at most 5",
    }
}


@pytest.fixture
def rows_once(warehouse_db):
    """A one-row table whose query advances a sequence each time the server runs it."""
    gx = pytest.importorskip("great_expectations")
    url = warehouse_db["WAREHOUSE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists gx_probe")
        conn.execute("drop table if exists gx_probe.one_row")
        conn.execute("drop sequence if exists gx_probe.runs")
        conn.execute("create table gx_probe.one_row as select 7 as x")
        conn.execute("create sequence gx_probe.runs")
    ctx = gx.get_context(mode="ephemeral")
    ds = ctx.data_sources.add_postgres("probe", connection_string=url)
    bd = ds.add_table_asset(
        "one_row", table_name="one_row", schema_name="gx_probe"
    ).add_batch_definition_whole_table("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name="probe"))
    suite.add_expectation(build_expectation(ITEM, [NIGHT]))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="probe", data=bd, suite=suite))

    def runs() -> int:
        with psycopg.connect(url) as conn:
            return conn.execute(
                "select case when is_called then last_value else 0 end from gx_probe.runs"
            ).fetchone()[0]

    # the gate's own path (quality._definition, then _outcomes) goes through the same
    # context and batch
    yield SimpleNamespace(vd=vd, runs=runs, ctx=ctx, bd=bd)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema gx_probe cascade")


def test_counting_runs_the_query_once(rows_once):
    vd, runs = rows_once.vd, rows_once.runs
    (result,) = vd.run(result_format=COUNTS).results
    assert not result.success
    assert result.result == {"observed_value": 1}  # no rows fetched to be thrown away
    assert result.expectation_config.description == "x stays at most 5"
    assert runs() == 1  # GX's own UnexpectedRowsExpectation: 2 (the rows, then their count)


def test_describing_a_failure_shows_the_rows(rows_once):
    vd, runs = rows_once.vd, rows_once.runs
    (result,) = vd.run(result_format=SAMPLES).results
    assert not result.success
    assert result.result["observed_value"] == 1
    assert result.result["details"]["unexpected_rows"] == [{"x": 7}]
    assert runs() == 2  # the count and the rows


@pytest.mark.parametrize(
    ("result_format", "runs_after", "rows"),
    [
        ("BOOLEAN_ONLY", 1, None),
        ("BASIC", 1, None),
        ({"result_format": "COMPLETE"}, 2, [{"x": 7}]),
    ],
)
def test_other_result_formats(rows_once, result_format, runs_after, rows):
    """BOOLEAN_ONLY and BASIC count only; COMPLETE has every fetched row, as GX's own."""
    vd, runs = rows_once.vd, rows_once.runs
    (result,) = vd.run(result_format=result_format).results
    assert not result.success and runs() == runs_after
    assert (result.result or {}).get("details", {}).get("unexpected_rows") == rows


@pytest.mark.parametrize(
    ("result_format", "observed", "runs_after"),
    [(COUNTS, "1", 1), (SAMPLES, '{"unexpected": 1, "e.g.": [{"x": 7}]}', 2)],
    ids=["counts", "samples"],
)
def test_the_gate_reports_it_as_checks_yml_names_it(rows_once, result_format, observed, runs_after):
    """Through the gate's own validation: the outcome carries the configured name (not the
    class's), the count as observed value, and the rows as JSON when describing a failure."""
    from great_expectations.core.run_identifier import RunIdentifier

    from dla_pipeline.quality import Check, _definition, _outcomes

    runs = rows_once.runs
    check = Check("probe", "gx_probe", "one_row", False, (ITEM,))
    run = RunIdentifier(run_name="probe")
    vd = _definition(rows_once.ctx, check, rows_once.bd, [NIGHT], NIGHT)
    (outcome,) = _outcomes(vd, run, "probe", result_format)
    assert outcome.expectation == "unexpected_rows_expectation"
    assert not outcome.success and outcome.severity == "blocking"
    assert outcome.observed == observed
    assert outcome.description == "x stays at most 5"
    assert runs() == runs_after
