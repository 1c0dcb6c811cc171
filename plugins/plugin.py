"""deploycheck's pytest plugin: the entry point (`pytest11`) that loads its plugins, one per role.

Installed, it is known to pytest before the command line is parsed, so `--environments-dir /some/dir` works in
both forms and from any directory. It stays inert unless a run asks for it: `--env` (or `$DEPLOYCHECK_ENV`, or
the ini key `deploycheck_env`) or `--list-services`; another project's tests in the same environment never see
it act."""

import pytest

pytest_plugins = [
    "deploycheck_plugins.rootdir",
    "deploycheck_plugins.options",
    "deploycheck_plugins.targets",
    "deploycheck_plugins.kinds",
    "deploycheck_plugins.memory",
    "deploycheck_plugins.reporting",  # before checks, which imports it: so pytest can rewrite its asserts
    "deploycheck_plugins.checks",
    "deploycheck_plugins.cancellation",
    "deploycheck_plugins.flows",
    "deploycheck_plugins.flows_at_once",
    "deploycheck_plugins.narrowed",
    "deploycheck_plugins.redaction",
    "deploycheck_plugins.notify",  # before outputs: both trylast, and the one registered first runs first
    "deploycheck_plugins.outputs",
    "deploycheck_plugins.usage_errors",
    "deploycheck_plugins.baseline",
    "deploycheck_plugins.actions",
    "deploycheck_plugins.verdict",
    "deploycheck_plugins.watch",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from deploycheck_plugins import hooks

    pluginmanager.add_hookspecs(hooks)
