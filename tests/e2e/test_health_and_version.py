"""The suite end to end against real demo services on loopback: each fault mode is caught by the check that
should catch it, and by no other; every case also runs under pytest-xdist (-n 2)."""

from __future__ import annotations

import threading
import time

import httpx
import jsonschema
import pytest

from deploycheck.verdict import schema
from tests.conftest import REPO, write_environment

ALL_CHECKS = ("health.liveness", "health.readiness", "version.matches_expected")


@pytest.fixture
def two_services(start_demo, tmp_path):
    """Start api-gateway and orders, with `orders` in the given fault modes; return the environments dir."""

    def start(*modes: str):
        running = start_demo("api-gateway", "orders", faults={"orders": list(modes)})
        services = {name: {"url": url} for name, url in running.urls.items()}
        return write_environment(tmp_path / "environments", "staging", services), running

    return start


def test_healthy_services_pass_and_promote(two_services, run_suite, workers):
    environments, _ = two_services()
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 0, run.stdout
    assert run.verdict["verdict"] == "PASS" and run.verdict["action"] == "promote"
    judged = {key for key, outcome in run.outcomes().items() if outcome != "skipped"}
    assert judged == {(s, c) for s in ("api-gateway", "orders") for c in ALL_CHECKS}
    assert run.not_passed() == {}
    jsonschema.validate(run.verdict, schema())
    assert "VERDICT: PASS -> promote (exit status 0)" in run.stdout


@pytest.mark.parametrize(
    ("mode", "caught_by"),
    [
        ("wrong_version", {"version.matches_expected"}),
        ("unhealthy", {"health.liveness"}),
        ("not_ready", {"health.readiness"}),
        ("down", set(ALL_CHECKS)),  # an unreachable target fails every check that needs it
    ],
)
def test_fault_is_caught_by_its_check_only(two_services, run_suite, workers, mode, caught_by):
    environments, _ = two_services(mode)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.verdict["verdict"] == "FAIL" and run.verdict["action"] == "rollback"
    assert run.not_passed() == {("orders", check): "failed" for check in caught_by}
    assert run.verdict["services"]["api-gateway"]["verdict"] == "PASS"
    assert run.verdict["services"]["orders"]["verdict"] == "FAIL"
    jsonschema.validate(run.verdict, schema())


def test_failure_carries_its_evidence(two_services, run_suite):
    environments, running = two_services("wrong_version")
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1")

    finding = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "version.matches_expected")
    assert finding["observed"] == "v0.0.0-wrong"
    assert finding["limit"] == "v2.3.1"
    assert finding["source"] == {
        "kind": "http",
        "method": "GET",
        "url": running.urls["orders"] + "/version",
        "timeout_s": 3.0,
        "headers": [],
        "attempts": 1,
    }
    assert finding["duration_ms"] >= 0 and finding["samples"] == 1
    assert "serves version v0.0.0-wrong, expected v2.3.1" in finding["message"]
    assert run.verdict["reasons"] == ["orders: version.matches_expected failed: " + finding["message"]]


@pytest.mark.parametrize("mode", ["slow", "errors", "crash_flow"])
def test_faults_outside_health_and_version_raise_no_false_alarm(two_services, run_suite, mode):
    """These faults are for the latency, error-rate and flow checks; health and version must still pass."""
    environments, _ = two_services(mode)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1")
    assert (run.ret, run.not_passed()) == (0, {}), run.stdout


def test_version_check_skips_without_an_expected_version(two_services, run_suite, workers, monkeypatch):
    monkeypatch.delenv("EXPECTED_VERSION", raising=False)
    environments, _ = two_services()
    run = run_suite(environments, "--env", "staging", workers=workers)

    assert run.ret == 0, run.stdout
    skipped = {key for key, outcome in run.outcomes().items() if outcome == "skipped" and key[1] in ALL_CHECKS}
    assert skipped == {("api-gateway", "version.matches_expected"), ("orders", "version.matches_expected")}
    finding = run.verdict["services"]["orders"]["findings"]
    assert any("pass --expected-version or set EXPECTED_VERSION" in f["message"] for f in finding)


