"""Cell parsers: examples from the contract, and properties over generated input."""

import contextlib
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dla_pipeline import parsing as p
from dla_pipeline.generator import THAI_MONTH_ABBR, make_thai_id


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24/11/2569", date(2026, 11, 24)),
        ("2569-11-24", date(2026, 11, 24)),
        ("2026-11-24", date(2026, 11, 24)),
        ("24 พ.ย. 2569", date(2026, 11, 24)),
        ("24 พ.ย 2569", date(2026, 11, 24)),
        ("3 ต.ค. 2565", date(2022, 10, 3)),
        ("๒๔/๑๑/๒๕๖๙", date(2026, 11, 24)),
        (" 1/2/2569 ", date(2026, 2, 1)),
        ("24 พฤศจิกายน 2569", date(2026, 11, 24)),
    ],
)
def test_contract_dates(text, expected):
    assert p.parse_date(text) == expected


@pytest.mark.parametrize(
    "text", ["1-ม.ค.", "31/02/2569", "2569/11/24", "", "24 xyz 2569", "tomorrow", "24/13/2569"]
)
def test_bad_dates(text):
    with pytest.raises(p.CellError):
        p.parse_date(text)


def test_birth_dates_with_unknown_parts():
    assert p.parse_birth_date("00/00/2490") == (date(1947, 1, 1), "year")
    assert p.parse_birth_date("00/07/2490") == (date(1947, 7, 1), "month")
    assert p.parse_birth_date("15/07/2490") == (date(1947, 7, 15), "day")
    with pytest.raises(p.CellError):
        p.parse_birth_date("15/00/2490")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1234.5", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("1,234.50 บาท", Decimal("1234.50")),
        ("๖๐๐", Decimal("600.00")),
        ("600", Decimal("600.00")),
    ],
)
def test_amounts(text, expected):
    assert p.parse_amount(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("-600", "negative"),
        ("0", "zero"),
        ("0.00", "zero"),
        ("12,3x.00", "unparseable"),
        ("", "empty"),
        ("1,23,4", "unparseable"),
    ],
)
def test_bad_amounts(text, reason):
    with pytest.raises(p.CellError, match=reason):
        p.parse_amount(text)


def test_thai_id_checksum():
    assert p.thai_id_valid("1234567890121")  # domain.md's test vector
    assert not p.thai_id_valid("1234567890122")
    assert p.parse_thai_id("1-2345-67890-12-1") == "1234567890121"
    assert p.parse_thai_id("๑๒๓๔๕๖๗๘๙๐๑๒๑") == "1234567890121"
    with pytest.raises(p.CellError, match="checksum"):
        p.parse_thai_id("1234567890122")
    with pytest.raises(p.CellError, match="13 digits"):
        p.parse_thai_id("123456789012")


def test_period_and_fiscal_year():
    assert p.parse_period("11/2569") == date(2026, 11, 1)
    assert p.parse_period("๑๑/๒๕๖๙") == date(2026, 11, 1)
    assert p.parse_period("11/2026") == date(2026, 11, 1)
    with pytest.raises(p.CellError):
        p.parse_period("13/2569")
    assert p.parse_fiscal_year("2570") == 2570
    assert p.parse_fiscal_year("2027") == 2570
    assert p.fiscal_year_of(date(2026, 10, 1)) == 2570
    assert p.fiscal_year_of(date(2026, 9, 30)) == 2569
    assert p.fiscal_year_bounds(2570) == (date(2026, 10, 1), date(2027, 9, 30))


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


def _thai(s: str) -> str:
    return s.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))


