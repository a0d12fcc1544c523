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
from operator import itemgetter
from typing import BinaryIO

from .contract import Chunk, Context, Source
from .csvread import Lines, Record, Records, Run, fits_width, open_lines, printable
from .dedup import FirstSeen
from .encoding import INVISIBLE, Unreadable

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


@dataclass(frozen=True)
class Layout:
    positions: dict[str, int]  # canonical column -> position
    width: int  # header cells, trailing empty ones dropped
    kept: list[tuple[str, int]]  # extra columns whose values are kept
    extras: list[str]  # every extra column's name
    dropped: list[str]  # extra columns whose values are dropped
    problem: tuple[str | None, str, str] | None = None  # (field, code, detail)


LAYOUTS_KEPT = 256  # distinct headers remembered per load (``Context.layouts``)
# a header of more cells or characters is read again each time it comes (a repeated header
# padded with thousands of empty cells must not be kept 256 times)
LAYOUT_KEPT_CELLS = 64
LAYOUT_KEPT_CHARS = 4096


def header_layout(cells: list[str], source: Source, ctx: Context) -> Layout | None:
    """The columns a header names; None when it names none of this source's columns.
    Remembered per load by the header's cells (a ``Layout`` is never changed once made)."""
    if len(cells) > LAYOUT_KEPT_CELLS or sum(map(len, cells)) > LAYOUT_KEPT_CHARS:
        return _header_layout(cells, source, ctx)
    key = (source.name, *cells)
    kept = ctx.layouts.get(key, False)
    if kept is False:
        if len(ctx.layouts) >= LAYOUTS_KEPT:
            ctx.layouts.clear()
        kept = ctx.layouts[key] = _header_layout(cells, source, ctx)
    return kept


def _header_layout(cells: list[str], source: Source, ctx: Context) -> Layout | None:
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
    missing = [c for c in source.required if c not in positions]
    problem = None
    if twice:
        problem = (
            twice[0],
            "ambiguous_header",
            f"column {twice[0]!r} is named twice in the header: the file is ambiguous",
        )
    elif missing:
        problem = (
            missing[0],
            "missing_column",
            f"missing required column(s): {', '.join(missing)}",
        )
    return Layout(positions, width, kept, extras, dropped, problem)


_DIGIT = re.compile(r"\d")
_DIGITS_IN_HEADERS: dict[str, bool] = {}
_SARA_AM = ("\u0e4d\u0e32", "\u0e33")  # typed in two, read as one (``Source.canonical``)


def _is_header(cells: list[str], source: Source) -> bool:
    """A header repeated inside the file (two exports pasted together)."""
    if source.name not in _DIGITS_IN_HEADERS:
        _DIGITS_IN_HEADERS[source.name] = any(_DIGIT.search(k) for k in source.header_map)
    if not _DIGITS_IN_HEADERS[source.name]:
        # fast path for data rows: a header needs at least 2 known names and as many as
        # all its other non-empty cells; cells with a digit are never a column name here,
        # so too few digit-free cells settle it without canonicalising
        with_digit = sum(map(bool, map(_DIGIT.search, cells)))
        if len(cells) - with_digit < max(2, with_digit):
            return False
    names = [c for c in cells if c.strip(INVISIBLE)]
    known = sum(source.canonical(c) is not None for c in names)
    # data never holds column names; a header may carry extra columns of its own
    return known >= 2 and known * 2 >= len(names)


_NAME_BYTES: dict[str, tuple | None] = {}


def _name_bytes(source: Source) -> tuple | None:
    """The source's column names as bytes in every contract encoding, lower-cased, with
    the byte forms of a decomposed and a composed sara am, and the bytes a block carries to
    the next; None when a name could come from a cell through non-ASCII case folding (the
    Kelvin sign lowers to 'k')."""
    if source.name not in _NAME_BYTES:
        names = source.header_map
        needles = {name.encode(enc) for name in names for enc in ("utf-8", "cp874")}
        _NAME_BYTES[source.name] = (
            None
            if any("k" in name for name in names)
            else (
                tuple(needles),
                *(s.encode("utf-8") for s in _SARA_AM),
                *(s.encode("cp874") for s in _SARA_AM),
                2 * max(map(len, needles)),  # bytes carried from one block to the next
            )
        )
    return _NAME_BYTES[source.name]


