"""The metrics kind's sections: `prometheus` and `alertmanager` (environment level); `metrics`, `slo`,
`baseline`, `alerts`, `resources` (service level). Each description is also the reference in docs/configuration.md."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from deploycheck.config.types import (
    Confidence,
    Count,
    CpuCores,
    Duration,
    FilePath,
    Flag,
    HeaderName,
    HeaderValue,
    HttpUrl,
    LabelMatchers,
    LabelName,
    MemoryBytes,
    MetricName,
    Milliseconds,
    Ratio,
    SecretText,
    Section,
    Text,
    Timeout,
)


class ServerTLS(Section):
    """How to trust the TLS certificate of a server the suite queries."""

    ca_file: FilePath | None = Field(
        default=None, description="CA bundle (PEM) to trust", examples=["/etc/ssl/internal-ca.pem"]
    )
    verify: Flag = Field(default=True, description="`false` switches certificate checks off (reported as a warning)")


class HttpApi(Section):
    """An HTTP API the suite queries, with bearer-token or basic authentication."""

    url: HttpUrl = Field(
        description="base URL, http:// or https://", examples=["https://prometheus.example.com"], repr=False
    )
    token: SecretText | None = Field(default=None, description="bearer token", examples=["${PROMETHEUS_TOKEN}"])
    username: Text | None = Field(
        default=None, description="basic-auth user (with `password`)", examples=["deploycheck"]
    )
    password: SecretText | None = Field(
        default=None, description="basic-auth password", examples=["${PROMETHEUS_PASSWORD}"]
    )
    headers: dict[HeaderName, HeaderValue] = Field(
        default={},
        description="extra request headers; values from `${VAR}` are secrets",
        examples=[{"X-Scope-OrgID": "ops"}],
        repr=False,
    )
    tls: ServerTLS = Field(default=ServerTLS(), description="CA bundle and verification", examples=[{"verify": True}])
    timeout: Timeout = Field(default=10.0, description="per-request timeout", examples=["10s"])

    @model_validator(mode="after")
    def _one_kind_of_authentication(self) -> Self:
        if self.token is not None and (self.username is not None or self.password is not None):
            raise ValueError("give either `token` (bearer) or `username` and `password` (basic), not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic authentication needs both `username` and `password`")
        return self


class Prometheus(HttpApi):
    """Where the metric checks (slo, baseline) query Prometheus."""


class Alertmanager(HttpApi):
    """Where the alert checks ask which alerts fire."""


class Metrics(Section):
    """Which series are the service's traffic, and where they are read: Prometheus, or the service's own /metrics."""

    source: Literal["auto", "prometheus", "scrape", "sample"] = Field(
        default="auto",
        description="`prometheus` (the environment's), `scrape` (the service's own `path`, scraped twice), `sample` "
        "(the suite times `sample_requests` requests to `sample_path` itself), or `auto`: Prometheus when the "
        "environment configures it, else a scrape",
    )
    selector: LabelMatchers | None = Field(
        default=None,
        description="label matchers of the service's series (default: `service=\"<the service's name>\"`)",
        examples=['service="api-gateway"'],
    )
    latency_histogram: MetricName = Field(default="http_request_duration_seconds", description="latency histogram")
    requests_counter: MetricName = Field(default="http_requests_total", description="request counter")
    status_label: LabelName = Field(default="status", description="label holding the HTTP status")
    error_status: Text = Field(default="5..", description="regex of the status values that count as errors")
    window: Duration = Field(default=300.0, description="time range of the queries", examples=["5m"])
    path: Text = Field(default="/metrics", description="the service's own metrics endpoint, for `scrape`")
    scrape_interval: Duration = Field(
        default=5.0, description="time between the two scrapes of `path`", examples=["5s"]
    )
    sample_path: Text = Field(default="/", description="the endpoint `sample` times (a cheap, safe GET)")
    sample_requests: Count = Field(default=50, description="how many requests `sample` sends", examples=[50])
    probe_traffic: Count | None = Field(
        default=None,
        description="requests the suite adds to `sample_path`, spread between the two scrapes of `scrape`, where "
        "real traffic is too thin to judge (recorded as synthetic; `--probe-traffic N` overrides)",
        examples=[300],
    )


class Slo(Section):
    """Absolute limits the service must meet now (the deployment guide's: P95 under 200 ms, errors under 1 %)."""

    p95_ms: Milliseconds = Field(default=200.0, description="95th percentile latency limit (ms)", examples=[200])
    error_rate: Ratio = Field(default=0.01, description="share of requests that may fail, 0..1", examples=[0.01])
    confidence: Confidence = Field(
        default=0.95,
        description="how sure the counts must make a pass or a fail; between them: inconclusive (docs/judgement.md)",
        examples=[0.95],
    )
    min_failures: Count = Field(
        default=3,
        description="fewest bad requests (errors, or slower than the limit) that can fail a rule: one stray error "
        "never rolls back",
        examples=[3],
    )
    min_requests: Count | None = Field(
        default=None,
        description="fewer requests in the window: inconclusive, whatever they show (the rules derive their own "
        "need from the limit: 299 clean requests show a 1 % error rate)",
        examples=[100],
    )


class Baseline(Section):
    """How much worse than before the deployment the service may get (the guide: +100 ms P95, +50 % errors)."""

    window: Duration = Field(default=900.0, description="how far back the baseline reaches", examples=["15m"])
    max_p95_increase_ms: Milliseconds = Field(default=100.0, description="allowed P95 rise (ms)", examples=[100])
    max_error_rate_increase: Ratio = Field(
        default=0.5, description="allowed relative error-rate rise, 0..1 (0.5: +50 %)", examples=[0.5]
    )
    min_requests: Count | None = Field(
        default=None,
        description="fewer requests on either side: inconclusive (each side needs at least what the SLO rule "
        "derives; this can only ask for more)",
        examples=[100],
    )
    p95_floor_ms: Milliseconds | None = Field(
        default=None, description="a P95 at or below this is never a regression", examples=[50]
    )
    error_rate_floor: Ratio | None = Field(
        default=None, description="an error rate at or below this is never a regression (default 0.0001: 0.01 %)"
    )


class Alerts(Section):
    """Which firing alerts fail the service."""

    selector: LabelMatchers | None = Field(
        default=None,
        description="label matchers of the service's alerts (default: `service=\"<the service's name>\"`, which "
        "most rule sets do not keep: give a label your alerts carry, e.g. `job`)",
        examples=['job="api-gateway"'],
    )
    severities: tuple[Text, ...] = Field(
        default=("critical",), description="alert severities that decide", examples=[["page"]]
    )
    ignore: tuple[Text, ...] = Field(default=(), description="alert names that never decide", examples=[["Watchdog"]])


class Resources(Section):
    """Limits of what the service's containers may use after the deployment."""

    max_cpu: CpuCores | None = Field(default=None, description="CPU cores per container", examples=["500m"])
    max_memory: MemoryBytes | None = Field(default=None, description="memory per container", examples=["512Mi"])
    max_restarts: Count | None = Field(default=None, description="container restarts since the rollout", examples=[0])
    cpu_metric: MetricName = Field(
        default="process_cpu_seconds_total",
        description="counter of CPU seconds, one series per process or container (cAdvisor: "
        "`container_cpu_usage_seconds_total`)",
    )
    memory_metric: MetricName = Field(
        default="process_resident_memory_bytes",
        description="gauge of memory in bytes, one series per process or container (cAdvisor: "
        "`container_memory_working_set_bytes`)",
    )
    selector: LabelMatchers | None = Field(
        default=None,
        description="label matchers of those series (default: `metrics.selector`)",
        examples=['namespace="prod", pod=~"api-gateway-.*", container="api-gateway"'],
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.max_cpu is None and self.max_memory is None and self.max_restarts is None:
            raise ValueError("give `max_cpu`, `max_memory` or `max_restarts`")
        return self
