"""The metric checks end to end: latency, errors, alerts and resources, from a real Prometheus scraping the demo
services, or from the services' own /metrics when there is none; each fault caught by its check and no other."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, set_faults, write_environment
from tests.prometheus_server import traffic_history

pytest_plugins = ["tests.prometheus_server"]

METRIC_CHECKS = ("latency.p95", "errors.rate")
# The demo's own 40 requests per scrape window cannot show a 1 % error rate: the suite adds 300 (docs/judgement.md).
PROBED = {"scrape_interval": "3s", "sample_path": "/v1/items", "probe_traffic": 400}
SCRAPED = {"metrics": PROBED}


@pytest.fixture
def demo_with_traffic(start_demo, tmp_path):
    """Two demo services sending themselves 20 requests a second, `orders` in the given fault modes."""

    def start(*modes: str, **section):
        running = start_demo("api-gateway", "orders", faults={"orders": list(modes)}, traffic_rps=20)
        metrics = {**PROBED, **section.pop("metrics", {})}
        services = {name: {"url": url, "metrics": metrics, **section} for name, url in running.urls.items()}
        return write_environment(tmp_path / "environments", "staging", services), running

    return start


def metric_outcomes(run) -> dict[tuple[str, str], str]:
    """The outcomes of the SLO checks (latency.p95, errors.rate)."""
    return {key: outcome for key, outcome in run.outcomes().items() if key[1] in METRIC_CHECKS}


def test_healthy_services_pass_every_metric_check_from_their_own_metrics(demo_with_traffic, run_suite, workers):
    environments, _ = demo_with_traffic()
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 0, run.stdout
    assert metric_outcomes(run) == {(s, c): "passed" for s in ("api-gateway", "orders") for c in METRIC_CHECKS}
    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "latency.p95")
    assert finding["source"]["kind"] == "scrape" and finding["source"]["url"].endswith("/metrics")
    assert finding["unit"] == "ms" and finding["limit"] == 200 and finding["samples"] >= 299
    assert finding["source"]["synthetic"]["sent"] > 0 and "sent by the suite" in finding["message"]


# A slow service answers few requests in the window: too few to show its error rate under 1 %, so that check
# holds (inconclusive) rather than passing on thin evidence.
@pytest.mark.parametrize(
    ("mode", "not_passed"),
    [
        ("errors", {("orders", "errors.rate"): "failed"}),
        ("slow", {("orders", "latency.p95"): "failed", ("orders", "errors.rate"): "inconclusive"}),
    ],
)
def test_a_fault_is_caught_by_its_metric_check_only(demo_with_traffic, run_suite, workers, mode, not_passed):
    environments, _ = demo_with_traffic(mode)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == not_passed


def test_too_little_traffic_is_inconclusive_never_a_pass(start_demo, run_suite, tmp_path):
    running = start_demo("orders")  # no traffic: nothing to measure
    services = {"orders": {"url": running.urls["orders"], "metrics": {"scrape_interval": "2s"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-k", "latency or errors")

    assert run.ret == 6, run.stdout
    assert run.not_passed() == {("orders", "latency.p95"): "inconclusive", ("orders", "errors.rate"): "inconclusive"}


def test_resources_are_judged_from_the_process_metrics(demo_with_traffic, run_suite):
    environments, _ = demo_with_traffic(resources={"max_memory": "4Gi", "max_cpu": "0.001"})
    run = run_suite(environments, "--env", "staging", "-k", "resources")

    assert run.ret == 1, run.stdout  # the demo uses more than a thousandth of a core, and far less than 4 GiB
    assert run.outcomes() == {
        (s, c): ("failed" if c == "resources.cpu" else "passed")
        for s in ("api-gateway", "orders")
        for c in ("resources.cpu", "resources.memory")
    }


def test_a_baseline_recorded_before_the_deploy_is_compared_after_it(demo_with_traffic, run_suite, tmp_path):
    environments, running = demo_with_traffic(baseline={})
    recorded = tmp_path / "baseline.json"
    before = run_suite(
        environments, "--env", "staging", "-k", "health", "--record-baseline", "--baseline", str(recorded)
    )
    assert before.ret == 0, before.stdout
    assert json.loads(recorded.read_text())["services"]["orders"]["requests"] >= 299
    assert before.verdict["actions"][0]["action"] == "record-baseline"

    set_faults(running, "orders", ["slow"])  # the "new version" is slower
    after = run_suite(environments, "--env", "staging", "--baseline", str(recorded), "-k", "vs_baseline")

    assert after.ret == 1, after.stdout
    assert after.outcomes() == {
        ("api-gateway", "latency.p95_vs_baseline"): "passed",
        ("api-gateway", "errors.rate_vs_baseline"): "passed",
        ("orders", "latency.p95_vs_baseline"): "failed",
        # 400 ms a request: too few answers in the window to compare error rates, so no pass either
        ("orders", "errors.rate_vs_baseline"): "inconclusive",
    }
    finding = next(
        f for f in after.verdict["services"]["orders"]["findings"] if f["check"] == "latency.p95_vs_baseline"
    )
    assert finding["source"]["baseline"]["kind"] == "baseline-file"


def test_local_runs_the_metric_checks_against_the_demo_for_real(run_suite):
    run = run_suite(REPO / "environments", "--env", "local", "--expected-version", "v2.3.1")

    assert run.ret == 0, run.stdout
    assert metric_outcomes(run) == {(s, c): "passed" for s in ("api-gateway", "orders") for c in METRIC_CHECKS}


# ---------------------------------------------------------------------------------------------------------------
# From a real Prometheus


def error_rate_alert(by: str) -> str:
    """A critical alert on a 5xx share over 5 %, its expression kept per `by` (and so are the alert's labels)."""
    return f"""
groups:
  - name: deploycheck-tests
    rules:
      - alert: HighErrorRate
        expr: >
          sum by ({by}) (rate(http_requests_total{{status=~"5.."}}[10s]))
          / sum by ({by}) (rate(http_requests_total[10s])) > 0.05
        for: 0s
        labels: {{severity: critical}}
"""


ALERT_RULES = error_rate_alert("service")
FROM_PROMETHEUS = {"metrics": {"window": "10s"}}


def prometheus_environment(tmp_path, urls: dict[str, str], prometheus_url: str, **section):
    services = {name: {"url": url, **FROM_PROMETHEUS, **section} for name, url in urls.items()}
    return write_environment(
        tmp_path / "environments", "staging", services, prometheus={"url": prometheus_url, "timeout": "5s"}
    )


def test_from_prometheus_errors_fail_the_rate_and_the_alert_the_healthy_service_passes(
    start_demo, prometheus_factory, run_suite, tmp_path, workers
):
    running = start_demo("api-gateway", "orders", faults={"orders": ["errors"]}, traffic_rps=40)
    prometheus = prometheus_factory(running.urls, rules=ALERT_RULES)
    prometheus.wait_for('ALERTS{alertstate="firing",service="orders"}', timeout_s=60)
    # The healthy service's window must hold the 299 clean requests that show a 1 % error rate.
    prometheus.wait_for('sum(increase(http_requests_total{service="api-gateway"}[10s])) > 320', timeout_s=60)
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url)
    run = run_suite(environments, "--env", "staging", "-k", "p95 or rate or alerts", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {
        ("orders", "errors.rate"): "failed",
        ("orders", "alerts.no_critical_firing"): "failed",
    }
    judged = {key for key, outcome in run.outcomes().items() if outcome == "passed"}
    assert judged == {
        ("api-gateway", "latency.p95"),
        ("api-gateway", "errors.rate"),
        ("api-gateway", "alerts.no_critical_firing"),
        ("orders", "latency.p95"),
    }
    findings = {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}
    # Both services were asked in one query per figure, told apart by their `service` label.
    source = findings["errors.rate"]["source"]
    assert "sum by (service)" in source["queries"]["errors"]["query"] and source["service"] == "orders"
    assert "HighErrorRate" in findings["alerts.no_critical_firing"]["message"]


# Most rule sets aggregate away the `service` label: this alert carries `job` (and its severity), nothing else.
JOB_RULES = error_rate_alert("job")


def test_an_alert_selector_no_alert_can_match_is_inconclusive_not_a_pass(
    start_demo, prometheus_factory, run_suite, tmp_path, workers
):
    running = start_demo("api-gateway", "orders", faults={"orders": ["errors"]}, traffic_rps=40)
    prometheus = prometheus_factory(running.urls, rules=JOB_RULES)
    prometheus.wait_for('ALERTS{alertstate="firing",job="orders"}', timeout_s=60)
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url)  # default: service="<name>"
    run = run_suite(environments, "--env", "staging", "-k", "alerts", workers=workers)

    assert run.ret == 6, run.stdout
    assert run.not_passed() == {
        ("api-gateway", "alerts.no_critical_firing"): "inconclusive",
        ("orders", "alerts.no_critical_firing"): "inconclusive",
    }
    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"].startswith("alerts."))
    message = finding["message"]
    assert message.startswith('the selector service="orders" matches no alert: none of the 1 alerting rules'), message
    assert f"Prometheus at {prometheus.url}" in message and "alertname, job, severity" in message
    assert "1 alert of severity critical fires outside it: HighErrorRate" in message
    assert finding["source"]["selector"] == 'service="orders"' and finding["observed"][0]["name"] == "HighErrorRate"
    asked = {request["url"].removeprefix(prometheus.url) for request in finding["source"]["selector_asked"]}
    assert asked == {"/api/v1/rules", "/api/v1/label/service/values"}  # the evidence behind "matches no alert"


