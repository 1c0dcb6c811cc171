"""Command-line options of deploycheck, and their resolution in one place.

Every option resolves command line -> environment variable -> ini key -> default, and the resolved `Settings`
remember where each value came from, so a usage error can name it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deploycheck.config import ConfigError, parse_duration, parse_timeout

MAX_WAIT_READY_S = 3600.0


@dataclass(frozen=True)
class OptionSpec:
    flag: str
    env: str | None
    help: str
    default: Any = None
    action: str = "store"
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return "deploycheck_" + self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest


OPTIONS = (
    OptionSpec(
        "--env",
        "DEPLOYCHECK_ENV",
        "Environment to check: a file in the environments directory",
        "local",
        metavar="NAME",
    ),
    OptionSpec(
        "--service",
        "DEPLOYCHECK_SERVICES",
        "Service to check; repeat for several (default: all of the "
        "environment; the variable takes a comma-separated list)",
        action="append",
        metavar="NAME",
    ),
    OptionSpec(
        "--expected-version",
        "EXPECTED_VERSION",
        "Version every checked service must serve",
        metavar="VERSION",
    ),
    OptionSpec(
        "--wait-ready",
        "DEPLOYCHECK_WAIT_READY",
        "Keep retrying health, readiness and version for up to this long while services start (e.g. 120s)",
        "0s",
        metavar="DURATION",
    ),
    OptionSpec(
        "--deployed-at",
        "DEPLOYCHECK_DEPLOYED_AT",
        "When the rollout began: an ISO 8601 time, unix seconds, or how long ago (e.g. 10m); the metric checks "
        "judge the traffic since then against the baseline window before it",
        metavar="TIME",
    ),
    OptionSpec(
        "--baseline",
        "DEPLOYCHECK_BASELINE",
        "Baseline recorded before the deploy (by --record-baseline) to compare the metrics against, where "
        "Prometheus has no history",
        metavar="FILE",
    ),
    OptionSpec(
        "--record-baseline",
        None,
        "Record each service's traffic figures now, before the deploy, into the --baseline file "
        "(default reports/baseline.json)",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--watch",
        "DEPLOYCHECK_WATCH",
        "After the checks, judge the metric rules again every --interval for this long (e.g. 60m); stop at once "
        "with FAIL when a rule breaks more often than --failure-limit allows",
        metavar="DURATION",
    ),
    OptionSpec("--interval", "DEPLOYCHECK_INTERVAL", "Time between the rounds of --watch", "60s", metavar="DURATION"),
    OptionSpec(
        "--failure-limit",
        "DEPLOYCHECK_FAILURE_LIMIT",
        "Breaches of one rule that --watch tolerates before it fails (default 0: the first)",
        "0",
        metavar="N",
    ),
    OptionSpec(
        "--timeout",
        "DEPLOYCHECK_TIMEOUT",
        "Per-request timeout, overriding the configuration (e.g. 5s)",
        metavar="DURATION",
    ),
    OptionSpec(
        "--environments-dir",
        "DEPLOYCHECK_ENVIRONMENTS_DIR",
        "Directory of the environment files",
        "environments",
        metavar="DIR",
    ),
    OptionSpec(
        "--verdict-file",
        "DEPLOYCHECK_VERDICT_FILE",
        "Where to write the verdict JSON",
        "reports/verdict.json",
        metavar="PATH",
    ),
    OptionSpec(
        "--summary-file",
        "DEPLOYCHECK_SUMMARY_FILE",
        "Where to write the Markdown summary of the verdict",
        "reports/summary.md",
        metavar="PATH",
    ),
    OptionSpec("--list-services", None, "Show the services configured for --env and exit", False, action="store_true"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploycheck", "deploycheck: post-deployment verification")
    for spec in OPTIONS:
        kwargs: dict[str, Any] = {
            "dest": spec.dest,
            "action": spec.action,
            "help": spec.help,
            "default": None,
        }
        if spec.metavar:
            kwargs["metavar"] = spec.metavar
        group.addoption(spec.flag, **kwargs)
        if spec.action != "store_true":
            parser.addini(spec.ini, f"Default for {spec.flag}", default=None)


@dataclass(frozen=True)
class Settings:
    env: str
    services: tuple[str, ...]
    expected_version: str | None
    wait_ready_s: float
    deployed_at: float | None  # unix seconds
    baseline_file: Path | None
    record_baseline: bool
    watch_s: float  # 0: no watch
    interval_s: float
    failure_limit: int
    timeout_s: float | None
    environments_dir: Path
    verdict_file: Path
    summary_file: Path
    list_services: bool
    origins: tuple[tuple[str, str], ...] = field(default=())  # (option flag, where its value came from)

    def origin(self, flag: str) -> str:
        return dict(self.origins).get(flag, "default")


def is_active(config: pytest.Config) -> bool:
    """Whether this run asked for deploycheck at all (else the plugin stays out of the way)."""
    if config.getoption("deploycheck_env") or config.getoption("deploycheck_list_services"):
        return True
    return bool(os.environ.get("DEPLOYCHECK_ENV") or config.getini("deploycheck_env"))


def project_dir(config: pytest.Config) -> Path:
    """Where configured relative paths start: the directory of the ini file, else where pytest was run."""
    return config.inipath.parent if config.inipath is not None else config.invocation_params.dir


def resolve(config: pytest.Config) -> Settings:
    """Resolve every option once; a bad value is a usage error naming the option, its source and the fix."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for spec in OPTIONS:
        values[spec.flag], origins[spec.flag] = _lookup(config, spec)

    def duration(flag: str, parse: Any = parse_duration) -> float | None:
        if values[flag] is None:
            return None
        try:
            return float(parse(values[flag], origins[flag]))
        except ConfigError as error:
            raise pytest.UsageError(f"{flag} (from {origins[flag]}): {error.reason}") from None

    services = values["--service"] or []
    if isinstance(services, str):
        services = [name.strip() for name in services.split(",") if name.strip()]

    expected = values["--expected-version"]
    if expected is not None and not str(expected).strip():
        # A pipeline whose version variable is missing passes "": checking nothing would pass a wrong version.
        raise pytest.UsageError(
            f"--expected-version (from {origins['--expected-version']}) is empty: give the version just deployed, "
            "or leave the option and EXPECTED_VERSION out to skip the version check"
        )
    wait_ready = duration("--wait-ready") or 0.0
    if wait_ready > MAX_WAIT_READY_S:
        raise pytest.UsageError(f"--wait-ready (from {origins['--wait-ready']}): at most 1h, got {wait_ready:g}s")

    watch_s, interval_s = duration("--watch") or 0.0, duration("--interval") or 60.0
    if watch_s and not 1.0 <= interval_s <= watch_s:
        raise pytest.UsageError(
            f"--interval (from {origins['--interval']}): {interval_s:g}s; it must be at least 1s and at most the "
            f"--watch of {watch_s:g}s"
        )

    def path(flag: str) -> Path:
        # Paths typed by the user are relative to where they ran pytest; configured ones to the project.
        typed = origins[flag] == flag or origins[flag].startswith("$")
        return (config.invocation_params.dir if typed else project_dir(config)) / values[flag]

    return Settings(
        env=values["--env"],
        services=tuple(dict.fromkeys(services)),
        expected_version=str(expected).strip() if expected is not None else None,
        wait_ready_s=wait_ready,
        deployed_at=_deployed_at(values["--deployed-at"], origins["--deployed-at"]),
        baseline_file=path("--baseline") if values["--baseline"] else None,
        record_baseline=bool(values["--record-baseline"]),
        watch_s=watch_s,
        interval_s=interval_s,
        failure_limit=_count(values["--failure-limit"], origins["--failure-limit"]),
        timeout_s=duration("--timeout", parse_timeout),
        environments_dir=path("--environments-dir"),
        verdict_file=path("--verdict-file"),
        summary_file=path("--summary-file"),
        list_services=bool(values["--list-services"]),
        origins=tuple(origins.items()),
    )


