#!/usr/bin/env python
"""Benchmark: a month of national extracts, then full refresh vs one incremental night.

1. generate (if missing) and load every night of --month for all 7,849 LAOs;
2. time `dbt build --full-refresh` (every model rebuilt from raw);
3. load the next night and time the incremental `dbt build`;
4. print both and their ratio, and reconcile the marts with the extract files.

    .venv/bin/python scripts/bench_month.py --month 2026-04
"""

import argparse
import time
from datetime import date, timedelta

from dla_pipeline.config import SOURCES, get_settings
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import forget_night, load_night
from dla_pipeline.reconcile import reconcile
from dla_pipeline.transform import build, run_dbt


def nights(month: str):
    d = date.fromisoformat(month + "-01")
    while d.month == int(month[5:7]):
        yield d
        d += timedelta(days=1)


def ensure_loaded(night: date) -> int:
    if not (get_settings().landing_dir / "allowance" / night.isoformat()).exists():
        generate_night(night, laos=0)
    return sum(load_night(s, night)["rows_in"] for s in SOURCES)


def timed(label: str, fn, *args, **kwargs):
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    secs = time.monotonic() - t0
    print(f"{label}: {secs:.1f}s", flush=True)
    return secs, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", default="2026-04")
    args = ap.parse_args()
    days = list(nights(args.month))
    total = 0
    t0 = time.monotonic()
    for d in days:
        total += ensure_loaded(d)
        print(f"  {d}: {total:,} rows in so far ({time.monotonic() - t0:.0f}s)", flush=True)
    print(f"month loaded: {total:,} rows in {time.monotonic() - t0:.0f}s")
    nxt = days[-1] + timedelta(days=1)
    for source in SOURCES:  # the next night must be new to the warehouse
        forget_night(source, nxt)
    run_dbt(["seed"])
    full, _ = timed(
        "dbt build --full-refresh (month of history)", build, days[-1], full_refresh=True
    )
    _, rows = timed(f"load night {nxt}", ensure_loaded, nxt)
    inc, _ = timed(f"dbt build, incremental night {nxt} ({rows:,} rows)", build, nxt)
    print(f"incremental / full refresh = {inc / full:.2f} ({inc:.1f}s / {full:.1f}s)")
    for line in reconcile():  # every loaded night, as the marts hold them all
        print(line)


if __name__ == "__main__":
    main()
