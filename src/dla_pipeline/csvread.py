"""Bytes of one extract -> physical lines -> CSV records, as office software writes them.

Pure functions over a binary stream; nothing here knows the contract's columns.

* **Encodings.** Chosen by ``encoding.sniff_encoding`` (UTF-8, UTF-8 with BOM or
  Windows-874; anything else is refused naming it). A line that is not in the file's
  encoding, or holds a NUL byte, is a damaged *row*, wherever it sits.
* **Lines.** CRLF, LF, CR alone or a mix; line numbers are physical lines of the file
  (the header is line 1). A line longer than ``MAX_LINE_CHARS`` is a damaged row and is
  skipped without being held in memory.
* **Quoting.** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks.
  A quote that is never closed damages its own line only: that line is quarantined and
  the following lines are read as rows of their own. A quoted field may continue over
  at most ``MAX_RECORD_LINES`` lines, and only into a record of the header's width.
* **Empty lines** and lines of only commas and spaces carry nothing and are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO

from .encoding import INVISIBLE, MAX_LINE_CHARS, SNIFF_BYTES, sniff_encoding

MAX_RECORD_LINES = 100
csv.field_size_limit(max(csv.field_size_limit(), 2 * MAX_LINE_CHARS))

_UNDECODABLE = re.compile("[\udc80-\udcff]")
_ONLY_COMMAS = re.compile(rf"^[,{INVISIBLE}]*$")


@dataclass(slots=True)
class Line:
    no: int  # physical line number (1-based)
    text: str  # without its terminator
    too_long: bool = False


READ_CHARS = 1 << 16  # decoded text read at a time
_TERMINATOR = re.compile("[\r\n]")
# what keeps a line off the bulk path: a NUL, a byte that is not valid in the file's
# encoding, or a byte-order mark (a second export pasted after the first)
_NOT_PLAIN = re.compile("[\x00\udc80-\udcff\ufeff]")
_EOL = re.compile("\r\n|\r|\n")


class Lines:
    """Physical lines of a decoded stream (LF, CRLF or CR alone), with push-back.

    A line of ``MAX_LINE_CHARS`` characters or more is returned ``too_long`` with only its
    start: the rest is skipped without being held. ``plain()`` hands over, in one piece, a
    run of whole lines that need no care (see ``_NOT_PLAIN``).
    """

    def __init__(self, text: io.TextIOBase):
        self._text = text
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.no = 0
        self._back: list[Line] = []

    def __iter__(self) -> Iterator[Line]:
        return self

    def _fill(self) -> bool:
        """Read more text after what is left; False at the end of the stream."""
        if self._eof:
            return False
        more = self._text.read(READ_CHARS)
        if not more:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + more
        self._pos = 0
        return True

    def __next__(self) -> Line:
        if self._back:
            return self._back.pop()
        while True:
            buf, pos = self._buf, self._pos
            m = _TERMINATOR.search(buf, pos, pos + MAX_LINE_CHARS)
            if m is not None and m[0] == "\r" and m.end() == len(buf) and self._fill():
                continue  # a CR at the end of what was read: its LF may follow
            if m is not None:
                self._pos = m.end() + (m[0] == "\r" and buf.startswith("\n", m.end()))
                self.no += 1
                return Line(self.no, buf[pos : m.start()])
            if len(buf) - pos >= MAX_LINE_CHARS:
                return self._too_long()
            if not self._fill():
                if pos >= len(buf):
                    raise StopIteration
                self.no += 1
                self._pos = len(buf)
                return Line(self.no, buf[pos:])  # the last line, without a terminator

    def _too_long(self) -> Line:
        self.no += 1
        line = Line(self.no, self._buf[self._pos : self._pos + 200], too_long=True)
        self._pos += MAX_LINE_CHARS
        while True:  # skip to the end of the line, a read at a time
            m = _TERMINATOR.search(self._buf, self._pos)
            if m is not None and not (m[0] == "\r" and m.end() == len(self._buf)):
                self._pos = m.end() + (m[0] == "\r" and self._buf.startswith("\n", m.end()))
                return line
            self._pos = len(self._buf) - (m is not None)  # keep a CR whose LF may follow
            if not self._fill():
                self._pos = len(self._buf)
                return line

    def plain(self) -> tuple[int, list[str]] | None:
        """(number of the first line, texts) of the next run of whole plain lines, or None
        when the next line needs the line-by-line path. Reads more only while what is
        held has no line end at all, so the buffer stays within a line's limit."""
        if self._back:
            return None
        end = self._last_end()
        if end < 0:
            if len(self._buf) - self._pos >= MAX_LINE_CHARS or not self._fill():
                return None
            end = self._last_end()
            if end < 0:
                return None
        buf, pos = self._buf, self._pos
        m = _NOT_PLAIN.search(buf, pos, end + 1)
        stop = end if m is None else self._last_end(m.start())
        if stop < 0:
            return None
        run = buf[pos : stop + 1]
        lf = run.replace("\r\n", "\n")
        texts = lf.split("\n") if "\r" not in lf else _EOL.split(run)
        texts.pop()
        if max(map(len, texts)) >= MAX_LINE_CHARS:
            return None
        self._pos = stop + 1
        first = self.no + 1
        self.no += len(texts)
        return first, texts

    def _last_end(self, before: int | None = None) -> int:
        """Index of the last line end held from the current position (before ``before``),
        -1 when there is none. A CR at the very end of what was read is not an end yet:
        its LF may follow."""
        buf, pos = self._buf, self._pos
        if before is None:
            before = len(buf) - (buf.endswith("\r") and not self._eof)
        return max(buf.rfind("\n", pos, before), buf.rfind("\r", pos, before))

    def push_back(self, lines: list[Line]) -> None:
        self._back.extend(reversed(lines))


