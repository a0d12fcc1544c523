#!/usr/bin/env python
"""`make bench`: the figures of issue 12, measured in one run on this machine.

Phases (all by default; ``--only loader,memory`` runs a subset, in this order):

  loader       the national allowance night through the pipeline's loader (``load_night``),
               rows/s, against the COPY ceiling: the same rows, exported from raw as text and
               COPYed through psycopg 3 into a fresh *logged* table with the same column
               types, on the same server, in the same run; the ratio is the figure, the
               median of ``--copy-repeats`` rounds of a load then a COPY
  memory       peak RSS of loading one single-LAO allowance file of 2,000,000 rows against
               a 20,000-row one, each in a fresh process (max RSS from RUSAGE_CHILDREN)
  profile      cProfile of ``load_night`` on the national allowance night, written to
               data/bench/profile-<date>.txt (top 25 by cumulative and by own time)
  backfill     ``dla backfill --runner direct`` of the month before the night (``--nights N``:
               its first N nights, extrapolated by rows to the whole month, labelled so)
  night        ``dla night --runner direct`` on the national night, on top of that history
  incremental  the next night's ``dbt build`` against a full refresh of the same state

Everything happens in a database of its own (``dla_bench``, or ``--db`` / $DLA_BENCH_DB),
dropped and recreated at the start (``--keep`` reuses it), with its landing zone, run
folder and dbt target under data/bench/work/. Extracts are generated deterministically by
seed and kept there (``gen-*`` folders), so the next run does not pay for them again.
Before generating or loading anything, the run's disk needs are checked against the free
space (``disk_plan``, ``check_disk``): a history the disk cannot hold stops at once.

Output: progress while it runs, a table of every figure with its goal and PASS/MISS, and
data/bench/<date>.json (``--quick``: <date>-quick.json) with the git commit and the machine.
Phases measured earlier the same day at the same scale stay in that file unless measured
again. The machine is shared: compare ratios measured within one run, not absolute times.

    .venv/bin/python scripts/bench.py --quick                # smoke run: 500 LAOs, 3 nights
    .venv/bin/python scripts/bench.py --only loader,memory,night --nights 10
    make bench BENCH_ARGS="--only loader"
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

PHASES = ("loader", "memory", "profile", "backfill", "night", "incremental")
DEFAULT_NIGHT = "2026-11-06"  # a pay day: ~1/10 of the LAOs pay their monthly roll
MEMORY_NIGHT = date(2030, 1, 1)  # scratch nights for the memory files, forgotten after
MEMORY_LAO = "6110111"
CEILING_SCHEMA = "bench_ceiling"

# goals (issue 12)
GOAL_LOADER_RATIO = 0.50
GOAL_NIGHT_S = 60.0
GOAL_NIGHT_CORES = 0.75  # of the machine's cores, pipeline + server ("using both cores")
GOAL_BACKFILL_S = 150.0
GOAL_BACKFILL_NIGHTS = 31
GOAL_INCREMENTAL_RATIO = 0.05
GOAL_MEMORY_RATIO = 1.10  # "flat": within 10% from 20 k to 2 M rows

# disk: what a run adds, measured on this machine (2026-12-07, PostgreSQL 18.6): the bench
# database held 14 GB for 14.8 M rows (raw rows, the ledger, the facts, the kept marts and
# every index: ~950 bytes a row); a national night averages ~410,000 rows (12.6 M a month)
# and ~115 MB of extracts (3.8 GB for 33 nights). A year of national history is ~190 GB.
DB_BYTES_PER_ROW = 1_000
NATIONAL_LAOS = 7_849
NATIONAL_NIGHT_ROWS = 410_000
NATIONAL_NIGHT_EXTRACT_BYTES = 120_000_000
DISK_RESERVE_BYTES = 5 * 2**30  # the server's WAL (max_wal_size 4 GB) and some room

T0 = time.monotonic()
_phase = "bench"


def say(msg: str) -> None:
    el = time.monotonic() - T0
    print(f"[{int(el // 60):3d}:{el % 60:04.1f}] {_phase}: {msg}", flush=True)


class BenchError(RuntimeError):
    pass


# -- the machine ---------------------------------------------------------------------------


def machine_facts() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "ram_gib": round(ram_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


def git_facts(root: Path) -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    # (tracked files that differ from HEAD, staged or not; not status --porcelain, whose
    # leading blank column the output's strip() would eat from the first line)
    changed = git("diff", "--name-only", "HEAD").splitlines()
    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s")[:120],
        # the working tree's own edits are part of what was measured
        "dirty": bool(changed),
        "changed_files": changed,
    }


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, every process (others' work included)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return total - idle, total


def _proc_stat(pid: str) -> tuple[int, float] | None:
    """(ppid, cpu seconds incl. reaped children) of one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(rest[1]), sum(int(x) for x in rest[11:15]) / ticks


class ServerCpu:
    """CPU seconds of the embedded PostgreSQL server (postmaster, its live backends, and
    every backend that exited: the postmaster reaps them into its children's times).
    Every database on the server counts, other people's work included."""

    def __init__(self, pgdata: Path | None):
        self.pid = None
        if not pgdata:
            return
        try:
            first = (pgdata / "postmaster.pid").read_text().split()[0]
            if Path(f"/proc/{first}").exists():
                self.pid = first
        except (OSError, IndexError):
            self.pid = None

    def seconds(self) -> float | None:
        if not self.pid:
            return None
        own = _proc_stat(self.pid)
        if own is None:
            return None
        total = own[1]
        for name in os.listdir("/proc"):
            if name.isdigit() and name != self.pid:
                st = _proc_stat(name)
                if st and str(st[0]) == self.pid:
                    total += st[1]
        return total


# -- children, measured ----------------------------------------------------------------------


