from __future__ import annotations

import time
from textwrap import dedent

import pytest
import yaml

from deploycheck.config.loader import (
    TLS,
    ConfigError,
    Overrides,
    Service,
    load_environment,
    parse_duration,
    parse_timeout,
)
from deploycheck.config.sections import Rollback
from deploycheck.kinds.database.config import Database
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint
from deploycheck.kinds.metrics.config import Prometheus, Slo
from deploycheck.secrets import Secret
from tests.conftest import REPO

ENVIRONMENTS = ("local", "dev", "staging", "production")


def write(tmp_path, document):
    (tmp_path / f"{document['environment']}.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def write_text(tmp_path, text, name="staging"):
    (tmp_path / f"{name}.yaml").write_text(dedent(text), encoding="utf-8")
    return tmp_path


def error_of(tmp_path, text, environ=None, **options) -> ConfigError:
    """The ConfigError that loading this file gives (the file is written as `staging.yaml`)."""
    with pytest.raises(ConfigError) as caught:
        load_environment(write_text(tmp_path, text), "staging", environ=environ or {}, **options)
    return caught.value


def test_layers_defaults_then_service_then_command_line(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "staging",
            "defaults": {"timeout": "2s", "health": {"path": "/health", "expect": {"status": "healthy"}}},
            "services": {
                "a": {"url": "http://a/"},
                "b": {"url": "http://b", "timeout": "500ms", "health": {"path": "/v1/health"}},
                "c": {"url": "http://c", "health": None},
            },
        },
    )
    environment = load_environment(directory, "staging", environ={})
    a, b, c = (environment.services[name] for name in "abc")
    assert (a.url, a.timeout_s, a.health) == (
        "http://a",
        2.0,
        Endpoint("/health", 200, {"status": "healthy"}),
    )
    assert (b.timeout_s, b.health) == (0.5, Endpoint("/v1/health", 200, {"status": "healthy"}))
    assert c.health is None  # an explicit null switches a default section off
    overridden = load_environment(directory, "staging", overrides=Overrides(timeout_s=9.0), environ={})
    assert {service.timeout_s for service in overridden.services.values()} == {9.0}


def test_variables_resolve_and_secret_keys_become_secrets(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "production",
            "prometheus": {"url": "${PROM_URL:-http://prometheus:9090}", "token": "${PROM_TOKEN}"},
            "services": {"api": {"url": "https://${HOST}", "database": {"dsn": "${DB_DSN}"}}},
        },
    )
    environ = {"PROM_TOKEN": "tok-123456", "HOST": "api.example.com", "DB_DSN": "postgresql://u:pw@db/app"}
    environment = load_environment(directory, "production", environ=environ)
    assert environment.services["api"].url == "https://api.example.com"
    assert environment.prometheus is not None and environment.prometheus.url == "http://prometheus:9090"
    token = environment.prometheus.token
    assert isinstance(token, Secret) and token.reveal() == "tok-123456" and str(token) == "***"
    assert {secret.reveal() for secret in environment.secrets} == {"tok-123456", "postgresql://u:pw@db/app"}


def test_only_selected_services_need_their_variables(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "dev",
            "services": {"a": {"url": "http://a"}, "b": {"url": "${B_URL}"}},
        },
    )
    assert list(load_environment(directory, "dev", ["a"], environ={}).services) == ["a"]
    with pytest.raises(ConfigError, match=r"services\.b\.url: \$\{B_URL\} is not set"):
        load_environment(directory, "dev", environ={})


def test_demo_services_get_their_url_when_started(tmp_path):
    directory = write(tmp_path, {"environment": "local", "demo": {}, "services": {"orders": {}}})
    environment = load_environment(directory, "local", environ={})
    assert environment.unstarted() == ["orders"]
    started = environment.with_urls({"orders": "http://127.0.0.1:1234/"})
    assert started.services["orders"].url == "http://127.0.0.1:1234" and started.unstarted() == []


def test_acting_needs_approval_unless_the_file_says_false(tmp_path):
    """A file that forgot the key is guarded: rollback, promotion and mutating flows need --approve."""
    services = {"orders": {"url": "http://orders"}}
    unset = load_environment(write(tmp_path, {"environment": "production", "services": services}), "production")
    assert unset.requires_approval
    opted_out = {"environment": "dev", "requires_approval": False, "services": services}
    assert not load_environment(write(tmp_path, opted_out), "dev").requires_approval
    shipped = {name: load_environment(REPO / "environments", name).requires_approval for name in ENVIRONMENTS}
    assert shipped == {"local": False, "dev": False, "staging": True, "production": True}


