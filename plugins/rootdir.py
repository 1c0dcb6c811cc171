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
alone.

Installed from the wheel, the built-in checks and flows are the packages `deploycheck_checks` and
`deploycheck_smoke` (the checkout's `checks/` and `smoke/`). A team's repository (its own ini file, its own
`checks/` and `smoke/`) runs them beside its own, unless it names test paths on the command line or sets the ini
key `deploycheck_builtin_checks = false`; run outside any project, only they are collected."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest.config.findpaths import determine_setup  # the same rule pytest applies, without the misread path

RESTARTED = "DEPLOYCHECK_RESTARTED"  # set in the restarted run, so it never restarts twice
SUITE_ROOT = Path(__file__).resolve().parents[1]  # the checkout this plugin came from: its checks/ and smoke/
BUILTIN = (("deploycheck_checks", "checks"), ("deploycheck_smoke", "smoke"))  # installed package, checkout folder


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "deploycheck_builtin_checks",
        "Run deploycheck's built-in checks and flows beside the project's own (default: true)",
        type="bool",
        default=True,
    )


def builtin_dirs() -> list[Path]:
    """Where the built-in checks and flows are: the installed packages, else the checkout's folders."""
    found = []
    for package, folder in BUILTIN:
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or ()) if spec else []
        if locations:
            found.append(Path(locations[0]).resolve())
        elif (SUITE_ROOT / folder).is_dir():
            found.append(SUITE_ROOT / folder)
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Add the built-in checks to a run that collects its project's test paths (never to explicit paths)."""
    if hasattr(config, "workerinput") or not _asks_for_deploycheck(config.option, config):
        return
    if config.args_source is pytest.Config.ArgsSource.ARGS or not config.getini("deploycheck_builtin_checks"):
        return
    builtins = [str(path) for path in builtin_dirs() if not _covered(path, config.args)]
    if config.inipath is None:
        config.args[:] = builtins or config.args  # outside any project: the suite's own, not whatever is here
    else:
        config.args.extend(builtins)


def _covered(path: Path, args: list[str]) -> bool:
    """Whether a collected argument already holds the folder (the checkout's own testpaths, for one)."""
    for arg in args:
        collected = Path(arg.split("::")[0]).resolve()
        if collected == path or collected in path.parents:
            return True
    return False


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: before output capturing starts
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> Generator[None, Any, Any]:
    restart = _restart_command(early_config)
    if restart is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, restart, {**os.environ, RESTARTED: "1"})
    _load_builtin_conftests(early_config)
    return (yield)


def _load_builtin_conftests(config: pytest.Config) -> None:
    """Name the built-in folders among the early test paths, so their conftest files (and those of the folders
    above them, a checkout's own) load as initial ones, as the project's do; pytest_configure adds the paths."""
    namespace = config.known_args_namespace
    if namespace.file_or_dir or hasattr(config, "workerinput") or not _asks_for_deploycheck(namespace, config):
        return
    if not config.getini("deploycheck_builtin_checks"):
        return
    here = config.invocation_params.dir
    testpaths = config.getini("testpaths") if here == config.rootpath and config.inipath is not None else []
    project = [str(path) for pattern in testpaths for path in sorted(config.rootpath.glob(pattern))] or [str(here)]
    builtins = [str(path) for path in builtin_dirs() if not _covered(path, project)]
    if builtins:
        namespace.file_or_dir = builtins if config.inipath is None else [*project, *builtins]


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


def _asks_for_deploycheck(namespace: Any, config: pytest.Config | None = None) -> bool:
    named = getattr(namespace, "deploycheck_env", None) or getattr(namespace, "deploycheck_list_services", False)
    ini = bool(config.getini("deploycheck_env")) if config is not None else False
    return bool(named or os.environ.get("DEPLOYCHECK_ENV") or ini)