def test_an_alert_selector_on_a_label_the_alerts_carry_fails_on_a_critical_alert(
    start_demo, prometheus_factory, alertmanager_factory, run_suite, tmp_path, workers
):
    running = start_demo("api-gateway", "orders", faults={"orders": ["errors"]}, traffic_rps=40)
    alertmanager = alertmanager_factory()
    prometheus = prometheus_factory(running.urls, rules=JOB_RULES, alertmanager=alertmanager.url)
    prometheus.wait_for('ALERTS{alertstate="firing",job="orders"}', timeout_s=60)
    deadline = time.monotonic() + 30
    while not any(alert["labels"].get("job") == "orders" for alert in alertmanager.alerts()):
        assert time.monotonic() < deadline, "the alert never reached Alertmanager"
        time.sleep(0.2)
    services = {
        name: {"url": url, **FROM_PROMETHEUS, "alerts": {"selector": f'job="{name}"'}}
        for name, url in running.urls.items()
    }
    environments = write_environment(
        tmp_path / "environments", "staging", services,
        prometheus={"url": prometheus.url, "timeout": "5s"}, alertmanager={"url": alertmanager.url, "timeout": "5s"},
    )  # fmt: skip
    run = run_suite(environments, "--env", "staging", "-k", "alerts", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.outcomes() == {
        ("api-gateway", "alerts.no_critical_firing"): "passed",
        ("orders", "alerts.no_critical_firing"): "failed",
    }
    findings = {s: b["findings"][0] for s, b in run.verdict["services"].items()}
    # With both configured, the alerts are Alertmanager's, and the finding says so.
    failed = findings["orders"]
    assert failed["message"].startswith(f"1 alert of severity critical firing in Alertmanager at {alertmanager.url}")
    assert failed["source"]["kind"] == "alertmanager" and failed["source"]["url"].endswith("/api/v2/alerts")
    passed = findings["api-gateway"]
    where = f"in Alertmanager at {alertmanager.url}"
    assert passed["message"] == f'no alert of severity critical firing {where} for job="api-gateway"'
    assert "series carry its labels" in passed["source"]["selector_check"]


def test_with_alertmanager_alone_a_selector_only_an_alert_it_holds_vouches_for_is_judged(
    start_demo, prometheus_factory, alertmanager_factory, run_suite, tmp_path
):
    running = start_demo("api-gateway", "orders", faults={"orders": ["errors"]}, traffic_rps=40)
    alertmanager = alertmanager_factory()
    prometheus_factory(running.urls, rules=JOB_RULES, alertmanager=alertmanager.url)  # not known to the suite
    deadline = time.monotonic() + 60
    while not any(alert["labels"].get("job") == "orders" for alert in alertmanager.alerts()):
        assert time.monotonic() < deadline, "the alert never reached Alertmanager"
        time.sleep(0.2)
    services = {name: {"url": url, "alerts": {"selector": f'job="{name}"'}} for name, url in running.urls.items()}
    environments = write_environment(
        tmp_path / "environments", "staging", services, alertmanager={"url": alertmanager.url, "timeout": "5s"}
    )
    run = run_suite(environments, "--env", "staging", "-k", "alerts")

    assert run.ret == 1, run.stdout
    assert run.outcomes() == {
        ("orders", "alerts.no_critical_firing"): "failed",  # the alert it holds matches the selector
        ("api-gateway", "alerts.no_critical_firing"): "inconclusive",  # nothing can say its selector matches anything
    }
    finding = run.verdict["services"]["api-gateway"]["findings"][0]
    assert finding["message"].startswith("without `prometheus:` the suite cannot read the alerting rules to check the "
                                         'selector job="api-gateway"')  # fmt: skip


def test_judged_sooner_than_two_scrapes_after_the_deploy_is_too_early_and_says_when(
    start_demo, prometheus_factory, run_suite, tmp_path, workers
):
    running = start_demo("api-gateway", "orders", traffic_rps=20)
    prometheus = prometheus_factory(running.urls, scrape_interval="5s")
    prometheus.wait_for('http_requests_total{service="orders"}', timeout_s=30)
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url)
    run = run_suite(environments, "--env", "staging", "--deployed-at", "3s", "-k", "p95 or rate", workers=workers)

    assert run.ret == 6, run.stdout
    assert set(run.not_passed().values()) == {"inconclusive"} and len(run.not_passed()) == 4
    for service in ("api-gateway", "orders"):
        for finding in run.verdict["services"][service]["findings"]:
            if finding["outcome"] == "skipped":  # the baseline checks: no baseline configured
                continue
            assert "too early: 3." in finding["message"], finding["message"]
            assert "s since the deploy, Prometheus scrapes every 5 s; judge after 20" in finding["message"]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (
            {"selector": 'service="nowhere"'},
            'the selector {service="nowhere"} matches no series in Prometheus at {url}',
        ),
        (
            {"requests_counter": "absent_requests_total"},
            'no absent_requests_total series match {service="orders"} over 10s ending',
        ),
    ],
    ids=["selector", "metric"],
)
def test_a_selector_that_matches_nothing_is_said_apart_from_no_traffic(
    start_demo, prometheus_factory, run_suite, tmp_path, metrics, message
):
    running = start_demo("orders", traffic_rps=20)
    prometheus = prometheus_factory(running.urls)
    prometheus.wait_for('sum(increase(http_requests_total{service="orders"}[10s])) > 0', timeout_s=30)
    environments = prometheus_environment(
        tmp_path, running.urls, prometheus.url, metrics={"window": "10s", **metrics}, resources={"max_cpu": 2}
    )
    run = run_suite(environments, "--env", "staging", "-k", "rate or cpu")

    assert run.ret == 6, run.stdout
    findings = {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}
    assert findings["errors.rate"]["outcome"] == "inconclusive"
    assert message.replace("{url}", prometheus.url) in findings["errors.rate"]["message"]
    if "selector" in metrics:  # the CPU figure reads the same selector, and says the same
        assert findings["resources.cpu"]["outcome"] == "inconclusive"
        assert message.replace("{url}", prometheus.url) in findings["resources.cpu"]["message"]
    else:
        assert "(the selector matches series of " in findings["errors.rate"]["message"]
        assert findings["resources.cpu"]["outcome"] == "passed"


