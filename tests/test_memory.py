"""Memory does not grow with file size: a big single-LAO file, all good or all bad, loads
with the same peak RSS (within a small margin) as a 20,000-row file. The 2,000,000-row
figures come from `scripts/bench_memory.py` (see the README); this test uses 200,000
rows to stay quick, which already lies far past every fixed-size buffer."""

from __future__ import annotations

import importlib.util

import pytest

from dla_pipeline.config import project_root


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_memory", project_root() / "scripts" / "bench_memory.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("good", [True, False], ids=["all_good", "all_bad"])
def test_peak_memory_is_flat_with_file_size(warehouse_db, good):
    from datetime import date

    bench = _bench()
    small = bench.measure(20_000, good, date(2030, 2, 1))
    big = bench.measure(200_000, good, date(2030, 2, 2))
    assert small["rows_in"] == 20_000 and big["rows_in"] == 200_000
    assert (big["loaded"] if good else big["quarantined"]) == 200_000
    growth = big["peak_rss_mb"] - small["peak_rss_mb"]
    assert growth < 0.06 * small["peak_rss_mb"], (small, big)
