"""The sections of an environment file that later checks read: metrics and SLOs, Kubernetes, databases, rollback,
alerts, notifications. Each is typed here so that a check only reads attributes, never raw mappings.

Environment level: `prometheus`, `alertmanager`, `kubernetes` (the cluster), `notifications`.
Service level: `metrics`, `slo`, `baseline`, `alerts`, `resources`, `kubernetes` (the workload), `database`,
`rollback`. Every description below is also the reference in docs/configuration.md and the editor's hover text.
"""

from __future__ import annotations

import re
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
    KubernetesName,
    LabelMatchers,
    LabelName,
    MemoryBytes,
    MetricName,
    Milliseconds,
    Port,
    Ratio,
    SecretText,
    Section,
    Text,
    Timeout,
)
from deploycheck.kinds.database import read_only_sql

VerdictName = Literal["PASS", "FAIL", "INCONCLUSIVE"]

# --------------------------------------------------------------------------------------------------------------
# Environment level


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


class KubernetesCluster(Section):
    """How to reach the cluster (environment level): a kubeconfig and context, or the pod's service account."""

    kubeconfig: FilePath | None = Field(
        default=None, description="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    context: Text | None = Field(default=None, description="kubeconfig context", examples=["production"])
    namespace: KubernetesName | None = Field(
        default=None, description="default namespace of the services", examples=["prod"]
    )
    in_cluster: Flag = Field(default=False, description="use the service account of the pod the suite runs in")

    @model_validator(mode="after")
    def _in_cluster_or_kubeconfig(self) -> Self:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("`in_cluster: true` uses the pod's service account: leave `kubeconfig` and `context` out")
        return self


class Webhook(Section):
    """One URL that receives the verdict as JSON."""

    url: HttpUrl = Field(description="where to POST the verdict", examples=["${SLACK_WEBHOOK_URL}"], repr=False)
    verdicts: tuple[VerdictName, ...] = Field(
        default=("FAIL", "INCONCLUSIVE"), description="which verdicts are sent", examples=[["FAIL"]]
    )
    headers: dict[HeaderName, HeaderValue] = Field(default={}, description="extra request headers", repr=False)
    timeout: Timeout = Field(default=10.0, description="request timeout", examples=["10s"])
    format: Literal["json", "slack"] = Field(
        default="json", description="`slack`: a Slack-compatible message (`text`); `json`: the verdict as data"
    )


class Notifications(Section):
    """Who hears about the verdict."""

    webhooks: tuple[Webhook, ...] = Field(
        default=(), description="webhooks to call", examples=[[{"url": "${SLACK_WEBHOOK_URL}", "verdicts": ["FAIL"]}]]
    )


# --------------------------------------------------------------------------------------------------------------
# Service level


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


class KubernetesWorkload(Section):
    """The service's workload in the cluster (service level)."""

    deployment: KubernetesName | None = Field(default=None, description="Deployment name", examples=["api-gateway"])
    statefulset: KubernetesName | None = Field(default=None, description="StatefulSet name (instead of `deployment`)")
    container: KubernetesName | None = Field(default=None, description="container to check (default: all)")
    selector: Text | None = Field(default=None, description="label selector of its pods", examples=["app=api-gateway"])
    namespace: KubernetesName | None = Field(default=None, description="namespace (default: the cluster's `namespace`)")

    @model_validator(mode="after")
    def _one_workload(self) -> Self:
        if self.deployment is not None and self.statefulset is not None:
            raise ValueError("give `deployment` or `statefulset`, not both")
        if self.deployment is None and self.statefulset is None and self.selector is None:
            raise ValueError("give `deployment`, `statefulset` or a label `selector`")
        return self


_TABLE_NAME = r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?"
MIGRATION_TABLES = {
    "alembic": "alembic_version",
    "flyway": "flyway_schema_history",
    "django": "django_migrations",
    "rails": "schema_migrations",
}


class Migrations(Section):
    """Which schema version the database must be at."""

    tool: Literal["alembic", "flyway", "django", "rails", "sql"] = Field(
        default="alembic", description="migration tool"
    )
    table: Text | None = Field(
        default=None, description="its version table (default: the tool's)", examples=["alembic_version"]
    )
    expected_head: Text | None = Field(
        default=None, description="version that must be applied", examples=["${DB_HEAD}"]
    )
    query: Text | None = Field(default=None, description="SQL giving the current version (tool `sql`)")
    version_field: Text | None = Field(
        default=None,
        description="field of the service's `/version` answer that names the expected head (dots for nested fields)",
        examples=["schema"],
    )

    @model_validator(mode="after")
    def _query_for_sql(self) -> Self:
        if self.tool == "sql" and self.query is None:
            raise ValueError("`tool: sql` needs the `query` that returns the current version")
        problem = read_only_sql.problem_with(self.query) if self.query is not None else None
        if problem is not None:
            raise ValueError(f"`query` must be exactly one read-only query: {problem}")
        if self.table is not None and not re.fullmatch(_TABLE_NAME, self.table):
            raise ValueError(f"`table` must be a table name, or schema.table, not {self.table!r}")
        return self

    @property
    def version_table(self) -> str | None:
        return self.table or MIGRATION_TABLES.get(self.tool)


class Database(Section):
    """The service's database: a DSN, or its parts."""

    dsn: SecretText | None = Field(default=None, description="connection string", examples=["${API_DB_DSN}"])
    host: Text | None = Field(default=None, description="host (instead of `dsn`)", examples=["db.internal"])
    port: Port = Field(default=5432, description="port")
    dbname: Text | None = Field(default=None, description="database name")
    user: Text | None = Field(default=None, description="user")
    password: SecretText | None = Field(default=None, description="password", examples=["${API_DB_PASSWORD}"])
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="libpq sslmode"
    )
    ca_file: FilePath | None = Field(default=None, description="CA bundle for `verify-ca` / `verify-full`")
    connect_timeout: Timeout = Field(default=5.0, description="connection timeout", examples=["5s"])
    statement_timeout: Timeout = Field(default=5.0, description="per-query timeout", examples=["5s"])
    migrations: Migrations | None = Field(
        default=None, description="schema version check", examples=[{"tool": "alembic"}]
    )
    max_lock_wait: Duration = Field(default=30.0, description="longest a session may wait for a lock", examples=["30s"])
    max_transaction_age: Duration = Field(
        default=300.0, description="longest a transaction may run or sit idle in transaction", examples=["5m"]
    )
    max_replication_lag: Duration = Field(
        default=30.0, description="longest lag of a replica behind its primary", examples=["10s"]
    )

    @model_validator(mode="after")
    def _dsn_or_parts(self) -> Self:
        parts = (self.host, self.dbname, self.user, self.password)
        if self.dsn is not None and any(part is not None for part in parts):
            raise ValueError("give `dsn` or `host`, `dbname`, `user`, `password`, not both")
        return self


