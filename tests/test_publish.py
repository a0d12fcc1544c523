"""Write-audit-publish: analysts only ever see checked nights, all at once."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import reset_loaded_data

from dla_pipeline import steps
from dla_pipeline.config import SOURCES
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import load_night
from dla_pipeline.quality import QualityGateFailed
from dla_pipeline.transform import build

A, B, C = date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6)
STATE = (
    "select (select count(*) from {s}.allowance_by_lao_period),"
    " (select coalesce(sum(amount_paid), 0) from {s}.allowance_by_province),"
    " (select count(*) from {s}.reporting_compliance)"
)


def analyst_view(url: str) -> dict:
    """Every published mart, in full, as the analyst sees it."""
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
                " order by 1"
            )
        ]
        return {
            n: conn.execute(f'select * from marts."{n}" order by 1, 2, 3').fetchall()
            if n not in ("data_as_of",)
            else conn.execute(f'select * from marts."{n}"').fetchall()
            for n in names
        }


def night(d: date) -> None:
    for source in SOURCES:
        load_night(source, d)


def poison(owner_url: str, d: date) -> None:
    """A row that parses but fails the raw suite (95,000 baht for one month)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            "update raw.allowance_payments set amount = 95000 where ctid = (select ctid from"
            " raw.allowance_payments where extract_date = %s limit 1)",
            (d,),
        )


@pytest.fixture(scope="module")
def first_published(warehouse_db):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    for d in (A, B, C):
        generate_night(d, laos=60, seed=5, bad_fraction=0.01)
    night(A)
    build(A, full_refresh=True)
    steps.quality_gate(A, "A")
    steps.publish_marts(A, "A")
    return warehouse_db


def test_a_bad_night_never_reaches_analysts_not_even_through_the_next_night(first_published):
    db = first_published
    before = analyst_view(db["ANALYST_URL"])
    assert before["allowance_by_lao_period"], "night A was published"

    night(B)
    poison(db["WAREHOUSE_URL"], B)
    build(B)
    with pytest.raises(QualityGateFailed) as err:
        steps.quality_gate(B, "B")
    assert "raw_allowance_night[2026-05-05]" in str(err.value)
    assert "expect_column_values_to_be_between on amount" in str(err.value)
    assert analyst_view(db["ANALYST_URL"]) == before  # byte-identical: every mart, every row

    # night C is clean, but B's rows are in the facts: C must not publish them
    night(C)
    build(C)
    with pytest.raises(QualityGateFailed, match=r"raw_allowance_night\[2026-05-05\]"):
        steps.quality_gate(C, "C")
    assert analyst_view(db["ANALYST_URL"]) == before

    # the LAO re-sends B: the next run publishes B and C together
    with psycopg.connect(db["WAREHOUSE_URL"], autocommit=True) as conn:
        conn.execute("delete from ops.files where extract_date = %s and source = 'allowance'", (B,))
    load_night("allowance", B)
    build(C)
    steps.quality_gate(C, "C2")
    # both waiting nights were checked together: each night expectation ran once, over both
    with psycopg.connect(db["WAREHOUSE_URL"]) as conn:
        suites = conn.execute(
            "select suite, count(*) from ops.quality_results where run_id = 'C2'"
            " and suite like 'raw_allowance_night%%' group by suite"
        ).fetchall()
    assert [s for s, _ in suites] == ["raw_allowance_night[2026-05-05..2026-05-06]"], suites
    steps.publish_marts(C, "C2")
    after = analyst_view(db["ANALYST_URL"])
    assert after != before
    published_before = {r[0] for r in before["published_nights"]}
    published = {r[0] for r in after["published_nights"]}
    assert A in published_before and B not in published_before and C not in published_before
    assert {A, B, C} <= published
    assert after["data_as_of"][0][0] >= C