def wrap_main(argv: list[str]) -> int:
    """``bench.py _wrap RESULT CMD...``: run CMD, then write its process tree's rusage."""
    out, cmd = argv[0], argv[1:]
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out).write_text(
        json.dumps(
            {
                "rc": rc,
                "wall": wall,
                "user": ru.ru_utime,
                "sys": ru.ru_stime,
                "maxrss_kb": ru.ru_maxrss,
            }
        )
    )
    return 0


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4096))
            lines = [x.strip() for x in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [x for x in lines if x and "great_expectations" not in x]
    return (
        (lines[-1][:110] + "…") if lines and len(lines[-1]) > 110 else (lines[-1] if lines else "")
    )


class Runner:
    def __init__(self, work: Path, server: ServerCpu, heartbeat: float):
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.server = server
        self.heartbeat = heartbeat
        self.cores = os.cpu_count() or 1

    def run(self, label: str, cmd: list[str], env: dict | None = None, check: bool = True) -> dict:
        """Run ``cmd`` in its own process tree (output to logs/<label>.log) and measure it:
        wall time, user+sys of the tree, its largest max RSS, the server's CPU, the machine's."""
        log = self.logs / f"{label}.log"
        res = self.logs / f"{label}.rusage.json"
        res.unlink(missing_ok=True)
        srv0, m0 = self.server.seconds(), machine_cpu()
        t0 = time.monotonic()
        with log.open("w") as fh:
            p = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "_wrap", str(res), *cmd],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env or os.environ.copy(),
                start_new_session=True,
            )
            beat = t0 + self.heartbeat
            try:
                while p.poll() is None:
                    time.sleep(0.25)
                    if time.monotonic() >= beat:
                        beat += self.heartbeat
                        say(f"{label} {time.monotonic() - t0:5.0f}s … {_last_line(log)}")
            except BaseException:
                os.killpg(p.pid, signal.SIGTERM)  # the tree this call started, nothing else
                p.wait()
                raise
        srv1, m1 = self.server.seconds(), machine_cpu()
        try:
            r = json.loads(res.read_text())
        except (OSError, ValueError):
            r = {"rc": p.returncode or 1, "wall": time.monotonic() - t0, "user": 0, "sys": 0}
            r["maxrss_kb"] = 0
        out = self._figures(r, log, (srv0, srv1), (m0, m1))
        if check and r["rc"] != 0:
            raise BenchError(f"{label} failed (exit {r['rc']}): {_last_line(log)} — see {log}")
        return out

    def _figures(self, r: dict, log: Path, server: tuple, machine: tuple) -> dict:
        """A run's rusage as figures: its cores, the server's, the whole machine's."""
        (srv0, srv1), (m0, m1) = server, machine
        wall = r["wall"]
        cpu = r["user"] + r["sys"]
        out = {
            "rc": r["rc"],
            "wall_s": round(wall, 2),
            "user_s": round(r["user"], 2),
            "sys_s": round(r["sys"], 2),
            "maxrss_mb": round(r["maxrss_kb"] / 1024, 1),
            "client_cores": round(cpu / wall, 2) if wall else None,
            "log": str(log),
        }
        if srv0 is not None and srv1 is not None:
            out["server_cpu_s"] = round(srv1 - srv0, 2)
            out["server_cores"] = round((srv1 - srv0) / wall, 2) if wall else None
            out["cores_busy"] = round((cpu + srv1 - srv0) / wall, 2) if wall else None
        if m1[1] > m0[1]:
            out["machine_cores_busy_all_processes"] = round(
                (m1[0] - m0[0]) / (m1[1] - m0[1]) * self.cores, 2
            )
        return out


def _self_cmd(kind: str, **params) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_child", kind, json.dumps(params)]


def _dla(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("dla")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "dla_pipeline.cli", *args]


# -- what runs inside the measured children ------------------------------------------------


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}


def child_load(p: dict) -> None:
    from dla_pipeline.ingest import forget_night, load_night

    night = date.fromisoformat(p["night"])
    t0 = time.perf_counter()
    summary = load_night(p["source"], night)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if p.get("forget_after"):
        forget_night(p["source"], night)
    Path(p["out"]).write_text(
        json.dumps({"seconds": secs, "self_maxrss_kb": peak, "summary": _plain(summary)})
    )


def child_build(p: dict) -> None:
    from dla_pipeline.transform import build

    t0 = time.perf_counter()
    counts = build(date.fromisoformat(p["night"]), full_refresh=p["full_refresh"])
    secs = time.perf_counter() - t0
    out = {"seconds": secs, "counts": counts, "slowest_nodes": _slowest_nodes()}
    Path(p["out"]).write_text(json.dumps(out))


def _slowest_nodes(top: int = 12) -> list[list]:
    """The dbt nodes that took longest in the build just run (its run_results.json)."""
    from dla_pipeline.config import get_settings

    path = Path(os.environ.get("DBT_TARGET_PATH") or get_settings().dbt_dir / "target")
    try:
        results = json.loads((path / "run_results.json").read_text())["results"]
    except (OSError, KeyError, ValueError):
        return []
    timed = sorted(results, key=lambda r: -(r.get("execution_time") or 0))[:top]
    return [[r["unique_id"], round(r.get("execution_time") or 0, 1)] for r in timed]


def _group(key: tuple) -> str:
    """Where a profiled function's own time goes: a module of ours, a library, a builtin."""
    filename, _line, func = key
    if filename == "~":
        name = re.sub(r" of '?([\w.]+)'? objects?", r" of \1", func.strip("{}<>"))
        return f"builtin {name}"
    m = re.search(r"dla_pipeline/(.+)\.py$", filename)
    if m:
        return f"dla_pipeline.{m.group(1).replace('/', '.')}"
    m = re.search(r"site-packages/([A-Za-z0-9_]+)", filename)
    if m:
        return m.group(1)
    return Path(filename).stem


def child_profile(p: dict) -> None:
    import cProfile
    import io
    import pstats

    from dla_pipeline.ingest import load_night

    night = date.fromisoformat(p["night"])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    summary = load_night("allowance", night)
    prof.disable()
    secs = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values()) or 1.0
    groups: dict[str, float] = {}
    for key, v in stats.stats.items():
        groups[_group(key)] = groups.get(_group(key), 0.0) + v[2]
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])
    buf = io.StringIO()
    buf.write(p["header"] + "\n")
    buf.write(
        f"load_night('allowance', {night}) under cProfile: {secs:.1f}s wall,"
        f" {summary.get('rows_in', 0):,} rows in, {total:.1f}s of profiled own time"
        " (this process only: work done in other processes or in the server is not here)\n\n"
    )
    buf.write("== own time by module / builtin (share of profiled time) ==\n")
    for name, t in ranked[:30]:
        buf.write(f"{t:9.2f}s {100 * t / total:5.1f}%  {name}\n")
    for order in ("cumulative", "tottime"):
        buf.write(f"\n== top 25 by {order} ==\n")
        s = pstats.Stats(prof, stream=buf)
        s.strip_dirs().sort_stats(order).print_stats(25)
    Path(p["txt"]).write_text(buf.getvalue())
    Path(p["out"]).write_text(
        json.dumps(
            {
                "seconds": secs,
                "profiled_s": total,
                "rows_in": summary.get("rows_in"),
                "top": [
                    {"what": n, "own_s": round(t, 2), "pct": round(100 * t / total, 1)}
                    for n, t in ranked[:12]
                ],
            }
        )
    )


def child_main(argv: list[str]) -> int:
    kind, params = argv[0], json.loads(argv[1])
    {"load": child_load, "build": child_build, "profile": child_profile}[kind](params)
    return 0


# -- generated extracts, cached by parameters ------------------------------------------------


def _generate_one(job: tuple) -> tuple[str, dict, float]:
    import contextlib
    import io

    from dla_pipeline.generator import generate_night

    night, landing, laos, seed, bad, send = job
    t0 = time.monotonic()
    with contextlib.redirect_stderr(io.StringIO()):  # its per-2000-LAO progress lines
        out = generate_night(
            date.fromisoformat(night),
            laos=laos,
            seed=seed,
            bad_fraction=bad,
            landing=Path(landing),
            send_rate=send,
        )
    return night, out, time.monotonic() - t0


def disk_plan(nights, loaded, generated: dict, laos: int, extra_rows: int = 0) -> dict:
    """What a run adds on disk: the rows of the ``nights`` not ``loaded`` yet in the bench
    database (their generated rows where known, else a national night's share) plus
    ``extra_rows``, and the extracts of the nights not ``generated`` yet ({night: rows})."""
    share = (laos or NATIONAL_LAOS) / NATIONAL_LAOS
    guess = round(NATIONAL_NIGHT_ROWS * share)
    todo = set(nights)
    rows = extra_rows + sum(generated.get(n, guess) for n in todo - set(loaded))
    to_generate = len(todo - set(generated))
    return {
        "rows_to_load": rows,
        "nights_to_generate": to_generate,
        "db_bytes": rows * DB_BYTES_PER_ROW,
        "extract_bytes": round(to_generate * NATIONAL_NIGHT_EXTRACT_BYTES * share),
    }


