"""The pure reader (csvread + extract): CSV as office software writes it, no database.

Property tests write records with the csv module (random quoting, commas, quotes, line
breaks, Thai text, any line ending) and check that the reader gives back the same cells
at the same physical line numbers; and that no byte string makes it raise or lose a row.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dla_pipeline.config import project_root
from dla_pipeline.contract import SOURCES, Context, Rules
from dla_pipeline.csvread import READ_CHARS, Lines, Records, Run
from dla_pipeline.encoding import SNIFF_BYTES
from dla_pipeline.extract import Accepted, ExtractReader
from dla_pipeline.generator import make_thai_id

NIGHT = date(2026, 11, 5)
CID = make_thai_id("310050012345")
CID2 = make_thai_id("310050012346")
HEADER = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
GOOD = f"{CID},12/03/2490,11/2569,800,05/11/2569,bank_transfer,paid"
GOOD2 = f"{CID2},00/00/2495,11/2569,700.00,5 พ.ย. 2569,cash,paid"
TAX_HEADER = "receipt_no,receipt_date,account_code,revenue_type,parcel_id,taxpayer_id,amount,fiscal_year,status"
TID = make_thai_id("010555012345")
# Thai digits and enums: in UTF-16 these have no NUL byte at all
THAI_ROWS = f"{CID},๑๒/๐๓/๒๔๙๐,๑๑/๒๕๖๙,๘๐๐,๐๕/๑๑/๒๕๖๙,เงินสด,จ่ายแล้ว\n" * 20


def ctx() -> Context:
    rules = Rules.load(project_root() / "config" / "contract.yml")
    accounts = frozenset({"41100003", "41100005", "41210008"})
    return Context(NIGHT, b"c" * 32, b"t" * 32, account_codes=accounts, rules=rules)


def read(
    data: bytes | str, source: str = "allowance", bulk: bool = True, context: Context | None = None
):
    if isinstance(data, str):
        data = data.encode()
    reader = ExtractReader(io.BytesIO(data), SOURCES[source], context or ctx(), bulk=bulk)
    accepted, rejected = [], []
    for item in reader:
        if isinstance(item, Accepted):
            accepted += list(item.rows(SOURCES[source]))
        else:
            rejected += item
    v = reader.verdict
    assert v.rows_in == v.rows_accepted + v.rows_rejected == len(accepted) + len(rejected)
    return accepted, rejected, v


def lines_of(rejected):
    return {r.line_no: r.code for r in rejected}


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_endings(eol):
    bad = f"{CID2},12/03/2490,11/2569,8o0,05/11/2569,cash,paid"
    acc, rej, v = read(eol.join([HEADER, GOOD, bad, GOOD2]) + eol)
    assert [a[0] for a in acc] == [2, 4] and lines_of(rej) == {3: "bad_amount"}


def test_mixed_line_endings_keep_physical_line_numbers():
    bad = f"{CID2},12/03/2490,11/2569,-1,05/11/2569,cash,paid"
    text = HEADER + "\r\n" + GOOD + "\r" + "\r\n" + bad + "\n" + GOOD2 + "\r\n"
    # lines: 2 GOOD (ends CR), 3 empty (CRLF), 4 bad (LF), 5 GOOD2 (CRLF)
    acc, rej, _ = read(text)
    assert [a[0] for a in acc] == [2, 5] and lines_of(rej) == {4: "non_positive_amount"}


def test_quoted_fields_with_commas_quotes_and_line_breaks():
    rows = [
        f'R1,01/11/2569,41100003,"ภาษีป้าย, ""ป้ายใหญ่""\nบรรทัดสอง","12,3",{TID},"1,500.00",2570,paid',
        f"R2,01/11/2569,41100003,ภาษีป้าย,,{TID},x,2570,paid",
    ]
    acc, rej, _ = read("\n".join([TAX_HEADER, *rows]) + "\n", "tax")
    assert len(acc) == 1 and acc[0][0] == 2
    assert acc[0][4] == 'ภาษีป้าย, "ป้ายใหญ่"\nบรรทัดสอง' and acc[0][5] == "12,3"
    assert lines_of(rej) == {4: "bad_amount"}  # line 3 is the second line of record 2


def test_an_unbalanced_quote_damages_its_own_row_only():
    broken = f'{CID2},12/03/2490,11/2569,"700,05/11/2569,cash,paid'
    acc, rej, _ = read("\n".join([HEADER, GOOD, broken, GOOD2, GOOD.replace("800", "600")]) + "\n")
    assert [a[0] for a in acc] == [2, 4, 5]
    assert lines_of(rej) == {3: "unbalanced_quote"}


def test_a_quote_closed_lines_later_into_a_wrong_shape_is_not_a_record():
    # the quote on line 3 closes on line 5: the joined record has the wrong shape
    lines = [
        HEADER,
        GOOD,
        f'{CID2},12/03/2490,11/2569,"700,x',
        GOOD2,
        'a",b',
        GOOD.replace("800", "600"),
    ]
    acc, rej, _ = read("\n".join(lines) + "\n")
    assert [a[0] for a in acc] == [2, 4, 6]
    assert lines_of(rej) == {3: "unbalanced_quote", 5: "wrong_column_count"}


def test_a_header_repeated_inside_the_file_with_a_second_bom_is_skipped():
    text = "\ufeff" + HEADER + "\n" + GOOD + "\n" + "\ufeff" + HEADER + "\n" + GOOD2 + "\n"
    acc, rej, v = read(text)
    assert [a[0] for a in acc] == [2, 4] and not rej and v.rows_in == 2


def test_a_pasted_export_with_a_second_bom_and_quoted_names_is_skipped():
    quoted = ",".join(f'"{name}"' for name in HEADER.split(","))
    data = (HEADER + "\r\n" + GOOD + "\r\n").encode() + codecs.BOM_UTF8
    data += (quoted + "\r\n" + GOOD2 + "\r\n").encode()
    for bulk in (True, False):
        acc, rej, v = read(data, bulk=bulk)
        assert [a[0] for a in acc] == [2, 4] and not rej and v.rows_in == 2


def test_a_repeated_header_in_another_order_switches_the_layout():
    other = "status,channel,paid_on,amount,payment_period,birth_date,citizen_id"
    row = f"paid,cash,05/11/2569,700,11/2569,00/00/2495,{CID2}"
    acc, rej, _ = read("\n".join([HEADER, GOOD, other, row]) + "\n")
    assert not rej and [a[0] for a in acc] == [2, 4] and acc[1][1] == CID2


def test_headers_remembered_across_a_loads_files_read_as_if_each_were_first():
    """A load remembers the layout each header read to (``Context.layouts``): files read
    one after another with one context give what each gives with a context of its own,
    whatever headers came before, and the memory stays bounded."""
    from dla_pipeline.extract import LAYOUTS_KEPT

    other = "status,channel,paid_on,amount,payment_period,birth_date,citizen_id"
    row = f"paid,cash,05/11/2569,700,11/2569,00/00/2495,{CID2}"
    headers = [
        HEADER,
        HEADER + ",remark",
        HEADER + ",Remarks,note,note",
        other,
        HEADER.replace("amount,", ""),  # a required column missing
        HEADER + ",amount",  # named twice
        "ชื่อ,นามสกุล",  # names no column
        HEADER.upper(),
    ]
    files = [
        "\n".join([h, GOOD + ",x,y,z" * ("remark" in h.lower()), other, row, GOOD2]).encode()
        for h in headers
    ]
    files += [files[3], files[1], files[0]]  # the same headers again, after others
    shared = ctx()
    assert [read(f, context=shared) for f in files] == [read(f) for f in files]
    assert 0 < len(shared.layouts) <= len(headers) + 1
    for i in range(LAYOUTS_KEPT + 20):  # distinct headers: the memory is bounded
        read(f"{HEADER},extra_{i}\n{GOOD},1\n", context=shared)
    assert len(shared.layouts) <= LAYOUTS_KEPT
    kept = len(shared.layouts)  # a header padded with empty cells is read, not kept
    padded = [read(f"{HEADER}{',' * (99 + i)}\n{GOOD}\n", context=shared) for i in range(3)]
    assert len(shared.layouts) == kept and padded[0][2].rows_accepted == 1


def test_trailing_empty_columns_and_rows_of_commas_carry_nothing():
    text = HEADER + ",,\n" + GOOD + ",,\n" + ",,,,,,,,\n" + " , ,\n" + GOOD2 + "\n"
    acc, rej, v = read(text)
    assert [a[0] for a in acc] == [2, 5] and not rej and v.rows_in == 2


def test_a_required_column_named_twice_rejects_the_file():
    acc, rej, v = read(HEADER + ",amount\n" + GOOD + ",900\n")
    assert not acc and v.status == "rejected" and v.code == "ambiguous_header"
    assert "amount" in v.detail and lines_of(rej) == {2: "ambiguous_header"}


def test_two_unknown_columns_with_the_same_name_are_both_kept():
    acc, rej, v = read(HEADER + ",remark,remark\n" + GOOD + ",first,second\n")
    assert not rej and acc[0][-1] == '{"remark": "first", "remark (2)": "second"}'
    assert v.extra_columns == ["remark", "remark (2)"]


def test_extra_columns_off_the_allow_list_are_named_but_not_kept():
    acc, _, v = read(HEADER + ",ชื่อ-สกุล,remark\n" + GOOD + ",นายสมชาย ใจดี,โทรแล้ว\n")
    assert acc[0][-1] == '{"remark": "โทรแล้ว"}' and "สมชาย" not in str(acc)
    assert v.extra_columns == ["ชื่อ-สกุล", "remark"] and v.extra_columns_dropped == ["ชื่อ-สกุล"]


def test_invisible_characters_around_header_names():
    around = [("\u200b", "\u00a0"), ("\ufeff ", "\u2060"), ("\u3000", "\u00ad"), ("\u2009", "")]
    header = ",".join(
        f"{around[i % 4][0]}{c}{around[i % 4][1]}" for i, c in enumerate(HEADER.split(","))
    )
    acc, rej, _ = read(header + "\n" + GOOD + "\n")
    assert len(acc) == 1 and not rej


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + (HEADER + "\n" + GOOD + "\n").encode("utf-16-le"),
        codecs.BOM_UTF16_BE + (HEADER + "\n" + GOOD + "\n").encode("utf-16-be"),
        (HEADER + "\n" + GOOD + "\n").encode("utf-16-le"),
        (HEADER + "\n" + GOOD + "\n").encode("utf-32"),
        (HEADER + "\n" + GOOD + "\n").encode("utf-32-le"),
        (HEADER + "\n" + THAI_ROWS).encode("utf-16-le"),
        (HEADER + "\n" + THAI_ROWS).encode("utf-16-be"),
        (HEADER + "\n" + THAI_ROWS).encode("utf-32-be"),
    ],
    ids=[
        "utf16le-bom",
        "utf16be-bom",
        "utf16le-no-bom",
        "utf32",
        "utf32le-no-bom",
        "utf16le-no-bom-thai",
        "utf16be-no-bom-thai",
        "utf32be-no-bom-thai",
    ],
)
def test_utf16_and_other_encodings_are_rejected_naming_the_encoding(data):
    acc, rej, v = read(data)
    assert not acc and v.status == "rejected" and v.code == "bad_encoding"
    assert "encoding" in v.detail and "UTF-" in v.detail and len(rej) == 1


@pytest.mark.parametrize("where", ["first_row", "middle_row", "last_row", "last_row_no_eol"])
def test_a_stray_nul_byte_damages_its_row_wherever_it_sits(where):
    rows = [GOOD, GOOD2, GOOD.replace("800", "600")]
    i = {"first_row": 0, "middle_row": 1, "last_row": 2, "last_row_no_eol": 2}[where]
    rows[i] = rows[i][:20] + "\x00" + rows[i][20:]
    text = HEADER + "\n" + "\n".join(rows) + ("" if where.endswith("no_eol") else "\n")
    acc, rej, _ = read(text)
    assert lines_of(rej) == {i + 2: "nul_byte"} and len(acc) == 2


def test_a_nul_deep_in_a_big_file_is_a_row_too():
    rows = [GOOD.replace(CID, make_thai_id(f"3{n:011d}")) for n in range(5000)]
    rows[4000] = rows[4000] + "\x00"
    acc, rej, _ = read(HEADER + "\n" + "\n".join(rows) + "\n")
    assert lines_of(rej) == {4002: "nul_byte"} and len(acc) == 4999


def test_an_undecodable_line_is_a_row():
    data = (
        (HEADER + "\n" + GOOD + "\n").encode() + b"\xff\xfe\xfa,broken\n" + (GOOD2 + "\n").encode()
    )
    acc, rej, _ = read(data)
    assert (
        len(acc) == 2
        and lines_of(rej) == {3: "bad_encoding_row"}
        and "\\xff" in str(rej[0].raw.encode("utf-8", "surrogateescape"))
    )


def test_a_line_longer_than_the_limit_is_skipped_without_holding_it():
    acc, rej, _ = read(HEADER + "\n" + GOOD + "\n" + "x" * 300_000 + "\n" + GOOD2 + "\n")
    assert len(acc) == 2 and lines_of(rej) == {3: "line_too_long"} and len(rej[0].raw) <= 200


def test_duplicates_are_judged_after_normalisation():
    dashed = f"{CID[0]}-{CID[1:5]}-{CID[5:10]}-{CID[10:12]}-{CID[12]}"
    same = f"{dashed},๑๒/๐๓/๒๔๙๐,๑๑/๒๕๖๙,800.00,2026-11-05,โอนเข้าบัญชี,จ่ายแล้ว"
    acc, rej, _ = read("\n".join([HEADER, GOOD, same]) + "\n")
    assert len(acc) == 1 and rej[0].code == "duplicate_row" and rej[0].field is None
    assert rej[0].detail == "duplicate row (same as line 2)"


def test_business_keys_are_read_the_same_way():
    rows = [
        f"R1,01/11/2569,41100003,,,{TID},200,2570,paid",
        f"R1,2026-11-02,41100003,,,{TID},300,๒๕๗๐,ชำระแล้ว",  # same receipt, FY and status
        f"R1,02/11/2569,41100003,,,{TID},200,2570,cancelled",  # a cancellation: kept
    ]
    acc, rej, _ = read("\n".join([TAX_HEADER, *rows]) + "\n", "tax")
    assert [a[0] for a in acc] == [2, 4] and lines_of(rej) == {3: "duplicate_key"}
    assert rej[0].field == "receipt_no"
    assert rej[0].detail == "duplicate receipt_no, fiscal year and status (same as line 2)"


@pytest.mark.parametrize(
    ("cell", "field", "code"),
    [
        ("1000000000000000", "amount", "amount_too_large"),
        (CID, "amount", "amount_too_large"),  # a 13-digit ID pasted into the amount
        ("999999999999.99", None, None),
    ],
)
def test_amounts_that_cannot_be_stored_are_bad_rows(cell, field, code):
    row = f"{CID2},12/03/2490,11/2569,{cell},05/11/2569,cash,paid"
    acc, rej, _ = read(HEADER + "\n" + row + "\n")
    if code:
        assert not acc and (rej[0].field, rej[0].code) == (field, code)
    else:
        assert len(acc) == 1


def test_implausible_ages_dates_and_counts_are_bad_rows():
    rows = [
        f"{CID2},12/03/2401,11/2569,800,05/11/2569,cash,paid",  # born 1858: age > 120
        f"{CID2},12/03/2490,11/2560,800,05/11/2569,cash,paid",  # period 9 years back
        f"{CID2},12/03/2490,11/2569,800,05/11/2560,cash,paid",  # paid 9 years back
        f"{CID2},12/03/2490,11/2612,800,05/11/2569,cash,paid",  # BE converted twice
    ]
    _, rej, _ = read("\n".join([HEADER, *rows]) + "\n")
    assert [r.code for r in rej] == ["implausible_age", "too_old", "too_old", "period_too_far"]
    vh = "village_no,species,surveyed,owned,ownerless,vaccinated,vaccination_date,fiscal_year"
    vrows = ["1,dog,20000000,,,5,01/11/2569,2570", "2,dog,10,,,5,01/11/2569,2612"]
    _, rej, _ = read("\n".join([vh, *vrows]) + "\n", "vaccination")
    assert [r.code for r in rej] == ["number_too_large", "fiscal_year_out_of_range"]


@settings(max_examples=500)
@given(
    st.dates(min_value=date(1800, 1, 1), max_value=date(2100, 12, 31)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    st.integers(0, 130),
)
def test_the_age_cutoff_clears_exactly_the_rows_the_age_rule_passes(born, period, max_age):
    """The allowance reader compares each birth date with its period's cutoff and applies
    the age rule (the age on the period's first day) only below it: the two agree."""
    from dla_pipeline.contract import oldest_plausible_birth

    period = period.replace(day=1)
    age = period.year - born.year - ((period.month, 1) < (born.month, born.day))
    assert (born < oldest_plausible_birth(period, max_age)) == (age > max_age)


def test_text_longer_than_the_bound_is_a_bad_row():
    row = f"{'R' * 3000},01/11/2569,41100003,,,{TID},200,2570,paid"
    _, rej, _ = read(TAX_HEADER + "\n" + row + "\n", "tax")
    assert rej[0].code == "text_too_long" and rej[0].field == "receipt_no"


# -- properties ---------------------------------------------------------------------------

cell = st.lists(st.sampled_from(list('abcก๑,"\n\r ;') + ["ภาษี", "1,234.50", '""']), max_size=6).map(
    "".join
)
record = st.lists(cell, min_size=3, max_size=3)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=8), st.sampled_from(["\r\n", "\n", "\r"]))
def test_records_written_by_csv_come_back_with_their_physical_lines(rows, eol):
    rows = [r for r in rows if any(c.strip(" ,\r\n") for c in r)]  # all-empty rows carry nothing
    buf = io.StringIO(newline="")
    # minimal quoting only quotes the characters of its own line terminator
    quoting = csv.QUOTE_MINIMAL if eol == "\r\n" else csv.QUOTE_ALL
    writer = csv.writer(buf, lineterminator=eol, quoting=quoting)
    writer.writerow(["a", "b", "c"])
    starts = []
    for r in rows:
        starts.append(
            buf.getvalue().count("\n")
            + buf.getvalue().count("\r")
            - buf.getvalue().count("\r\n")
            + 1
        )
        writer.writerow(r)
    records = Records(
        Lines(io.TextIOWrapper(io.BytesIO(buf.getvalue().encode()), "utf-8", newline=""))
    )
    records.width = 3
    got = [(rec.line_no, rec.cells) for rec in records][1:]
    want = [
        (s, [c.replace("\r\n", "\n").replace("\r", "\n") for c in r])
        for s, r in zip(starts, rows, strict=True)
    ]
    assert got == want


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_no_bytes_make_the_reader_raise_or_lose_a_row(data):
    for source in SOURCES:
        read(data, source)  # read() asserts rows_in = accepted + rejected


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from([HEADER, GOOD, GOOD2, "", ",,,", '"', "\ufeff" + HEADER, "x\x00y", "1,2"]),
        max_size=12,
    )
)
def test_any_mix_of_lines_keeps_conservation(lines):
    read("\n".join(lines))


