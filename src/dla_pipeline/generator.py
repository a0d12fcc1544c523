"""Realistic nightly extracts, written exactly as ../shared/extracts.md describes.

Deterministic by seed. Volumes follow LAO type (a city municipality sends far more
receipts and pays far more elderly than a small SAO) and season (land and
building tax in its payment months, vaccination in March-May, allowance on the
1st-10th). Files vary the way real ones do (three encodings, Thai or English
headers in any order, BE/CE/Thai-month dates, Thai digits, "บาท" amounts), and a
configurable fraction of rows and files carry the damage the contract lists.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .config import get_settings
from .contract import SOURCES
from .parsing import BE_OFFSET, fiscal_year_of

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTH_ABBR = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]

# elderly recipients and tax receipts per night by LAO type digit (2 PAO .. 6 SAO)
RECIPIENTS = {
    "2": (0, 0),
    "3": (9000, 22000),
    "4": (2500, 7000),
    "5": (700, 2200),
    "6": (600, 1600),
}
RECEIPTS = {"2": (0, 4), "3": (150, 500), "4": (40, 140), "5": (5, 30), "6": (1, 12)}
VILLAGES = {"2": (0, 0), "3": (20, 40), "4": (10, 25), "5": (6, 15), "6": (8, 20)}

TAX_ACCOUNTS = [  # (code, Thai name, weight)
    ("41100005", "ภาษีที่ดินและสิ่งปลูกสร้าง", 30),
    ("41100003", "ภาษีป้าย", 8),
    ("41100004", "อากรการฆ่าสัตว์", 2),
    ("41210008", "ค่าธรรมเนียมเก็บและขนมูลฝอย", 35),
    ("41220001", "ค่าธรรมเนียมใบอนุญาต", 10),
    ("41300001", "ค่าปรับ", 4),
    ("41400001", "ค่าเช่าทรัพย์สิน", 8),
    ("41100001", "ภาษีโรงเรือนและที่ดิน", 2),
    ("41100002", "ภาษีบำรุงท้องที่", 1),
]

BAD_FILE_KINDS = (
    "unknown_lao",
    "missing_column",
    "binary",
    "html",
    "empty",
    "bad_path",
    "bad_encoding",
    "part",
)


def _stable(*parts) -> int:
    return int.from_bytes(
        hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big"
    )


def make_thai_id(body12: str) -> str:
    s = sum(int(body12[i]) * (13 - i) for i in range(12))
    return body12 + str((11 - s % 11) % 10)


def person_id(lao: str, i: int, first_digit: str = "3") -> str:
    return make_thai_id(first_digit + f"{_stable('person', lao, i) % 10**11:011d}")


def tier_amount(age: int) -> int:
    return 1000 if age >= 90 else 800 if age >= 80 else 700 if age >= 70 else 600


@dataclass
class Style:
    """How one LAO's office writes its files (per file, drawn from the seed)."""

    encoding: str
    thai_header: bool
    shuffle: bool
    header_spaces: bool
    date_style: str  # be_dmy | iso_be | iso_ce | thai_month | thai_month_nodot
    thai_digits: float
    amount_style: str  # plain | comma | baht

    @classmethod
    def draw(cls, rng: random.Random) -> Style:
        return cls(
            encoding=rng.choices(["utf-8", "utf-8-sig", "cp874"], [55, 25, 20])[0],
            thai_header=rng.random() < 0.6,
            shuffle=rng.random() < 0.2,
            header_spaces=rng.random() < 0.2,
            date_style=rng.choices(
                ["be_dmy", "iso_be", "iso_ce", "thai_month", "thai_month_nodot"],
                [50, 12, 13, 15, 10],
            )[0],
            thai_digits=0.1 if rng.random() < 0.1 else 0.0,
            amount_style=rng.choices(["plain", "comma", "baht"], [60, 25, 15])[0],
        )

    def date(self, d: date, rng: random.Random) -> str:
        be = d.year + BE_OFFSET
        if self.date_style == "be_dmy":
            s = f"{d.day:02d}/{d.month:02d}/{be}"
        elif self.date_style == "iso_be":
            s = f"{be}-{d.month:02d}-{d.day:02d}"
        elif self.date_style == "iso_ce":
            s = d.isoformat()
        else:
            m = THAI_MONTH_ABBR[d.month - 1]
            if self.date_style == "thai_month_nodot":
                m = m[:-1]
            s = f"{d.day} {m} {be}"
        return self.digits(s, rng)

    def amount(self, value: float, rng: random.Random) -> str:
        if self.amount_style == "plain":
            s = f"{value:.2f}" if value % 1 else f"{value:.0f}"
        else:
            s = f"{value:,.2f}"
            if self.amount_style == "baht":
                s += " บาท"
        return self.digits(s, rng)

    def digits(self, s: str, rng: random.Random) -> str:
        return (
            s.translate(THAI_DIGITS) if self.thai_digits and rng.random() < self.thai_digits else s
        )


