"""The verdict cannot be fooled: every test pytest ran is in it, as the check and service it really was, with
the outcome it really had. Each case failed on the backbone (a PASS, exit 0, while checks failed)."""

from __future__ import annotations

import re

import httpx
import jsonschema
import pytest

from deploycheck.verdict import schema
from tests.conftest import REPO, write_environment

SERVICES = ("api-gateway", "orders")


@pytest.fixture
def environments(start_demo, tmp_path):
    running = start_demo(*SERVICES)
    services = {name: {"url": url} for name, url in running.urls.items()}
    return write_environment(tmp_path / "environments", "staging", services)


@pytest.fixture
def check_file(pytester):
    """A check file of ordinary pytest shape, outside the suite's folders, with the suite's plugins."""
    pytester.makeconftest((REPO / "conftest.py").read_text())

    def write(source: str):
        return pytester.makepyfile(test_team_checks=source)

    return write


def test_a_second_parametrize_invents_no_service(environments, run_suite, check_file, workers):
    checks = check_file(
        """
        import pytest

        @pytest.mark.parametrize("flow", ["login", "create_order"])
        def test_flow_works(target, flow, verify):
            assert not (target.name == "orders" and flow == "create_order"), "create_order answered 500"
        """
    )
    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert run.ret == 1, run.stdout
    assert set(run.verdict["services"]) == set(SERVICES)
    outcomes = [
        (service, finding["outcome"])
        for service, body in run.verdict["services"].items()
        for finding in body["findings"]
    ]
    assert sorted(outcomes) == [
        ("api-gateway", "passed"),
        ("api-gateway", "passed"),
        ("orders", "failed"),
        ("orders", "passed"),
    ]
    assert all(f["service"] == s for s, b in run.verdict["services"].items() for f in b["findings"])
    jsonschema.validate(run.verdict, schema())


def test_a_check_that_broke_after_recording_a_pass_is_not_a_pass(environments, run_suite, check_file, workers):
    checks = check_file(
        """
        from deploycheck.findings import Finding, Outcome

        def test_two_steps(target, verify):
            verify(Finding(Outcome.PASSED, "step one answered 200"))
            raise KeyError("token")
        """
    )
    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert run.ret == 6, run.stdout
    assert run.verdict["verdict"] == "INCONCLUSIVE"
    assert run.not_passed() == {(s, "team_checks.two_steps"): "inconclusive" for s in SERVICES}
    finding = run.verdict["services"]["orders"]["findings"][0]
    assert finding["message"].startswith("step one answered 200; then the check broke: KeyError")


def test_an_assertion_after_recording_fails_the_check(environments, run_suite, check_file):
    checks = check_file(
        """
        from deploycheck.findings import Finding, Outcome

        def test_two_steps(target, verify):
            verify(Finding(Outcome.PASSED, "step one answered 200"))
            assert target.name != "orders", "step two answered 500"
        """
    )
    run = run_suite(environments, "--env", "staging", checks=[checks])

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "team_checks.two_steps"): "failed"}


def test_a_failing_test_without_a_target_decides_the_verdict(environments, run_suite, check_file, workers):
    checks = check_file(
        """
        import pytest

        def test_prometheus_reachable():
            assert False, "Prometheus did not answer"

        @pytest.mark.advisory
        def test_dashboard_exists():
            assert False, "no dashboard"

        def test_no_critical_alert():
            pass
        """
    )
    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert run.ret == 1, run.stdout
    assert run.verdict["verdict"] == "FAIL"
    environment = run.verdict["environment_checks"]
    assert environment["verdict"] == "FAIL"
    by_check = {f["check"]: (f["outcome"], f["severity"], f["service"]) for f in environment["findings"]}
    assert by_check == {
        "team_checks.prometheus_reachable": ("failed", "critical", None),
        "team_checks.dashboard_exists": ("failed", "warning", None),
        "team_checks.no_critical_alert": ("passed", "critical", None),
    }
    assert run.verdict["reasons"][0].startswith("environment: team_checks.prometheus_reachable failed: ")
    assert "Prometheus did not answer" in run.verdict["reasons"][0]
    # No check of these services ran at all: nothing says they are healthy.
    assert {body["verdict"] for body in run.verdict["services"].values()} == {"INCONCLUSIVE"}
    jsonschema.validate(run.verdict, schema())