def read_both_ways(data: bytes, source: str, chunk_rows: int):
    """(accepted, rejections, verdict) with runs of plain lines read at once, and line by line."""
    out = []
    for bulk in (True, False):
        reader = ExtractReader(io.BytesIO(data), SOURCES[source], ctx(), None, chunk_rows, bulk)
        accepted, rejected = [], []
        for item in reader:
            if isinstance(item, Accepted):
                accepted += list(item.rows(SOURCES[source]))
            else:
                rejected += [(r.line_no, r.field, r.code, r.detail, r.raw) for r in item]
        out.append((sorted(accepted), sorted(rejected, key=repr), reader.verdict))
    return out


LINE_KINDS = [
    GOOD,
    GOOD2,
    f'{CID},12/03/2490,11/2569,"1,800.00",05/11/2569,bank_transfer,paid',  # quoted amount
    f'"{CID}","12/03/2490","11/2569","800","05/11/2569","cash","paid"',
    f"{CID},12/03/2490,11/2569,900,05/11/2569,bank_transfer,paid,,",  # trailing empty cells
    f"{CID},12/03/2490,11/2569,800",  # too few cells
    f'{CID2},01/01/2490,11/2569,"7""00",05/11/2569,cash,paid',  # a doubled quote: bad amount
    f'{CID2},01/01/2490,11/2569,"800,05/11/2569,cash,paid',  # a quote never closed
    '"a\nb",c',  # a record over two lines
    f"{CID},๑๒/๐๓/๒๔๙๐,๑๑/๒๕๖๙,๘๐๐,05/11/2569,เงินสด,จ่ายแล้ว",
    f"{CID},12/03/2490,11/2569,800,05/11/2569,status,paid",  # a column name as a value
    HEADER,  # a repeated header
    "\ufeff" + ",".join(f'"{name}"' for name in HEADER.split(",")),  # pasted, quoted, BOM
    "x" + "\x00" * 40,  # a row padded with NULs
    "status,amount,citizen_id,birth_date,payment_period,paid_on,channel",
    "",
    ",,,",
    "x\x00y",
    "1,2",
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(LINE_KINDS), max_size=30),
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3),
    st.sampled_from([1, 3, 2048]),
    st.sampled_from(["utf-8", "cp874"]),
)
def test_runs_of_plain_lines_read_at_once_equal_the_line_by_line_reader(
    lines, eols, chunk_rows, encoding
):
    """The bulk path (Lines.plain, Records._plain, the header pre-scan) changes nothing."""
    text = HEADER + eols[0] + "".join(line + eols[i % len(eols)] for i, line in enumerate(lines))
    data = text.encode(encoding, errors="replace")
    fast, reference = read_both_ways(data, "allowance", chunk_rows)
    assert fast == reference


