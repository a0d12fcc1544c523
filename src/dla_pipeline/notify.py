"""Telling people when something is wrong, through Airflow's SMTP notifier.

One place builds every message: the night, what failed (the step, the check, the
observed value), and what to do. ``ALERT_EMAIL`` (config) is who is told; without it
the message is only logged. A night with missing sources is told once (by build_marts),
not once per source.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from .config import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    subject: str
    lines: tuple[str, ...]
    what_to_do: str

    def html(self) -> str:
        items = "".join(f"<li>{html.escape(x)}</li>" for x in self.lines)
        return f"<ul>{items}</ul><p><b>What to do:</b> {html.escape(self.what_to_do)}</p>"

    def text(self) -> str:
        return "\n".join([*self.lines, f"What to do: {self.what_to_do}"])


def send(alert: Alert, context: dict | None = None) -> bool:
    """Mail the alert (SmtpNotifier, connection smtp_default); False when nobody is set."""
    settings = get_settings()
    log.warning("ALERT %s\n%s", alert.subject, alert.text())
    if not settings.alert_email:
        return False
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(
        to=[a.strip() for a in settings.alert_email.split(",") if a.strip()],
        from_email=settings.smtp_from,
        # no Jinja: the text is ours and may contain braces
        subject=alert.subject.replace("{", "(").replace("}", ")"),
        html_content=alert.html().replace("{", "(").replace("}", ")"),
    )
    notifier.notify(context or {})
    return True


# -- the messages ---------------------------------------------------------------------------


def night_failed(night: str, step: str, error: str) -> Alert:
    return Alert(
        f"[DLA] night {night}: {step} failed",
        (f"night (extract date): {night}", f"failed step: {step}", f"error: {error[:1500]}"),
        f"read the task log of {step} in Airflow, fix the cause, then clear the task (or trigger"
        f" the DAG again with extract_date={night}); nothing half-done was published",
    )


def gate_blocked(night: str, failures: list[str]) -> Alert:
    return Alert(
        f"[DLA] night {night} NOT published: the quality gate blocked it",
        (f"night (extract date): {night}", *(f"failing check: {f}" for f in failures[:20])),
        "analysts still see the last good night. Open data/runs/"
        f"{night}.quality.md (or the GX data docs), find the LAO or file the check names,"
        " have it re-send a corrected file, then run the night again",
    )


def sources_missing(night: str, missing: list[str], published: bool) -> Alert:
    state = "published without them" if published else "NOT published"
    return Alert(
        f"[DLA] night {night}: no files from {', '.join(missing)} ({state})",
        (
            f"night (extract date): {night}",
            *(f"no {s} files for {night} by the cutoff" for s in missing),
        ),
        "check that the LAOs' uploads reached the landing zone (an outage?). Late files are"
        f" loaded by the next run for {night} (re-run ingest_<source> with extract_date={night},"
        " or tomorrow's catch-up) and the marts are republished",
    )


def reporting_dropped(night: str, warnings: list[str]) -> Alert:
    return Alert(
        f"[DLA] night {night}: reporting dropped sharply",
        (f"night (extract date): {night}", *(f"warning: {w}" for w in warnings[:20])),
        "compare with ops.nights / marts.reporting_compliance; ask the provincial offices whether"
        " LAOs could not upload, and re-run the night once the files arrive",
    )


def not_published_in_time(night: str, minutes: int) -> Alert:
    return Alert(
        f"[DLA] night {night} not published {minutes} minutes after it started",
        (
            f"night (extract date): {night}",
            f"deadline: {minutes} minutes after the build was queued",
        ),
        "look at build_marts in Airflow (a slow or stuck step, a lock held by a reader);"
        " analysts still see the last published night",
    )
