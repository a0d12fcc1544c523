"""One night with every file case at once, through the whole chain: every good row is
loaded, every bad one quarantined with a reason the catalogue knows, the night is
published and conservation holds for every source."""

from __future__ import annotations

import codecs
import csv
import os
import socket
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import reset_loaded_data, write_extract

from dla_pipeline import reasons
from dla_pipeline.generator import generate_night, make_thai_id
from dla_pipeline.night import run_night

NIGHT = date(2026, 11, 5)
N = NIGHT.isoformat()
AH = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
TH = "receipt_no,receipt_date,account_code,revenue_type,parcel_id,taxpayer_id,amount,fiscal_year,status"
TID = make_thai_id("010555012345")


def good(i: int, amount: str = "800") -> str:
    return f"{make_thai_id(f'39{i:010d}')},12/03/2490,11/2569,{amount},05/11/2569,cash,paid"


def free_codes(landing: Path, n: int) -> list[str]:
    used = {p.stem for p in landing.glob("*/*/*.csv")}
    registry = (
        Path(__file__).resolve().parents[1] / "dbt_project/seeds/reference/dla_lao_registry.csv"
    )
    with registry.open(encoding="utf-8") as fh:
        codes = [r["lao_code"] for r in csv.DictReader(fh) if r["lao_code"][0] in "56"]
    return [c for c in codes if c not in used][:n]


def hostile(landing: Path, tmp: Path) -> dict[str, int]:
    """Adds every case; returns {lao_code: good rows expected loaded} for the valid files."""
    c = iter(free_codes(landing, 20))
    folder = landing / "allowance" / N
    expect: dict[str, int] = {}

    def put(
        rows: list[str], eol: str = "\n", header: str = AH, encoding="utf-8", name=None, loaded=None
    ):
        lao = next(c)
        write_extract(
            landing,
            "allowance",
            N,
            name or f"{lao}.csv",
            (header + eol + eol.join(rows) + eol).encode(encoding)
            if isinstance(encoding, str)
            else encoding,
        )
        if loaded is not None:
            expect[lao] = loaded
        return lao

    put([good(1), good(2), good(3)], eol="\r", loaded=3)  # CR only
    lao = next(c)
    write_extract(
        landing,
        "allowance",
        N,
        f"{lao}.csv",
        AH + "\r\n" + good(4) + "\n" + good(5) + "\r" + good(6) + "\r\n",
    )
    expect[lao] = 3  # mixed endings
    put(
        [
            good(7),
            f'{make_thai_id("390000000008")},12/03/2490,11/2569,"800",05/11/2569,cash,"pa\nid"',
            good(9),
        ],
        loaded=2,
    )
    put([good(10), good(11)[:-4] + '"paid', good(12)], loaded=2)  # an unbalanced quote
    lao = next(c)
    write_extract(
        landing,
        "allowance",
        N,
        f"{lao}.csv",
        "\ufeff" + AH + "\n" + good(13) + "\n\ufeff" + AH + "\n" + good(14) + "\n",
    )
    expect[lao] = 2  # a repeated header with a second BOM
    put(
        [good(15) + ",,", ",,,,,,,,", good(16) + ",,"], header=AH + ",,", loaded=2
    )  # trailing commas
    put([good(17) + ",900"], header=AH + ",amount", loaded=0)  # a required column twice: rejected
    put([good(18) + ",a,b"], header=AH + ",remark,remark", loaded=1)  # unknown twice: kept
    put([good(19)], header="\u200b" + AH.replace(",", "\u00a0,"), loaded=1)  # invisible characters
    put(
        [good(20)],
        encoding=codecs.BOM_UTF16_LE + (AH + "\n" + good(20) + "\n").encode("utf-16-le"),
        loaded=0,
    )
    put([good(21), good(22)[:10] + "\x00" + good(22)[10:], good(23)], loaded=2)  # a NUL byte
    put([good(24, "1000000000000000"), good(25)], loaded=1)  # an amount the database cannot hold
    lao = put([good(26)], name=None, loaded=1)
    os.rename(folder / f"{lao}.csv", folder / f"{lao}.CSV")  # .CSV in capitals
    write_extract(landing, "allowance", N, f"{next(c)}.csv.PART", AH + "\n" + good(27))  # an upload
    lao = next(c)  # two names for one LAO: the newer wins
    old = write_extract(
        landing, "allowance", N, f"{lao}.csv", AH + "\n" + good(28) + "\n" + good(29) + "\n"
    )
    new = write_extract(landing, "allowance", N, f"{lao}.Csv", AH + "\n" + good(30) + "\n")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))
    expect[lao] = 1
    outside = tmp / "outside.csv"
    outside.write_text(AH + "\n" + good(31) + "\n")
    (folder / f"{next(c)}.csv").symlink_to(outside)
    (folder / f"{next(c)}.csv").symlink_to(folder / f"{lao}.csv")
    (folder / f"{next(c)}.csv").mkdir()
    os.mkfifo(folder / f"{next(c)}.csv")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / f"{next(c)}.csv"))
    sock.close()
    for name in (".hidden.csv", "export (1).csv", "๖๑๑๐๑๑๑.csv", "a\nb.csv"):
        (folder / name).write_text(AH + "\n" + good(32) + "\n")
    write_extract(landing, "allowance", "2569-11-05", "6110111.csv", AH + "\n" + good(33))
    write_extract(landing, "allowance", "2026-11-5", "6110111.csv", AH + "\n" + good(34))
    write_extract(landing, "Tax", N, "6110111.csv", TH)
    (landing / "allowance" / "6110111.csv").write_text(AH)
    return expect


@pytest.fixture(scope="module")
def hostile_night(warehouse_db, tmp_path_factory):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    generate_night(NIGHT, laos=40, seed=21, bad_fraction=0.03)
    expect = hostile(landing, tmp_path_factory.mktemp("outside"))
    return expect, run_night(NIGHT, runner="direct")


def test_every_good_row_loads_every_bad_one_is_quarantined_and_the_night_publishes(
    hostile_night, warehouse_db
):
    expect, summary = hostile_night
    assert summary["ok"] and summary["published"], summary["steps"]
    for source, v in summary["sources"].items():
        assert v["conservation_ok"] and v["rows_in"] == v["rows_loaded"] + v["rows_quarantined"], (
            source
        )
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        loaded = dict(
            conn.execute(
                "select lao_code, count(*) from raw.allowance_payments where extract_date = %s"
                " and lao_code = any(%s) group by 1",
                (NIGHT, list(expect)),
            ).fetchall()
        )
        assert {lao: loaded.get(lao, 0) for lao in expect} == expect
        codes = {r[0] for r in conn.execute("select distinct reason_code from ops.quarantine")}
        codes |= {
            r[0]
            for r in conn.execute(
                "select distinct reason_code from ops.files where reason_code is not null"
            )
        }
        codes |= {r[0] for r in conn.execute("select distinct reason_code from ops.landing_issues")}
        assert None not in codes and all(reasons.known(code) for code in codes), codes
        assert {
            "unbalanced_quote",
            "nul_byte",
            "ambiguous_header",
            "bad_encoding",
            "amount_too_large",
            "superseded",
            "not_regular_file",
            "hidden_file",
            "bad_layout",
            "bad_date_folder",
            "unknown_folder",
        } <= codes
        no_reason = conn.execute(
            "select count(*) from ops.quarantine where reason is null or reason_code is null"
        ).fetchone()[0]
        assert no_reason == 0