@dataclass(slots=True)
class Record:
    line_no: int  # physical line where the record starts
    cells: list[str] | None  # None when the record is damaged
    raw: str  # the record's text (its lines joined with \n)
    problem: tuple[str, str] | None = None  # (reason code, detail)


@dataclass(slots=True)
class Run:
    """The records of a run of plain lines without a quote, each exactly ``width`` cells
    wide, as columns: what a list of ``Record`` would hold, without an object per line."""

    line_nos: list[int]
    raws: list[str]  # each record's text
    columns: list[list[str]]  # by position in the header, each as long as line_nos
    chars: int  # the records' text, in characters

    def __len__(self) -> int:
        return len(self.line_nos)

    def records(self) -> list[Record]:
        rows = zip(*self.columns, strict=True) if self.columns else repeat((), len(self))
        return [
            Record(no, list(cells), raw)
            for no, cells, raw in zip(self.line_nos, rows, self.raws, strict=True)
        ]


class Records:
    """CSV records of a line stream. Set ``width`` once the header is known: a quoted
    field may then continue over several lines only into a record of that width."""

    def __init__(self, lines: Lines):
        self.lines = lines
        self.width: int | None = None
        self.bulk = False  # runs of plain records at once, as Runs or lists (``Lines.plain``)

    def __iter__(self) -> Iterator[Record | list[Record] | Run]:
        while True:
            if self.bulk and (run := self.lines.plain()) is not None:
                yield from self._plain(*run)
                continue
            line = next(self.lines, None)
            if line is None:
                return
            record = self._record(line)
            if record is not None:
                yield record

    def _plain(self, first: int, texts: list[str]) -> list[list[Record] | Run | Record]:
        """The records of a run of plain lines, each line one record, as the line-by-line
        path reads them: quoted cells through one strict CSV reader for the run; once the
        header's width is known, the other lines as columns (``_columns``), else as one
        list. When a quote does not close on its own line, the lines go back to be read
        one by one (nothing given)."""
        quoted = [text for text in texts if '"' in text]
        cells = iter(())
        if quoted:
            try:
                rows = list(csv.reader(quoted, strict=True))
            except csv.Error:
                rows = []
            if len(rows) != len(quoted):  # a record over several lines, or bad quoting
                self.lines.push_back([Line(no, text) for no, text in enumerate(texts, first)])
                return []
            cells = iter(rows)
        if self.width:
            return self._columns(first, texts, self.width, cells if quoted else None)
        records = [
            Record(no, next(cells) if '"' in text else text.split(","), text)
            for no, text in enumerate(texts, first)
            if not _ONLY_COMMAS.match(text)
        ]
        return [records] if records else []

    @staticmethod
    def _columns(
        first: int, texts: list[str], width: int, quoted: Iterator[list[str]] | None
    ) -> list[Run | Record]:
        """Each stretch of unquoted lines with exactly the header's width as one ``Run``
        (the stretch joined and split once, every width-th cell a column); any other line
        as a ``Record`` of its own (a quoted one with its next cells from ``quoted``); a
        line of only commas and blanks carries nothing and is skipped."""
        commas = list(map(str.count, texts, repeat(",")))
        blank = list(map(_ONLY_COMMAS.match, texts))
        quotes = [False] * len(texts) if quoted is None else ['"' in text for text in texts]
        odd = [
            i
            for i, (n, b, q) in enumerate(zip(commas, blank, quotes, strict=True))
            if b or q or n != width - 1
        ]
        items: list[Run | Record] = []
        start = 0
        for i in [*odd, len(texts)]:
            if i > start:
                part = texts[start:i]
                cells = ",".join(part).split(",")
                columns = [cells[k::width] for k in range(width)]
                lines = list(range(first + start, first + i))
                items.append(Run(lines, part, columns, sum(map(len, part))))
            if i < len(texts) and not blank[i]:
                text = texts[i]
                split = next(quoted) if quoted is not None and '"' in text else text.split(",")
                items.append(Record(first + i, split, text))
            start = i + 1
        return items

    def _record(self, line: Line) -> Record | None:
        """The record that starts on ``line``; None for a line that carries nothing."""
        if line.text.startswith("\ufeff"):  # a second export pasted after the first
            line = Line(line.no, line.text.lstrip("\ufeff"), line.too_long)
        text = line.text
        if line.too_long:
            return Record(
                line.no,
                None,
                text,
                ("line_too_long", f"line longer than {MAX_LINE_CHARS} characters"),
            )
        if "\x00" in text:
            return Record(line.no, None, text, ("nul_byte", "a NUL byte in the line"))
        if _UNDECODABLE.search(text):
            return Record(
                line.no,
                None,
                text,
                ("bad_encoding_row", "bytes that are not valid in the file's encoding"),
            )
        if _ONLY_COMMAS.match(text):
            return None  # empty line or a row of commas: carries nothing
        if '"' not in text:
            return Record(line.no, text.split(","), text)
        return self._quoted(line)

    def _quoted(self, first: Line) -> Record:
        cells, error = _parse_one(first.text)
        if error is None:
            return Record(first.no, cells, first.text)
        if error != "open":
            return Record(first.no, None, first.text, ("malformed_quoting", error))
        taken: list[Line] = []
        texts = [first.text]
        size = len(first.text)
        for line in self.lines:
            taken.append(line)
            if line.too_long or "\x00" in line.text or _UNDECODABLE.search(line.text):
                break
            texts.append(line.text)
            size += len(line.text) + 1
            if size > MAX_LINE_CHARS:
                return self._too_long(first, taken, texts)
            cells, error = _parse_one("\n".join(texts))
            if error == "open" and len(texts) < MAX_RECORD_LINES:
                continue
            if error is None and (self.width is None or fits_width(cells, self.width)):
                return Record(first.no, cells, "\n".join(texts))
            break
        # never closed (or closed into a record of the wrong shape): the opening line is
        # the damaged row; the lines after it are rows of their own
        self.lines.push_back(taken)
        return Record(
            first.no,
            None,
            first.text,
            ("unbalanced_quote", "a quote that is never closed"),
        )

    def _too_long(self, first: Line, taken: list[Line], texts: list[str]) -> Record:
        """A quoted field over the line limit: when its quote closes within the record
        limit the whole record is one damaged row; otherwise the opening quote is."""
        open_quotes = "\n".join(texts).count('"') % 2 == 1
        while open_quotes and len(taken) < MAX_RECORD_LINES:
            line = next(self.lines, None)
            if line is None:
                break
            taken.append(line)
            open_quotes ^= line.text.count('"') % 2 == 1
        if open_quotes:
            self.lines.push_back(taken)
            return Record(
                first.no, None, first.text, ("unbalanced_quote", "a quote that is never closed")
            )
        return Record(
            first.no,
            None,
            first.text[:200],
            ("line_too_long", f"a quoted field longer than {MAX_LINE_CHARS} characters"),
        )


