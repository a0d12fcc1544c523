"""The provincial offices' follow-up pack (``dla followup-pack``): Thai workbooks per
province, read back with openpyxl and compared with the published marts."""

from __future__ import annotations

import os
import re
import stat
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from dla_pipeline import followup_pack as fp
from dla_pipeline.cli import main
from dla_pipeline.config import project_root

NIGHT = date(2026, 11, 5)
THAI = re.compile(r"[\u0e01-\u0e5b]")
SEED = project_root() / "dbt_project" / "seeds" / "reason_codes.csv"
SHEETS = [fp.SHEET_RABIES, fp.SHEET_FILES, fp.SHEET_SUMMARY]


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
    return {
        "night": night,
        "provinces": provinces,
        "rabies": rabies,
        "files": files,
        "codes": codes,
        "sent": sent,
    }


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