def _names_after_first_line(stream: BinaryIO, source: Source) -> bool:
    """Whether a column name of ``source`` occurs after the file's first line, as bytes.

    A repeated header names at least two columns, so a file without any name after its
    first line has none and its rows need no header check (``_is_header`` would say no
    to each). True whenever that cannot be settled cheaply: the caller checks each row.
    """
    found = _name_bytes(source)
    if found is None or not stream.seekable():
        return True
    needles, utf8_two, utf8_one, cp874_two, cp874_one, keep = found
    start = stream.tell()
    try:
        head = stream.read(1 << 20)
        ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
        if not ends or b'"' in head[: min(ends)]:
            return True  # a header over several lines, or one line of a megabyte
        window = head[min(ends) :]
        while True:
            text = window.lower().replace(utf8_two, utf8_one).replace(cp874_two, cp874_one)
            if any(map(text.__contains__, needles)):
                return True
            block = stream.read(1 << 20)
            if not block:
                return False
            window = window[-keep:] + block
    finally:
        stream.seek(start)


class Pending:
    """Records waiting to be converted, as columns of the header positions the layout reads
    (its columns and kept extras): a run of plain lines is appended column by column, a
    record from the line-by-line path cell by cell."""

    __slots__ = ("line_nos", "raws", "cols")

    def __init__(self, layout: Layout | None):
        positions = (
            sorted({*layout.positions.values(), *(p for _, p in layout.kept)}) if layout else []
        )
        self.line_nos: list[int] = []
        self.raws: list[str] = []
        self.cols: dict[int, list[str]] = {p: [] for p in positions}

    def __len__(self) -> int:
        return len(self.line_nos)

    def add_run(self, run: Run) -> None:
        self.line_nos += run.line_nos
        self.raws += run.raws
        for p, col in self.cols.items():
            col += run.columns[p]

    def add(self, rec: Record) -> None:
        self.line_nos.append(rec.line_no)
        self.raws.append(rec.raw)
        cells = rec.cells
        for p, col in self.cols.items():
            col.append(cells[p])  # type: ignore[index]  # a pending record fits the header

    def take(self, n: int) -> Pending:
        """The first ``n`` records, removed from this buffer."""
        head = Pending(None)
        head.line_nos, self.line_nos = self.line_nos[:n], self.line_nos[n:]
        head.raws, self.raws = self.raws[:n], self.raws[n:]
        for p, col in self.cols.items():
            head.cols[p], self.cols[p] = col[:n], col[n:]
        return head


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
        bulk: bool = True,
    ):
        self.bulk = bulk  # runs of plain lines at once (False: line by line, the reference)
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
        # whether a row may be a repeated header (the reference path checks every row)
        self.names_repeat = not self.bulk or _names_after_first_line(self.stream, self.source)
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
        pending = Pending(None)
        rejected: list[Rejection] = []
        held = 0
        for item in records:
            if layout is None:
                layout = self._header(item, records)
                pending = Pending(layout)
                # plain lines come in runs once nothing can change the layout or refuse
                # every row; a run holds what the line-by-line path would have given
                records.bulk = self.bulk and not (
                    self.names_repeat or self.reject_all or self.file_problem or layout.problem
                )
                continue
            if item.__class__ is Run or item.__class__ is list:
                batch = item
            elif (
                item.cells is not None and self.names_repeat and _is_header(item.cells, self.source)
            ):
                yield from self._flush(pending, layout, rejected, seen, seen_key)
                layout = self._relayout(item, layout, records)
                pending, rejected = Pending(layout), []
                continue  # a repeated header is skipped, not data
            else:
                batch = [item]
            v.rows_in += len(batch)
            held += self._sort(batch, layout, pending, rejected)
            # a chunk is at most chunk_rows records and CHUNK_CHARS of text (long lines)
            while (
                len(pending) >= self.chunk_rows
                or len(rejected) >= self.chunk_rows
                or held > CHUNK_CHARS
            ):
                head = pending.take(self.chunk_rows)
                yield from self._flush(head, layout, rejected, seen, seen_key)
                rejected, held = [], 0
        if layout is None and not self.reject_all:
            v.status, v.code, v.detail = "rejected", "no_header", "not CSV: no header row"
        yield from self._flush(pending, layout, rejected, seen, seen_key)

    def _sort(
        self, batch: list[Record] | Run, layout: Layout, pending: Pending, rejected: list
    ) -> int:
        """Records to convert go to ``pending``, records refused as they are to ``rejected``.
        Returns the characters of text the batch holds."""
        refuse_all = self.reject_all or self.file_problem or layout.problem
        if batch.__class__ is Run:
            if not refuse_all:
                pending.add_run(batch)  # each record exactly of the header's width
                return batch.chars
            batch = batch.records()
        width = layout.width
        for rec in batch:
            # the usual record (read, of the header's width) needs no other check
            if refuse_all or rec.cells is None or len(rec.cells) != width:
                problem = self._row_problem(rec, layout)
                if problem:
                    rejected.append(
                        Rejection(rec.line_no, problem[0], problem[1], problem[2], rec.raw)
                    )
                    continue
            pending.add(rec)
        return sum(len(rec.raw) for rec in batch)

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

    def _convert(self, pending: Pending, layout: Layout, seen, seen_key):
        source, ctx = self.source, self.ctx
        cols = {name: pending.cols[i] for name, i in layout.positions.items()}
        chunk = Chunk(pending.line_nos, cols, ctx.memo.setdefault(source.name, {}))
        typed = source.convert(chunk, ctx)
        if layout.kept:
            _check_extras(chunk, pending, layout, ctx.bounds(source.name).max_text_length)
        _mark_duplicates(chunk, typed, source, seen, seen_key)
        ok = chunk.ok()
        line_nos, raws = pending.line_nos, pending.raws
        rejected = [
            # an erased person's row is counted, and kept without its content
            Rejection(line_nos[i], *e, None if e[1] == "erased" else raws[i])
            for i, e in enumerate(chunk.errors)
            if e is not None
        ]
        if len(ok) == len(pending):
            columns = {c: typed[c] for c in source.db_columns}
        else:
            pick = _picker(ok)
            columns = {c: pick(typed[c]) for c in source.db_columns}
        extra = [_extra_json(pending, i, layout) for i in ok] if layout.kept else [None] * len(ok)
        return Accepted([chunk.line_nos[i] for i in ok], columns, extra), rejected