def _lines_both_ways(data: bytes):
    """A file's encoding and physical lines when it comes whole in memory (``io.BytesIO``,
    decoded at once) and when it is streamed (any other binary stream)."""
    from dla_pipeline.csvread import open_lines
    from dla_pipeline.encoding import Unreadable

    out = []
    for stream in (io.BytesIO(data), io.BufferedReader(io.BytesIO(data), buffer_size=4096)):
        try:
            encoding, lines = open_lines(stream)
            out.append((encoding, [(ln.no, ln.text, ln.too_long) for ln in lines]))
        except Unreadable as exc:
            out.append(("refused", exc.code, exc.detail))
    return out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(st.sampled_from(LINE_KINDS), max_size=12).map(lambda ls: "\r\n".join(ls)),
    ),
    st.sampled_from(["utf-8", "utf-8-sig", "cp874"]),
    st.sampled_from([0, 1, SNIFF_BYTES - 1, SNIFF_BYTES, SNIFF_BYTES + 1]),
)
def test_a_file_decoded_at_once_has_the_lines_of_the_streamed_file(body, encoding, size):
    """A small file (the head holds it whole) is decoded in one piece; a bigger one streams
    through the incremental decoder: the same encoding, line numbers, texts (escaped bytes
    included), wherever a line end, a multi-byte character or a bad byte falls, and on
    both sides of the head's size."""
    data = body.encode(encoding, errors="replace") if isinstance(body, str) else body
    filler = (HEADER + "\r\n" + "x," * SNIFF_BYTES).encode()
    padded = filler[: max(0, size - len(data))] + data
    for case in (data, padded, HEADER.encode() + b"\r\n" + data, data + b"\xe0\xb8"):
        whole, streamed = _lines_both_ways(case)
        assert whole == streamed


