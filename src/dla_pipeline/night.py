"""One night end to end, and its summary (``make night`` / ``make run``).

Two runners, one outcome:

* ``airflow`` (the default when `make airflow` is running): the ingest DAGs are
  triggered through Airflow's REST API with the night as their ``extract_date``; the
  scheduler runs them and, once all three have announced the night, ``build_marts``.
  The runs are ordinary runs in the UI. This command follows them to the end.
* ``direct`` (the default otherwise): the same steps in this process, with no Airflow
  start-up. One run per night at a time: a second ``make night`` for the same date says
  which run holds it and waits; a run that was killed is reported by the next one
  (``ops.runs``), which completes it.

Either way the night's summary is written to ``data/runs/<DATE>.json`` (the DAGs write
it themselves) and printed.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta

from . import ledger
from .config import SOURCES, get_settings
from .db import connect, migrate
from .landing import landing_for
from .quality import Outcome


def _direct(night: date, run_id: str) -> None:
    """The chain in this process; each step is recorded in ops.runs (kind 'night')."""
    from . import steps

    failed = False
    with steps.step(run_id, night, "night", "load", runner="direct"):
        loaded = steps.load_nights([(source, night) for source in SOURCES], run_id)
    for source in SOURCES:
        try:
            with steps.step(run_id, night, "night", f"ingest_{source}", runner="direct"):
                steps.ingest_close(source, night, loaded[(source, night)])
        except steps.NoFiles as exc:
            print(f"ingest_{source}: {exc}", flush=True)
        except Exception as exc:  # reported in the summary; the other sources go on
            print(f"ingest_{source} FAILED: {exc}", flush=True)
            failed = True
    if failed:
        print("build_marts skipped: an ingest failed, nothing new is published", flush=True)
        return
    try:
        for name, fn in (("dbt", steps.transform), ("quality_gate", None), ("publish", None)):
            with steps.step(run_id, night, "night", name, runner="direct"):
                if name == "dbt":
                    fn(night, gate_next=True)
                elif name == "quality_gate":
                    steps.quality_gate(night, run_id)
                else:
                    steps.publish_marts(night, run_id)
    except Exception as exc:
        print(f"build_marts FAILED: {str(exc).splitlines()[0]}", flush=True)
        return
    from .followup_pack import write_for_night

    write_for_night(night)  # the provincial offices' Thai workbooks; never fails the night


def summarize(night: date, since: datetime | None = None) -> dict:
    """The night as the ledger has it; publishing as decided by the run started at ``since``."""
    with connect(role="loader") as conn:
        per_source = ledger.night_totals(conn, night)
        pub = ledger.last_publish(conn, night, since)
        checks = ledger.quality_results(conn, pub[0], night) if pub else []
        issues = ledger.landing_issue_counts(conn, night)
        already_published = night not in ledger.pending_nights(conn) and ledger.is_published(
            conn, night
        )
    published_rows = {}
    if pub and pub[1] == "published":
        with connect(role="publisher") as conn:  # the owner of the published tables
            for t in pub[2]:
                schema, _, name = t.rpartition(".")
                published_rows[t] = conn.execute(
                    f'select count(*) from "{schema or "marts"}"."{name}"'
                ).fetchone()[0]
    gate = _gate_summary(pub, checks, per_source)
    published = pub is not None and pub[1] == "published"
    reason = pub[3] if pub else None
    if pub is None and already_published:
        published, reason = True, "published earlier; nothing was loaded since"
        gate["status"] = "passed earlier"
    return {
        "extract_date": night.isoformat(),
        "sources": per_source,
        "landing_issues": issues,
        "quality_gate": gate,
        "published": published,
        "marts_published": published_rows,
        "publish_reason": reason,
    }


def _night_suite_of(label: str, source: str) -> bool:
    """Whether a result's suite (``raw_allowance_night[2026-11-05]``) checks ``source``'s
    nights: ``raw_<source>_night`` and the ledger's ``<source>_<table>_night``
    (checks.yml); the marts' suites are not a source's."""
    suite = label.split("[", 1)[0]
    return suite.endswith("_night") and suite.startswith((f"raw_{source}_", f"{source}_"))


def _gate_summary(pub, checks: list, per_source: dict) -> dict:
    """The gate's verdict for the summary, and each source's share of it (in per_source)."""
    outcomes = [Outcome(s, e, c, sev, ok, o, d) for s, e, sev, c, ok, o, d in checks]
    failed = [
        f"{o.label()} (observed {o.observed})"
        for o in outcomes
        if not o.success and o.severity == "blocking"
    ]
    warned = [o.label() for o in outcomes if not o.success and o.severity != "blocking"]
    gate = {
        "status": ("passed" if pub and pub[1] == "published" else "failed" if pub else "not run"),
        "checks": len(checks),
        "passed": sum(1 for c in checks if c[4]),
        "failed": failed,
        "warnings": warned,
    }
    for source in SOURCES:
        mine = [c for c in checks if _night_suite_of(c[0], source)]
        per_source[source]["quality_gate"] = {
            "checks": len(mine),
            "passed": sum(1 for c in mine if c[4]),
            "status": "not checked"
            if not mine
            else ("passed" if all(c[4] or c[2] != "blocking" for c in mine) else "failed"),
        }
    return gate


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
            f"{_conservation(v)}"
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
        if v.get("status") == "failed":
            print(
                f"{step} FAILED: {(v.get('error') or '').splitlines()[0] if v.get('error') else ''}"
            )
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


def _conservation(totals: dict) -> str:
    if totals["conservation_ok"]:
        return "ok"
    if totals["conservation_ok"] is False:
        return "FAILED: raw, the quarantine and the files disagree (re-run the night's load)"
    if totals["files"]:
        return "not closed: the load stopped before this night was reconciled (re-run the night)"
    return "nothing loaded"


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


class RunLock:
    """One run at a time per night, held for the whole run in one session: a night run
    holds its night's lock (and its month's, shared), a backfill the lock of each month
    of its range alone (a few locks however long the range; a night run in those months
    waits for it). Months are taken in ascending order, so runs never wait in a cycle."""

    def __init__(self, first: date, last: date | None = None):
        self.first, self.last = first, last or first
        self.conn = connect(role="loader", autocommit=True)

    def _locks(self) -> list[tuple[str, date, bool, date, date]]:
        """(what, when, shared, first night, last night it covers) in the order taken."""
        months = []
        m = self.first.replace(day=1)
        while m <= self.last:
            months.append((m, _next_month(m) - timedelta(days=1)))
            m = _next_month(m)
        if self.first == self.last:
            (m, end), night = months[0], self.first
            return [("month", m, True, m, end), ("night", night, False, night, night)]
        return [("month", m, False, m, end) for m, end in months]

    def acquire(self) -> list[ledger.Interrupted]:
        """Waits for the runs over these nights; returns the killed ones it found."""
        for what, when, shared, lo, hi in self._locks():
            if ledger.try_run_lock(self.conn, what, when, shared):
                continue
            holder = ledger.running_holder(self.conn, lo, hi)
            who = (
                f"run {holder[0]} (pid {holder[1]} on {holder[2]}, started {holder[3]:%H:%M:%S},"
                f" step {holder[4]})"
                if holder
                else "another process"
            )
            of = when.isoformat() if what == "night" else f"{when:%Y-%m}"
            print(f"another run of {of} is in progress: {who}; waiting for it", flush=True)
            ledger.wait_run_lock(self.conn, what, when, shared)
        return ledger.mark_interrupted(self.conn, self.first, self.last)

    def close(self) -> None:
        self.conn.close()


def report_interrupted(runs: list[ledger.Interrupted], first: date, last: date | None = None):
    """What the runs found killed were doing, and what is left of them to do."""
    last = last or first
    for r in runs:
        rest = ""
        if r.first < first or r.last > last:
            rest = (
                f"; it covered {r.first}..{r.last}: re-run it for the rest"
                f" (make backfill FROM={r.first} TO={r.last})"
            )
        print(
            f"previous run {r.run_id} was interrupted during step"
            f" {r.step or 'start'} (started {r.started_at:%Y-%m-%d %H:%M:%S}, last heard of"
            f" {r.heartbeat_at:%H:%M:%S}, pid {r.pid} on {r.host}): nothing half-done is"
            f" visible; this run completes {'the nights they share' if rest else 'it'}{rest}",
            flush=True,
        )


def write_summary(night: date, run_id: str, runner: str, since: datetime | None = None) -> dict:
    """The night's summary from the ledger (every path writes the same JSON)."""
    settings = get_settings()
    summary = summarize(night, since)
    with connect(role="loader") as conn:
        runs = ledger.runs_of_night(conn, night, since)
    steps = {}
    for kind, rid, status, run_steps, who in runs:
        for name, info in (run_steps or {}).items():
            steps[name if kind == "night" else f"{kind}.{name}"] = {**info, "run_id": rid}
        summary.setdefault("runs", {})[kind] = {
            "run_id": rid,
            "status": status,
            "triggered_by": who,
        }
    summary |= {"run_id": run_id, "runner": runner, "steps": steps}
    summary["triggered_by"] = next((r[4] for r in runs if r[1] == run_id), None)
    failed = [n for n, v in steps.items() if v.get("status") == "failed"]
    summary["ok"] = summary["published"] and not failed
    settings.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = settings.runs_dir / f"{night.isoformat()}.json"
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    return summary


