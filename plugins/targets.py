"""Which environment and services a run checks: loads the configuration, parametrizes the checks over the
selected services (ids like `production/api-gateway`), gathers their evidence up front, and hands each check its
`target` and its evidence, one fixture per probe (`health`, `ready`, `version`, ...)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from deploycheck import credentials
from deploycheck.actions import promote
from deploycheck.config import loader as configuration
from deploycheck.config.loader import ConfigError, Environment, Overrides, Service
from deploycheck.demo import DemoError
from deploycheck.evidence.probe import GatherSettings, ProbeKey
from deploycheck.evidence.registry import REGISTRY
from deploycheck.findings import Inconclusive
from deploycheck.flows import check as flow_check
from deploycheck.kinds.kubernetes import probes as kubernetes_evidence
from deploycheck.kinds.metrics import baseline_file
from deploycheck.run import Run
from deploycheck.secrets import Redactor
from deploycheck_plugins.options import Settings, is_active, resolve

settings_key = pytest.StashKey[Settings]()
environment_key = pytest.StashKey[Environment]()
redactor_key = pytest.StashKey[Redactor]()
run_key = pytest.StashKey[Run]()
shared_dir_key = pytest.StashKey[Path]()
cluster_key = pytest.StashKey[dict[str, Any]]()  # deploy time and deployed tags read from the cluster
live_urls_key = pytest.StashKey[dict[str, str]]()  # --promote: live URLs of the services checked by preview URL

TARGET = "target"
WORKER_SHARED_DIR = "deploycheck_shared_dir"
WORKER_DEMO_URLS = "deploycheck_demo_urls"
WORKER_DEMO_ERROR = "deploycheck_demo_error"
WORKER_CLUSTER = "deploycheck_cluster"


@dataclass(frozen=True)
class Target:
    """One service of one environment, as a check sees it."""

    environment: str
    name: str
    expected_version: str | None
    run: Run
    expected_version_origin: str | None = None  # "--expected-version" (or its variable), or "deployed image"
    expected_migration: str | None = None  # --expected-migration: the schema head every checked database must be at

    @property
    def id(self) -> str:
        return f"{self.environment}/{self.name}"

    @property
    def service(self) -> Service:
        """The service, with its URL (a demo service is started on first use; if it cannot, inconclusive)."""
        try:
            self.run.start_demo()
        except DemoError as error:
            raise Inconclusive(str(error)) from None
        return self.run.configured.services[self.name]

    def __repr__(self) -> str:
        # pytest prints a failing check's arguments; the service's URL may carry credentials.
        return f"Target({self.id})"

    def require(self, section: str) -> Any:
        """The service's configuration for `section`, or skip the check: it does not apply to this service.

        A section whose `${VAR}`s are not set cannot be used: the check is inconclusive and says which."""
        value = self.run.configured.services[self.name].section(section)
        if not value:
            pytest.skip(f"{self.id}: no `{section}` configured for this service")
        if not getattr(value, "resolved", True):
            unset = ", ".join(f"${{{name}}}" for name in value.unset_variables())
            raise Inconclusive(f"{self.id}: `{section}` needs {unset}, which is not set: export it before running")
        return value


def is_running(config: pytest.Config) -> bool:
    """Whether this process checks an environment (not --list-services, --help or a bare --collect-only)."""
    return run_key in config.stash


# ---------------------------------------------------------------------------------------------------------------
# configuration


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "advisory(reason=None): report this check, never let it decide the verdict")
    if not is_active(config) or config.option.help:
        return
    settings = resolve(config)
    config.stash[settings_key] = settings
    if settings.list_services:
        return
    environment = _load(settings, flow_check.python_flows_of_run(config.args, config.invocation_params.dir))
    environment = kubernetes_evidence.with_overrides(environment, settings.kube_context, settings.kube_namespace)
    if settings.promote:  # the idle colour is what the checks judge, through its own URL
        environment, config.stash[live_urls_key] = promote.preview(environment)
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    settings = _cluster_defaults(config, settings, environment, workerinput)
    if settings.expected_version is None and environment.demo is not None:
        # The demo is deployed by the run itself, so the version it was started with is the one to expect.
        origin = ("--expected-version", f"demo.version in {environment.source.name}")
        settings = replace(settings, expected_version=environment.demo.version, origins=(*settings.origins, origin))
        config.stash[settings_key] = settings
    config.stash[environment_key] = environment
    config.stash[redactor_key] = environment_redactor(environment)
    shared_dir: Path | None
    if workerinput:
        shared_dir = Path(workerinput[WORKER_SHARED_DIR])
    elif getattr(config.option, "numprocesses", None):
        # Workers will share one evidence store and one demo, both handed over by XdistHandover.
        shared_dir = Path(tempfile.mkdtemp(prefix="deploycheck-run-"))
        config.stash[shared_dir_key] = shared_dir
        config.pluginmanager.register(XdistHandover(config), "deploycheck-xdist")
    else:
        shared_dir = None
    config.stash[run_key] = Run(
        environment,
        _gather_settings(settings, environment),
        shared_dir=shared_dir,
        demo_urls=workerinput.get(WORKER_DEMO_URLS),
        demo_error=workerinput.get(WORKER_DEMO_ERROR),
    )


def _cluster_defaults(
    config: pytest.Config, settings: Settings, environment: Environment, workerinput: dict[str, Any]
) -> Settings:
    """Without --deployed-at, the deploy time is the newest rollout's; read once, on the controller."""
    if settings.deployed_at is not None and settings.expected_version is not None:
        facts: dict[str, Any] = {"deployed_at": None, "deployed_at_origin": None, "tags": {}}
    elif WORKER_CLUSTER in workerinput:
        facts = workerinput[WORKER_CLUSTER]
    else:
        facts = kubernetes_evidence.cluster_defaults(environment)
    config.stash[cluster_key] = facts
    if settings.deployed_at is None and facts["deployed_at"] is not None:
        origin = ("--deployed-at", facts["deployed_at_origin"])
        return replace(settings, deployed_at=facts["deployed_at"], origins=(*settings.origins, origin))
    return settings


