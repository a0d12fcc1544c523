"""Rows as PostgreSQL COPY text: accepted rows for raw, rejected rows for quarantine.

Columns are formatted once per distinct value (dates, amounts and codes repeat), and a
chunk becomes one string, so writing costs a few joins per row, not Python per cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from .csvread import printable
from .extract import Accepted, Rejection

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def fmt(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (date, Decimal, int)):
        return str(value) if not isinstance(value, date) else value.isoformat()
    return str(value).translate(_ESCAPES)


_SPECIAL = ("\\", "\t", "\n", "\r")  # what COPY text escapes (``_ESCAPES``)
_FORMATTED: dict = {}  # dates, amounts and numbers as text, across chunks (bounded)


def _column(values: list) -> list[str]:
    distinct = set(values)
    if set(map(type, distinct)) == {str}:
        text = "".join(distinct)  # a substring test is a memchr, many times a regex's speed
        if not any(c in text for c in _SPECIAL):
            return values  # text with nothing to escape is its own COPY text
    if len(_FORMATTED) > 1 << 16:
        _FORMATTED.clear()
    formatted = {}
    for v in distinct:
        if v.__class__ is str or v is None:
            formatted[v] = fmt(v)
        else:
            key = (v.__class__, v)  # 1, True and Decimal("1.00") are equal keys
            text = _FORMATTED.get(key)
            if text is None:
                text = _FORMATTED[key] = fmt(v)
            formatted[v] = text
    return list(map(formatted.__getitem__, values))


def accepted_copy_text(acc: Accepted, source, lineage: tuple, key_version: int) -> str:
    """COPY text of accepted rows: lineage, row_no, key_version, db columns, extra."""
    if not acc.line_nos:
        return ""
    prefix = "\t".join(fmt(v) for v in lineage) + "\t"
    tail = "\t" + str(key_version)
    cols = [[f"{prefix}{n}{tail}" for n in acc.line_nos]]
    cols += [_column(acc.columns[c]) for c in source.db_columns]
    cols.append([NULL if e is None else fmt(e) for e in acc.extra])
    return "\n".join(map("\t".join, zip(*cols, strict=True))) + "\n"


def quarantine_copy_text(prefix: tuple, rejections: Iterable[Rejection], mask=None) -> str:
    """COPY text of rejected rows (``ledger.QUARANTINE_COLUMNS``); ``mask`` hides
    personal data in the raw line before it is stored."""
    head = "\t".join(fmt(v) for v in prefix) + "\t"
    out = []
    for r in rejections:
        raw, detail = printable(r.raw), r.detail
        if mask is not None:
            raw = mask(raw) if raw is not None else None
            detail = mask(detail)
        out.append(
            head
            + "\t".join(
                (
                    NULL if r.line_no is None else str(r.line_no),
                    fmt(r.field),
                    fmt(r.code),
                    fmt(detail),
                    fmt(raw),
                )
            )
        )
    return "\n".join(out) + "\n" if out else ""
