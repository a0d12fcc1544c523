"""The scorecard's reporting rate without re-reading every submission (issue 12, item 5):
core.reporting_lao_nights recomputes only the nights whose submissions the ledger
rewrote, core.agg_reporting_lao_fy only their fiscal years, and both equal what
ops.submissions says after the changes no change id marks: a header-only file, a
rejected one, a night forgotten, and a night closed for one more source."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from conftest import reset_loaded_data, write_extract

from dla_pipeline.ingest import forget_night, load_night
from dla_pipeline.transform import DbtFailed, build, run_dbt

X, Y = "6110111", "6110112"
HEADERS = {
    "allowance": "citizen_id,birth_date,payment_period,amount,paid_on,channel,status",
    "tax": "receipt_no,receipt_date,account_code,revenue_type,parcel_id,taxpayer_id,amount,"
    "fiscal_year,status",
    "vaccination": "village_no,species,surveyed,owned,ownerless,vaccinated,vaccination_date,"
    "fiscal_year",
}
N1, N2, N3 = date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 1)  # N3: a new fiscal year

# what the scorecard computed before this model existed, straight from the submissions
TRUTH = """
select lao_code, fiscal_year_be, count(*)::int, count(*) filter (where sources = 3)::int,
    min(extract_date) filter (where vaccination), max(extract_date) filter (where vaccination)
from (
    select lao_code, extract_date, count(*) filter (where status = 'reported') as sources,
        bool_or(source = 'vaccination' and status = 'reported') as vaccination,
        extract(year from extract_date)::int + 543
        + case when extract(month from extract_date) >= 10 then 1 else 0 end as fiscal_year_be
    from ops.submissions
    group by lao_code, extract_date
) as nightly
group by lao_code, fiscal_year_be
order by lao_code, fiscal_year_be
"""
KEPT = """
select lao_code, fiscal_year_be, nights, nights_all_reported, first_vaccination_reported,
    last_vaccination_reported
from core.agg_reporting_lao_fy order by lao_code, fiscal_year_be
"""

# the reporting marts as they were computed before their night-by-night aggregates
# (core.agg_submissions_province_night, core.fct_missing_submissions) existed
COMPLIANCE_TRUTH = """
select s.source, s.extract_date, s.fiscal_year_be, l.province_code, l.province_name_th,
    l.province_name_en, count(*), count(*) filter (where s.is_reported),
    count(*) filter (where s.status = 'rejected'), count(*) filter (where s.status = 'missing'),
    round(count(*) filter (where s.is_reported)::numeric / nullif(count(*), 0), 4)::numeric(6, 4),
    coalesce(s.extract_date = max(s.extract_date) over (), false)
from core.fct_submissions as s
inner join marts_build.dim_lao as l on s.lao_code = l.lao_code
group by 1, 2, 3, 4, 5, 6
order by 1, 2, 4
"""
COMPLIANCE = """
select source, extract_date, fiscal_year_be, province_code, province_name_th, province_name_en,
    laos_expected, laos_reported, laos_rejected, laos_missing, reported_rate, is_latest_period
from marts_build.reporting_compliance order by 1, 2, 4
"""
MISSING_TRUTH = """
select s.source, s.extract_date, s.fiscal_year_be, l.province_code, l.province_name_th,
    l.province_name_en, s.lao_code, l.lao_name_th, l.lao_type, s.status, f.reason_code, f.error,
    coalesce(s.extract_date = max(s.extract_date) over (), false)
from core.fct_submissions as s
inner join marts_build.dim_lao as l on s.lao_code = l.lao_code
left join ops.files as f
    on s.source = f.source and s.extract_date = f.extract_date and s.file_name = f.file_name
where not s.is_reported
order by 1, 2, 7
"""
MISSING = """
select source, extract_date, fiscal_year_be, province_code, province_name_th, province_name_en,
    lao_code, lao_name_th, lao_type, status, rejection_reason_code, rejection_reason,
    is_latest_period
