"""The provincial offices' follow-up pack: one Excel workbook per province, in Thai.

The DLA's 76 provincial offices (สถ.จ.) follow up the LAOs of their province that have
not reported rabies vaccinations in the current campaign, or whose nightly file is
missing or was rejected. ``write_pack`` reads the published marts and writes, per
province, ``<province_code>_<province name>.xlsx`` (and, when asked, ``00_ทุกจังหวัด.xlsx``
with every province) with these sheets:

* ``ไม่ได้รับไฟล์ (แยกตามประเภท)`` - LAOs with nothing received for a source that night,
  each source's status side by side (``marts.lao_followup``, ``sources_missing > 0``);
* ``ไม่ส่งไฟล์-ไฟล์ถูกปฏิเสธ`` - ``marts.missing_submissions`` of the latest published
  night (Excel does not allow ``/`` in a sheet name), the reason a file was rejected in
  Thai with what the LAO should do, from the seed ``reason_codes.csv`` (the wording is
  data: the seed's ``reason_th`` and ``what_to_do_th``);
* ``แถวที่ถูกกักไว้`` - rows quarantined per LAO that night, the top reasons in Thai with
  what to do (``marts.lao_followup.top_quarantine_reasons`` through the same seed);
* ``ต่ำกว่าเป้าวัคซีน 80%`` - LAOs whose rabies coverage this fiscal year is below the
  target (``below_rabies_target``), the coverage a percentage-formatted cell;
* ``ข้อค้นพบเบี้ยยังชีพ`` - allowance findings counts per LAO (counts only);
* ``ยังไม่รายงานวัคซีน`` - ``marts.rabies_followup``;
* ``สรุป`` - counts, dates, generation time (Asia/Bangkok) and what to do.

``write_for_night`` writes every province's workbook after a publish, into
``<runs_dir>/followup/<night>/``; it never raises (a pack problem must not fail a night).

Dates are real Excel dates (dd/mm/yyyy, CE) with the Buddhist-era date beside them as
text; the header row is frozen, filtered and carries the English column name as a note.

Reading: the pipeline role that can read the published marts is ``dla_publisher`` (it
owns them; ``dla_gate`` may read only ``marts.published_nights``). The session is read
only and takes one snapshot, so both sheets describe the same publish. The mart gives
the rejection's readable detail; its reason code comes from a ``rejection_reason_code``
column of the mart when it has one, otherwise from the ledger row with that very detail.

Writing: the files hold officials' follow-up data: each is written 0600 (a private
temporary file, then renamed) in a folder that must be 0700 and the caller's own.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import xlsxwriter

from . import ledger
from .db import forked_pool

log = logging.getLogger(__name__)

BANGKOK = ZoneInfo("Asia/Bangkok")
FONT_NAME = "Tahoma"  # on every Windows and LibreOffice install, renders Thai well
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
MAX_WIDTH = 60
ALL_CODE = "00"  # the all-provinces workbook (no DOPA province has this code)
ALL_NAME_TH = "ทุกจังหวัด"
PROVINCE_CODE = re.compile(r"^[0-9]{2}$")

SHEET_RABIES = "ยังไม่รายงานวัคซีน"
SHEET_FILES = "ไม่ส่งไฟล์-ไฟล์ถูกปฏิเสธ"
SHEET_NOTHING = "ไม่ได้รับไฟล์ (แยกตามประเภท)"
SHEET_QUARANTINE = "แถวที่ถูกกักไว้"
SHEET_RABIES_TARGET = "ต่ำกว่าเป้าวัคซีน 80%"
SHEET_FINDINGS = "ข้อค้นพบเบี้ยยังชีพ"
SHEET_SUMMARY = "สรุป"
SHEETS = (
    SHEET_NOTHING,
    SHEET_FILES,
    SHEET_QUARANTINE,
    SHEET_RABIES_TARGET,
    SHEET_FINDINGS,
    SHEET_RABIES,
    SHEET_SUMMARY,
)
PERCENT_FORMAT = "0.00%"
COUNT_FORMAT = "#,##0"
TOP_REASON = re.compile(r"([A-Za-z0-9_]+) \((\d+)\)")

# the labels of the marts' coded values (the mart's accepted_values)
SOURCE_TH = {
    "allowance": "เบี้ยยังชีพผู้สูงอายุ",
    "tax": "ภาษี",
    "vaccination": "วัคซีนพิษสุนัขบ้า",
}
STATUS_TH = {"missing": "ไม่ส่งไฟล์", "rejected": "ไฟล์ถูกปฏิเสธ", "reported": "ได้รับแล้ว"}
UNKNOWN_REASON_TH = "ไฟล์ถูกปฏิเสธ (ระบบไม่ได้บันทึกรหัสเหตุผล)"
UNKNOWN_TODO_TH = "ตรวจสอบรายละเอียดจากระบบ หรือแจ้งผู้ดูแลระบบของ สถ. พร้อมชื่อไฟล์"
UNKNOWN_QUARANTINE_TH = "แถวถูกกักไว้ (ระบบไม่ได้บันทึกรหัสเหตุผล)"


class PackError(RuntimeError):
    """The pack cannot be written as asked: the message says what to do instead."""


@dataclass(frozen=True)
class Column:
    key: str  # the key in a row dict
    th: str  # the Thai header
    en: str  # the mart's column (the header's note)
    kind: str = "text"  # text | date | be_date | int | count | percent
    min_width: int = 8


RABIES_COLUMNS = (
    Column("province_code", "รหัสจังหวัด", "province_code"),
    Column("province_name_th", "จังหวัด", "province_name_th"),
    Column("province_name_en", "จังหวัด (ภาษาอังกฤษ)", "province_name_en"),
    Column("district_code", "รหัสอำเภอ", "district_code (marts.dim_lao)"),
    Column("district_name_th", "อำเภอ", "district_name_th (marts.dim_lao)"),
    Column("lao_code", "รหัส อปท.", "lao_code"),
    Column("lao_name_th", "ชื่อ อปท.", "lao_name_th"),
    Column("lao_type_th", "ประเภท อปท.", "lao_type (in Thai: marts.dim_lao.lao_type_th)"),
    Column("fiscal_year_be", "ปีงบประมาณ (พ.ศ.)", "fiscal_year_be", "int"),
    Column("as_of_date", "ข้อมูล ณ วันที่ (ค.ศ.)", "as_of_date", "date"),
    Column("as_of_date", "ข้อมูล ณ วันที่ (พ.ศ.)", "as_of_date (Buddhist era)", "be_date"),
    Column("last_file_received", "ได้รับไฟล์วัคซีนล่าสุด (ค.ศ.)", "last_file_received", "date"),
    Column(
        "last_file_received",
        "ได้รับไฟล์วัคซีนล่าสุด (พ.ศ.)",
        "last_file_received (Buddhist era)",
        "be_date",
    ),
)
FILES_COLUMNS = (
    Column("source_th", "ประเภทข้อมูล", "source (in Thai)"),
    Column("extract_date", "ข้อมูลวันที่ (ค.ศ.)", "extract_date", "date"),
    Column("extract_date", "ข้อมูลวันที่ (พ.ศ.)", "extract_date (Buddhist era)", "be_date"),
    Column("province_code", "รหัสจังหวัด", "province_code"),
    Column("province_name_th", "จังหวัด", "province_name_th"),
    Column("province_name_en", "จังหวัด (ภาษาอังกฤษ)", "province_name_en"),
    Column("district_code", "รหัสอำเภอ", "district_code (marts.dim_lao)"),
    Column("district_name_th", "อำเภอ", "district_name_th (marts.dim_lao)"),
    Column("lao_code", "รหัส อปท.", "lao_code"),
    Column("lao_name_th", "ชื่อ อปท.", "lao_name_th"),
    Column("lao_type_th", "ประเภท อปท.", "lao_type (in Thai: marts.dim_lao.lao_type_th)"),
    Column("status_th", "สถานะ", "status (in Thai)"),
    Column("reason_th", "เหตุผลที่ไฟล์ถูกปฏิเสธ", "rejection_reason (in Thai: reason_codes.csv)"),
    Column("what_to_do_th", "สิ่งที่ อปท. ต้องทำ", "what_to_do_th (reason_codes.csv)"),
    Column("rejection_reason", "รายละเอียดจากระบบ (ภาษาอังกฤษ)", "rejection_reason"),
)
# the LAO's place, first on every sheet read from marts.lao_followup
_LAO_COLUMNS = (
    Column("province_code", "รหัสจังหวัด", "province_code"),
    Column("province_name_th", "จังหวัด", "province_name_th"),
    Column("district_code", "รหัสอำเภอ", "district_code"),
    Column("district_name_th", "อำเภอ", "district_name_th"),
    Column("lao_code", "รหัส อปท.", "lao_code"),
    Column("lao_name_th", "ชื่อ อปท.", "lao_name_th"),
    Column("lao_type_th", "ประเภท อปท.", "lao_type (in Thai: marts.dim_lao.lao_type_th)"),
)
NOTHING_COLUMNS = (
    *_LAO_COLUMNS,
    Column("extract_date", "ข้อมูลวันที่ (ค.ศ.)", "extract_date", "date"),
    Column("extract_date", "ข้อมูลวันที่ (พ.ศ.)", "extract_date (Buddhist era)", "be_date"),
    Column("allowance_status_th", SOURCE_TH["allowance"], "allowance_status (in Thai)"),
    Column("tax_status_th", SOURCE_TH["tax"], "tax_status (in Thai)"),
    Column("vaccination_status_th", SOURCE_TH["vaccination"], "vaccination_status (in Thai)"),
    Column("sources_missing", "จำนวนประเภทที่ไม่ได้รับไฟล์", "sources_missing", "count"),
)
QUARANTINE_COLUMNS = (
    *_LAO_COLUMNS,
    Column("extract_date", "ข้อมูลวันที่ (ค.ศ.)", "extract_date", "date"),
    Column("extract_date", "ข้อมูลวันที่ (พ.ศ.)", "extract_date (Buddhist era)", "be_date"),
    Column("rows_quarantined", "จำนวนแถวที่ถูกกักไว้", "rows_quarantined", "count"),
    Column(
        "top_reasons_th",
        "สาเหตุหลัก (จำนวนแถว)",
        "top_quarantine_reasons (in Thai: reason_codes.csv)",
    ),
    Column("top_todo_th", "สิ่งที่ อปท. ต้องทำ", "what_to_do_th (reason_codes.csv)"),
    Column("top_quarantine_reasons", "รหัสสาเหตุ (ภาษาอังกฤษ)", "top_quarantine_reasons"),
)
RABIES_TARGET_COLUMNS = (
    *_LAO_COLUMNS,
    Column("fiscal_year_be", "ปีงบประมาณ (พ.ศ.)", "fiscal_year_be", "int"),
    Column(
        "rabies_coverage_rate",
        "ความครอบคลุมการฉีดวัคซีน",
        "rabies_coverage_rate (0-1, shown as a percentage)",
        "percent",
    ),
)
FINDINGS_COLUMNS = (
    *_LAO_COLUMNS,
    Column("fiscal_year_be", "ปีงบประมาณ (พ.ศ.)", "fiscal_year_be", "int"),
    Column("allowance_findings", "จำนวนข้อค้นพบเบี้ยยังชีพ", "allowance_findings", "count"),
)

GUIDANCE_TH = (
    "สิ่งที่ต้องทำ",
    "1. แผ่นงาน “{rabies}”: อปท. (ยกเว้น อบจ.) ที่ยังไม่มีรายงานการฉีดวัคซีนป้องกันโรคพิษสุนัขบ้า"
    " ในปีงบประมาณ {fiscal_year} โปรดประสานให้ อปท. ส่งไฟล์ข้อมูลวัคซีนเข้าระบบ",
    "2. แผ่นงาน “{files}”: อปท. ที่ไม่ได้ส่งไฟล์ หรือส่งแล้วระบบไม่รับ สำหรับข้อมูลวันที่ {night}"
    " โปรดแจ้ง อปท. ตามคอลัมน์ “เหตุผลที่ไฟล์ถูกปฏิเสธ” และ “สิ่งที่ อปท. ต้องทำ” แล้วให้ส่งไฟล์ใหม่",
    "3. แผ่นงาน “{nothing}”: อปท. ที่ระบบไม่ได้รับไฟล์ในคืนนั้น แยกตามประเภทข้อมูล",
    "4. แผ่นงาน “{quarantine}”: แถวข้อมูลที่ระบบไม่รับ (กักไว้) พร้อมสาเหตุหลักและสิ่งที่ อปท. ต้องแก้ไข",
    "5. แผ่นงาน “{target}”: อปท. ที่ความครอบคลุมการฉีดวัคซีนในปีงบประมาณ {fiscal_year} ต่ำกว่าเป้าหมาย",
    "6. แผ่นงาน “{findings}”: จำนวนข้อค้นพบเบี้ยยังชีพผู้สูงอายุที่ต้องตรวจสอบ (รายละเอียดรายบุคคล เฉพาะผู้ตรวจสอบ)",
    "7. ระบบประมวลผลทุกคืน เมื่อ อปท. ส่งไฟล์ที่ถูกต้องแล้ว รายชื่อจะหายจากรายการในรอบถัดไป",
    "8. ใช้คอลัมน์ “อำเภอ” กรองรายการเพื่อแบ่งงานให้ท้องถิ่นอำเภอ",
    "9. ไฟล์นี้มีข้อมูลการติดตามงานของทางราชการ ใช้ภายในสำนักงานเท่านั้น ห้ามเผยแพร่",
)


# ---------------------------------------------------------------- pure parts


def load_reasons(path: Path) -> dict[str, dict[str, str]]:
    """The reason codes' seed: ``{code: row}``; it must have Thai wording for every code."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"reason_code", "reason_th", "what_to_do_th"} - set(reader.fieldnames or ())
        if missing:
            raise PackError(f"{path} has no column {', '.join(sorted(missing))}")
        rows = {row["reason_code"]: row for row in reader}
    untranslated = sorted(c for c, row in rows.items() if not (row["reason_th"] or "").strip())
    if untranslated:
        raise PackError(f"{path}: reason_th is empty for {', '.join(untranslated)}")
    return rows


