"""Forked workers (the loader's batches, the gate's checks, the follow-up pack) die with
the process that forked them: they hold copies of its sockets (the night lock's and the
gate lock's connections), and orphaned they would keep those sessions, and locks, open."""

from __future__ import annotations

import os
import signal
import time
from multiprocessing import get_context
from pathlib import Path

import pytest

from dla_pipeline.db import forked_pool


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _middle(conn) -> None:
    with forked_pool(2) as pool:
        pids = set()
        while len(pids) < 2:
            pids |= set(pool.map(_slow_pid, range(4)))
        conn.send(sorted(pids))
        time.sleep(600)


def _slow_pid(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="Linux only (PR_SET_PDEATHSIG)")
def test_forked_workers_die_when_their_parent_is_killed():
    ours, theirs = get_context("fork").Pipe()
    middle = get_context("fork").Process(target=_middle, args=(theirs,))
    middle.start()
    assert ours.poll(30), "the pool's workers did not start"
    workers = ours.recv()
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    os.kill(middle.pid, signal.SIGKILL)
    middle.join(10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = [p for p in workers if _alive(p)]
    for pid in orphans:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not orphans