def _count(value: Any, origin: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise pytest.UsageError(f"--failure-limit (from {origin}): expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _deployed_at(value: str | None, origin: str, now: float | None = None) -> float | None:
    """'2026-11-27T13:00:00Z', '1764248400' or '10m' (ago) -> unix seconds; in the future is a usage error."""
    if value is None:
        return None
    now = time.time() if now is None else now
    text = str(value).strip()
    try:
        moment = float(text) if text.replace(".", "", 1).isdigit() and len(text) > 6 else None
        if moment is None:
            try:
                moment = now - parse_duration(text)
            except ConfigError:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        raise pytest.UsageError(
            f"--deployed-at (from {origin}): expected an ISO 8601 time (2026-11-27T13:00:00Z), unix seconds or how "
            f"long ago (10m), got {text!r}"
        ) from None
    if moment > now + 60:
        raise pytest.UsageError(f"--deployed-at (from {origin}): {text!r} is in the future")
    return moment


def _lookup(config: pytest.Config, spec: OptionSpec) -> tuple[Any, str]:
    value = config.getoption(spec.dest)
    if value not in (None, False, []):
        return value, spec.flag
    if spec.env and spec.env in os.environ and (os.environ[spec.env] or spec.flag == "--expected-version"):
        return os.environ[spec.env], f"${spec.env}"
    if spec.action != "store_true":
        ini_value = config.getini(spec.ini)
        if ini_value:
            return ini_value, f"ini option {spec.ini}"
    return spec.default, "default"