def test_severity_must_be_known(tmp_path):
    directory = write(
        tmp_path, {"environment": "dev", "services": {"a": {"url": "http://a", "severity": {"x": "meh"}}}}
    )
    with pytest.raises(ConfigError, match=r"services\.a\.severity\.x: must be one of critical, warning"):
        load_environment(directory, "dev", environ={})


def test_severity_applies_to_a_check_or_its_group(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "dev",
            "services": {"a": {"url": "http://a", "severity": {"version": "warning", "health.readiness": "warning"}}},
        },
    )
    service = load_environment(directory, "dev", environ={}).services["a"]
    assert service.severity_of("version.matches_expected") == "warning"
    assert service.severity_of("health.readiness") == "warning"
    assert service.severity_of("health.liveness") == "critical"


def test_service_repr_hides_url_passwords():
    assert "s3cret" not in repr(Service("a", "http://u:s3cret@host", 1.0))


@pytest.mark.parametrize(("text", "seconds"), [("120s", 120), ("2m", 120), ("500ms", 0.5), ("1h", 3600), (3, 3)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "1d", True, float("nan"), float("inf"), -1])
def test_bad_durations(text):
    with pytest.raises(ConfigError, match="expected a duration"):
        parse_duration(text)


def test_timeouts_are_bounded():
    assert parse_timeout("10m") == 600
    for value in ("0s", 0, "601s", 99999999999):
        with pytest.raises(ConfigError, match=r"more than 0s and at most 600s") as caught:
            parse_timeout(value, "--timeout")
        assert caught.value.source == "--timeout"


# --------------------------------------------------------------------------------------------------------------
# Every section parses into a typed object


FULL = """\
    environment: staging
    requires_approval: true
    prometheus:
      url: https://prometheus.example.com/
      username: deploycheck
      password: ${PROM_PASSWORD}
      headers: {X-Scope-OrgID: ops}
      tls: {ca_file: /etc/ssl/ca.pem}
      timeout: 20s
    alertmanager: {url: "http://alertmanager:9093", token: "${AM_TOKEN}"}
    kubernetes: {context: staging, namespace: staging}
    notifications:
      webhooks: [{url: "${HOOK_URL}", verdicts: [FAIL]}]
    defaults:
      timeout: 3s
      health: {path: /health, expect: {status: healthy}}
      headers: {X-Client: deploycheck}
      tls: {ca_file: /etc/ssl/internal.pem}
      slo: {p95_ms: 200, error_rate: 1%}
      baseline: {window: 15m, max_p95_increase_ms: 100, max_error_rate_increase: 0.005, p95_floor_ms: 50}
    services:
      api:
        url: https://api.example.com
        version: {path: /version, field: build.version}
        headers: {X-Api-Key: "${API_KEY}"}
        tls: {verify: false}
        severity: {version: warning}
        flows: [login, create_order]
        flow_options: {login: {timeout: 30s, username: smoke, password: "${SMOKE_PASSWORD}"}}
        kubernetes: {statefulset: api, container: app}
        metrics: {selector: 'service="api"', window: 2m}
        alerts: {selector: 'app="api"', severities: [critical, page]}
        resources: {max_cpu: 500m, max_memory: 512Mi, max_restarts: 0}
        database:
          host: db.internal
          port: 6432
          dbname: app
          user: app
          password: ${DB_PASSWORD}
          sslmode: verify-full
          migrations: {tool: flyway, expected_head: "42"}
          max_replication_lag: 10s
        rollback: {strategy: blue-green, service: api}
      payments:
        url: https://payments.example.com
        slo: null
        rollback: {strategy: helm, release: payments}
"""
FULL_ENVIRON = {
    "PROM_PASSWORD": "prom-pass-1",
    "AM_TOKEN": "am-token-1",
    "HOOK_URL": "https://hooks.example.com/services/T0/B0/hook-secret",
    "API_KEY": "api-key-1",
    "SMOKE_PASSWORD": "smoke-pass-1",
    "DB_PASSWORD": "db-pass-1",
}