def test_only_a_file_the_head_holds_whole_is_decoded_at_once():
    """Thai text, damaged bytes, every line end and a cut character just under the head's
    size: the same lines decoded at once; a file past the head streams (its text is
    never held whole)."""
    from dla_pipeline.csvread import open_lines

    thai = "\u0e01\u0e32\u0e23" * 2000  # three bytes each in UTF-8
    body = "\r\n".join([HEADER, GOOD, thai, GOOD2 + "\r", "\x00" + GOOD, thai]).encode()
    body += b"\xff\r\n" + (GOOD + "\r").encode() * 300 + b"\n"
    data = body + b"x" * (SNIFF_BYTES - 3 - len(body)) + b"\n\xe0"
    assert len(data) == SNIFF_BYTES - 1
    whole, streamed = _lines_both_ways(data)
    assert whole == streamed and len(whole[1]) > 300
    assert isinstance(open_lines(io.BytesIO(data))[1]._text, io.StringIO)
    assert isinstance(open_lines(io.BytesIO(data + b"\n"))[1]._text, io.TextIOWrapper)


def _varied_rows(rng, n: int) -> list[str]:
    """Plain allowance rows that differ in every column (distinct people, dates, amounts)."""
    rows = []
    for _ in range(n):
        cid = make_thai_id(f"3{rng.randrange(10**11):011d}")
        birth = f"{rng.randint(0, 28):02d}/{rng.randint(0, 12):02d}/{rng.randint(2470, 2510)}"
        amount = rng.choice(["600", "700.00", "800", "1000"] * 4 + ["1,000", "-5", "abc", ""])
        paid = rng.choice(["05/11/2569", "5 พ.ย. 2569"] * 4 + ["31/02/2569", ""])
        channel = rng.choice(["cash", "bank_transfer", "proxy", "เงินสด"] * 4 + ["fax"])
        status = rng.choice(["paid", "failed", "arrears", "จ่ายแล้ว"] * 4 + ["?"])
        extra = rng.choice(["", "", "", " note"])
        rows.append(f"{cid},{birth},11/2569,{amount},{paid},{channel},{status}{extra}")
        if rng.random() < 0.02:
            rows.append(rows[-1])  # a duplicate row
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_runs_read_as_columns_equal_the_line_by_line_reader(seed):
    """A run of plain lines of the header's width is split as one string into columns
    (csvread.Run): every cell, line number, raw line, rejection and duplicate is what the
    line-by-line reader gives, with odd lines (quoted, short, long, blank, only commas, a
    repeated header, NULs) dropped in anywhere and kept-extra columns in the header."""
    import random

    rng = random.Random(seed)
    odd = [line for line in LINE_KINDS if line not in (GOOD, GOOD2)]
    header = HEADER + (",remark" if seed % 2 else "")
    rows = _varied_rows(rng, 3000)
    if seed % 2:
        rows = [row + ("," if row.count(",") == 6 else "") for row in rows]
    lines = []
    for row in rows:
        lines.append(row)
        if rng.random() < 0.01 * seed:
            lines.append(rng.choice(odd))
    eol = ["\n", "\r\n", "\r"][seed % 3]
    data = (header + eol + eol.join(lines) + eol).encode()
    for chunk_rows in (7, 2048):
        fast, reference = read_both_ways(data, "allowance", chunk_rows)
        assert fast == reference
        assert len(fast[0]) > 200 and len(fast[1]) > 200  # both accepted and rejected rows
    # and the columns path is the one taken for the plain lines
    plain = eol.join(rows)
    text = io.TextIOWrapper(io.BytesIO((header + eol + plain).encode()), "utf-8", newline="")
    records = Records(Lines(text))
    records.width = header.count(",") + 1
    records.bulk = True
    items = list(records)
    assert sum(len(item) for item in items if isinstance(item, Run)) > len(rows) * 0.8


