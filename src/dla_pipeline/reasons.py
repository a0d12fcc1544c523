"""Reason codes for rejected files and quarantined rows: one table, the seed
``dbt_project/seeds/reason_codes.csv`` (English, Thai, and what the LAO should do).

The loader stores the code beside the readable detail; the marts and the provincial
follow-up pack join the seed for the Thai wording.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "reason_codes.csv"


@cache
def catalogue(path: Path = SEED) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return {row["reason_code"]: row for row in csv.DictReader(fh)}


def known(code: str) -> bool:
    return code in catalogue()


def thai(code: str) -> str:
    row = catalogue().get(code)
    return row["reason_th"] if row else code