def test_every_section_parses_into_a_typed_object(tmp_path):
    environment = load_environment(write_text(tmp_path, FULL), "staging", environ=FULL_ENVIRON)
    assert environment.requires_approval
    assert isinstance(environment.prometheus, Prometheus) and environment.prometheus.timeout == 20.0
    assert environment.prometheus.url == "https://prometheus.example.com"
    assert environment.prometheus.password is not None and environment.prometheus.password.reveal() == "prom-pass-1"
    assert environment.alertmanager is not None and environment.alertmanager.token == Secret("am-token-1")
    assert environment.kubernetes is not None and environment.kubernetes.namespace == "staging"
    assert environment.notifications is not None and environment.notifications.webhooks[0].verdicts == ("FAIL",)
    assert environment.configured_sections() == ("prometheus", "alertmanager", "kubernetes", "notifications")

    api, payments = environment.services["api"], environment.services["payments"]
    assert (api.timeout_s, api.version) == (3.0, VersionEndpoint("/version", "build.version"))
    assert api.headers == {"X-Client": "deploycheck", "X-Api-Key": "api-key-1"}  # mappings merge key by key
    assert api.tls == TLS(ca_file="/etc/ssl/internal.pem", verify=False)
    assert api.flows == ("login", "create_order") and api.flow_options["login"].timeout == 30.0
    assert api.kubernetes is not None and api.kubernetes.statefulset == "api"
    assert api.metrics is not None and (api.metrics.window, api.metrics.requests_counter) == (
        120.0,
        "http_requests_total",
    )
    assert api.slo == Slo(p95_ms=200, error_rate=0.01)
    assert api.baseline is not None and (api.baseline.window, api.baseline.min_requests) == (900.0, None)
    assert api.alerts is not None and api.alerts.severities == ("critical", "page")
    assert api.resources is not None and (api.resources.max_cpu, api.resources.max_memory) == (0.5, 512 * 2**20)
    assert isinstance(api.database, Database) and (api.database.port, api.database.sslmode) == (6432, "verify-full")
    assert api.database.migrations is not None and api.database.migrations.version_table == "flyway_schema_history"
    assert api.rollback == Rollback(strategy="blue-green", service="api")
    assert api.configured_sections() == (
        "kubernetes",
        "metrics",
        "slo",
        "baseline",
        "alerts",
        "resources",
        "database",
        "rollback",
    )
    assert payments.slo is None and payments.configured_sections() == ("baseline", "rollback")
    assert {secret.reveal() for secret in environment.secrets} >= set(FULL_ENVIRON.values()) - {
        FULL_ENVIRON["HOOK_URL"]
    }
    assert "hook-secret" in "".join(secret.reveal() for secret in environment.secrets)


def test_reprs_never_show_credentials_paths_or_headers(tmp_path):
    text = FULL.replace("url: https://api.example.com", "url: 'https://:${API_KEY}@api.example.com'")
    text = text.replace("path: /health,", "path: '/health?access_token=${API_KEY}',")
    environment = load_environment(write_text(tmp_path, text), "staging", environ=FULL_ENVIRON)
    api = environment.services["api"]
    shown = repr(environment) + repr(api) + repr(api.health) + repr(environment.prometheus) + repr(api.database)
    shown += repr(environment.notifications) + repr(api.flow_options)
    for secret in FULL_ENVIRON.values():
        assert secret not in shown
    assert "api.example.com" in repr(api)


def test_endpoints_compare_by_value():
    assert Endpoint("/health", 200, {"status": "healthy"}) == Endpoint("/health", 200, {"status": "healthy"})
    assert Endpoint("/ready") == Endpoint("/ready", 200, {}) != Endpoint("/ready", 204)
    assert VersionEndpoint("/version") == VersionEndpoint("/version", "version")


# --------------------------------------------------------------------------------------------------------------
# Secrets


