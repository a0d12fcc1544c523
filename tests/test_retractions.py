"""A re-sent file replaces its LAO-night everywhere, marts included, in the same night:
retracted rows leave facts, aggregates and marts without a full refresh, and the
incremental result equals a full refresh."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import TEST_DB, reset_loaded_data, write_extract

from dla_pipeline import warehouse
from dla_pipeline.config import SOURCES
from dla_pipeline.generator import make_thai_id
from dla_pipeline.ingest import load_night
from dla_pipeline.transform import DbtFailed, build, run_dbt

NIGHT = "2026-11-05"
D = date.fromisoformat(NIGHT)
X, Y = "6110111", "6110112"
P1, P2 = make_thai_id("310050012345"), make_thai_id("310050012346")
AH = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
TH = "receipt_no,receipt_date,account_code,revenue_type,parcel_id,taxpayer_id,amount,fiscal_year,status"
VH = "village_no,species,surveyed,owned,ownerless,vaccinated,vaccination_date,fiscal_year"
TID = make_thai_id("010555012345")


def allowance(*periods: str, person: str = P1) -> str:
    rows = [f"{person},12/03/2490,{p},800,05/11/2569,bank_transfer,paid" for p in periods]
    rows.append(f"{P2},12/03/2490,11/2569,600,05/11/2569,cash,paid")  # a finding: tier mismatch
    return "\n".join([AH, *rows]) + "\n"


def tax(*receipts: str) -> str:
    return (
        "\n".join([TH, *(f"{r},01/11/2569,41100003,,,{TID},200,2570,paid" for r in receipts)])
        + "\n"
    )


def vaccination(*villages: int) -> str:
    return "\n".join([VH, *(f"{v},dog,10,9,1,8,01/11/2569,2570" for v in villages)]) + "\n"


FACTS = {
    "core.fct_allowance_payments": "lao_code, payment_period, person_key",
    "core.agg_allowance_lao_period": "lao_code, payment_period, age_tier",
    "core.fct_allowance_line_findings": "finding, lao_code, payment_period, person_key",
    "core.fct_allowance_multi_lao": "person_key, payment_period, lao_code",
    "core.fct_tax_receipts": "lao_code, receipt_no",
    "core.fct_vaccination_reports": "lao_code, village_no, species",
    "core.agg_submissions_province_night": "source, extract_date, province_code",
    "core.fct_missing_submissions": "source, extract_date, lao_code",
    "marts_build.allowance_by_lao_period": "lao_code, payment_period, age_tier",
    "marts_build.allowance_by_province": "province_code, payment_period, age_tier",
    "restricted_build.allowance_findings": "finding, lao_code, payment_period, person_key",
    "restricted_build.revenue_by_lao_account_detail": "lao_code, account_code",
    "marts_build.rabies_coverage_by_lao": "lao_code, fiscal_year_be",
    "marts_build.rabies_coverage_by_province": "province_code, fiscal_year_be",
    "core.agg_allowance_findings_lao_period": "lao_code, payment_period, finding_group",
    "core.reporting_lao_nights": "lao_code, extract_date",
    "core.agg_reporting_lao_fy": "lao_code, fiscal_year_be",
    "marts_build.lao_followup": "lao_code",
    "marts_build.province_summary": "province_code, fiscal_year_be",
}
# the findings counted per group by the build equal the rows of allowance_findings
FINDINGS_ROWS = (
    "select lao_code, payment_period, finding = 'paid_by_two_laos', count(*)"
    " from restricted_build.allowance_findings group by 1, 2, 3 order by 1, 2, 3"
)
FINDINGS_KEPT = (
    "select lao_code, payment_period, finding_group = 'paid_by_two_laos', findings"
    " from core.agg_allowance_findings_lao_period order by 1, 2, 3"
)


def snapshot(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"select * from {t} order by {k}").fetchall() for t, k in FACTS.items()
        }


def night() -> None:
    for source in SOURCES:
        load_night(source, D)
    build(D)


@pytest.fixture()
def built(warehouse_db, landing):
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    write_extract(landing, "allowance", NIGHT, f"{X}.csv", allowance("10/2569", "11/2569"))
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("11/2569"))  # P1 in X and Y
    write_extract(landing, "tax", NIGHT, f"{X}.csv", tax("R1", "R2"))
    write_extract(landing, "vaccination", NIGHT, f"{X}.csv", vaccination(1, 2))
    for source in SOURCES:
        load_night(source, D)
    build(D, full_refresh=True)
    return warehouse_db


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def assert_equals_full_refresh(url: str) -> None:
    incremental = snapshot(url)
    with psycopg.connect(url) as conn:
        assert conn.execute(FINDINGS_KEPT).fetchall() == conn.execute(FINDINGS_ROWS).fetchall()
    build(D, full_refresh=True)
    full = snapshot(url)
    for table in FACTS:
        assert incremental[table] == full[table], f"{table}: incremental != full refresh"


def test_a_header_only_resend_empties_the_lao_night(built, landing):
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{X}.csv", AH + "\n")
    night()
    for table in (
        "core.fct_allowance_payments",
        "core.agg_allowance_lao_period",
        "marts_build.allowance_by_lao_period",
        "restricted_build.allowance_findings",
    ):
        assert count(url, f"select count(*) from {table} where lao_code = '{X}'") == 0, table
    # P1 is no longer paid by two LAOs
    assert count(url, "select count(*) from core.fct_allowance_multi_lao") == 0
    assert count(url, "select count(*) from raw.allowance_payments_retracted") == 3
    assert_equals_full_refresh(url)


def test_a_resend_that_drops_a_period(built, landing):
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{X}.csv", allowance("11/2569"))
    night()
    periods = count(
        url,
        "select count(distinct payment_period) from marts_build.allowance_by_lao_period"
        f" where lao_code = '{X}'",
    )
    assert periods == 1
    assert (
        count(
            url,
            "select count(*) from core.agg_allowance_lao_period where payment_period = '2026-10-01'",
        )
        == 0
    )
    assert_equals_full_refresh(url)


def test_a_resend_that_drops_a_receipt(built, landing):
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "tax", NIGHT, f"{X}.csv", tax("R1"))
    night()
    assert count(url, "select count(*) from core.fct_tax_receipts where receipt_no = 'R2'") == 0
    assert (
        count(
            url, "select sum(amount_ytd)::int from restricted_build.revenue_by_lao_account_detail"
        )
        == 200
    )
    assert_equals_full_refresh(url)


def test_a_resend_that_drops_a_village(built, landing):
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "vaccination", NIGHT, f"{X}.csv", vaccination(1))
    night()
    assert count(url, "select count(*) from core.fct_vaccination_reports where village_no = 2") == 0
    assert (
        count(url, "select sum(surveyed)::int from marts_build.rabies_coverage_by_province") == 10
    )
    assert_equals_full_refresh(url)


def test_a_rejected_resend_replaces_the_lao_night_too(built, landing):
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "tax", NIGHT, f"{X}.csv", b"<html>502 Bad Gateway</html>")
    night()
    assert count(url, "select count(*) from core.fct_tax_receipts") == 0
    assert_equals_full_refresh(url)


def test_the_next_build_after_a_failed_one_catches_up(built, landing, monkeypatch):
    """A model that did not consume a change (its build failed) consumes it next time."""
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{X}.csv", allowance("11/2569"))
    load_night("allowance", D)
    with psycopg.connect(url, autocommit=True) as conn:  # only the fact consumed the change
        conn.execute(
            "update core.model_watermarks set change_id = change_id - 1"
            " where model <> 'fct_allowance_payments'"
        )
    build(D)
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", AH + "\n")
    night()
    assert_equals_full_refresh(url)


def test_the_touched_groups_and_people_are_found_once_and_analysed(built, landing):
    """One table per key kind holds what the build's changes touched (not every model
    finding it again); it is analysed, so the planner sees its size, not a guess."""
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("10/2569"))
    night()
    with psycopg.connect(url) as conn:
        groups = conn.execute(
            "select lao_code, payment_period::text from core.allowance_touched_groups order by 1, 2"
        ).fetchall()
        people = conn.execute(
            "select count(*) from core.allowance_touched_people where payment_period = '2026-10-01'"
        ).fetchone()[0]
        tuples = conn.execute(
            "select reltuples from pg_class where oid = 'core.allowance_touched_groups'::regclass"
        ).fetchone()[0]
    # the re-sent Y brought 10/2569 and (P2) 11/2569 back; its old 11/2569 rows left
    assert groups == [(Y, "2026-10-01"), (Y, "2026-11-01")]
    assert people == 1
    assert tuples == 2  # analysed: a table never analysed says -1
    assert_equals_full_refresh(url)


GROUP_MODELS = (
    "agg_allowance_lao_period",
    "fct_allowance_line_findings",
    "agg_allowance_findings_lao_period",
)


def test_the_touched_periods_are_constants_the_planner_can_use(built, landing):
    """The models that recompute the touched (LAO, period) groups name the touched periods
    as constants beside the join: the planner then reads those periods' rows through the
    fact's (payment_period, lao_code) index. Without them it scanned every period of
    history (three months: 20 s of a night's findings instead of 5)."""
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("10/2569"))
    night()
    results = run_dbt(["compile", "--select", " ".join(GROUP_MODELS)])
    compiled = {r.node.name: r.node.compiled_code for r in results if r.node.name in GROUP_MODELS}
    assert sorted(compiled) == sorted(GROUP_MODELS)
    for model, code in compiled.items():
        wanted = "payment_period in (date '2026-10-01', date '2026-11-01')"
        assert wanted in code, f"{model}: {code}"
    assert_equals_full_refresh(built["WAREHOUSE_URL"])


