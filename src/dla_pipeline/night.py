"""One night end to end, and its summary (``make night`` / ``make run``).

The default runner drives the real DAGs with ``airflow dags test`` (no scheduler,
SQLite metadata DB): every ingest DAG, then ``build_marts``. ``--runner direct``
calls the same steps in-process (quicker to debug). Either way the summary is read
back from the warehouse, printed, and written to ``data/runs/<DATE>.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from .airflow_env import airflow_env
from .config import SOURCES, get_settings
from .db import connect, migrate


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


def _direct(night: date) -> dict[str, str | None]:
    from . import steps

    errors: dict[str, str | None] = {}
    for source in SOURCES:
        try:
            for batch in steps.ingest_plan(source, night):
                steps.ingest_batch(source, night, batch, "direct")
            steps.ingest_close(source, night)
            errors[f"ingest_{source}"] = None
        except Exception as exc:  # reported in the summary, the night goes on
            errors[f"ingest_{source}"] = str(exc)
    if any(errors.values()):
        errors["build_marts"] = "skipped: an ingest failed"
        return errors
    try:
        steps.transform(night)
        steps.quality_gate(night, "direct")
        steps.publish_marts(night, "direct")
        errors["build_marts"] = None
    except Exception as exc:
        errors["build_marts"] = str(exc)
    return errors


def summarize(night: date) -> dict:
    with connect() as conn:
        per_source = {}
        for source in SOURCES:
            row = conn.execute(
                "select files, files_rejected, laos_reporting, rows_in, rows_loaded,"
                " rows_quarantined, conservation_ok from ops.nights"
                " where source=%s and extract_date=%s",
                (source, night),
            ).fetchone()
            keys = (
                "files",
                "files_rejected",
                "laos_reporting",
                "rows_in",
                "rows_loaded",
                "rows_quarantined",
                "conservation_ok",
            )
            per_source[source] = (
                dict(zip(keys, row, strict=True))
                if row
                else {k: 0 for k in keys[:-1]} | {"conservation_ok": None}
            )
        pub = conn.execute(
            "select run_id, status, marts, reason from ops.publish_log where extract_date=%s"
            " order by published_at desc limit 1",
            (night,),
        ).fetchone()
        checks = []
        if pub:
            checks = conn.execute(
                "select suite, expectation, column_name, success, observed"
                " from ops.quality_results where run_id=%s and extract_date=%s",
                (pub[0], night),
            ).fetchall()
        published_rows = {}
        if pub and pub[1] == "published":
            for t in pub[2]:
                published_rows[t] = conn.execute(f'select count(*) from marts."{t}"').fetchone()[0]
    failed = [
        f"{s}: {e} on {c or 'table'} (observed {o})"
        for s, e, c, ok, o in checks
        if not ok and "[blocking]" in e
    ]
    warned = [
        f"{s}: {e} on {c or 'table'}"
        for s, e, c, ok, o in checks
        if not ok and "[blocking]" not in e
    ]
    gate = {
        "status": ("passed" if pub and pub[1] == "published" else "failed" if pub else "not run"),
        "checks": len(checks),
        "passed": sum(1 for c in checks if c[3]),
        "failed": failed,
        "warnings": warned,
    }
    for source in SOURCES:
        mine = [c for c in checks if f"raw_{source}" in c[0]]
        per_source[source]["quality_gate"] = {
            "checks": len(mine),
            "passed": sum(1 for c in mine if c[3]),
            "status": "not checked"
            if not mine
            else ("passed" if all(c[3] or "[blocking]" not in c[1] for c in mine) else "failed"),
        }
    return {
        "extract_date": night.isoformat(),
        "sources": per_source,
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
    g = s["quality_gate"]
    print(
        f"quality gate: {g['status']} ({g['passed']}/{g['checks']} expectations passed,"
        f" {len(g['warnings'])} warning(s))"
    )
    for f in g["failed"]:
        print(f"  FAILED {f}")
    for w in g["warnings"]:
        print(f"  warning {w}")
    if s["published"]:
        print(
            "published: "
            + ", ".join(f"marts.{t} ({n:,} rows)" for t, n in s["marts_published"].items())
        )
    else:
        print("NOT published: analysts still see the last good night")


def run_night(night: date, runner: str = "airflow") -> dict:
    settings = get_settings()
    migrate(settings)
    started = time.monotonic()
    steps: dict[str, dict] = {}
    if runner == "airflow":
        for dag_id in [*(f"ingest_{s}" for s in SOURCES), "build_marts"]:
            if dag_id == "build_marts" and not all(v["ok"] for v in steps.values()):
                # as in production, where only a successful ingest emits the Asset
                print("build_marts skipped: an ingest failed, nothing new is published")
                steps[dag_id] = {"ok": False, "skipped": True}
                continue
            t0 = time.monotonic()
            print(f"airflow dags test {dag_id} {night} ...", flush=True)
            ok, log_path = _airflow_dag_test(dag_id, night, settings.runs_dir / "logs")
            steps[dag_id] = {"ok": ok, "seconds": round(time.monotonic() - t0, 1), "log": log_path}
            print(
                f"  {'ok' if ok else 'FAILED'} in {steps[dag_id]['seconds']}s (log: {log_path})",
                flush=True,
            )
    else:
        for dag_id, err in _direct(night).items():
            steps[dag_id] = {"ok": err is None, "error": err}
            if err:
                print(f"{dag_id} FAILED: {err}")
    summary = summarize(night)
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
