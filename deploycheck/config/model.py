"""The model of an environment file: what each key may hold. `EnvironmentFile` is the whole file (its JSON Schema
is `deploycheck/schemas/environment-v1.schema.json`); the loader validates the top level as `EnvironmentShape`
and each service, merged with `defaults:`, as a `ServiceSpec`.
"""

from __future__ import annotations

from typing import Any, Literal, Self, get_args

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from deploycheck.config.sections import Notifications, Rollback
from deploycheck.config.types import (
    CheckId,
    FilePath,
    Flag,
    FlowName,
    HeaderName,
    HeaderValue,
    HttpUrl,
    LatencyMs,
    Model,
    RequestsPerSecond,
    SecretText,
    ServiceName,
    Text,
    Timeout,
)
from deploycheck.flows.model import DeclaredFlow
from deploycheck.kinds.database.config import Database
from deploycheck.kinds.grpc.config import Grpc
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint
from deploycheck.kinds.kubernetes.config import KubernetesCluster, KubernetesWorkload
from deploycheck.kinds.metrics.config import Alertmanager, Alerts, Baseline, Metrics, Prometheus, Resources, Slo

SERVICE_SECTIONS = ("kubernetes", "metrics", "slo", "baseline", "alerts", "resources", "database", "grpc", "rollback")
ENVIRONMENT_SECTIONS = ("prometheus", "alertmanager", "kubernetes", "notifications")
Severity = Literal["critical", "warning", "shadow"]
FaultMode = Literal[
    "wrong_version",
    "unhealthy",
    "not_ready",
    "slow",
    "errors",
    "down",
    "crash_flow",
    "login_rejected",
    "order_unreadable",
    "payment_declined",
    "payment_error",
    "report_slow",
    "report_empty",
    "delete_fails",
]
FAULT_MODES: tuple[str, ...] = get_args(FaultMode)

_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True, config=_STRICT)
class Demo:
    """The bundled demo services, started on loopback for this environment (the `local` environment)."""

    services: tuple[ServiceName, ...] = Field(default=(), description="services it serves (default: all of the file)")
    latency_ms: LatencyMs = Field(default=0, description="added to every answer (ms)", examples=[50])
    version: Text = Field(default="v2.3.1", description="what the demo reports at /version")
    faults: dict[ServiceName, tuple[FaultMode, ...]] = Field(
        default={}, description="fault modes per service: " + ", ".join(FAULT_MODES), examples=[{"orders": ["slow"]}]
    )
    traffic_rps: RequestsPerSecond = Field(
        default=0, description="requests per second each service sends itself as user traffic (0: none)", examples=[20]
    )