@given(
    d=dates,
    style=st.sampled_from(["be_dmy", "iso_be", "iso_ce", "thai", "thai_nodot"]),
    thai_digits=st.booleans(),
)
def test_any_written_date_round_trips(d, style, thai_digits):
    be = d.year + 543
    text = {
        "be_dmy": f"{d.day:02d}/{d.month:02d}/{be}",
        "iso_be": f"{be}-{d.month:02d}-{d.day:02d}",
        "iso_ce": d.isoformat(),
        "thai": f"{d.day} {THAI_MONTH_ABBR[d.month - 1]} {be}",
        "thai_nodot": f"{d.day} {THAI_MONTH_ABBR[d.month - 1][:-1]} {be}",
    }[style]
    assert p.parse_date(_thai(text) if thai_digits else text) == d


@given(cents=st.integers(min_value=1, max_value=10**11), sep=st.booleans(), baht=st.booleans())
def test_any_written_amount_round_trips(cents, sep, baht):
    value = Decimal(cents) / 100
    text = f"{value:,.2f}" if sep else f"{value:.2f}"
    if baht:
        text += " บาท"
    assert p.parse_amount(text) == value


@given(
    body=st.text(alphabet="0123456789", min_size=12, max_size=12),
    dashes=st.booleans(),
    flip=st.integers(min_value=1, max_value=9),
)
def test_id_checksum_property(body, dashes, flip):
    good = make_thai_id(body)
    text = f"{good[0]}-{good[1:5]}-{good[5:10]}-{good[10:12]}-{good[12]}" if dashes else good
    assert p.parse_thai_id(text) == good
    bad = good[:12] + str((int(good[12]) + flip) % 10)
    assert not p.thai_id_valid(bad)


@given(st.text(max_size=30))
def test_parsers_never_crash_on_garbage(text):
    for fn in (
        p.parse_date,
        p.parse_amount,
        p.parse_thai_id,
        p.parse_period,
        p.parse_count,
        p.parse_fiscal_year,
    ):
        with contextlib.suppress(p.CellError):
            fn(text)


@given(
    st.lists(
        st.one_of(
            st.text(max_size=20),
            st.text(alphabet="0123456789- ๑๒", min_size=12, max_size=18),
            st.builds(make_thai_id, st.text(alphabet="0123456789", min_size=12, max_size=12)),
        ),
        max_size=20,
    )
)
def test_ids_read_as_a_column_equal_ids_read_one_by_one(cells):
    """parse_thai_ids (the array checksum) gives what parse_thai_id gives, cell by cell."""

    def one(cell):
        try:
            return p.parse_thai_id(cell)
        except p.CellError as exc:
            return (exc.code, exc.detail)

    got = [r if isinstance(r, str) else (r.code, r.detail) for r in p.parse_thai_ids(cells)]
    assert got == [one(c) for c in cells]


@settings(max_examples=200)
@given(
    st.binary(min_size=0, max_size=130),
    st.lists(st.text(max_size=20) | st.from_regex(r"[0-9]{13}", fullmatch=True), max_size=8),
)
@example(b"", ["1"])
@example(b"k" * 64, ["1", ""])  # exactly SHA-256's block
@example(b"k" * 65, ["1"])  # longer: the key is hashed first
def test_bulk_pseudonyms_are_hmac_sha256_of_each_id(key, ids):
    """A Pseudonymiser prepares HMAC's inner and outer states once: each value is exactly
    hmac.digest's (keys shorter and longer than SHA-256's block, any text)."""
    import hmac

    from dla_pipeline.pseudonyms import Pseudonymiser, pseudonym

    got = Pseudonymiser(key).many(ids)
    assert got == {i: hmac.digest(key, i.encode(), "sha256").hex() for i in ids}
    assert all(got[i] == pseudonym(key, i) for i in ids)


_birth_cells = st.one_of(
    st.builds(
        lambda d, m, y, style: {
            "dmy": f"{d:02d}/{m:02d}/{y:04d}",
            "iso": f"{y:04d}-{m:02d}-{d:02d}",
            "thai": f"{d} {THAI_MONTH_ABBR[(m - 1) % 12]} {y}",
            "thai2": f"{d:02d} {THAI_MONTH_ABBR[(m - 1) % 12].replace('.', '')} {y}",
        }[style],
        st.integers(0, 32),
        st.integers(0, 13),
        st.integers(0, 9999),
        st.sampled_from(["dmy", "iso", "thai", "thai2"]),
    ),
    st.text(alphabet="0123456789/- .๐๑๒๕๙พยมค\u0e4d\u0e32\u00a0－", max_size=14),
    st.text(max_size=12),
)


