"""The HTTP probes of every service: health, readiness, version."""

from __future__ import annotations

from collections.abc import Callable

from deploycheck.config.environment import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register, register_session
from deploycheck.findings import Outcome
from deploycheck.kinds.http import rules
from deploycheck.kinds.http.session import HttpRequest, HttpSession, http_get


def _endpoint_is_good(section: str) -> Callable[[Evidence, Service | None], bool]:
    def good(evidence: Evidence, service: Service | None) -> bool:
        spec = getattr(service, section)
        return rules.endpoint(evidence, spec).outcome is Outcome.PASSED  # the check's own rule

    return good


def _version_is_good(evidence: Evidence, service: Service | None) -> bool:
    return evidence.value is not None and evidence.value.status == 200


def _plan_endpoint(section: str) -> Callable[[Environment, Service | None, GatherSettings], HttpRequest | None]:
    def plan(environment: Environment, service: Service | None, settings: GatherSettings) -> HttpRequest | None:
        spec = getattr(service, section, None)
        return http_get(service, spec.path) if service is not None and spec is not None else None

    return plan


register_session("http", HttpSession)
register(Probe("health", "http", "health", _plan_endpoint("health"), good=_endpoint_is_good("health")))
register(Probe("ready", "http", "ready", _plan_endpoint("ready"), good=_endpoint_is_good("ready")))
register(Probe("version", "http", "version", _plan_endpoint("version"), good=_version_is_good))
