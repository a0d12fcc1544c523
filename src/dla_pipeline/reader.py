"""Reading one extract file: sniffing, encoding, header mapping, record streaming.

Everything here streams: a file is never held in memory whole, so memory does not
grow with file size. Problems are reported as ``FileReject`` (the whole file) or
as per-record issues the loader sends to quarantine.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .contract import Source

SNIFF_BYTES = 64 * 1024
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class FileReject(Exception):
    """The whole file cannot be used; ``reason`` is what quarantine shows."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def sniff_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) or Windows-874, per the contract."""
    if not head.strip(b" \t\r\n"):
        raise FileReject("not CSV: the file is empty")
    if b"\x00" in head:
        raise FileReject("not CSV: binary content (NUL bytes)")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # Whichever decodes with fewer errors wins; the rows that still do not decode are
    # quarantined one by one, so one damaged line does not cost the whole file.
    bad_utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head).count("\ufffd")
    bad_874 = head.decode("cp874", errors="replace").count("\ufffd")
    enc = "utf-8" if bad_utf8 <= bad_874 else "cp874"
    if min(bad_utf8, bad_874) > max(8, len(head) // 50):
        raise FileReject("unreadable encoding: neither UTF-8 nor Windows-874")
    text = head.decode(enc, errors="replace").lstrip().lower()
    if text.startswith(("<!doctype", "<html", "<?xml", "<head", "<body")) or "<html" in text[:512]:
        raise FileReject("not CSV: an HTML/XML document")
    if text.startswith(("{", "[")):
        raise FileReject("not CSV: a JSON document")
    return enc


class _Tap:
    """Line iterator that remembers the physical lines of the current record."""

    def __init__(self, lines):
        self._lines = lines
        self.buf: list[str] = []
        self.line_no = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line_no += 1
        self.buf.append(line)
        return line

    def take(self) -> str:
        text = "".join(self.buf).rstrip("\r\n")
        self.buf = []
        return text


@dataclass
class Record:
    line_no: int  # physical line where the record starts (the header is line 1)
    cells: list[str]
    raw: str
    problem: str | None = None  # set when the record cannot be converted at all


@dataclass
class Layout:
    encoding: str
    positions: dict[str, int]  # canonical column -> position
    extras: list[tuple[str, int]] = field(default_factory=list)  # unknown header -> position
    width: int = 0
    missing: list[str] = field(default_factory=list)


def open_records(raw: BinaryIO, source: Source) -> tuple[Layout, Iterator[Record]]:
    """Sniff, read the header, and return the layout plus a stream of data records.

    Raises ``FileReject`` when the file cannot be read as this source's CSV at all.
    A missing required column is *not* raised here: the caller gets
    ``layout.missing`` and quarantines every record with that reason.
    """
    head = raw.read(SNIFF_BYTES)
    encoding = sniff_encoding(head)
    stream = io.BufferedReader(_Prefixed(head, raw)) if head else raw
    text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
    tap = _Tap(text)
    reader = csv.reader(tap, strict=False)
    header: list[str] | None = None
    try:
        for cells in reader:
            tap.take()
            if any(c.strip() for c in cells):
                header = cells
                break
    except csv.Error as exc:
        raise FileReject(f"not CSV: {exc}") from None
    if header is None:
        raise FileReject("not CSV: no header row")
    if any(_UNDECODABLE.search(c) for c in header):
        raise FileReject(f"unreadable encoding: header is not valid {encoding}")

    positions: dict[str, int] = {}
    extras: list[tuple[str, int]] = []
    for i, cell in enumerate(header):
        name = source.canonical(cell)
        if name is None:
            label = cell.strip() or f"column_{i + 1}"
            extras.append((label, i))
        elif name in positions:
            raise FileReject(f"duplicate column {name!r} in the header", field=name)
        else:
            positions[name] = i
    missing = [c for c in source.required if c not in positions]
    if not positions:
        raise FileReject(
            f"not CSV: no recognised column in the header (not a {source.name} extract)"
        )
    layout = Layout(encoding, positions, extras, len(header), missing)
    return layout, _records(reader, tap, layout)


def _records(reader, tap: _Tap, layout: Layout) -> Iterator[Record]:
    while True:
        start = tap.line_no + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(start, [], tap.take(), problem=f"malformed CSV: {exc}")
            continue
        raw = tap.take()
        if not any(c.strip() for c in cells):
            continue  # empty line: ignored by contract
        rec = Record(start, cells, raw)
        if "\x00" in raw:
            rec.problem = "binary content (NUL byte) in the row"
        elif _UNDECODABLE.search(raw):
            rec.problem = f"unreadable encoding: bytes that are not valid {layout.encoding}"
        elif len(cells) != layout.width:
            rec.problem = f"wrong column count: expected {layout.width} fields, found {len(cells)}"
        yield rec


def printable(text: str) -> str:
    """A raw line as storable text: undecodable bytes and NULs shown as escapes."""
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