def reason_th(code: str | None, reasons: dict[str, dict[str, str]]) -> tuple[str, str]:
    """(the Thai reason, what the LAO should do) for a reason code; never the code itself."""
    row = reasons.get(code or "")
    if row is None:
        return UNKNOWN_REASON_TH, UNKNOWN_TODO_TH
    return row["reason_th"].strip(), (row.get("what_to_do_th") or "").strip()


def parse_top_reasons(text: str | None) -> list[tuple[str, int]]:
    """``"code (n), code (n)"`` (``lao_followup.top_quarantine_reasons``) as pairs."""
    return [(code, int(n)) for code, n in TOP_REASON.findall(text or "")]


def translate_top_reasons(
    text: str | None, reasons: dict[str, dict[str, str]]
) -> tuple[str | None, str | None, list[str]]:
    """(the Thai reasons with their counts, what to do, the codes with no Thai text)."""
    pairs = parse_top_reasons(text)
    if not pairs:
        return None, None, []
    why, todo, unknown = [], [], []
    for code, n in pairs:
        if code in reasons:
            th, do = reason_th(code, reasons)
        else:
            unknown.append(code)
            th, do = UNKNOWN_QUARANTINE_TH, UNKNOWN_TODO_TH
        why.append(f"{th} ({n:,} แถว)")
        if do and do not in todo:
            todo.append(do)
    return "; ".join(why), "; ".join(todo) or None, unknown