def trimmed_width(cells: list[str]) -> int:
    """Number of cells once trailing empty cells are dropped."""
    n = len(cells)
    while n and not cells[n - 1].strip(INVISIBLE):
        n -= 1
    return n


def fits_width(cells: list[str], width: int) -> bool:
    """A row fits a header of ``width`` columns: that many cells, plus only empty ones
    (trailing empty columns, as spreadsheets write them, carry nothing)."""
    return len(cells) == width or (len(cells) > width and trimmed_width(cells) <= width)


def _parse_one(text: str) -> tuple[list[str] | None, str | None]:
    """One CSV record from text; error 'open' when a quoted field is not closed."""
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        msg = str(exc)
        if "unexpected end of data" in msg or "newline inside string" in msg:
            return None, "open"
        return None, f"malformed quoting ({msg})"
    if len(rows) != 1:
        return None, "open" if not rows else "malformed quoting (several records)"
    return rows[0], None


def open_lines(stream: BinaryIO) -> tuple[str, Lines]:
    """Sniff the encoding from the head of ``stream``; physical lines of the whole file.
    A file in memory (``io.BytesIO``: the loader's small files) that the head holds whole
    is decoded in one piece, any other incrementally, a block at a time: the same lines
    either way, and at most the head's text is held at once."""
    head = stream.read(SNIFF_BYTES)
    encoding = sniff_encoding(head, stream)
    if len(head) < SNIFF_BYTES and isinstance(stream, io.BytesIO):  # the whole file
        text = head.decode(encoding, errors="surrogateescape")
        return encoding, Lines(io.StringIO(text, newline=""))
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 16)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    return encoding, Lines(text)


def printable(text: str | None) -> str | None:
    """A raw line as storable text: undecodable bytes and NULs shown as escapes."""
    if text is None:
        return None
    if _UNDECODABLE.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00")


class _Prefixed(io.RawIOBase):
    """A raw stream that replays the sniffed head before the rest of the file."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)
