"""The three extract layouts of ../shared/extracts.md as data, and their conversion.

A ``Source`` knows its columns (English and Thai header names, which are required),
the raw table it loads, its within-file business key, and how to convert a *chunk* of
records column by column: each distinct cell value is parsed once (dates, amounts and
codes repeat across a file), and rules that need two cells of a row run per row. A row
is rejected at its first failing check, in the order the checks are written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from itertools import compress, islice
from operator import not_
from pathlib import Path

import yaml

from . import parsing as p
from .encoding import INVISIBLE
from .parsing import CellError
from .pseudonyms import Pseudonymiser


@dataclass(frozen=True)
class Column:
    name: str  # English header = canonical name
    thai: str
    required: bool = True


@dataclass(frozen=True)
class Bounds:
    """Plausibility bounds for one source (config/contract.yml)."""

    max_amount: Decimal = Decimal("999999999999.99")
    max_count: int = 10_000_000
    max_age_years: int = 120
    max_years_back: int = 5
    max_years_ahead: int = 1
    max_text_length: int = 200
    max_file_bytes: int = 1 << 30


@dataclass(frozen=True)
class Rules:
    """config/contract.yml: bounds per source and the extra-column allow-list."""

    bounds: dict[str, Bounds]
    extra_columns_allowed: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Rules:
        return _load_rules(path, path.stat().st_mtime_ns if path.exists() else 0)


@cache
def _load_rules(path: Path, _mtime: int) -> Rules:
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    defaults = config.get("defaults") or {}
    bounds = {}
    for name in SOURCES:
        merged = {**defaults, **((config.get("sources") or {}).get(name) or {})}
        unknown = set(merged) - set(Bounds.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown bound(s) {sorted(unknown)} for {name}")
        if "max_amount" in merged:
            merged["max_amount"] = Decimal(str(merged["max_amount"]))
        bounds[name] = Bounds(**merged)
    allowed = frozenset(str(n).strip().lower() for n in (config.get("extra_columns_allowed") or []))
    return Rules(bounds, allowed)


@dataclass
class Context:
    """What conversion needs beyond the cells: the night, keys, code lists, bounds."""

    extract_date: date
    citizen_key: bytes
    taxpayer_key: bytes
    key_version: int = 1
    account_codes: frozenset[str] = frozenset()
    rules: Rules = field(default_factory=lambda: Rules({n: Bounds() for n in SOURCES}, frozenset()))
    # PDPA erasure: tombstone tokens per purpose ('citizen', 'taxpayer') and their key
    erasure_secret: bytes = b""
    erased: dict[str, frozenset[str]] = field(default_factory=dict)
    # what each distinct cell of a column parsed to, kept across the chunks and files of
    # one load: source -> column -> {cell: value or CellError}; see ``Chunk.parse``
    memo: dict[str, dict[str, dict]] = field(default_factory=dict, repr=False)
    # the layout each header read to, kept across the files of one load (nearly every file
    # of a source has the same header): (source, header cells) -> Layout or None
    layouts: dict[tuple, object] = field(default_factory=dict, repr=False)

    def bounds(self, source: str) -> Bounds:
        return self.rules.bounds.get(source) or Bounds()

    @staticmethod
    def pseudonymise(key: bytes, ids: Iterable[str]) -> dict[str, str]:
        """HMAC-SHA256 of each distinct ID, once (pseudonyms.py derives the keys)."""
        return Pseudonymiser(key).many(ids)


# distinct cells remembered per column (dates, amounts, codes repeat): enough for a
# national night's birth dates (~76,000 written forms), of at most ``parsing.MAX_CELL``
# characters each (a longer cell is not a date, amount or code: parsed, not remembered)
MEMO_CELLS = 1 << 17


class Chunk:
    """Records of one file with the header's width, as columns of raw cell text.

    ``errors[i]`` is the first problem of row i as (field, code, detail), or None.
    ``memo`` (``Context.memo`` of the source) remembers parsed cells across chunks.
    """

    def __init__(
        self,
        line_nos: list[int],
        columns: dict[str, list[str]],
        memo: dict[str, dict] | None = None,
    ):
        self.line_nos = line_nos
        self.n = len(line_nos)
        self.cols = columns
        self.errors: list[tuple[str | None, str, str] | None] = [None] * self.n
        self.memo = memo

    def parse(self, name: str, fn: Callable[[str], object], optional: bool = False) -> list:
        """Parse a column, each distinct value once; a failure marks the row."""
        return self.parse_many(name, _each(name, fn, optional), remember=True)

    def parse_many(
        self,
        name: str,
        fn: Callable[[list[str]], list],
        remember: bool = False,
    ) -> list:
        """Parse a column with ``fn``, which takes distinct cells and returns what each
        parses to (a value or a ``CellError``), in order. ``remember``: keep the results
        for later chunks (columns of few distinct values; never personal IDs)."""
        col = self.cols.get(name) or [""] * self.n
        distinct = set(col)
        memo = self.memo.setdefault(name, {}) if remember and self.memo is not None else None
        if memo is None:
            cells = list(distinct)
            results = dict(zip(cells, fn(cells), strict=True))
        elif distinct <= memo.keys():  # every cell seen before (small files, few values)
            results = memo
        else:
            results = self._parse_new(distinct, memo, fn)
        out = list(map(results.__getitem__, col))
        found = map(results.__getitem__, distinct) if results is memo else results.values()
        if CellError in set(map(type, found)):  # distinct cells, not rows
            errors = self.errors
            for i, v in enumerate(out):
                if v.__class__ is CellError and errors[i] is None:
                    errors[i] = (name, v.code, v.detail)
        return out

    @staticmethod
    def _parse_new(distinct: set[str], memo: dict, fn: Callable[[list[str]], list]) -> dict:
        """What each distinct cell parses to: the memo, once ``fn`` has parsed the cells it
        did not hold and it remembers them (not past ``MEMO_CELLS``, no long cell)."""
        todo = [v for v in distinct if v not in memo]
        fresh = dict(zip(todo, fn(todo), strict=True))
        keep = fresh
        if max(map(len, todo)) > p.MAX_CELL:
            keep = {v: r for v, r in fresh.items() if len(v) <= p.MAX_CELL}
        if len(keep) == len(fresh) and len(memo) + len(keep) <= MEMO_CELLS:
            memo.update(fresh)
            return memo
        results = {v: memo[v] for v in distinct if v not in fresh} | fresh
        if len(memo) + len(keep) > MEMO_CELLS:
            memo.clear()
        memo.update(islice(keep.items(), MEMO_CELLS))
        return results

    def check(
        self,
        name: str,
        failure: Callable[[int], tuple[str, str] | None],
        rows: Iterable[int] | None = None,
    ) -> None:
        """A rule over several cells of a row, for rows still valid (of ``rows`` only: the
        rows a cheaper test could not clear)."""
        errors = self.errors
        for i in range(self.n) if rows is None else rows:
            if errors[i] is None:
                problem = failure(i)
                if problem:
                    errors[i] = (name, *problem)

    def ok(self) -> list[int]:
        """The rows without a problem, in order."""
        if self.errors.count(None) == self.n:
            return list(range(self.n))
        return list(compress(range(self.n), map(not_, self.errors)))


# -- cell rules shared by the sources ---------------------------------------------


def _each(name: str, fn: Callable[[str], object], optional: bool):
    """A parser of one cell as a parser of distinct cells (a failure is the result)."""

    def parse(values: list[str]) -> list:
        out: list = []
        for value in values:
            if optional and not p.normalise(value):
                out.append(None)
                continue
            try:
                out.append(fn(value))
            except CellError as exc:
                out.append(exc)
            except (ValueError, ArithmeticError) as exc:  # a parser's bug is a bad cell
                out.append(CellError("unparseable_value", f"cannot read {name}: {exc}"[:200]))
        return out

    return parse


def _date_within(ctx: Context, source: str, name: str):
    """An event date: parseable, not after the extract date, not too old."""
    b = ctx.bounds(source)
    oldest = p.add_years(ctx.extract_date, -b.max_years_back)

    def parse(text: str) -> date:
        d = p.parse_date(text)
        if d > ctx.extract_date:
            raise CellError(
                "future_date",
                f"date in the future ({d.isoformat()} is after the extract date "
                f"{ctx.extract_date.isoformat()})",
            )
        if d < oldest:
            raise CellError(
                "too_old",
                f"{name} {d.isoformat()} is more than {b.max_years_back} years before the"
                f" extract date {ctx.extract_date.isoformat()}",
            )
        return d

    return parse


def _person_ids(ctx: Context, purpose: str):
    """Citizen or taxpayer IDs (distinct cells at once, ``parsing.parse_thai_ids``); one
    that was erased (PDPA) is never loaded again."""
    tombstones = ctx.erased.get(purpose) or frozenset()
    if not tombstones:
        return p.parse_thai_ids
    from .pseudonyms import erasure_token

    erased = CellError("erased", f"the {purpose} was erased (PDPA): the row is not loaded again")

    def parse(values: list[str]) -> list:
        return [
            erased
            if d.__class__ is str and erasure_token(ctx.erasure_secret, purpose, d) in tombstones
            else d
            for d in p.parse_thai_ids(values)
        ]

    return parse


def _amount(ctx: Context, source: str):
    limit = ctx.bounds(source).max_amount

    def parse(text: str) -> Decimal:
        value = p.parse_amount(text)
        if value > limit:
            raise CellError("amount_too_large", f"implausible amount {value} (limit {limit})")
        return value

    return parse


def _count(ctx: Context, source: str):
    limit = ctx.bounds(source).max_count

    def parse(text: str) -> int:
        value = p.parse_count(text)
        if value > limit:
            raise CellError("number_too_large", f"implausible number {value} (limit {limit:,})")
        return value

    return parse


def _fiscal_year(ctx: Context, source: str):
    b = ctx.bounds(source)
    newest = p.fiscal_year_of(ctx.extract_date) + b.max_years_ahead
    oldest = p.fiscal_year_of(p.add_years(ctx.extract_date, -b.max_years_back))

    def parse(text: str) -> int:
        fy = p.parse_fiscal_year(text)
        if not oldest <= fy <= newest:
            raise CellError(
                "fiscal_year_out_of_range",
                f"fiscal year {fy} is outside {oldest}-{newest} for the extract date"
                f" {ctx.extract_date.isoformat()}",
            )
        return fy

    return parse


def _text(ctx: Context, source: str, name: str, required: bool = True):
    limit = ctx.bounds(source).max_text_length

    def parse(text: str) -> str | None:
        value = p.normalise(text)
        if not value:
            if required:
                raise CellError("empty_value", f"empty {name}")
            return None
        if len(value) > limit:
            raise CellError("text_too_long", f"{name} longer than {limit} characters")
        return value

    return parse


def _enum(name: str, mapping: dict[str, str], default: str | None = None):
    expected = ", ".join(sorted(set(mapping.values())))

    def parse(text: str) -> str:
        raw = p.normalise(text)
        if not raw and default is not None:
            return default
        value = mapping.get(raw) or mapping.get(raw.lower())
        if value is None:
            if not raw:
                raise CellError("empty_value", f"empty {name} (expected one of {expected})")
            raise CellError(
                "unknown_value", f"unknown {name} {raw[:60]!r} (expected one of {expected})"
            )
        return value

    return parse


@dataclass(frozen=True)
class Source:
    name: str
    table: str  # raw.<table>
    columns: tuple[Column, ...]
    db_columns: tuple[str, ...]  # typed columns after the lineage columns
    convert: Callable[[Chunk, Context], dict[str, list]]
    # within-file uniqueness besides exact duplicates: (db columns, label)
    business_key: tuple[tuple[str, ...], str] | None = None
    # the db columns that say what a row *is* (exact duplicates compare these)
    value_columns: tuple[str, ...] = ()
    header_map: dict[str, str] = field(init=False)

    def __post_init__(self):
        m: dict[str, str] = {}
        for c in self.columns:
            m[c.name.lower()] = c.name
            m[c.thai] = c.name
        object.__setattr__(self, "header_map", m)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def canonical(self, header_cell: str) -> str | None:
        key = header_cell.strip(INVISIBLE).replace(
            "\u0e4d\u0e32", "\u0e33"
        )  # sara am, typed in two
        return self.header_map.get(key) or self.header_map.get(key.lower())


# -- allowance --------------------------------------------------------------------

CHANNELS = {
    "โอนเข้าบัญชี": "bank_transfer",
    "bank_transfer": "bank_transfer",
    "เงินสด": "cash",
    "cash": "cash",
    "ผู้รับมอบอำนาจ": "proxy",
    "proxy": "proxy",
}
ALLOWANCE_STATUS = {
    "จ่ายแล้ว": "paid",
    "paid": "paid",
    "จ่ายไม่สำเร็จ": "failed",
    "failed": "failed",
    "ตกเบิก": "arrears",
    "arrears": "arrears",
}


def _oldest_birth_year(ctx: Context) -> int:
    """A birth in an earlier year is implausible (``max_age_years`` at the extract date)."""
    return ctx.extract_date.year - ctx.bounds("allowance").max_age_years - 1


def _birth(ctx: Context):
    b = ctx.bounds("allowance")
    oldest_year = _oldest_birth_year(ctx)

    def parse(text: str) -> tuple[date, str]:
        birth, precision = p.parse_birth_date(text)
        if birth > ctx.extract_date:
            raise CellError(
                "future_date",
                f"date in the future ({birth.isoformat()} is after the extract date "
                f"{ctx.extract_date.isoformat()})",
            )
        if birth.year < oldest_year:
            raise CellError(
                "implausible_age",
                f"implausible birth date {birth.isoformat()} (older than {b.max_age_years})",
            )
        return birth, precision

    return parse


def _births(ctx: Context):
    """``_birth`` over distinct cells: the plain dates read by slicing
    (``parsing.birth_dates_read_fast``) and kept when inside the bounds; any other cell,
    or one out of bounds, through ``_birth`` itself, for the same value or error."""
    one = _each("birth_date", _birth(ctx), optional=False)
    oldest, newest = _oldest_birth_year(ctx), ctx.extract_date  # a year: any bound is valid

    def parse(values: list[str]) -> list:
        fast = [
            r if r is not None and r[0].year >= oldest and r[0] <= newest else None
            for r in p.birth_dates_read_fast(values)
        ]
        rest = iter(one([v for v, r in zip(values, fast, strict=True) if r is None]))
        return [next(rest) if r is None else r for r in fast]

    return parse


def _period(ctx: Context):
    b = ctx.bounds("allowance")
    oldest = p.add_years(ctx.extract_date, -b.max_years_back).replace(day=1)
    newest = p.add_years(ctx.extract_date, b.max_years_ahead)

    def parse(text: str) -> date:
        period = p.parse_period(text)
        if period < oldest:
            raise CellError(
                "too_old",
                f"payment period {period:%m/%Y} is more than {b.max_years_back} years before"
                f" the extract date {ctx.extract_date.isoformat()}",
            )
        if period > newest:
            raise CellError(
                "period_too_far",
                f"payment period {period:%m/%Y} is more than {b.max_years_ahead} year(s)"
                f" after the extract date {ctx.extract_date.isoformat()}",
            )
        return period

    return parse


def oldest_plausible_birth(period: date, max_age: int) -> date:
    """The earliest birth date whose age in ``period`` (a month: the age on its first day,
    as ``too_old`` counts it) is at most ``max_age``: anyone born before is older."""
    year = period.year - max_age - 1
    return date(year, period.month, 2) if year >= 1 else date.min


def _convert_allowance(ch: Chunk, ctx: Context) -> dict[str, list]:
    max_age = ctx.bounds("allowance").max_age_years
    cid = ch.parse_many("citizen_id", _person_ids(ctx, "citizen"))
    birth = ch.parse_many("birth_date", _births(ctx), remember=True)
    period = ch.parse("payment_period", _period(ctx))

    def too_old(i: int):
        born, paid_for = birth[i][0], period[i]
        age = paid_for.year - born.year - ((paid_for.month, 1) < (born.month, born.day))
        if age > max_age:
            return "implausible_age", f"recipient aged {age} in period {paid_for:%m/%Y}"
        return None

    # only a birth before the period's cutoff can be too old: one comparison a row
    cutoffs = {d: oldest_plausible_birth(d, max_age) for d in set(period) if d.__class__ is date}
    maybe = [
        i
        for i, (b, d) in enumerate(zip(birth, period, strict=True))
        if b.__class__ is tuple and d.__class__ is date and b[0] < cutoffs[d]
    ]
    ch.check("birth_date", too_old, maybe)
    amount = ch.parse("amount", _amount(ctx, "allowance"))
    paid_on = ch.parse("paid_on", _date_within(ctx, "allowance", "paid_on"))
    channel = ch.parse("channel", _enum("channel", CHANNELS))
    status = ch.parse("status", _enum("status", ALLOWANCE_STATUS))
    ok = ch.ok()
    keys = Context.pseudonymise(ctx.citizen_key, (cid[i] for i in ok))
    return {
        "citizen_id": cid,
        "person_key": [keys.get(c) if c.__class__ is str else None for c in cid],
        "birth_date": [b[0] if b.__class__ is tuple else None for b in birth],
        "birth_date_precision": [b[1] if b.__class__ is tuple else None for b in birth],
        "payment_period": period,
        "amount": amount,
        "paid_on": paid_on,
        "channel": channel,
        "status": status,
    }


ALLOWANCE = Source(
    name="allowance",
    table="allowance_payments",
    columns=(
        Column("citizen_id", "เลขประจำตัวประชาชน"),
        Column("birth_date", "วันเกิด"),
        Column("payment_period", "งวด"),
        Column("amount", "จำนวนเงิน"),
        Column("paid_on", "วันที่จ่าย"),
        Column("channel", "ช่องทาง"),
        Column("status", "สถานะ"),
    ),
    db_columns=(
        "citizen_id",
        "person_key",
        "birth_date",
        "birth_date_precision",
        "payment_period",
        "amount",
        "paid_on",
        "channel",
        "status",
    ),
    convert=_convert_allowance,
    value_columns=(
        "citizen_id",
        "birth_date",
        "birth_date_precision",
        "payment_period",
        "amount",
        "paid_on",
        "channel",
        "status",
    ),
)

# -- tax --------------------------------------------------------------------------

TAX_STATUS = {"ชำระแล้ว": "paid", "paid": "paid", "ยกเลิก": "cancelled", "cancelled": "cancelled"}


def _account(ctx: Context):
    def parse(text: str) -> str:
        account = p.normalise(text)
        if not account:
            raise CellError("empty_value", "empty account_code")
        if not (len(account) == 8 and account.isascii() and account.isdigit()):
            raise CellError("bad_account_code", f"account_code {account[:60]!r} is not 8 digits")
        if ctx.account_codes and account not in ctx.account_codes:
            raise CellError("unknown_account", f"unknown revenue account_code {account}")
        return account

    return parse


def _convert_tax(ch: Chunk, ctx: Context) -> dict[str, list]:
    receipt_no = ch.parse("receipt_no", _text(ctx, "tax", "receipt_no"))
    fy = ch.parse("fiscal_year", _fiscal_year(ctx, "tax"))
    rdate = ch.parse("receipt_date", _date_within(ctx, "tax", "receipt_date"))

    def outside_fy(i: int):
        start, end = p.fiscal_year_bounds(fy[i])
        if not start <= rdate[i] <= end:
            return (
                "date_outside_fiscal_year",
                f"receipt_date {rdate[i].isoformat()} is outside fiscal year {fy[i]}"
                f" ({start.isoformat()}..{end.isoformat()})",
            )
        return None

    ch.check("receipt_date", outside_fy)
    account = ch.parse("account_code", _account(ctx))
    revenue_type = ch.parse("revenue_type", _text(ctx, "tax", "revenue_type", required=False))
    parcel = ch.parse("parcel_id", _text(ctx, "tax", "parcel_id", required=False))
    tid = ch.parse_many("taxpayer_id", _person_ids(ctx, "taxpayer"))
    amount = ch.parse("amount", _amount(ctx, "tax"))
    status = ch.parse("status", _enum("status", TAX_STATUS, default="paid"))
    keys = Context.pseudonymise(ctx.taxpayer_key, (tid[i] for i in ch.ok()))
    return {
        "receipt_no": receipt_no,
        "receipt_date": rdate,
        "account_code": account,
        "revenue_type": revenue_type,
        "parcel_id": parcel,
        "taxpayer_id": tid,
        "taxpayer_key": [keys.get(t) if t.__class__ is str else None for t in tid],
        "amount": amount,
        "fiscal_year": fy,
        "status": status,
    }


TAX = Source(
    name="tax",
    table="tax_receipts",
    columns=(
        Column("receipt_no", "เลขที่ใบเสร็จ"),
        Column("receipt_date", "วันที่รับเงิน"),
        Column("account_code", "รหัสบัญชี"),
        Column("revenue_type", "ประเภทรายได้", required=False),
        Column("parcel_id", "เลขที่ทรัพย์สิน", required=False),
        Column("taxpayer_id", "เลขผู้เสียภาษี"),
        Column("amount", "จำนวนเงิน"),
        Column("fiscal_year", "ปีงบประมาณ"),
        Column("status", "สถานะ", required=False),
    ),
    db_columns=(
        "receipt_no",
        "receipt_date",
        "account_code",
        "revenue_type",
        "parcel_id",
        "taxpayer_id",
        "taxpayer_key",
        "amount",
        "fiscal_year",
        "status",
    ),
    convert=_convert_tax,
    business_key=(("receipt_no", "fiscal_year", "status"), "receipt_no, fiscal year and status"),
    value_columns=(
        "receipt_no",
        "receipt_date",
        "account_code",
        "revenue_type",
        "parcel_id",
        "taxpayer_id",
        "amount",
        "fiscal_year",
        "status",
    ),
)

# -- vaccination --------------------------------------------------------------------

SPECIES = {"สุนัข": "dog", "dog": "dog", "แมว": "cat", "cat": "cat"}


def _village(text: str) -> int:
    village = p.parse_count(text)
    if not 1 <= village <= 99:
        raise CellError("out_of_range", f"village_no {village} is outside 1-99")
    return village


def _convert_vaccination(ch: Chunk, ctx: Context) -> dict[str, list]:
    count = _count(ctx, "vaccination")
    village = ch.parse("village_no", _village)
    species = ch.parse("species", _enum("species", SPECIES))
    surveyed = ch.parse("surveyed", count)
    owned = ch.parse("owned", count, optional=True)
    ownerless = ch.parse("ownerless", count, optional=True)
    vaccinated = ch.parse("vaccinated", count, optional=True)

    def owned_sum(i: int):
        o, u, s = owned[i], ownerless[i], surveyed[i]
        if o is not None and u is not None and o + u != s:
            return "inconsistent_counts", f"owned {o} + ownerless {u} != surveyed {s}"
        return None

    def over(i: int):
        v, s = vaccinated[i], surveyed[i]
        if v is not None and v > s:
            return "inconsistent_counts", f"vaccinated {v} > surveyed {s}"
        return None

    ch.check("owned", owned_sum)
    ch.check("vaccinated", over)
    vdate = ch.parse("vaccination_date", _date_within(ctx, "vaccination", "vaccination_date"))
    fy = ch.parse("fiscal_year", _fiscal_year(ctx, "vaccination"))
    return {
        "village_no": village,
        "species": species,
        "surveyed": surveyed,
        "owned": owned,
        "ownerless": ownerless,
        "vaccinated": vaccinated,
        "vaccination_date": vdate,
        "fiscal_year": fy,
    }


VACCINATION = Source(
    name="vaccination",
    table="vaccination_reports",
    columns=(
        Column("village_no", "หมู่ที่"),
        Column("species", "ชนิดสัตว์"),
        Column("surveyed", "จำนวนสำรวจ"),
        Column("owned", "มีเจ้าของ", required=False),
        Column("ownerless", "ไม่มีเจ้าของ", required=False),
        Column("vaccinated", "ฉีดวัคซีน", required=False),
        Column("vaccination_date", "วันที่ฉีด"),
        Column("fiscal_year", "ปีงบประมาณ"),
    ),
    db_columns=(
        "village_no",
        "species",
        "surveyed",
        "owned",
        "ownerless",
        "vaccinated",
        "vaccination_date",
        "fiscal_year",
    ),
    convert=_convert_vaccination,
    business_key=(("village_no", "species", "fiscal_year"), "village, species and fiscal year"),
)

SOURCES: dict[str, Source] = {s.name: s for s in (ALLOWANCE, TAX, VACCINATION)}

LINEAGE_COLUMNS = ("load_id", "lao_code", "extract_date", "source_file", "file_sha256", "row_no")


# -- reference lists shipped as dbt seeds ------------------------------------------------


def load_lao_codes(reference_dir: Path) -> frozenset[str]:
    path = reference_dir / "dla_lao_registry.csv"
    return _lao_codes(path, path.stat().st_mtime_ns)


@cache
def _lao_codes(path: Path, _mtime: int) -> frozenset[str]:
    with path.open(encoding="utf-8") as fh:
        return frozenset(row["lao_code"].strip() for row in csv.DictReader(fh))


def load_account_codes(seeds_dir: Path) -> frozenset[str]:
    with (seeds_dir / "revenue_accounts.csv").open(encoding="utf-8") as fh:
        return frozenset(row["account_code"].strip() for row in csv.DictReader(fh))