def be_date(d: date | None) -> str | None:
    """A date as Thai officials write it: dd/mm/yyyy with the Buddhist-era year."""
    return None if d is None else f"{d.day:02d}/{d.month:02d}/{d.year + 543}"


def safe_file_name(code: str, name_th: str, suffix: str = ".xlsx") -> str:
    """``<code>_<name>.xlsx``: Thai letters and marks kept (NFC), anything that could be a
    path, a control or a format character becomes ``_``; at most 60 characters of name."""
    if not PROVINCE_CODE.match(code or ""):
        raise ValueError(f"not a 2-digit province code: {code!r}")
    name = unicodedata.normalize("NFC", name_th or "")
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else "_" for ch in name)
    kept = re.sub(r"_+", "_", kept).strip("_")[:60].rstrip("_")
    return f"{code}_{kept}{suffix}" if kept else f"{code}{suffix}"


def display_width(text: str) -> int:
    """Columns a text takes: Thai vowel and tone marks take none, wide characters two."""
    if text.isascii():  # codes, numbers, dates: one column a character
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def check_provinces(
    asked: Iterable[str] | None, known: dict[str, str], dopa: dict[str, str] | None = None
) -> list[str]:
    """The province codes asked for, each one a province with LAOs; sorted, unique."""
    if not asked:
        return sorted(known)
    example = "51" if "51" in known else (min(known) if known else "51")
    hint = f"type the 2-digit DOPA code, e.g. --province {example}" + (
        f" ({known[example]})" if example in known else ""
    )
    out = set()
    for raw in asked:
        code = (raw or "").strip()
        if not PROVINCE_CODE.match(code):
            by_name = [c for c, n in known.items() if n == unicodedata.normalize("NFC", code)]
            if by_name:
                raise PackError(f"{raw!r} is a name: type its code, --province {by_name[0]}")
            raise PackError(f"{raw!r} is not a province code: {hint}")
        if code not in known:
            if dopa and code in dopa:
                raise PackError(
                    f"province {code} ({dopa[code]}) has no LAO in the published marts:"
                    f" nothing to follow up there; {hint}"
                )
            raise PackError(f"{code!r} is not a DOPA province code: {hint}")
        out.add(code)
    return sorted(out)