def test_values_from_variables_in_urls_paths_and_headers_are_secrets(tmp_path):
    directory = write_text(
        tmp_path,
        """\
        environment: staging
        services:
          api:
            url: "http://:${TOKEN}@${HOST}:8080"
            health: {path: "/health?access_token=${QUERY_TOKEN}"}
            headers: {X-Api-Key: "${API_KEY}", Authorization: "Bearer literal-token"}
            flows: [login]
            flow_options: {login: {password: "${FLOW_PASSWORD}"}}
        """,
    )
    environ = {
        "TOKEN": "url-token",
        "HOST": "api.internal",
        "QUERY_TOKEN": "query-token",
        "API_KEY": "header-key",
        "FLOW_PASSWORD": "flow-pass",
    }
    environment = load_environment(directory, "staging", environ=environ)
    secrets = {secret.reveal() for secret in environment.secrets}
    assert {"url-token", "query-token", "header-key", "Bearer literal-token", "flow-pass"} <= secrets
    assert "api.internal" not in secrets  # a host is shown in every report; it is not a credential


def test_error_messages_never_quote_secret_or_variable_values(tmp_path):
    error = error_of(
        tmp_path,
        """\
        environment: staging
        prometheus: {url: "http://prom", token: 12345678}
        services:
          api:
            url: "http://user:hunter2-pass@api/"
            timeout: "${TIMEOUT}"
            database: {dsn: 987654321}
            headers: {X-Api-Key: "${KEY}"}
        """,
        environ={"TIMEOUT": "secret-timeout", "KEY": "line\nbreak-key"},
    )
    message = str(error)
    for value in ("12345678", "hunter2-pass", "secret-timeout", "987654321", "break-key"):
        assert value not in message
    assert "services.api.timeout: expected a duration" in message
    assert "prometheus.token: expected text" in message


# --------------------------------------------------------------------------------------------------------------
# Sections read only by later checks need their variables only when those checks run


SECTIONED = """\
    environment: staging
    prometheus: {url: "http://prometheus:9090", token: "${PROM_TOKEN}"}
    services:
      api:
        url: http://api
        headers: {X-Api-Key: "${API_KEY}"}
        database: {dsn: "${DB_DSN}", port: 70000}
"""


def test_sections_not_asked_for_need_no_variables_but_are_still_checked(tmp_path):
    error = error_of(tmp_path, SECTIONED, environ={"API_KEY": "key-1"}, sections=())
    assert "database.port: expected a whole number from 1 to 65535" in str(error)
    assert "is not set" not in str(error)


def test_an_unresolved_value_raises_when_used(tmp_path):
    directory = write_text(tmp_path, SECTIONED.replace(", port: 70000", ""))
    with pytest.raises(ConfigError, match=r"prometheus\.token: \$\{PROM_TOKEN\} is not set"):
        load_environment(directory, "staging", environ={"API_KEY": "key-1"}, sections={"prometheus"})
    environment = load_environment(directory, "staging", environ={"API_KEY": "key-1"}, sections=())
    database = environment.services["api"].database
    assert database is not None and not database.resolved and database.unset_variables() == ("DB_DSN",)
    assert environment.prometheus is not None and not environment.prometheus.resolved
    with pytest.raises(ConfigError, match=r"services\.api\.database\.dsn: \$\{DB_DSN\} is not set"):
        database.dsn.reveal()  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        f"{database.dsn}"
    environ = {"API_KEY": "k", "DB_DSN": "postgresql://db/app", "PROM_TOKEN": "t"}
    resolved = load_environment(directory, "staging", environ=environ)
    assert resolved.services["api"].database is not None and resolved.services["api"].database.resolved


def test_core_keys_always_need_their_variables(tmp_path):
    error = error_of(tmp_path, SECTIONED.replace(", port: 70000", ""), sections=())
    assert "services.api.headers.X-Api-Key: ${API_KEY} is not set: export API_KEY=... before running" in str(error)


def test_an_empty_value_counts_as_not_given(tmp_path):
    directory = write_text(tmp_path, SECTIONED.replace("${PROM_TOKEN}", "${PROM_TOKEN:-}").replace(", port: 70000", ""))
    environment = load_environment(directory, "staging", environ={"API_KEY": "k", "DB_DSN": "postgresql://db/a"})
    assert environment.prometheus is not None and environment.prometheus.token is None