def test_an_advisory_failure_is_reported_but_does_not_roll_back(environments, run_suite, check_file):
    checks = check_file(
        """
        import pytest

        @pytest.mark.advisory
        def test_dashboard_exists():
            assert False, "no dashboard"
        """
    )
    run = run_suite(environments, "--env", "staging", checks=[checks, REPO / "checks"])

    assert run.ret == 0, run.stdout
    assert run.verdict["environment_checks"]["findings"][0]["outcome"] == "failed"


def test_require_returns_a_configured_section(start_demo, run_suite, check_file, tmp_path):
    running = start_demo("orders")
    services = {"orders": {"url": running.urls["orders"], "kubernetes": {"deployment": "orders"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    checks = check_file(
        """
        def test_rollout(target):
            section = target.require("kubernetes")
            assert section.deployment == "orders"
        """
    )
    run = run_suite(environments, "--env", "staging", checks=[checks])

    assert run.ret == 0, run.stdout
    assert run.outcomes() == {("orders", "team_checks.rollout"): "passed"}


def test_collect_only_runs_nothing_and_writes_nothing(environments, run_suite):
    run = run_suite(environments, "--env", "staging", "--collect-only")

    assert run.ret == 0, run.stdout
    assert run.verdict is None
    assert "VERDICT" not in run.stdout


def test_configured_sections_no_check_judged_are_listed(start_demo, run_suite, tmp_path):
    running = start_demo("orders")
    services = {"orders": {"url": running.urls["orders"], "slo": {"p95_ms": 200}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", "-k", "health")

    assert run.ret == 0, run.stdout
    not_judged = {(item["service"], item["section"]) for item in run.verdict["not_judged"]}
    assert not_judged == {("orders", "version"), ("orders", "slo")}
    assert "not judged: orders: slo" in run.stdout


def test_summary_goes_where_it_is_asked(environments, run_suite, tmp_path):
    summary = tmp_path / "out" / "deploy-summary.md"
    run = run_suite(environments, "--env", "staging", "--summary-file", str(summary))

    assert run.ret == 0, run.stdout
    assert summary.read_text().startswith("## deploycheck: PASS")
    assert not (tmp_path / "summary.md").exists()


def _requests_served(url: str) -> dict[str, int]:
    """route -> requests, from the demo's own counter."""
    counts: dict[str, int] = {}
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        match = re.match(r'http_requests_total\{.*route="([^"]+)".*\} (\d+)', line)
        if match:
            counts[match[1]] = counts.get(match[1], 0) + int(float(match[2]))
    return counts


def test_each_probe_is_requested_once_per_run_under_xdist(start_demo, run_suite, tmp_path):
    running = start_demo(*SERVICES)
    services = {name: {"url": url} for name, url in running.urls.items()}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=2)

    assert run.ret == 0, run.stdout
    for name in SERVICES:
        assert _requests_served(running.urls[name]) == {"/health": 1, "/ready": 1, "/version": 1}


def test_local_demo_is_started_once_under_xdist(run_suite):
    run = run_suite(REPO / "environments", "--env", "local", "--expected-version", "v2.3.1", workers=2)

    assert run.ret == 0, run.stdout
    findings = [f for body in run.verdict["services"].values() for f in body["findings"]]
    urls = {f["source"]["url"].rsplit("/", 1)[0] for f in findings if f["source"].get("kind") == "http"}
    assert len(urls) == len(run.verdict["services"])  # one demo: every check of a service saw the same port


def test_a_severity_for_no_check_of_the_run_is_listed(start_demo, run_suite, tmp_path):
    running = start_demo("orders")
    services = {"orders": {"url": running.urls["orders"], "severity": {"helth": "warning", "version": "warning"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1")

    assert run.ret == 0, run.stdout
    assert {"service": "orders", "section": "severity.helth", "why": "no check of this run has this id or group"} in (
        run.verdict["not_judged"]
    )
    assert not any(item["section"] == "severity.version" for item in run.verdict["not_judged"])
