"""Callbacks the triggerer runs (deadline alerts): awaitable, importable by name."""

from __future__ import annotations

import asyncio


async def night_not_published(minutes: int, context: dict | None = None, **_kwargs) -> None:
    """build_marts has not finished ``minutes`` after it was queued."""
    from . import notify

    run = (context or {}).get("dag_run") or {}
    night = (
        run.get("partition_key")
        or (run.get("conf") or {}).get("extract_date")
        or run.get("run_id", "?")
    )
    await asyncio.to_thread(notify.send, notify.not_published_in_time(str(night), minutes))
