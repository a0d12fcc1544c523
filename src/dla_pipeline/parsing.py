"""Parsers for the cell formats of ../shared/extracts.md (pure functions).

Each parser takes the raw cell text and returns a Python value or raises ``CellError``
with a reason code (see the seed ``reason_codes``) and a detail a person can read.
Cells repeat a lot within a file (dates, tier amounts), so callers parse each distinct
value once (``contract.Chunk.parse``); the hot parsers are also memoised.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import numpy as np

# Thai and full-width digits read as ASCII; Unicode dashes as '-'; a decomposed sara am
# (nikhahit + sara aa, as some keyboards type it) as the one character
THAI_DIGITS = str.maketrans(
    {
        **{c: str(i) for i, c in enumerate("๐๑๒๓๔๕๖๗๘๙")},
        **{c: str(i) for i, c in enumerate("０１２３４５６７８９")},
        **dict.fromkeys("‐‑‒–—−﹣－", "-"),
    }
)
MAX_CELL = 64  # a date, amount, count or code longer than this is not one (and is not cached)
BE_OFFSET = 543
BE_THRESHOLD = 2400  # a year above this is Buddhist Era (contract rule)
# white space and invisible characters around a value (NBSP, zero-width, BOM)
_STRIP = " \t\r\n\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"

THAI_MONTHS = {
    "มค": 1,
    "มกราคม": 1,
    "กพ": 2,
    "กุมภาพันธ์": 2,
    "มีค": 3,
    "มีนาคม": 3,
    "เมย": 4,
    "เมษายน": 4,
    "พค": 5,
    "พฤษภาคม": 5,
    "มิย": 6,
    "มิถุนายน": 6,
    "กค": 7,
    "กรกฎาคม": 7,
    "สค": 8,
    "สิงหาคม": 8,
    "กย": 9,
    "กันยายน": 9,
    "ตค": 10,
    "ตุลาคม": 10,
    "พย": 11,
    "พฤศจิกายน": 11,
    "ธค": 12,
    "ธันวาคม": 12,
}


class CellError(ValueError):
    """A cell that cannot be accepted: ``code`` (reason_codes) and a readable detail."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def normalise(text: str) -> str:
    """Thai digits to ASCII, surrounding white space (incl. NBSP, zero-width) removed."""
    return text.translate(THAI_DIGITS).replace("\u0e4d\u0e32", "\u0e33").strip(_STRIP)


def _short(text: str, what: str, code: str) -> str:
    """The normalised cell, refused when it is far too long to be a ``what`` (so caches
    keyed on cells stay small whatever a file holds)."""
    s = normalise(text)
    if len(s) > MAX_CELL:
        raise CellError(code, f"{what} too long to read ({len(s)} characters)")
    return s


def ce_year(year: int) -> int:
    return year - BE_OFFSET if year > BE_THRESHOLD else year


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\Z", re.ASCII)
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})\Z", re.ASCII)
_THAI = re.compile(r"^(\d{1,2})\s*([\u0e00-\u0e7f.]+?)\s*(\d{4})\Z", re.ASCII)


def date_parts(text: str) -> tuple[int, int, int]:
    """(CE year, month, day) of a contract date; month/day may be 0 (unknown)."""
    return _date_parts(_short(text, "date", "bad_date"))


@lru_cache(maxsize=4096)
def _date_parts(text: str) -> tuple[int, int, int]:
    s = text
    if not s:
        raise CellError("empty_value", "empty date")
    if m := _DMY.match(s):
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    elif m := _ISO.match(s):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _THAI.match(s):
        month = THAI_MONTHS.get(m[2].replace(".", "").replace(" ", ""))
        if month is None:
            raise CellError("bad_date", f"unknown Thai month {m[2]!r} in date {text!r}")
        d, mo, y = int(m[1]), month, int(m[3])
    else:
        raise CellError("bad_date", f"unparseable date {text!r}")
    return ce_year(y), mo, d


def parse_date(text: str) -> date:
    y, mo, d = date_parts(text)
    try:
        return date(y, mo, d)
    except ValueError:
        raise CellError("impossible_date", f"impossible date {text!r}") from None


