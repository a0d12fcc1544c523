"""The provincial offices' follow-up pack (``dla followup-pack``): Thai workbooks per
province, read back with openpyxl and compared with the published marts."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import reset_loaded_data
from openpyxl import load_workbook

from dla_pipeline import followup_pack as fp
from dla_pipeline.cli import main
from dla_pipeline.config import project_root

NIGHT = date(2026, 11, 5)
THAI = re.compile(r"[\u0e01-\u0e5b]")
SEED = project_root() / "dbt_project" / "seeds" / "reason_codes.csv"
SHEETS = list(fp.SHEETS)
NEW_SHEETS = {
    fp.SHEET_NOTHING: fp.NOTHING_COLUMNS,
    fp.SHEET_QUARANTINE: fp.QUARANTINE_COLUMNS,
    fp.SHEET_RABIES_TARGET: fp.RABIES_TARGET_COLUMNS,
    fp.SHEET_FINDINGS: fp.FINDINGS_COLUMNS,
}


# ---------------------------------------------------------------- pure parts


def test_every_reason_code_has_thai_text():
    reasons = fp.load_reasons(SEED)
    assert len(reasons) > 40
    for code in reasons:
        text, todo = fp.reason_th(code, reasons)
        assert THAI.search(text), f"{code}: reason_th {text!r} is not Thai"
        assert THAI.search(todo), f"{code}: what_to_do_th {todo!r} is not Thai"
        assert code not in text
    # the codes the loader writes (ops.files.reason_code) are all in the seed
    from dla_pipeline import reasons as catalogue

    assert set(catalogue.catalogue()) == set(reasons)


def test_unknown_reason_code_gets_a_thai_text_never_the_code():
    reasons = fp.load_reasons(SEED)
    for code in (None, "", "no_such_code"):
        text, todo = fp.reason_th(code, reasons)
        assert THAI.search(text) and THAI.search(todo)
        assert "no_such_code" not in text


def test_a_seed_without_thai_reasons_is_refused(tmp_path):
    seed = tmp_path / "reason_codes.csv"
    seed.write_text("reason_code,scope,reason_en\nbad_date,row,unparseable date\n")
    with pytest.raises(fp.PackError, match="reason_th"):
        fp.load_reasons(seed)
    seed.write_text("reason_code,reason_th,what_to_do_th\nbad_date,,x\n")
    with pytest.raises(fp.PackError, match="bad_date"):
        fp.load_reasons(seed)


def test_sheet_names_and_headers_are_thai_and_fit_excel():
    assert len(set(fp.SHEETS)) == len(fp.SHEETS) == 7
    for title in fp.SHEETS:
        assert THAI.search(title) and len(title) <= 31, title
        assert not set(title) & set("/\\?*[]:"), title
    for columns in (*NEW_SHEETS.values(), fp.FILES_COLUMNS, fp.RABIES_COLUMNS):
        headers = [c.th for c in columns]
        assert all(THAI.search(h) for h in headers), headers
        assert len(set(headers)) == len(headers), headers
    assert fp.SHEET_RABIES_TARGET == "ต่ำกว่าเป้าวัคซีน 80%"


def test_quarantine_reasons_are_read_and_told_in_thai():
    reasons = fp.load_reasons(SEED)
    assert fp.parse_top_reasons("bad_date (12), empty_value (3), bad_id (1)") == [
        ("bad_date", 12),
        ("empty_value", 3),
        ("bad_id", 1),
    ]
    assert fp.parse_top_reasons(None) == [] and fp.parse_top_reasons("") == []
    why, todo, unknown = fp.translate_top_reasons("bad_date (1234), bad_id (2)", reasons)
    assert (
        why
        == f"{reasons['bad_date']['reason_th']} (1,234 แถว); {reasons['bad_id']['reason_th']} (2 แถว)"
    )
    assert reasons["bad_date"]["what_to_do_th"] in todo and unknown == []
    assert not re.search(r"[a-z]+_[a-z_]+", why + todo)
    why, todo, unknown = fp.translate_top_reasons("no_such_code (3)", reasons)
    assert unknown == ["no_such_code"] and "no_such_code" not in why
    assert THAI.search(why) and THAI.search(todo)
    assert fp.translate_top_reasons(None, reasons) == (None, None, [])


def test_every_quarantine_reason_code_of_the_loader_has_thai_text():
    """The codes the loader can write into ops.quarantine (rows, and a file rejected
    whole) each have reason_th and what_to_do_th in the one table, the seed."""
    from dla_pipeline import reasons as catalogue

    reasons = fp.load_reasons(SEED)
    for code in catalogue.catalogue():
        assert code in reasons, code
        assert THAI.search(reasons[code]["reason_th"]), code
        assert THAI.search(reasons[code]["what_to_do_th"]), code


def test_file_names_are_safe_for_thai_names():
    assert fp.safe_file_name("14", "พระนครศรีอยุธยา") == "14_พระนครศรีอยุธยา.xlsx"
    assert fp.safe_file_name("51", "ลำพูน") == "51_ลำพูน.xlsx"
    assert fp.safe_file_name("51", "Lampu\u0301n") == "51_Lampún.xlsx"  # NFC
    for hostile in ("../../etc/passwd", "a/b\\c", "ชื่อ\x00ไฟล์", "\u202eslx.exe", "  ", ".."):
        name = fp.safe_file_name("10", hostile)
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert "\u202e" not in name and not name.startswith(".")
        assert re.fullmatch(r"10(_[\w\u0e00-\u0e7f]+)?\.xlsx", name), name
    assert len(fp.safe_file_name("10", "ก" * 500).encode()) < 255
    for bad in ("1", "../10", "ab", ""):
        with pytest.raises(ValueError):
            fp.safe_file_name(bad, "x")


def test_buddhist_era_dates_and_thai_widths():
    assert fp.be_date(date(2026, 11, 5)) == "05/11/2569"
    assert fp.be_date(None) is None
    assert fp.display_width("ที่") == 1  # a consonant, a vowel above, a tone mark
    assert fp.display_width("ลำพูน") == 4
    # the ASCII shortcut agrees with the general rule (controls and all)
    for text in ("6110111", "05/11/2569", "12.50%", "a\tb", ""):
        assert fp.display_width(text) == len(text)
    assert fp.display_width("กรุงเทพ 10") == 9 and fp.display_width("東京") == 4


def test_province_codes_are_checked_with_a_message_that_says_what_to_type():
    known = {"50": "เชียงใหม่", "51": "ลำพูน"}
    dopa = {**known, "10": "กรุงเทพมหานคร"}
    assert fp.check_provinces(None, known) == ["50", "51"]
    assert fp.check_provinces(["51", " 51", "50"], known) == ["50", "51"]
    with pytest.raises(fp.PackError, match=r"'99' is not a DOPA province code.*--province 51"):
        fp.check_provinces(["99"], known, dopa)
    with pytest.raises(fp.PackError, match=r"province 10 \(กรุงเทพมหานคร\) has no LAO"):
        fp.check_provinces(["10"], known, dopa)
    with pytest.raises(fp.PackError, match="type its code, --province 51"):
        fp.check_provinces(["ลำพูน"], known, dopa)
    with pytest.raises(fp.PackError, match="not a province code"):
        fp.check_provinces(["5"], known, dopa)


def test_cells_are_never_formulas_and_dates_are_dates(tmp_path):
    row = {
        "province_code": "51",
        "province_name_th": "ลำพูน",
        "lao_code": "5510103",
        "lao_name_th": '=HYPERLINK("http://x","y")',
        "as_of_date": date(2026, 11, 5),
        "last_file_received": None,
    }
    data = fp.PackData(NIGHT, NIGHT, 2570, {"51": "ลำพูน"}, [row], [])
    wb = fp.build_workbook("ลำพูน", data, [row], [], datetime.now(fp.BANGKOK))
    umask = os.umask(0o022)  # whatever the caller's umask, the folder is 0700, the file 0600
    try:
        folder = fp.private_folder(tmp_path / "out")
        path = fp.save_private(wb, folder / "t.xlsx")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    ws = load_workbook(path)[fp.SHEET_RABIES]
    name = ws.cell(2, _col(fp.RABIES_COLUMNS, "ชื่อ อปท."))
    assert name.value == row["lao_name_th"] and name.data_type == "s"
    when = ws.cell(2, _col(fp.RABIES_COLUMNS, "ข้อมูล ณ วันที่ (ค.ศ.)"))
    assert when.is_date and when.value.date() == date(2026, 11, 5)
    assert when.number_format == fp.DATE_FORMAT
    assert ws.cell(2, _col(fp.RABIES_COLUMNS, "ข้อมูล ณ วันที่ (พ.ศ.)")).value == "05/11/2569"


def test_lao_sheets_from_lao_followup_rows(tmp_path):
    reasons = fp.load_reasons(SEED)
    base = {
        "province_code": "51",
        "province_name_th": "ลำพูน",
        "province_name_en": "Lamphun",
        "district_code": "5101",
        "district_name_th": "เมืองลำพูน",
        "lao_type": "SAO",
        "lao_type_th": "อบต.",
        "extract_date": NIGHT,
        "fiscal_year_be": 2570,
        "allowance_status": "reported",
        "tax_status": "reported",
        "vaccination_status": "reported",
        "sources_missing": 0,
        "files_rejected": 0,
        "rows_quarantined": 0,
        "top_quarantine_reasons": None,
        "rabies_coverage_rate": None,
        "below_rabies_target": False,
        "allowance_findings": 0,
        "needs_follow_up": False,
    }
    laos = [
        {
            **base,
            "lao_code": "5510101",
            "lao_name_th": "ก",
            "tax_status": "missing",
            "sources_missing": 1,
            "needs_follow_up": True,
        },
        {
            **base,
            "lao_code": "5510102",
            "lao_name_th": "ข",
            "rows_quarantined": 7,
            "top_quarantine_reasons": "bad_date (5), bad_id (2)",
            "needs_follow_up": True,
        },
        {
            **base,
            "lao_code": "5510103",
            "lao_name_th": "=1+1",
            "rabies_coverage_rate": Decimal("0.6543"),
            "below_rabies_target": True,
            "allowance_findings": 4,
            "needs_follow_up": True,
        },
        {**base, "lao_code": "5510104", "lao_name_th": "ง", "rabies_coverage_rate": Decimal("0.9")},
    ]
    assert fp.translate_laos(laos, reasons) == Counter()
    data = fp.PackData(NIGHT, NIGHT, 2570, {"51": "ลำพูน"}, [], [], laos=laos)
    wb = fp.build_workbook("ลำพูน", data, [], [], datetime.now(fp.BANGKOK), laos=laos)
    path = tmp_path / "t.xlsx"
    wb.save(path)
    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS
    header, rows = _rows(wb[fp.SHEET_NOTHING])
    assert header == [c.th for c in fp.NOTHING_COLUMNS] and len(rows) == 1
    assert rows[0][header.index(fp.SOURCE_TH["tax"])] == fp.STATUS_TH["missing"]
    assert rows[0][header.index(fp.SOURCE_TH["allowance"])] == fp.STATUS_TH["reported"]
    header, rows = _rows(wb[fp.SHEET_QUARANTINE])
    assert len(rows) == 1 and rows[0][header.index("จำนวนแถวที่ถูกกักไว้")] == 7
    assert rows[0][header.index("สาเหตุหลัก (จำนวนแถว)")].startswith(reasons["bad_date"]["reason_th"])
    ws = wb[fp.SHEET_RABIES_TARGET]
    header, rows = _rows(ws)
    assert len(rows) == 1
    cell = ws.cell(2, 1 + header.index("ความครอบคลุมการฉีดวัคซีน"))
    assert cell.value == pytest.approx(0.6543) and cell.number_format == fp.PERCENT_FORMAT
    name = ws.cell(2, 1 + header.index("ชื่อ อปท."))
    assert name.value == "=1+1" and name.data_type == "s"
    header, rows = _rows(wb[fp.SHEET_FINDINGS])
    assert len(rows) == 1 and rows[0][header.index("จำนวนข้อค้นพบเบี้ยยังชีพ")] == 4
    counts = _summary(wb)
    assert counts["จำนวน อปท. ทั้งหมด"] == 4 and counts["จำนวน อปท. ที่ต้องติดตาม"] == 3


def test_a_numeric_nan_or_infinity_is_shown_as_text_and_the_workbook_is_written(tmp_path):
    """PostgreSQL's numeric holds NaN and Infinity, Excel has no such number: the cell
    shows the text rather than failing the province's workbook (the writer refuses
    them as numbers)."""
    row = {
        "province_code": "51",
        "province_name_th": "ลำพูน",
        "province_name_en": "Lamphun",
        "district_code": "5101",
        "district_name_th": "เมืองลำพูน",
        "lao_code": "5510101",
        "lao_name_th": "ก",
        "lao_type": "SAO",
        "lao_type_th": "อบต.",
        "extract_date": NIGHT,
        "fiscal_year_be": 2570,
        **{f"{s}_status": "reported" for s in ("allowance", "tax", "vaccination")},
        "sources_missing": 0,
        "files_rejected": 0,
        "rows_quarantined": 0,
        "top_quarantine_reasons": None,
        "rabies_coverage_rate": Decimal("NaN"),
        "below_rabies_target": True,
        "allowance_findings": float("inf"),
        "needs_follow_up": True,
    }
    data = fp.PackData(NIGHT, NIGHT, 2570, {"51": "ลำพูน"}, [], [], laos=[row])
    wb = fp.build_workbook("ลำพูน", data, [], [], datetime.now(fp.BANGKOK), laos=[row])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    ws = load_workbook(path)[fp.SHEET_RABIES_TARGET]
    header, rows = _rows(ws)
    assert rows[0][header.index("ความครอบคลุมการฉีดวัคซีน")] == "NaN"
    header, rows = _rows(load_workbook(path)[fp.SHEET_FINDINGS])
    assert rows[0][header.index("จำนวนข้อค้นพบเบี้ยยังชีพ")] == "inf"


def test_a_folder_open_to_others_is_refused(tmp_path):
    open_dir = tmp_path / "shared"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    with pytest.raises(fp.PackError, match="open to other users"):
        fp.private_folder(open_dir)
    (tmp_path / "file").write_text("")
    os.chmod(tmp_path, 0o700)
    with pytest.raises(fp.PackError, match="not a folder"):
        fp.private_folder(tmp_path / "file")


def _summary(wb) -> dict:
    rows = [r for r in wb[fp.SHEET_SUMMARY].iter_rows(values_only=True) if r and r[0]]
    return {r[0]: r[1] if len(r) > 1 else None for r in rows}


def _col(columns, th: str) -> int:
    return 1 + [c.th for c in columns].index(th)


# ---------------------------------------------------------------- against the warehouse


@pytest.fixture(scope="module")
def published(warehouse_db, tmp_path_factory):
    from dla_pipeline.generator import generate_night
    from dla_pipeline.night import run_night

    # dbt's target folder of its own: a test run beside this one never shares it
    old = os.environ.get("DBT_TARGET_PATH")
    os.environ["DBT_TARGET_PATH"] = str(tmp_path_factory.mktemp("dbt_target"))
    try:
        # this module's night alone, whatever ran before it in the session (a later night
        # would be "the latest" the pack describes)
        reset_loaded_data(warehouse_db["WAREHOUSE_URL"], Path(warehouse_db["LANDING_DIR"]))
        generate_night(NIGHT, laos=60, seed=7, bad_fraction=0.03)
        summary = run_night(NIGHT, runner="direct")
    finally:
        if old is None:
            os.environ.pop("DBT_TARGET_PATH", None)
        else:
            os.environ["DBT_TARGET_PATH"] = old
    assert summary["ok"], summary
    return summary


@pytest.fixture(scope="module")
def pack(published, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("followup") / "pack"
    umask = os.umask(0o077)  # main() sets it for the process: restored for the other tests
    try:
        assert main(["followup-pack", "--out", str(out)]) == 0
    finally:
        os.umask(umask)
    return out


@pytest.fixture(scope="module")
def marts(published, warehouse_db):
    """What the pack must show, read as a central analyst (every province)."""
    import psycopg

    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        night = conn.execute("select max(extract_date) from marts.published_nights").fetchone()[0]
        provinces = dict(
            conn.execute("select distinct province_code, province_name_th from marts.dim_lao")
        )
        rabies = dict(
            conn.execute("select province_code, count(*) from marts.rabies_followup group by 1")
        )
        files = dict(
            conn.execute(
                "select province_code, count(*) from marts.missing_submissions"
                " where extract_date = %s group by 1",
                (night,),
            )
        )
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:  # the ledger's own codes
        codes = {
            (source, lao): code
            for source, lao, code in conn.execute(
                "select s.source, s.lao_code, f.reason_code from ops.submissions s"
                " join ops.files f using (source, extract_date, file_name)"
                " where s.status = 'rejected' and s.extract_date = %s",
                (night,),
            )
        }
        sent = {
            r[0]
            for r in conn.execute(
                "select distinct substr(lao_code, 2, 2) from ops.submissions"
                " where extract_date = %s and status <> 'missing'"
                " and lao_code in (select lao_code from marts.dim_lao)",
                (NIGHT,),
            )
        }
        quarantine_codes = {
            r[0]
            for r in conn.execute(
                "select distinct reason_code from ops.quarantine where extract_date = %s", (night,)
            )
        }
    return {
        "night": night,
        "provinces": provinces,
        "rabies": rabies,
        "files": files,
        "codes": codes,
        "sent": sent,
        "lao_followup": _lao_followup(warehouse_db["ANALYST_URL"]),
        "quarantine_codes": quarantine_codes,
    }


def _lao_followup(url: str) -> dict:
    """Per province, what each new sheet must hold, read from marts.lao_followup by the
    analyst: (rows, the LAO codes, the sum of the sheet's figure)."""
    import psycopg

    sheets = {
        fp.SHEET_NOTHING: ("sources_missing > 0", "sources_missing"),
        fp.SHEET_QUARANTINE: ("rows_quarantined > 0", "rows_quarantined"),
        fp.SHEET_RABIES_TARGET: ("below_rabies_target", "rabies_coverage_rate"),
        fp.SHEET_FINDINGS: ("allowance_findings > 0", "allowance_findings"),
    }
    out: dict = {}
    with psycopg.connect(url) as conn:
        for sheet, (where, figure) in sheets.items():
            for code, n, laos, total in conn.execute(
                f"select province_code, count(*), array_agg(lao_code order by lao_code),"
                f" sum({figure}) from marts.lao_followup where is_latest_period and {where}"
                " group by 1"
            ):
                out[(sheet, code)] = (n, laos, total)
        for code, n, follow_up in conn.execute(
            "select province_code, count(*), count(*) filter (where needs_follow_up)"
            " from marts.lao_followup group by 1"
        ):
            out[("laos", code)] = (n, follow_up)
    return out


def _rows(ws) -> tuple[list, list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    return list(rows[0]), rows[1:]


@pytest.mark.e2e
def test_one_private_workbook_per_province(pack, marts):
    names = {p.name for p in pack.iterdir()}
    expected = {fp.safe_file_name(c, n) for c, n in marts["provinces"].items()}
    assert names == expected | {fp.safe_file_name(fp.ALL_CODE, fp.ALL_NAME_TH)}
    assert marts["sent"] and marts["sent"] <= {n[:2] for n in names}  # the generated LAOs'
    assert stat.S_IMODE(pack.stat().st_mode) == 0o700
    for path in pack.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.e2e
def test_sheets_rows_and_counts_match_the_marts(pack, marts):
    reasons = fp.load_reasons(SEED)
    rejected_seen = 0
    for code, name in sorted(marts["provinces"].items()):
        wb = load_workbook(pack / fp.safe_file_name(code, name), read_only=True)
        assert wb.sheetnames == SHEETS
        header, rabies = _rows(wb[fp.SHEET_RABIES])
        assert header == [c.th for c in fp.RABIES_COLUMNS]
        assert all(THAI.search(h) for h in header)
        assert len(rabies) == marts["rabies"].get(code, 0), code
        pc = header.index("รหัสจังหวัด")
        assert {r[pc] for r in rabies} <= {code}
        assert {r[header.index("จังหวัด")] for r in rabies} <= {name}
        district, lao = header.index("รหัสอำเภอ"), header.index("รหัส อปท.")
        keys = [(r[district], r[lao]) for r in rabies]
        assert keys == sorted(keys)  # by district, then LAO
        for r in rabies:
            as_of = r[header.index("ข้อมูล ณ วันที่ (ค.ศ.)")]
            assert isinstance(as_of, datetime)
            assert r[header.index("ข้อมูล ณ วันที่ (พ.ศ.)")] == fp.be_date(as_of.date())
            assert r[header.index("ปีงบประมาณ (พ.ศ.)")] > 2500

        header, files = _rows(wb[fp.SHEET_FILES])
        assert header == [c.th for c in fp.FILES_COLUMNS]
        assert len(files) == marts["files"].get(code, 0), code
        assert {r[header.index("รหัสจังหวัด")] for r in files} <= {code}
        src, st = header.index("ประเภทข้อมูล"), header.index("สถานะ")
        why, todo = header.index("เหตุผลที่ไฟล์ถูกปฏิเสธ"), header.index("สิ่งที่ อปท. ต้องทำ")
        assert {r[src] for r in files} <= set(fp.SOURCE_TH.values())
        assert {r[st] for r in files} <= set(fp.STATUS_TH.values())
        for r in files:
            night = r[header.index("ข้อมูลวันที่ (ค.ศ.)")]
            assert isinstance(night, datetime) and night.date() == marts["night"]
            assert r[header.index("ข้อมูลวันที่ (พ.ศ.)")] == fp.be_date(marts["night"])
            if r[st] == fp.STATUS_TH["rejected"]:
                rejected_seen += 1
                assert THAI.search(r[why]) and THAI.search(r[todo]), r
                assert r[why] not in reasons and not re.search(r"[a-z]+_[a-z_]+", r[why]), r
                source = {v: k for k, v in fp.SOURCE_TH.items()}[r[src]]
                code_ = marts["codes"][(source, r[header.index("รหัส อปท.")])]
                assert (r[why], r[todo]) == fp.reason_th(code_, reasons)
                assert r[why] != fp.UNKNOWN_REASON_TH
            else:
                assert r[why] is None
        summary = [r for r in wb[fp.SHEET_SUMMARY].iter_rows(values_only=True) if r and r[0]]
        counts = {r[0]: r[1] if len(r) > 1 else None for r in summary}
        assert counts[f"จำนวนรายการในแผ่นงาน “{fp.SHEET_RABIES}”"] == len(rabies)
        assert counts[f"จำนวนรายการในแผ่นงาน “{fp.SHEET_FILES}”"] == len(files)
        wb.close()
    assert rejected_seen > 0  # the generator sends binary, HTML, empty files


@pytest.mark.e2e
def test_workbook_format(pack, marts):
    code = min(marts["sent"])
    wb = load_workbook(pack / fp.safe_file_name(code, marts["provinces"][code]))
    for title, columns in (
        (fp.SHEET_RABIES, fp.RABIES_COLUMNS),
        (fp.SHEET_FILES, fp.FILES_COLUMNS),
    ):
        ws = wb[title]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(columns)).column_letter}{ws.max_row}"
        for i, col in enumerate(columns, 1):
            cell = ws.cell(1, i)
            assert cell.font.name == fp.FONT_NAME and cell.font.b
            assert cell.comment is not None and col.en in cell.comment.text
            assert ws.column_dimensions[cell.column_letter].width >= 8
            if ws.max_row > 1:
                assert ws.cell(2, i).font.name == fp.FONT_NAME
                if col.kind == "date" and ws.cell(2, i).value is not None:
                    assert ws.cell(2, i).is_date
                    assert ws.cell(2, i).number_format == fp.DATE_FORMAT
    summary = wb[fp.SHEET_SUMMARY]
    rows = {r[0]: r[1:] for r in summary.iter_rows(values_only=True) if r and r[0]}
    generated = rows["สร้างไฟล์เมื่อ (เวลาประเทศไทย)"][0]
    now = datetime.now(fp.BANGKOK).replace(tzinfo=None)
    assert isinstance(generated, datetime) and now - generated < timedelta(minutes=30)
    assert rows["ข้อมูลการส่งไฟล์ วันที่ (ค.ศ. / พ.ศ.)"][1] == fp.be_date(marts["night"])
    assert any(str(k).startswith("สิ่งที่ต้องทำ") for k in rows)