def _gather_settings(settings: Settings, environment: Environment) -> GatherSettings:
    recorded = {}
    if settings.baseline_file is not None and not settings.record_baseline:
        try:
            recorded = baseline_file.read(settings.baseline_file, environment.name)
        except baseline_file.BaselineFileError as error:
            raise pytest.UsageError(f"--baseline (from {settings.origin('--baseline')}): {error}") from None
    if settings.probe_traffic and not environment.allow_probe_traffic:
        raise pytest.UsageError(
            f"--probe-traffic (from {settings.origin('--probe-traffic')}): environment {environment.name} forbids "
            "requests of the suite's own (allow_probe_traffic: false)"
        )
    if settings.at is not None and settings.deployed_at is not None and settings.deployed_at > settings.at:
        raise pytest.UsageError("--deployed-at is after --at: the deploy must come before the moment judged")
    return GatherSettings(
        wait_ready_s=settings.wait_ready_s,
        now=settings.at if settings.at is not None else time.time(),
        replay=settings.at is not None,
        deployed_at=settings.deployed_at,
        recorded_baseline=recorded,
        baseline_file=str(settings.baseline_file) if settings.baseline_file else None,
        probe_traffic=settings.probe_traffic if environment.allow_probe_traffic else 0,
    )


def environment_redactor(environment: Environment) -> Redactor:
    """Masks every secret the environment's `${VAR}`s resolved to, in every form, its Basic-auth credentials (and
    URL passwords)."""
    return credentials.environment_redactor(environment)