@settings(max_examples=300)
@given(st.lists(st.one_of(_birth_cells, _birth_cells.map(_thai)), max_size=30))
@example(["29/02/2567", "29/02/2566", "31/04/2500", "00/00/2490", "15/00/2490", "01/01/0000"])
@example(["0000-01-01", "2401-02-29", "2400-02-29", "1 พ.ย. 2510", "๑๕ พ.ย. ๒๕๑๐"])
@example(["15 พ.ย 2510", "15 พย. 2510", "15  พ.ย. 2510", "15 พ.ย. 25100", " 15 พ.ย. 2510"])
@example(["15 \u0e4d\u0e32 2510", "15 " + "." * 70 + "พย 2510", "15 มี.ค. 2569", "01/01/2400"])
@example(["+1/02/2510", " 1/02/2510", "1 /02/2510", "０１/02/2510", "+9 พ.ย. 2510", "2510-+2-01"])
def test_birth_dates_read_by_slicing_equal_the_rule_cell_by_cell(cells):
    """``contract._births`` (plain dates read by slicing) gives each cell exactly what the
    cell-by-cell rule gives: the same date and precision, or the same reason and detail."""
    from dla_pipeline import contract

    ctx = contract.Context(extract_date=date(2026, 11, 6), citizen_key=b"k", taxpayer_key=b"k")

    def shown(r):
        return (r.code, r.detail) if isinstance(r, p.CellError) else r

    one = contract._each("birth_date", contract._birth(ctx), optional=False)
    assert list(map(shown, contract._births(ctx)(cells))) == list(map(shown, one(cells)))
    for max_age in (0, 2026, 3000):  # bounds beyond any date's years read the same way
        rules = contract.Rules({"allowance": contract.Bounds(max_age_years=max_age)}, frozenset())
        wide = contract.Context(date(2026, 11, 6), b"k", b"k", rules=rules)
        one = contract._each("birth_date", contract._birth(wide), optional=False)
        assert list(map(shown, contract._births(wide)(cells))) == list(map(shown, one(cells)))
    for cell, fast in zip(cells, p.birth_dates_read_fast(cells), strict=True):
        assert fast is None or fast == p.parse_birth_date(cell)


def test_the_memo_of_parsed_cells_is_bounded_and_keeps_no_long_cell(monkeypatch):
    """``Chunk.parse_many`` parses only the cells its memo does not hold: a cell longer
    than any date, amount or code is parsed but not remembered, and the memo never holds
    more than ``MEMO_CELLS`` cells; what each row parses to is the same either way."""
    from dla_pipeline import contract

    monkeypatch.setattr(contract, "MEMO_CELLS", 8)
    calls: list[list[str]] = []

    def parse(cells):
        calls.append(list(cells))
        return [
            p.parse_count(c) if len(c) < 30 else p.CellError("bad_number", "long") for c in cells
        ]

    memo: dict = {}
    long = "1" * (p.MAX_CELL + 1)
    first = contract.Chunk([1, 2, 3, 4], {"n": ["1", "2", long, "1"]}, memo)
    assert first.parse_many("n", parse, remember=True)[:2] == [1, 2]
    assert first.errors[2][:2] == ("n", "bad_number") and set(memo["n"]) == {"1", "2"}
    cells = [str(i) for i in range(20)] + [long]
    second = contract.Chunk(list(range(len(cells))), {"n": cells}, memo)
    assert second.parse_many("n", parse, remember=True)[:20] == list(range(20))
    assert sorted(calls[1]) == sorted(set(cells) - {"1", "2"})  # what the memo knew: not again
    assert len(memo["n"]) <= 8 and long not in memo["n"]