# ---------------------------------------------------------------- reading


@dataclass
class PackData:
    night: date  # the latest published night
    as_of_date: date | None
    fiscal_year_be: int | None
    provinces: dict[str, str]  # every province with LAOs: code -> Thai name
    rabies: list[dict]
    files: list[dict]
    unknown_reasons: Counter = field(default_factory=Counter)
    # marts.lao_followup: every LAO of the provinces asked for (all 7,849 for all provinces)
    laos: list[dict] = field(default_factory=list)


def _rows(cur) -> list[dict]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _reason_code_sql(conn) -> str:
    """Where the rejection's reason code comes from: the mart, else the ledger."""
    has_code = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'marts'"
        " and table_name = 'missing_submissions' and column_name = 'rejection_reason_code'"
    ).fetchone()
    if has_code:
        return "m.rejection_reason_code"
    from_ledger = ledger.rejection_reason_sql(conn)
    if from_ledger:
        return from_ledger
    log.warning("no reason code readable: rejected files get a generic Thai reason")
    return "null::text"


def read_marts(
    conn, provinces: Iterable[str] | None = None, dopa: dict[str, str] | None = None
) -> tuple[PackData, list[str]]:
    """Everything the pack shows, in one read-only snapshot of the published marts, and
    the province codes to write (``provinces`` checked; every province with LAOs when
    none is given). ``conn`` must not be in a transaction."""
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one publish, both sheets
    with conn.transaction():
        night = conn.execute("select max(extract_date) from marts.published_nights").fetchone()[0]
        if night is None:
            raise PackError("nothing is published yet: run a night first (`dla night --date ...`)")
        known = dict(
            conn.execute(
                "select province_code, min(province_name_th) from marts.dim_lao"
                " where province_code is not null group by 1 order by 1"
            ).fetchall()
        )
        if not known:
            raise PackError("marts.dim_lao has no LAO: publish a night first (`dla night`)")
        chosen = check_provinces(provinces, known, dopa)
        wanted = chosen if provinces else None
        as_of, fiscal_year = conn.execute(
            "select max(as_of_date), max(fiscal_year_be) from marts.rabies_followup"
        ).fetchone()
        where = "" if wanted is None else " where r.province_code = any(%(p)s)"
        rabies = _rows(
            conn.execute(
                "select r.province_code, r.province_name_th, r.province_name_en,"
                " d.district_code, d.district_name_th, r.lao_code, r.lao_name_th, r.lao_type,"
                " coalesce(d.lao_type_th, r.lao_type) as lao_type_th, r.fiscal_year_be,"
                " r.as_of_date, r.last_file_received"
                " from marts.rabies_followup as r"
                " left join marts.dim_lao as d on d.lao_code = r.lao_code"
                f"{where}"
                " order by r.province_code, d.district_code nulls last, r.lao_code",
                {"p": wanted},
            )
        )
        where = "" if wanted is None else " and m.province_code = any(%(p)s)"
        files = _rows(
            conn.execute(
                "select m.source, m.extract_date, m.province_code, m.province_name_th,"
                " m.province_name_en, d.district_code, d.district_name_th, m.lao_code,"
                " m.lao_name_th, m.lao_type, coalesce(d.lao_type_th, m.lao_type) as lao_type_th,"
                f" m.status, m.rejection_reason, {_reason_code_sql(conn)} as reason_code"
                " from marts.missing_submissions as m"
                " left join marts.dim_lao as d on d.lao_code = m.lao_code"
                f" where m.extract_date = %(night)s{where}"
                " order by m.province_code, d.district_code nulls last, m.lao_code, m.source",
                {"night": night, "p": wanted},
            )
        )
        laos = _read_lao_followup(conn, wanted, night)
    return PackData(night, as_of, fiscal_year, known, rabies, files, laos=laos), chosen


def _read_lao_followup(conn, wanted: list[str] | None, night: date) -> list[dict]:
    """``marts.lao_followup`` (its latest night), or nothing when it is not published yet."""
    if conn.execute("select to_regclass('marts.lao_followup')").fetchone()[0] is None:
        log.warning("marts.lao_followup is not published yet: its sheets are empty")
        return []
    where = "" if wanted is None else " and f.province_code = any(%(p)s)"
    laos = _rows(
        conn.execute(
            "select f.province_code, f.province_name_th, f.province_name_en, f.district_code,"
            " f.district_name_th, f.lao_code, f.lao_name_th, f.lao_type,"
            " coalesce(d.lao_type_th, f.lao_type) as lao_type_th, f.extract_date,"
            " f.fiscal_year_be, f.allowance_status, f.tax_status, f.vaccination_status,"
            " f.sources_missing, f.files_rejected, f.rows_quarantined,"
            " f.top_quarantine_reasons, f.rabies_coverage_rate, f.below_rabies_target,"
            " f.allowance_findings, f.needs_follow_up"
            " from marts.lao_followup as f"
            " left join marts.dim_lao as d on d.lao_code = f.lao_code"
            f" where f.is_latest_period{where}"
            " order by f.province_code, f.district_code nulls last, f.lao_code",
            {"p": wanted},
        )
    )
    nights = {r["extract_date"] for r in laos}
    if nights and nights != {night}:
        log.warning(
            "marts.lao_followup describes %s, the latest published night is %s",
            sorted(nights),
            night,
        )
    return laos


