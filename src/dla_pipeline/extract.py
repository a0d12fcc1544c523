"""One extract file -> accepted rows, rejected rows and a file verdict.

``read_extract`` is the single, pure definition of what the contract accepts: it
reads bytes, knows no database and no file system, and streams its output in chunks
so memory does not grow with the file. The loader COPYs what it yields; the
reconciliation recomputes the marts from it. Every problem it meets, whatever its
cause, becomes a rejection with a reason code; it never raises on bad input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .contract import INVISIBLE, Chunk, Context, Source
from .csvread import Lines, Record, Records, Unreadable, fits_width, open_lines, printable
from .dedup import FirstSeen

CHUNK_ROWS = 2048
CHUNK_CHARS = 4 << 20


@dataclass(slots=True)
class Rejection:
    line_no: int | None  # physical line; None when the file has no records at all
    field: str | None
    code: str  # reason code (seed reason_codes)
    detail: str
    raw: str | None


@dataclass
class Accepted:
    """Accepted rows of one chunk, as typed columns (``Source.db_columns``)."""

    line_nos: list[int]
    columns: dict[str, list]
    extra: list[str | None]

    def __len__(self) -> int:
        return len(self.line_nos)

    def rows(self, source: Source) -> Iterator[tuple]:
        """(line_no, *db columns, extra) per row."""
        cols = [self.columns[c] for c in source.db_columns]
        return zip(self.line_nos, *cols, self.extra, strict=True)


@dataclass
class Verdict:
    status: str = "loaded"  # loaded | rejected | superseded
    code: str | None = None
    detail: str | None = None
    encoding: str | None = None
    extra_columns: list[str] = field(default_factory=list)  # every extra header (drift)
    extra_columns_dropped: list[str] = field(default_factory=list)  # not on the allow-list
    rows_in: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0


@dataclass
class Layout:
    positions: dict[str, int]  # canonical column -> position
    width: int  # header cells, trailing empty ones dropped
    kept: list[tuple[str, int]]  # extra columns whose values are kept
    extras: list[str]  # every extra column's name
    dropped: list[str]  # extra columns whose values are dropped
    problem: tuple[str | None, str, str] | None = None  # (field, code, detail)


def header_layout(cells: list[str], source: Source, ctx: Context) -> Layout | None:
    """The columns a header names; None when it names none of this source's columns."""
    width = len(cells)
    while width and not cells[width - 1].strip(INVISIBLE):
        width -= 1
    positions: dict[str, int] = {}
    twice: list[str] = []
    kept: list[tuple[str, int]] = []
    extras: list[str] = []
    dropped: list[str] = []
    for i, cell in enumerate(cells[:width]):
        name = source.canonical(cell)
        if name is None:
            label = cell.strip(INVISIBLE) or f"column_{i + 1}"
            if label in extras:  # two unknown columns with the same name are both kept
                n = 2
                while f"{label} ({n})" in extras:
                    n += 1
                label = f"{label} ({n})"
            extras.append(label)
            if cell.strip(INVISIBLE).lower() in ctx.rules.extra_columns_allowed:
                kept.append((label, i))
            else:
                dropped.append(label)
        elif name in positions:
            twice.append(name)
        else:
            positions[name] = i
    if not positions:
        return None
    layout = Layout(positions, width, kept, extras, dropped)
    missing = [c for c in source.required if c not in positions]
    if twice:
        layout.problem = (
            twice[0],
            "ambiguous_header",
            f"column {twice[0]!r} is named twice in the header: the file is ambiguous",
        )
    elif missing:
        layout.problem = (
            missing[0],
            "missing_column",
            f"missing required column(s): {', '.join(missing)}",
        )
    return layout


_DIGIT = re.compile(r"\d")
_DIGITS_IN_HEADERS: dict[str, bool] = {}


def _is_header(cells: list[str], source: Source) -> bool:
    """A header repeated inside the file (two exports pasted together)."""
    if source.name not in _DIGITS_IN_HEADERS:
        _DIGITS_IN_HEADERS[source.name] = any(_DIGIT.search(k) for k in source.header_map)
    if not _DIGITS_IN_HEADERS[source.name]:
        # fast path for data rows (this runs on every row): a header needs at least 2 known
        # names and as many as all its other non-empty cells; cells with a digit are never
        # a column name here, so too few digit-free cells settle it without canonicalising
        free = sum(1 for c in cells if not _DIGIT.search(c))
        if free < max(2, len(cells) - free):
            return False
    names = [c for c in cells if c.strip(INVISIBLE)]
    known = sum(source.canonical(c) is not None for c in names)
    # data never holds column names; a header may carry extra columns of its own
    return known >= 2 and known * 2 >= len(names)


