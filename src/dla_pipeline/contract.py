"""The three extract layouts of ../shared/extracts.md as data, plus row conversion.

A ``Source`` knows its columns (English and Thai header names, which are
required), the raw table it loads, and how to turn one CSV record into the typed
tuple that is COPYed there. Conversion raises ``RowError(field, reason)``; the
loader turns that into a quarantine row.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import parsing as p
from .parsing import CellError


class RowError(ValueError):
    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Column:
    name: str  # English header = canonical name
    thai: str
    required: bool = True


@dataclass
class Context:
    """What conversion needs beyond the row: the night, the key, code lists."""

    extract_date: date
    pseudonym_key: bytes
    account_codes: frozenset[str] = frozenset()

    def pseudonym(self, clear_id: str) -> str:
        return hmac.new(self.pseudonym_key, clear_id.encode(), hashlib.sha256).hexdigest()


Get = Callable[[str], str]


def _cell(get: Get, name: str, fn, *args):
    try:
        return fn(get(name), *args)
    except CellError as exc:
        raise RowError(name, str(exc)) from None


def _optional(get: Get, name: str, fn):
    raw = get(name)
    if not p.normalise(raw):
        return None
    return _cell(get, name, fn)


def _not_future(name: str, d: date, ctx: Context) -> date:
    if d > ctx.extract_date:
        raise RowError(
            name,
            f"date in the future ({d.isoformat()} is after the extract date "
            f"{ctx.extract_date.isoformat()})",
        )
    return d


def _enum(get: Get, name: str, mapping: dict[str, str], default: str | None = None) -> str:
    raw = p.normalise(get(name))
    if not raw and default is not None:
        return default
    value = mapping.get(raw) or mapping.get(raw.lower())
    if value is None:
        raise RowError(
            name,
            f"unknown {name} {raw!r} (expected one of {', '.join(sorted(set(mapping.values())))})",
        )
    return value


@dataclass(frozen=True)
class Source:
    name: str
    table: str  # raw.<table>
    columns: tuple[Column, ...]
    db_columns: tuple[str, ...]  # typed columns after the lineage columns
    convert: Callable[[Get, Context], tuple]
    # within-file uniqueness besides exact duplicates: (columns, label)
    business_key: tuple[tuple[str, ...], str] | None = None
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
        key = header_cell.replace("\ufeff", "").strip().strip("\u00a0").strip()
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


def _allowance(get: Get, ctx: Context) -> tuple:
    cid = _cell(get, "citizen_id", p.parse_thai_id)
    birth, precision = _cell(get, "birth_date", p.parse_birth_date)
    if birth.year < 1880:
        raise RowError("birth_date", f"implausible birth year {birth.year}")
    _not_future("birth_date", birth, ctx)
    period = _cell(get, "payment_period", p.parse_period)
    amount = _cell(get, "amount", p.parse_amount)
    paid_on = _not_future("paid_on", _cell(get, "paid_on", p.parse_date), ctx)
    channel = _enum(get, "channel", CHANNELS)
    status = _enum(get, "status", ALLOWANCE_STATUS)
    return (cid, ctx.pseudonym(cid), birth, precision, period, amount, paid_on, channel, status)


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
    convert=_allowance,
)

# -- tax --------------------------------------------------------------------------

TAX_STATUS = {"ชำระแล้ว": "paid", "paid": "paid", "ยกเลิก": "cancelled", "cancelled": "cancelled"}


def _tax(get: Get, ctx: Context) -> tuple:
    receipt_no = p.normalise(get("receipt_no"))
    if not receipt_no:
        raise RowError("receipt_no", "empty receipt_no")
    fy = _cell(get, "fiscal_year", p.parse_fiscal_year)
    rdate = _not_future("receipt_date", _cell(get, "receipt_date", p.parse_date), ctx)
    start, end = p.fiscal_year_bounds(fy)
    if not start <= rdate <= end:
        raise RowError(
            "receipt_date",
            f"receipt_date {rdate.isoformat()} is outside fiscal "
            f"year {fy} ({start.isoformat()}..{end.isoformat()})",
        )
    account = p.normalise(get("account_code"))
    if not (len(account) == 8 and account.isdigit()):
        raise RowError("account_code", f"account_code {account!r} is not 8 digits")
    if ctx.account_codes and account not in ctx.account_codes:
        raise RowError("account_code", f"unknown revenue account_code {account}")
    tid = _cell(get, "taxpayer_id", p.parse_thai_id)
    amount = _cell(get, "amount", p.parse_amount)
    status = _enum(get, "status", TAX_STATUS, default="paid")
    return (
        receipt_no,
        rdate,
        account,
        p.normalise(get("revenue_type")) or None,
        p.normalise(get("parcel_id")) or None,
        tid,
        ctx.pseudonym(tid),
        amount,
        fy,
        status,
    )


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
    convert=_tax,
    business_key=(("receipt_no", "status"), "receipt_no and status"),
)

# -- vaccination --------------------------------------------------------------------

SPECIES = {"สุนัข": "dog", "dog": "dog", "แมว": "cat", "cat": "cat"}


def _vaccination(get: Get, ctx: Context) -> tuple:
    village = _cell(get, "village_no", p.parse_count)
    if not 1 <= village <= 99:
        raise RowError("village_no", f"village_no {village} is outside 1-99")
    species = _enum(get, "species", SPECIES)
    surveyed = _cell(get, "surveyed", p.parse_count)
    owned = _optional(get, "owned", p.parse_count)
    ownerless = _optional(get, "ownerless", p.parse_count)
    vaccinated = _optional(get, "vaccinated", p.parse_count)
    if owned is not None and ownerless is not None and owned + ownerless != surveyed:
        raise RowError("owned", f"owned {owned} + ownerless {ownerless} != surveyed {surveyed}")
    if vaccinated is not None and vaccinated > surveyed:
        raise RowError("vaccinated", f"vaccinated {vaccinated} > surveyed {surveyed}")
    vdate = _not_future("vaccination_date", _cell(get, "vaccination_date", p.parse_date), ctx)
    fy = _cell(get, "fiscal_year", p.parse_fiscal_year)
    return (village, species, surveyed, owned, ownerless, vaccinated, vdate, fy)


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
    convert=_vaccination,
    business_key=(("village_no", "species", "fiscal_year"), "village, species and fiscal year"),
)

SOURCES: dict[str, Source] = {s.name: s for s in (ALLOWANCE, TAX, VACCINATION)}

LINEAGE_COLUMNS = ("load_id", "lao_code", "extract_date", "source_file", "file_sha256", "row_no")


# -- reference lists shipped as dbt seeds ------------------------------------------------


def load_lao_codes(reference_dir: Path) -> frozenset[str]:
    with (reference_dir / "dla_lao_registry.csv").open(encoding="utf-8") as fh:
        return frozenset(row["lao_code"].strip() for row in csv.DictReader(fh))


def load_account_codes(seeds_dir: Path) -> frozenset[str]:
    with (seeds_dir / "revenue_accounts.csv").open(encoding="utf-8") as fh:
        return frozenset(row["account_code"].strip() for row in csv.DictReader(fh))