def translate_files(rows: list[dict], reasons: dict[str, dict[str, str]]) -> Counter:
    """Thai source, status and reason on every row; returns the codes with no Thai text."""
    unknown: Counter = Counter()
    for row in rows:
        row["source_th"] = SOURCE_TH.get(row["source"], row["source"])
        row["status_th"] = STATUS_TH.get(row["status"], row["status"])
        if row["status"] == "rejected":
            code = row.get("reason_code")
            if code not in reasons:
                unknown[code] += 1
            row["reason_th"], row["what_to_do_th"] = reason_th(code, reasons)
        else:
            row["reason_th"] = row["what_to_do_th"] = None
    return unknown


def translate_laos(rows: list[dict], reasons: dict[str, dict[str, str]]) -> Counter:
    """Thai statuses and quarantine reasons on every ``lao_followup`` row; returns the
    quarantine reason codes with no Thai text (shown with a generic Thai text)."""
    unknown: Counter = Counter()
    for row in rows:
        for source in SOURCE_TH:
            status = row.get(f"{source}_status")
            row[f"{source}_status_th"] = STATUS_TH.get(status, status)
        why, todo, missing = translate_top_reasons(row.get("top_quarantine_reasons"), reasons)
        row["top_reasons_th"], row["top_todo_th"] = why, todo
        unknown.update(missing)
    return unknown


@dataclass(frozen=True)
class LaoSheets:
    """The rows of the sheets read from ``marts.lao_followup`` (one province, or all)."""

    nothing: list[dict]
    quarantine: list[dict]
    rabies_target: list[dict]
    findings: list[dict]
    follow_up: int  # LAOs with needs_follow_up
    laos: int  # every LAO

    @classmethod
    def of(cls, rows: list[dict]) -> LaoSheets:
        return cls(
            nothing=[r for r in rows if (r["sources_missing"] or 0) > 0],
            quarantine=[r for r in rows if (r["rows_quarantined"] or 0) > 0],
            rabies_target=[r for r in rows if r["below_rabies_target"]],
            findings=[r for r in rows if (r["allowance_findings"] or 0) > 0],
            follow_up=sum(1 for r in rows if r["needs_follow_up"]),
            laos=len(rows),
        )


# ---------------------------------------------------------------- workbooks


# A cell's style as XlsxWriter format properties (``Book.format`` makes each once)
_FONT: tuple = (("font_name", FONT_NAME), ("font_size", 10))
_BOLD: tuple = (*_FONT, ("bold", True))
_TITLE: tuple = (("font_name", FONT_NAME), ("font_size", 14), ("bold", True))
_HEADER: tuple = (*_BOLD, ("bg_color", "#DDEBF7"), ("valign", "vcenter"), ("text_wrap", True))
_BODY_FORMATS = {"date": DATE_FORMAT, "int": "0", "count": COUNT_FORMAT, "percent": PERCENT_FORMAT}


