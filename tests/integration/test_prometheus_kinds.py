"""The prometheus and scrape probe kinds against a real Prometheus (and Alertmanager) scraping the real demo.

One Prometheus scraping the demo (with alert rules, and pointed at an Alertmanager when one is installed) serves
the module: its first scrape comes ~5 s after it starts (Prometheus reloads its targets at most every 5 s), so it
is started once. Cases that need a server of their own (stopped, basic auth over TLS, backfilled history) start it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from deploycheck import demo as demo_process
from deploycheck.config.loader import Demo
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.registry import REGISTRY, SESSIONS
from deploycheck.kinds.http.session import TlsOptions
from deploycheck.kinds.metrics.scrape import ScrapeRequest, ScrapeSession
from deploycheck.kinds.metrics.session import (
    AlertRule,
    FiringAlert,
    PromAlertsRequest,
    PromApiGet,
    PrometheusSession,
    PromQuery,
    PromSample,
)
from tests.hostile_servers import TlsFiles, read_request, respond, serving
from tests.prometheus_server import (
    BASIC_PASSWORD,
    BASIC_USER,
    AlertmanagerServer,
    Launcher,
    PrometheusServer,
    ServerTls,
    launching,
    require,
    traffic_history,
)

pytest_plugins = ["tests.prometheus_server", "tests.hostile_servers"]

RULES = """
groups:
  - name: deploycheck-tests
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        for: 0s
        labels: {severity: critical, service: orders}
      - alert: SilencedInAlertmanager
        expr: vector(1)
        for: 0s
        labels: {severity: critical}
      - alert: PendingForAnHour
        expr: vector(1)
        for: 1h
"""
P95 = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="api"}[5m])))'


# ---------------------------------------------------------------------------------------------------------------
# Fixtures and helpers


@dataclass
class Stack:
    demo: demo_process.RunningDemo
    prometheus: PrometheusServer
    alertmanager: AlertmanagerServer | None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The demo (orders, payments) with some traffic, scraped by Prometheus every second, its rules evaluated."""
    with launching(tmp_path_factory.mktemp("stack")) as launch:
        running = demo_process.start(Demo(services=("orders", "payments")))
        try:
            alertmanager = _alertmanager_if_installed(launch)
            alertmanager_url = alertmanager.url if alertmanager else None
            prometheus = launch.prometheus(running.urls, rules=RULES, alertmanager=alertmanager_url)
            for url in running.urls.values():  # the demo counts requests once it has served some
                urllib.request.urlopen(f"{url}/health", timeout=5).read()
            prometheus.wait_for('sum(http_requests_total{service=~"orders|payments"}) >= 2')
            yield Stack(running, prometheus, alertmanager)
        finally:
            running.stop()


def _alertmanager_if_installed(launch: Launcher) -> AlertmanagerServer | None:
    installed = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return launch.alertmanager() if installed else None  # the Alertmanager test skips (or fails in CI) without


def fetch(session_type: Callable[[], Any], *requests: Any) -> list[Evidence]:
    """Every request at once in one session of the kind, as the evidence store gathers them."""

    async def gather() -> list[Evidence]:
        async with session_type() as session:
            return list(await asyncio.gather(*(session.fetch(request) for request in requests)))

    return asyncio.run(gather())


def by_labels(samples: Sequence[PromSample], *names: str) -> dict[tuple[str, ...], float]:
    return {tuple(sample.labels.get(name, "") for name in names): sample.value for sample in samples}


# ---------------------------------------------------------------------------------------------------------------
# Queries


def test_both_kinds_are_registered() -> None:
    REGISTRY.load("metrics")
    assert SESSIONS["prometheus"] is PrometheusSession
    assert SESSIONS["scrape"] is ScrapeSession


def test_a_vector_is_one_sample_per_series_with_its_labels(stack: Stack) -> None:
    url = stack.prometheus.url
    per_service, orders = fetch(
        PrometheusSession,
        PromQuery(url, "sum by (service) (http_requests_total)", None, 5),
        PromQuery(url, 'http_requests_total{service="orders"}', None, 5),
    )
    assert per_service.ok and orders.ok, (per_service.error, orders.error)
    totals = by_labels(per_service.value, "service")
    assert set(totals) >= {("orders",), ("payments",)} and all(value >= 1 for value in totals.values())
    assert orders.value and all(sample.labels["service"] == "orders" for sample in orders.value)
    assert ("GET", "/health", "200") in by_labels(orders.value, "method", "route", "status")
    assert orders.source == {
        "kind": "prometheus",
        "url": url,
        "query": 'http_requests_total{service="orders"}',
        "time": None,
        "timeout_s": 5,
    }