class TLS(Model):
    """How the service's own HTTP probes use TLS."""

    ca_file: FilePath | None = Field(
        default=None, description="CA bundle (PEM) to trust", examples=["/etc/ssl/internal.pem"]
    )
    cert_file: FilePath | None = Field(default=None, description="client certificate (PEM)")
    key_file: FilePath | None = Field(default=None, description="its private key (PEM)")
    verify: Flag = Field(default=True, description="`false` switches certificate checks off (reported as a warning)")

    @model_validator(mode="after")
    def _key_with_certificate(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("`key_file` belongs to a client certificate: give `cert_file` too")
        return self


class FlowOptions(Model):
    """Options of one key user flow."""

    timeout: Timeout | None = Field(default=None, description="per-request timeout of this flow", examples=["30s"])
    username: Text | None = Field(
        default=None, description="test user the flow signs in as", examples=["smoke@example.com"]
    )
    password: SecretText | None = Field(
        default=None, description="that user's password", examples=["${SMOKE_PASSWORD}"]
    )
    token: SecretText | None = Field(default=None, description="bearer token for the flow", examples=["${SMOKE_TOKEN}"])
    params: dict[str, Text] = Field(default={}, description="further inputs of the flow", examples=[{"sku": "TEST-1"}])


class ServiceSpec(Model):
    """One service: where it is, how to probe it, and the sections of its later checks."""

    url: HttpUrl | None = Field(
        default=None, description="base URL (none: started by the demo)", examples=["https://api.x.com"]
    )
    timeout: Timeout = Field(default=5.0, description="per-request timeout", examples=["5s"])
    health: Endpoint | None = Field(default=None, description="liveness endpoint", examples=[{"path": "/health"}])
    ready: Endpoint | None = Field(default=None, description="readiness endpoint", examples=[{"path": "/ready"}])
    version: VersionEndpoint | None = Field(
        default=None, description="version endpoint", examples=[{"path": "/version"}]
    )
    headers: dict[HeaderName, HeaderValue] | None = Field(
        default=None,
        description="extra request headers; values from `${VAR}` are secrets",
        examples=[{"X-Api-Key": "${KEY}"}],
    )
    tls: TLS | None = Field(
        default=None, description="CA bundle, client certificate, verification", examples=[{"verify": True}]
    )
    severity: dict[CheckId, Severity] | None = Field(
        default=None,
        description="`warning` makes a check (or group) advisory; `shadow` judges it and records what it would have "
        "decided, without deciding (a threshold on trial)",
        examples=[{"version": "warning"}],
    )
    flows: tuple[FlowName, ...] | None = Field(
        default=None, description="key user flows it serves", examples=[["login"]]
    )
    flow_options: dict[FlowName, FlowOptions] | None = Field(
        default=None, description="options per flow listed in `flows`", examples=[{"login": {"timeout": "30s"}}]
    )
    kubernetes: KubernetesWorkload | None = Field(
        default=None, description="its workload", examples=[{"deployment": "api"}]
    )
    metrics: Metrics | None = Field(
        default=None, description="its Prometheus series", examples=[{"selector": 'service="api"'}]
    )
    slo: Slo | None = Field(default=None, description="absolute limits", examples=[{"p95_ms": 200, "error_rate": 0.01}])
    baseline: Baseline | None = Field(
        default=None, description="limits relative to before", examples=[{"window": "15m"}]
    )
    alerts: Alerts | None = Field(default=None, description="alerts that fail it", examples=[{"selector": "app=api"}])
    resources: Resources | None = Field(default=None, description="resource limits", examples=[{"max_memory": "512Mi"}])
    database: Database | None = Field(default=None, description="its database", examples=[{"dsn": "${API_DB_DSN}"}])
    grpc: Grpc | None = Field(
        default=None, description="its gRPC health", examples=[{"target": "orders:50051", "services": [""]}]
    )
    rollback: Rollback | None = Field(
        default=None, description="how to roll it back", examples=[{"strategy": "kubernetes"}]
    )


class _TopLevel(Model):
    environment: ServiceName = Field(description="the environment's name: must equal the file name")
    requires_approval: Flag = Field(
        default=True,
        description="rollback, promotion and mutating flows need --approve; `false` (a development environment) lets "
        "them act without it, and the verdict says so",
    )
    allow_probe_traffic: Flag = Field(
        default=True,
        description="`false`: the suite never adds requests of its own to thin traffic (`metrics.probe_traffic`, "
        "--probe-traffic)",
    )
    allow_mutating_flows: Flag = Field(
        default=False, description="flows that change data may run here (else only with --allow-mutating)"
    )
    declared_flows: dict[FlowName, DeclaredFlow] | None = Field(
        default=None,
        description="key user flows written here as steps; `${run_id}`, `${VAR}` and saved names are substituted "
        "when each step is sent; a service runs those it lists under `flows`",
        examples=[{"login": {"steps": [{"name": "log in", "method": "POST", "path": "/oauth/token"}]}}],
    )
    demo: Demo | None = Field(default=None, description="start the bundled demo services", examples=[{"latency_ms": 0}])
    prometheus: Prometheus | None = Field(default=None, description="Prometheus of the metric checks")
    alertmanager: Alertmanager | None = Field(default=None, description="Alertmanager of the alert checks")
    kubernetes: KubernetesCluster | None = Field(
        default=None, description="the cluster", examples=[{"context": "prod"}]
    )
    notifications: Notifications | None = Field(default=None, description="who hears about the verdict")


class EnvironmentShape(_TopLevel):
    """The top level as the loader validates it: services and defaults are checked per service, once merged."""

    defaults: dict[str, Any] | None = None
    services: dict[ServiceName, dict[str, Any] | None] = Field(
        min_length=1, description="the services, by name, each with at least its `url`"
    )


class EnvironmentFile(_TopLevel):
    """An environment file, `environments/<name>.yaml`."""

    model_config = ConfigDict(title="deploycheck environment")

    services: dict[ServiceName, ServiceSpec | None] = Field(
        min_length=1, description="the services, by name", examples=[{"api": {"url": "https://api.example.com"}}]
    )
    defaults: ServiceSpec | None = Field(default=None, description="service keys applied to every service")