@pytest.mark.e2e
def test_one_province_and_a_bad_province(published, marts, tmp_path, capsys):
    code = min(marts["sent"])
    out = tmp_path / "one"
    umask = os.umask(0o077)
    try:
        _one_province_and_a_bad_province(code, marts, out, tmp_path, capsys)
    finally:
        os.umask(umask)


def _one_province_and_a_bad_province(code, marts, out, tmp_path, capsys):
    assert main(["followup-pack", "--out", str(out), "--province", code]) == 0
    assert [p.name for p in out.iterdir()] == [fp.safe_file_name(code, marts["provinces"][code])]
    for bad, says in (("99", "is not a DOPA province code"), ("5", "is not a province code")):
        assert main(["followup-pack", "--out", str(tmp_path / "bad"), "--province", bad]) == 2
        err = capsys.readouterr().err
        assert says in err and "--province 51" in err, err
    assert not (tmp_path / "bad").exists()


@pytest.mark.e2e
def test_workbooks_written_over_processes_equal_those_written_one_by_one(
    published, tmp_path, monkeypatch
):
    from dla_pipeline.db import connect

    pools = []
    forked_pool = fp.forked_pool

    def pool(workers):
        pools.append(workers)
        return forked_pool(workers)

    monkeypatch.setattr(fp, "forked_pool", pool)
    now = datetime.now(fp.BANGKOK)
    packs = {}
    umask = os.umask(0o077)
    try:
        for workers in (1, 2):
            with connect(role="publisher") as conn:
                written = fp.write_pack(
                    conn, tmp_path / f"w{workers}", all_provinces=True, now=now, workers=workers
                )
            packs[workers] = [(w.path.name, w.province_code, w.rabies, w.missing) for w in written]
    finally:
        os.umask(umask)
    assert pools == [2]  # one by one without a pool, then over two processes
    assert packs[1] == packs[2] and packs[1][-1][1] == fp.ALL_CODE  # same order, all last
    for name, *_ in packs[1]:
        one, two = (load_workbook(tmp_path / f"w{w}" / name) for w in (1, 2))
        assert one.sheetnames == two.sheetnames
        for ws in one.worksheets:
            cells = [[(c.value, c.number_format, c.font.name) for c in r] for r in ws.iter_rows()]
            other = [
                [(c.value, c.number_format, c.font.name) for c in r]
                for r in two[ws.title].iter_rows()
            ]
            assert cells == other, (name, ws.title)