def test_a_service_prometheus_does_not_scrape_is_named_among_those_asked_together(
    start_demo, prometheus_factory, run_suite, tmp_path
):
    running = start_demo("api-gateway", "orders", traffic_rps=20)
    prometheus = prometheus_factory({"api-gateway": running.urls["api-gateway"]})  # orders is not scraped
    prometheus.wait_for('sum(increase(http_requests_total{service="api-gateway"}[10s])) > 0', timeout_s=30)
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url)
    run = run_suite(environments, "--env", "staging", "-k", "rate")

    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "errors.rate")
    assert finding["outcome"] == "inconclusive"
    assert (
        f'the selector {{service="orders"}} matches no series in Prometheus at {prometheus.url}' in finding["message"]
    )


def test_the_resource_series_and_their_selector_are_configurable(start_demo, prometheus_factory, run_suite, tmp_path):
    # As one points them at cAdvisor's container series: other metric names, and a selector of their own. Here the
    # "CPU seconds" counter is the demo's request counter: about 20 a second, far over half a core.
    running = start_demo("orders", traffic_rps=20)
    prometheus = prometheus_factory(running.urls)
    prometheus.wait_for('max(rate(http_requests_total{job="orders"}[5s])) > 1', timeout_s=30)
    resources = {"max_memory": "4Gi", "max_cpu": 0.5, "cpu_metric": "http_requests_total", "selector": 'job="orders"'}
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url, resources=resources)
    run = run_suite(environments, "--env", "staging", "-k", "resources")

    assert run.ret == 1, run.stdout
    findings = {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}
    assert findings["resources.cpu"]["outcome"] == "failed" and findings["resources.memory"]["outcome"] == "passed"
    queries = findings["resources.cpu"]["source"]["queries"]
    assert queries["cpu"]["query"] == 'max(rate(http_requests_total{job="orders"}[10s]))'
    assert queries["memory"]["query"] == 'max(process_resident_memory_bytes{job="orders"})'