def parse_birth_date(text: str) -> tuple[date, str]:
    """Birth date where day and month may be 00; returns (date, precision).

    Unknown parts become 1 (1 January of the year when both are unknown), and the
    precision says which parts were known: 'day', 'month' or 'year'.
    """
    y, mo, d = date_parts(text)
    if mo == 0 and d != 0:
        raise CellError("impossible_date", f"birth date with a day but no month {text!r}")
    precision = "day" if d else ("month" if mo else "year")
    try:
        return date(y, mo or 1, d or 1), precision
    except ValueError:
        raise CellError("impossible_date", f"impossible date {text!r}") from None


def birth_dates_read_fast(values: list[str]) -> list[tuple[date, str] | None]:
    """What ``parse_birth_date`` gives each cell written 'DD/MM/YYYY', 'YYYY-MM-DD' or
    'D[D] <Thai month> YYYY' (Thai digits read as ASCII) with a known day and month and a
    real date (nearly all), by slicing; None for any other cell, which the caller reads
    with ``parse_birth_date`` itself (so the rules, and every error, stay in one place)."""
    return [_plain_birth(v if v.isascii() else v.translate(THAI_DIGITS)) for v in values]


def _plain_birth(t: str) -> tuple[date, str] | None:
    """One cell of ``birth_dates_read_fast``, its Thai digits already read as ASCII."""
    if len(t) == 10 and t.isascii():
        if t[2] == "/" == t[5]:
            day, month, year = t[:2], t[3:5], t[6:]
        elif t[4] == "-" == t[7]:
            year, month, day = t[:4], t[5:7], t[8:]
        else:
            return None
        if not (day + month + year).isdigit():
            return None
        month = int(month)
    elif len(t) <= MAX_CELL and not t.isascii():
        day, _, rest = t.partition(" ")
        name, _, year = rest.partition(" ")
        if not (len(day) in (1, 2) and len(year) == 4 and (day + year).isascii()):
            return None
        month = THAI_MONTHS.get(name.replace(".", ""), 0)  # as ``_date_parts`` reads it
        if not ((day + year).isdigit() and month):
            return None
    else:
        return None
    y = int(year)
    try:
        return date(y - BE_OFFSET if y > BE_THRESHOLD else y, month, int(day)), "day"
    except ValueError:  # day or month 0 (another precision), or no such day
        return None


_PERIOD = re.compile(r"^(\d{1,2})\s*/\s*(\d{4})\Z", re.ASCII)
_PERIOD_ISO = re.compile(r"^(\d{4})-(\d{1,2})\Z", re.ASCII)


def parse_period(text: str) -> date:
    """``MM/YYYY`` (BE, or CE by the year rule) to the first day of that month."""
    s = _short(text, "payment period", "bad_period")
    if not s:
        raise CellError("empty_value", "empty payment period")
    m = _PERIOD.match(s) or _PERIOD_ISO.match(s)
    if not m:
        raise CellError("bad_period", f"unparseable payment period {text!r} (expected MM/YYYY)")
    a, b = int(m[1]), int(m[2])
    month, year = (a, b) if m.re is _PERIOD else (b, a)
    if not 1 <= month <= 12:
        raise CellError("bad_period", f"impossible month in payment period {text!r}")
    year = ce_year(year)
    if year < 1:
        raise CellError("bad_period", f"impossible year in payment period {text!r}")
    return date(year, month, 1)


_AMOUNT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\Z", re.ASCII)
CENT = Decimal("0.01")


def parse_amount(text: str) -> Decimal:
    """``1234.5``, ``1,234.50``, ``1,234.50 บาท``; must be > 0 once rounded to satang."""
    return _parse_amount(_short(text, "amount", "bad_amount"))


@lru_cache(maxsize=4096)
def _parse_amount(cell: str) -> Decimal:
    s = cell.replace("บาท", "").replace("฿", "").replace(" ", "")
    if not s:
        raise CellError("empty_value", "empty amount")
    if not _AMOUNT.match(s):
        raise CellError("bad_amount", f"unparseable amount {cell!r}")
    whole = s.replace(",", "").lstrip("+-").split(".")[0].lstrip("0")
    if len(whole) > 15:  # far beyond any bound; and Decimal rounding needs no more digits
        raise CellError("amount_too_large", f"implausible amount {cell!r}")
    try:
        value = Decimal(s.replace(",", "")).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise CellError("bad_amount", f"unparseable amount {cell!r}") from None
    if value < 0:
        raise CellError("non_positive_amount", f"negative amount {cell!r}")
    if value == 0:
        raise CellError("non_positive_amount", f"zero amount {cell!r} (after rounding to satang)")
    return value


