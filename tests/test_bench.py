"""`make bench` works end to end at a small scale: ``scripts/bench.py --quick --only loader``
runs in a database of its own and writes its JSON with the machine, the commit and the
loader's figures. Nothing here asserts on a time: the bench measures, tests never do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dla_pipeline import warehouse
from dla_pipeline.config import project_root

BENCH_DB = os.environ.get("DLA_BENCH_TEST_DB", "dla_bench_test")


@pytest.fixture
def bench_db():
    if not warehouse.admin_configured():
        pytest.skip("no warehouse configured: run `make setup` first")
    if warehouse.embedded_in_use():
        warehouse.start_embedded()
    yield BENCH_DB
    warehouse.drop_database(warehouse.admin_conninfo(), BENCH_DB)


def test_quick_loader_bench_writes_its_figures(bench_db, tmp_path):
    root = project_root()
    env = {
        **os.environ,
        "DLA_HOME": str(root),
        "DLA_BENCH_DB": bench_db,
        "DLA_BENCH_WORK": str(tmp_path / "work"),
        "DLA_BENCH_OUT": str(tmp_path / "out"),
        "DLA_BENCH_ARGS": "",
    }
    proc = subprocess.run(
        [sys.executable, str(root / "scripts" / "bench.py"), "--quick", "--only", "loader"]
        + ["--laos", "60", "--jobs", "1"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "loader / COPY ceiling" in proc.stdout

    written = list((tmp_path / "out").glob("*-quick.json"))
    assert len(written) == 1, written
    report = json.loads(written[0].read_text())
    assert {"date", "git", "machine", "scale", "phases", "figures"} <= report.keys()
    assert report["git"]["commit"]
    assert {"cpu_count", "cpu_model", "ram_gib", "python", "postgresql"} <= report["machine"].keys()
    assert report["machine"]["cpu_count"] >= 1
    assert "PostgreSQL" in report["machine"]["postgresql"]
    assert report["database"] == bench_db
    assert report["phases_run"] == ["loader"]

    loader = report["phases"]["loader"]
    assert "error" not in loader, loader
    assert loader["rows_in"] > 0
    assert loader["copy_rows"] == loader["rows_loaded"] > 0  # the same rows, COPYed again
    assert loader["loader_rows_per_s"] > 0 and loader["copy_rows_per_s"] > 0
    assert loader["ratio"] > 0
    assert loader["process"]["maxrss_mb"] > 0
    # rounds of a load then a COPY (three by default): the figures are the median round's
    rounds = loader["round_ratios"]
    assert len(rounds) == len(loader["loader_tries_rows_per_s"]) == 3
    assert len(loader["copy_tries_rows_per_s"]) == 3
    assert loader["ratio"] == sorted(rounds)[1]
    assert any(  # one round gives all three figures
        (rounds[i], loader["loader_tries_rows_per_s"][i], loader["copy_tries_rows_per_s"][i])
        == (loader["ratio"], loader["loader_rows_per_s"], loader["copy_rows_per_s"])
        for i in range(3)
    )

    ratio = next(f for f in report["figures"] if f["figure"] == "loader / COPY ceiling")
    assert ratio["status"] in ("PASS", "MISS")
    assert ratio["value"] == loader["ratio"]
    assert ratio["note"].startswith("median of 3 rounds")
