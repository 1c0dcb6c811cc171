"""Evidence gathered up front: every (service, probe) the selected checks need, all at once.

A probe is a named way to gather one piece of evidence for a service ("health", "ready", "version"). The store
gathers a whole batch concurrently and hands each check its piece; a piece that is missing (a check not announced
up front) is gathered on the spot. With a wait (`--wait-ready`), each probe is retried until its evidence is good
or the wait is over, so services still starting are given time without slowing healthy ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deploycheck import judge
from deploycheck.config import Endpoint, Environment, Service
from deploycheck.findings import Outcome
from deploycheck.probes.http import FetchJob, HttpRequest, HttpResult, fetch_all

ProbeKey = tuple[str, str]  # (service name, probe name)


@dataclass(frozen=True)
class GatherSettings:
    wait_ready_s: float = 0.0


def _health_job(service: Service, settings: GatherSettings) -> FetchJob | None:
    return _endpoint_job(service, service.health, settings)


def _ready_job(service: Service, settings: GatherSettings) -> FetchJob | None:
    return _endpoint_job(service, service.ready, settings)


def _endpoint_job(service: Service, spec: Endpoint | None, settings: GatherSettings) -> FetchJob | None:
    if spec is None:
        return None
    request = HttpRequest("GET", service.url + spec.path, service.timeout_s)
    return FetchJob(
        request,
        until=lambda result: judge.endpoint(result, spec).outcome is Outcome.PASSED,
        wait_s=settings.wait_ready_s,
    )


def _version_job(service: Service, settings: GatherSettings) -> FetchJob | None:
    if service.version is None:
        return None
    request = HttpRequest("GET", service.url + service.version.path, service.timeout_s)
    return FetchJob(request, until=lambda result: result.status == 200, wait_s=settings.wait_ready_s)


PROBES: dict[str, Callable[[Service, GatherSettings], FetchJob | None]] = {
    "health": _health_job,
    "ready": _ready_job,
    "version": _version_job,
}


class EvidenceStore:
    """Evidence of one run, keyed by (service, probe)."""

    def __init__(self, environment: Environment, settings: GatherSettings) -> None:
        self.environment = environment
        self.settings = settings
        self._results: dict[ProbeKey, HttpResult] = {}

    def prefetch(self, keys: Iterable[ProbeKey]) -> None:
        wanted = [key for key in dict.fromkeys(keys) if key not in self._results]
        jobs = {key: job for key in wanted if (job := self._job(key)) is not None}
        for key, result in zip(jobs, fetch_all(list(jobs.values())), strict=True):
            self._results[key] = result

    def get(self, service: str, probe: str) -> HttpResult:
        key = (service, probe)
        if key not in self._results:
            self.prefetch([key])
        if key not in self._results:
            raise LookupError(f"service {service!r} has nothing configured for probe {probe!r}")
        return self._results[key]

    def _job(self, key: ProbeKey) -> FetchJob | None:
        service, probe = key
        if probe not in PROBES:
            raise LookupError(f"unknown probe {probe!r} (known: {', '.join(PROBES)})")
        return PROBES[probe](self.environment.services[service], self.settings)