# ---------------------------------------------------------------- marts.lao_followup


@pytest.mark.e2e
def test_lao_followup_mart_has_every_lao_and_agrees_with_the_other_marts(published, warehouse_db):
    import psycopg

    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        night = conn.execute("select max(extract_date) from marts.published_nights").fetchone()[0]
        n, nights, latest, laos = conn.execute(
            "select count(*), array_agg(distinct extract_date), bool_and(is_latest_period),"
            " count(distinct lao_code) from marts.lao_followup"
        ).fetchone()
        assert n == laos == conn.execute("select count(*) from marts.dim_lao").fetchone()[0]
        assert nights == [night] and latest
        missing, rejected = conn.execute(
            "select sum(sources_missing), sum(files_rejected) from marts.lao_followup"
        ).fetchone()
        expected = dict(
            conn.execute(
                "select status, count(*) from marts.missing_submissions"
                " where extract_date = %s group by 1",
                (night,),
            ).fetchall()
        )
        assert (missing, rejected) == (expected.get("missing", 0), expected.get("rejected", 0))
        wrong = conn.execute(
            "select count(*) from marts.lao_followup where needs_follow_up <> ("
            " sources_missing > 0 or files_rejected > 0 or rows_quarantined > 0"
            " or below_rabies_target or allowance_findings > 0)"
            " or below_rabies_target <> coalesce(rabies_coverage_rate < 0.80, false)"
            " or (rows_quarantined > 0) <> (top_quarantine_reasons is not null)"
        ).fetchone()[0]
        assert wrong == 0
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'marts' and table_name = 'lao_followup'"
            )
        }
        assert not {c for c in columns if "person" in c or "citizen" in c}
        registered = {r[0] for r in conn.execute("select lao_code from marts.dim_lao")}
        in_mart = conn.execute("select sum(rows_quarantined) from marts.lao_followup").fetchone()[0]
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:  # the ledger, as the owner
        per_lao = conn.execute(
            "select lao_code, count(*) from ops.quarantine where extract_date = %s group by 1",
            (night,),
        ).fetchall()
    in_ledger = sum(n for lao, n in per_lao if lao in registered)
    assert in_mart == in_ledger and in_ledger > 0