class Book:
    """A workbook written in memory with XlsxWriter (~3x faster than openpyxl's write-only
    mode on a pack's ~300,000 cells), sheet after sheet, row after row; ``save`` writes
    the ``.xlsx`` to a path or a binary file. A text cell is always a string, never a
    formula, whatever an LAO named its file; a blank cell keeps its style."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._wb = xlsxwriter.Workbook(
            self._out,
            {
                "in_memory": True,  # no temporary files: the pack holds officials' data
                "remove_timezone": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._formats: dict[tuple, object] = {}

    def format(self, style: tuple):
        fmt = self._formats.get(style)
        if fmt is None:
            fmt = self._formats[style] = self._wb.add_format(dict(style))
        return fmt

    def sheet(self, title: str) -> Sheet:
        return Sheet(self, self._wb.add_worksheet(title))

    def save(self, target) -> None:
        """Write the workbook to ``target`` (a path, or a binary file open for writing)."""
        self._wb.close()
        data = self._out.getvalue()
        if hasattr(target, "write"):
            target.write(data)
        else:
            Path(target).write_bytes(data)


class Sheet:
    """One sheet of a ``Book``, written from the top down."""

    def __init__(self, book: Book, ws) -> None:
        self.book, self.ws, self.row = book, ws, 0

    def append(self, cells: Iterable[tuple]) -> None:
        """One row of (value, style) cells; ``style`` as for ``Book.format``."""
        ws, r, fmt = self.ws, self.row, self.book.format
        for c, (value, style) in enumerate(cells):
            _write(ws, r, c, value, fmt(style))
        self.row += 1

    def width(self, col: int, width: float) -> None:
        self.ws.set_column(col, col, width)

    def header(self, columns: Sequence[Column]) -> None:
        """The first row: Thai names, each with the mart's column as its note; it stays
        in view when scrolling."""
        self.ws.freeze_panes(1, 0)
        self.append((col.th, _HEADER) for col in columns)
        for i, col in enumerate(columns):
            self.ws.write_comment(0, i, col.en, {"author": "dla"})

    def autofilter(self, columns: int) -> None:
        """Filters on the header of the rows written so far."""
        self.ws.autofilter(0, 0, max(self.row - 1, 0), columns - 1)


def _write(ws, r: int, c: int, value, fmt) -> None:
    if value is None:
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, str):
        ws.write_string(r, c, value, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value, fmt)
    elif isinstance(value, int | float | Decimal):
        if value.is_finite() if isinstance(value, Decimal) else math.isfinite(value):
            ws.write_number(r, c, value, fmt)
        else:  # PostgreSQL's NaN or Infinity: Excel has no such number, so it is shown as text
            ws.write_string(r, c, str(value), fmt)
    elif isinstance(value, date):  # a datetime too
        ws.write_datetime(r, c, value, fmt)
    else:
        ws.write_string(r, c, str(value), fmt)


def _style(font: tuple = _FONT, number_format: str | None = None) -> tuple:
    return (*font, ("num_format", number_format)) if number_format else font


def _cell(value, font: tuple = _FONT, number_format: str | None = None) -> tuple:
    return value, _style(font, number_format)


def _value(row: dict, col: Column):
    v = row.get(col.key)
    if col.kind == "be_date":
        return be_date(v)
    if col.kind == "date" and isinstance(v, datetime):
        return v.replace(tzinfo=None)
    return v


def _table_sheet(wb: Book, title: str, columns: Sequence[Column], rows: list[dict]) -> None:
    ws = wb.sheet(title)
    values = [[_value(r, c) for c in columns] for r in rows]
    for i, col in enumerate(columns):
        texts = [col.th] + [
            be_date(v) if isinstance(v, date) else f"{v:.2%}" if col.kind == "percent" else str(v)
            for v in (row[i] for row in values)
            if v
        ]
        width = max([col.min_width, *map(display_width, set(texts))]) + 2
        ws.width(i, min(width, MAX_WIDTH))
    ws.header(columns)
    styles = [_style(_FONT, _BODY_FORMATS.get(c.kind)) for c in columns]
    for row in values:
        ws.append(zip(row, styles, strict=True))
    ws.autofilter(len(columns))


def _summary_sheet(
    wb: Book,
    title_th: str,
    data: PackData,
    rabies: list[dict],
    files: list[dict],
    generated: datetime,
    per_province: bool,
    lao: LaoSheets,
    laos: list[dict],
) -> None:
    ws = wb.sheet(SHEET_SUMMARY)
    for col, width in enumerate((46, 22, 22, 22, 22)):
        ws.width(col, width)

    def line(*cells):
        ws.append(cells)

    def label(text, value=None, fmt=None, extra=None):
        line(
            _cell(text, _BOLD),
            _cell(value, number_format=fmt),
            *([_cell(extra)] if extra is not None else []),
        )

    line(_cell(f"รายการติดตาม อปท. - {title_th}", _TITLE))
    line()
    label("ข้อมูลวัคซีน ณ วันที่ (ค.ศ. / พ.ศ.)", data.as_of_date, DATE_FORMAT, be_date(data.as_of_date))
    label("ปีงบประมาณ (พ.ศ.)", data.fiscal_year_be, "0")
    label("ข้อมูลการส่งไฟล์ วันที่ (ค.ศ. / พ.ศ.)", data.night, DATE_FORMAT, be_date(data.night))
    label(
        "สร้างไฟล์เมื่อ (เวลาประเทศไทย)",
        generated.astimezone(BANGKOK).replace(tzinfo=None),
        DATETIME_FORMAT,
        "Asia/Bangkok",
    )
    line()
    _sheet_counts(label, files, lao, rabies)
    line()
    _sources_and_guidance(ws, data, files, laos)
    if per_province:
        _province_table(ws, data, rabies, files, laos)


def _sheet_counts(label, files: list[dict], lao: LaoSheets, rabies: list[dict]) -> None:
    """The summary's count of rows per sheet (``label`` writes one line)."""
    status = Counter(r["status"] for r in files)
    label("จำนวน อปท. ทั้งหมด", lao.laos, COUNT_FORMAT)
    label("จำนวน อปท. ที่ต้องติดตาม", lao.follow_up, COUNT_FORMAT)
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_NOTHING}”", len(lao.nothing), COUNT_FORMAT)
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_FILES}”", len(files), "#,##0")
    label(f"   - {STATUS_TH['missing']}", status["missing"], "#,##0")
    label(f"   - {STATUS_TH['rejected']}", status["rejected"], "#,##0")
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_QUARANTINE}”", len(lao.quarantine), COUNT_FORMAT)
    label(
        "   - จำนวนแถวที่ถูกกักไว้รวม",
        sum(r["rows_quarantined"] or 0 for r in lao.quarantine),
        COUNT_FORMAT,
    )
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_RABIES_TARGET}”", len(lao.rabies_target), COUNT_FORMAT)
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_FINDINGS}”", len(lao.findings), COUNT_FORMAT)
    label(
        "   - จำนวนข้อค้นพบเบี้ยยังชีพรวม",
        sum(r["allowance_findings"] or 0 for r in lao.findings),
        COUNT_FORMAT,
    )
    label(f"จำนวนรายการในแผ่นงาน “{SHEET_RABIES}”", len(rabies), "#,##0")