# --------------------------------------------------------------------------------------------------------------
# Bad files: each a ConfigError with the file, line:column, key path, expected and found, and the fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services: [\n", "staging.yaml:2:1: invalid YAML: did not find expected node content"),
        (
            "environment: staging\nservices:\n  a: {url: http://a}\n  a: {url: http://b}\n",
            "4:3: services.a: duplicate key",
        ),
        (
            "environment: staging\n1: x\nservices: {a: {url: http://a}}\n",
            "2:1: keys must be text, but 1 is read as int",
        ),
        ("environment: staging\nservices:\n  a: {url: http://a, on: x}\n", "3:22: services.a: keys must be text"),
        (
            "environment: production\nservices: {a: {url: 'http://a'}}\n",
            "1:1: environment: must be 'staging' (the file's name), found 'production'",
        ),
        ("environment: staging\nservices: {}\n", "services: expected at least one entry"),
        ("- a\n- b\n", "the file must be a mapping with at least `environment` and `services`"),
    ],
    ids=["yaml-syntax", "duplicate-key", "number-key", "boolean-key", "wrong-name", "no-services", "not-a-mapping"],
)
def test_bad_files(tmp_path, text, expected):
    assert expected in str(error_of(tmp_path, text))


SERVICE = "environment: staging\nservices:\n  api:\n    url: http://api\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("    timeout: .nan\n", "services.api.timeout: expected a duration like 30s, 2m or 500ms: a finite number"),
        ("    timeout: .inf\n", "services.api.timeout: expected a duration like 30s, 2m or 500ms: a finite number"),
        ("    timeout: 99999999999\n", "services.api.timeout: a timeout must be more than 0s and at most 600s"),
        (
            "    timeout: 0\n",
            "services.api.timeout: a timeout must be more than 0s and at most 600s (10m), e.g. 5s, found 0",
        ),
        (
            "    timeout: -1\n",
            "services.api.timeout: expected a duration like 30s, 2m or 500ms: a finite number of seconds, not negative",
        ),
        ("    timeout: soon\n", "services.api.timeout: expected a duration like 30s, 2m or 500ms, found 'soon'"),
        (
            "    health: {path: /h, expect_status: 700}\n",
            "services.api.health.expect_status: expected a whole number from 100 to 599",
        ),
        ("    health: {path: h}\n", "services.api.health.path: must start with '/', e.g. /health, found 'h'"),
        (
            "    version: {path: /v, fild: x}\n",
            "services.api.version.fild: unknown key (allowed here: path, field); did you mean `field`?",
        ),
        ("    headers: {'bad header': x}\n", "services.api.headers.bad header: expected an HTTP header name"),
        ("    tls: {verify: maybe}\n", "services.api.tls.verify: expected true or false, found 'maybe'"),
        (
            "    tls: {key_file: k.pem}\n",
            "services.api.tls: `key_file` belongs to a client certificate: give `cert_file` too",
        ),
        ("    severity: {Health: warning}\n", "services.api.severity.Health: expected a check id like health.liveness"),
        ("    flows: login\n", "services.api.flows: expected a list, found 'login'"),
        ("    flow_options: {login: {}}\n", "services.api.flow_options.login: not one of the service's `flows` (none)"),
        (
            "    kubernetes: {deployment: a, statefulset: b}\n",
            "services.api.kubernetes: give `deployment` or `statefulset`, not both",
        ),
        (
            "    kubernetes: {namespace: Prod, deployment: a}\n",
            "services.api.kubernetes.namespace: expected a Kubernetes name",
        ),
        (
            "    metrics: {source: graphite}\n",
            "services.api.metrics.source",
        ),
        ("    slo: {p95_ms: fast}\n", "services.api.slo.p95_ms: expected a number, found 'fast'"),
        (
            "    slo: {error_rate: 2}\n",
            "services.api.slo.error_rate: expected a ratio from 0 to 1, e.g. 0.01 (or 1%), found 2",
        ),
        (
            "    baseline: {max_error_rate_increase: 2}\n",
            "services.api.baseline.max_error_rate_increase",
        ),
        (
            "    baseline: {max_p95_increase_ms: 1, min_requests: 1.5}\n",
            "services.api.baseline.min_requests: expected a whole number",
        ),
        ("    alerts: {severities: critical}\n", "services.api.alerts.severities: expected a list, found 'critical'"),
        (
            "    resources: {max_memory: lots}\n",
            "services.api.resources.max_memory: expected memory as Kubernetes writes it",
        ),
        (
            "    database: {host: db, port: 70000}\n",
            "services.api.database.port: expected a whole number from 1 to 65535, found 70000",
        ),
        (
            "    database: {host: db, sslmode: sure}\n",
            "services.api.database.sslmode: must be one of disable, allow, prefer",
        ),
        (
            "    database: {host: db, migrations: {tool: liquibase}}\n",
            "services.api.database.migrations.tool: must be one of alembic, flyway, django, rails, sql",
        ),
        (
            "    database: {host: db, migrations: {tool: sql}}\n",
            "services.api.database.migrations: `tool: sql` needs the `query`",
        ),
        (
            "    rollback: {strategy: helm}\n",
            "services.api.rollback: `strategy: helm` needs the `release` to roll back",
        ),
        (
            "    rollback: {strategy: redeploy}\n",
            "services.api.rollback.strategy: must be one of kubernetes, helm, blue-green, none",
        ),
        (
            "    rollback: {strategy: kubernetes, release: x}\n",
            "services.api.rollback: `release` applies to `strategy: helm` only",
        ),
    ],
)
def test_wrong_values_in_each_service_section(tmp_path, lines, expected):
    assert expected in str(error_of(tmp_path, SERVICE + lines))


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (
            "prometheus: {url: 'ftp://prometheus'}\n",
            "prometheus.url: must start with http:// or https://, found 'ftp://prometheus'",
        ),
        (
            "prometheus: {url: 'http://prom', token: t1234, username: u, password: p}\n",
            "prometheus: give either `token` (bearer)",
        ),
        ("prometheus: {url: 'http://prom', timeout: 0}\n", "prometheus.timeout: a timeout must be more than 0s"),
        (
            "alertmanager: {url: 'http://am', username: u}\n",
            "alertmanager: basic authentication needs both `username` and `password`",
        ),
        (
            "kubernetes: {in_cluster: true, context: x}\n",
            "kubernetes: `in_cluster: true` uses the pod's service account",
        ),
        (
            "kubernetes: {deployment: api}\n",
            "kubernetes.deployment: unknown key (allowed here: kubeconfig, context, namespace, in_cluster)",
        ),
        (
            "notifications: {webhooks: [{url: 'http://hook', verdicts: [FAILED]}]}\n",
            "notifications.webhooks[0].verdicts[0]: must be one of PASS, FAIL, INCONCLUSIVE",
        ),
        (
            "notifications: {webhooks: {url: 'http://hook'}}\n",
            "notifications.webhooks: expected a list, found a mapping",
        ),
        ("requires_approval: maybe\n", "requires_approval: expected true or false, found 'maybe'"),
        ("services_: {}\n", "services_: unknown key (allowed here: environment, requires_approval, allow_probe"),
    ],
)
def test_wrong_values_in_each_environment_section(tmp_path, top, expected):
    assert expected in str(error_of(tmp_path, SERVICE + top))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://exa mple.com", "a URL must not contain spaces"),
        ("http:///path", "the URL has no host"),
        ("api.example.com", "must start with http:// or https://"),
        ("http://api:70000", "the port must be a number from 1 to 65535"),
        ("http://api:0", "the port must be a number from 1 to 65535"),
        ("http://[::1", "expected a URL like https://api.example.com"),
    ],
)
def test_bad_urls(tmp_path, url, expected):
    error = error_of(tmp_path, f"environment: staging\nservices:\n  api: {{url: '{url}'}}\n")
    assert f"staging.yaml:3:9: services.api.url: {expected}" in str(error)


