"""Reconciliation: recompute headline figures straight from the extract files and
compare them with the marts.

The files are read with the loader's own acceptance rules (so quarantined rows are
left out the same way), but everything after that — re-send replacement, superseding
vaccination reports, grouping by province — is recomputed here in Python, not SQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from .config import Settings, get_settings
from .contract import LINEAGE_COLUMNS, SOURCES, Context, load_account_codes, load_lao_codes
from .db import connect
from .ingest import LAO_FILE, FileResult, _fs, _load_file, _Quarantine, discover

ALLOWANCE_COLS = {c: i for i, c in enumerate((*LINEAGE_COLUMNS, *SOURCES["allowance"].db_columns))}
VACC_COLS = {c: i for i, c in enumerate((*LINEAGE_COLUMNS, *SOURCES["vaccination"].db_columns))}


def _accepted_rows(source: str, night: date, settings: Settings):
    """Rows of the night's current files that the contract accepts (as tuples)."""
    fs, root = _fs(settings)
    spec = SOURCES[source]
    ctx = Context(
        night, settings.pseudonym_key.encode(), load_account_codes(settings.dbt_dir / "seeds")
    )
    known = load_lao_codes(settings.reference_dir)
    for name in discover(source, night, settings):
        m = LAO_FILE.match(name)
        res = FileResult(name, m[1] if m else None)
        rows: list[tuple] = []
        _load_file(
            fs,
            f"{root}/{source}/{night.isoformat()}/{name}",
            res,
            spec,
            ctx,
            known,
            0,
            rows.append,
            _Quarantine(source, night, 0),
        )
        yield from rows


def expected_from_files(nights: list[date], settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    allowance: dict[str, Decimal] = defaultdict(Decimal)
    latest: dict[tuple, tuple] = {}
    a, v = ALLOWANCE_COLS, VACC_COLS
    for night in nights:
        for row in _accepted_rows("allowance", night, settings):
            if row[a["status"]] in ("paid", "arrears"):
                allowance[row[a["lao_code"]][1:3]] += row[a["amount"]]
        for row in _accepted_rows("vaccination", night, settings):
            key = (
                row[v["lao_code"]],
                row[v["village_no"]],
                row[v["species"]],
                row[v["fiscal_year"]],
            )
            order = (row[v["vaccination_date"]], row[v["extract_date"]], row[v["row_no"]])
            if key not in latest or order > latest[key][0]:
                latest[key] = (order, row[v["surveyed"]], row[v["vaccinated"]] or 0)
    coverage: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for (lao, _village, _species, fy), (_order, surveyed, vaccinated) in latest.items():
        coverage[(lao[1:3], fy)][0] += surveyed
        coverage[(lao[1:3], fy)][1] += vaccinated
    return {"allowance": dict(allowance), "coverage": {k: tuple(x) for k, x in coverage.items()}}


def from_marts(schema: str = "marts", settings: Settings | None = None) -> dict:
    with connect(settings) as conn:
        allowance = dict(
            conn.execute(
                f"select province_code, sum(amount_paid) from {schema}.allowance_by_province"
                " group by 1"
            ).fetchall()
        )
        coverage = {
            (p, fy): (s, v)
            for p, fy, s, v in conn.execute(
                f"select province_code, fiscal_year_be, surveyed, vaccinated"
                f" from {schema}.rabies_coverage_by_province"
            ).fetchall()
        }
    return {"allowance": allowance, "coverage": coverage}


def loaded_nights(settings: Settings | None = None) -> list[date]:
    with connect(settings) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select distinct extract_date from ops.nights order by 1"
            ).fetchall()
        ]


def reconcile(
    nights: list[date] | None = None, schema: str = "marts_build", settings: Settings | None = None
) -> list[str]:
    """Compare; return report lines. Raises AssertionError listing every mismatch."""
    settings = settings or get_settings()
    nights = nights or loaded_nights(settings)
    want = expected_from_files(nights, settings)
    got = from_marts(schema, settings)
    problems = []
    for p in sorted(set(want["allowance"]) | set(got["allowance"])):
        w, g = want["allowance"].get(p, Decimal(0)), got["allowance"].get(p, Decimal(0))
        if w != g:
            problems.append(f"allowance province {p}: files {w} != mart {g}")
    for k in sorted(set(want["coverage"]) | set(got["coverage"])):
        w, g = want["coverage"].get(k), got["coverage"].get(k)
        if w != (tuple(g) if g else None):
            problems.append(f"rabies coverage {k}: files (surveyed, vaccinated) {w} != mart {g}")
    if problems:
        raise AssertionError("reconciliation failed:\n  " + "\n  ".join(problems[:50]))
    total = sum(want["allowance"].values())
    return [
        f"reconciled {len(nights)} night(s): allowance in {len(want['allowance'])} provinces"
        f" ({total:,} baht) and rabies coverage for {len(want['coverage'])} province-years"
        f" match the extract files exactly"
    ]