class ExtractReader:
    """Iterate to get ``Accepted`` chunks and lists of ``Rejection``; then ``verdict``.

    ``reject_all`` = (code, detail, status): the file is refused as a whole (unknown LAO,
    a path outside the layout, superseded by a newer file of the LAO): every record is
    rejected with that reason, and a file with no record counts as one rejected row.
    """

    def __init__(
        self,
        stream: BinaryIO,
        source: Source,
        ctx: Context,
        reject_all: tuple[str, str, str] | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ):
        self.stream = stream
        self.source = source
        self.ctx = ctx
        self.reject_all = reject_all
        self.chunk_rows = chunk_rows
        self.verdict = Verdict()
        # a file whose first header is unusable stays rejected, whatever header follows
        self.file_problem: tuple[str | None, str, str] | None = None

    def __iter__(self) -> Iterator[Accepted | list[Rejection]]:
        v = self.verdict
        try:
            v.encoding, lines = open_lines(self.stream)
        except Unreadable as exc:
            yield self._refuse_unread(exc.code, exc.detail)
            return
        with FirstSeen() as seen, FirstSeen() as seen_key:
            yield from self._records(lines, seen, seen_key)
        if self.reject_all:
            v.status, v.code, v.detail = self.reject_all[2], self.reject_all[0], self.reject_all[1]
        if v.status != "loaded" and v.rows_in == 0:
            yield self._refuse_unread(v.code, v.detail)

    def _refuse_unread(self, code: str | None, detail: str | None) -> list[Rejection]:
        """A file with no record to show: one rejected row stands for it."""
        v = self.verdict
        status = "rejected"
        if self.reject_all:  # the path-level reason (unknown LAO, superseded...) comes first
            code, detail, status = self.reject_all
        v.status, v.code, v.detail = status, code, detail
        v.rows_in, v.rows_rejected, v.rows_accepted = 1, 1, 0
        return [Rejection(None, None, code or "unreadable_file", detail or "", None)]

    def _records(self, lines: Lines, seen: FirstSeen, seen_key: FirstSeen):
        v = self.verdict
        records = Records(lines)
        layout: Layout | None = None
        pending: list[Record] = []
        rejected: list[Rejection] = []
        held = 0
        for rec in records:
            if layout is None:
                layout = self._header(rec, records)
                continue
            if rec.cells is not None and _is_header(rec.cells, self.source):
                yield from self._flush(pending, layout, rejected, seen, seen_key)
                pending, rejected = [], []
                layout = self._relayout(rec, layout, records)
                continue  # a repeated header is skipped, not data
            v.rows_in += 1
            problem = self._row_problem(rec, layout)
            if problem:
                rejected.append(Rejection(rec.line_no, problem[0], problem[1], problem[2], rec.raw))
            else:
                pending.append(rec)
            held += len(rec.raw)
            # a chunk is at most chunk_rows records and CHUNK_CHARS of text (long lines)
            if (
                len(pending) >= self.chunk_rows
                or len(rejected) >= self.chunk_rows
                or held > CHUNK_CHARS
            ):
                yield from self._flush(pending, layout, rejected, seen, seen_key)
                pending, rejected, held = [], [], 0
        if layout is None and not self.reject_all:
            v.status, v.code, v.detail = "rejected", "no_header", "not CSV: no header row"
        yield from self._flush(pending, layout, rejected, seen, seen_key)

    def _header(self, rec: Record, records: Records) -> Layout:
        v = self.verdict
        if rec.cells is None:
            code, detail = rec.problem or ("no_header", "unreadable header")
            if code == "bad_encoding_row":
                code, detail = (
                    "bad_encoding",
                    f"unreadable encoding: the header is not {v.encoding}",
                )
            layout = Layout({}, 0, [], [], [], (None, code, f"header: {detail}"))
        else:
            layout = header_layout(rec.cells, self.source, self.ctx) or Layout(
                {},
                0,
                [],
                [],
                [],
                (None, "not_csv", f"no {self.source.name} column in the header row"),
            )
        records.width = layout.width or None
        v.extra_columns = list(layout.extras)
        v.extra_columns_dropped = list(layout.dropped)
        if layout.problem and not self.reject_all:
            v.status, v.code, v.detail = "rejected", layout.problem[1], layout.problem[2]
            self.file_problem = layout.problem
        return layout

    def _relayout(self, rec: Record, layout: Layout, records: Records) -> Layout:
        new = header_layout(rec.cells or [], self.source, self.ctx)
        if new is None:
            return layout
        records.width = new.width
        v = self.verdict
        for name in new.extras:
            if name not in v.extra_columns:
                v.extra_columns.append(name)
        for name in new.dropped:
            if name not in v.extra_columns_dropped:
                v.extra_columns_dropped.append(name)
        return new

    def _row_problem(self, rec: Record, layout: Layout) -> tuple[str | None, str, str] | None:
        if self.reject_all:
            return None, self.reject_all[0], self.reject_all[1]
        if self.file_problem:
            return self.file_problem
        if layout.problem:
            return layout.problem
        if rec.problem:
            return None, rec.problem[0], rec.problem[1]
        if not fits_width(rec.cells, layout.width):
            return (
                None,
                "wrong_column_count",
                f"wrong column count: expected {layout.width} fields, found {len(rec.cells)}",
            )
        return None

    def _flush(self, pending, layout, rejected, seen, seen_key):
        v = self.verdict
        if pending:
            accepted, more = self._convert(pending, layout, seen, seen_key)
            rejected.extend(more)
            if accepted.line_nos:
                v.rows_accepted += len(accepted)
                yield accepted
        if rejected:
            rejected.sort(key=lambda r: r.line_no or 0)
            v.rows_rejected += len(rejected)
            yield rejected

    def _convert(self, pending: list[Record], layout: Layout, seen, seen_key):
        source, ctx = self.source, self.ctx
        cols = {
            name: [r.cells[i] for r in pending]  # type: ignore[index]
            for name, i in layout.positions.items()
        }
        chunk = Chunk([r.line_no for r in pending], cols)
        typed = source.convert(chunk, ctx)
        if layout.kept:
            _check_extras(chunk, pending, layout, ctx.bounds(source.name).max_text_length)
        _mark_duplicates(chunk, typed, source, seen, seen_key)
        ok = chunk.ok()
        rejected = [
            # an erased person's row is counted, and kept without its content
            Rejection(pending[i].line_no, *e, None if e[1] == "erased" else pending[i].raw)
            for i, e in enumerate(chunk.errors)
            if e is not None
        ]
        columns = {c: [typed[c][i] for i in ok] for c in source.db_columns}
        extra = (
            [_extra_json(pending[i].cells, layout) for i in ok] if layout.kept else [None] * len(ok)
        )
        return Accepted([chunk.line_nos[i] for i in ok], columns, extra), rejected


