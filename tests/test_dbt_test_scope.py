"""dbt's data tests on the night's lines (the allowance fact's) check only the night being
built (every row outside a build), through the night's index: `column = __this_night__` in
a test's `where` (macros/as_of.sql, get_where_subquery). The staging views have no data
tests: the loader's contract and the gate's raw suites check the raw nights."""

import re

import pytest

from dla_pipeline.transform import run_dbt


@pytest.fixture(scope="module")
def night_filters(warehouse_db) -> dict[str, str]:
    """The `where` of every compiled data test on fct_allowance_payments that has one."""
    results = run_dbt(["compile", "--select", "fct_allowance_payments,test_type:data"])
    compiled = {r.node.name: r.node.compiled_code for r in results}
    assert compiled, "no data test compiled"
    assert not any("__this_night__" in code for code in compiled.values())
    filters = {}
    for name, code in compiled.items():
        m = re.search(r"\bwhere (.*?)\) dbt_subquery", code, re.S)
        if m and "build_state" in m.group(1):
            filters[name] = m.group(1)
    assert len(filters) >= 4, compiled.keys()
    return filters


def _count(conn, where: str) -> int:
    return conn.execute(f"select count(*) from night_rows where {where}").fetchone()[0]


def test_a_build_tests_its_night_and_a_plain_run_every_night(owner_conn, night_filters):
    where = night_filters[sorted(night_filters)[0]]
    with owner_conn.transaction(force_rollback=True):
        owner_conn.execute("create temp table night_rows (extract_date date not null)")
        owner_conn.execute(
            "insert into night_rows select d::date from generate_series("
            "'2026-11-01'::date, '2026-11-03', '1 day') as d, generate_series(1, 10)"
        )
        owner_conn.execute("update core.build_state set night = '2026-11-02'")
        assert _count(owner_conn, where) == 10
        owner_conn.execute("update core.build_state set night = null")
        assert _count(owner_conn, where) == 30


def test_the_night_filter_is_served_by_the_nights_index(owner_conn, night_filters):
    """`extract_date = coalesce(night, extract_date)` could only be a scan of the whole
    table (all of raw, every night); the range on the bare column uses the index."""
    with owner_conn.transaction(force_rollback=True):
        owner_conn.execute("create temp table night_rows (extract_date date not null)")
        owner_conn.execute("create index on night_rows (extract_date)")
        owner_conn.execute("set local enable_seqscan = off")
        for name, where in night_filters.items():
            plan = "\n".join(
                r[0] for r in owner_conn.execute(f"explain select * from night_rows where {where}")
            )
            assert "Index Cond: ((extract_date >=" in plan, (
                f"{name}: not a range on the index\n{plan}"
            )
