"""The encoding of one extract, judged from its bytes before any line is read.

The contract (extracts.md) accepts UTF-8, UTF-8 with a BOM and Windows-874 (Thai). What
else arrives is refused as a whole, with a reason that names what it looks like: an empty
file, a workbook or archive (by its magic bytes), UTF-16/32 with or without a BOM, NULs in
most lines, or another double-byte encoding (Shift-JIS, EUC, Big5, GB18030).

The choice is made by lines, not by bytes: the first ``EVIDENCE_MAX`` lines with non-ASCII
text in the 64 KB head (looked for past the head when it holds fewer than
``EVIDENCE_LINES``), so that a stray byte or two damaged rows never decide a big file. A
Thai header settles it; otherwise the encoding most of those lines read in wins, and
Windows-874 counts a line only if it follows Thai spelling. A line that does not read in
the chosen encoding is a damaged row for ``csvread``, not a refusal.
"""

from __future__ import annotations

import codecs
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import BinaryIO

SNIFF_BYTES = 64 * 1024  # the head: what the sniff reads before it decides
# a longer line is a damaged row (csvread); the sniff never holds more of one either
MAX_LINE_CHARS = 64 * 1024
# white space and invisible characters that may surround a header name or a value
INVISIBLE = (
    " \t\r\n\u00a0\u00ad\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u202f\u205f\u2060\u3000\ufeff"
)

