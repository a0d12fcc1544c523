"""Imports started ahead in a thread (``preload``): the step that needs the package waits
for them, and no process is forked while one runs (a child forked mid-import inherits a
held import lock)."""

from __future__ import annotations

import sys
import time
import types

from dla_pipeline import db, preload


def _slow_module(monkeypatch, name: str, seconds: float, done: list) -> None:
    """A module whose import takes ``seconds`` (a meta path finder that sleeps)."""

    class Finder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname != name:
                return None
            import importlib.machinery

            class Loader:
                @staticmethod
                def create_module(spec):
                    return types.ModuleType(name)

                @staticmethod
                def exec_module(module):
                    time.sleep(seconds)
                    done.append(name)

            return importlib.machinery.ModuleSpec(name, Loader())

    monkeypatch.setattr(sys, "meta_path", [Finder, *sys.meta_path])
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_forked_pool_waits_for_imports_running_in_a_thread(monkeypatch):
    done: list = []
    _slow_module(monkeypatch, "dla_slow_import_a", 1.0, done)
    thread = preload.in_background("dla_slow_import_a")
    assert thread.is_alive() and not done
    with db.forked_pool(1) as pool:
        assert done == ["dla_slow_import_a"]  # finished before any fork
        assert pool.submit(len, "ab").result() == 2
    assert not thread.is_alive()


def test_the_step_that_needs_a_module_waits_for_its_import(monkeypatch):
    done: list = []
    _slow_module(monkeypatch, "dla_slow_import_b", 0.5, done)
    preload.in_background("dla_slow_import_b")
    assert preload.in_background("dla_slow_import_b") is preload._THREADS["dla_slow_import_b"]
    preload.wait("dla_slow_import_b")
    assert done == ["dla_slow_import_b"] and "dla_slow_import_b" not in preload._THREADS
    preload.wait("never_started")  # nothing to wait for
