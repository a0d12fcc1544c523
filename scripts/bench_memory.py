"""Peak memory of the loader against file size: one single-LAO allowance file of N rows,
all good or all bad, loaded in a fresh process; prints peak RSS per case.

    .venv/bin/python scripts/bench_memory.py --rows 20000 2000000

Each case loads into the configured warehouse under a scratch night (2030-01-01 ... by
case) that is forgotten afterwards. The loader streams (fixed-size chunks, spooled COPY
text, a bounded duplicate index), so peak RSS should not depend on the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HEADER = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status\n"
LAO = "6110111"

MEASURE = """
import json, resource, time
from datetime import date
from dla_pipeline.ingest import load_night, forget_night
night = date.fromisoformat({night!r})
t0 = time.monotonic()
s = load_night("allowance", night, batches=1, run_id="bench-memory")
secs = time.monotonic() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
forget_night("allowance", night)
print(json.dumps({{"peak_rss_mb": round(peak, 1), "seconds": round(secs, 1),
                  "rows_in": s["rows_in"], "loaded": s["rows_loaded"],
                  "quarantined": s["rows_quarantined"]}}))
"""


def write_file(path: Path, rows: int, good: bool, night: date) -> None:
    from dla_pipeline.generator import make_thai_id

    path.parent.mkdir(parents=True, exist_ok=True)
    tail = f",12/03/2490,{night.month:02d}/{night.year + 543},800,{night:%d/%m}/{night.year + 543},cash,paid\n"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(rows):
            cid = make_thai_id(f"3{i:011d}")
            if not good:  # a wrong check digit: every row is quarantined
                cid = cid[:12] + str((int(cid[12]) + 1) % 10)
            fh.write(cid + tail)


def measure(rows: int, good: bool, night: date) -> dict:
    with tempfile.TemporaryDirectory(prefix="dla-bench-mem-") as tmp:
        write_file(Path(tmp) / "allowance" / night.isoformat() / f"{LAO}.csv", rows, good, night)
        env = {**os.environ, "LANDING_DIR": tmp}
        out = (
            subprocess.run(
                [sys.executable, "-c", MEASURE.format(night=night.isoformat())],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    return {"rows": rows, "kind": "good" if good else "bad", **json.loads(out)}


def run(sizes: list[int]) -> list[dict]:
    results = []
    for i, rows in enumerate(sizes):
        for good in (True, False):
            t0 = time.monotonic()
            # scratch nights far from real data, forgotten after each case
            r = measure(rows, good, date(2030, 1, 1 + 2 * i + (0 if good else 1)))
            results.append(r)
            print(
                f"{r['kind']:>4} {rows:>10,} rows: peak RSS {r['peak_rss_mb']:7.1f} MB,"
                f" load {r['seconds']:6.1f}s ({r['loaded']:,} loaded, {r['quarantined']:,}"
                f" quarantined; total {time.monotonic() - t0:5.1f}s)",
                flush=True,
            )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", nargs="+", type=int, default=[20_000, 2_000_000])
    args = ap.parse_args()
    results = run(args.rows)
    base = min(r["peak_rss_mb"] for r in results)
    top = max(r["peak_rss_mb"] for r in results)
    print(f"peak RSS from {base:.1f} to {top:.1f} MB: {100 * (top - base) / base:.1f}% spread")


if __name__ == "__main__":
    main()
