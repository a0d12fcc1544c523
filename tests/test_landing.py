"""The landing zone as a trust boundary, against the real server: every hostile entry is
recorded with a reason and never read, the night goes on, and nothing outside the root
leaks in. A night with every file case at once loads, quarantines and publishes."""

from __future__ import annotations

import os
import signal
import socket
import stat
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import reset_loaded_data, write_extract

from dla_pipeline.generator import make_thai_id
from dla_pipeline.ingest import load_night

NIGHT = "2026-11-05"
D = date.fromisoformat(NIGHT)
CID = make_thai_id("310050012345")
HEADER = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
GOOD = f"{CID},12/03/2490,11/2569,800,05/11/2569,cash,paid"
SECRET = "SUPERUSER_PASSWORD=hunter2-do-not-leak"


@pytest.fixture(autouse=True)
def clean(warehouse_db, landing):
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"], autocommit=True) as conn:
        conn.execute("truncate ops.landing_issues")


@pytest.fixture(autouse=True)
def no_hang():
    """A FIFO must not hang a load: fail the test instead of waiting forever."""

    def boom(*_):
        raise TimeoutError("the load hung")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _dump(conn) -> str:
    """Everything the ledger and raw hold, as text (to look for leaks)."""
    parts = []
    for table in (
        "ops.files",
        "ops.quarantine",
        "ops.file_loads",
        "ops.landing_issues",
        "raw.allowance_payments",
    ):
        parts += [str(r) for r in conn.execute(f"select * from {table}").fetchall()]
    return "\n".join(parts)