def test_a_model_refuses_touched_keys_left_by_an_earlier_build(built, landing):
    """A partial run of a model after new loads would consume changes it never saw."""
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("10/2569"))
    load_night("allowance", D)
    for model in ("agg_allowance_lao_period", "fct_allowance_multi_lao", "allowance_findings"):
        with pytest.raises(DbtFailed, match="was not built in this build"):
            run_dbt(["run", "--select", model], night=D)
    build(D)  # the whole build catches up
    # P1 in 10/2569 and P2 in 11/2569 are now each paid by X and Y
    assert count(url, "select count(*) from core.fct_allowance_multi_lao") == 4
    assert_equals_full_refresh(url)


def _multi_lao_sql() -> str:
    """fct_allowance_multi_lao as the last build compiled it."""
    from dla_pipeline.config import get_settings

    target = Path(os.environ.get("DBT_TARGET_PATH") or get_settings().dbt_dir / "target")
    return (target / "compiled/dla_warehouse/models/core/fct_allowance_multi_lao.sql").read_text()


@pytest.mark.parametrize(
    ("lookup_max", "lookups", "hash_join"),
    [(None, True, False), (0, False, True), (1, True, True)],
    ids=["lookups", "hash join", "lookups for October, a hash join for November"],
)
def test_multi_lao_by_lookups_or_one_hash_join(
    built, landing, monkeypatch, tmp_path, lookup_max, lookups, hash_join
):
    """A period's few touched people are looked up one by one through the person index; a
    period with more than multi_lao_lookup_max_people (a national night's month, a
    backfill) goes through one hash join with that period's lines. The re-send below
    touches one person in 10/2569 and two in 11/2569. Every way finds the same people paid
    by two LAOs."""
    from dla_pipeline import transform

    # dbt's log of this night alone (the shared one rotates at 10 MB and other builds write it)
    env = transform.dbt_env
    monkeypatch.setattr(transform, "dbt_env", lambda s: {**env(s), "DBT_LOG_PATH": str(tmp_path)})
    if lookup_max is not None:
        real = transform.run_dbt

        def with_threshold(args, settings=None, night=None, extra_vars=None, **kw):
            extra = {**(extra_vars or {}), "multi_lao_lookup_max_people": lookup_max}
            return real(args, settings, night, extra, **kw)

        monkeypatch.setattr(transform, "run_dbt", with_threshold)
    url = built["WAREHOUSE_URL"]
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("10/2569"))
    night()
    compiled = _multi_lao_sql()
    # (one lateral join more in every way: the multi-LAO people's lines read again)
    assert compiled.count("cross join lateral") == 1 + lookups
    assert ("and exists (" in compiled) == hash_join
    if lookups and hash_join:
        assert "where t.payment_period in ('2026-10-01'::date)" in compiled
        assert "f.payment_period in ('2026-11-01'::date)" in compiled
    # the pre-hook turns bitmaps off for lookups only; a hash join keeps the planner's way
    executed = (tmp_path / "dbt.log").read_text(encoding="utf-8", errors="replace")
    assert "fct_allowance_multi_lao" in executed
    assert ("enable_bitmapscan = off" in executed) == (lookups and not hash_join)
    # P1 in 10/2569 and P2 in 11/2569 are now each paid by X and Y
    assert count(url, "select count(*) from core.fct_allowance_multi_lao") == 4
    assert_equals_full_refresh(url)