def test_reason_codes_raised_in_the_code_are_in_the_catalogue():
    """Every CellError/Unreadable code has a row (Thai wording, what to do) in the seed."""
    import re

    from dla_pipeline import reasons

    used = set()
    for path in Path(project_root(), "src", "dla_pipeline").glob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r'(?:CellError|Unreadable)\(\s*"([a-z_]+)"', text))
        used |= set(re.findall(r'return\s*\(?\s*"([a-z_]+)",\s*f?"', text))
    assert len(used) > 30
    missing = sorted(u for u in used if not reasons.known(u))
    assert not missing, f"reason codes without a row in reason_codes.csv: {missing}"
    for code, row in reasons.catalogue().items():
        assert row["reason_th"] and row["what_to_do_th"] and row["scope"] in ("file", "row"), code


# -- cases an attack on the loader found (each failed before its fix) ----------------------


def test_cells_that_broke_a_parser_are_bad_rows_not_a_lost_file():
    vh = "village_no,species,surveyed,owned,ownerless,vaccinated,vaccination_date,fiscal_year"
    acc, rej, v = read(
        vh + "\n1,dog,--5,,,1,01/11/2569,2570\n2,dog,10,,,5,01/11/2569,2570\n", "vaccination"
    )
    assert v.status == "loaded" and len(acc) == 1 and rej[0].code == "bad_number"
    row = f"{CID2},12/03/2490,11/2569,{'9' * 27}.5,05/11/2569,cash,paid"
    acc, rej, _ = read(HEADER + "\n" + row + "\n" + GOOD + "\n")
    assert len(acc) == 1 and rej[0].code == "amount_too_large"