from marts_build.missing_submissions order by 1, 2, 7
"""


def reporting_marts_equal_submissions(conn) -> None:
    compliance = conn.execute(COMPLIANCE).fetchall()
    assert compliance and compliance == conn.execute(COMPLIANCE_TRUTH).fetchall()
    missing = conn.execute(MISSING).fetchall()
    assert missing and missing == conn.execute(MISSING_TRUTH).fetchall()


def header_only(landing, source: str, night: date, lao: str) -> None:
    write_extract(landing, source, night.isoformat(), f"{lao}.csv", HEADERS[source] + "\n")
    load_night(source, night)


def rejected(landing, source: str, night: date, lao: str) -> None:
    write_extract(landing, source, night.isoformat(), f"{lao}.csv", "not,the,header\n1,2,3\n")
    load_night(source, night)


def kept_equals_submissions(url: str, night: date) -> dict:
    build(night)
    with psycopg.connect(url) as conn:
        kept = conn.execute(KEPT).fetchall()
        assert kept == conn.execute(TRUTH).fetchall()
        pending = conn.execute("select count(*) from core.reporting_night_state where pending")
        assert pending.fetchone()[0] == 0
        reporting_marts_equal_submissions(conn)
        return {(lao, fy): (n, full) for lao, fy, n, full, *_ in kept if lao in (X, Y)}


def nights_in_state(url: str) -> set:
    """The nights core.reporting_night_state holds (a forgotten one, once consumed, not)."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("select extract_date from core.reporting_night_state")}


@pytest.fixture()
def empty_warehouse(warehouse_db, landing):
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    return warehouse_db["WAREHOUSE_URL"]


def test_reporting_follows_the_ledger_not_the_change_ids(empty_warehouse, landing):
    url = empty_warehouse
    header_only(landing, "tax", N1, X)
    build(N1, full_refresh=True)
    with psycopg.connect(url) as conn:
        assert conn.execute(KEPT).fetchall() == conn.execute(TRUTH).fetchall()
    # header-only files write no change id: the night is recomputed all the same
    header_only(landing, "allowance", N1, X)
    header_only(landing, "vaccination", N1, X)
    assert kept_equals_submissions(url, N1)[(X, 2569)] == (1, 1)

    # a rejected file and a header-only one on the fiscal year's last night
    for source in HEADERS:
        header_only(landing, source, N2, X)
    rejected(landing, "tax", N2, Y)
    got = kept_equals_submissions(url, N2)
    assert got[(X, 2569)] == (2, 2) and got[(Y, 2569)] == (2, 0)

    # the first night of a new fiscal year, closed for one source only, then a second
    header_only(landing, "tax", N3, X)
    assert kept_equals_submissions(url, N3)[(X, 2570)] == (1, 0)
    header_only(landing, "vaccination", N3, Y)
    assert kept_equals_submissions(url, N3)[(Y, 2570)] == (1, 0)

    # a night forgotten: its rows go, the year is re-aggregated, the tombstone is consumed
    for source in HEADERS:
        forget_night(source, N2)
    got = kept_equals_submissions(url, N3)
    assert got[(X, 2569)] == (1, 1) and (Y, 2569) in got  # Y is still missing on N1
    assert nights_in_state(url) == {N1, N3}

    # the scorecard reads the kept counts
    with psycopg.connect(url) as conn:
        rate = conn.execute(
            "select reporting_rate from marts_build.lao_scorecard"
            " where lao_code = %s and fiscal_year_be = 2569",
            (X,),
        ).fetchone()[0]
        followup = dict(
            conn.execute(
                "select lao_code, last_file_received from marts_build.rabies_followup"
            ).fetchall()
        )
    assert rate == 1
    # rabies_followup reads the first and last vaccination nights kept per year: Y has
    # reported in the campaign of 2570, X only in 2569 (its N2 report was forgotten)
    assert Y not in followup and followup[X] == N1

    # and a full refresh gives the same counts
    with psycopg.connect(url) as conn:
        before = conn.execute(KEPT).fetchall()
    build(N3, full_refresh=True)
    with psycopg.connect(url) as conn:
        assert conn.execute(KEPT).fetchall() == before