def indexes(url: str, table: str) -> set[str]:
    """An incremental table's indexes as `col,col` lists (constraints' indexes left out)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select pg_get_indexdef(indexrelid) from pg_index where indrelid = %s::regclass",
            (table,),
        ).fetchall()
    return {r[0].split(" USING btree (", 1)[1][:-1].replace(" ", "") for r in rows}


def test_an_incremental_build_brings_the_indexes_back_to_the_config(built, landing):
    """dbt creates a model's indexes only with the table: a warehouse built before an index
    was added or retired would keep the old set (and pay for it each night) until a full
    refresh. The next incremental build drops what the config no longer lists, a hand-made
    index included, and creates what it lists but the table lacks."""
    url = built["WAREHOUSE_URL"]
    table = "core.fct_allowance_payments"
    configured = indexes(url, table)
    assert configured == {
        "extract_date,lao_code",
        "payment_period,lao_code",
        "payment_period,hashtext(person_key)",
    }
    with psycopg.connect(warehouse.admin_conninfo(dbname=TEST_DB), autocommit=True) as conn:
        person = conn.execute(
            "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass"
            " and pg_get_indexdef(indexrelid) like '%%(payment_period, hashtext(person_key))'",
            (table,),
        ).fetchone()[0]
        conn.execute(f"drop index {person}")
        conn.execute(f"create index retired_loaded_at on {table} (loaded_at)")
        conn.execute(f"create index by_hand on {table} (lower(lao_code))")
    assert indexes(url, table) == {
        "extract_date,lao_code",
        "payment_period,lao_code",
        "loaded_at",
        "lower(lao_code)",
    }
    kept = index_names(url, table)
    write_extract(landing, "allowance", NIGHT, f"{Y}.csv", allowance("10/2569"))
    night()
    assert indexes(url, table) == configured
    synced = index_names(url, table)
    # the two indexes already in the config were kept, not rebuilt
    assert kept - {"core.retired_loaded_at", "core.by_hand"} < synced
    build(D)  # in step: nothing dropped or created
    assert index_names(url, table) == synced


def index_names(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for r in conn.execute(
                "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass",
                (table,),
            )
        }


def test_findings_counts_are_recounted_after_an_erasure_removed_a_finding(built):
    """A line finding an erasure deletes outside dbt (normally the rebuild has removed it)
    is taken off the counts in the same transaction; their watermark stays (dropping it
    would make the next build recount every group of history)."""
    from dla_pipeline import pdpa

    url = built["WAREHOUSE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into core.fct_allowance_line_findings (finding, person_key, lao_code,"
            " payment_period, amount, detail) values"
            f" ('arrears', 'k-stray', '{X}', '2026-10-01', 600, 'stray')"
        )
        conn.execute(  # as if a build had counted it
            "insert into core.agg_allowance_findings_lao_period as a values"
            f" ('{X}', '2026-10-01', 2570, 'line', 1) on conflict (lao_code, payment_period,"
            " finding_group) do update set findings = a.findings + 1"
        )
    removed = pdpa.finish_erasure(warehouse.admin_conninfo(dbname=TEST_DB), "citizen", "k-stray")
    assert removed["core.fct_allowance_line_findings"] == 1
    with psycopg.connect(url) as conn:
        assert conn.execute(FINDINGS_KEPT).fetchall() == conn.execute(FINDINGS_ROWS).fetchall()
        watermarks = {m for (m,) in conn.execute("select model from core.model_watermarks")}
    assert "agg_allowance_findings_lao_period" in watermarks
    night()
    with psycopg.connect(url) as conn:
        assert conn.execute(FINDINGS_KEPT).fetchall() == conn.execute(FINDINGS_ROWS).fetchall()
    assert_equals_full_refresh(url)