def _registry(reference: Path) -> list[str]:
    with (reference / "dla_lao_registry.csv").open(encoding="utf-8") as fh:
        return [r["lao_code"] for r in csv.DictReader(fh)]


def choose_laos(all_codes: list[str], n: int, seed: int) -> list[str]:
    if n <= 0 or n >= len(all_codes):
        return list(all_codes)
    rng = random.Random(seed)
    # keep every PAO-and-city mix: sample across types proportionally
    return sorted(rng.sample(all_codes, n))


# -- rows per source --------------------------------------------------------------


def _allowance_rows(lao: str, night: date, style: Style, rng: random.Random, scale: float):
    lo, hi = RECIPIENTS[lao[0]]
    if not hi:
        return
    n = int((lo + _stable("size", lao) % (hi - lo + 1)) * scale)
    pay_day = 1 + _stable("payday", lao, night.year, night.month) % 10
    period = date(night.year, night.month, 1)
    late = pay_day + 3 + _stable("late", lao) % 10 if _stable("latelao", lao) % 25 == 0 else None
    if night.day == pay_day or night.day == late:
        people = range(n)  # the monthly roll
    elif night.day > 10 and night.day % 7 == _stable("retry", lao) % 7:
        people = range(0, n, 97)  # retries of failed payments and arrears
    else:
        return
    for i in people:
        cid = person_id(lao, i, first_digit=str(1 + _stable("fd", lao, i) % 5))
        h = _stable("birth", lao, i)
        age = 61 + int((h % 10_000) ** 1.6 / 10_000**1.6 * 40)
        birth = date(night.year - age, 1 + h % 12, 1 + (h >> 8) % 28)
        if h % 33 == 0:
            birth_s = f"00/00/{birth.year + BE_OFFSET}"
        elif h % 21 == 0:
            birth_s = f"00/{birth.month:02d}/{birth.year + BE_OFFSET}"
        else:
            birth_s = style.date(birth, rng)
        age_now = night.year - birth.year - ((night.month, night.day) < (birth.month, birth.day))
        amount = tier_amount(age_now)
        status, pay_period = "paid", period
        r = rng.random()
        if people.step > 1 or r < 0.015:
            status = "arrears"
            pay_period = (period - timedelta(days=1)).replace(day=1)
        elif r < 0.03:
            status = "failed"
        if rng.random() < 0.01:
            amount = rng.choice([600, 700, 800, 1000])  # a tier mistake: a finding, not a reject
        paid_on = night if status != "failed" else night
        channel = rng.choices(["bank_transfer", "cash", "proxy"], [80, 12, 8])[0]
        yield {
            "citizen_id": cid
            if rng.random() > 0.2
            else f"{cid[0]}-{cid[1:5]}-{cid[5:10]}-{cid[10:12]}-{cid[12]}",
            "birth_date": birth_s,
            "payment_period": style.digits(
                f"{pay_period.month:02d}/{pay_period.year + BE_OFFSET}", rng
            ),
            "amount": style.amount(amount, rng),
            "paid_on": style.date(paid_on, rng),
            "channel": channel,
            "status": status,
        }


_TAX_SEASON = {
    1: 1.0,
    2: 1.2,
    3: 1.4,
    4: 2.2,
    5: 2.0,
    6: 2.4,
    7: 2.0,
    8: 1.8,
    9: 0.9,
    10: 0.6,
    11: 0.7,
    12: 0.8,
}


def _tax_rows(lao: str, night: date, style: Style, rng: random.Random, scale: float):
    lo, hi = RECEIPTS[lao[0]]
    n = int(rng.randint(lo, hi) * _TAX_SEASON[night.month] * scale)
    fy = fiscal_year_of(night)
    fy_start = date(fy - BE_OFFSET - 1, 10, 1)
    seq0 = (night - fy_start).days * 10_000
    weights = [
        w
        * (
            6
            if code == "41100005" and 4 <= night.month <= 8
            else 4
            if code == "41100003" and night.month <= 3
            else 1
        )
        for code, _, w in TAX_ACCOUNTS
    ]
    for i in range(n):
        code, name, _ = rng.choices(TAX_ACCOUNTS, weights)[0]
        receipt = f"{lao[-4:]}/{fy}/{seq0 + i:07d}"
        juristic = rng.random() < 0.15
        tid = person_id(lao, 10_000_000 + rng.randint(0, 50_000), "0" if juristic else "3")
        base = {
            "41100005": 2500,
            "41100003": 800,
            "41210008": 60,
            "41220001": 300,
            "41300001": 500,
            "41400001": 1500,
            "41100004": 200,
        }.get(code, 1000)
        amount = round(base * rng.lognormvariate(0, 0.8), 2)
        receipt_date = night - timedelta(days=rng.choice([0, 0, 0, 1, 2]))
        if receipt_date < fy_start:
            receipt_date = night
        row = {
            "receipt_no": receipt,
            "receipt_date": style.date(receipt_date, rng),
            "account_code": code,
            "revenue_type": name,
            "parcel_id": f"{rng.randint(1, 999)}/{rng.randint(1, 99)}"
            if code in ("41100005", "41100003")
            else "",
            "taxpayer_id": tid,
            "amount": style.amount(amount, rng),
            "fiscal_year": style.digits(str(fy), rng),
            "status": "paid" if not style.thai_header else "ชำระแล้ว",
        }
        yield row
        if rng.random() < 0.01:  # a cancellation reversing this receipt
            yield {**row, "status": "cancelled" if not style.thai_header else "ยกเลิก"}