def test_a_prometheus_that_is_down_makes_the_metric_checks_inconclusive(
    start_demo, prometheus_factory, run_suite, tmp_path
):
    running = start_demo("orders", traffic_rps=20)
    prometheus = prometheus_factory(running.urls)
    prometheus.stop()
    environments = prometheus_environment(tmp_path, running.urls, prometheus.url)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1")

    assert run.ret == 6, run.stdout
    assert run.verdict["verdict"] == "INCONCLUSIVE"
    assert run.not_passed() == {
        ("orders", "latency.p95"): "inconclusive",
        ("orders", "errors.rate"): "inconclusive",
        ("orders", "alerts.no_critical_firing"): "inconclusive",
    }
    assert all("connection refused" in reason for reason in run.verdict["reasons"])


def test_slower_than_before_the_deploy_fails_the_baseline_while_the_slo_holds(
    backfilled_prometheus, run_suite, tmp_path
):
    now = time.time()
    deployed_at = now - 20 * 60
    history = traffic_history("orders", deployed_at, now - 60 * 60, now - 15, latency_s=(0.05, 0.15))
    prometheus = backfilled_prometheus(history)
    baseline = {"baseline": {"window": "15m"}}
    environments = prometheus_environment(tmp_path, {"orders": "http://127.0.0.1:9"}, prometheus.url, **baseline)
    run = run_suite(environments, "--env", "staging", "--deployed-at", "20m", "-k", "p95 or rate")

    assert run.ret == 1, run.stdout
    assert run.outcomes() == {
        ("orders", "latency.p95"): "passed",
        ("orders", "latency.p95_vs_baseline"): "failed",
        ("orders", "errors.rate"): "passed",
        ("orders", "errors.rate_vs_baseline"): "passed",
    }
    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "latency.p95_vs_baseline")
    assert finding["baseline"] < 50 < 150 < finding["observed"] < 200