def test_readers_during_a_publish_see_old_or_new_never_a_mix(first_published):
    db = first_published
    with psycopg.connect(db["ANALYST_URL"]) as conn:
        old = conn.execute(STATE.format(s="marts")).fetchone()
    # a new state: rebuild after one more LAO re-sends a smaller file
    landing = Path(db["LANDING_DIR"]) / "allowance" / C.isoformat()
    f = max(landing.glob("*.csv"), key=lambda p: p.stat().st_size)
    lines = f.read_bytes().splitlines(keepends=True)
    f.write_bytes(b"".join(lines[: len(lines) // 2]))
    load_night("allowance", C)
    build(C)
    steps.quality_gate(C, "D")
    with psycopg.connect(db["WAREHOUSE_URL"]) as conn:
        new = conn.execute(STATE.format(s="marts_build")).fetchone()
    assert new != old

    seen: list[tuple] = []
    stop = threading.Event()

    def reader():
        with psycopg.connect(db["ANALYST_URL"], autocommit=True) as conn:
            while not stop.is_set():
                seen.append(conn.execute(STATE.format(s="marts")).fetchone())

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        steps.publish_marts(C, "D")
        with psycopg.connect(db["ANALYST_URL"]) as conn:
            final = conn.execute(STATE.format(s="marts")).fetchone()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert final == new
    assert seen and set(seen) <= {old, new}, set(seen) - {old, new}


def test_analyst_views_on_marts_survive_a_publish(first_published):
    db = first_published
    admin_schema = "analyst_sandbox"
    with psycopg.connect(db["WAREHOUSE_URL"], autocommit=True) as conn:
        conn.execute(f"create schema if not exists {admin_schema}")
        conn.execute(
            f"create or replace view {admin_schema}.my_allowance as"
            " select province_code, sum(amount_paid) as paid"
            " from marts.allowance_by_province group by 1"
        )
    build(C)
    steps.quality_gate(C, "E")
    steps.publish_marts(C, "E")
    with psycopg.connect(db["WAREHOUSE_URL"]) as conn:
        assert conn.execute(f"select count(*) from {admin_schema}.my_allowance").fetchone()[0] > 0
        # superseded versions are cleaned up: one stored table per mart
        stored = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts_store'"
        ).fetchone()[0]
        marts = conn.execute(
            "select count(*) from information_schema.views"
            " where table_schema in ('marts', 'restricted') and table_name <> 'data_as_of'"
        ).fetchone()[0]
        assert stored == marts


@pytest.mark.parametrize(
    "mart", ["restricted_build.allowance_by_lao_period_detail", "marts_build.allowance_by_province"]
)
def test_a_mart_whose_baht_do_not_reconcile_is_blocked_and_named(first_published, mart):
    """The allowance marts reconcile in a chain: the LAO detail with the fact, the
    provinces with the LAO detail. One baht off in either blocks the night."""
    db = first_published
    build(C)
    with psycopg.connect(db["WAREHOUSE_URL"], autocommit=True) as conn:
        conn.execute(
            f"update {mart} set amount_paid = amount_paid + 1"
            f" where ctid = (select ctid from {mart} where amount_paid > 0 limit 1)"
        )
    suite = mart.split(".")[1]
    with pytest.raises(QualityGateFailed, match=rf"{suite}: unexpected_rows_expectation") as err:
        steps.quality_gate(C, f"reconcile-{suite}")
    assert "reconciliation" in str(err.value)
    # the failure shows the rows that differ, as JSON
    assert '{"unexpected": 1, "e.g.": [{"mart": ' in str(err.value)
    build(C, full_refresh=True)  # the marts as they should be, for what follows


_SPIED: dict = {}


def _spy_run_forked(i: int):
    """quality._run_forked, noting the worker's pid (module level: the pool pickles it by
    name)."""
    import os

    with _SPIED["pids"].open("a") as f:
        f.write(f"{os.getpid()}\n")
    return _SPIED["run"](i)


def test_the_gate_runs_its_checks_side_by_side_and_finds_the_same(
    first_published, monkeypatch, tmp_path
):
    """The gate's checks run in forked workers, one per core: their outcomes, in order,
    are those of one process running them one after the other, and the parent's own
    connections (the gate lock, the night's) are untouched by the workers."""
    import os
    from dataclasses import astuple

    from dla_pipeline import quality
    from dla_pipeline.config import get_settings

    _SPIED.update(pids=tmp_path / "pids", run=quality._run_forked)
    monkeypatch.setattr(quality, "_run_forked", _spy_run_forked)
    settings = get_settings()
    with psycopg.connect(first_published["WAREHOUSE_URL"]) as held:
        two = quality.run_gate(C, "two", settings.model_copy(update={"load_workers": 2}))
        one = quality.run_gate(C, "one", settings.model_copy(update={"load_workers": 1}))
        assert held.execute("select 1").fetchone() == (1,)
    assert [astuple(o) for o in two.outcomes] == [astuple(o) for o in one.outcomes]
    assert len(two.outcomes) > 20
    workers = set(_SPIED["pids"].read_text().split())
    assert len(workers) == 2 and str(os.getpid()) not in workers


def _backend_pid(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("select pg_backend_pid()")).scalar()


def _child_backend_pid(_: int) -> int:
    return _backend_pid(_SPIED["engine"])


def test_a_forked_gate_worker_never_shares_the_parents_pooled_connection(first_published):
    """The recipe the gate's workers rely on: a connection pooled in the parent is not
    used by a forked child (it opens its own), and the parent's stays usable."""
    from multiprocessing import get_context

    from sqlalchemy import create_engine

    from dla_pipeline import quality

    quality._pools_stay_in_their_process()
    url = first_published["WAREHOUSE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    parent = _backend_pid(engine)  # now pooled, idle
    _SPIED["engine"] = engine  # inherited by the fork
    with get_context("fork").Pool(1) as pool:
        child = pool.apply(_child_backend_pid, (0,))
    assert child != parent
    assert _backend_pid(engine) == parent
    engine.dispose()


def test_a_night_loaded_after_the_build_is_not_published_with_it(first_published):
    """A night loaded while another night is checked is not in that build's marts: it
    stays waiting for the gate that checks it, instead of being marked published unchecked
    (and then published by a later night whose gate no longer looks at it)."""
    from dla_pipeline import ledger
    from dla_pipeline.db import connect

    db = first_published
    d, e = date(2026, 5, 7), date(2026, 5, 8)
    for n in (d, e):
        generate_night(n, laos=60, seed=5, bad_fraction=0.01)
    night(d)
    build(d)
    steps.quality_gate(d, "D")
    night(e)  # loaded after D's build began
    poison(db["WAREHOUSE_URL"], e)
    steps.publish_marts(d, "D")
    view = analyst_view(db["ANALYST_URL"])
    published = {r[0] for r in view["published_nights"]}
    assert d in published and e not in published
    with connect(role="gate") as conn:
        assert e in ledger.pending_nights(conn)
    # e's own run checks it: its bad row blocks, as it would have without the race
    build(e)
    with pytest.raises(QualityGateFailed, match=r"raw_allowance_night\[2026-05-08\]"):
        steps.quality_gate(e, "E")
    assert analyst_view(db["ANALYST_URL"]) == view


def test_a_build_after_the_gate_is_not_published_under_that_gate(first_published):
    """Night F's gate passes its build; another run's build replaces marts_build before F
    publishes: F's publish refuses (that build was never checked) and publishes nothing,
    and after its own gate the same build is published."""
    from dla_pipeline.publish import PublishRefused

    db = first_published
    f = date(2026, 5, 9)
    generate_night(f, laos=60, seed=5, bad_fraction=0.01)
    with psycopg.connect(db["WAREHOUSE_URL"], autocommit=True) as conn:  # e's re-send: clean
        conn.execute(
            "delete from ops.files where extract_date = '2026-05-08' and source = 'allowance'"
        )
    load_night("allowance", date(2026, 5, 8))
    night(f)
    build(f)
    steps.quality_gate(f, "F")
    build(f)  # another run's build, after F's gate
    before = analyst_view(db["ANALYST_URL"])
    with pytest.raises(PublishRefused, match="rebuilt .* after this run's gate passed"):
        steps.publish_marts(f, "F")
    assert analyst_view(db["ANALYST_URL"]) == before
    with pytest.raises(PublishRefused, match="no quality gate recorded"):
        steps.publish_marts(f, "never-gated")
    steps.quality_gate(f, "F2")
    steps.publish_marts(f, "F2")
    published = {r[0] for r in analyst_view(db["ANALYST_URL"])["published_nights"]}
    assert {date(2026, 5, 8), f} <= published