def check_disk(plan: dict, db_dir: Path | None, work_dir: Path, usage=shutil.disk_usage) -> str:
    """Refuse a run the free space cannot hold (``BenchError`` saying what to change), so
    that hours of loading do not end in a full disk under the warehouse; return a line on
    what it needs. ``db_dir``: the embedded server's data folder (None: a server elsewhere,
    whose disk is not checked here)."""
    needs: dict[int, list] = {}
    parts = [(work_dir, plan["extract_bytes"], "extracts")]
    if db_dir is not None:
        parts.append((db_dir, plan["db_bytes"] + DISK_RESERVE_BYTES, "warehouse"))
    for path, need, what in parts:
        path = next((p for p in (path, *path.parents) if p.exists()), path)
        entry = needs.setdefault(os.stat(path).st_dev, [path, 0, []])
        entry[1] += need
        entry[2].append(what)
    lines = []
    for path, need, whats in needs.values():
        free = usage(path).free
        gb = f"{need / 1e9:,.1f} GB needed, {free / 1e9:,.1f} GB free on {path} ({' and '.join(whats)})"
        if need > free:
            raise BenchError(
                f"not enough disk: {gb}. {plan['rows_to_load']:,} rows to load at about"
                f" {DB_BYTES_PER_ROW:,} bytes a row in the warehouse (raw, ledger, facts, kept"
                f" marts, indexes), {plan['nights_to_generate']} night(s) of extracts to generate,"
                f" {DISK_RESERVE_BYTES / 2**30:.0f} GiB kept for the server's WAL. Ask for less"
                " history (--history-months) or fewer LAOs (--laos N), free space, or run"
                " with --no-disk-check if the estimate is wrong for your data."
            )
        lines.append(gb)
    return "disk: " + "; ".join(lines)


class Extracts:
    """Nights of extracts for one set of generator parameters, generated once and kept."""

    def __init__(self, work: Path, laos: int, seed: int, bad: float, send: float):
        self.params = {"laos": laos, "seed": seed, "bad_fraction": bad, "send_rate": send}
        self.base = work / f"gen-laos{laos or 'all'}-seed{seed}-bad{bad:g}-send{send:g}"
        self.landing = self.base / "landing"
        self.manifest = self.base / "manifest"

    def info(self, night: date) -> dict | None:
        path = self.manifest / f"{night.isoformat()}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if data.get("params") == self.params else None

    def rows(self, nights: list[date]) -> int:
        return sum((self.info(n) or {}).get("rows", 0) for n in nights)

    def generated(self, nights) -> dict:
        """{night: rows} of the ``nights`` already generated with these parameters."""
        return {n: info["rows"] for n in set(nights) if (info := self.info(n)) is not None}

    def ensure(self, nights: list[date], jobs: int) -> dict:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        from dla_pipeline.config import SOURCES

        todo = sorted(n for n in set(nights) if self.info(n) is None)
        self.landing.mkdir(parents=True, exist_ok=True)
        self.manifest.mkdir(parents=True, exist_ok=True)
        if not todo:
            say(f"{len(set(nights))} night(s) of extracts already generated in {self.base}")
            return {"generated": 0, "seconds": 0.0}
        for n in todo:  # a half-written night from an interrupted run is written again
            for source in SOURCES:
                shutil.rmtree(self.landing / source / n.isoformat(), ignore_errors=True)
        say(
            f"generating {len(todo)} night(s) for {self.params['laos'] or 'all'} LAOs"
            f" (seed {self.params['seed']}) with {jobs} process(es) into {self.base}"
        )
        t0 = time.monotonic()
        p = self.params
        args = [
            (
                n.isoformat(),
                str(self.landing),
                p["laos"],
                p["seed"],
                p["bad_fraction"],
                p["send_rate"],
            )
            for n in todo
        ]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_generate_one, a) for a in args]
            for i, fut in enumerate(as_completed(futures), 1):
                night, out, secs = fut.result()
                (self.manifest / f"{night}.json").write_text(
                    json.dumps({"params": self.params, "rows": out["rows"], "files": out["files"]})
                )
                say(
                    f"  {i}/{len(todo)} {night}: {out['rows']:,} rows, {out['files']:,} files"
                    f" ({secs:.0f}s)"
                )
        secs = time.monotonic() - t0
        say(f"generated {len(todo)} night(s) in {secs:.0f}s")
        return {"generated": len(todo), "seconds": round(secs, 1)}


