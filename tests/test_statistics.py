"""Planner statistics after a load (issue 12): a load ANALYZEs each source's raw table as
soon as that source's batches are done, beside the other sources' batches, and the build
that follows in the same process does not sample those tables again unless something
changed them since; a table loaded elsewhere is always analysed before a build (a new
night outside the histograms gets nested loops that run for minutes)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
from conftest import reset_loaded_data

from dla_pipeline.config import get_settings
from dla_pipeline.db import stale_statistics, take_analysed_after_load
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import load_source_nights, plan_from_scan
from dla_pipeline.transform import ANALYZED, analyze_loaded

NIGHT = date(2026, 8, 3)
LOADED = ["raw.allowance_payments", "raw.tax_receipts"]
COUNTS = (
    "select schemaname || '.' || relname, analyze_count from pg_stat_user_tables"
    " where schemaname in ('raw', 'ops')"
)


def _analyses(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(COUNTS).fetchall())


def _load(settings) -> None:
    plans = {s: plan_from_scan(s, NIGHT, 2, settings) for s in ("allowance", "tax")}
    assert [len(p.batches) for p in plans.values()] == [2, 2]
    jobs = [(source, NIGHT) for source in plans]
    errors = load_source_nights(jobs, lambda s, n: plans[s], "statistics-test", settings, workers=2)
    assert not any(errors.values()), errors


def test_a_load_analyses_its_raw_tables_and_the_build_samples_only_what_it_must(warehouse_db):
    url = warehouse_db["WAREHOUSE_URL"]
    reset_loaded_data(url, Path(warehouse_db["LANDING_DIR"]))
    generate_night(NIGHT, laos=40, seed=3, bad_fraction=0.0)
    settings = get_settings()
    take_analysed_after_load(ANALYZED)  # no mark left by an earlier test
    _load(settings)
    # each loaded table analysed once its own batches were done, and marked so
    assert stale_statistics(settings, LOADED) == []
    before = _analyses(url)
    analyze_loaded(settings)  # the build after the load, in the same process
    after = _analyses(url)
    assert [t for t in ANALYZED if after[t] > before[t]] == [t for t in ANALYZED if t not in LOADED]

    # marks are taken by one build; a change since the load's ANALYZE is sampled again
    _load(settings)  # unchanged files: a no-op load, but analysed and marked again
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "delete from raw.tax_receipts where ctid ="
            " (select ctid from raw.tax_receipts where extract_date = %s limit 1)",
            (NIGHT,),
        )
        conn.execute("select pg_stat_force_next_flush()")
    assert stale_statistics(settings, LOADED) == ["raw.tax_receipts"]
    before = _analyses(url)
    analyze_loaded(settings)
    after = _analyses(url)
    assert after["raw.tax_receipts"] > before["raw.tax_receipts"]
    assert after["raw.allowance_payments"] == before["raw.allowance_payments"]

    # without a mark of this process (a load elsewhere), every table is analysed
    before = _analyses(url)
    analyze_loaded(settings)
    after = _analyses(url)
    assert all(after[t] > before[t] for t in ANALYZED)
