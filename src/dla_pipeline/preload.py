"""Imports done ahead, in a thread, while the caller waits on the server.

Great Expectations (~3 s of imports) is imported by the direct runner while dbt builds
(``quality.import_in_background``). The step that needs a package ``wait``s for its
thread (two threads importing one package may fail each other), and ``db.forked_pool``
waits for all of them before forking (a child forked mid-import inherits a held import
lock and can hang on it). A failed import here is silent: the step's own import reports it.

Only where the process waits on the server does this gain: dbt imported while the loads
were closed cost those steps as much time as it saved (they run Python too, and the
import holds the interpreter), so dbt is imported where it is used.
"""

from __future__ import annotations

import contextlib
import importlib
import threading

_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def in_background(module: str) -> threading.Thread:
    """Start importing ``module`` in a daemon thread (once: a second call returns the
    thread of the first while it runs)."""

    def imp() -> None:
        with contextlib.suppress(Exception):  # the step's own import reports it
            importlib.import_module(module)

    with _LOCK:
        running = _THREADS.get(module)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=imp, name=f"import-{module}", daemon=True)
        _THREADS[module] = thread
        thread.start()
        return thread


def wait(module: str | None = None) -> None:
    """Wait until ``module``'s background import (or every one, with None) is done."""
    with _LOCK:
        threads = [_THREADS.pop(module, None)] if module else list(_THREADS.values())
        if module is None:
            _THREADS.clear()
    for thread in threads:
        if thread is not None:
            thread.join()