def run_night(night: date, runner: str = "auto") -> dict:
    settings = get_settings()
    landing_for(settings.landing_dir)  # refuses a landing zone that does not exist
    if runner == "auto":
        from .airflow_local import api_up

        runner = "airflow" if api_up() else "direct"
    started = time.monotonic()
    started_at = datetime.now().astimezone()
    if runner == "airflow":
        from .airflow_local import run_night_in_airflow

        run_id = run_night_in_airflow(night)
    else:
        migrate(settings)
        lock = RunLock(night)
        try:
            report_interrupted(lock.acquire(), night)
            started_at = datetime.now().astimezone()  # (the summary: runs from here on)
            run_id = f"night__{night.isoformat()}__{started_at:%Y%m%dT%H%M%S%f}"
            ledger.start_run(lock.conn, run_id, night, "night", runner)
            _direct(night, run_id)
            summary = write_summary(night, run_id, runner, started_at)
            ledger.finish_run(
                lock.conn, run_id, summary["ok"], None if summary["ok"] else "not published"
            )
        finally:
            lock.close()
    # (again for the direct runner: the file then records the run's final status)
    summary = write_summary(night, run_id, runner, started_at)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print_summary(summary)
    print(
        f"summary written to {settings.runs_dir / (night.isoformat() + '.json')} ({summary['seconds']}s)"
    )
    report = settings.runs_dir / f"{night.isoformat()}.quality.md"
    if report.exists():
        print(f"quality report: {report}")
    return summary