def test_an_amount_that_rounds_to_zero_is_not_positive():
    acc, rej, _ = read(HEADER + "\n" + GOOD.replace(",800,", ",0.004,") + "\n")
    assert not acc and rej[0].code == "non_positive_amount"


def test_a_file_whose_first_header_is_unusable_loads_nothing_after_a_later_header():
    text = "citizen_id,birth_date,amount\n1,2,3\n" + HEADER + "\n" + GOOD + "\n"
    acc, rej, v = read(text)
    assert not acc and v.status == "rejected" and v.code == "missing_column"


def test_a_few_nul_bytes_in_the_head_damage_rows_not_the_file():
    rows = [GOOD.replace(CID, make_thai_id(f"3{i:011d}")) for i in range(60)]
    for i in range(0, 60, 5):
        rows[i] += "\x00"
    acc, rej, v = read(HEADER + "\n" + "\n".join(rows) + "\n")
    assert v.status == "loaded" and len(rej) == 12 and {r.code for r in rej} == {"nul_byte"}


def test_windows_874_after_a_long_ascii_head_is_read_as_windows_874():
    ascii_rows = [GOOD.replace(CID, make_thai_id(f"3{i:011d}")) for i in range(2000)]
    thai = f"{CID2},12/03/2490,11/2569,800,05/11/2569,เงินสด,จ่ายแล้ว"
    data = (HEADER + "\n" + "\n".join(ascii_rows) + "\n" + thai + "\n").encode("cp874")
    acc, rej, v = read(data)
    assert v.encoding == "cp874" and not rej and len(acc) == 2001


def test_a_quoted_field_over_the_line_limit_is_one_damaged_row():
    long_field = '"' + "x" * 40_000 + "\n" + "y" * 40_000 + '"'
    text = (
        HEADER
        + ",remark\n"
        + GOOD
        + ",a\n"
        + GOOD2
        + ","
        + long_field
        + "\n"
        + GOOD.replace("800", "600")
        + ",b\n"
    )
    acc, rej, v = read(text)
    assert (
        [a[0] for a in acc] == [2, 5] and lines_of(rej) == {3: "line_too_long"} and v.rows_in == 3
    )


