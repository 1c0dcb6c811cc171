"""Which environment and services a run checks: loads the configuration, parametrizes the checks over the
selected services (ids like `production/api-gateway`), gathers their evidence up front, and hands each check a
`target`."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace

import pytest

from deploycheck import config as configuration
from deploycheck.config import ConfigError, Environment, Overrides, Service
from deploycheck.demo import DemoError
from deploycheck.evidence import PROBES, GatherSettings
from deploycheck.probes.http import HttpResult
from deploycheck.run import Run
from deploycheck.secrets import Redactor
from plugins.options import Settings, resolve

settings_key = pytest.StashKey[Settings]()
environment_key = pytest.StashKey[Environment]()
redactor_key = pytest.StashKey[Redactor]()
run_key = pytest.StashKey[Run]()

TARGET = "target"


@dataclass(frozen=True)
class Target:
    """One service of one environment, as a check sees it."""

    environment: str
    service: Service
    expected_version: str | None
    run: Run

    @property
    def id(self) -> str:
        return f"{self.environment}/{self.service.name}"

    def __repr__(self) -> str:
        # pytest prints a failing check's arguments; the service's URL may carry credentials.
        return f"Target({self.id})"

    def evidence(self, probe: str) -> HttpResult:
        return self.run.evidence.get(self.service.name, probe)

    def require(self, section: str) -> object:
        """The service's configuration for `section`, or skip the check: it does not apply to this service."""
        value = getattr(self.service, section, None)
        if not value:
            pytest.skip(f"{self.id}: no `{section}` configured for this service")
        return value


# ---------------------------------------------------------------------------------------------------------------
# configuration


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve(config)
    config.stash[settings_key] = settings
    if settings.list_services:
        return
    try:
        environment = configuration.load_environment(
            settings.environments_dir,
            settings.env,
            settings.services,
            Overrides(timeout_s=settings.timeout_s),
        )
    except ConfigError as error:
        origin = settings.origins["--env"]
        raise pytest.UsageError(f"bad configuration for --env {settings.env} (from {origin}): {error}") from None
    if settings.expected_version is None and environment.demo is not None:
        # The demo is deployed by the run itself, so the version it was started with is the one to expect.
        settings = replace(settings, expected_version=environment.demo.version)
        settings.origins["--expected-version"] = f"demo.version in {environment.source.name}"
        config.stash[settings_key] = settings
    config.stash[environment_key] = environment
    config.stash[redactor_key] = Redactor([secret.reveal() for secret in environment.secrets])
    config.stash[run_key] = Run(environment, GatherSettings(wait_ready_s=settings.wait_ready_s))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(run_key, None)
    if run is not None:
        run.close()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("deploycheck_list_services"):
        return None
    settings = resolve(config)
    try:
        raw = configuration.read_raw(settings.environments_dir, settings.env)
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    services = raw.get("services") or {}
    demo = raw.get("demo") or {}
    print(f"environment {settings.env} ({configuration.environment_file(settings.environments_dir, settings.env)})")
    for name, body in services.items():
        body = body or {}
        url = Redactor()(str(body.get("url") or ("started by the demo" if demo else "(no url)")))
        parts = [key for key in ("health", "ready", "version", "kubernetes", "metrics", "database") if key in body]
        flows = ", ".join(body.get("flows") or [])
        print(f"  {name:<24} {url}  [{', '.join(parts) or 'defaults only'}]" + (f"  flows: {flows}" if flows else ""))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# parametrization and evidence


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if TARGET not in metafunc.fixturenames:
        return
    environment = metafunc.config.stash[environment_key]
    names = list(environment.services)
    metafunc.parametrize(
        TARGET, names, ids=[f"{environment.name}/{name}" for name in names], indirect=True, scope="session"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Gather every probe the collected checks will need, all at once, before the first check runs."""
    if run_key not in session.config.stash or os.environ.get("DEPLOYCHECK_PREFETCH") == "0":
        return  # DEPLOYCHECK_PREFETCH=0: each check gathers its own evidence (for benchmarks and debugging)
    wanted = [
        (str(item.callspec.params[TARGET]), str(probe))
        for item in session.items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec") and TARGET in item.callspec.params
        for marker in item.iter_markers("probe")
        for probe in marker.args
    ]
    unknown = sorted({probe for _, probe in wanted if probe not in PROBES})
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.probe({unknown[0]!r}): no such probe (known: {', '.join(PROBES)}); fix the check's marker"
        )
    if wanted:
        # If the demo cannot start, each check meets the same error and reports it as inconclusive.
        with contextlib.suppress(DemoError):
            session.config.stash[run_key].evidence.prefetch(wanted)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The service under check (parametrized: one test per selected service)."""
    config = request.config
    environment = config.stash[environment_key]
    service = environment.services[request.param]  # as configured: a demo service's URL is known once started
    return Target(environment.name, service, config.stash[settings_key].expected_version, config.stash[run_key])