def _sources_and_guidance(ws, data: PackData, files: list[dict], laos: list[dict]) -> None:
    """The summary's table per source (missing, rejected, reported) and what to do."""

    def line(*cells):
        ws.append(cells)

    line(
        *(
            _cell(t, _BOLD)
            for t in (
                "ประเภทข้อมูล",
                STATUS_TH["missing"],
                STATUS_TH["rejected"],
                STATUS_TH["reported"],
            )
        )
    )
    by_source = Counter((r["source"], r["status"]) for r in files)
    reported = Counter(s for r in laos for s in SOURCE_TH if r[f"{s}_status"] == "reported")
    for source, name in SOURCE_TH.items():
        line(
            _cell(name),
            _cell(by_source[(source, "missing")], number_format="#,##0"),
            _cell(by_source[(source, "rejected")], number_format="#,##0"),
            _cell(reported[source], number_format="#,##0"),
        )
    line()
    for i, text in enumerate(GUIDANCE_TH):
        text = text.format(
            rabies=SHEET_RABIES,
            files=SHEET_FILES,
            nothing=SHEET_NOTHING,
            quarantine=SHEET_QUARANTINE,
            target=SHEET_RABIES_TARGET,
            findings=SHEET_FINDINGS,
            fiscal_year=data.fiscal_year_be or "-",
            night=be_date(data.night),
        )
        line(_cell(text, _BOLD if i == 0 else _FONT))


def _province_table(
    ws, data: PackData, rabies: list[dict], files: list[dict], laos: list[dict]
) -> None:
    """The national workbook's summary: one line per province."""

    def line(*cells):
        ws.append(cells)

    line()
    line(
        *(
            _cell(t, _BOLD)
            for t in (
                "จังหวัด",
                "รหัสจังหวัด",
                SHEET_RABIES,
                STATUS_TH["missing"],
                STATUS_TH["rejected"],
                "อปท. ที่ต้องติดตาม",
                SHEET_NOTHING,
                SHEET_QUARANTINE,
                SHEET_RABIES_TARGET,
                SHEET_FINDINGS,
            )
        )
    )
    n_rabies = Counter(r["province_code"] for r in rabies)
    n_files = Counter((r["province_code"], r["status"]) for r in files)
    by_province: dict[str, list[dict]] = {}
    for r in laos:
        by_province.setdefault(r["province_code"], []).append(r)
    for code, name in sorted(data.provinces.items()):
        p = LaoSheets.of(by_province.get(code, []))
        line(
            _cell(name),
            _cell(code),
            *(
                _cell(n, number_format="#,##0")
                for n in (
                    n_rabies[code],
                    n_files[(code, "missing")],
                    n_files[(code, "rejected")],
                    p.follow_up,
                    len(p.nothing),
                    len(p.quarantine),
                    len(p.rabies_target),
                    len(p.findings),
                )
            ),
        )


def build_workbook(
    title_th: str,
    data: PackData,
    rabies: list[dict],
    files: list[dict],
    generated: datetime,
    per_province: bool = False,
    laos: list[dict] | None = None,
) -> Book:
    """One province's (or every province's) workbook; rows already translated and sorted.
    ``laos``: the ``marts.lao_followup`` rows of that province (or of all)."""
    laos = laos or []
    lao = LaoSheets.of(laos)
    wb = Book()
    _table_sheet(wb, SHEET_NOTHING, NOTHING_COLUMNS, lao.nothing)
    _table_sheet(wb, SHEET_FILES, FILES_COLUMNS, files)
    _table_sheet(wb, SHEET_QUARANTINE, QUARANTINE_COLUMNS, lao.quarantine)
    _table_sheet(wb, SHEET_RABIES_TARGET, RABIES_TARGET_COLUMNS, lao.rabies_target)
    _table_sheet(wb, SHEET_FINDINGS, FINDINGS_COLUMNS, lao.findings)
    _table_sheet(wb, SHEET_RABIES, RABIES_COLUMNS, rabies)
    _summary_sheet(wb, title_th, data, rabies, files, generated, per_province, lao, laos)
    return wb


# ---------------------------------------------------------------- files


