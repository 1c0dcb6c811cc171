"""The metric checks end to end: latency, errors, alerts and resources, from a real Prometheus scraping the demo
services, or from the services' own /metrics when there is none; each fault caught by its check and no other."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, set_faults, write_environment

METRIC_CHECKS = ("latency.p95", "errors.rate")
SCRAPED = {"metrics": {"scrape_interval": "2s"}, "slo": {"min_requests": 20}}


@pytest.fixture
def demo_with_traffic(start_demo, tmp_path):
    """Two demo services sending themselves 20 requests a second, `orders` in the given fault modes."""

    def start(*modes: str, **section):
        running = start_demo("api-gateway", "orders", faults={"orders": list(modes)}, traffic_rps=20)
        services = {name: {"url": url, **SCRAPED, **section} for name, url in running.urls.items()}
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
    assert finding["unit"] == "ms" and finding["limit"] == 200 and finding["samples"] >= 20


@pytest.mark.parametrize(("mode", "caught_by"), [("errors", "errors.rate"), ("slow", "latency.p95")])
def test_a_fault_is_caught_by_its_metric_check_only(demo_with_traffic, run_suite, workers, mode, caught_by):
    environments, _ = demo_with_traffic(mode)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", caught_by): "failed"}


def test_too_little_traffic_is_inconclusive_never_a_pass(start_demo, run_suite, tmp_path):
    running = start_demo("orders")  # no traffic: nothing to measure
    services = {"orders": {"url": running.urls["orders"], **SCRAPED}}
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
    baseline = {"baseline": {"min_requests": 20}}
    environments, running = demo_with_traffic(**baseline)
    recorded = tmp_path / "baseline.json"
    before = run_suite(
        environments, "--env", "staging", "-k", "health", "--record-baseline", "--baseline", str(recorded)
    )
    assert before.ret == 0, before.stdout
    assert json.loads(recorded.read_text())["services"]["orders"]["requests"] >= 20
    assert before.verdict["actions"][0]["action"] == "record-baseline"

    set_faults(running, "orders", ["slow"])  # the "new version" is slower
    after = run_suite(environments, "--env", "staging", "--baseline", str(recorded), "-k", "vs_baseline")

    assert after.ret == 1, after.stdout
    assert after.outcomes() == {
        ("api-gateway", "latency.p95_vs_baseline"): "passed",
        ("api-gateway", "errors.rate_vs_baseline"): "passed",
        ("orders", "latency.p95_vs_baseline"): "failed",
        ("orders", "errors.rate_vs_baseline"): "passed",
    }
    finding = next(
        f for f in after.verdict["services"]["orders"]["findings"] if f["check"] == "latency.p95_vs_baseline"
    )
    assert finding["source"]["baseline"]["kind"] == "baseline-file"


def test_local_runs_the_metric_checks_against_the_demo_for_real(run_suite):
    run = run_suite(REPO / "environments", "--env", "local", "--expected-version", "v2.3.1")

    assert run.ret == 0, run.stdout
    assert metric_outcomes(run) == {(s, c): "passed" for s in ("api-gateway", "orders") for c in METRIC_CHECKS}
