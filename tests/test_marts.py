"""The marts: they reconcile with the extract files, and incremental nights give exactly
what a full refresh gives (re-sends included)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import MART_KEYS, mart_snapshot, reset_loaded_data

from dla_pipeline import steps
from dla_pipeline.config import SOURCES
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import load_night
from dla_pipeline.reconcile import reconcile
from dla_pipeline.transform import build, run_dbt

NIGHTS = [date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 13)]


def _resend_half(landing, night: date) -> str:
    """An LAO re-sends a corrected allowance file for an earlier night: half its rows."""
    folder = landing / "allowance" / night.isoformat()
    biggest = max((p for p in folder.glob("*.csv")), key=lambda p: p.stat().st_size)
    lines = biggest.read_bytes().splitlines(keepends=True)
    biggest.write_bytes(b"".join(lines[: 1 + (len(lines) - 1) // 2]))
    return biggest.stem


@pytest.fixture(scope="module")
def built(warehouse_db):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    for night in NIGHTS:
        generate_night(night, laos=90, seed=11, bad_fraction=0.02, send_rate=0.9)
    for i, night in enumerate(NIGHTS):
        for source in SOURCES:
            load_night(source, night)
        build(night, full_refresh=(i == 0))
    _resend_half(landing, NIGHTS[0])  # arrives after the night was built
    load_night("allowance", NIGHTS[0])
    build(NIGHTS[-1])
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        incremental = mart_snapshot(conn)
    steps.quality_gate(NIGHTS[-1], "marts-test")
    steps.publish_marts(NIGHTS[-1], "marts-test")
    return incremental


def test_the_models_unit_tests_pass_and_nights_do_not_run_them(built):
    # a night's build leaves dbt's unit tests out (they test code, not data): CI runs them
    assert not any(k.startswith("unit_test:") for k in build(NIGHTS[-1]))
    results = [
        r
        for r in run_dbt(["test", "--select", "test_type:unit"])
        if str(r.node.resource_type) == "unit_test"
    ]
    assert len(results) >= 4 and all(str(r.status) == "pass" for r in results), [
        (r.node.name, str(r.status)) for r in results
    ]


def test_marts_reconcile_with_the_extract_files(built):
    # allowance total per province and rabies coverage per province, from the files
    lines = reconcile(NIGHTS, schema="marts")
    assert "match the extract files exactly" in lines[0]


def test_incremental_nights_equal_a_full_refresh(built, warehouse_db):
    build(NIGHTS[-1], full_refresh=True)
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        full = mart_snapshot(conn)
    for mart in MART_KEYS:
        assert built[mart] == full[mart], f"{mart} differs between incremental and full refresh"
    assert all(
        built[m]
        for m in (
            "allowance_by_province",
            "revenue_by_lao_account",
            "lao_scorecard",
            "province_summary",
        )
    )


def test_scorecard_groups_and_followup(built, analyst_conn):
    groups = dict(
        analyst_conn.execute(
            "select performance_group, count(*) from marts.lao_scorecard group by 1"
        ).fetchall()
    )
    assert set(groups) <= {"Platinum", "Gold", "Silver", "Bronze", "not_rated"}
    assert sum(n for g, n in groups.items() if g != "not_rated") > 0
    reported = {
        r[0]
        for r in analyst_conn.execute(
            "select lao_code from marts.rabies_coverage_by_lao where fiscal_year_be = 2569"
        )
    }
    followup = {r[0] for r in analyst_conn.execute("select lao_code from marts.rabies_followup")}
    assert reported and followup and not (reported & followup)
    assert "PAO" not in {
        r[0] for r in analyst_conn.execute("select distinct lao_type from marts.rabies_followup")
    }


def test_revenue_compares_with_the_previous_fiscal_year(built, analyst_conn):
    rows = analyst_conn.execute(
        "select fiscal_year_be, as_of_date, sum(amount_ytd), sum(amount_prev_ytd)"
        " from marts.revenue_by_lao_account group by 1, 2"
    ).fetchall()
    assert rows and rows[0][0] == 2569 and rows[0][1] == NIGHTS[-1]
    assert rows[0][2] > 0 and rows[0][3] == 0  # no FY2568 data was loaded


MONEY = (
    "amount_paid",
    "amount_ytd",
    "amount_prev_ytd",
    "revenue_ytd",
    "revenue_prev_ytd",
    "allowance_paid",
    "paid_late_amount",
    "land_building_tax_ytd",
)


def _mart_columns(conn) -> list[tuple[str, str, str, int | None, int | None]]:
    return conn.execute(
        "select table_name, column_name, data_type, numeric_precision, numeric_scale"
        " from information_schema.columns where table_schema = 'marts'"
        " and table_name <> 'published_nights' order by table_name, ordinal_position"
    ).fetchall()


def test_one_convention_for_units_and_names(built, analyst_conn):
    cols = _mart_columns(analyst_conn)
    assert cols
    assert not [c for c in cols if "pct" in c[1] or c[1] in ("coverage", "growth")]
    for table, column, dtype, precision, scale in cols:
        if column in MONEY:
            assert (dtype, precision, scale) == ("numeric", 18, 2), (table, column)
        if column == "fiscal_year_be":
            assert dtype == "integer", table
        if column.endswith(("_date", "_period")) and not column.startswith("is_"):
            assert dtype == "date", (table, column)
        if column.endswith("_rate") and "growth" not in column:
            lo, hi = analyst_conn.execute(
                f"select min({column}), max({column}) from marts.{table}"
            ).fetchone()
            assert lo is None or (lo >= 0 and hi <= 1), (table, column, lo, hi)


def test_every_time_grain_mart_has_a_date_and_a_latest_flag(built, analyst_conn):
    by_table: dict[str, set[str]] = {}
    for table, column, *_ in _mart_columns(analyst_conn):
        by_table.setdefault(table, set()).add(column)
    for table, columns in by_table.items():
        if columns & {"fiscal_year_be", "payment_period", "extract_date"}:
            assert any(
                c.endswith(("_date", "_period")) and not c.startswith("is_") for c in columns
            ), table
        if "payment_period" in columns or "extract_date" in columns:
            assert "is_latest_period" in columns, table
            period = "payment_period" if "payment_period" in columns else "extract_date"
            wrong = analyst_conn.execute(
                f"select count(*) from marts.{table}"
                f" where is_latest_period <> ({period} = (select max({period}) from marts.{table}))"
            ).fetchone()[0]
            assert wrong == 0, table
        elif "fiscal_year_be" in columns and table not in ("scorecard_rules", "rabies_followup"):
            assert "is_current_fiscal_year" in columns, table
    current = analyst_conn.execute(
        "select distinct fiscal_year_be from marts.lao_scorecard where is_current_fiscal_year"
    ).fetchall()
    assert current == [(2569,)]  # the nights are in April 2026: fiscal year 2569
    late = analyst_conn.execute(
        "select sum(paid_late_count), sum(paid_late_amount) from marts.allowance_by_province"
    ).fetchone()
    assert late[0] is not None and late[1] is not None and (late[0] == 0) == (late[1] == 0)


def test_scorecard_grades_only_with_enough_evidence_and_explains_itself(built, analyst_conn):
    rows = analyst_conn.execute(
        "select performance_group, indicators_used, domains_used, composite_score,"
        " not_rated_reason, strongest_indicator, weakest_indicator from marts.lao_scorecard"
    ).fetchall()
    assert any(r[0] != "not_rated" for r in rows)
    for group, indicators, domains, score, reason, strongest, weakest in rows:
        if group == "not_rated":
            assert (indicators < 3 or domains < 2) and "grading needs at least 3" in reason
            assert score is None and strongest is None
        else:
            assert indicators >= 3 and domains >= 2 and reason is None
            assert 0 <= score <= 1 and strongest and weakest
    rules = analyst_conn.execute(
        "select name, domain, weight, floor_value, target_value from marts.scorecard_rules"
        " where rule_type = 'indicator' order by name"
    ).fetchall()
    assert len(rules) == 6 and abs(sum(r[2] for r in rules) - 1) < 1e-9
    assert {r[0] for r in rules} == {r[0] for r in _seed_rows("scorecard_indicators.csv")}
    groups = analyst_conn.execute(
        "select name, min_score from marts.scorecard_rules where rule_type = 'group'"
    ).fetchall()
    assert {g for g, _ in groups} == {"Platinum", "Gold", "Silver", "Bronze"}
    (eligibility,) = analyst_conn.execute(
        "select min_indicators || '/' || min_domains from marts.scorecard_rules"
        " where rule_type = 'eligibility'"
    ).fetchone()
    assert eligibility == "3/2"


def _seed_rows(name: str) -> list[list[str]]:
    import csv

    from dla_pipeline.config import get_settings

    with (get_settings().dbt_dir / "seeds" / name).open(encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]


def test_a_slight_move_in_one_indicator_never_jumps_two_groups(built):
    """The model's own scoring macros over many LAO profiles: each indicator nudged by
    +/-0.02 moves the LAO by at most one group."""
    import random

    rng = random.Random(5)
    indicators = [r[0] for r in _seed_rows("scorecard_indicators.csv")]
    profiles = []
    for lao in range(150):
        have = rng.sample(indicators, rng.randint(3, 6))
        base = {i: round(rng.uniform(-0.2, 1.1), 4) for i in have}
        profiles.append((f"p{lao}", base))
        for i in have:
            for step in (-0.02, 0.02):
                profiles.append((f"p{lao}", {**base, i: round(base[i] + step, 4)}))
    values = ", ".join(
        f"({n}, '{lao}', '{ind}', {v})"
        for n, (lao, p) in enumerate(profiles)
        for ind, v in p.items()
    )
    sql = f"""
        with v (variant, lao, indicator, value) as (values {values}),
        s as (
            select v.variant, v.lao, i.domain, i.weight,
                {{{{ indicator_score('v.value', 'i.floor_value', 'i.target_value') }}}} as score
            from v join {{{{ ref('scorecard_indicators') }}}} as i on i.indicator = v.indicator),
        c as (
            select variant, lao, sum(weight * score) / sum(weight) as composite,
                count(*) as n, count(distinct domain) as d
            from s group by variant, lao)
        select variant, lao, (select rank_order from {{{{ ref('scorecard_groups') }}}}
            where group_name = {{{{ scorecard_group('composite', 'n', 'd') }}}}) as rank_order
        from c order by variant
    """
    [result] = run_dbt(["show", "--inline", sql, "--limit", "-1"])
    ranks: dict[str, list[int]] = {}
    for _variant, lao, rank in result.agate_table.rows:
        ranks.setdefault(lao, []).append(rank)
    assert len(ranks) == 150
    for lao, rs in ranks.items():
        graded = [r for r in rs if r is not None]
        assert graded and max(graded) - min(graded) <= 1, (lao, rs)


def _undocumented(conn) -> list[str]:
    missing = []
    for (view,) in conn.execute(
        "select table_name from information_schema.views where table_schema = 'marts'"
    ).fetchall():
        note = conn.execute(
            "select obj_description(to_regclass('marts.' || %s), 'pg_class')", (view,)
        ).fetchone()[0]
        if not note or "Grain" not in note or "Primary key" not in note:
            missing.append(view)
        missing += [
            f"{view}.{col}"
            for col, note in conn.execute(
                "select attname, col_description(attrelid, attnum) from pg_attribute"
                " where attrelid = to_regclass('marts.' || %s) and attnum > 0",
                (view,),
            ).fetchall()
            if not note
        ]
    return missing


def test_marts_explain_themselves_to_psql_and_bi_tools(built, analyst_conn):
    assert _undocumented(analyst_conn) == []
    readme = analyst_conn.execute("select topic, name from marts.readme").fetchall()
    views = {
        r[0]
        for r in analyst_conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    }
    assert {n for t, n in readme if t == "mart"} == {f"marts.{v}" for v in views - {"readme"}}
    assert ("schema", "restricted") in readme


def test_a_header_only_file_is_a_report_in_every_mart(built, warehouse_db, analyst_conn):
    """One definition of "reported": the follow-up list and the compliance mart agree, and
    the descriptions are re-applied by the publish that follows."""
    landing = Path(warehouse_db["LANDING_DIR"])
    night = NIGHTS[-1]
    lao, province = analyst_conn.execute(
        "select lao_code, province_code from marts.rabies_followup order by lao_code limit 1"
    ).fetchone()
    before = analyst_conn.execute(
        "select laos_reported from marts.reporting_compliance where source = 'vaccination'"
        " and extract_date = %s and province_code = %s",
        (night, province),
    ).fetchone()[0]
    sample = next((landing / "vaccination" / night.isoformat()).glob("*.csv"))
    header = sample.read_bytes().splitlines(keepends=True)[0]
    (landing / "vaccination" / night.isoformat() / f"{lao}.csv").write_bytes(header)
    load_night("vaccination", night)
    build(night)
    steps.quality_gate(night, "marts-test-header-only")
    steps.publish_marts(night, "marts-test-header-only")
    followup = {r[0] for r in analyst_conn.execute("select lao_code from marts.rabies_followup")}
    assert lao not in followup
    after = analyst_conn.execute(
        "select laos_reported from marts.reporting_compliance where source = 'vaccination'"
        " and extract_date = %s and province_code = %s",
        (night, province),
    ).fetchone()[0]
    assert after == before + 1
    assert _undocumented(analyst_conn) == []


def test_dbt_docs_show_the_marts_where_analysts_query_them(built):
    import json

    from dla_pipeline.transform import generate_docs

    page = generate_docs()
    catalog = json.loads((page.parent / "catalog.json").read_text())
    manifest = json.loads((page.parent / "manifest.json").read_text())
    node = catalog["nodes"]["model.dla_warehouse.lao_scorecard"]
    assert node["metadata"]["schema"] == "marts" and node["metadata"]["type"] == "VIEW"
    assert node["columns"]["composite_score"]["type"] == "numeric(6,4)"
    assert manifest["nodes"]["model.dla_warehouse.allowance_findings"]["schema"] == "restricted"
    overview = manifest["docs"]["doc.dla_warehouse.__overview__"]["block_contents"]
    assert "Where to query" in overview and "*_rate" in overview


def test_a_deploy_that_changes_the_models_rebuilds_them_once(built, owner_conn):
    from dla_pipeline.config import get_settings
    from dla_pipeline.transform import _code_changed, _model_code_digest, _remember_code

    settings = get_settings()
    code = _model_code_digest(settings)
    assert not _code_changed(settings, code)  # the build above remembered its code
    _remember_code(settings, "built-by-an-older-release")
    assert _code_changed(settings, code)
    _remember_code(settings, code)
    assert not _code_changed(settings, code)


def test_sqlalchemy_sees_a_comment_on_every_mart_column(built, warehouse_db):
    """What pandas users and BI tools read: the inspector, connected as the analyst."""
    import sqlalchemy as sa

    url = warehouse_db["ANALYST_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        views = inspector.get_view_names(schema="marts")
        assert "lao_scorecard" in views
        for view in views:
            assert "Grain" in (inspector.get_table_comment(view, schema="marts")["text"] or "")
            for column in inspector.get_columns(view, schema="marts"):
                assert column.get("comment"), f"marts.{view}.{column['name']} has no comment"
    finally:
        engine.dispose()
