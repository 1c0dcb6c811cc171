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

from deploycheck.config.loader import ConfigError, parse_duration, parse_timeout

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
        "--expected-migration",
        "EXPECTED_MIGRATION",
        "Schema head every checked database must be at (Alembic revision, Flyway version, Django app=name, ...)",
        metavar="HEAD",
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
    OptionSpec(
        "--metrics-file",
        "DEPLOYCHECK_METRICS_FILE",
        "Also write the verdict as Prometheus metrics to this file, for the node exporter's textfile collector "
        "(e.g. /var/lib/node_exporter/textfile/deploycheck.prom)",
        metavar="PATH",
    ),
    OptionSpec(
        "--probe-traffic",
        "DEPLOYCHECK_PROBE_TRAFFIC",
        "Where a service's own /metrics is scraped, send up to N safe GETs (metrics.sample_path) between the two "
        "scrapes so thin traffic can be judged; recorded as synthetic. Refused where the environment forbids it",
        metavar="N",
    ),
    OptionSpec(
        "--shadow",
        "DEPLOYCHECK_SHADOW",
        "Judge and record what every check would have decided, without deciding: the verdict file says it under "
        "`shadow`, and the run exits 0 (a trial of new thresholds)",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--inconclusive-exit",
        "DEPLOYCHECK_INCONCLUSIVE_EXIT",
        "Exit with N instead of 6 on INCONCLUSIVE, for engines with no third state (an Argo `job` metric, a Helm "
        "test): 1 holds nothing but rolls back, 0 promotes on missing evidence (docs/integrations.md)",
        metavar="N",
    ),
    OptionSpec(
        "--at",
        "DEPLOYCHECK_AT",
        "Judge the metric checks as of a past moment (an ISO 8601 time, unix seconds, or how long ago), from "
        "Prometheus's history: for post-mortems and tuning thresholds; other checks are skipped",
        metavar="TIME",
    ),
    OptionSpec(
        "--approve",
        "DEPLOYCHECK_APPROVE",
        "Approve what an environment with `requires_approval: true` guards: acting on the verdict (rollback, "
        "promotion) and running flows that change data",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--allow-mutating",
        "DEPLOYCHECK_ALLOW_MUTATING",
        "Run the user flows that change data (create orders, payments) where the environment does not allow them "
        "(`allow_mutating_flows`); an environment with `requires_approval: true` needs --approve too",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--context",
        "DEPLOYCHECK_CONTEXT",
        "Kubernetes context of the kubeconfig, overriding the environment's `kubernetes.context`",
        metavar="NAME",
    ),
    OptionSpec(
        "--namespace",
        "DEPLOYCHECK_NAMESPACE",
        "Kubernetes namespace of every checked service, overriding the configured ones",
        metavar="NAME",
    ),
    OptionSpec(
        "--rollback",
        "DEPLOYCHECK_ROLLBACK",
        "On a FAIL verdict, roll back each failed service as its `rollback` section says (with --approve where "
        "the environment requires approval); without it the verdict only recommends",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--promote",
        "DEPLOYCHECK_PROMOTE",
        "Blue-green: check each service's idle colour through its `rollback.preview_url`, and on PASS switch its "
        "Service to it, verify through the live URL and switch back if that fails",
        False,
        action="store_true",
    ),
    OptionSpec(
        "--dry-run",
        "DEPLOYCHECK_DRY_RUN",
        "With --rollback or --promote: print the exact plan (which object, from what to what) and change nothing",
        False,
        action="store_true",
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
    approve: bool = False
    allow_mutating: bool = False
    expected_migration: str | None = None
    kube_context: str | None = None
    kube_namespace: str | None = None
    rollback: bool = False
    dry_run: bool = False
    promote: bool = False
    probe_traffic: int | None = None  # None: as each service's `metrics.probe_traffic` says
    shadow: bool = False
    at: float | None = None  # unix seconds: judge the metric checks as of then (--at)
    metrics_file: Path | None = None  # --metrics-file: the verdict as Prometheus metrics
    inconclusive_exit: int | None = None  # --inconclusive-exit: what INCONCLUSIVE exits with instead of 6
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
        approve=_flag(values["--approve"]),
        allow_mutating=_flag(values["--allow-mutating"]),
        expected_migration=_text(values["--expected-migration"]),
        kube_context=values["--context"],
        kube_namespace=values["--namespace"],
        rollback=_flag(values["--rollback"]),
        dry_run=_flag(values["--dry-run"]),
        promote=_flag(values["--promote"]),
        probe_traffic=_count(values["--probe-traffic"], origins["--probe-traffic"], "--probe-traffic"),
        shadow=_flag(values["--shadow"]),
        at=_deployed_at(values["--at"], origins["--at"], flag="--at"),
        metrics_file=path("--metrics-file") if values["--metrics-file"] else None,
        inconclusive_exit=_exit_code(values["--inconclusive-exit"], origins["--inconclusive-exit"]),
        origins=tuple(origins.items()),
    )


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _flag(value: Any) -> bool:
    # From the command line a bool; from $DEPLOYCHECK_APPROVE or the ini file a word.
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _count(value: Any, origin: str, flag: str = "--failure-limit") -> Any:
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise pytest.UsageError(f"{flag} (from {origin}): expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _exit_code(value: Any, origin: str) -> int | None:
    code = _count(value, origin, "--inconclusive-exit")
    if code is not None and code > 255:
        raise pytest.UsageError(f"--inconclusive-exit (from {origin}): an exit status is 0 to 255, got {code}")
    return code


def _deployed_at(value: str | None, origin: str, now: float | None = None, flag: str = "--deployed-at") -> float | None:
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
            f"{flag} (from {origin}): expected an ISO 8601 time (2026-11-27T13:00:00Z), unix seconds or how "
            f"long ago (10m), got {text!r}"
        ) from None
    if moment > now + 60:
        raise pytest.UsageError(f"{flag} (from {origin}): {text!r} is in the future")
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