@pytest.mark.parametrize(
    ("demo", "expected"),
    [
        ("demo: {faults: {api: [slowly]}}", "demo.faults.api[0]: must be one of wrong_version, unhealthy, not_ready"),
        ("demo: {faults: {web: [slow]}}", "demo.faults.web: not a demo service (the demo starts: api)"),
        ("demo: {services: [web]}", "demo.services[0]: no service 'web' in `services` (api)"),
        ("demo: {latency_ms: -5}", "demo.latency_ms: expected a whole number from 0 to 60000, found -5"),
        (
            "demo: {latency: 5}",
            "demo.latency: unknown key (allowed here: services, latency_ms, version, faults, traffic_rps)",
        ),
        ("demo: [api]", "demo: expected a mapping, found a list"),
    ],
)
def test_malformed_demo(tmp_path, demo, expected):
    assert expected in str(error_of(tmp_path, f"environment: staging\n{demo}\nservices:\n  api: {{}}\n"))


def test_unknown_keys_anywhere_list_the_keys_allowed_there(tmp_path):
    error = error_of(
        tmp_path,
        """\
        environment: staging
        defaults:
          helth: {path: /health}
        services:
          api:
            url: http://api
            database: {host: db, migrations: {tool: alembic, head: x}}
        """,
    )
    message = str(error)
    assert "staging.yaml:3:3: defaults.helth: unknown key (allowed here: url, timeout, health," in message
    assert "did you mean `health`?" in message
    assert ":7:54: services.api.database.migrations.head: unknown key (allowed here: tool, table," in message