def _vaccination_rows(lao: str, night: date, style: Style, rng: random.Random, scale: float):
    lo, hi = VILLAGES[lao[0]]
    if not hi:
        return
    campaign = 3 <= night.month <= 5
    if not campaign and _stable("offcampaign", lao, night) % 50:
        return
    if campaign and _stable("report", lao, night) % 12:
        return  # LAOs report every couple of weeks during the campaign
    villages = lo + _stable("villages", lao) % (hi - lo + 1)
    fy = fiscal_year_of(night)
    progress = min(1.0, ((night - date(night.year, 3, 1)).days + 15) / 90) if campaign else 1.0
    for v in range(1, villages + 1):
        for species in ("dog", "cat"):
            surveyed = int(
                (40 + _stable("pop", lao, v, species) % 300)
                * (0.6 if species == "cat" else 1)
                * scale
            )
            ownerless = surveyed * (3 + _stable("ol", lao, v) % 10) // 100
            target = 0.6 + (_stable("cov", lao) % 35) / 100
            vaccinated = min(surveyed, int(surveyed * target * progress))
            thai = style.thai_header
            yield {
                "village_no": style.digits(str(v), rng),
                "species": ("สุนัข" if species == "dog" else "แมว") if thai else species,
                "surveyed": str(surveyed),
                "owned": str(surveyed - ownerless),
                "ownerless": str(ownerless),
                "vaccinated": str(vaccinated),
                "vaccination_date": style.date(night - timedelta(days=rng.randint(0, 3)), rng),
                "fiscal_year": style.digits(str(fy), rng),
            }


ROWS = {"allowance": _allowance_rows, "tax": _tax_rows, "vaccination": _vaccination_rows}

# -- damage --------------------------------------------------------------------------

ROW_DAMAGE = (
    "bad_id",
    "bad_date",
    "bad_amount",
    "negative_amount",
    "future_date",
    "column_count",
    "duplicate",
)


def _damage(row: dict, source: str, kind: str, night: date) -> dict | list | None:
    row = dict(row)
    if kind == "bad_id":
        key = {"allowance": "citizen_id", "tax": "taxpayer_id"}.get(source)
        if key:
            digits = row[key].replace("-", "")
            row[key] = digits[:12] + str((int(digits[12]) + 1) % 10)
            return row
        row["village_no"] = "๑๒๓"  # out of range for vaccination
        return row
    if kind == "bad_date":
        key = {"allowance": "paid_on", "tax": "receipt_date", "vaccination": "vaccination_date"}[
            source
        ]
        row[key] = "31/02/2569" if night.day % 2 else "1-ม.ค."
        return row
    if kind in ("bad_amount", "negative_amount"):
        key = {"allowance": "amount", "tax": "amount", "vaccination": "surveyed"}[source]
        row[key] = (
            "12,3x.00" if kind == "bad_amount" else ("-600" if source != "vaccination" else "-5")
        )
        return row
    if kind == "future_date":
        key = {"allowance": "paid_on", "tax": "receipt_date", "vaccination": "vaccination_date"}[
            source
        ]
        row[key] = (night + timedelta(days=40)).strftime("%d/%m/") + str(
            night.year + BE_OFFSET + (1 if night.month > 10 else 0)
        )
        return row
    if kind == "column_count":
        return list(row.values())[:-2]
    return None


def _bad_row_kind(rng: random.Random, fraction: float) -> str | None:
    if fraction and rng.random() < fraction:
        return rng.choice(ROW_DAMAGE)
    return None


