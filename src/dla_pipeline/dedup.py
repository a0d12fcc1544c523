"""Which rows of one file repeat an earlier row: exact, with memory that does not grow
with the file.

Keys are 64-bit hashes of a row's values once read. The first ``budget`` distinct keys
live in a dict; past that they move to a temporary on-disk SQLite index (the standard
library's), so a 2,000,000-row file needs no more memory than a 20,000-row one. The
index belongs to one file of one process and is deleted with it.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

DEFAULT_BUDGET = 32_768  # the largest real LAO files (~22,000 rows) never spill


class FirstSeen:
    """``first_lines(keys, lines)``: for each key, the line where it was first seen
    (earlier in the file or earlier in the same call), or None when it is new."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self._mem: dict[int, int] = {}
        self._db: sqlite3.Connection | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def first_lines(self, keys: list[int], lines: list[int]) -> list[int | None]:
        if self._db is None and len(self._mem) + len(keys) <= self.budget:
            return self._in_memory(keys, lines)
        if self._db is None:
            self._spill()
        return self._on_disk(keys, lines)

    def _in_memory(self, keys: list[int], lines: list[int]) -> list[int | None]:
        firsts = list(map(self._mem.setdefault, keys, lines))
        if firsts == lines:  # nothing seen before (nearly always): no loop in Python
            return [None] * len(lines)
        return [None if first == line else first for first, line in zip(firsts, lines, strict=True)]

    def _spill(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="dla-dedup-")
        db = sqlite3.connect(Path(self._dir.name) / "seen.db", isolation_level=None)
        db.execute("pragma journal_mode = off")
        db.execute("pragma synchronous = off")
        db.execute("pragma cache_size = -512")  # at most 512 KiB of pages in memory
        db.execute("create table seen (k integer primary key, line integer not null)")
        db.executemany("insert into seen values (?, ?)", self._mem.items())
        self._mem = {}
        self._db = db

    def _on_disk(self, keys: list[int], lines: list[int]) -> list[int | None]:
        db = self._db
        assert db is not None
        local: dict[int, int] = {}
        for k, line in zip(keys, lines, strict=True):
            local.setdefault(k, line)
        earlier: dict[int, int] = {}
        batch = list(local)
        for i in range(0, len(batch), 900):  # SQLite's bound-parameter limit, with room
            part = batch[i : i + 900]
            marks = ",".join("?" * len(part))
            earlier.update(db.execute(f"select k, line from seen where k in ({marks})", part))
        db.execute("begin")
        db.executemany(
            "insert into seen values (?, ?)", ((k, v) for k, v in local.items() if k not in earlier)
        )
        db.execute("commit")
        out: list[int | None] = []
        for k, line in zip(keys, lines, strict=True):
            first = earlier.get(k)
            if first is None:
                first = local[k]
            out.append(None if first == line else first)
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self._mem = {}

    def __enter__(self) -> FirstSeen:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
