"""The one thing a plugin cannot fix by itself: pytest reads the command line for its rootdir and ini file
*before* any plugin has declared its options. So in `pytest --env acceptance --environments-dir /some/dir`, pytest
takes the existing `/some/dir` for a test path, roots the run there and finds no configuration at all: no test
paths, no markers, checks collected from wherever it stands.

When that happened (an ini file would have been found without the misread path), the run is started again at
once with the configuration pytest would have found named explicitly (`-c`, `--rootdir`); nothing has run and
nothing has been printed yet. Likewise a deploycheck run started outside any project (no ini file, no test paths:
`cd /tmp && pytest --env staging --environments-dir ...`) runs the suite's own checks with the suite's
configuration, as `run_smoke_tests.sh` does, rather than collecting whatever the directory holds. Runs that name
their configuration, xdist workers, and pytest called from inside another program (`pytest.main`) are left
alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest.config.findpaths import determine_setup  # the same rule pytest applies, without the misread path

RESTARTED = "DEPLOYCHECK_RESTARTED"  # set in the restarted run, so it never restarts twice
SUITE_ROOT = Path(__file__).resolve().parents[1]  # the checkout this plugin came from: its checks/ and smoke/


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: before output capturing starts
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> Generator[None, Any, Any]:
    restart = _restart_command(early_config)
    if restart is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, restart, {**os.environ, RESTARTED: "1"})
    return (yield)


def _restart_command(config: pytest.Config) -> list[str] | None:
    namespace = config.known_args_namespace
    invoked = list(config.invocation_params.args)
    if (
        os.environ.get(RESTARTED)
        # pytest.main() inside another program, or an xdist worker (started by execnet): never replace the process
        or invoked != sys.argv[1:]
        or namespace.inifilename
        or namespace.rootdir
    ):
        return None
    # What pytest would have found had it known deploycheck's options: the same rule, the real test paths.
    rootdir, inipath, *_ = determine_setup(
        inifile=None,
        override_ini=None,
        args=namespace.file_or_dir,
        rootdir_cmd_arg=None,
        invocation_dir=config.invocation_params.dir,
    )
    paths: list[str] = []
    if inipath is None and not namespace.file_or_dir and _asks_for_deploycheck(namespace):
        # pytest uses an ini file's test paths only when run from its directory: name them.
        rootdir, inipath = SUITE_ROOT, SUITE_ROOT / "pyproject.toml"
        paths = [str(SUITE_ROOT / folder) for folder in ("checks", "smoke") if (SUITE_ROOT / folder).is_dir()]
    if inipath is None or inipath == config.inipath or not inipath.is_file():
        return None
    return [sys.executable, "-m", "pytest", "-c", str(inipath), "--rootdir", str(rootdir), *invoked, *paths]


def _asks_for_deploycheck(namespace: Any) -> bool:
    named = getattr(namespace, "deploycheck_env", None) or getattr(namespace, "deploycheck_list_services", False)
    return bool(named or os.environ.get("DEPLOYCHECK_ENV"))