def test_kept_extra_cells_obey_the_text_bound():
    acc, rej, _ = read(HEADER + ",remark\n" + GOOD + "," + "r" * 300 + "\n")
    assert not acc and (rej[0].field, rej[0].code) == ("remark", "text_too_long")


def test_a_crlf_split_by_the_line_limit_keeps_line_numbers():
    from dla_pipeline.csvread import MAX_LINE_CHARS

    text = (
        HEADER
        + "\r\n"
        + "x" * (MAX_LINE_CHARS - 1)
        + "\r\n"
        + GOOD
        + "\r\n"
        + GOOD2.replace("700.00", "-1")
        + "\r\n"
    )
    acc, rej, _ = read(text)
    # the CR of line 2 ends the limit's read; its LF must not count as line 3
    assert [a[0] for a in acc] == [3] and lines_of(rej) == {
        2: "wrong_column_count",
        4: "non_positive_amount",
    }


def test_unicode_dashes_full_width_digits_and_a_decomposed_sara_am():
    dashed = f"{CID[0]}–{CID[1:5]}–{CID[5:10]}–{CID[10:12]}–{CID[12]}"
    row = f"{dashed},12/03/2490,１１/2569,800,05/11/2569,โอนเข้าบัญชี,จ\u0e48ายแล\u0e49ว"
    acc, rej, _ = read(HEADER + "\n" + row + "\n")
    assert len(acc) == 1 and acc[0][1] == CID, rej
    header = HEADER.replace("amount", "จ\u0e4d\u0e32นวนเงิน").replace(
        "citizen_id", "เลขประจ\u0e4d\u0e32ตัวประชาชน"
    )
    acc, rej, _ = read(header + "\n" + GOOD + "\n")
    assert len(acc) == 1, rej


# -- a second attack on the loader (each failed before its fix) ----------------------------


def test_a_file_with_lone_cr_line_ends_is_read_in_runs_with_a_bounded_buffer():
    rows = [GOOD.replace(CID, make_thai_id(f"3{i:011d}")) for i in range(20_000)]
    text = HEADER + "\r" + "\r".join(rows) + "\r"
    lines = Lines(io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline=""))
    records, runs, biggest = Records(lines), 0, 0
    records.bulk = True
    for item in records:
        runs += isinstance(item, list)
        biggest = max(biggest, len(lines._buf))
    assert runs > 0 and lines.no == 20_001
    assert biggest < 4 * READ_CHARS  # not the whole file (1.2 MB) held and copied per run
    fast, reference = read_both_ways(text.encode(), "allowance", 2048)
    assert fast == reference and len(fast[0]) == 20_000


@pytest.mark.parametrize(
    "damage",
    [b"x" + b"\x00" * 400, b"\xff" * 9, b"\xfc\xfd" * 40],
    ids=["nul_padded", "nine_bad_bytes", "eighty_bad_bytes"],
)
def test_one_damaged_line_early_in_a_small_file_is_a_row_not_the_file(damage):
    data = (HEADER + "\n" + GOOD + "\n").encode() + damage + b"\n" + (GOOD2 + "\n").encode()
    for bulk in (True, False):
        acc, rej, v = read(data, bulk=bulk)
        assert v.status == "loaded" and [a[0] for a in acc] == [2, 4]
        assert lines_of(rej) == {3: "nul_byte" if b"\x00" in damage else "bad_encoding_row"}


def test_a_file_in_another_encoding_is_still_refused_naming_it():
    encoding, named = "shift_jis", "Shift-JIS"
    names = ["山田太郎", "鈴木花子", "佐藤次郎", "田中一郎"]
    rows = [f"{GOOD.replace(CID, make_thai_id(f'3{i:011d}'))},{n}" for i, n in enumerate(names * 9)]
    data = (HEADER + ",remark\n" + "\n".join(rows) + "\n").encode(encoding)
    acc, rej, v = read(data)
    assert not acc and v.status == "rejected" and v.code == "bad_encoding"
    assert named in v.detail and "UTF-8" in v.detail and "Windows-874" in v.detail
    assert read(b"\xde\xad\xbe\xef" * 300)[2].status == "rejected"


def test_windows_874_thai_of_every_shape_is_read_as_windows_874():
    names = ["นายสมชาย ใจดี", "นางสาวมาลี ศรีสุข", "เด็กชายก้อง", "เเม่ค้า ไก่ย่าง", "น้ำใจ กำนัน"]
    names = [*names, "ฯพณฯ ๆ ๑๒๓ ฿"] * 5
    rows = [f"{GOOD.replace(CID, make_thai_id(f'3{i:011d}'))},{n}" for i, n in enumerate(names)]
    data = (HEADER + ",remark\n" + "\n".join(rows) + "\n").encode("cp874")
    acc, rej, v = read(data)
    assert v.status == "loaded" and v.encoding == "cp874" and len(acc) == 30 and not rej


