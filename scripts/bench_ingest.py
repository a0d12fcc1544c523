#!/usr/bin/env python
"""Benchmark: load one night at national scale and report rows per second.

Generates the night for all 7,849 LAOs if the landing zone lacks it, forgets any
earlier load of it (so every file is really parsed and COPYed), then loads each
source without Airflow and prints the figures. Never run by the tests.

    .venv/bin/python scripts/bench_ingest.py --date 2026-11-06 [--batches 4]
"""

import argparse
import time
from datetime import date

from dla_pipeline.config import SOURCES, get_settings
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import forget_night, load_night


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--date", default="2026-11-06")
    ap.add_argument("--batches", type=int, default=4)
    args = ap.parse_args()
    night = date.fromisoformat(args.date)
    if not (get_settings().landing_dir / "allowance" / night.isoformat()).exists():
        t0 = time.monotonic()
        out = generate_night(night, laos=0)
        print(f"generated {out['files']:,} files in {time.monotonic() - t0:.1f}s")
    total_rows = total_secs = 0.0
    for source in SOURCES:
        forget_night(source, night)
        t0 = time.monotonic()
        s = load_night(source, night, batches=args.batches)
        secs = time.monotonic() - t0
        total_rows += s["rows_in"]
        total_secs += secs
        print(
            f"{source:<12} files {s['files']:>6,}  rows in {s['rows_in']:>10,}  "
            f"loaded {s['rows_loaded']:>10,}  quarantined {s['rows_quarantined']:>7,}  "
            f"{secs:6.1f}s  {s['rows_in'] / secs:>9,.0f} rows/s  conservation {s['conservation_ok']}"
        )
    print(
        f"{'all':<12} rows in {total_rows:,.0f} in {total_secs:.1f}s = "
        f"{total_rows / total_secs:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
