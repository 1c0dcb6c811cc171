"""Fixtures of the suite's own tests: demo services on loopback, environment files, and a runner for the real
suite in a subprocess."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (see below)
import httpx
import pytest
import yaml

from deploycheck import demo as demo_process
from deploycheck.config.loader import Demo

# httpcore is imported here, before any test, on purpose: pytester restores sys.modules after each test, so a
# module first imported during a pytester test is dropped and later imported anew, while httpx keeps the classes
# of the first import in its exception map; httpcore.ConnectError then escapes unmapped instead of becoming
# httpx.ConnectError (seen in tests/demo after the end-to-end tests).
REPO = Path(__file__).resolve().parents[1]
DEFAULT_ENDPOINTS = {
    "health": {"path": "/health", "expect": {"status": "healthy"}},
    "ready": {"path": "/ready"},
    "version": {"path": "/version", "field": "version"},
}


@pytest.fixture
def start_demo() -> Iterator[Callable[..., demo_process.RunningDemo]]:
    """Start the demo with the given services, fault modes and self-traffic; everything started is stopped after."""
    started: list[demo_process.RunningDemo] = []

    def start(
        *services: str,
        faults: dict[str, list[str]] | None = None,
        latency_ms: int = 0,
        version: str = "v2.3.1",
        traffic_rps: int = 0,
    ) -> demo_process.RunningDemo:
        spec = Demo(
            services=services,
            latency_ms=latency_ms,
            version=version,
            faults={name: tuple(modes) for name, modes in (faults or {}).items()},
            traffic_rps=traffic_rps,
        )
        running = demo_process.start(spec)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def set_faults(running: demo_process.RunningDemo, service: str, modes: list[str]) -> None:
    """Switch a running demo service's fault modes (its admin server answers once the change is in effect)."""
    httpx.post(f"{running.admin_url}/faults/{service}", json={"modes": modes}, timeout=5).raise_for_status()


def write_environment(directory: Path, name: str, services: dict[str, dict[str, Any]], **top: Any) -> Path:
    """An environment file whose services use the standard endpoints unless a service says otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "environment": name,
        "defaults": {"timeout": "3s", **DEFAULT_ENDPOINTS},
        "services": services,
        **top,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return directory


@dataclass
class SuiteRun:
    ret: int
    stdout: str
    verdict: dict[str, Any] | None

    def outcomes(self) -> dict[tuple[str, str], str]:
        """(service, check) -> outcome, from verdict.json."""
        assert self.verdict is not None, self.stdout
        return {
            (service, finding["check"]): finding["outcome"]
            for service, body in self.verdict["services"].items()
            for finding in body["findings"]
        }

    def not_passed(self) -> dict[tuple[str, str], str]:
        """The checks that failed or were inconclusive (skips are not judgements: see outcomes())."""
        return {key: outcome for key, outcome in self.outcomes().items() if outcome not in ("passed", "skipped")}


@pytest.fixture(params=[0, 2], ids=["serial", "xdist-2"])
def workers(request: pytest.FixtureRequest) -> int:
    """Every end-to-end case runs twice: in one process, and with pytest-xdist's -n 2."""
    return request.param


@pytest.fixture
def run_suite(pytester: pytest.Pytester) -> Callable[..., SuiteRun]:
    """Run the real suite (`pytest checks/` of this repository) as a pipeline would, in a subprocess."""

    def run(environments: Path, *args: str, workers: int = 0, checks: list[Path] | None = None) -> SuiteRun:
        verdict_file = pytester.path / "verdict.json"
        verdict_file.unlink(missing_ok=True)
        arguments = [
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(REPO),
            "--environments-dir",
            str(environments),
            "--verdict-file",
            str(verdict_file),
            *(["-n", str(workers)] if workers else []),
            *args,
            *[str(path) for path in (checks or [REPO / "checks"])],
        ]
        result = pytester.runpytest_subprocess(*arguments, timeout=180)
        stdout = result.stdout.str() + "\n" + result.stderr.str()
        verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else None
        return SuiteRun(int(result.ret), stdout, verdict)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end and cluster tests start processes: `-m "not slow"` leaves them out for a quick run."""
    for item in items:
        if {"e2e", "cluster", "integration"} & set(item.path.parts):
            item.add_marker(pytest.mark.slow)


def write_checks(directory: Path, **modules: str) -> Path:
    """A folder of checks outside the suite (as a team's own would be), with the suite's plugins loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conftest.py").write_text((REPO / "conftest.py").read_text())
    for name, source in modules.items():
        (directory / f"{name}.py").write_text(source)
    return directory