def test_a_baseline_needs_the_deploy_time(backfilled_prometheus, run_suite, tmp_path):
    prometheus = backfilled_prometheus(traffic_history("orders", time.time() - 600, time.time() - 1200, time.time()))
    environments = prometheus_environment(
        tmp_path, {"orders": "http://127.0.0.1:9"}, prometheus.url, baseline={"window": "5m"}, metrics={"window": "10m"}
    )
    run = run_suite(environments, "--env", "staging", "-k", "vs_baseline")

    assert run.ret == 6, run.stdout
    assert set(run.not_passed().values()) == {"inconclusive"}
    assert "give --deployed-at" in run.verdict["reasons"][0]


# ---------------------------------------------------------------------------------------------------------------
# Watch mode


def watch_run(environments, tmp_path, *args: str, on_watch=None):
    """Run the suite with --watch as a pipeline would; `on_watch` is called once the watch has begun."""
    verdict = tmp_path / "verdict.json"
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "-p",
               "no:randomly", "--environments-dir", str(environments), "--env", "staging", "--verdict-file",
               str(verdict), "--summary-file", str(tmp_path / "summary.md"), *args, str(REPO / "checks")]  # fmt: skip
    started = time.monotonic()
    output = []
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                if on_watch is not None and "deploycheck watch:" in line:
                    on_watch()
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    return process.returncode, "".join(output), json.loads(verdict.read_text()), time.monotonic() - started


