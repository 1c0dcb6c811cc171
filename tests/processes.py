"""What the fixtures that start real servers (Prometheus, PostgreSQL, the control plane, Chromium) share: a free
loopback port, a child that dies with the test process should that be killed before its teardown, and one rule for
a missing server: skipped with the reason, or failed where CI installed it and says so. (The child that dies with its
parent is `deploycheck.children`: the demo the suite starts uses it too.)"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from shutil import which
from typing import NoReturn

import pytest


def unavailable(reason: str, required_by: str) -> NoReturn:
    """Skip the test for `reason`, or fail it when the variable `required_by` is set (not empty, not 0)."""
    if os.environ.get(required_by, "") not in ("", "0"):
        pytest.fail(f"{required_by} is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _allure_command() -> str | None:
    """The real Allure command line: $DEPLOYCHECK_ALLURE, the copy scripts/install_allure.sh installs, or PATH."""
    cache = Path(os.environ.get("DEPLOYCHECK_CACHE", Path.home() / ".cache/deploycheck"))
    candidates = [os.environ.get("DEPLOYCHECK_ALLURE"), str(cache / "allure/node_modules/.bin/allure"), which("allure")]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


# Found once, at import: pytester gives each test a HOME of its own, where the cached command line is not.
ALLURE = _allure_command()


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a server's log, to say why it did not start."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.strip().splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def descendants(pid: int) -> list[int]:
    """Every living process under `pid` (children, theirs, ...), read from /proc (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
        except (OSError, IndexError):
            continue  # gone while we looked
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found
