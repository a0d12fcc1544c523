"""The build of a night (the tasks of ``build_marts``): which sources arrived, dbt, the
gate, publish, and the night's report. Once per night; free when nothing is new."""

from __future__ import annotations

import logging
from datetime import date

from . import notify
from .config import SOURCES

log = logging.getLogger(__name__)


def _statuses(night: date, events: dict) -> dict[str, str]:
    """Each source's verdict for the night: from the Asset events that triggered the run,
    else (a run by hand) from the ledger."""
    from .steps import source_status

    out: dict[str, str] = {}
    for evs in events.values():
        for e in evs:
            extra = getattr(e, "extra", None) or {}
            if extra.get("extract_date") == night.isoformat() and extra.get("source") in SOURCES:
                out[extra["source"]] = extra.get("status", "closed")
    for source in SOURCES:
        out.setdefault(source, source_status(source, night))
    return out


def check_sources(night: date, events: dict, context: dict) -> dict:
    """Fail (once, with one message) when nothing arrived or a source failed; tell once
    about missing sources; say whether there is anything new to build."""
    from .airflow_dags import NightNotPublished
    from .steps import pending

    statuses = _statuses(night, events)
    missing = [s for s, v in statuses.items() if v == "missing"]
    failed = [s for s, v in statuses.items() if v == "failed"]
    if len(missing) == len(SOURCES):
        notify.send(notify.sources_missing(night.isoformat(), missing, published=False), context)
        raise NightNotPublished(f"no files for any source on {night}: nothing to build")
    if failed:
        raise NightNotPublished(  # the ingest that failed has told people already
            f"{', '.join('ingest_' + s for s in failed)} failed for {night}: fix it and run it again"
            f" for extract_date={night}; this night builds once every source has closed"
        )
    if missing:
        notify.send(notify.sources_missing(night.isoformat(), missing, published=True), context)
    todo = pending(night)
    return {
        "night": night.isoformat(),
        "statuses": statuses,
        "missing": missing,
        "pending": [d.isoformat() for d in todo],
        "skip": not todo,
    }


def run_step(name: str, info: dict, context: dict):
    from airflow.sdk.exceptions import AirflowSkipException

    from . import steps
    from .quality import QualityGateFailed

    if info.get("skip"):
        raise AirflowSkipException(f"{info['night']} is published and nothing was loaded since")
    night, run_id = date.fromisoformat(info["night"]), context["run_id"]
    with steps.step(run_id, night, "build_marts", name):
        if name == "dbt":
            return steps.transform(night)
        if name == "quality_gate":
            try:
                return steps.quality_gate(night, run_id)
            except QualityGateFailed as exc:
                failures = [
                    o.label() + f" (observed {o.observed})" for o in exc.result.blocking_failures
                ]
                notify.send(notify.gate_blocked(info["night"], failures), context)
                raise
        return steps.publish_marts(night, run_id)


def report(info: dict | None, context: dict) -> dict:
    """data/runs/<DATE>.json (and the gate's report beside it), whatever happened."""
    from .db import connect
    from .ledger import finish_run
    from .night import write_summary

    if not info:  # the check failed (nothing arrived, a source failed): the run ends failed
        with connect(role="loader", autocommit=True) as conn:
            finish_run(conn, context["run_id"], False, "not built")
        return {}
    night = date.fromisoformat(info["night"])
    summary = write_summary(night, context["run_id"], runner="airflow")
    with connect(role="loader", autocommit=True) as conn:
        finish_run(
            conn,
            context["run_id"],
            summary["published"],
            None if summary["published"] else "not published",
        )
    if summary["published"]:
        from .followup_pack import write_for_night

        write_for_night(night)  # the provincial offices' Thai workbooks; never fails the run
    drops = [w for w in summary["quality_gate"]["warnings"] if "reporting" in w.lower()]
    if drops:
        notify.send(notify.reporting_dropped(info["night"], drops), context)
    return {"published": summary["published"] or info.get("skip", False), "ok": summary["ok"]}