def _load(settings: Settings, python_flows: dict[str, str] | None = None) -> Environment:
    """The environment, with the core keys resolved; a later section's `${VAR}`s are demanded only once a
    selected check reads that section (`require_sections`), so `-k health` needs no database password. A run with
    flows (`python_flows`) has its `flows` entries checked too, with the rest."""
    try:
        return configuration.load_environment(
            settings.environments_dir,
            settings.env,
            list(settings.services),
            Overrides(timeout_s=settings.timeout_s),
            sections=(),
            python_flows=python_flows,
        )
    except ConfigError as error:
        origin = settings.origin("--env")
        raise pytest.UsageError(f"bad configuration for --env {settings.env} (from {origin}): {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(run_key, None)
    if run is not None:
        run.close()
    shared_dir = config.stash.get(shared_dir_key, None)
    if shared_dir is not None:
        shutil.rmtree(shared_dir, ignore_errors=True)


class XdistHandover:
    """Decided once on the controller, handed to every worker: the demo's URLs and the shared evidence store."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        run = self.config.stash[run_key]
        node.workerinput[WORKER_SHARED_DIR] = str(self.config.stash[shared_dir_key])
        try:
            node.workerinput[WORKER_DEMO_URLS] = dict(run.start_demo())
        except DemoError as error:
            node.workerinput[WORKER_DEMO_ERROR] = str(error)
        node.workerinput[WORKER_CLUSTER] = self.config.stash[cluster_key]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("deploycheck_list_services"):
        return None
    settings = resolve(config)
    environment = _load(settings)
    redact = environment_redactor(environment)
    print(f"environment {environment.name} ({environment.source})")
    for name, service in environment.services.items():
        url = redact(service.url or "started by the demo")
        parts = [section for section in ("health", "ready", "version") if getattr(service, section) is not None]
        parts += list(service.configured_sections())
        flows = ", ".join(service.flows)
        print(f"  {name:<24} {url}  [{', '.join(parts) or 'defaults only'}]" + (f"  flows: {flows}" if flows else ""))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# parametrization and evidence


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if TARGET not in metafunc.fixturenames or not is_running(metafunc.config):
        return  # another project's own `target` fixture is none of our business
    environment = metafunc.config.stash[environment_key]
    names = list(environment.services)
    metafunc.parametrize(
        TARGET, names, ids=[f"{environment.name}/{name}" for name in names], indirect=True, scope="session"
    )


def service_of(item: pytest.Item) -> str | None:
    """The service a check judges, from its own parameter (None: an environment-wide check)."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.params[TARGET]) if callspec is not None and TARGET in callspec.params else None


def probes_of(item: pytest.Item) -> list[str]:
    """The probes a check reads: the probe fixtures it asks for, directly or through other fixtures."""
    return [name for name in getattr(item, "fixturenames", ()) if REGISTRY.is_probe(name)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Gather every probe the collected checks will need, all at once, before the first check runs."""
    if not is_running(session.config) or os.environ.get("DEPLOYCHECK_PREFETCH") == "0":
        return  # DEPLOYCHECK_PREFETCH=0: each check gathers its own evidence (for benchmarks and debugging)
    wanted: list[ProbeKey] = [
        (service_of(item) if REGISTRY.probe(probe).scope == "service" else None, probe)
        for item in session.items
        for probe in probes_of(item)
    ]
    _require_resolved(session.config.stash[environment_key], wanted)
    if wanted:
        # If the demo cannot start, each check meets the same error for its evidence and reports it inconclusive.
        with contextlib.suppress(DemoError):
            session.config.stash[run_key].evidence.prefetch(wanted)


def _require_resolved(environment: Environment, wanted: list[ProbeKey]) -> None:
    """A section a selected check reads must have its `${VAR}`s set: a usage error now, not a surprise later."""
    for service_name, probe in dict.fromkeys(wanted):
        holder: Any = environment.services[service_name] if service_name is not None else environment
        name = REGISTRY.probe(probe).section
        section = holder.section(name)
        if section is not None and not getattr(section, "resolved", True):
            unset = ", ".join(f"${{{variable}}}" for variable in section.unset_variables())
            where = f"services.{service_name}.{name}" if service_name else name
            raise pytest.UsageError(
                f"{environment.source}: {where}: {unset} is not set, and the check of `{probe}` needs it: "
                "export it before running, or deselect that check"
            )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The service under check (parametrized: one test per selected service)."""
    config = request.config
    run = config.stash[run_key]
    expected = config.stash[settings_key].expected_version
    origin = "--expected-version" if expected is not None else None
    deployed = config.stash[cluster_key]["tags"].get(request.param)
    if expected is None and deployed is not None:  # the tag just deployed is the version to serve
        expected, origin = deployed, "deployed image"
    migration = config.stash[settings_key].expected_migration
    return Target(
        run.configured.name, request.param, expected, run, expected_version_origin=origin, expected_migration=migration
    )
