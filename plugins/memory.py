"""The cyclic garbage collector, kept off what a run holds for its whole life.

CPython's full collections walk every tracked object. After start-up (pytest, the plugins, the configuration)
and after collection (the checks and their evidence) there are tens of thousands of them, all alive until the
process ends, and each full collection walked them again: a few tenths of a second a run, more with more
services, and another walk at exit. Frozen (`gc.freeze`), they are left out; what the checks make is still
collected as usual. The freeze ends with the run (a program that called pytest.main() goes on with a normal
collector), and at exit everything is frozen again: a process about to end needs nothing freed.
"""

from __future__ import annotations

import atexit
import gc

import pytest

from deploycheck_plugins.targets import is_running

_froze = pytest.StashKey[bool]()
_at_exit_registered = False


@pytest.hookimpl(trylast=True)  # after the environment is loaded
def pytest_configure(config: pytest.Config) -> None:
    global _at_exit_registered
    if not is_running(config):
        return
    config.stash[_froze] = True
    gc.freeze()
    if not _at_exit_registered:
        atexit.register(gc.freeze)
        _at_exit_registered = True


@pytest.hookimpl(trylast=True)  # after the evidence is gathered
def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.stash.get(_froze, False):
        gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_froze, False):
        gc.unfreeze()
