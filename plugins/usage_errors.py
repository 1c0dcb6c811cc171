"""A usage error found at collection (a selected check's section with a `${VAR}` unset, a flow nothing defines)
stops the run as pytest's usage error: exit status 4, its message first in the table and in `verdict.json`.

Under -n the workers collect, not the controller. A worker that meets one hands it up in `workeroutput` and stops
the run (`session.shouldstop`, which xdist honours, where a worker that simply failed its collection would be
taken for a crashed one: an internal error); once the workers are down, the controller raises it as its own."""

from __future__ import annotations

from typing import Any

import pytest

from deploycheck_plugins.outputs import usage_error_key
from deploycheck_plugins.targets import is_running

USAGE_ERROR_OUTPUT = "deploycheck_usage_error"  # xdist workeroutput: the message of a worker's usage error


@pytest.hookimpl(trylast=True)  # after deploycheck_plugins.targets has loaded the environment
def pytest_configure(config: pytest.Config) -> None:
    if is_running(config) and not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(WorkersUsageError(config), "deploycheck-workers-usage-error")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Any:
    """Keep the usage error found at collection: the verdict and the table say it first."""
    try:
        return (yield)
    except pytest.UsageError as error:
        session.config.stash[usage_error_key] = str(error)
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[USAGE_ERROR_OUTPUT] = str(error)
            session.shouldstop = str(error)
        raise


class WorkersUsageError:
    """On the xdist controller: the first usage error a worker reported becomes the run's own."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)  # an xdist hook: called on the controller as each worker finishes
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        message = getattr(node, "workeroutput", {}).get(USAGE_ERROR_OUTPUT)
        if message is not None and usage_error_key not in self.config.stash:
            self.config.stash[usage_error_key] = message

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        try:
            result = yield
        except BaseException:  # xdist's "interrupted", which the workers' stop request leads to
            if usage_error_key not in self.config.stash:
                raise
        if usage_error_key in self.config.stash:
            raise pytest.UsageError(self.config.stash[usage_error_key])
        return result