def test_a_query_that_matches_nothing_is_empty_data_not_an_error(stack: Stack) -> None:
    (evidence,) = fetch(PrometheusSession, PromQuery(stack.prometheus.url, 'up{service="no-such"}', None, 5))
    assert evidence.ok and evidence.value == ()


def test_a_scalar_is_one_sample_without_labels_and_nan_and_inf_stay_floats(stack: Stack) -> None:
    url = stack.prometheus.url
    scalar, nan, inf = fetch(
        PrometheusSession,
        PromQuery(url, 'scalar(sum(up{service=~"orders|payments"}))', None, 5),
        PromQuery(url, "0/0", None, 5),
        PromQuery(url, "1/0", None, 5),
    )
    assert scalar.value == (PromSample({}, 2.0),)
    assert math.isnan(nan.value[0].value) and inf.value[0].value == math.inf


def test_a_bad_query_gives_prometheus_own_error(stack: Stack) -> None:
    url = stack.prometheus.url
    bad, range_vector = fetch(PrometheusSession, PromQuery(url, "sum(", None, 5), PromQuery(url, "up[1m]", None, 5))
    assert bad.value is None and bad.error is not None
    assert bad.error.startswith(f"Prometheus at {url}: answered 400: bad_data: invalid parameter")
    assert "parse error" in bad.error and "\n" not in bad.error
    assert range_vector.error == (
        f"Prometheus at {url}: the query returns a range vector; ask for an instant one (e.g. rate(x[5m]), not x[5m])"
    )


def test_history_is_queried_at_a_past_time(backfilled_prometheus: Callable[..., PrometheusServer]) -> None:
    now = time.time()
    deployed_at = now - 20 * 60
    prometheus = backfilled_prometheus(traffic_history("api", deployed_at, start=now - 60 * 60, end=now - 60))
    before, after = fetch(
        PrometheusSession,
        PromQuery(prometheus.url, P95, deployed_at - 60, 5),
        PromQuery(prometheus.url, P95, deployed_at + 10 * 60, 5),
    )
    assert before.ok and after.ok, (before.error, after.error)
    assert before.value[0].value < 0.05 < 0.2 < after.value[0].value  # fast before the deploy, slow after
    recorded = datetime.fromisoformat(before.source["time"].replace("Z", "+00:00"))
    assert recorded.tzinfo == UTC and abs(recorded.timestamp() - (deployed_at - 60)) < 0.001


# ---------------------------------------------------------------------------------------------------------------
# When it goes wrong


def test_a_stopped_prometheus_is_connection_refused(prometheus_factory: Callable[..., PrometheusServer]) -> None:
    prometheus = prometheus_factory({})
    prometheus.stop()
    (evidence,) = fetch(PrometheusSession, PromQuery(prometheus.url, "up", None, 5))
    assert evidence.error == f"Prometheus at {prometheus.url}: connection refused"
    assert evidence.value is None and evidence.elapsed_ms < 2000


def test_the_timeout_bounds_the_whole_call(dripping_body_server: str) -> None:
    """Each byte comes within the timeout, the whole answer never does: the call ends at the deadline anyway, and
    the thread still reading is abandoned (the event loop closes without waiting for it)."""
    started = time.monotonic()
    (evidence,) = fetch(PrometheusSession, PromQuery(dripping_body_server, "up", None, 2.5))
    assert evidence.error == f"Prometheus at {dripping_body_server}: no answer within 2.5s"
    assert time.monotonic() - started < 4.0


@pytest.mark.parametrize(
    ("server", "error"),
    [
        ("echo_server", "not a Prometheus API answer: no data.result in it"),
        ("huge_body_server", "not a Prometheus API answer: the answer is larger than 16 MB"),
        ("huge_chunked_body_server", "not a Prometheus API answer: the answer is larger than 16 MB"),
        ("html_error_server", "answered 500: <!DOCTYPE html>"),
    ],
)
def test_an_answer_that_is_not_prometheus_is_said_so(server: str, error: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server)
    (evidence,) = fetch(PrometheusSession, PromQuery(url, "up", None, 5))
    assert evidence.error == f"Prometheus at {url}: {error}"