def _check_extras(chunk: Chunk, pending: list[Record], layout: Layout, limit: int) -> None:
    """Kept extra cells obey the text bound like the contract's own text cells."""
    for i in chunk.ok():
        cells = pending[i].cells
        for name, pos in layout.kept:
            if pos < len(cells) and len(cells[pos].strip(INVISIBLE)) > limit:
                chunk.errors[i] = (name, "text_too_long", f"{name} longer than {limit} characters")
                break


def _extra_json(cells: list[str], layout: Layout) -> str | None:
    values = {name: cells[i].strip(INVISIBLE) for name, i in layout.kept if i < len(cells)}
    return json.dumps(values, ensure_ascii=False) if values else None


def _mark_duplicates(chunk: Chunk, typed: dict, source: Source, seen, seen_key) -> None:
    """Rows equal to an earlier row once read; then rows repeating a business key."""
    ok = chunk.ok()
    if not ok:
        return
    value_cols = [typed[c] for c in (source.value_columns or source.db_columns)]
    keys = [hash(tuple(col[i] for col in value_cols)) for i in ok]
    lines = [chunk.line_nos[i] for i in ok]
    for i, first in zip(ok, seen.first_lines(keys, lines), strict=True):
        if first is not None:
            chunk.errors[i] = (None, "duplicate_row", f"duplicate row (same as line {first})")
    if not source.business_key:
        return
    cols, label = source.business_key
    ok = chunk.ok()
    key_cols = [typed[c] for c in cols]
    keys = [hash(tuple(col[i] for col in key_cols)) for i in ok]
    lines = [chunk.line_nos[i] for i in ok]
    for i, first in zip(ok, seen_key.first_lines(keys, lines), strict=True):
        if first is not None:
            chunk.errors[i] = (
                cols[0],
                "duplicate_key",
                f"duplicate {label} (same as line {first})",
            )


def read_extract(
    stream: BinaryIO,
    source: Source,
    ctx: Context,
    reject_all: tuple[str, str, str] | None = None,
) -> ExtractReader:
    """The contract applied to one file (see the module docstring)."""
    return ExtractReader(stream, source, ctx, reject_all)


def storable_raw(raw: str | None) -> str | None:
    """A raw line as text the database accepts (escapes for NULs and undecodable bytes)."""
    return printable(raw)
