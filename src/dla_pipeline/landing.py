"""The landing zone as a trust boundary.

7,849 organisations write here with whatever their office software produces, so
nothing under the root is trusted:

* Only **regular files** are read. Every folder below the root is opened with
  ``O_NOFOLLOW`` relative to its parent's descriptor, every entry is checked with
  ``lstat``, a file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again with
  ``fstat`` (same inode as scanned, still a regular file, one link), and its real path
  must stay under the root. Symlinks (in or out of the tree), folders named like
  files, FIFOs, sockets and devices are recorded with a reason and never opened, so
  nothing can hang a load or leak a file from outside the root.
* What does not follow ``<source>/<YYYY-MM-DD>/<lao_code>.csv`` is recorded, never
  invisible and never fatal: inside a night folder as a rejected entry of the night
  (its rows quarantined), outside one as a landing issue (a date folder in BE or
  without zero padding, a file at a source root, an unknown or wrongly cased folder,
  a hidden file).
* Two names for the same LAO and night (``5510104.csv``, ``5510104.CSV``): the most
  recently modified is the LAO's file, the other is superseded.

``scan`` returns a value (``NightScan``); ``open`` gives a binary stream of one entry (a
small file's bytes already read, when the caller asks). A loader reads thousands of files
of one folder: the folder is opened once and held until ``close`` (the landing is a
context manager), each file then opened relative to it. A root given as an fsspec URL
(``s3://...``) has no symlinks or devices: it is listed with fsspec and only its files
are entries.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

from .config import SOURCES

# \Z, not $: "6110111.csv\n" is not an LAO's file name
LAO_NAME = re.compile(r"([0-9]{7})\.csv\Z", re.IGNORECASE)
PART = re.compile(r"\.part\Z", re.IGNORECASE)
NIGHT_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_LOOSE_YMD = re.compile(r"([0-9]{4})[-_./ ]([0-9]{1,2})[-_./ ]([0-9]{1,2})\Z")
_LOOSE_DMY = re.compile(r"([0-9]{1,2})[-_./ ]([0-9]{1,2})[-_./ ]([0-9]{4})\Z")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
MAX_DEPTH = 3  # subfolders of a night folder that are listed
MAX_ENTRIES = 50_000  # entries listed per scan (LAO files first); more are summarised in one issue
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
HELD_FOLDERS = 8  # folders a landing keeps open for the files it reads next


class LandingError(RuntimeError):
    """The landing root itself is unusable (a configuration error, not an LAO's)."""


def printable_name(name: str) -> str:
    """A file name as storable text: bytes that are not UTF-8 and control characters
    (a newline in a name) are shown as escapes, and a backslash as two, so that two
    different names never print the same."""
    if name.isascii() and name.isprintable() and "\\" not in name:
        return name  # most names: nothing to escape (a space is printable)
    return _escaped(name)


def _escaped(name: str) -> str:
    """``printable_name`` character by character (any name)."""
    text = os.fsencode(name).decode("utf-8", "surrogateescape")
    out = []
    for c in text:
        if "\udc80" <= c <= "\udcff":
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c == "\\":
            out.append("\\\\")
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def night_of_folder(name: str) -> date | None:
    """The date a folder name denotes, leniently (BE year, no zero padding, Thai digits)."""
    name = name.strip().translate(_THAI_DIGITS)
    if m := _LOOSE_YMD.fullmatch(name):
        y, mo, d = map(int, m.groups())
    elif m := _LOOSE_DMY.fullmatch(name):
        d, mo, y = map(int, m.groups())
    else:
        return None
    if y > 2400:
        y -= 543
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def is_night_folder(name: str) -> bool:
    """The layout's date folder: the extract date in CE, ISO, zero-padded."""
    d = night_of_folder(name) if NIGHT_NAME.fullmatch(name) else None
    return d is not None and d.isoformat() == name


_KIND = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def kind_of(mode: int) -> str:
    for test, name in _KIND:
        if test(mode):
            return name
    return "other"


@dataclass
class Entry:
    """One entry of a night folder (a path relative to it, '/'-separated)."""

    name: str  # printable, as recorded in the ledger
    kind: str
    lao_code: str | None = None  # from a name <lao_code>.csv
    size: int | None = None
    mtime_ns: int | None = None
    signature: str | None = None  # dev:ino:size:mtime_ns:ctime_ns (``signature``)
    read: bool = True  # a regular file the loader may open
    # (code, detail, status) when the entry is refused as a whole; its rows, if it is
    # read, are all quarantined with this reason
    reject: tuple[str, str, str] | None = None
    parts: tuple[str, ...] = ()  # os-level path components under the night folder
    ident: tuple[int, int] | None = None  # (st_dev, st_ino) when scanned


@dataclass
class Issue:
    """Something outside the night folders that does not follow the layout."""

    path: str  # relative to the root, printable
    kind: str
    code: str
    detail: str
    scope: str  # 'root' or the source whose folder it is in
    source: str | None = None
    night: date | None = None
    size: int | None = None

    @property
    def key(self) -> str:
        return hashlib.sha256(self.path.encode()).hexdigest()


@dataclass
class NightScan:
    source: str
    night: date
    entries: list[Entry] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    uploads_in_progress: list[str] = field(default_factory=list)

    @property
    def scopes(self) -> tuple[str, ...]:
        return ("root", self.source)


def _refuse(kind: str, name: str) -> tuple[str, str, str]:
    what = {
        "symlink": "a symlink",
        "directory": "a folder",
        "fifo": "a FIFO (named pipe)",
        "socket": "a socket",
        "character device": "a device",
        "block device": "a device",
    }.get(kind, f"not a regular file ({kind})")
    return ("not_regular_file", f"{name} is {what}, not a regular file: never read", "rejected")


class LocalLanding:
    """A landing zone on the local file system. It holds the folders it reads open: one
    instance per reader (a batch, a reconciliation), not shared between threads."""

    def __init__(self, root: Path):
        self._held: dict[tuple[str, ...], int] = {}  # folder -> its open descriptor
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise LandingError(
                f"LANDING_DIR {root} does not exist or is not a folder: create it, or set"
                " LANDING_DIR to the landing zone (nothing was loaded or published)"
            )
        self.root = real

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the folders held open for reading (``open`` holds them)."""
        held, self._held = self._held, {}
        for fd in held.values():
            os.close(fd)

    def __del__(self) -> None:
        self.close()

    # -- scanning -----------------------------------------------------------------
    def scan(self, source: str, night: date) -> NightScan:
        self.close()  # a file read after this scan is read from the folder it listed
        scan = NightScan(source, night)
        self._scan_root(scan)
        self._scan_source(scan)
        try:
            fd = self._open_dir((source, night.isoformat()))
        except FileNotFoundError:
            return scan
        except OSError as exc:
            kind = self._kind_at((source, night.isoformat()), exc)
            scan.issues.append(
                Issue(
                    f"{source}/{night.isoformat()}",
                    kind,
                    "not_regular_file",
                    f"{source}/{night.isoformat()} is not a real folder (it is {_ARTICLE.get(kind, kind)}): never read",
                    source,
                    source,
                    night,
                )
            )
            return scan
        try:
            self._list_night(scan, fd, (), 0)
        finally:
            os.close(fd)
        _mark_superseded(scan.entries)
        return scan

    def _kind_at(self, parts: tuple[str, ...], exc: OSError) -> str:
        """What a path that could not be opened as a folder really is."""
        path = self.root
        for part in parts:
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except OSError:
                return "missing"
            if not stat.S_ISDIR(st.st_mode):
                return kind_of(st.st_mode)
        return "other" if exc else "directory"

    def _open_dir(self, parts: tuple[str, ...]) -> int:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _list_night(self, scan: NightScan, fd: int, prefix: tuple[str, ...], depth: int) -> None:
        # LAO files first: junk cannot push them past the listing limit
        for name in sorted(os.listdir(fd), key=lambda n: (LAO_NAME.fullmatch(n) is None, n)):
            if len(scan.entries) >= MAX_ENTRIES:
                scan.issues.append(
                    Issue(
                        f"{scan.source}/{scan.night.isoformat()}/…",
                        "other",
                        "bad_layout",
                        f"more than {MAX_ENTRIES} entries in the night folder: the rest were not listed",
                        scan.source,
                        scan.source,
                        scan.night,
                    )
                )
                return
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            rel = (*prefix, name)
            label = "/".join(map(printable_name, rel))
            kind = kind_of(st.st_mode)
            if kind == "file" and PART.search(name) and not name.startswith("."):
                scan.uploads_in_progress.append(label)
                continue
            entry = Entry(label, kind, parts=rel, size=st.st_size, mtime_ns=st.st_mtime_ns)
            m = LAO_NAME.fullmatch(name)
            if m and not prefix:
                entry.lao_code = m[1]
            if kind == "file":
                entry.ident = (st.st_dev, st.st_ino)
                entry.signature = signature(st)
                entry.reject = _file_problem(name, label, prefix, st)
                entry.read = entry.reject is None or entry.reject[0] == "bad_layout"
            else:
                entry.read, entry.size = False, None
                entry.reject = _refuse(kind, label)
            scan.entries.append(entry)
            if kind == "directory" and depth < MAX_DEPTH:
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                try:
                    self._list_night(scan, sub, rel, depth + 1)
                finally:
                    os.close(sub)

    def _scan_root(self, scan: NightScan) -> None:
        for name in sorted(os.listdir(self.root)):
            try:
                st = os.lstat(os.path.join(self.root, name))
            except FileNotFoundError:
                continue  # removed while we looked
            kind = kind_of(st.st_mode)
            label = printable_name(name)
            if name in SOURCES and kind == "directory":
                continue
            guess = name.lower() if name.lower() in SOURCES else None
            if name.startswith("."):
                code, detail = "hidden_file", f"{label} is hidden (its name starts with a dot)"
            elif kind != "directory":
                code, detail = (
                    _refuse(kind, label)[:2]
                    if kind != "file"
                    else (
                        "unknown_folder",
                        f"{label} is a file at the landing root (expected <source>/<YYYY-MM-DD>/<lao_code>.csv)",
                    )
                )
            elif guess:
                code, detail = (
                    "unknown_folder",
                    f"source folder {label!r} is wrongly cased (expected {guess!r}): not read",
                )
            else:
                code, detail = "unknown_folder", f"unknown folder {label!r} at the landing root"
            scan.issues.append(Issue(label, kind, code, detail, "root", guess, None, _size(st)))
            if kind == "directory" and guess:
                self._list_issues(scan, (name,), guess, "root", None, 1)

    def _scan_source(self, scan: NightScan) -> None:
        try:
            fd = self._open_dir((scan.source,))
        except FileNotFoundError:
            return
        except OSError:
            return  # a symlinked source folder is reported by _scan_root
        try:
            names = sorted(os.listdir(fd))
            for name in names:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                kind = kind_of(st.st_mode)
                label = f"{scan.source}/{printable_name(name)}"
                if kind == "directory" and is_night_folder(name):
                    continue  # a night folder (this night's is scanned by scan())
                night = night_of_folder(name)
                if name.startswith("."):
                    code, detail = "hidden_file", f"{label} is hidden (its name starts with a dot)"
                elif kind == "directory" and night:
                    code, detail = (
                        "bad_date_folder",
                        f"date folder {label!r} is not the extract date written as YYYY-MM-DD (CE):"
                        f" rename it {night.isoformat()}; its files were not read",
                    )
                elif kind == "directory":
                    code, detail = "unknown_folder", f"folder {label!r} is not a date YYYY-MM-DD"
                elif kind == "file":
                    code, detail = (
                        "unknown_folder",
                        f"{label} is a file directly under {scan.source}/ (expected"
                        f" {scan.source}/<YYYY-MM-DD>/<lao_code>.csv): not read",
                    )
                else:
                    code, detail = _refuse(kind, label)[:2]
                scan.issues.append(
                    Issue(label, kind, code, detail, scan.source, scan.source, night, _size(st))
                )
                if kind == "directory":
                    self._list_issues(scan, (scan.source, name), scan.source, scan.source, night, 1)
        finally:
            os.close(fd)

    def _list_issues(self, scan, parts, source, scope, night, depth) -> None:
        """Files inside a folder that breaks the layout: each one recorded, none read."""
        if depth > MAX_DEPTH or len(scan.issues) >= MAX_ENTRIES:
            return
        try:
            fd = self._open_dir(parts)
        except OSError:
            return
        try:
            for name in sorted(os.listdir(fd)):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                kind = kind_of(st.st_mode)
                label = "/".join(printable_name(p) for p in (*parts, name))
                folder_night = night or night_of_folder(name)
                scan.issues.append(
                    Issue(
                        label,
                        kind,
                        "bad_layout",
                        f"{label} is outside the layout <source>/<YYYY-MM-DD>/<lao_code>.csv: not read",
                        scope,
                        source,
                        folder_night,
                        _size(st),
                    )
                )
                if kind == "directory":
                    self._list_issues(scan, (*parts, name), source, scope, folder_night, depth + 1)
        finally:
            os.close(fd)

    # -- reading --------------------------------------------------------------------
    def open(self, source: str, night: date, entry: Entry, in_memory_up_to: int = 0) -> BinaryIO:
        """A regular file of the night, opened without following any link. A file of at
        most ``in_memory_up_to`` bytes comes as its bytes, read at once (``io.BytesIO``)."""
        if not entry.read or entry.kind != "file":
            raise PermissionError(f"{entry.name} is not a regular file")
        fd = os.open(
            entry.parts[-1],
            _FILE_FLAGS,
            dir_fd=self._folder((source, night.isoformat(), *entry.parts[:-1])),
        )
        try:
            st = self._as_scanned(fd, entry)
            streamed = not (in_memory_up_to and st.st_size <= in_memory_up_to)
            if streamed:
                os.set_blocking(fd, True)
                raw = _UpTo(fd, st.st_size)  # it owns the descriptor from here on
            else:  # a regular file: O_NONBLOCK changes nothing
                data = _read_steady(fd, entry.name, st, in_memory_up_to)
        except BaseException:
            os.close(fd)
            raise
        if streamed:
            try:
                return _Streamed(raw, entry.name, st)
            except BaseException:
                raw.close()
                raise
        os.close(fd)
        return io.BytesIO(data)

    def _as_scanned(self, fd: int, entry: Entry) -> os.stat_result:
        """The open file's status, once it is shown to be the regular file the scan listed,
        unchanged since, under the root."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{entry.name} is no longer a regular file")
        if entry.ident and (st.st_dev, st.st_ino) != entry.ident:
            raise PermissionError(f"{entry.name} was replaced while the night was read")
        if st.st_nlink > 1:
            raise PermissionError(f"{entry.name} is a hard link (the file has other names)")
        if _PROC_FD:  # where the kernel says the open file is (no link left to follow)
            real = os.readlink(f"/proc/self/fd/{fd}")
            if not real.startswith(self.root + os.sep):
                raise PermissionError(f"{entry.name} resolves outside the landing root")
        if entry.signature and signature(st) != entry.signature:  # its size bound too
            raise _changed(entry.name, entry.size or 0, st.st_size)
        return st

    def check_unchanged(self, fh: BinaryIO) -> None:
        """Raise ``OSError`` when a file ``open`` streamed changed since it was opened (a
        small file read at once was checked then): its checksum and its rows would not
        be of the same bytes. Call it once the file is read."""
        if isinstance(fh, _Streamed):
            _check_steady(fh.entry_name, fh.opened, os.fstat(fh.fileno()))

    def _folder(self, parts: tuple[str, ...]) -> int:
        """A folder's descriptor, opened link by link the first time and held after."""
        fd = self._held.get(parts)
        if fd is None:
            if len(self._held) >= HELD_FOLDERS:
                self.close()
            fd = self._held[parts] = self._open_dir(parts)
        return fd