def test_a_stray_byte_in_a_long_ascii_head_does_not_change_a_utf8_files_encoding():
    ascii_rows = [GOOD.replace(CID, make_thai_id(f"3{i:011d}")) for i in range(1200)]
    thai = [
        GOOD2.replace(CID2, make_thai_id(f"4{i:011d}")).replace("cash,paid", "เงินสด,จ่ายแล้ว")
        for i in range(3)
    ]
    data = (HEADER + "\n").encode() + b"damaged \xa1 line\n"
    data += ("\n".join(ascii_rows + thai) + "\n").encode()
    assert len(data) > SNIFF_BYTES + 1000
    for bulk in (True, False):
        acc, rej, v = read(data, bulk=bulk)
        assert v.encoding == "utf-8" and len(acc) == 1203
        assert lines_of(rej) == {2: "bad_encoding_row"}


# -- found by a review of the line-based sniff (each failed on its first version) ----------


def _rows(n: int, start: int, tail: str) -> list[str]:
    return [
        GOOD.replace(CID, make_thai_id(f"3{i:011d}")).replace("bank_transfer,paid", tail)
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("encoding", ["cp874", "utf-8"])
def test_thai_rows_after_many_ascii_rows_still_decide_the_encoding(encoding):
    ascii_rows, thai_rows = _rows(70, 0, "cash,paid"), _rows(60, 100, "เงินสด,จ่ายแล้ว")
    data = (HEADER + "\n").encode() + b"stray \xa1 line\n"  # a Thai letter, or not UTF-8
    data += ("\n".join(ascii_rows + thai_rows) + "\n").encode(encoding)
    stray = "wrong_column_count" if encoding == "cp874" else "bad_encoding_row"
    for bulk in (True, False):
        acc, rej, v = read(data, bulk=bulk)
        assert v.encoding == encoding and len(acc) == 130 and lines_of(rej) == {2: stray}


def test_another_encoding_after_many_ascii_rows_is_still_refused():
    names = ["山田太郎", "鈴木花子", "佐藤次郎", "田中一郎"] * 20
    rows = [f"{r},{n}" for r, n in zip(_rows(80, 200, "cash,paid"), names, strict=True)]
    lines = [HEADER + ",remark", *[f"{r}," for r in _rows(70, 0, "cash,paid")], *rows]
    acc, rej, v = read(("\n".join(lines) + "\n").encode("shift_jis"))
    assert v.status == "rejected" and v.code == "bad_encoding" and "Shift-JIS" in v.detail


@pytest.mark.parametrize("where", ["last_line", "middle_line"])
def test_a_line_of_a_thousand_nuls_is_a_damaged_row_not_utf16(where):
    pad = b"\x00" * 1000
    good = [(GOOD + "\r\n").encode(), (GOOD2 + "\r\n").encode()]
    body = good[0] + good[1] + pad if where == "last_line" else good[0] + pad + b"\r\n" + good[1]
    acc, rej, v = read((HEADER + "\r\n").encode() + body)
    assert v.status == "loaded" and len(acc) == 2
    assert lines_of(rej) == {4 if where == "last_line" else 3: "nul_byte"}


# -- found by a second review of the sniff (each failed before its fix) ---------------------


@pytest.mark.parametrize("where", ["late", "early"])
def test_two_damaged_rows_never_refuse_a_big_file(where):
    rows = _rows(3000, 0, "cash,paid")
    for i in (2000, 2900) if where == "late" else (0, 1):
        rows[i] = rows[i].replace("cash", "Caf\udce9")  # a Windows-1252 byte
    data = ("\r\n".join([HEADER, *rows]) + "\r\n").encode("utf-8", "surrogateescape")
    acc, rej, v = read(data)
    assert v.status == "loaded" and v.encoding == "utf-8" and len(acc) == 2998
    damaged = (2002, 2902) if where == "late" else (2, 3)
    assert lines_of(rej) == dict.fromkeys(damaged, "bad_encoding_row")


def test_rows_padded_with_nuls_that_fill_the_first_4kb_are_damaged_rows():
    rows = [r.encode() for r in _rows(500, 0, "cash,paid")]
    rows[0] = rows[1] = b"x" + b"\x00" * 2100
    acc, rej, v = read(b"\n".join([HEADER.encode(), *rows]) + b"\n")
    assert (
        v.status == "loaded" and len(acc) == 498 and lines_of(rej) == {2: "nul_byte", 3: "nul_byte"}
    )


def test_a_thai_header_settles_the_encoding_against_a_few_rows_in_the_other():
    from dla_pipeline.contract import ALLOWANCE

    thai_header = ",".join(
        next(k for k, v in ALLOWANCE.header_map.items() if v == c and not k.isascii())
        for c in HEADER.split(",")
    )
    rows = [r.encode() for r in _rows(50, 0, "cash,paid")]
    for i in (10, 30):
        rows[i] = rows[i].replace(b"cash,paid", "เงินสด,จ่ายแล้ว".encode("cp874"))
    acc, rej, v = read(b"\n".join([thai_header.encode(), *rows]) + b"\n")
    assert v.encoding == "utf-8" and len(acc) == 48
    assert lines_of(rej) == {12: "bad_encoding_row", 32: "bad_encoding_row"}


def test_windows_874_typed_with_a_tone_mark_after_sara_am_is_thai():
    rows = _rows(5, 0, "cash,paid")
    rows = [f"{r},อ.น\u0e33\u0e49พอง" for r in rows]  # นำ้ as typed, not นํ้า
    acc, rej, v = read(("\n".join([HEADER + ",remark", *rows]) + "\n").encode("cp874"))
    assert v.status == "loaded" and v.encoding == "cp874" and len(acc) == 5 and not rej