def test_expected_version_from_the_environment(two_services, run_suite, monkeypatch):
    monkeypatch.setenv("EXPECTED_VERSION", "v9.9.9")
    environments, _ = two_services()
    run = run_suite(environments, "--env", "staging")
    assert run.ret == 1
    assert run.verdict["expected_version"] == "v9.9.9"
    assert set(run.not_passed()) == {
        ("api-gateway", "version.matches_expected"),
        ("orders", "version.matches_expected"),
    }


def test_unconfigured_check_is_skipped_and_nothing_deciding_is_inconclusive(start_demo, run_suite, tmp_path, workers):
    running = start_demo("orders")
    environments = tmp_path / "environments"
    environments.mkdir()
    # No endpoint configured at all: every check is skipped, so nothing decided.
    (environments / "dev.yaml").write_text(
        f"environment: dev\nservices:\n  orders:\n    url: {running.urls['orders']}\n"
    )
    run = run_suite(environments, "--env", "dev", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 6, run.stdout
    assert run.verdict["verdict"] == "INCONCLUSIVE" and run.verdict["action"] == "hold"
    assert set(run.outcomes().values()) == {"skipped"}
    assert run.verdict["reasons"] == ["orders: no deciding check ran"]
    jsonschema.validate(run.verdict, schema())
    # Known from the configuration alone: not run at all (deselected, under xdist too), listed with the section.
    findings = run.verdict["services"]["orders"]["findings"]
    assert {finding["source"]["kind"] for finding in findings} == {"configuration"}
    health = next(finding for finding in findings if finding["check"] == "health.liveness")
    assert health["source"]["missing"] == "health"
    assert health["message"] == "dev/orders: no `health` configured for this service"
    summary = run.stdout.strip().splitlines()[-1]
    assert "skipped" not in summary, summary
    if not workers:  # xdist's controller does not count what its workers deselected
        assert f"{len(findings)} deselected" in summary, summary
    assert "not run (no `health` configured, 1 service): health.liveness" in run.stdout


def test_a_broken_check_is_inconclusive_never_a_pass(two_services, run_suite, pytester, workers):
    environments, _ = two_services()
    pytester.makeconftest((REPO / "conftest.py").read_text())  # the suite's plugins, for a check file outside it
    broken = pytester.makepyfile(
        test_broken_check="""
        def test_counts_things(target, verify):
            raise RuntimeError("the check's own machinery broke")
    """
    )
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers, checks=[broken])

    assert run.ret == 6, run.stdout
    assert run.verdict["verdict"] == "INCONCLUSIVE"
    assert run.not_passed() == {(s, "broken_check.counts_things"): "inconclusive" for s in ("api-gateway", "orders")}
    assert any("RuntimeError: the check's own machinery broke" in r for r in run.verdict["reasons"])


def test_missing_evidence_is_inconclusive_and_reads_so(two_services, run_suite, pytester, workers):
    environments, _ = two_services()
    pytester.makeconftest((REPO / "conftest.py").read_text())
    thin = pytester.makepyfile(
        test_thin_evidence="""
        from deploycheck.findings import Finding, Outcome

        def test_error_rate(target, verify):
            verify(Finding(Outcome.INCONCLUSIVE, "only 3 requests in the window, fewer than min_requests 100",
                           samples=3, limit=100))
    """
    )
    run = run_suite(environments, "--env", "staging", workers=workers, checks=[thin])

    assert run.ret == 6, run.stdout
    assert run.not_passed() == {(s, "thin_evidence.error_rate"): "inconclusive" for s in ("api-gateway", "orders")}
    assert "2 inconclusive" in run.stdout
    finding = run.verdict["services"]["orders"]["findings"][0]
    assert (finding["samples"], finding["limit"]) == (3, 100)


