"""Waiting for a night's files without holding a worker slot.

A night's files arrive through the night; the ingest waits (deferred, in the triggerer)
until the cutoff the morning after (``NIGHT_CUTOFF``, 06:00 Bangkok by default), or until
every registered LAO has sent its file, then loads what arrived. A run triggered after
the cutoff does not wait. The trigger lives in this installed package, so the triggerer
can import it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

BANGKOK = ZoneInfo("Asia/Bangkok")


def cutoff_of(night: date, cutoff: str) -> datetime:
    """The morning after the night, at the cutoff time, in Bangkok."""
    hh, mm = (int(x) for x in cutoff.split(":"))
    return datetime.combine(night + timedelta(days=1), time(hh, mm), BANGKOK)


def lao_files(landing_dir: str, source: str, night: str) -> int:
    """LAOs that have a file for the night (regular files named <lao_code>.csv)."""
    from pathlib import Path

    from .landing import landing_for

    try:
        scan = landing_for(Path(landing_dir)).scan(source, date.fromisoformat(night))
    except Exception:  # the landing zone being unreadable is the load's to report
        return 0
    return len({e.lao_code for e in scan.entries if e.lao_code and e.read})


class NightArrivalTrigger(BaseTrigger):
    """Fires at the cutoff, or earlier when ``expected`` LAOs have sent their file."""

    def __init__(
        self,
        landing_dir: str,
        source: str,
        night: str,
        cutoff: str,
        expected: int,
        poke_seconds: float = 60.0,
    ):
        super().__init__()
        self.landing_dir, self.source, self.night = landing_dir, source, night
        self.cutoff, self.expected, self.poke_seconds = cutoff, expected, poke_seconds

    def serialize(self):
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "landing_dir": self.landing_dir,
                "source": self.source,
                "night": self.night,
                "cutoff": self.cutoff,
                "expected": self.expected,
                "poke_seconds": self.poke_seconds,
            },
        )

    async def run(self):
        cutoff = datetime.fromisoformat(self.cutoff)
        while True:
            sent = await asyncio.to_thread(lao_files, self.landing_dir, self.source, self.night)
            if sent >= self.expected:
                yield TriggerEvent({"status": "complete", "laos": sent})
                return
            now = datetime.now(UTC)
            if now >= cutoff:
                yield TriggerEvent({"status": "cutoff", "laos": sent})
                return
            await asyncio.sleep(min(self.poke_seconds, max(1.0, (cutoff - now).total_seconds())))


class WaitForNight(BaseOperator):
    """Defers until the night's cutoff (or every LAO has sent); returns what it saw."""

    template_fields = ("night", "cutoff")

    def __init__(
        self, *, source: str, night: str, cutoff: str = "", poke_seconds: float = 60.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.source, self.night, self.cutoff, self.poke_seconds = (
            source,
            night,
            cutoff,
            poke_seconds,
        )

    def execute(self, context):
        from .config import get_settings
        from .contract import load_lao_codes

        settings = get_settings()
        at = (
            datetime.fromisoformat(self.cutoff)
            if self.cutoff
            else cutoff_of(date.fromisoformat(self.night), settings.night_cutoff)
        )
        expected = len(load_lao_codes(settings.reference_dir))
        sent = lao_files(str(settings.landing_dir), self.source, self.night)
        if sent >= expected or datetime.now(UTC) >= at:
            return {"status": "complete" if sent >= expected else "cutoff", "laos": sent}
        self.log.info(
            "%s %s: %d/%d LAOs so far; waiting (deferred) until %s",
            self.source,
            self.night,
            sent,
            expected,
            at,
        )
        self.defer(
            trigger=NightArrivalTrigger(
                str(settings.landing_dir),
                self.source,
                self.night,
                at.isoformat(),
                expected,
                self.poke_seconds,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event=None):
        self.log.info("%s %s: %s", self.source, self.night, event)
        return event