class Rollback(Section):
    """How a FAIL verdict is rolled back."""

    strategy: Literal["kubernetes", "helm", "blue-green", "none"] = Field(
        description="kubernetes (rollout undo), helm (rollback a release), blue-green (switch back), none",
        examples=["kubernetes"],
    )
    release: Text | None = Field(default=None, description="Helm release (strategy helm)", examples=["payments"])
    revision: Count | None = Field(default=None, description="revision to return to (default: the previous one)")
    service: KubernetesName | None = Field(default=None, description="Service whose selector switches (blue-green)")
    colours: tuple[Text, Text] = Field(default=("blue", "green"), description="the two colours (blue-green)")
    preview_url: HttpUrl | None = Field(
        default=None,
        description="the idle colour's own URL: --promote checks it before switching traffic (blue-green)",
        examples=["https://orders-preview.shop.example"],
    )
    timeout: Timeout = Field(default=300.0, description="how long to wait for the rollback to finish", examples=["5m"])

    @model_validator(mode="after")
    def _fields_of_strategy(self) -> Self:
        if self.strategy == "helm" and self.release is None:
            raise ValueError("`strategy: helm` needs the `release` to roll back")
        if self.strategy == "blue-green" and self.service is None:
            raise ValueError("`strategy: blue-green` needs the `service` whose selector switches colour")
        if self.preview_url is not None and self.strategy != "blue-green":
            raise ValueError("`preview_url` applies to `strategy: blue-green` only")
        if self.release is not None and self.strategy != "helm":
            raise ValueError("`release` applies to `strategy: helm` only")
        return self