def render(
    source: str,
    rows: Iterable[dict],
    style: Style,
    rng: random.Random,
    bad_fraction: float,
    night: date,
    drop_column: str | None = None,
) -> bytes:
    spec = SOURCES[source]
    cols = [c for c in spec.columns if c.name != drop_column]
    if style.shuffle:
        cols = rng.sample(cols, len(cols))
    header = [(c.thai if style.thai_header else c.name) for c in cols]
    if style.header_spaces:
        header = [f" {h} " if rng.random() < 0.5 else f"{h} " for h in header]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        kind = _bad_row_kind(rng, bad_fraction)
        cells = [row[c.name] for c in cols]
        if kind == "duplicate":
            w.writerow(cells)
        elif kind:
            damaged = _damage(row, source, kind, night)
            if isinstance(damaged, list):
                cells = damaged
            elif damaged:
                cells = [damaged[c.name] for c in cols]
        w.writerow(cells)
        if rng.random() < 0.002:
            out.write("\r\n")  # stray empty line
    return out.getvalue().encode(style.encoding)


def _bad_file(
    kind: str, source: str, night: date, rng: random.Random, style: Style, sample_lao: str
) -> tuple[str, bytes]:
    rows = list(ROWS[source](sample_lao, night, style, rng, 0.05)) or []
    if kind == "unknown_lao":
        return "9999999.csv", render(source, rows[:5], style, rng, 0, night)
    if kind == "missing_column":
        return f"{sample_lao}.csv", render(
            source, rows[:5], style, rng, 0, night, drop_column=SOURCES[source].required[0]
        )
    if kind == "binary":
        return f"{sample_lao}.csv", b"PK\x03\x04\x00\x00" + os.urandom(64)
    if kind == "html":
        return f"{sample_lao}.csv", b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"
    if kind == "empty":
        return f"{sample_lao}.csv", b""
    if kind == "bad_path":
        return "export (1).csv", render(source, rows[:3], style, rng, 0, night)
    if kind == "bad_encoding":
        good = render(
            source, rows[:5], Style(**{**style.__dict__, "encoding": "utf-8"}), rng, 0, night
        )
        return f"{sample_lao}.csv", good.replace(b"\n", b"\n\xff\xfe", 1)
    if kind == "part":
        return f"{sample_lao}.csv.part", render(source, rows[:3], style, rng, 0, night)
    raise ValueError(kind)


def generate_night(
    night: date,
    laos: int = 300,
    seed: int = 42,
    bad_fraction: float = 0.02,
    sources: Iterable[str] = tuple(SOURCES),
    scale: float = 1.0,
    landing: Path | None = None,
    send_rate: float = 0.95,
) -> dict:
    """Write one night of extracts; returns counts."""
    settings = get_settings()
    landing = Path(landing or settings.landing_dir)
    codes = choose_laos(_registry(settings.reference_dir), laos, seed)
    files = rows_total = 0
    for source in sources:
        out_dir = landing / source / night.isoformat()
        out_dir.mkdir(parents=True, exist_ok=True)
        # damaged whole files take the place of some LAOs' good files
        bad = {}
        if bad_fraction > 0 and len(codes) >= 2 * len(BAD_FILE_KINDS):
            picks = random.Random(_stable(seed, source, night, "badfiles")).sample(
                codes, len(BAD_FILE_KINDS)
            )
            bad = dict(zip(picks, BAD_FILE_KINDS, strict=True))
        for n_lao, lao in enumerate(codes, 1):
            if n_lao % 2000 == 0:
                print(
                    f"  {source}: {n_lao:,}/{len(codes):,} LAOs, {rows_total:,} rows so far",
                    file=sys.stderr,
                    flush=True,
                )
            rng = random.Random(_stable(seed, source, night, lao))
            if rng.random() > send_rate:
                continue  # not reported tonight
            style = Style.draw(random.Random(_stable(seed, "style", lao, source)))
            if lao in bad:
                name, data = _bad_file(bad[lao], source, night, rng, style, lao)
                if bad[lao] in ("unknown_lao", "bad_path", "part"):
                    _write(
                        out_dir / f"{lao}.csv",
                        render(
                            source,
                            ROWS[source](lao, night, style, rng, scale),
                            style,
                            rng,
                            bad_fraction,
                            night,
                        ),
                    )
                    files += 1
            else:
                name = f"{lao}.csv"
                rows = list(ROWS[source](lao, night, style, rng, scale))
                rows_total += len(rows)
                data = render(source, rows, style, rng, bad_fraction, night)
            _write(out_dir / name, data)
            files += 1
    return {"files": files, "rows": rows_total, "landing": str(landing), "laos": len(codes)}


def _write(path: Path, data: bytes) -> None:
    """Upload-style write: a ``.part`` file renamed into place (never half-visible)."""
    if path.name.endswith(".part"):
        path.write_bytes(data)
        return
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