def test_the_token_and_headers_go_through_and_never_show(recording_prometheus: str) -> None:
    query = PromQuery(
        recording_prometheus, "up", 1_700_000_000.0, 5, headers={"X-Scope-OrgID": "tenant-7"}, token="tok-secret-1"
    )
    (evidence,) = fetch(PrometheusSession, query)
    assert evidence.ok, evidence.error
    (sample,) = evidence.value
    assert sample.labels["authorization"] == "Bearer tok-secret-1"
    assert sample.labels["x_scope_orgid"] == "tenant-7"
    assert sample.labels["path"].startswith("/api/v1/query?") and "time=1700000000.0" in sample.labels["path"]
    assert evidence.source["time"] == "2023-11-14T22:13:20Z"
    for shown in (repr(query), json.dumps(query.describe()), json.dumps(evidence.source)):
        assert "tok-secret-1" not in shown and "tenant-7" not in shown


@pytest.fixture
def recording_prometheus() -> Iterator[str]:
    """Answers every query with one sample whose labels are what it received: its auth header, a header, the path."""

    def answer(connection: socket.socket, stop: threading.Event) -> None:
        received = read_request(connection)
        labels = {
            "authorization": received.headers.get("authorization", ""),
            "x_scope_orgid": received.headers.get("x-scope-orgid", ""),
            "path": received.path,
        }
        result = [{"metric": labels, "value": [time.time(), "1"]}]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        respond(connection, "200 OK", json.dumps(body).encode())

    with serving(answer) as server:
        yield server.url


def test_basic_auth_over_tls_against_a_real_prometheus(
    prometheus_factory: Callable[..., PrometheusServer], tls_files: TlsFiles
) -> None:
    prometheus = prometheus_factory(
        {}, basic_auth=True, tls=ServerTls(tls_files.server_chain, tls_files.server_key, tls_files.ca_file)
    )
    url, trusted = prometheus.url, TlsOptions(ca_file=tls_files.ca_file)
    right, wrong, token, untrusted = fetch(
        PrometheusSession,
        PromQuery(url, "vector(1)", None, 5, basic=(BASIC_USER, BASIC_PASSWORD), tls=trusted),
        PromQuery(url, "vector(1)", None, 5, basic=(BASIC_USER, "not-the-password"), tls=trusted),
        PromQuery(url, "vector(1)", None, 5, token="a-token-it-ignores", tls=trusted),
        PromQuery(url, "vector(1)", None, 5, basic=(BASIC_USER, BASIC_PASSWORD)),
    )
    assert right.value == (PromSample({}, 1.0),), right.error
    assert wrong.error == f"Prometheus at {url}: answered 401 (check the user and password)"
    assert token.error == f"Prometheus at {url}: answered 401 (check the token)"
    assert untrusted.error is not None
    assert untrusted.error.startswith(f"Prometheus at {url}: TLS: certificate verify failed")
    assert BASIC_PASSWORD not in repr(right) + repr(untrusted)


# ---------------------------------------------------------------------------------------------------------------
# Alerts


def test_firing_alerts_from_prometheus(stack: Stack) -> None:
    stack.prometheus.wait_for('ALERTS{alertstate="firing"}')
    (evidence,) = fetch(PrometheusSession, PromAlertsRequest(stack.prometheus.url, 5))
    assert evidence.ok, evidence.error
    firing = {alert.name: alert for alert in evidence.value}
    assert set(firing) == {"AlwaysFiring", "SilencedInAlertmanager"}  # not PendingForAnHour
    always = firing["AlwaysFiring"]
    assert always.state == "firing" and always.labels["severity"] == "critical" and always.labels["service"] == "orders"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", always.active_since or "")
    assert evidence.source["url"] == f"{stack.prometheus.url}/api/v1/alerts"


def alertmanager_of(stack: Stack) -> AlertmanagerServer:
    if stack.alertmanager is None:
        require("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")  # skips, or fails in CI
    assert stack.alertmanager is not None
    return stack.alertmanager


def test_active_alerts_from_alertmanager_leave_out_the_silenced(stack: Stack) -> None:
    alertmanager = alertmanager_of(stack)
    _wait_until(lambda: {a["labels"]["alertname"] for a in alertmanager.alerts()} >= {"AlwaysFiring"}, 20)
    alertmanager.silence("SilencedInAlertmanager")
    (evidence,) = fetch(PrometheusSession, PromAlertsRequest(alertmanager.url, 5, alertmanager=True))
    assert evidence.ok, evidence.error
    assert [(alert.name, alert.state) for alert in evidence.value] == [("AlwaysFiring", "active")]
    assert isinstance(evidence.value[0], FiringAlert) and evidence.value[0].active_since is not None


