"""The kinds of evidence of a run, and one fixture per probe, minted from the registry when the run is configured.

The built-in kinds are in `deploycheck.evidence.registry.REGISTRY`; a team adds its own with the hook
`pytest_deploycheck_kinds(registry)` in a `conftest.py` (the rootdir's, or one of the test paths given), or with
an entry point in the group `deploycheck.kinds` naming a function that takes the registry (a pip plugin). The
kinds the environment configures are imported now; any other only if a check asks for one of its probes. Each
probe's fixture is minted here, after every `conftest.py` given has been imported: a probe registered there has
its fixture like the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest

from deploycheck.demo import DemoError
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import NotConfigured
from deploycheck.evidence.registry import REGISTRY, KindError, add_installed
from deploycheck.findings import Inconclusive
from deploycheck_plugins.options import is_active
from deploycheck_plugins.targets import Target, environment_key, run_key, settings_key


@pytest.hookimpl(tryfirst=True, specname="pytest_configure")  # before targets.py loads the environment
def pytest_configure_kinds(config: pytest.Config) -> None:
    """The kinds of pip plugins (entry points) and of `conftest.py` files (the hook), beside the built-in ones:
    their sections are validated with the others."""
    if is_active(config) and not config.option.help:
        try:
            add_installed(REGISTRY)
        except KindError as error:
            raise pytest.UsageError(str(error)) from None
        config.hook.pytest_deploycheck_kinds(registry=REGISTRY)


@pytest.hookimpl(trylast=True)  # after targets.py has loaded the environment
def pytest_configure(config: pytest.Config) -> None:
    if settings_key not in config.stash:
        return  # not a run of the suite (inactive, or --help)
    if environment_key in config.stash:
        REGISTRY.load_for(config.stash[environment_key])
    config.pluginmanager.register(probe_fixtures(REGISTRY.probe_scopes()), "deploycheck-probes")


def probe_fixtures(scopes: dict[str, str]) -> object:
    """A plugin object holding one fixture per probe, named after the probe (pytest reads a plugin's fixtures
    from its class, so the class is made for the run)."""
    fixtures = {f"{name}_evidence": _probe_fixture(name, scope) for name, scope in scopes.items()}
    return type("ProbeFixtures", (), fixtures)()


def _evidence(request: pytest.FixtureRequest, probe: str, service: str | None) -> Evidence:
    try:
        return request.config.stash[run_key].evidence.get(service, probe)
    except NotConfigured as why:
        pytest.skip(str(why))
    except DemoError as error:
        raise Inconclusive(str(error)) from None


def _probe_fixture(name: str, scope: str) -> Any:
    if scope == "environment":

        def environment_evidence(self: object, request: pytest.FixtureRequest) -> Evidence:
            run = request.config.stash[run_key]
            probe = REGISTRY.probe(name)
            if probe.plan(run.configured, None, run.settings) is None:  # known without starting anything
                pytest.skip(f"no `{probe.section}` configured for {run.configured.name}")
            return _evidence(request, name, None)

        environment_evidence.__doc__ = f"The `{name}` evidence of the environment (gathered up front)."
        return pytest.fixture(name=name)(environment_evidence)

    def service_evidence(self: object, request: pytest.FixtureRequest, target: Target) -> Evidence:
        target.require(REGISTRY.probe(name).section)  # known without starting anything: skip where not configured
        return _evidence(request, name, target.name)

    service_evidence.__doc__ = f"The `{name}` evidence of the service under check (gathered up front)."
    return pytest.fixture(name=name)(service_evidence)
