"""Reconciliation: recompute headline figures straight from the extract files and
compare them with the marts.

The files are read with the loader's own reader (``extract.read_extract``, the one
definition of what the contract accepts) and the same landing rules (which entries are
read, which LAO file wins), but everything after that - re-send replacement,
superseding vaccination reports, grouping by province - is recomputed here in Python,
not SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from . import ledger
from .config import Settings, get_settings
from .contract import SOURCES, load_lao_codes
from .db import connect
from .extract import Accepted, read_extract
from .ingest import SMALL_FILE_BYTES, make_context, refusal
from .landing import landing_for


def accepted_rows(source: str, night: date, settings: Settings) -> Iterator[dict]:
    """Rows of the night's current files that the contract accepts, as dicts."""
    spec = SOURCES[source]
    with connect(settings, role="loader") as conn:
        ctx = make_context(settings, night, ledger.erased_tokens(conn))
    registry = load_lao_codes(settings.reference_dir)
    with landing_for(settings.landing_dir) as landing:
        for entry in landing.scan(source, night).entries:
            reject = refusal(entry, registry, ctx.bounds(source).max_file_bytes)
            if not entry.read or reject:
                continue
            # the loader's way in (small files whole), so the same bytes reach the reader;
            # a file it cannot open as listed (changed, replaced) the loader rejects whole
            try:
                fh = landing.open(source, night, entry, SMALL_FILE_BYTES)
            except OSError:
                continue
            with fh:
                for item in read_extract(fh, spec, ctx):
                    if isinstance(item, Accepted):
                        yield from _rows(item, spec, entry.lao_code, night)


def _rows(item: Accepted, spec, lao_code: str | None, night: date) -> Iterator[dict]:
    for row in item.rows(spec):
        values = dict(zip(("row_no", *spec.db_columns, "extra"), row, strict=True))
        yield {**values, "lao_code": lao_code, "extract_date": night}


def expected_from_files(nights: list[date], settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    allowance: dict[str, Decimal] = defaultdict(Decimal)
    latest: dict[tuple, tuple] = {}
    for night in nights:
        for row in accepted_rows("allowance", night, settings):
            if row["status"] in ("paid", "arrears"):
                allowance[row["lao_code"][1:3]] += row["amount"]
        for row in accepted_rows("vaccination", night, settings):
            key = (row["lao_code"], row["village_no"], row["species"], row["fiscal_year"])
            order = (row["vaccination_date"], row["extract_date"], row["row_no"])
            if key not in latest or order > latest[key][0]:
                latest[key] = (order, row["surveyed"], row["vaccinated"] or 0)
    coverage: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for (lao, _village, _species, fy), (_order, surveyed, vaccinated) in latest.items():
        coverage[(lao[1:3], fy)][0] += surveyed
        coverage[(lao[1:3], fy)][1] += vaccinated
    return {"allowance": dict(allowance), "coverage": {k: tuple(x) for k, x in coverage.items()}}


def from_marts(schema: str = "marts", settings: Settings | None = None) -> dict:
    with connect(settings, role="publisher") as conn:
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
    with connect(settings, role="loader") as conn:
        return ledger.loaded_nights(conn)


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