def _read_steady(fd: int, name: str, st: os.stat_result, limit: int) -> bytes:
    """The bytes of an open file of ``st.st_size`` bytes, read at once, refused when it
    changed while read; never more than ``limit + 1`` bytes in memory."""
    data = _read_upto(fd, limit, st.st_size + 1)
    if len(data) != st.st_size:  # it grew past the bound or shrank
        raise _changed(name, st.st_size, len(data))
    _check_steady(name, st, os.fstat(fd))
    return data


def _read_upto(fd: int, limit: int, first: int) -> bytes:
    """The bytes of an open file up to its end, or the first ``limit + 1`` of them when
    it is longer (it grew since it was measured): never more in memory than that.
    ``first``: the size of the first read (the file's size + 1: one system call)."""
    blocks, left = [], limit + 1
    size = min(first, left)
    while left > 0 and (block := os.read(fd, size)):
        blocks.append(block)
        left -= len(block)
        size = min(left, 1 << 20)
    return b"".join(blocks)


class _UpTo(io.FileIO):
    """A file read no further than ``limit`` bytes (its size when opened): one that grows
    while it is streamed is not read on, and ``check_unchanged`` then refuses it."""

    def __init__(self, fd: int, limit: int):
        self.limit = limit
        super().__init__(fd, "rb", closefd=True)

    def readinto(self, buffer) -> int:
        left = self.limit - self.tell()
        if left <= 0:
            return 0
        view = memoryview(buffer)
        return super().readinto(view[:left] if len(view) > left else view)

    def read(self, size: int | None = -1) -> bytes:
        left = max(self.limit - self.tell(), 0)
        return super().read(left if size is None or size < 0 or size > left else size)

    def readall(self) -> bytes:
        return self.read()