BINARY_MAGIC = (
    (b"PK\x03\x04", "a ZIP or XLSX workbook"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (XLS) workbook"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)


class Unreadable(Exception):
    """The file as a whole cannot be read as CSV; ``code`` names the reason."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(slots=True)
class Later:
    """Lines with non-ASCII text found past the head, and how many lines were scanned up
    to the last of them (all that were scanned when fewer were found)."""

    lines: list[bytes]
    span: int


def sniff_encoding(head: bytes, rest: BinaryIO | None = None) -> str:
    """The file's encoding per the contract, or ``Unreadable`` saying why not.

    ``head`` is the start of the file; ``rest``, the stream positioned after it, is
    looked into (and sought back) when the head holds too few lines with non-ASCII text
    (see ``later_evidence``). The encoding is judged by *lines*, as the contract judges
    damage: a damaged line is a bad row, so a few of them never decide the file's
    encoding or reject it.
    """
    _refuse_by_head(head)  # what the head alone refuses costs no scan of the rest
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    body = head if len(head) < SNIFF_BYTES else head[: _last_break(head) + 1]
    high, upto, lines = _head_evidence(body)
    later = None
    if rest is not None and len(high) < EVIDENCE_LINES:
        later = later_evidence(rest, head, EVIDENCE_LINES - len(high))
    if later is not None and later.span:  # the rest of the file was looked at too
        span = lines + later.span
        high += later.lines
    else:  # lines up to the last one looked at, and never fewer than a sample
        span = max(upto, min(EVIDENCE_MAX, lines))
    first = _LINE_BREAK.split(body, EVIDENCE_LINES)[:EVIDENCE_LINES]
    header = next((line for line in first if line.strip(b" \t,")), b"")
    enc = _choose_encoding([line for line in high if b"\x00" not in line], span, header)
    start = head[:4096].replace(b"\x00", b"").decode(enc, errors="replace")
    lowered = start.lstrip(INVISIBLE)[:1024].lower()
    if lowered.startswith(("<!doctype", "<html", "<?xml", "<head", "<body")) or (
        "<html" in lowered[:512]
    ):
        raise Unreadable("not_csv", "not CSV: an HTML/XML document (an error page?)")
    if lowered.startswith(("{", "[")):
        raise Unreadable("not_csv", "not CSV: a JSON document")
    return enc


def _refuse_by_head(head: bytes) -> None:
    """What the head alone refuses: an empty file, UTF-16/32, a known binary format, NULs
    in most lines."""
    if not head.strip(b" \t\r\n\x00"):
        raise Unreadable("empty_file", "not CSV: the file is empty")
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
        (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
    ):
        if head.startswith(bom):
            raise Unreadable(
                "bad_encoding",
                f"unreadable encoding: the file is {name}; save it as UTF-8 or Windows-874",
            )
    for magic, what in BINARY_MAGIC:
        if head.startswith(magic):
            raise Unreadable("binary_file", f"not CSV: binary content ({what})")
    _refuse_nul_heavy(head)


def _refuse_nul_heavy(head: bytes) -> None:
    """UTF-16/32 without a byte-order mark, or binary content: NUL bytes in the first line
    or in most lines. NULs confined to a few lines (rows padded with zeros, however long)
    damage those rows only."""
    sample = head[:4096]
    if 0 not in sample:
        return
    lines = _LINE_BREAK.split(head)
    if b"\x00" not in lines[0] and sum(b"\x00" in line for line in lines) * 2 <= len(lines):
        return
    _refuse_wide(sample)
    if sample.count(0) * 10 > len(sample):
        raise Unreadable("binary_file", "not CSV: binary content (many NUL bytes)")


def _refuse_wide(sample: bytes) -> None:
    """UTF-32 or UTF-16 without a byte-order mark, by the bytes every character has: in
    UTF-32 the top two of four are NUL; in UTF-16 the high byte is NUL (Latin) or 0x0E
    (Thai); and the low byte is mostly not NUL. Text in UTF-8 or Windows-874 never looks
    like that, and zero padding fails the last test."""
    n = len(sample) // 4 * 4
    if n < 16:
        return
    s = sample[:n]
    quarter = n // 4
    for name, zeros, low in (
        ("UTF-32 (little-endian)", (2, 3), 0),
        ("UTF-32 (big-endian)", (0, 1), 3),
    ):
        if s[low::4].count(0) * 2 < quarter and all(
            s[i::4].count(0) * 10 >= quarter * 9 for i in zeros
        ):
            raise Unreadable(
                "bad_encoding",
                f"unreadable encoding: the file looks like {name} without a byte-order mark;"
                " save it as UTF-8 or Windows-874",
            )
    for name, i in (("UTF-16 (little-endian)", 1), ("UTF-16 (big-endian)", 0)):
        high, low = s[i::2], s[1 - i :: 2]
        if low.count(0) * 2 < len(low) and (high.count(0) + high.count(0x0E)) * 10 >= len(high) * 9:
            raise Unreadable(
                "bad_encoding",
                f"unreadable encoding: the file looks like {name} without a byte-order mark;"
                " save it as UTF-8 or Windows-874",
            )


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
EVIDENCE_LINES = 16  # lines that are not ASCII wanted before the encoding is decided
EVIDENCE_MAX = 64  # lines with non-ASCII text in the head looked at, at most
EVIDENCE_BYTES = 4096  # of each such line


def _last_break(data: bytes) -> int:
    return max(data.rfind(b"\n"), data.rfind(b"\r"))


def _count_lines(data: bytes, end: int) -> int:
    """Physical lines that ``data[:end]`` starts (CRLF, LF or CR alone end one)."""
    crlf = data.count(b"\r\n", 0, end)
    return data.count(b"\n", 0, end) + data.count(b"\r", 0, end) - crlf + 1


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _choose_encoding(high: list[bytes], span: int, header: bytes) -> str:
    """The encoding of lines with non-ASCII text (``high``) out of ``span`` lines.

    A header with Thai names settles it when it reads in one encoding only. Otherwise
    UTF-8 when most lines read as UTF-8 (Windows-874 Thai text almost never does), else
    Windows-874 when more of them read as Thai. Refused when most of them read in neither
    and they are a quarter of the lines: the file is in another encoding, not damaged
    here and there (a line in the other listed encoding is a damaged row of this file).
    """
    if not high or _decodes(b"\n".join(high), "utf-8"):
        return "utf-8"  # the usual file: every line with Thai text is UTF-8
    if not header.isascii() and b"\x00" not in header:
        as_utf8, as_874 = _lines_read_as([header], "utf-8"), _lines_read_as([header], "cp874")
        if as_utf8 != as_874:
            return "utf-8" if as_utf8[0] else "cp874"
    utf8, cp874 = _lines_read_as(high, "utf-8"), _lines_read_as(high, "cp874")
    neither = [line for line, u, t in zip(high, utf8, cp874, strict=True) if not (u or t)]
    if len(neither) > 1 and len(neither) * 2 > len(high) and len(neither) * 4 > span:
        raise Unreadable(
            "bad_encoding",
            f"unreadable encoding: {_guess_encoding(neither)}; {len(neither)} of {len(high)}"
            " lines with non-ASCII text are neither UTF-8 nor Windows-874; save it as UTF-8",
        )
    bad_utf8, bad_874 = utf8.count(False), cp874.count(False)
    return "cp874" if bad_utf8 * 2 > len(high) and bad_874 < bad_utf8 else "utf-8"


# Thai spelling: a vowel or tone mark sits on a consonant, on another mark or on sara am
# (นำ้ is typed that way), and the archaic signs are not written today. Text in another
# double-byte encoding read as Windows-874 breaks this.
_MARKS = "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
_NOT_THAI = re.compile(f"(?<![\u0e01-\u0e2e\u0e33{_MARKS}])[{_MARKS}]|[\u0e4f\u0e5a\u0e5b]")


def _lines_read_as(lines: list[bytes], encoding: str) -> list[bool]:
    """For each line, whether it reads in ``encoding`` (for Windows-874: and follows Thai
    spelling). One decode of all the lines; a bad byte never swallows a line break."""
    joined = b"\n".join(lines)
    text = joined.decode(encoding, errors="replace")
    ok = ["\ufffd" not in part for part in text.split("\n")]
    if encoding == "cp874" and _may_break_thai_spelling(joined):
        starts = list(accumulate((len(line) + 1 for line in lines), initial=0))
        pos = 0
        while (m := _NOT_THAI.search(text, pos)) is not None:  # one byte a character
            i = bisect_right(starts, m.start()) - 1
            ok[i] = False
            pos = starts[i + 1]  # the next line
    return ok


# Windows-874 bytes by their part in Thai spelling: C what a mark may sit on (consonant,
# sara am), M vowel or tone mark written above or below, A archaic sign, O anything else
_THAI_PARTS = bytearray(b"O" * 256)
for _first, _last, _part in (
    (0xA1, 0xCE, b"C"),
    (0xD3, 0xD3, b"C"),
    (0xD1, 0xD1, b"M"),
    (0xD4, 0xDA, b"M"),
    (0xE7, 0xEE, b"M"),
    (0xEF, 0xEF, b"A"),
    (0xFA, 0xFB, b"A"),
):
    _THAI_PARTS[_first : _last + 1] = _part * (_last + 1 - _first)
_THAI_PARTS = bytes(_THAI_PARTS)


def _may_break_thai_spelling(data: bytes) -> bool:
    """Cheap test first (byte substrings); ``_NOT_THAI`` then finds the lines."""
    parts = data.translate(_THAI_PARTS)
    return parts.startswith(b"M") or b"OM" in parts or b"A" in parts


# encodings office software in the region writes, tried only to name a refused file's one
OTHER_ENCODINGS = (
    ("shift_jis", "Shift-JIS (Japanese)"),
    ("euc_jp", "EUC-JP (Japanese)"),
    ("euc_kr", "EUC-KR (Korean)"),
    ("big5", "Big5 (Chinese)"),
    ("gb18030", "GB18030 (Chinese)"),
)


def _guess_encoding(lines: list[bytes]) -> str:
    for codec, name in OTHER_ENCODINGS:
        if all(_decodes(line, codec) for line in lines):
            return f"the file looks like {name}"
    return "the file is in an encoding that is not UTF-8 or Windows-874"


def later_evidence(stream: BinaryIO, head: bytes, want: int) -> Later | None:
    """Up to ``want`` lines with non-ASCII text past the head (its own unfinished last
    line included): a file may start with thousands of ASCII rows. None when the head is
    the whole file or the stream cannot seek back."""
    if len(head) < SNIFF_BYTES or not stream.seekable():
        return None
    cut = _last_break(head)
    start = stream.tell()
    found: list[bytes] = []
    span = 0
    carry = head[cut + 1 :][-MAX_LINE_CHARS:]
    try:
        while len(found) < want:
            block = stream.read(1 << 20)
            data = carry + block
            cut = _last_break(data) if block else len(data)
            if cut < 0:
                cut = len(data)  # no line break in a whole block: take it as it is
            data, carry = data[:cut], data[cut + 1 :][-MAX_LINE_CHARS:]
            lines, end = _high_lines(data, want - len(found)) if not data.isascii() else ([], 0)
            found += lines
            span += _count_lines(data, end if len(found) >= want else len(data))
            if not block:
                break
        return Later(found, span)
    finally:
        stream.seek(start)


_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _head_evidence(body: bytes) -> tuple[list[bytes], int, int]:
    """The first ``EVIDENCE_MAX`` lines of the head with non-ASCII text, the number of
    lines up to the last of them, and the head's number of lines."""
    if body.isascii():
        return [], 0, _count_lines(body, len(body))
    lines = _LINE_BREAK.split(body)
    high: list[bytes] = []
    upto = 0
    for i, line in enumerate(lines):
        if not line.isascii():
            high.append(_clip(line))
            upto = i + 1
            if len(high) == EVIDENCE_MAX:
                break
    return high, upto, len(lines) - (lines[-1] == b"")


def _clip(line: bytes) -> bytes:
    """The first ``EVIDENCE_BYTES`` of a line, cut between characters."""
    stop = min(len(line), EVIDENCE_BYTES)
    for _ in range(3):  # not inside a UTF-8 character (at most 3 bytes follow a lead)
        if stop < len(line) and 0x80 <= line[stop] < 0xC0:
            stop -= 1
    return line[:stop]


def _high_lines(data: bytes, want: int) -> tuple[list[bytes], int]:
    """Up to ``want`` lines of ``data`` that hold a byte that is not ASCII (their first
    ``EVIDENCE_BYTES``, cut between characters), and where the last of them ends."""
    found: list[bytes] = []
    pos = 0
    while len(found) < want and (m := _HIGH_BYTE.search(data, pos)) is not None:
        at = m.start()
        start = max(pos - 1, data.rfind(b"\n", pos, at), data.rfind(b"\r", pos, at)) + 1
        ends = [i for i in (data.find(b"\n", at), data.find(b"\r", at)) if i >= 0]
        pos = min(ends, default=len(data))
        found.append(_clip(data[start:pos]))
        pos += 1
    return found, min(pos, len(data))
