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


def _bench(bench_db, tmp_path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """scripts/bench.py with ``args`` in the bench database, its files under ``tmp_path``."""
    root = project_root()
    env = {
        **os.environ,
        "DLA_HOME": str(root),
        "DLA_BENCH_DB": bench_db,
        "DLA_BENCH_WORK": str(tmp_path / "work"),
        "DLA_BENCH_OUT": str(tmp_path / "out"),
        "DLA_BENCH_ARGS": "",
    }
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "bench.py"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_quick_loader_bench_writes_its_figures(bench_db, tmp_path):
    args = ("--quick", "--only", "loader", "--laos", "60", "--jobs", "1")
    proc = _bench(bench_db, tmp_path, *args, timeout=900)
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


def _bench_module():
    """scripts/bench.py as a module (it is a script, not a package)."""
    import importlib.util

    path = project_root() / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("dla_bench_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_disk_plan_counts_only_what_the_run_adds():
    from datetime import date

    bench = _bench_module()
    nights = [date(2026, 10, d) for d in (1, 2, 3)]
    national = bench.disk_plan(nights, loaded={}, generated={}, laos=0)
    assert national["rows_to_load"] == 3 * bench.NATIONAL_NIGHT_ROWS
    assert national["nights_to_generate"] == 3
    assert national["db_bytes"] == 3 * bench.NATIONAL_NIGHT_ROWS * bench.DB_BYTES_PER_ROW
    # generated rows are used where known; a loaded night (--keep) adds nothing
    plan = bench.disk_plan(
        nights,
        loaded={nights[0]: 10},
        generated={nights[0]: 10, nights[1]: 1_000},
        laos=785,
        extra_rows=5,
    )
    assert plan["rows_to_load"] == 1_000 + round(bench.NATIONAL_NIGHT_ROWS * 785 / 7_849) + 5
    assert plan["nights_to_generate"] == 1
    assert plan["extract_bytes"] == round(bench.NATIONAL_NIGHT_EXTRACT_BYTES * 785 / 7_849)


def test_the_bench_names_the_edited_files_it_measured(tmp_path):
    """The JSON records which tracked files differ from the commit, by their whole names."""
    bench = _bench_module()
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for name in ("README.md", "b.py", "c.py"):
        (repo / name).write_text("x\n")
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "README.md").write_text("y\n")  # edited, not staged
    (repo / "c.py").write_text("y\n")
    subprocess.run([*git, "add", "c.py"], check=True)  # staged
    (repo / "new.py").write_text("untracked\n")
    facts = bench.git_facts(repo)
    assert facts["dirty"] and facts["subject"] == "one"
    assert facts["changed_files"] == ["README.md", "c.py"]


def test_a_run_larger_than_the_free_disk_is_refused_before_it_starts(tmp_path):
    from collections import namedtuple

    bench = _bench_module()
    usage = namedtuple("usage", "total used free")
    plan = {"rows_to_load": 190_000_000, "nights_to_generate": 365}
    plan |= {"db_bytes": 190 * 10**9, "extract_bytes": 44 * 10**9}
    (tmp_path / "pg").mkdir()
    with pytest.raises(bench.BenchError, match=r"not enough disk: .*--history-months"):
        bench.check_disk(plan, tmp_path / "pg", tmp_path / "work", lambda p: usage(0, 0, 58e9))
    # the extracts and the warehouse on one disk: their needs add up
    line = bench.check_disk(plan, tmp_path / "pg", tmp_path / "w", lambda p: usage(0, 0, 300e9))
    assert "239.4 GB needed" in line and "(extracts and warehouse)" in line
    # a server elsewhere: only the extracts are checked here
    line = bench.check_disk(plan, None, tmp_path / "w", lambda p: usage(0, 0, 50e9))
    assert "44.0 GB needed" in line


def test_the_bench_refuses_a_history_the_disk_cannot_hold(bench_db, tmp_path):
    """End to end: twenty thousand months of history are refused before any generation."""
    args = ("--quick", "--only", "backfill", "--history-months", "20000", "--jobs", "1")
    proc = _bench(bench_db, tmp_path, *args, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "not enough disk" in out and "--history-months" in out, out[-3000:]
    assert not list((tmp_path / "work").glob("gen-*/landing/*/*")), "extracts were generated"