def _check_extras(chunk: Chunk, pending: Pending, layout: Layout, limit: int) -> None:
    """Kept extra cells obey the text bound like the contract's own text cells."""
    for i in chunk.ok():
        for name, pos in layout.kept:
            if len(pending.cols[pos][i].strip(INVISIBLE)) > limit:
                chunk.errors[i] = (name, "text_too_long", f"{name} longer than {limit} characters")
                break


def _extra_json(pending: Pending, i: int, layout: Layout) -> str | None:
    values = {name: pending.cols[pos][i].strip(INVISIBLE) for name, pos in layout.kept}
    return json.dumps(values, ensure_ascii=False) if values else None


def _mark_duplicates(chunk: Chunk, typed: dict, source: Source, seen, seen_key) -> None:
    """Rows equal to an earlier row once read; then rows repeating a business key."""
    _mark_repeats(chunk, typed, source.value_columns or source.db_columns, seen, None, "row")
    if source.business_key:
        cols, label = source.business_key
        _mark_repeats(chunk, typed, cols, seen_key, cols[0], label)


def _mark_repeats(chunk: Chunk, typed: dict, names, seen, field: str | None, what: str) -> None:
    """Rows still valid whose values in ``names`` were seen on an earlier line (``seen``:
    the file's ``dedup.FirstSeen``): ``duplicate_row``, or ``duplicate_key`` naming
    ``what`` on ``field``."""
    ok = chunk.ok()
    if not ok:
        return
    firsts = seen.first_lines(_row_hashes(typed, names, ok), _picker(ok)(chunk.line_nos))
    if firsts.count(None) == len(firsts):
        return
    code = "duplicate_row" if field is None else "duplicate_key"
    for i, first in zip(ok, firsts, strict=True):
        if first is not None:
            chunk.errors[i] = (field, code, f"duplicate {what} (same as line {first})")


def _picker(rows: list[int]):
    """A function giving the values of a column at ``rows``, as a list."""
    if len(rows) > 1:
        get = itemgetter(*rows)
        return lambda col: list(get(col))
    return lambda col: [col[i] for i in rows]


def _row_hashes(typed: dict[str, list], names, rows: list[int]) -> list[int]:
    """hash() of each row's tuple of values in columns ``names``, for rows ``rows``."""
    if len(rows) == len(typed[names[0]]):
        cols = [typed[c] for c in names]
    else:
        pick = _picker(rows)
        cols = [pick(typed[c]) for c in names]
    return list(map(hash, zip(*cols, strict=True)))


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