_COUNT = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)\Z")


def parse_count(text: str) -> int:
    """A non-negative integer (thousands separators allowed)."""
    return _parse_count(_short(text, "number", "bad_number"))


@lru_cache(maxsize=4096)
def _parse_count(s: str) -> int:
    if not s:
        raise CellError("empty_value", "empty number")
    if not s.isascii() or not _COUNT.match(s) or len(s) > 20:
        raise CellError("bad_number", f"not a whole number {s!r}")
    value = int(s.replace(",", ""))
    if value < 0:
        raise CellError("bad_number", f"negative number {s!r}")
    return value


def parse_fiscal_year(text: str) -> int:
    """A fiscal year; returned in BE as the contract names it (CE is converted)."""
    s = _short(text, "fiscal year", "bad_fiscal_year")
    if not s:
        raise CellError("empty_value", "empty fiscal year")
    if not (len(s) == 4 and s.isascii() and s.isdigit()):
        raise CellError("bad_fiscal_year", f"unparseable fiscal year {text[:60]!r}")
    return ce_year(int(s)) + BE_OFFSET


def thai_id_valid(digits: str) -> bool:
    """The 13-digit Thai ID checksum (domain.md)."""
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    s = sum(int(digits[i]) * (13 - i) for i in range(12))
    return (11 - s % 11) % 10 == int(digits[12])


def parse_thai_id(text: str) -> str:
    """Citizen or juristic ID, dashes and spaces allowed; returns the 13 digits."""
    s = _short(text, "ID", "bad_id").replace("-", "").replace(" ", "")
    if not s:
        raise CellError("empty_value", "empty ID")
    if len(s) != 13 or not s.isascii() or not s.isdigit():
        raise CellError("bad_id", "ID is not 13 digits")
    if not thai_id_valid(s):
        raise CellError("bad_checksum", "ID fails the checksum")
    return s


_ID_WEIGHTS = np.arange(13, 1, -1, dtype=np.int64)  # 13..2 over the first 12 digits


def parse_thai_ids(values: list[str]) -> list:
    """``parse_thai_id`` over many cells at once: the result or the ``CellError`` of each.

    ASCII cells that are 13 digits once spaces and dashes go (nearly all: most are the 13
    digits already) have their checksums computed as one array; any other cell, or one
    failing its checksum, goes through ``parse_thai_id`` itself, so the rules and the
    errors stay in one place.
    """
    out: list = [v if len(v) == 13 and v.isdigit() and v.isascii() else None for v in values]
    missing = [i for i, d in enumerate(out) if d is None]
    for i in missing:
        v = values[i]
        if v.isascii() and len(v) <= MAX_CELL:
            d = v.strip(_STRIP).replace("-", "").replace(" ", "")
            if len(d) == 13 and d.isdigit():
                out[i] = d
    at = [i for i, d in enumerate(out) if d is not None] if missing else None
    missing = [i for i in missing if out[i] is None]
    ids = out if at is None else [out[i] for i in at]
    if ids:
        digits = np.frombuffer("".join(ids).encode("ascii"), dtype=np.uint8).reshape(-1, 13)
        digits = digits.astype(np.int64) - 48
        total = digits[:, :12] @ _ID_WEIGHTS
        failed = np.flatnonzero((11 - total % 11) % 10 != digits[:, 12]).tolist()
        missing += failed if at is None else [at[j] for j in failed]
    for i in missing:
        try:
            out[i] = parse_thai_id(values[i])
        except CellError as exc:
            out[i] = exc
    return out


def fiscal_year_of(d: date) -> int:
    """BE fiscal year (October start, named after the year it ends in)."""
    return d.year + BE_OFFSET + (1 if d.month >= 10 else 0)


def fiscal_year_bounds(fy_be: int) -> tuple[date, date]:
    end_ce = fy_be - BE_OFFSET
    return date(end_ce - 1, 10, 1), date(end_ce, 9, 30)


def add_years(d: date, years: int) -> date:
    """``d`` moved by whole years (29 February becomes 28 February)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)