def private_folder(out: Path) -> Path:
    """``out``, created 0700 when missing; an existing one must be a private folder of ours."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        out.mkdir(mode=0o700, parents=True)
        os.chmod(out, 0o700)  # whatever the umask
    st = out.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise PackError(f"{out} is not a folder: choose another --out")
    if st.st_uid != os.getuid():
        raise PackError(f"{out} belongs to another user: choose a folder of yours with --out")
    if st.st_mode & 0o077:
        raise PackError(
            f"{out} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}) and the pack"
            " holds officials' follow-up data: choose a new folder with --out (it is created"
            f" 0700), or, if {out} is yours alone, `chmod 700 {out}` first"
        )
    return out


def save_private(wb: Book, path: Path) -> Path:
    """Save 0600 atomically: a new private file beside it, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            wb.save(fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Written:
    path: Path
    province_code: str  # ALL_CODE for the all-provinces workbook
    rabies: int
    missing: int
    rejected: int
    follow_up: int = 0  # LAOs with needs_follow_up (marts.lao_followup)


def default_out(root: Path, night: date) -> Path:
    return root / "data" / "followup" / night.isoformat()


def _translate_reasons(data: PackData, reasons) -> None:
    """Thai reasons on the rejected files and the quarantine lines (seed reason_codes);
    codes without a Thai text get the generic one and are logged."""
    data.unknown_reasons = translate_files(data.files, reasons)
    if data.unknown_reasons:
        log.warning(
            "rejected files without a Thai reason (generic text shown): %s",
            dict(data.unknown_reasons),
        )
    unknown_quarantine = translate_laos(data.laos, reasons)
    if unknown_quarantine:
        log.warning(
            "quarantine reasons without a Thai text (generic text shown): %s",
            dict(unknown_quarantine),
        )
    data.unknown_reasons.update(unknown_quarantine)


def write_pack(
    conn,
    out_dir: Path | None = None,
    provinces: Sequence[str] | None = None,
    all_provinces: bool = False,
    reasons_path: Path | None = None,
    dopa: dict[str, str] | None = None,
    now: datetime | None = None,
    root: Path | None = None,
    out_for: Callable[[date], Path] | None = None,
    workers: int = 0,
) -> list[Written]:
    """Write the pack; ``out_dir`` defaults to ``out_for(<latest published night>)``, else
    ``<root>/data/followup/<latest night>``.

    ``conn`` reads the published marts (``connect(role="publisher")``); ``provinces``
    limits the pack to those codes (every province with LAOs by default); ``dopa``
    (code -> Thai name) only makes the message for a province without LAOs clearer;
    ``workers`` processes write the workbooks (default: one per core).
    """
    from .config import project_root

    reasons = load_reasons(reasons_path or _seed_path(root))
    data, wanted = read_marts(conn, provinces, dopa)
    _translate_reasons(data, reasons)
    if out_dir is None and out_for is not None:
        out_dir = out_for(data.night)
    out = private_folder(out_dir or default_out(root or project_root(), data.night))
    generated = now or datetime.now(BANGKOK)
    pack = _Pack(data, out, generated, _workbook_jobs(data, wanted, all_provinces))
    return _write_workbooks(pack, workers)


# (file code, title, rabies, files, laos, all provinces)
_Job = tuple[str, str, list[dict], list[dict], list[dict], bool]


@dataclass
class _Pack:
    data: PackData
    out: Path
    generated: datetime
    jobs: list[_Job]


# The pack being written: forked workers inherit it instead of receiving the marts pickled
# once per workbook.
_PACK: _Pack | None = None


def _workbook_jobs(data: PackData, wanted: list[str], all_provinces: bool) -> list[_Job]:
    rabies_by: dict[str, list[dict]] = {}
    files_by: dict[str, list[dict]] = {}
    laos_by: dict[str, list[dict]] = {}
    for r in data.rabies:
        rabies_by.setdefault(r["province_code"], []).append(r)
    for r in data.files:
        files_by.setdefault(r["province_code"], []).append(r)
    for r in data.laos:
        laos_by.setdefault(r["province_code"], []).append(r)
    jobs: list[_Job] = [
        (
            code,
            f"จังหวัด{data.provinces[code]} ({code})",
            rabies_by.get(code, []),
            files_by.get(code, []),
            laos_by.get(code, []),
            False,
        )
        for code in wanted
    ]
    if all_provinces:
        jobs.append((ALL_CODE, ALL_NAME_TH, data.rabies, data.files, data.laos, True))
    return jobs


def _write_workbook(index: int) -> Written:
    assert _PACK is not None
    code, title, rabies, files, laos, everything = _PACK.jobs[index]
    name = ALL_NAME_TH if everything else _PACK.data.provinces[code]
    wb = build_workbook(title, _PACK.data, rabies, files, _PACK.generated, everything, laos=laos)
    path = save_private(wb, _PACK.out / safe_file_name(code, name))
    return _written(path, code, rabies, files, laos)


def _write_workbooks(pack: _Pack, workers: int) -> list[Written]:
    """Each workbook in a forked process, one per core by default (a national pack has
    ~300,000 cells, and XlsxWriter spends ~6 µs on each); written in the order of the
    jobs, the all-provinces one (the largest) started first so it does not end alone."""
    global _PACK
    _PACK = pack
    n = len(pack.jobs)
    workers = min(workers or os.cpu_count() or 1, n)
    try:
        if workers <= 1:
            return [_write_workbook(i) for i in range(n)]
        order = sorted(range(n), key=lambda i: not pack.jobs[i][5])
        with forked_pool(workers) as pool:
            done = dict(zip(order, pool.map(_write_workbook, order), strict=True))
        return [done[i] for i in range(n)]
    finally:
        _PACK = None


def write_for_night(night: date, settings=None) -> Path | None:
    """After a publish: every province's workbook (and the all-provinces one) into
    ``<runs_dir>/followup/<night>/``. Never raises: a pack problem is logged as a warning
    and gives None, it must not fail the night. When the published marts describe another
    night than ``night``, the pack is of the published night, in that night's folder."""
    try:
        from .config import get_settings
        from .db import connect

        settings = settings or get_settings()
        base = Path(settings.runs_dir) / "followup"
        with connect(settings, role="publisher") as conn:
            written = write_pack(
                conn,
                all_provinces=True,
                dopa=dopa_provinces(settings.reference_dir),
                root=settings.root,
                out_for=lambda published: base / published.isoformat(),
            )
        out = written[0].path.parent
        if out.name != night.isoformat():
            log.warning(
                "follow-up pack: the published marts describe %s, not %s: written in %s",
                out.name,
                night,
                out,
            )
        log.info("follow-up pack for %s: %d workbook(s) in %s", night, len(written), out)
        return out
    except Exception:  # noqa: BLE001 - a pack problem must not fail the night
        log.warning("follow-up pack for %s not written", night, exc_info=True)
        return None


def _written(
    path: Path, code: str, rabies: list[dict], files: list[dict], laos: list[dict]
) -> Written:
    status = Counter(r["status"] for r in files)
    follow_up = sum(1 for r in laos if r["needs_follow_up"])
    return Written(path, code, len(rabies), status["missing"], status["rejected"], follow_up)


def _seed_path(root: Path | None) -> Path:
    from .config import project_root

    return (root or project_root()) / "dbt_project" / "seeds" / "reason_codes.csv"


def dopa_provinces(reference_dir: Path) -> dict[str, str]:
    """Every DOPA province (code -> Thai name), from the reference seed."""
    path = reference_dir / "dopa_provinces.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["province_code"]: row["name_th"] for row in csv.DictReader(fh)}