@pytest.mark.e2e
def test_every_quarantine_reason_that_appears_has_thai_text(pack, marts):
    reasons = fp.load_reasons(SEED)
    assert marts["quarantine_codes"]
    assert marts["quarantine_codes"] <= set(reasons), marts["quarantine_codes"] - set(reasons)
    for code in marts["quarantine_codes"]:
        assert THAI.search(reasons[code]["reason_th"]) and THAI.search(
            reasons[code]["what_to_do_th"]
        )
    # and the pack shows none of them as a code or as the generic text
    seen = 0
    for code, name in sorted(marts["provinces"].items()):
        wb = load_workbook(pack / fp.safe_file_name(code, name), read_only=True)
        header, rows = _rows(wb[fp.SHEET_QUARANTINE])
        why = header.index("สาเหตุหลัก (จำนวนแถว)")
        for r in rows:
            seen += 1
            assert THAI.search(r[why]) and fp.UNKNOWN_QUARANTINE_TH not in r[why], r
            assert not re.search(r"[a-z]+_[a-z_]+", r[why]), r
        wb.close()
    assert seen > 0


@pytest.mark.e2e
def test_new_sheets_totals_equal_lao_followup(pack, marts):
    """Per province and sheet: rows, LAOs and the sheet's figure summed, against the mart
    read as the analyst; the summary's counts too."""
    figure = {
        fp.SHEET_NOTHING: "จำนวนประเภทที่ไม่ได้รับไฟล์",
        fp.SHEET_QUARANTINE: "จำนวนแถวที่ถูกกักไว้",
        fp.SHEET_RABIES_TARGET: "ความครอบคลุมการฉีดวัคซีน",
        fp.SHEET_FINDINGS: "จำนวนข้อค้นพบเบี้ยยังชีพ",
    }
    expected = marts["lao_followup"]
    totals = Counter()
    for code, name in sorted(marts["provinces"].items()):
        wb = load_workbook(pack / fp.safe_file_name(code, name))
        counts = _summary(wb)
        for sheet, columns in NEW_SHEETS.items():
            ws = wb[sheet]
            header, rows = _rows(ws)
            assert header == [c.th for c in columns]
            assert all(THAI.search(h) for h in header)
            n, laos, total = expected.get((sheet, code), (0, [], None))
            assert len(rows) == n, (sheet, code)
            assert sorted(r[header.index("รหัส อปท.")] for r in rows) == sorted(laos)
            assert {r[header.index("รหัสจังหวัด")] for r in rows} <= {code}
            got = sum(r[header.index(figure[sheet])] for r in rows)
            assert got == pytest.approx(float(total or 0)), (sheet, code)
            assert counts[f"จำนวนรายการในแผ่นงาน “{sheet}”"] == n
            totals[sheet] += n
            if sheet == fp.SHEET_RABIES_TARGET:
                col = 1 + header.index(figure[sheet])
                for i in range(2, ws.max_row + 1):
                    cell = ws.cell(i, col)
                    assert cell.number_format == fp.PERCENT_FORMAT and 0 <= cell.value < 0.8
        all_laos, follow_up = expected[("laos", code)]
        assert counts["จำนวน อปท. ทั้งหมด"] == all_laos
        assert counts["จำนวน อปท. ที่ต้องติดตาม"] == follow_up
        wb.close()
    assert totals[fp.SHEET_NOTHING] > 0 and totals[fp.SHEET_QUARANTINE] > 0
    everything = load_workbook(
        pack / fp.safe_file_name(fp.ALL_CODE, fp.ALL_NAME_TH), read_only=True
    )
    assert _summary(everything)["จำนวน อปท. ทั้งหมด"] == sum(
        v[0] for k, v in expected.items() if k[0] == "laos"
    )
    for sheet in NEW_SHEETS:
        assert len(_rows(everything[sheet])[1]) == totals[sheet]
    everything.close()


@pytest.mark.e2e
def test_a_published_night_writes_its_pack_and_never_fails_the_night(
    published, marts, warehouse_db, monkeypatch
):
    from dla_pipeline.config import get_settings

    settings = get_settings()
    out = fp.write_for_night(marts["night"], settings)
    assert out == Path(warehouse_db["RUNS_DIR"]) / "followup" / marts["night"].isoformat()
    names = {p.name for p in out.iterdir()}
    assert fp.safe_file_name(fp.ALL_CODE, fp.ALL_NAME_TH) in names
    assert {fp.safe_file_name(c, n) for c, n in marts["provinces"].items()} <= names
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fp, "write_pack", broken)
    assert fp.write_for_night(marts["night"], settings) is None