def test_a_build_recomputes_only_the_nights_that_changed(empty_warehouse, landing, monkeypatch):
    url = empty_warehouse
    for night in (N1, N2):
        header_only(landing, "tax", night, X)
    build(N2, full_refresh=True)
    with psycopg.connect(url) as conn:
        conn.execute("update core.reporting_lao_nights set sources_reported = 9")
    header_only(landing, "allowance", N2, X)
    build(N2)
    with psycopg.connect(url) as conn:
        marked = dict(
            conn.execute(
                "select extract_date, max(sources_reported) from core.reporting_lao_nights"
                " group by extract_date"
            ).fetchall()
        )
    assert marked[N1] == 9  # untouched: not recomputed
    assert marked[N2] == 2  # X reported tax and allowance

    # a build in another session time zone sees the same stamps (a review finding: their
    # text followed the time zone, and every night of history was read again)
    monkeypatch.setenv("PGTZ", "UTC")  # the warehouse says Asia/Bangkok
    build(N2)
    with psycopg.connect(url) as conn:
        assert (
            conn.execute(
                "select min(sources_reported) from core.reporting_lao_nights where extract_date = %s",
                (N1,),
            ).fetchone()[0]
            == 9
        )


def test_the_reporting_marts_aggregates_recompute_their_nights_and_all_when_the_registry_moved(
    empty_warehouse, landing
):
    """reporting_compliance and missing_submissions read aggregates kept night by night:
    a build recomputes the nights the ledger closed again, and every night when an LAO's
    province in the registry is not the one the aggregate counted it in."""
    url = empty_warehouse
    for night in (N1, N2):
        header_only(landing, "tax", night, X)
    build(N2, full_refresh=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update core.agg_submissions_province_night set laos_expected = 99999")
        conn.execute("update core.fct_missing_submissions set rejection_reason = 'ghost'")
    header_only(landing, "allowance", N2, X)
    build(N2)
    by_night = (
        "select a.extract_date, max(a.laos_expected), max(m.ghosts)"
        " from core.agg_submissions_province_night as a"
        " join (select extract_date, count(*) filter (where rejection_reason = 'ghost') as ghosts"
        "  from core.fct_missing_submissions group by extract_date) as m using (extract_date)"
        " group by a.extract_date"
    )
    with psycopg.connect(url) as conn:
        got = {night: (expected, ghosts) for night, expected, ghosts in conn.execute(by_night)}
    assert got[N1][0] == 99999 and got[N1][1] > 0  # untouched: not recomputed
    assert got[N2][0] < 99999 and got[N2][1] == 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "update core.model_watermarks set digest = 'an older registry'"
            " where model = 'agg_submissions_province_night'"
        )
    build(N2)
    with psycopg.connect(url) as conn:
        assert conn.execute(COMPLIANCE).fetchall() == conn.execute(COMPLIANCE_TRUTH).fetchall()

    # a night closed again writes no change id: a partial run that would clear its mark
    # before the two aggregates read it is refused all the same
    header_only(landing, "vaccination", N2, X)
    run_dbt(["run", "--select", "reporting_lao_nights"], night=N2)  # marks N2 pending
    with pytest.raises(DbtFailed, match="were not built in this build"):
        run_dbt(["run", "--select", "agg_reporting_lao_fy"], night=N2)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from core.reporting_night_state where pending"
        ).fetchone()[0]
    build(N2)
    with psycopg.connect(url) as conn:  # (N1's ghosts stay in the missing submissions)
        assert conn.execute(COMPLIANCE).fetchall() == conn.execute(COMPLIANCE_TRUTH).fetchall()