def test_several_errors_are_reported_together_in_file_order(tmp_path):
    error = error_of(
        tmp_path,
        """\
        environment: staging
        prometheus: {url: "http://prometheus", token: "${PROM_TOKEN}"}
        defaults:
          timeout: 0
        services:
          api: {url: "http://api", helth: {}}
          web: {url: "http://web:99999"}
        """,
    )
    lines = str(error).splitlines()
    assert lines[0].startswith("4 problems in ") and len(error.problems) == 4
    assert [problem.key_path for problem in error.problems] == [
        "prometheus.token",
        "defaults.timeout",  # once, though both services inherit it
        "services.api.helth",
        "services.web.url",
    ]
    assert [(problem.line, problem.column) for problem in error.problems] == [(2, 40), (4, 3), (6, 28), (7, 9)]
    assert (error.source, error.key_path) == (error.problems[0].source, "prometheus.token")


def test_an_unknown_service_names_the_configured_ones(tmp_path):
    error = error_of(tmp_path, SERVICE, selected=["payments"])
    assert str(error).endswith("services: no service 'payments' in this environment (configured: api)")


# --------------------------------------------------------------------------------------------------------------
# Hostile files: refused quickly, with little memory


def assert_refused_quickly(tmp_path, expected):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=expected):
        load_environment(tmp_path, "staging", environ={})
    assert time.perf_counter() - started < 2.0


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = [
        "environment: staging",
        "services: {api: {url: 'http://api'}}",
        "defaults:",
        "  flows: &a0 [x, x, x, x, x, x, x, x, x]",
    ]
    lines += [f"  x{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]" for level in range(1, 10)]
    write_text(tmp_path, "\n".join(lines) + "\n")
    assert_refused_quickly(tmp_path, r"staging\.yaml:\d+:\d+: the document expands to more than 100,000 values")


def test_a_merge_key_bomb_is_refused_quickly(tmp_path):
    lines = ["environment: staging", "services: {api: {url: 'http://api'}}", "x0: &a0 {k: v}"]
    lines += [f"x{level}: &a{level} {{<<: [{', '.join([f'*a{level - 1}'] * 9)}]}}" for level in range(1, 10)]
    write_text(tmp_path, "\n".join(lines) + "\n")
    assert_refused_quickly(tmp_path, "expands to more than 100,000 values")


def test_a_10_mb_file_is_refused_quickly(tmp_path):
    (tmp_path / "staging.yaml").write_text("environment: staging\n" + "# padding\n" * 1_000_000)
    assert_refused_quickly(tmp_path, r"staging\.yaml: the file is larger than 1,000,000 bytes")


def test_a_huge_value_is_refused_quickly(tmp_path):
    (tmp_path / "staging.yaml").write_text(
        "environment: staging\nservices: {api: {url: 'http://" + "a" * 900_000 + "'}}\n"
    )
    assert_refused_quickly(tmp_path, r"staging\.yaml:2:23: a value longer than 65,536 characters")


def test_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "staging.yaml").write_bytes(b"environment: staging\nservices: {api: {url: 'http://caf\xe9'}}\n")
    assert_refused_quickly(tmp_path, r"staging\.yaml:2:34: not UTF-8 text \(byte 0xe9 cannot be decoded\)")


def test_deep_nesting_is_refused(tmp_path):
    (tmp_path / "staging.yaml").write_text("environment: staging\nx: " + "[" * 500 + "]" * 500 + "\n")
    assert_refused_quickly(tmp_path, "nested more than 50 levels deep")
