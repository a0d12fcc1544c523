#!/usr/bin/env python
"""Demonstration: a night with an injected blocking failure never reaches analysts.

1. fingerprint everything the analyst can see in `marts`;
2. an LAO re-sends its allowance file for the night with one line of 95,000 baht
   (it parses, but the raw suite allows at most 20,000 for one line);
3. run the night: the gate blocks, the analyst's view is byte-identical, the report
   names the failed expectation;
4. the LAO re-sends the corrected file: the next run publishes.

    make run && make demo-blocked        # or: scripts/demo_blocked_night.py --date 2026-11-05
"""

import argparse
import hashlib
import sys
from datetime import date

import psycopg

from dla_pipeline.config import get_settings
from dla_pipeline.encoding import SNIFF_BYTES, sniff_encoding
from dla_pipeline.generator import make_thai_id
from dla_pipeline.night import run_night


def analyst_fingerprint() -> str:
    h = hashlib.sha256()
    with psycopg.connect(get_settings().analyst_url) as conn:
        for (name,) in conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'marts' order by 1"
        ).fetchall():
            rows = conn.execute(f'select * from marts."{name}"').fetchall()
            for row in sorted(rows, key=repr):
                h.update(repr(row).encode())
    return h.hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--date", default="2026-11-05")
    ap.add_argument("--runner", choices=["airflow", "direct"], default="airflow")
    night = date.fromisoformat(ap.parse_args().date)
    args = ap.parse_args()
    folder = get_settings().landing_dir / "allowance" / night.isoformat()
    target = max(folder.glob("*.csv"), key=lambda p: p.stat().st_size)
    original = target.read_bytes()
    before = analyst_fingerprint()
    print(f"analyst view before: {before}")

    header = original.splitlines()[0].lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace")
    english = "citizen_id" in header
    be = night.year + 543
    values = {
        "citizen_id": make_thai_id("399999999999"),
        "birth_date": f"01/01/{be - 75}",
        "payment_period": f"{night.month:02d}/{be}",
        "amount": "95000",
        "paid_on": f"{night.day:02d}/{night.month:02d}/{be}",
        "channel": "cash" if english else "เงินสด",
        "status": "paid" if english else "จ่ายแล้ว",
    }
    from dla_pipeline.contract import ALLOWANCE

    order = [ALLOWANCE.canonical(h) for h in header.split(",")]
    line = ",".join(values[c] for c in order) + "\r\n"
    # append in the file's own encoding (the loader's sniffing decides, as for any file)
    enc = sniff_encoding(original[:SNIFF_BYTES]).replace("-sig", "")
    target.write_bytes(original + line.encode(enc))
    print(f"injected: {target.name} re-sent with one line of 95,000 baht")
    try:
        blocked = run_night(night, runner=args.runner)
    finally:
        target.write_bytes(original)  # the LAO re-sends the corrected file
    after = analyst_fingerprint()
    print(
        f"analyst view after the blocked night: {after} "
        f"({'UNCHANGED' if after == before else 'CHANGED!'})"
    )
    if blocked["published"] or after != before:
        print("demo FAILED: the bad night reached analysts", file=sys.stderr)
        return 1
    print("corrected file re-sent; running the night again")
    fixed = run_night(night, runner=args.runner)
    return 0 if fixed["published"] else 1


if __name__ == "__main__":
    sys.exit(main())