def test_wait_ready_gives_a_starting_service_time(two_services, run_suite):
    environments, running = two_services("not_ready")

    def become_ready():
        # Ready only once the suite has seen "not ready" at least once (the demo counts its 503s on /ready).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            metrics = httpx.get(running.urls["orders"] + "/metrics", timeout=5).text
            if any('route="/ready"' in line and 'status="503"' in line for line in metrics.splitlines()):
                break
            time.sleep(0.05)
        httpx.post(f"{running.admin_url}/faults/orders", json={"modes": []}, timeout=5).raise_for_status()

    threading.Thread(target=become_ready, daemon=True).start()
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", "--wait-ready", "20s")

    assert run.ret == 0, run.stdout
    readiness = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "health.readiness")
    assert readiness["source"]["attempts"] >= 2


def test_wait_ready_is_bounded(two_services, run_suite):
    environments, _ = two_services("not_ready")
    started = time.monotonic()
    run = run_suite(environments, "--env", "staging", "--wait-ready", "2s")
    assert run.ret == 1
    assert run.not_passed() == {("orders", "health.readiness"): "failed"}
    assert run.outcomes()[("orders", "version.matches_expected")] == "skipped"
    assert time.monotonic() - started < 30


def test_only_selected_services_are_checked(two_services, run_suite, workers):
    environments, _ = two_services("unhealthy")
    run = run_suite(
        environments,
        "--env",
        "staging",
        "--service",
        "api-gateway",
        "--expected-version",
        "v2.3.1",
        workers=workers,
    )
    assert run.ret == 0, run.stdout
    assert set(run.verdict["services"]) == {"api-gateway"}
    tests = {finding["test"] for finding in run.verdict["services"]["api-gateway"]["findings"]}
    assert tests and all(test.endswith("[staging/api-gateway]") for test in tests)


def test_passwords_in_urls_never_reach_the_output(start_demo, run_suite, tmp_path):
    running = start_demo("orders", faults={"orders": ["down"]})
    url = running.urls["orders"].replace("http://", "http://deployer:hunter2-secret@")
    environments = write_environment(tmp_path / "environments", "staging", {"orders": {"url": url}})
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1")

    assert run.ret == 1
    assert "hunter2-secret" not in run.stdout
    assert "hunter2-secret" not in str(run.verdict)
    assert "deployer:***@" in str(run.verdict)


def test_local_environment_starts_the_demo_itself(run_suite, workers):
    run = run_suite(REPO / "environments", "--env", "local", "--expected-version", "v2.3.1", workers=workers)
    assert run.ret == 0, run.stdout
    assert set(run.verdict["services"]) == {"api-gateway", "orders"}
    assert run.not_passed() == {}


def test_demo_that_cannot_start_is_inconclusive(run_suite, tmp_path, workers, monkeypatch):
    environments = tmp_path / "environments"
    environments.mkdir()
    (environments / "local.yaml").write_text(
        "environment: local\ndemo: {}\ndefaults: {health: {path: /health}}\nservices:\n  orders: {}\n"
    )
    # A demo that exits at once with its reason (as one whose port is taken does): no evidence can be gathered.
    broken = tmp_path / "broken" / "deploycheck_demo"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    (broken / "__main__.py").write_text("import sys\nsys.exit('cannot bind 127.0.0.1:8080: no_such_mode')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    run = run_suite(environments, "--env", "local", workers=workers)

    assert run.ret == 6, run.stdout
    assert run.not_passed() == {("orders", "health.liveness"): "inconclusive"}
    assert run.outcomes()[("orders", "health.readiness")] == "skipped"  # not configured: known without the demo
    assert "the demo services did not start: " in run.verdict["reasons"][0]
    assert "no_such_mode" in run.verdict["reasons"][0]
