"""The night: one extract date, resolved once and validated once, then passed along."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")


class BadNight(ValueError):
    """An extract date that cannot be a night: the message says what to type."""


def yesterday_in_bangkok() -> date:
    return datetime.now(BANGKOK).date() - timedelta(days=1)


def parse_night(value) -> date:
    """An extract date as people type it (YYYY-MM-DD, CE); BadNight says what to type."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value or "").strip()
    try:
        night = date.fromisoformat(text)
        if len(text) != 10:
            raise ValueError
    except ValueError:
        raise BadNight(
            f"extract_date {text!r} is not a date: type it as YYYY-MM-DD in the CE calendar,"
            f" e.g. {yesterday_in_bangkok().isoformat()} (yesterday)"
        ) from None
    if night.year > 2400:
        raise BadNight(
            f"extract_date {text!r} has a Buddhist-Era year: type the CE year, e.g."
            f" {night.year - 543}-{night.month:02d}-{night.day:02d}"
        )
    if night > yesterday_in_bangkok() + timedelta(days=1):
        raise BadNight(f"extract_date {text} is in the future: a night is loaded the morning after")
    return night


def resolve_night(
    run_type: str, interval_start: datetime | None, params: dict, partition_key: str | None = None
) -> date:
    """Scheduled and backfill runs: the data interval's start in Bangkok; partitioned runs:
    the partition key; manual runs: the extract_date param (default yesterday, Bangkok)."""
    if partition_key:
        return parse_night(partition_key)
    if run_type in ("scheduled", "backfill") and interval_start is not None:
        return interval_start.astimezone(BANGKOK).date()
    return parse_night(params.get("extract_date") or yesterday_in_bangkok().isoformat())
