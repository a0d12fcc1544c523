"""Usage errors: one line that says what to type, nothing changed; Make variables never
reach a shell (or make itself) as code."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from dla_pipeline.config import project_root


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project_root(),
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def state(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (select count(*) from ops.runs), (select count(*) from ops.files),"
            " (select count(*) from ops.publish_log)"
        ).fetchone()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["night", "DATE=2026-13-45"], "type it as YYYY-MM-DD"),
        (["night", "DATE=05/11/2026"], "type it as YYYY-MM-DD"),
        (["night", "DATE=2569-11-05"], "type the CE year, e.g. DATE=2026-11-05"),
        (
            ["backfill", "FROM=2026-11-06", "TO=2026-11-05"],
            "make backfill FROM=2026-11-05 TO=2026-11-06",
        ),
        (["backfill", "FROM=2026-11-06"], "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD"),
    ],
)
def test_a_bad_value_gets_one_line_and_changes_nothing(warehouse_db, args, says):
    before = state(warehouse_db["WAREHOUSE_URL"])
    out = make(*args)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if not line.startswith("make")]
    assert len(errors) == 1 and says in errors[0], out.stderr
    assert state(warehouse_db["WAREHOUSE_URL"]) == before


def test_a_missing_landing_dir_refuses_rather_than_publishing_an_empty_night(
    warehouse_db, tmp_path
):
    before = state(warehouse_db["WAREHOUSE_URL"])
    out = make("night", "DATE=2026-11-05", env={"LANDING_DIR": str(tmp_path / "nope")})
    assert out.returncode != 0 and "does not exist" in out.stderr
    assert len([x for x in out.stderr.splitlines() if not x.startswith("make")]) == 1
    assert state(warehouse_db["WAREHOUSE_URL"]) == before


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-05; touch {p} #",
        "$(shell touch {p})",
        "`touch {p}`",
        "$$(touch {p})",
        '2026-11-05"; touch {p}; echo "',
    ],
)
def test_make_variables_never_run_as_code(warehouse_db, tmp_path, value):
    planted = tmp_path / "pwned"
    for args in (
        ["night", f"DATE={value}"],
        ["backfill", f"FROM={value}", "TO=2026-11-05"],
        ["dbt", f"ARGS=debug {value}"],
    ):
        make(*[a.format(p=planted) for a in args])
        assert not planted.exists(), args