def test_watch_stops_at_once_when_a_fault_appears_halfway(demo_with_traffic, tmp_path):
    environments, running = demo_with_traffic(metrics={"scrape_interval": "2s"})
    status, output, verdict, took = watch_run(
        environments, tmp_path, "-k", "p95 or rate", "--watch", "60s", "--interval", "2s",
        on_watch=lambda: set_faults(running, "orders", ["slow"]),
    )  # fmt: skip

    assert status == 1, output
    assert took < 30  # stopped at the first breach, long before the 60 s watch was over
    assert verdict["watch"]["stopped_early"] is True
    findings = {(s, f["check"]): f for s, body in verdict["services"].items() for f in body["findings"]}
    assert findings[("orders", "latency.p95")]["outcome"] == "passed"  # before the fault
    assert findings[("orders", "watch.latency.p95")]["outcome"] == "failed"
    assert findings[("api-gateway", "watch.latency.p95")]["outcome"] == "passed"
    assert "broken in 1 of" in findings[("orders", "watch.latency.p95")]["message"]
    assert "round 1 (" in output and "latency.p95" in output


def test_watch_of_healthy_services_passes_with_every_round_in_the_verdict(demo_with_traffic, tmp_path):
    environments, _ = demo_with_traffic(metrics={"scrape_interval": "2s"})
    status, output, verdict, _ = watch_run(
        environments, tmp_path, "-k", "p95 or rate", "--watch", "6s", "--interval", "3s", "-n", "2"
    )

    assert status == 0, output
    assert [round_["round"] for round_ in verdict["watch"]["rounds"]] == [1, 2]  # at 3 s and 6 s
    assert verdict["watch"]["stopped_early"] is False
    assert verdict["watch"]["back_to_back"] is False  # a 2 s round fits in a 3 s interval
    watched = {f["check"] for body in verdict["services"].values() for f in body["findings"] if "watch" in f["check"]}
    assert watched == {"watch.latency.p95", "watch.errors.rate"}


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_a_watch_whose_rounds_outlast_the_interval_ends_within_its_duration_plus_one_round(
    demo_with_traffic, tmp_path, workers
):
    environments, _ = demo_with_traffic()  # each round scrapes twice, 3 s apart: longer than the 1 s interval
    began: list[float] = []
    status, output, verdict, _ = watch_run(
        environments, tmp_path, "-k", "p95 or rate", "--watch", "6s", "--interval", "1s", "-n", str(workers),
        on_watch=lambda: began.append(time.monotonic()),
    )  # fmt: skip
    watched_for = time.monotonic() - began[0]

    assert status == 0, output
    rounds = verdict["watch"]["rounds"]
    longest = max(round_["took_s"] for round_ in rounds)
    assert longest > 3  # the scrape window
    assert watched_for < 6 + longest + 2, output  # its duration, one round, and the verdict written (was: 465 s)
    assert [round_["round"] for round_ in rounds] == [1, 2]  # at 1 s, at once after it; a third would start past 6 s
    assert verdict["watch"]["back_to_back"] is True
    assert output.count("the rounds run back to back") == 1, output  # said once
    assert "longer than the interval of 1s" in verdict["watch"]["note"]


def test_without_any_metrics_the_suite_times_its_own_requests(start_demo, run_suite, tmp_path, workers):
    running = start_demo("api-gateway", "orders", faults={"orders": ["slow"]})
    # 300 fast requests show both SLOs; 30 slow ones show the latency breach, but not yet an error rate under 1 %.
    sent = {"api-gateway": 300, "orders": 30}
    services = {
        name: {"url": url, "metrics": {"source": "sample", "sample_path": "/v1/items", "sample_requests": sent[name]}}
        for name, url in running.urls.items()
    }
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-k", "p95 or rate", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "latency.p95"): "failed", ("orders", "errors.rate"): "inconclusive"}
    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "latency.p95")
    assert finding["source"]["kind"] == "sample" and finding["samples"] == 30
    assert finding["observed"] > 400  # the slow fault adds 400 ms to every API request