def write_memory_file(path: Path, rows: int, night: date, done: Path) -> None:
    """One single-LAO allowance file of ``rows`` good rows (scripts/bench_memory.py's writer);
    ``done`` (outside the landing zone) marks it complete."""
    import importlib.util

    if path.exists() and done.exists():
        return
    spec = importlib.util.spec_from_file_location(
        "bench_memory", Path(__file__).resolve().with_name("bench_memory.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    say(f"writing a {rows:,}-row single-LAO file")
    module.write_file(path, rows, True, night)
    done.write_text(f"{rows}\n")


# -- the bench database ----------------------------------------------------------------------


def _safe_db_name(name: str, dev_db: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or "bench" not in name:
        raise BenchError(f"bench database {name!r}: lower-case letters, digits, _, with 'bench'")
    if name in (dev_db, "postgres", "template0", "template1", "airflow"):
        raise BenchError(f"refusing to use {name!r} as the bench database")
    return name


def setup_database(root: Path, db: str, work: Path, keep: bool) -> dict:
    """A database of its own on the same server, provisioned like tests/conftest.py does."""
    from dla_pipeline import access, warehouse
    from dla_pipeline.config import PgUrl, get_settings, read_env_file

    env = read_env_file(root / ".env")
    if not warehouse.admin_configured():
        raise BenchError("no warehouse configured: run `make setup` first")
    if warehouse.embedded_in_use():
        warehouse.start_embedded()
        env = read_env_file(root / ".env")
    dev_db = PgUrl.parse(env.get("WAREHOUSE_URL", "postgresql://x@h/dla")).dbname
    db = _safe_db_name(db, dev_db)
    owner = PgUrl.parse(os.environ.get("WAREHOUSE_URL") or env["WAREHOUSE_URL"])
    analyst_url = os.environ.get("ANALYST_URL") or env.get("ANALYST_URL")
    admin = warehouse.admin_conninfo()
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True, mode=0o700)
    urls = {
        "WAREHOUSE_URL": owner.url(db),
        "LANDING_DIR": str(work / "landing"),  # replaced by the extracts' folder below
        "RUNS_DIR": str(runs),
        "PSEUDONYM_KEY": "bench-key-not-secret",
        "PSEUDONYM_KEY_VERSION": "1",
        "ERASURE_KEY": "bench-erasure-key-not-secret",
        # dbt's target (manifest, partial parse) apart from the project's and the tests'
        "DBT_TARGET_PATH": str(work / "dbt-target"),
    }
    if analyst_url:
        urls["ANALYST_URL"] = PgUrl.parse(analyst_url).url(db)
    os.environ.update(urls)
    if keep:
        say(f"reusing database {db} (--keep)")
    else:
        say(f"dropping and recreating database {db}")
        warehouse.drop_database(admin, db)
    settings = get_settings()
    # no Airflow here: provisioning leaves Airflow's metadata database alone
    settings = settings.model_copy(update={"airflow_db_password": None})
    access.provision(admin, warehouse.admin_conninfo(dbname=db), settings)
    pgdata = warehouse.Embedded(root).pgdata if warehouse.embedded_in_use() else None
    return {"db": db, "admin_db": warehouse.admin_conninfo(dbname=db), "pgdata": pgdata}


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("select version()").fetchone()[0]


def loaded_nights(admin_db: str, start: date | None = None, end: date | None = None) -> dict:
    """{night: rows_in} of the nights in ops.nights (all sources)."""
    import psycopg

    with psycopg.connect(admin_db) as conn:
        rows = conn.execute(
            "select extract_date, sum(rows_in) from ops.nights"
            " where extract_date between coalesce(%s, '-infinity'::date)"
            " and coalesce(%s, 'infinity'::date) group by 1",
            (start, end),
        ).fetchall()
    return {d: int(n) for d, n in rows}


def forget(night: date, sources: tuple[str, ...] | None = None) -> None:
    from dla_pipeline.config import SOURCES
    from dla_pipeline.ingest import forget_night

    for s in sources or SOURCES:
        forget_night(s, night)


def _latest_steps(admin_db: str, kind: str) -> dict:
    import psycopg

    with psycopg.connect(admin_db) as conn:
        row = conn.execute(
            "select steps from ops.runs where kind = %s order by started_at desc limit 1", (kind,)
        ).fetchone()
    return (row[0] if row else None) or {}


def _steps_seconds(steps: dict) -> dict:
    """{step: seconds} in the order the steps ran (ops.runs / the night's summary)."""
    ordered = sorted(steps.items(), key=lambda kv: (kv[1] or {}).get("started_at") or "")
    return {k: (v or {}).get("seconds") for k, v in ordered}


# -- phases ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, root: Path):
        self.args, self.root = args, root
        self.night = date.fromisoformat(args.date)
        self.work = Path(args.work_dir).resolve()
        self.out_dir = Path(args.out_dir).resolve()
        self.day = date.today().isoformat()
        self.suffix = "-quick" if args.quick else ("" if args.laos == 0 else f"-laos{args.laos}")

    # history: the --history-months calendar months before the night's month
    def history_months(self) -> list[list[date]]:
        months = []
        y, m = self.night.year, self.night.month
        for _ in range(self.args.history_months):
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
            days = calendar.monthrange(y, m)[1]
            months.append([date(y, m, d) for d in range(1, days + 1)])
        return months[::-1]

    def timed_nights(self) -> list[date]:
        month = self.history_months()[-1]
        return month[: min(self.args.nights, len(month))]

    def nights_needed(self, phases: list[str]) -> list[date]:
        need: set[date] = set()
        if {"loader", "profile", "night"} & set(phases):
            need.add(self.night)
        if "incremental" in phases:
            need.add(self.night + timedelta(days=1))
        if "backfill" in phases:
            months = self.history_months()
            for month in months:  # the whole timed month too: --nights N extrapolates by rows
                need.update(month)
        return sorted(need)

    # -------------------------------------------------------------------------------------
    def loader(self) -> dict:
        """The loader and COPY of the same rows, alternated: each round loads the night in a
        fresh process, then COPYs the rows it loaded into a fresh logged table, so a round's
        ratio is measured within a minute; the figures are the median round's (the machine
        is shared: one load against the median of three COPYs moved the ratio by a fifth
        between two runs ten minutes apart)."""
        night, url = self.night, os.environ["WAREHOUSE_URL"]
        spool = self.work / "ceiling.copy"
        rounds, exported, size = [], 0, 0
        for i in range(self.args.copy_repeats):
            load = self._load_once(night, i)
            if i == 0:
                exported, size = self._export(url, night, spool)
            copy = self._copy_in(url, spool, exported, indexes=False)
            ratio = load["rows_per_s"] / copy["rows_per_s"] if copy["rows_per_s"] else 0.0
            rounds.append({"load": load, "copy": copy, "ratio": round(ratio, 3)})
            say(
                f"round {i + 1}/{self.args.copy_repeats}: loader {load['rows_per_s']:,.0f}"
                f" rows/s, COPY {copy['rows_per_s']:,.0f} rows/s (fresh logged table, no"
                f" indexes): {ratio:.3f}"
            )
        indexed = self._copy_in(url, spool, exported, indexes=True)
        say(f"COPY into a table with raw's indexes: {indexed['rows_per_s']:,.0f} rows/s")
        spool.unlink(missing_ok=True)
        forget(night, ("allowance",))  # the night phase loads it again, as a new night
        mid = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
        load, summary = mid["load"], mid["load"]["summary"]
        return {
            "night": night.isoformat(),
            "rows_in": load["rows_in"],
            "rows_loaded": summary.get("rows_loaded"),
            "rows_quarantined": summary.get("rows_quarantined"),
            "files": summary.get("files"),
            "load_seconds": round(load["seconds"], 2),
            "loader_rows_per_s": round(load["rows_per_s"]),
            "process": load["process"],
            "copy_rows": exported,
            "copy_text_mib": round(size / 2**20, 1),
            "copy_seconds": mid["copy"]["seconds"],
            "copy_rows_per_s": mid["copy"]["rows_per_s"],  # the median round's
            "copy_tries_rows_per_s": [r["copy"]["rows_per_s"] for r in rounds],
            "copy_tries_machine_cores_busy": [
                r["copy"]["machine_cores_busy_all_processes"] for r in rounds
            ],
            "loader_tries_rows_per_s": [round(r["load"]["rows_per_s"]) for r in rounds],
            "round_ratios": [r["ratio"] for r in rounds],
            "copy_with_indexes_rows_per_s": indexed["rows_per_s"],
            "ratio": mid["ratio"],
            "note": "loader rows/s = rows read (loaded + quarantined) / load_night's time;"
            " COPY = the rows it loaded, as text, into a fresh logged table (LIKE raw's"
            " columns, no indexes), through psycopg 3, same server; rounds of a load then a"
            " COPY, the median round's figures",
        }

    def _load_once(self, night: date, i: int) -> dict:
        """The allowance night loaded by ``load_night`` in a fresh process, forgotten first."""
        forget(night, ("allowance",))
        say(f"loading the allowance night {night} with load_night (in a fresh process)")
        out = self.work / "loader.json"
        run = self.runner.run(
            "loader" if i == 0 else f"loader-{i + 1}",
            _self_cmd("load", source="allowance", night=night.isoformat(), out=str(out)),
        )
        res = json.loads(out.read_text())
        rows_in, secs = int(res["summary"].get("rows_in") or 0), res["seconds"]
        say(f"loader: {rows_in:,} rows in {secs:.1f}s = {rows_in / secs:,.0f} rows/s")
        return {
            "rows_in": rows_in,
            "seconds": secs,
            "rows_per_s": rows_in / secs if secs else 0.0,
            "summary": res["summary"],
            "process": run,
        }

    def _export(self, url: str, night: date, spool: Path) -> tuple[int, int]:
        """The rows the loader loaded, as COPY text in ``spool``: (rows, bytes)."""
        import psycopg

        with psycopg.connect(url) as conn, spool.open("wb") as fh, conn.cursor() as cur:
            with cur.copy(
                "copy (select * from raw.allowance_payments where extract_date = %s) to stdout",
                (night,),
            ) as cp:
                for block in cp:
                    fh.write(block)
            exported = conn.execute(
                "select count(*) from raw.allowance_payments where extract_date = %s", (night,)
            ).fetchone()[0]
        size = spool.stat().st_size
        say(f"exported {exported:,} loaded rows as COPY text ({size / 2**20:,.0f} MiB)")
        return exported, size

    def _copy_in(self, url: str, spool: Path, rows: int, indexes: bool) -> dict:
        import psycopg

        table = f"{CEILING_SCHEMA}.allowance_payments"
        like = "like raw.allowance_payments" + (" including indexes" if indexes else "")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"create schema if not exists {CEILING_SCHEMA}")
            conn.execute(f"drop table if exists {table}")
            conn.execute(f"create table {table} ({like})")  # logged
        with psycopg.connect(url) as conn, spool.open("rb") as fh:
            m0 = machine_cpu()
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"copy {table} from stdin") as cp:
                while block := fh.read(1 << 20):
                    cp.write(block)
            conn.commit()
            secs = time.perf_counter() - t0
            m1 = machine_cpu()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"drop schema {CEILING_SCHEMA} cascade")
        busy = (m1[0] - m0[0]) / (m1[1] - m0[1]) * (os.cpu_count() or 1) if m1[1] > m0[1] else None
        return {
            "seconds": round(secs, 3),
            "rows_per_s": round(rows / secs) if secs else 0,
            # how busy the whole machine was meanwhile (this COPY included): contention
            "machine_cores_busy_all_processes": round(busy, 2) if busy is not None else None,
        }

    # -------------------------------------------------------------------------------------
    def memory(self) -> dict:
        cases = []
        sizes = self.args.memory_rows
        for i, rows in enumerate(sizes):
            night = MEMORY_NIGHT + timedelta(days=i)
            base = self.work / "memory" / f"rows-{rows}"  # one landing zone per size
            landing = base / "landing"
            path = landing / "allowance" / night.isoformat() / f"{MEMORY_LAO}.csv"
            write_memory_file(path, rows, night, base / f"{night.isoformat()}.done")
            forget(night, ("allowance",))
            out = self.work / f"memory-{rows}.json"
            env = {**os.environ, "LANDING_DIR": str(landing)}
            say(f"loading the {rows:,}-row file in a fresh process")
            run = self.runner.run(
                f"memory-{rows}",
                _self_cmd(
                    "load",
                    source="allowance",
                    night=night.isoformat(),
                    out=str(out),
                    forget_after=True,
                ),
                env=env,
            )
            res = json.loads(out.read_text())
            case = {
                "rows": rows,
                "files": res["summary"].get("files"),
                "rows_in": res["summary"].get("rows_in"),
                "rows_loaded": res["summary"].get("rows_loaded"),
                "load_seconds": round(res["seconds"], 2),
                "peak_rss_mb": run["maxrss_mb"],  # RUSAGE_CHILDREN: its largest process
                "loader_process_peak_rss_mb": round(res["self_maxrss_kb"] / 1024, 1),
            }
            say(
                f"{rows:,} rows: peak RSS {case['peak_rss_mb']:.1f} MB,"
                f" loaded {case['rows_loaded']:,} in {case['load_seconds']:.1f}s"
            )
            if case["rows_loaded"] != rows or case["rows_in"] != rows:
                raise BenchError(
                    f"the {rows:,}-row file read {case['rows_in']:,} rows and loaded"
                    f" {case['rows_loaded']:,}: see {run['log']}"
                )
            cases.append(case)
        small, big = cases[0], cases[-1]
        return {
            "cases": cases,
            "small_rows": small["rows"],
            "big_rows": big["rows"],
            "small_peak_rss_mb": small["peak_rss_mb"],
            "big_peak_rss_mb": big["peak_rss_mb"],
            "ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3)
            if small["peak_rss_mb"]
            else None,
        }

    # -------------------------------------------------------------------------------------
    def profile(self) -> dict:
        night = self.night
        forget(night, ("allowance",))
        txt = self.out_dir / f"profile-{self.day}{self.suffix}.txt"
        out = self.work / "profile.json"
        git = self.facts["git"]
        header = (
            f"# loader profile, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z},"
            f" commit {git['commit'][:12]}{' (dirty)' if git['dirty'] else ''},"
            f" {self.facts['machine']['cpu_count']} x {self.facts['machine']['cpu_model']}\n"
            f"# LOAD_WORKERS=1 for this run: any per-core workers would do their work out of"
            f" the profiler's sight"
        )
        say(f"cProfile of load_night on the allowance night {night}")
        run = self.runner.run(
            "profile",
            _self_cmd(
                "profile", night=night.isoformat(), txt=str(txt), out=str(out), header=header
            ),
            env={**os.environ, "LOAD_WORKERS": "1"},
        )
        forget(night, ("allowance",))
        res = json.loads(out.read_text())
        for t in res["top"][:8]:
            say(f"  {t['pct']:5.1f}%  {t['own_s']:7.2f}s  {t['what']}")
        say(f"profile written to {txt}")
        return {**res, "file": str(txt), "process": run}

    # -------------------------------------------------------------------------------------
    def backfill(self) -> dict:
        months = self.history_months()
        timed = self.timed_nights()
        month = months[-1]
        done = loaded_nights(self.db["admin_db"], months[0][0], month[-1])
        out: dict = {"history_months": len(months)}
        if any(n in done for n in timed):
            say(
                "the history is already loaded in this database (--keep):"
                " not measured again; drop --keep to measure the backfill"
            )
            return {**out, "skipped": "history already loaded (--keep)"}
        for earlier in months[:-1]:  # --history-months > 1: the earlier months, not timed
            say(f"loading earlier history {earlier[0]}..{earlier[-1]} (dla backfill, not timed)")
            out.setdefault("earlier", []).append(
                self._backfill_run(f"history-{earlier[0]:%Y-%m}", earlier[0], earlier[-1])
            )
        say(
            f"dla backfill --from {timed[0]} --to {timed[-1]} --runner direct ({len(timed)} nights)"
        )
        run = self._backfill_run("backfill", timed[0], timed[-1])
        out |= self._backfill_result(run, timed, month)
        say(
            f"backfill: {out['rows_in']:,} rows in {run['wall_s']:.1f}s"
            f" ({out['rows_per_s']:,} rows/s);"
            f" {'published' if run['rc'] == 0 else 'NOT published (see its log)'}"
        )
        return out

    def _backfill_run(self, label: str, first: date, last: date) -> dict:
        return self.runner.run(
            label,
            _dla("backfill", "--from", str(first), "--to", str(last), "--runner", "direct"),
            check=False,
        )

    def _backfill_result(self, run: dict, timed: list[date], month: list[date]) -> dict:
        """The timed backfill's figures; a part of the month is scaled to the month by rows."""
        rows = sum(loaded_nights(self.db["admin_db"], timed[0], timed[-1]).values())
        steps = _latest_steps(self.db["admin_db"], "backfill")
        fixed = sum(
            float((steps.get(s) or {}).get("seconds") or 0)
            for s in ("dbt", "quality_gate", "publish")
        )
        wall = run["wall_s"]
        load_part = max(0.0, wall - fixed)
        gen_timed, gen_month = self.extracts.rows(timed), self.extracts.rows(month)
        full_month = len(timed) == len(month)
        month_s = wall if full_month else load_part * (gen_month / max(1, gen_timed)) + fixed
        out = {
            "from": timed[0].isoformat(),
            "to": timed[-1].isoformat(),
            "nights": len(timed),
            "month_nights": len(month),
            "rows_in": rows,
            "seconds": wall,
            "rows_per_s": round(rows / wall) if wall else None,
            "published": run["rc"] == 0,
            "steps_s": _steps_seconds(steps),
            "load_seconds": round(load_part, 1),
            "build_gate_publish_seconds": round(fixed, 1),
            "per_night_load_s": round(load_part / len(timed), 1),
            "month_seconds": round(month_s, 1),
            "month_extrapolated": not full_month,
            "month_rows_generated": gen_month,
            "timed_rows_generated": gen_timed,
            "process": run,
        }
        if not full_month:
            out["extrapolation"] = (
                f"measured {len(timed)} of {len(month)} nights ({gen_timed:,} generated rows):"
                f" load part {load_part:.1f}s (per-night {load_part / len(timed):.1f}s) scaled by"
                f" rows to the month's {gen_month:,} rows, plus the one build/gate/publish"
                f" measured ({fixed:.1f}s, over {len(timed)} nights)"
            )
            say(out["extrapolation"])
        return out

    # -------------------------------------------------------------------------------------
    def night_phase(self) -> dict:
        night = self.night
        if loaded_nights(self.db["admin_db"], night, night):
            say(f"{night} was loaded before in this database: forgetting it first")
            forget(night)
        history = loaded_nights(self.db["admin_db"])
        say(f"dla night --date {night} --runner direct ({len(history)} night(s) of history)")
        run = self.runner.run(
            "night", _dla("night", "--date", night.isoformat(), "--runner", "direct"), check=False
        )
        summary_path = Path(os.environ["RUNS_DIR"]) / f"{night.isoformat()}.json"
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            summary = {}
        rows = sum((v or {}).get("rows_in") or 0 for v in summary.get("sources", {}).values())
        out = {
            "night": night.isoformat(),
            "history_nights": len(history),
            "rows_in": rows,
            "seconds": run["wall_s"],
            "ok": bool(summary.get("ok")),
            "published": bool(summary.get("published")),
            "steps_s": _steps_seconds(summary.get("steps") or {}),
            "cores_busy": run.get("cores_busy"),
            "client_cores": run.get("client_cores"),
            "server_cores": run.get("server_cores"),
            "process": run,
        }
        say(
            f"night: {rows:,} rows in {run['wall_s']:.1f}s, cores busy {run.get('cores_busy')}"
            f" (pipeline {run.get('client_cores')}, server {run.get('server_cores')});"
            f" {'published' if out['published'] else 'NOT published (see its log)'}"
        )
        return out

    # -------------------------------------------------------------------------------------
    def incremental(self) -> dict:
        import psycopg

        nxt = self.night + timedelta(days=1)
        if loaded_nights(self.db["admin_db"], nxt, nxt):
            say(f"{nxt} was loaded before in this database: forgetting it first")
            forget(nxt)
        with psycopg.connect(self.db["admin_db"]) as conn:
            wm = conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]
            built = (
                bool(wm)
                and conn.execute("select count(*) from core.model_watermarks").fetchone()[0]
            )
        out: dict = {}
        if not built:  # the first build of a warehouse is a full one: not an ordinary night
            say("no build yet in this database: one build of what is loaded first (not timed)")
            out["first_build"] = self.runner.run(
                "first-build",
                _self_cmd(
                    "build",
                    night=str(self.night),
                    full_refresh=False,
                    out=str(self.work / "first-build.json"),
                ),
            )
        say(f"loading the next night {nxt} (dla load, not timed)")
        out["load"] = self.runner.run("incremental-load", _dla("load", "--date", nxt.isoformat()))
        history = loaded_nights(self.db["admin_db"])
        res = {}
        for label, full in (("incremental", False), ("full_refresh", True)):
            path = self.work / f"build-{label}.json"
            say(f"dbt build of {nxt}{' --full-refresh' if full else ''} (transform.build)")
            run = self.runner.run(
                f"build-{label}",
                _self_cmd("build", night=nxt.isoformat(), full_refresh=full, out=str(path)),
            )
            res[label] = {**json.loads(path.read_text()), "process": run}
            say(f"{label}: {res[label]['seconds']:.1f}s")
        inc, full = res["incremental"]["seconds"], res["full_refresh"]["seconds"]
        return {
            **out,
            "night": nxt.isoformat(),
            "history_nights": len(history),
            "history_rows": sum(history.values()),
            "history_months_asked": self.args.history_months,
            "incremental_seconds": round(inc, 2),
            "full_refresh_seconds": round(full, 2),
            "ratio": round(inc / full, 3) if full else None,
            "builds": res,
        }

    # -------------------------------------------------------------------------------------
    def run(self, phases: list[str]) -> dict:
        global _phase
        from dla_pipeline import warehouse

        args = self.args
        self.work.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        started = datetime.now().astimezone()
        self.facts = {"git": git_facts(self.root), "machine": machine_facts()}
        load_start = os.getloadavg()
        _phase = "setup"
        self.db = setup_database(self.root, args.db, self.work, args.keep)
        self.facts["machine"]["postgresql"] = server_version(os.environ["WAREHOUSE_URL"])
        self.extracts = Extracts(self.work, args.laos, args.seed, args.bad_fraction, args.send_rate)
        os.environ["LANDING_DIR"] = str(self.extracts.landing)
        self.runner = Runner(self.work, ServerCpu(self.db["pgdata"]), args.heartbeat)
        nights = self.nights_needed(phases)
        if args.disk_check:
            say(self.check_disk(nights, phases))
        _phase = "generate"
        gen = self.extracts.ensure(nights, args.jobs)
        if not warehouse.admin_configured():
            raise BenchError("no warehouse")
        results = {name: self._run_phase(name) for name in phases}
        _phase = "report"
        self.facts["machine"]["loadavg_start"] = [round(x, 2) for x in load_start]
        self.facts["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        git_end = git_facts(self.root)
        if git_end != self.facts["git"]:
            self.facts["git"]["changed_during_run"] = git_end
        report = {
            "date": self.day,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "total_seconds": round(time.monotonic() - T0, 1),
            "git": self.facts["git"],
            "machine": self.facts["machine"],
            "scale": {
                "quick": args.quick,
                "laos": args.laos or "all",
                "seed": args.seed,
                "bad_fraction": args.bad_fraction,
                "send_rate": args.send_rate,
                "night": self.night.isoformat(),
                "history_months": args.history_months,
                "backfill_nights": args.nights,
                "memory_rows": args.memory_rows,
            },
            "database": self.db["db"],
            "generation": gen,
            "phases_run": phases,
            "phases": results,
        }
        return self.save(report)

    def check_disk(self, nights: list[date], phases: list[str]) -> str:
        """Before anything is generated or loaded: the run fits on the disk."""
        memory = sum(self.args.memory_rows) if "memory" in phases else 0
        plan = disk_plan(
            nights,
            loaded_nights(self.db["admin_db"]),
            self.extracts.generated(nights),
            self.args.laos,
            extra_rows=memory,
        )
        return check_disk(plan, self.db["pgdata"], self.work)

    def _run_phase(self, name: str) -> dict:
        """One phase, timed, with the commit it measured (the code may change under a run)."""
        global _phase
        fns = {
            "loader": self.loader,
            "memory": self.memory,
            "profile": self.profile,
            "backfill": self.backfill,
            "night": self.night_phase,
            "incremental": self.incremental,
        }
        _phase = name
        t0 = time.monotonic()
        phase_started = datetime.now().astimezone().isoformat(timespec="seconds")
        git = git_facts(self.root)
        say("start")
        try:
            res = fns[name]()
        except BenchError as exc:
            say(f"FAILED: {exc}")
            res = {"error": str(exc)}
        res["phase_seconds"] = round(time.monotonic() - t0, 1)
        res["started_at"] = phase_started
        res["measured_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        res["commit"] = git["commit"]
        res["dirty"] = git["dirty"]
        say(f"done in {res['phase_seconds']:.0f}s")
        return res

    def save(self, report: dict) -> dict:
        path = self.out_dir / f"{self.day}{self.suffix}.json"
        earlier = {}
        if path.exists():
            try:
                old = json.loads(path.read_text())
                if old.get("scale") == report["scale"]:
                    earlier = {
                        k: v for k, v in old.get("phases", {}).items() if k not in report["phases"]
                    }
            except ValueError:
                pass
        for v in earlier.values():
            v["from_earlier_run"] = True
        report["phases"] = {
            k: ({**earlier, **report["phases"]})[k]
            for k in PHASES
            if k in earlier or k in report["phases"]
        }
        report["figures"] = figures(report["phases"], report["machine"]["cpu_count"] or 1)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
        report["path"] = str(path)
        return report


# -- the figures --------------------------------------------------------------------------------


def figures(ph: dict, cores: int) -> list[dict]:
    """The table the bench prints: every figure with its goal, PASS/MISS or info."""
    rows: list[dict] = []

    def add(phase, name, value, unit, goal="", ok=None, note=""):
        rows.append(
            {
                "phase": phase,
                "figure": name,
                "value": value,
                "unit": unit,
                "goal": goal,
                "status": "info" if ok is None else ("PASS" if ok else "MISS"),
                "note": note,
            }
        )

    for phase, key, add_figures in (
        ("loader", "ratio", _loader_figures),
        ("night", "seconds", _night_figures),
        ("backfill", "seconds", _backfill_figures),
        ("incremental", "ratio", _incremental_figures),
        ("memory", "ratio", _memory_figures),
        ("profile", "top", _profile_figures),
    ):
        if phase in ph and key in ph[phase]:
            later = " (earlier run today)" if ph[phase].get("from_earlier_run") else ""
            add_figures(add, ph[phase], cores, later)
    for name, p in ph.items():
        if "error" in p:
            add(name, "FAILED", None, "", ok=False, note=p["error"][:200])
    return rows


def _copy_note(p: dict, cores: int) -> str:
    tries = p.get("copy_tries_rows_per_s") or []
    busy = p.get("copy_tries_machine_cores_busy")
    note = (
        f"{p['copy_rows']:,} rows, {p['copy_text_mib']:.0f} MiB of text in {p['copy_seconds']:.2f}s"
    )
    if len(tries) > 1:
        note += " (the median round's; rounds: " + ", ".join(f"{x:,}" for x in tries) + ")"
    if busy:
        note += "; machine busy " + ", ".join(str(x) for x in busy) + f" of {cores}"
    return note


def _loader_figures(add, p: dict, cores: int, earlier: str) -> None:
    ok = p["ratio"] >= GOAL_LOADER_RATIO
    add(
        "loader",
        "dla load, allowance night",
        p["loader_rows_per_s"],
        "rows/s",
        f"≥ {GOAL_LOADER_RATIO:.2f} × COPY",
        ok,
        f"{p['rows_in']:,} rows in {p['load_seconds']:.1f}s, loader"
        f" {p['process'].get('client_cores')} cores; machine busy"
        f" {p['process'].get('machine_cores_busy_all_processes')} of {cores}{earlier}",
    )
    add(
        "loader",
        "COPY ceiling, same rows, logged table",
        p["copy_rows_per_s"],
        "rows/s",
        note=_copy_note(p, cores),
    )
    add(
        "loader",
        "COPY with raw's indexes (for reference)",
        p["copy_with_indexes_rows_per_s"],
        "rows/s",
    )
    ratios = p.get("round_ratios") or []
    add(
        "loader",
        "loader / COPY ceiling",
        p["ratio"],
        "ratio",
        f"≥ {GOAL_LOADER_RATIO:.2f}",
        ok,
        note=f"median of {len(ratios)} rounds: " + ", ".join(f"{x:.3f}" for x in ratios)
        if len(ratios) > 1
        else "",
    )


def _night_figures(add, p: dict, cores: int, earlier: str) -> None:
    add(
        "night",
        "national night end to end",
        p["seconds"],
        "s",
        f"≤ {GOAL_NIGHT_S:.0f} s",
        p["seconds"] <= GOAL_NIGHT_S and p["ok"],
        f"{p['rows_in']:,} rows on {p['history_nights']} night(s) of history,"
        f" {'published' if p['published'] else 'NOT published'}{earlier}",
    )
    if p.get("cores_busy") is not None:
        add(
            "night",
            "cores busy (pipeline + server)",
            p["cores_busy"],
            f"of {cores}",
            f"≥ {GOAL_NIGHT_CORES * cores:.1f}",
            p["cores_busy"] >= GOAL_NIGHT_CORES * cores,
            f"pipeline {p['client_cores']}, server {p['server_cores']} (server: all its databases)",
        )
    _steps(add, "night", p)


def _backfill_figures(add, p: dict, cores: int, earlier: str) -> None:
    published = "published" if p["published"] else "NOT published"
    add(
        "backfill",
        f"national month backfilled ({p['month_nights']} nights)",
        p["month_seconds"],
        "s",
        f"≤ {GOAL_BACKFILL_S:.0f} s",
        p["month_seconds"] <= GOAL_BACKFILL_S and p["published"],
        ("EXTRAPOLATED: " + p["extrapolation"])
        if p["month_extrapolated"]
        else f"{p['rows_in']:,} rows, {published}{earlier}",
    )
    if p["month_extrapolated"]:
        add(
            "backfill",
            f"measured: {p['nights']} nights",
            p["seconds"],
            "s",
            note=f"{p['rows_in']:,} rows, per-night load {p['per_night_load_s']}s,"
            f" build+gate+publish {p['build_gate_publish_seconds']}s",
        )
    add("backfill", "backfill throughput", p["rows_per_s"], "rows/s")
    _steps(add, "backfill", p)


def _incremental_figures(add, p: dict, cores: int, earlier: str) -> None:
    add(
        "incremental",
        "incremental dbt build, next night",
        p["incremental_seconds"],
        "s",
        note=f"on {p['history_nights']} night(s) of history ({p['history_rows']:,} rows;"
        f" asked for {p['history_months_asked']} month(s)){earlier}",
    )
    add("incremental", "full refresh, same state", p["full_refresh_seconds"], "s")
    add(
        "incremental",
        "incremental / full refresh",
        p["ratio"],
        "ratio",
        f"≤ {GOAL_INCREMENTAL_RATIO:.2f}",
        p["ratio"] <= GOAL_INCREMENTAL_RATIO,
    )


def _memory_figures(add, p: dict, cores: int, earlier: str) -> None:
    add("memory", f"peak RSS, {p['small_rows']:,}-row file", p["small_peak_rss_mb"], "MB")
    add("memory", f"peak RSS, {p['big_rows']:,}-row file", p["big_peak_rss_mb"], "MB")
    add(
        "memory",
        "big / small peak RSS",
        p["ratio"],
        "ratio",
        f"≤ {GOAL_MEMORY_RATIO:.2f} (flat)",
        p["ratio"] <= GOAL_MEMORY_RATIO,
        earlier.strip(),
    )


def _profile_figures(add, p: dict, cores: int, earlier: str) -> None:
    top = ", ".join(f"{t['what']} {t['pct']:.0f}%" for t in p["top"][:4])
    add("profile", "loader under cProfile", p["seconds"], "s", note=f"{top}; {p['file']}")


def _steps(add, phase: str, p: dict) -> None:
    """The run's recorded steps, and the wall time outside them (start-up, summaries)."""
    steps = p.get("steps_s") or {}
    for step, secs in steps.items():
        add(phase, f"  step {step}", secs, "s")
    if steps:
        outside = p["seconds"] - sum(v or 0 for v in steps.values())
        add(phase, "  outside the steps", round(outside, 1), "s", note="start-up, summaries")


def _fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value} {unit}".strip()


def print_report(report: dict) -> None:
    m, g = report["machine"], report["git"]
    print()
    print(
        f"=== make bench, {report['date']} — {m['cpu_count']} × {m['cpu_model']}, {m['ram_gib']} GiB,"
        f" Python {m['python']}, {m.get('postgresql', '').split(' on ')[0]} ==="
    )
    print(
        f"commit {g['commit'][:12]}{' + uncommitted edits' if g['dirty'] else ''};"
        f" scale {report['scale']['laos']} LAOs, night {report['scale']['night']},"
        f" load average {m['loadavg_start']} → {m['loadavg_end']}"
    )
    w = max([len(r["figure"]) for r in report["figures"]] + [20])
    print(f"{'phase':<12}{'figure':<{w + 2}}{'value':>18}  {'goal':<18}{'result':<7}note")
    for r in report["figures"]:
        print(
            f"{r['phase']:<12}{r['figure']:<{w + 2}}{_fmt(r['value'], r['unit']):>18}  "
            f"{r['goal']:<18}{r['status'] if r['status'] != 'info' else '':<7}{r['note']}"
        )
    print(
        "measured: "
        + "; ".join(
            f"{name} at {(p.get('started_at') or p.get('measured_at') or '?')[11:16]}"
            f" ({(p.get('commit') or '?')[:8]}{'+edits' if p.get('dirty') else ''}"
            f"{', earlier run' if p.get('from_earlier_run') else ''})"
            for name, p in report["phases"].items()
        )
    )
    if g.get("changed_during_run"):
        print(f"the code changed during the run: now {g['changed_during_run']['commit'][:12]}")
    if report["scale"]["quick"] or report["scale"]["laos"] != "all":
        print("(not at national scale: the goals apply to a national run)")
    print(f"\nwritten to {report['path']}")


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: 500 LAOs, 3 nights, small files"
    )
    ap.add_argument(
        "--only", default=",".join(PHASES), help=f"phases, comma-separated: {','.join(PHASES)}"
    )
    ap.add_argument("--keep", action="store_true", help="reuse the bench database (no drop)")
    ap.add_argument(
        "--no-disk-check",
        dest="disk_check",
        action="store_false",
        help="run even when the history asked for looks larger than the free disk",
    )
    ap.add_argument(
        "--date", default=DEFAULT_NIGHT, help="the national night (a pay day, 1st-10th)"
    )
    ap.add_argument("--history-months", type=int, default=1, help="months of history before it")
    ap.add_argument(
        "--nights",
        type=int,
        default=None,
        help="backfill the first N nights of the month (default all)",
    )
    ap.add_argument("--laos", type=int, default=None, help="LAOs (0 = all 7,849; --quick: 500)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bad-fraction", type=float, default=0.02)
    ap.add_argument("--send-rate", type=float, default=0.95)
    ap.add_argument("--memory-rows", default=None, help="small,big (default 20000,2000000)")
    ap.add_argument(
        "--copy-repeats", type=int, default=3, help="loader rounds: a load, then a COPY (median)"
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="generator processes")
    ap.add_argument("--heartbeat", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--db", default=os.environ.get("DLA_BENCH_DB", "dla_bench"))
    ap.add_argument("--work-dir", default=os.environ.get("DLA_BENCH_WORK", "data/bench/work"))
    ap.add_argument("--out-dir", default=os.environ.get("DLA_BENCH_OUT", "data/bench"))
    args = ap.parse_args(argv)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        ap.error(f"--only: unknown phase(s) {unknown}; choose from {','.join(PHASES)}")
    args.phases = [p for p in PHASES if p in phases]
    if args.laos is None:
        args.laos = 500 if args.quick else 0
    if args.nights is None:
        args.nights = 3 if args.quick else GOAL_BACKFILL_NIGHTS
    if args.memory_rows is None:
        args.memory_rows = "20000,200000" if args.quick else "20000,2000000"
    try:
        args.memory_rows = sorted(int(x) for x in args.memory_rows.split(","))
    except ValueError:
        ap.error("--memory-rows: two numbers, e.g. 20000,2000000")
    try:
        date.fromisoformat(args.date)
    except ValueError:
        ap.error("--date: YYYY-MM-DD")
    if args.copy_repeats < 1:
        ap.error("--copy-repeats: at least 1")
    if args.nights < 1 or args.history_months < 1 or len(args.memory_rows) < 2:
        ap.error("--nights and --history-months are at least 1; --memory-rows needs two sizes")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["_wrap"]:
        return wrap_main(argv[1:])
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    # make bench BENCH_ARGS="...": the raw text arrives in the environment, split like argv
    args = parse_args(shlex.split(os.environ.get("DLA_BENCH_ARGS", "")) + argv)
    root = Path(os.environ.get("DLA_HOME") or Path(__file__).resolve().parents[1]).resolve()
    os.chdir(root)
    os.environ["DLA_HOME"] = str(root)
    os.umask(0o077)
    say(f"phases: {', '.join(args.phases)}")
    try:
        report = Bench(args, root).run(args.phases)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    return 1 if any("error" in p for p in report["phases"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