class _Streamed(io.BufferedReader):
    """A landing file read as a stream, with the status it was opened with."""

    def __init__(self, raw: _UpTo, entry_name: str, opened: os.stat_result):
        super().__init__(raw, buffer_size=1 << 16)
        self.entry_name, self.opened = entry_name, opened


def signature(st: os.stat_result) -> str:
    """What says a local file is unchanged: device, inode, size, mtime and ctime (a
    re-send written in place with its old mtime still changes its ctime)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _check_steady(name: str, before: os.stat_result, after: os.stat_result) -> None:
    if signature(before) != signature(after):
        raise _changed(name, before.st_size, after.st_size)


def _changed(name: str, was: int, now: int) -> OSError:
    return OSError(
        f"{name} changed while it was read ({was:,} bytes when the night was listed or the"
        f" file opened, {now:,} now; or its owner, mode or times changed): nothing of it was"
        " loaded; it is read again at the next load. An LAO uploads a file under a .part"
        " name and renames it when it is complete"
    )


_PROC_FD = os.path.isdir("/proc/self/fd")


def _file_problem(name: str, label: str, prefix: tuple[str, ...], st: os.stat_result):
    if name.startswith("."):
        return (
            "hidden_file",
            f"{label} is hidden (its name starts with a dot): not read",
            "rejected",
        )
    if st.st_nlink > 1:
        return (
            "not_regular_file",
            f"{label} is a hard link (the same file has other names): never read",
            "rejected",
        )
    if prefix:
        return (
            "bad_layout",
            f"path does not follow the layout <source>/<YYYY-MM-DD>/<lao_code>.csv:"
            f" {label} is in a subfolder of the night folder",
            "rejected",
        )
    if not LAO_NAME.fullmatch(name):
        return (
            "bad_layout",
            f"path does not follow the layout <source>/<YYYY-MM-DD>/<lao_code>.csv:"
            f" {label} is not named <lao_code>.csv (7 digits, then .csv)",
            "rejected",
        )
    return None


def _mark_superseded(entries: list[Entry]) -> None:
    """Of several names for one LAO, the most recently modified regular file wins."""
    by_lao: dict[str, list[Entry]] = {}
    for e in entries:
        if e.lao_code and e.read and e.reject is None:
            by_lao.setdefault(e.lao_code, []).append(e)
    for lao, group in by_lao.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda e: (-(e.mtime_ns or 0), e.name != f"{lao}.csv", e.name))
        winner = group[0]
        for e in group[1:]:
            e.reject = (
                "superseded",
                f"{e.name} is superseded by {winner.name}, the most recently modified file"
                f" of LAO {lao} for this night",
                "superseded",
            )


def _size(st: os.stat_result) -> int | None:
    return st.st_size if stat.S_ISREG(st.st_mode) else None


_ARTICLE = {
    "symlink": "a symlink",
    "file": "a file",
    "fifo": "a FIFO",
    "socket": "a socket",
    "character device": "a device",
    "block device": "a device",
    "missing": "under a path that is not a folder",
}


class FsspecLanding:
    """A landing zone behind an fsspec URL (object stores: no links, no devices)."""

    def __init__(self, url: str):
        import fsspec

        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        if not self.fs.isdir(self.root):
            raise LandingError(f"LANDING_DIR {url} does not exist: nothing was loaded or published")

    def scan(self, source: str, night: date) -> NightScan:
        scan = NightScan(source, night)
        base = f"{self.root}/{source}/{night.isoformat()}"
        if not self.fs.isdir(base):
            return scan
        for info in sorted(
            self.fs.find(base, detail=True, withdirs=True).values(), key=lambda i: i["name"]
        ):
            rel = info["name"][len(base) + 1 :]
            if not rel:
                continue
            name = rel.rsplit("/", 1)[-1]
            if info["type"] == "file" and PART.search(name):
                scan.uploads_in_progress.append(rel)
                continue
            parts = tuple(rel.split("/"))
            entry = Entry(rel, "file" if info["type"] == "file" else "directory", parts=parts)
            entry.size = info.get("size")
            m = LAO_NAME.fullmatch(name)
            if m and len(parts) == 1:
                entry.lao_code = m[1]
            if entry.kind == "file":
                mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
                entry.mtime_ns = (
                    int(mtime.timestamp() * 1e9)
                    if hasattr(mtime, "timestamp")
                    else (int(float(mtime) * 1e9) if mtime else None)
                )
                entry.signature = f"{info.get('ETag') or ''}:{entry.size}:{entry.mtime_ns}"
                fake = os.stat_result((0o100644, 0, 0, 1, 0, 0, entry.size or 0, 0, 0, 0))
                label = "/".join(map(printable_name, parts))
                entry.reject = _file_problem(name, label, parts[:-1], fake)
                entry.read = entry.reject is None or entry.reject[0] == "bad_layout"
            else:
                entry.read, entry.reject = False, _refuse("directory", rel)
            scan.entries.append(entry)
        _mark_superseded(scan.entries)
        return scan

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Nothing held: fsspec opens each file by its URL."""

    def open(self, source: str, night: date, entry: Entry, in_memory_up_to: int = 0) -> BinaryIO:
        """A file of the landing as fsspec streams it (``in_memory_up_to`` is not used)."""
        if not entry.read:
            raise PermissionError(f"{entry.name} is not a regular file")
        return self.fs.open(f"{self.root}/{source}/{night.isoformat()}/{entry.name}", "rb")

    def check_unchanged(self, fh: BinaryIO) -> None:
        """Nothing to compare: an object store replaces a file whole, never in place."""


def landing_for(root: Path | str):
    """The landing zone at ``root`` (a local folder, or an fsspec URL)."""
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        return FsspecLanding(text)
    return LocalLanding(Path(text.removeprefix("file://")))
