"""One night end to end, and its summary (``make night`` / ``make run``).

The default runner drives the real DAGs with ``airflow dags test`` (every ingest DAG,
then ``build_marts``); ``--runner direct`` calls the same steps in-process. Either way:

* one run per night at a time: a second ``make night`` for the same date says which
  run holds it and waits for it (then finds the files unchanged);
* a run that was killed (``ops.runs`` still says running, but it holds no lock) is
  reported as interrupted, with the step it reached, and this run completes it;
* the summary is read back from the ledger, printed, and written to
  ``data/runs/<DATE>.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

from . import ledger
from .airflow_env import airflow_env
from .config import SOURCES, get_settings
from .db import connect, migrate
from .landing import landing_for


def _airflow_dag_test(dag_id: str, night: date, log_dir: Path) -> tuple[bool, str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{night.isoformat()}.{dag_id}.log"
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log_path.open("w") as fh:
        proc = subprocess.run(
            [airflow, "dags", "test", dag_id, night.isoformat()],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=airflow_env(),
            check=False,
        )
    text = log_path.read_text(errors="replace")
    ok = proc.returncode == 0 and f"dag_id={dag_id}" in text and "state=success" in text
    return ok, str(log_path)


def _direct(night: date, run_id: str, record) -> dict[str, dict]:
    from . import steps

    done: dict[str, dict] = {}
    for source in SOURCES:
        t0 = time.monotonic()
        try:
            for batch in steps.ingest_plan(source, night):
                steps.ingest_batch(source, night, batch, run_id)
            steps.ingest_close(source, night)
            done[f"ingest_{source}"] = {"ok": True}
        except Exception as exc:  # reported in the summary, the night goes on
            done[f"ingest_{source}"] = {"ok": False, "error": str(exc)}
        done[f"ingest_{source}"]["seconds"] = round(time.monotonic() - t0, 1)
        record(f"ingest_{source}", done[f"ingest_{source}"])
    if not all(v["ok"] for v in done.values()):
        done["build_marts"] = {"ok": False, "skipped": True, "error": "an ingest failed"}
        return done
    t0 = time.monotonic()
    try:
        record("build_marts", {"ok": None, "phase": "dbt"})
        steps.transform(night)
        record("build_marts", {"ok": None, "phase": "quality_gate"})
        steps.quality_gate(night, run_id)
        record("build_marts", {"ok": None, "phase": "publish"})
        steps.publish_marts(night, run_id)
        done["build_marts"] = {"ok": True}
    except Exception as exc:
        done["build_marts"] = {"ok": False, "error": str(exc)}
    done["build_marts"]["seconds"] = round(time.monotonic() - t0, 1)
    return done


def _with_airflow(night: date, record, log_dir: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    for dag_id in [*(f"ingest_{s}" for s in SOURCES), "build_marts"]:
        if dag_id == "build_marts" and not all(v["ok"] for v in done.values()):
            # as in production, where only a successful ingest emits the Asset
            print("build_marts skipped: an ingest failed, nothing new is published")
            done[dag_id] = {"ok": False, "skipped": True}
            continue
        t0 = time.monotonic()
        record(dag_id, {"ok": None})
        print(f"airflow dags test {dag_id} {night} ...", flush=True)
        ok, log_path = _airflow_dag_test(dag_id, night, log_dir)
        done[dag_id] = {"ok": ok, "seconds": round(time.monotonic() - t0, 1), "log": log_path}
        record(dag_id, done[dag_id])
        print(
            f"  {'ok' if ok else 'FAILED'} in {done[dag_id]['seconds']}s (log: {log_path})",
            flush=True,
        )
    return done


def summarize(night: date, since: datetime | None = None) -> dict:
    """The night as the ledger has it; publishing as decided by the run started at ``since``."""
    with connect(role="loader") as conn:
        totals = ledger.night_totals(conn, night)
        pub = ledger.last_publish(conn, night, since)
        checks = ledger.quality_results(conn, pub[0], night) if pub else []
        issues = ledger.landing_issue_counts(conn, night)
    published_rows = {}
    if pub and pub[1] == "published":
        with connect(role="publisher") as conn:  # the owner of the published tables
            for t in pub[2]:
                schema, _, name = t.rpartition(".")
                published_rows[t] = conn.execute(
                    f'select count(*) from "{schema or "marts"}"."{name}"'
                ).fetchone()[0]
    keys = (
        "files",
        "files_rejected",
        "laos_reporting",
        "rows_in",
        "rows_loaded",
        "rows_quarantined",
    )
    per_source = {
        s: v if v else {k: 0 for k in keys} | {"conservation_ok": None} for s, v in totals.items()
    }
    failed = [
        f"{s}: {e} on {c or 'table'} (observed {o})"
        for s, e, sev, c, ok, o in checks
        if not ok and sev == "blocking"
    ]
    warned = [
        f"{s}: {e} on {c or 'table'}"
        for s, e, sev, c, ok, o in checks
        if not ok and sev != "blocking"
    ]
    gate = {
        "status": ("passed" if pub and pub[1] == "published" else "failed" if pub else "not run"),
        "checks": len(checks),
        "passed": sum(1 for c in checks if c[4]),
        "failed": failed,
        "warnings": warned,
    }
    for source in SOURCES:
        mine = [c for c in checks if f"raw_{source}" in c[0]]
        per_source[source]["quality_gate"] = {
            "checks": len(mine),
            "passed": sum(1 for c in mine if c[4]),
            "status": "not checked"
            if not mine
            else ("passed" if all(c[4] or c[2] != "blocking" for c in mine) else "failed"),
        }
    return {
        "extract_date": night.isoformat(),
        "sources": per_source,
        "landing_issues": issues,
        "quality_gate": gate,
        "published": pub is not None and pub[1] == "published",
        "marts_published": published_rows,
        "publish_reason": pub[3] if pub else None,
    }


def print_summary(s: dict) -> None:
    print(f"\n=== night {s['extract_date']} ===")
    print(
        f"{'source':<12}{'files':>7}{'rejected':>9}{'rows in':>11}{'loaded':>11}"
        f"{'quarant.':>10}  conservation"
    )
    for name, v in s["sources"].items():
        print(
            f"{name:<12}{v['files']:>7}{v['files_rejected']:>9}{v['rows_in']:>11,}"
            f"{v['rows_loaded']:>11,}{v['rows_quarantined']:>10,}  "
            f"{'ok' if v['conservation_ok'] else v['conservation_ok']}"
        )
    if s.get("landing_issues"):
        what = ", ".join(f"{n} {code}" for code, n in s["landing_issues"].items())
        print(f"landing issues (outside the layout, not read): {what} — see ops.landing_issues")
    g = s["quality_gate"]
    print(
        f"quality gate: {g['status']} ({g['passed']}/{g['checks']} expectations passed,"
        f" {len(g['warnings'])} warning(s))"
    )
    for f in g["failed"]:
        print(f"  FAILED {f}")
    for w in g["warnings"]:
        print(f"  warning {w}")
    for step, v in s.get("steps", {}).items():
        if v.get("ok") is False and v.get("error"):
            print(f"{step} FAILED: {v['error'].splitlines()[0]}")
    if s["published"]:
        print(
            "published: "
            + ", ".join(
                f"{t if '.' in t else 'marts.' + t} ({n:,} rows)"
                for t, n in s["marts_published"].items()
            )
        )
    else:
        print("NOT published: analysts still see the last good night")


class NightLock:
    """One run per night: a session advisory lock held for the whole run."""

    def __init__(self, night: date):
        self.night = night
        self.conn = connect(role="loader", autocommit=True)

    def acquire(self) -> list[ledger.Interrupted]:
        if not ledger.try_run_lock(self.conn, self.night):
            holder = ledger.running_holder(self.conn, self.night)
            who = (
                f"run {holder[0]} (pid {holder[1]} on {holder[2]}, started {holder[3]:%H:%M:%S},"
                f" step {holder[4]})"
                if holder
                else "another process"
            )
            print(f"another run of {self.night} is in progress: {who}; waiting for it", flush=True)
            ledger.wait_run_lock(self.conn, self.night)
        return ledger.mark_interrupted(self.conn, self.night)

    def close(self) -> None:
        self.conn.close()


def _report_interrupted(runs: list[ledger.Interrupted]) -> None:
    for r in runs:
        print(
            f"previous run {r.run_id} of this night was interrupted during step"
            f" {r.step or 'start'} (started {r.started_at:%Y-%m-%d %H:%M:%S}, last heard of"
            f" {r.heartbeat_at:%H:%M:%S}, pid {r.pid} on {r.host}): nothing half-done is"
            " visible; this run completes it",
            flush=True,
        )


def run_night(night: date, runner: str = "airflow") -> dict:
    settings = get_settings()
    landing_for(settings.landing_dir)  # refuses a landing zone that does not exist
    migrate(settings)
    started = time.monotonic()
    lock = NightLock(night)
    try:
        _report_interrupted(lock.acquire())
        started_at = datetime.now().astimezone()
        run_id = f"night__{night.isoformat()}__{started_at:%Y%m%dT%H%M%S%f}"
        ledger.start_run(lock.conn, run_id, night, "night", runner)

        def record(step: str, result: dict) -> None:
            ledger.run_step(lock.conn, run_id, step, result)

        if runner == "airflow":
            steps = _with_airflow(night, record, settings.runs_dir / "logs")
        else:
            steps = _direct(night, run_id, record)
        summary = _write_summary(night, runner, run_id, steps, started, settings, started_at)
        ledger.finish_run(
            lock.conn, run_id, summary["ok"], None if summary["ok"] else "not published"
        )
    finally:
        lock.close()
    return summary


def _write_summary(night, runner, run_id, steps, started, settings, started_at) -> dict:
    summary = summarize(night, started_at)
    summary["run_id"] = run_id
    summary["runner"] = runner
    summary["steps"] = steps
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["ok"] = all(v["ok"] for v in steps.values()) and summary["published"]
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    out = settings.runs_dir / f"{night.isoformat()}.json"
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    print_summary(summary)
    print(f"summary written to {out} ({summary['seconds']}s)")
    report = settings.runs_dir / f"{night.isoformat()}.quality.md"
    if report.exists():
        print(f"quality report: {report}")
    return summary
