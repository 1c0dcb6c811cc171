"""What a run checks, as the rest of the code reads it: an `Environment` of `Service`s, every value typed and its
variables resolved. Built by `deploycheck.config.loader.load_environment`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from deploycheck.config.model import ENVIRONMENT_SECTIONS, SERVICE_SECTIONS, TLS, Demo, FlowOptions
from deploycheck.config.sections import Notifications, Rollback
from deploycheck.flows.model import DeclaredFlow
from deploycheck.kinds.database.config import Database
from deploycheck.kinds.grpc.config import Grpc
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint
from deploycheck.kinds.kubernetes.config import KubernetesCluster, KubernetesWorkload
from deploycheck.kinds.metrics.config import Alertmanager, Alerts, Baseline, Metrics, Prometheus, Resources, Slo
from deploycheck.secrets import Secret


class _Sections:
    """The later sections of a service or of the environment: the built-in ones, then those of plugged kinds."""

    BUILT_IN: ClassVar[tuple[str, ...]]
    plugged: Mapping[str, Any]

    def configured_sections(self) -> tuple[str, ...]:
        """The later sections configured here, e.g. ("kubernetes", "metrics")."""
        built_in = (name for name in self.BUILT_IN if getattr(self, name) is not None)
        return (*built_in, *(name for name, value in self.plugged.items() if value is not None))

    def section(self, name: str) -> Any:
        """The configured section `name` (a built-in one, or a plugged kind's), or None."""
        return self.plugged[name] if name in self.plugged else getattr(self, name, None)


@dataclass(frozen=True, repr=False)
class Service(_Sections):
    """One service of the environment. `url` has no trailing slash; "" for a demo service not started yet."""

    name: str
    url: str
    timeout_s: float
    health: Endpoint | None = None
    ready: Endpoint | None = None
    version: VersionEndpoint | None = None
    flows: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)  # check id or group -> critical | warning
    headers: Mapping[str, str] = field(default_factory=dict)  # extra request headers (may hold secrets)
    tls: TLS = field(default_factory=lambda: TLS())
    flow_options: Mapping[str, FlowOptions] = field(default_factory=dict)  # only flows listed in `flows`
    kubernetes: KubernetesWorkload | None = None
    metrics: Metrics | None = None
    slo: Slo | None = None
    baseline: Baseline | None = None
    alerts: Alerts | None = None
    resources: Resources | None = None
    database: Database | None = None
    grpc: Grpc | None = None
    rollback: Rollback | None = None
    plugged: Mapping[str, Any] = field(default_factory=dict)  # the sections of kinds from outside (config.compose)
    BUILT_IN: ClassVar[tuple[str, ...]] = SERVICE_SECTIONS

    def __repr__(self) -> str:
        # pytest prints locals (-l, --full-trace): show where the service is, never credentials, paths or headers.
        return f"Service({self.name!r}, url={_origin(self.url)!r})"

    def severity_of(self, check: str) -> str:
        """`critical` decides the verdict; `warning` is reported only; `shadow` is judged and recorded as what it
        would have decided (a threshold on trial). Matches a check id or its group."""
        group = check.split(".", 1)[0]
        return self.severity.get(check, self.severity.get(group, "critical"))


@dataclass(frozen=True, repr=False)
class Environment(_Sections):
    """One environment file, loaded for the selected services (`services`, in file order)."""

    name: str
    source: Path
    services: Mapping[str, Service]
    requires_approval: bool = True  # safe by default: acting here needs --approve unless the file says false
    allow_probe_traffic: bool = True
    allow_mutating_flows: bool = False
    declared_flows: Mapping[str, DeclaredFlow] = field(default_factory=dict)  # `${...}` kept: substituted per step
    demo: Demo | None = None
    secrets: tuple[Secret, ...] = ()  # every secret value resolved while loading, for redaction
    prometheus: Prometheus | None = None
    alertmanager: Alertmanager | None = None
    kubernetes: KubernetesCluster | None = None
    notifications: Notifications | None = None
    plugged: Mapping[str, Any] = field(default_factory=dict)  # the sections of kinds from outside (config.compose)
    BUILT_IN: ClassVar[tuple[str, ...]] = ENVIRONMENT_SECTIONS

    def __repr__(self) -> str:
        return f"Environment({self.name!r}, services={list(self.services)!r})"

    def unstarted(self) -> list[str]:
        """Selected services the demo must start before they can be checked (they have no URL yet)."""
        return [name for name, service in self.services.items() if not service.url]

    def with_urls(self, urls: Mapping[str, str]) -> Environment:
        """A copy in which the named services have these URLs (the demo's, once started)."""
        services = {
            name: replace(service, url=urls[name].rstrip("/")) if name in urls else service
            for name, service in self.services.items()
        }
        return replace(self, services=services)


@dataclass(frozen=True)
class Overrides:
    """What the command line changes, applied last."""

    timeout_s: float | None = None


def _origin(url: str) -> str:
    """scheme://host:port of a URL, without user, password, path or query."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{parts.hostname}{port}" if parts.hostname else ""