def test_only_regular_files_under_the_root_are_read(owner_conn, landing, tmp_path):
    folder = landing / "allowance" / NIGHT
    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    outside = tmp_path / "outside.csv"
    outside.write_text(f"{HEADER}\n{GOOD}\n{SECRET}\n")
    other = tmp_path / "dir"
    other.mkdir()
    (folder / "6110112.csv").symlink_to(outside)  # a valid LAO name pointing outside
    (folder / "6110113.csv").symlink_to(folder / "6110111.csv")  # a link inside the tree
    (folder / "6110114.csv").symlink_to(other)  # a link to a folder
    (folder / "6110115.csv").mkdir()  # a folder named like a file
    os.mkfifo(folder / "6110116.csv")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "6110117.csv"))
    os.link(outside, folder / "6110118.csv")  # a hard link to a file outside the root
    kinds = {
        "6110112.csv": "symlink",
        "6110113.csv": "symlink",
        "6110114.csv": "symlink",
        "6110115.csv": "directory",
        "6110116.csv": "fifo",
        "6110117.csv": "socket",
        "6110118.csv": "file",
    }
    if os.geteuid() == 0:
        os.mknod(folder / "6110119.csv", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        kinds["6110119.csv"] = "character device"
    try:
        s = load_night("allowance", D)
    finally:
        sock.close()
    assert s["conservation_ok"] and s["rows_loaded"] == 1 and s["laos_reporting"] == 1
    rows = owner_conn.execute(
        "select file_name, entry_kind, status, reason_code, rows_in, rows_quarantined"
        " from ops.files where status <> 'loaded' order by 1"
    ).fetchall()
    assert {r[0]: r[1] for r in rows} == kinds
    for name, _kind, status, code, rows_in, quarantined in rows:
        assert (status, code, rows_in, quarantined) == ("rejected", "not_regular_file", 1, 1), name
    assert SECRET not in _dump(owner_conn), "a file outside the landing root leaked in"
    assert (
        owner_conn.execute(
            "select count(*) from ops.quarantine where raw_line is not null and file_name <> '6110111.csv'"
        ).fetchone()[0]
        == 0
    )


def test_a_symlinked_night_folder_is_recorded_and_not_followed(owner_conn, landing, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "6110111.csv").write_text(f"{HEADER}\n{GOOD}\n")
    (landing / "allowance").mkdir(parents=True)
    (landing / "allowance" / NIGHT).symlink_to(elsewhere)
    s = load_night("allowance", D)
    assert s["files"] == 0 and s["conservation_ok"]
    code, kind = owner_conn.execute(
        "select reason_code, entry_kind from ops.landing_issues where path = %s",
        (f"allowance/{NIGHT}",),
    ).fetchone()
    assert code == "not_regular_file" and kind == "symlink"


def test_what_breaks_the_layout_is_recorded_never_invisible(owner_conn, landing):
    good = f"{HEADER}\n{GOOD}\n"
    write_extract(landing, "allowance", "2569-11-05", "6110111.csv", good)  # BE date folder
    write_extract(landing, "allowance", "2026-11-5", "6110111.csv", good)  # no zero padding
    (landing / "allowance" / "6110111.csv").write_text(good)  # a file at the source root
    write_extract(landing, "Allowance", NIGHT, "6110111.csv", good)  # wrongly cased source
    write_extract(landing, "allowance", NIGHT, "6110111.csv", good)
    names = {
        ".6110120.csv": "hidden_file",
        "6110 121.csv": "bad_layout",
        "6110122\n.csv": "bad_layout",
        "๖๑๑๐๑๒๓.csv": "bad_layout",
        os.fsdecode(b"\xff\xfe6110124.csv"): "bad_layout",
    }
    for name in names:
        (landing / "allowance" / NIGHT / name).write_bytes(good.encode())
    write_extract(landing, "allowance", NIGHT, "6110205.CSV", good)  # any case: valid
    write_extract(landing, "allowance", NIGHT, "6110126.csv.PART", "half")  # upload: ignored
    write_extract(landing, "allowance", NIGHT, "6110127.csv.part", "half")
    s = load_night("allowance", D)
    assert s["conservation_ok"] and s["rows_loaded"] == 2 and s["laos_reporting"] == 2
    files = dict(owner_conn.execute("select file_name, reason_code from ops.files").fetchall())
    assert files.pop("6110111.csv") is None and files.pop("6110205.CSV") is None
    assert sorted(files.values()) == sorted(names.values())
    assert "6110122\\n.csv" in files and "\\xff\\xfe6110124.csv" in files
    issues = dict(
        owner_conn.execute(
            "select path, reason_code || ':' || coalesce(extract_date::text, '')"
            " from ops.landing_issues"
        ).fetchall()
    )
    assert issues["allowance/2569-11-05"] == f"bad_date_folder:{NIGHT}"
    assert issues["allowance/2026-11-5"] == f"bad_date_folder:{NIGHT}"
    assert issues["allowance/2569-11-05/6110111.csv"] == f"bad_layout:{NIGHT}"
    assert issues["allowance/6110111.csv"] == "unknown_folder:"
    assert issues["Allowance"] == "unknown_folder:"
    assert issues[f"Allowance/{NIGHT}/6110111.csv"] == f"bad_layout:{NIGHT}"
    assert not any(".part" in p.lower() for p in issues)
    # fixed by the LAO: the next scan resolves the issue
    (landing / "allowance" / "6110111.csv").unlink()
    load_night("allowance", D)
    resolved = owner_conn.execute(
        "select resolved_at is not null from ops.landing_issues where path = 'allowance/6110111.csv'"
    ).fetchone()[0]
    assert resolved


def test_two_names_for_one_lao_the_newer_wins_and_the_other_is_superseded(owner_conn, landing):
    older = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    other = f"{make_thai_id('310050099999')},12/03/2490,11/2569,700,05/11/2569,cash,paid"
    newer = write_extract(
        landing, "allowance", NIGHT, "6110111.CSV", f"{HEADER}\n{other}\n{GOOD}\n"
    )
    os.utime(older, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    os.utime(newer, ns=(1_700_000_100_000_000_000, 1_700_000_100_000_000_000))
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 2 and s["rows_quarantined"] == 1 and s["conservation_ok"]
    status = dict(owner_conn.execute("select file_name, status from ops.files").fetchall())
    assert status == {"6110111.CSV": "loaded", "6110111.csv": "superseded"}
    (code,) = owner_conn.execute("select distinct reason_code from ops.quarantine").fetchone()
    assert code == "superseded"
    # the older name is touched later: it becomes the LAO's file, never the sum of both
    os.utime(older, ns=(1_700_000_200_000_000_000, 1_700_000_200_000_000_000))
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 1 and s["rows_quarantined"] == 2
    assert owner_conn.execute("select count(*) from raw.allowance_payments").fetchone()[0] == 1


def test_a_missing_landing_root_refuses_and_loads_nothing(warehouse_db, monkeypatch, tmp_path):
    from dla_pipeline.landing import LandingError

    monkeypatch.setenv("LANDING_DIR", str(tmp_path / "nope"))
    with pytest.raises(LandingError, match="does not exist"):
        load_night("allowance", D)


def test_fsspec_roots_are_listed_without_the_local_checks(tmp_path):
    import fsspec

    from dla_pipeline.landing import landing_for

    fs = fsspec.filesystem("memory")
    fs.pipe(f"/land/allowance/{NIGHT}/6110111.csv", f"{HEADER}\n{GOOD}\n".encode())
    fs.pipe(f"/land/allowance/{NIGHT}/6110112.csv.part", b"half")
    fs.pipe(f"/land/allowance/{NIGHT}/sub/6110113.csv", b"x")
    scan = landing_for("memory:///land").scan("allowance", D)
    assert [e.name for e in scan.entries if e.read and not e.reject] == ["6110111.csv"]
    assert scan.uploads_in_progress == ["6110112.csv.part"]
    with landing_for("memory:///land").open("allowance", D, scan.entries[0]) as fh:
        assert fh.read().startswith(b"citizen_id")
    # the loader's way in: the file's bytes once, and their checksum, whatever the file object
    import hashlib

    from dla_pipeline.ingest import _hashed

    data = f"{HEADER}\n{GOOD}\n".encode()
    with landing_for("memory:///land").open("allowance", D, scan.entries[0]) as fh:
        sha = _hashed(fh)
        assert sha == hashlib.sha256(data).hexdigest() and fh.read() == data


def test_reading_a_regular_file_swapped_for_a_link_after_the_scan_is_refused(landing, tmp_path):
    from dla_pipeline.landing import landing_for

    path = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    zone = landing_for(Path(landing))
    (entry,) = zone.scan("allowance", D).entries
    path.unlink()
    path.symlink_to(tmp_path)
    with pytest.raises(OSError):
        zone.open("allowance", D, entry)


def _open_under(root: Path) -> list[str]:
    """What this process holds open under ``root`` (other descriptors do not count)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listed
            continue
        if target == str(root) or target.startswith(f"{root}{os.sep}"):
            held.append(target)
    return held


def test_files_of_a_folder_are_read_through_one_held_folder_and_small_ones_whole(landing):
    """The loader's way in: the night folder is opened once and held (not once per file),
    a small file comes as its bytes (exactly the file's), a bigger one as a stream, and
    ``close`` gives every descriptor back."""
    import gc
    import io

    from dla_pipeline.landing import landing_for

    gc.collect()  # no landing of an earlier test is left to close its folders
    texts = {f"61101{i:02d}.csv": f"{HEADER}\n{GOOD}\n" * (i + 1) for i in range(12)}
    for name, text in texts.items():
        write_extract(landing, "allowance", NIGHT, name, text)
    root = Path(os.path.realpath(landing))
    assert _open_under(root) == []
    zone = landing_for(Path(landing))
    entries = zone.scan("allowance", D).entries
    assert len(entries) == 12 and _open_under(root) == []
    limit = len(texts["6110105.csv"].encode())
    for entry in entries:
        with zone.open("allowance", D, entry, in_memory_up_to=limit) as fh:
            small = len(texts[entry.name].encode()) <= limit
            assert isinstance(fh, io.BytesIO) is small
            assert fh.read() == texts[entry.name].encode()
        # the night folder, held; no file left open
        assert _open_under(root) == [str(root / "allowance" / NIGHT)]
    zone.close()
    assert _open_under(root) == []
    # a context manager too; no limit: a stream
    with landing_for(Path(landing)) as again, again.open("allowance", D, entries[0]) as fh:
        assert not isinstance(fh, io.BytesIO) and fh.read().startswith(b"citizen_id")
    assert _open_under(root) == []


def test_a_night_folder_swapped_for_a_link_while_it_is_read_is_never_followed(landing, tmp_path):
    """The folder is held from the first file on: swapping it for a link to a look-alike
    folder outside the root afterwards neither reads the look-alike nor breaks the reads."""
    from dla_pipeline.landing import landing_for

    for name in ("6110111.csv", "6110112.csv"):
        write_extract(landing, "allowance", NIGHT, name, f"{HEADER}\n{GOOD}\n")
    zone = landing_for(Path(landing))
    first, second = zone.scan("allowance", D).entries
    with zone.open("allowance", D, first, in_memory_up_to=1 << 20) as fh:
        assert fh.read().startswith(b"citizen_id")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "6110112.csv").write_text(SECRET)
    folder = landing / "allowance" / NIGHT
    folder.rename(landing / "allowance" / "moved-away")
    folder.symlink_to(decoy)
    with zone.open("allowance", D, second, in_memory_up_to=1 << 20) as fh:
        data = fh.read()
    assert SECRET.encode() not in data and data.startswith(b"citizen_id")
    zone.close()
    with pytest.raises(OSError):  # a new reader opens the folder again: the link is refused
        landing_for(Path(landing)).open("allowance", D, second, in_memory_up_to=1 << 20)


# -- cases an attack on the loader found (each failed before its fix) ----------------------


def test_a_night_folder_replaced_between_two_scans_is_read_as_the_second_scan_saw_it(landing):
    """A landing scanned again after its night folder was replaced (an upload tool that
    writes a fresh folder and renames it into place) reads the new folder's files, not
    the old folder it still held."""
    from dla_pipeline.landing import landing_for

    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    zone = landing_for(Path(landing))
    (entry,) = zone.scan("allowance", D).entries
    with zone.open("allowance", D, entry, in_memory_up_to=1 << 20) as fh:
        assert b",800," in fh.read()
    folder = landing / "allowance" / NIGHT
    folder.rename(landing / "allowance" / "old-upload")
    write_extract(
        landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n".replace(",800,", ",900,")
    )
    (entry,) = zone.scan("allowance", D).entries
    with zone.open("allowance", D, entry, in_memory_up_to=1 << 20) as fh:
        assert b",900," in fh.read()
    zone.close()


def test_a_file_that_changes_while_it_is_read_is_refused_and_never_held_past_its_bound(
    landing, monkeypatch
):
    """A file still being written: one that grows after it was measured is not read on
    into memory past the bound the caller set, and one rewritten in place while streamed
    is refused when it has been read (its checksum would not be of the rows loaded)."""
    from dla_pipeline import landing as landing_mod
    from dla_pipeline.landing import landing_for

    path = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    zone = landing_for(Path(landing))
    (entry,) = zone.scan("allowance", D).entries
    limit = path.stat().st_size + 100
    read, real_fstat, real_read = [], os.fstat, landing_mod._read_upto

    def measured_then_grows(fd):
        st = real_fstat(fd)
        if not read:  # the writer appends a megabyte right after the size was taken
            with path.open("ab") as fh:
                fh.write(f"{GOOD}\n".encode() * 20_000)
        return st

    def spy(fd, bound, first):
        read.append(real_read(fd, bound, first))
        return read[-1]

    monkeypatch.setattr(os, "fstat", measured_then_grows)
    monkeypatch.setattr(landing_mod, "_read_upto", spy)
    with pytest.raises(OSError, match="changed while it was read"):
        zone.open("allowance", D, entry, in_memory_up_to=limit)
    assert len(read) == 1 and len(read[0]) == limit + 1
    monkeypatch.undo()

    (entry,) = zone.scan("allowance", D).entries  # streamed: rewritten in place, same size
    with zone.open("allowance", D, entry) as fh:
        fh.read()
        zone.check_unchanged(fh)  # nothing changed: nothing to say
        with path.open("r+b") as w:
            w.write(b"C")
        with pytest.raises(OSError, match="changed while it was read"):
            zone.check_unchanged(fh)

    (entry,) = zone.scan("allowance", D).entries  # streamed, growing: read to its size
    size = path.stat().st_size
    with zone.open("allowance", D, entry) as fh:
        with path.open("ab") as w:
            w.write(f"{GOOD}\n".encode() * 1_000)
        assert len(fh.read()) == size and fh.read() == b""
        fh.seek(0)
        assert len(fh.read(size + 100)) == size
        with pytest.raises(OSError, match="changed while it was read"):
            zone.check_unchanged(fh)

    (entry,) = zone.scan("allowance", D).entries  # changed between the scan and the read
    path.write_text(f"{HEADER}\n{GOOD}\n" * 3)
    for bound in (0, 1 << 20):
        with pytest.raises(OSError, match="changed while it was read"):
            zone.open("allowance", D, entry, in_memory_up_to=bound)
    zone.close()


def test_a_stream_that_cannot_be_made_closes_its_descriptor_once(landing, monkeypatch, tmp_path):
    """A failure after the file was opened closes it once: a descriptor the process opens
    next (the same number) is not closed under it when the failed object is collected."""
    import gc

    from dla_pipeline import landing as landing_mod
    from dla_pipeline.landing import landing_for

    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    zone = landing_for(Path(landing))
    (entry,) = zone.scan("allowance", D).entries

    class Failing(landing_mod._Streamed):
        def __init__(self, *args):
            super().__init__(*args)
            raise MemoryError("no buffer")

    monkeypatch.setattr(landing_mod, "_Streamed", Failing)
    other = tmp_path / "other"
    other.write_text("x")
    with pytest.raises(MemoryError) as failed:  # its traceback keeps the object alive
        zone.open("allowance", D, entry)
    victim = os.open(other, os.O_RDONLY)  # the lowest free number: the one just closed
    del failed
    gc.collect()
    try:
        os.fstat(victim)  # still open
    finally:
        os.close(victim)
    zone.close()


def test_a_file_rejected_while_it_changed_is_read_again_once_it_settles(
    owner_conn, landing, monkeypatch
):
    """Its mode changed while it was streamed (a backup tool, an antivirus tag): rejected,
    without a checksum, so the next load reads it although its bytes are the same."""
    from dla_pipeline import ingest

    path = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    real_hashed = ingest._hashed

    def hashed_then_touched(fh):
        sha = real_hashed(fh)
        path.chmod(0o640)
        return sha

    monkeypatch.setattr(ingest, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(ingest, "_hashed", hashed_then_touched)
    s = load_night("allowance", D)
    assert s["files_rejected"] == 1 and s["rows_loaded"] == 0
    assert owner_conn.execute("select sha256 from ops.files").fetchone()[0] is None
    monkeypatch.undo()
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 1
    assert owner_conn.execute("select amount::int from raw.allowance_payments").fetchall() == [
        (800,)
    ]


def test_a_streamed_file_rewritten_between_its_checksum_and_its_rows_loads_nothing(
    owner_conn, landing, monkeypatch
):
    """The loader hashes a large file, then reads its rows: an in-place rewrite between
    the two (same size, its mtime put back) rejects the file instead of recording the
    checksum of bytes it did not load; the next load reads the settled file."""
    from dla_pipeline import ingest

    path = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    st = path.stat()
    real_hashed = ingest._hashed

    def hashed_then_rewritten(fh):
        sha = real_hashed(fh)
        with path.open("r+") as w:
            w.write(f"{HEADER}\n{GOOD.replace(',800,', ',900,')}\n")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return sha

    monkeypatch.setattr(ingest, "SMALL_FILE_BYTES", 0)  # streamed, as a large file is
    monkeypatch.setattr(ingest, "_hashed", hashed_then_rewritten)
    s = load_night("allowance", D)
    assert s["conservation_ok"] and s["files_rejected"] == 1 and s["rows_loaded"] == 0
    code, error = owner_conn.execute("select reason_code, error from ops.files").fetchone()
    assert code == "unreadable_file" and "changed while it was read" in error
    assert owner_conn.execute("select count(*) from raw.allowance_payments").fetchone()[0] == 0
    monkeypatch.undo()
    load_night("allowance", D)
    assert owner_conn.execute("select amount::int from raw.allowance_payments").fetchall() == [
        (900,)
    ]


def test_the_reconciliation_skips_what_the_loader_refuses_as_too_large(
    owner_conn, landing, monkeypatch
):
    """Both ask ``refusal`` with the contract's size bound: a file over it counts in
    neither the rows loaded nor the rows the files say should be there."""
    from dataclasses import replace

    from dla_pipeline.config import get_settings
    from dla_pipeline.contract import Context
    from dla_pipeline.reconcile import accepted_rows

    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    write_extract(landing, "allowance", NIGHT, "6110112.csv", f"{HEADER}\n{GOOD}\n" * 5)
    bounds = Context.bounds
    monkeypatch.setattr(
        Context, "bounds", lambda self, source: replace(bounds(self, source), max_file_bytes=200)
    )
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 1 and s["files_rejected"] == 1
    rows = list(accepted_rows("allowance", D, get_settings()))
    assert [r["lao_code"] for r in rows] == ["6110111"]


def test_the_reconciliation_skips_a_file_that_changed_since_it_was_listed(
    owner_conn, landing, monkeypatch
):
    """A file whose mode changes between the listing and the read: the loader rejects
    it, and the reconciliation leaves it out instead of failing on it."""
    from dla_pipeline.config import get_settings
    from dla_pipeline.landing import LocalLanding
    from dla_pipeline.reconcile import accepted_rows

    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    touched = write_extract(landing, "allowance", NIGHT, "6110112.csv", f"{HEADER}\n{GOOD}\n")
    as_scanned = LocalLanding._as_scanned

    def touched_after_the_listing(self, fd, entry):
        if entry.name == touched.name:
            touched.chmod(touched.stat().st_mode ^ 0o040)  # its ctime moves
        return as_scanned(self, fd, entry)

    monkeypatch.setattr(LocalLanding, "_as_scanned", touched_after_the_listing)
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 1 and s["files_rejected"] == 1
    error = owner_conn.execute(
        "select error from ops.files where file_name = %s", (touched.name,)
    ).fetchone()[0]
    assert "changed while it was read" in error
    rows = list(accepted_rows("allowance", D, get_settings()))
    assert [r["lao_code"] for r in rows] == ["6110111"]


def test_names_that_print_alike_stay_apart_and_conservation_holds(owner_conn, landing):
    folder = landing / "allowance" / NIGHT
    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    (folder / os.fsdecode(b"junk\xff.csv")).write_text(f"{HEADER}\n{GOOD}\n")
    (folder / "junk\\xff.csv").write_text(f"{HEADER}\n{GOOD}\n{GOOD}\n")
    s = load_night("allowance", D)
    assert s["conservation_ok"] and s["files"] == 3


def test_a_name_ending_in_a_newline_is_not_the_lao_file(owner_conn, landing):
    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    other = f"{make_thai_id('310050099999')},12/03/2490,11/2569,700,05/11/2569,cash,paid"
    (landing / "allowance" / NIGHT / "6110111.csv\n").write_text(f"{HEADER}\n{other}\n")
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 1
    status = dict(owner_conn.execute("select file_name, status from ops.files").fetchall())
    assert status == {"6110111.csv": "loaded", "6110111.csv\\n": "rejected"}


def test_thousands_of_stray_files_do_not_exhaust_locks_or_hide_the_lao_files(owner_conn, landing):
    folder = landing / "allowance" / NIGHT
    folder.mkdir(parents=True)
    for i in range(3000):
        (folder / f"junk{i:05d}.txt").write_text("x")
    write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    s = load_night("allowance", D, batches=1)
    assert s["conservation_ok"] and s["rows_loaded"] == 1 and s["files"] == 3001


def test_a_huge_sparse_file_is_refused_unread(owner_conn, landing):
    path = landing / "allowance" / NIGHT / "6110111.csv"
    path.parent.mkdir(parents=True)
    with path.open("wb") as fh:
        fh.truncate(5 << 30)
    s = load_night("allowance", D)
    assert s["conservation_ok"] and s["files_rejected"] == 1
    assert owner_conn.execute("select reason_code from ops.files").fetchone()[0] == "file_too_large"


def test_an_in_place_resend_with_the_old_mtime_is_seen(owner_conn, landing):
    path = write_extract(landing, "allowance", NIGHT, "6110111.csv", f"{HEADER}\n{GOOD}\n")
    st = path.stat()
    load_night("allowance", D)
    with path.open("r+") as fh:  # the same size, written in place, its mtime put back
        fh.write(f"{HEADER}\n{GOOD.replace(',800,', ',900,')}\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    load_night("allowance", D)
    assert owner_conn.execute("select amount::int from raw.allowance_payments").fetchall() == [
        (900,)
    ]


def test_a_fifo_night_folder_is_named_for_what_it_is(owner_conn, landing):
    (landing / "allowance").mkdir(parents=True)
    os.mkfifo(landing / "allowance" / NIGHT)
    load_night("allowance", D)
    kind, reason = owner_conn.execute(
        "select entry_kind, reason from ops.landing_issues where path = %s", (f"allowance/{NIGHT}",)
    ).fetchone()
    assert kind == "fifo" and "FIFO" in reason


def test_printable_names_shortcut_agrees_with_the_escaping():
    """Most names are plain ASCII and are stored as they are; every other name (a
    backslash, control characters, bytes that are not UTF-8, Thai) is escaped the same
    as before the shortcut."""
    import random

    from dla_pipeline.landing import _escaped, printable_name

    rng = random.Random(12)
    alphabet = [chr(i) for i in range(0, 128)] + ["ก", "\u00ad", "\u200b", "\udc80", "\udcff", "é"]
    names = ["5510101.csv", "export (1).csv", "a\\b.csv", "x\ny", "\x7f", "ลำพูน.csv", ""]
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for name in names:
        assert printable_name(name) == _escaped(name), repr(name)
