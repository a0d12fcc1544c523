#!/usr/bin/env python
"""Benchmark: full refresh vs incremental nights, on whatever month is loaded.

Forgets the given nights, times `dbt build --full-refresh`, then loads each night and
times its incremental `dbt build`. Run after scripts/bench_month.py has loaded a month.

    .venv/bin/python scripts/bench_incremental.py --nights 2026-05-01 2026-05-12
"""

import argparse
import time
from datetime import date

from dla_pipeline.config import SOURCES, get_settings
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import forget_night, load_night
from dla_pipeline.transform import build


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nights", nargs="+", default=["2026-05-01", "2026-05-12"])
    nights = [date.fromisoformat(n) for n in ap.parse_args().nights]
    for n in nights:
        for s in SOURCES:
            forget_night(s, n)
    t0 = time.monotonic()
    build(full_refresh=True)
    full = time.monotonic() - t0
    print(f"dbt build --full-refresh: {full:.1f}s", flush=True)
    for n in nights:
        if not (get_settings().landing_dir / "allowance" / n.isoformat()).exists():
            generate_night(n, laos=0)
        rows = sum(load_night(s, n)["rows_in"] for s in SOURCES)
        t0 = time.monotonic()
        build(n)
        inc = time.monotonic() - t0
        print(
            f"night {n}: {rows:,} rows, incremental dbt build {inc:.1f}s = "
            f"{inc / full:.2f} of a full refresh",
            flush=True,
        )


if __name__ == "__main__":
    main()