def test_every_alert_alertmanager_holds_includes_the_silenced(stack: Stack) -> None:
    alertmanager = alertmanager_of(stack)
    _wait_until(lambda: {a["labels"]["alertname"] for a in alertmanager.alerts()} >= {"SilencedInAlertmanager"}, 20)
    alertmanager.silence("SilencedInAlertmanager")
    (evidence,) = fetch(PrometheusSession, PromAlertsRequest(alertmanager.url, 5, alertmanager=True, every=True))
    assert evidence.ok, evidence.error
    assert {alert.name for alert in evidence.value} >= {"AlwaysFiring", "SilencedInAlertmanager"}
    assert evidence.source["kind"] == "alertmanager"


# ---------------------------------------------------------------------------------------------------------------
# Rules, targets, label values: what tells whether a selector can match anything


def test_the_alerting_rules_with_their_labels_and_active_alerts(stack: Stack) -> None:
    stack.prometheus.wait_for('ALERTS{alertstate="firing"}')
    (evidence,) = fetch(PrometheusSession, PromApiGet(stack.prometheus.url, "rules", 5))
    assert evidence.ok, evidence.error
    rules = {rule.name: rule for rule in evidence.value}
    assert set(rules) == {"AlwaysFiring", "SilencedInAlertmanager", "PendingForAnHour"}
    assert rules["AlwaysFiring"] == AlertRule(
        "AlwaysFiring",
        {"severity": "critical", "service": "orders"},
        "firing",
        ({"alertname": "AlwaysFiring", "severity": "critical", "service": "orders"},),
    )
    assert rules["PendingForAnHour"].state == "pending" and rules["PendingForAnHour"].labels == {}
    assert evidence.source["url"] == f"{stack.prometheus.url}/api/v1/rules"


def test_the_targets_with_their_scrape_interval_and_the_label_values_of_a_selector(stack: Stack) -> None:
    now = time.time()
    targets, services, names, nothing = fetch(
        PrometheusSession,
        PromApiGet(stack.prometheus.url, "targets", 5),
        PromApiGet(stack.prometheus.url, "label_values", 5, label="service", match='{service=~"orders|gone"}',
                   start=now - 3600, end=now),
        PromApiGet(stack.prometheus.url, "label_values", 5, match='{service="payments"}', start=now - 3600, end=now),
        PromApiGet(stack.prometheus.url, "label_values", 5, match='{service="gone"}', start=now - 3600, end=now),
    )  # fmt: skip
    assert {target.labels["service"]: target.interval_s for target in targets.value} == {"orders": 1, "payments": 1}
    assert services.value == ("orders",)
    assert {"http_requests_total", "up", "process_cpu_seconds_total"} <= set(names.value)
    assert nothing.ok and nothing.value == ()
    assert nothing.source["match"] == '{service="gone"}' and nothing.source["since"].endswith("Z")


def test_an_api_answer_that_is_not_prometheus_is_said_so(echo_server: str) -> None:
    (evidence,) = fetch(PrometheusSession, PromApiGet(echo_server, "rules", 5))
    assert evidence.error == f"Prometheus at {echo_server}: not a Prometheus API answer: no rules in it"


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------------------------
# Scrape


def test_a_scrape_is_two_snapshots_an_interval_apart(stack: Stack) -> None:
    url = stack.demo.urls["orders"] + "/metrics"
    (evidence,) = fetch(ScrapeSession, ScrapeRequest(url, interval_s=0.5, timeout_s=5))
    assert evidence.ok, evidence.error
    first, second = evidence.value
    assert second.taken_at - first.taken_at >= 0.5
    assert 500 <= evidence.elapsed_ms < 3000
    before = sum(sample.value for sample in first.select("http_requests_total", 'service="orders"'))
    after = sum(sample.value for sample in second.select("http_requests_total", 'service="orders"'))
    assert before >= 1 and after >= before
    assert first.select("http_request_duration_seconds_bucket", 'service="orders",le="+Inf"')
    assert evidence.source == {"kind": "scrape", "url": url, "interval_s": 0.5, "timeout_s": 5}


def test_a_page_that_is_not_metrics_is_an_error(stack: Stack, refused_server: str) -> None:
    base = stack.demo.urls["orders"]
    health, missing, refused = fetch(
        ScrapeSession,
        ScrapeRequest(f"{base}/health", 0.1, 5),
        ScrapeRequest(f"{base}/no-metrics-here", 0.1, 5),
        ScrapeRequest(f"{refused_server}/metrics", 0.1, 5),
    )
    assert health.error is not None and health.value is None
    assert health.error.startswith(f"scrape of {base}/health: not the Prometheus text format: ")
    assert missing.error == f"scrape of {base}/no-metrics-here: answered 404"
    assert refused.error == f"scrape of {refused_server}/metrics: connection refused"
