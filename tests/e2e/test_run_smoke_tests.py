"""The pipeline entry point, `run_smoke_tests.sh`, as a pipeline calls it (with this interpreter, no new venv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import pytest

from deploycheck.verdict import schema
from tests.conftest import REPO
from tests.processes import ALLURE, unavailable


def smoke(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEPLOYCHECK_NO_VENV": "1", "PYTHON": sys.executable, "DEPLOYCHECK_REPORTS_DIR": str(tmp_path)}
    env.pop("EXPECTED_VERSION", None)
    return subprocess.run(
        [str(REPO / "run_smoke_tests.sh"), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_local_runs_every_check_against_the_demo_and_writes_every_report(tmp_path):
    result = smoke(tmp_path, "local")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: PASS -> promote (exit status 0)" in result.stdout
    for name in ("verdict.json", "summary.md", "junit.xml", "allure-results/"):
        assert f"{tmp_path}/{name}" in result.stdout
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    jsonschema.validate(verdict, schema())
    assert verdict["verdict"] == "PASS" and set(verdict["services"]) == {"api-gateway", "orders"}
    # Every check that applies ran and passed: health, version, the metric checks (from the demo's own /metrics)
    # and the flows each service serves; the version expected of the demo is the one it was started with.
    # Skipped: only what `local` does not configure (baseline, Prometheus alerts, databases, the cluster).
    outcomes = {(s, f["check"]): f["outcome"] for s, body in verdict["services"].items() for f in body["findings"]}
    ran = {"health.liveness", "health.readiness", "version.matches_expected", "latency.p95", "errors.rate"}
    ran |= {"resources.cpu", "resources.memory"}
    flows = {"api-gateway": {"login", "create_order", "process_payment", "generate_report"}, "orders": {"create_order"}}
    for service in ("api-gateway", "orders"):
        passed = {check for (s, check), outcome in outcomes.items() if s == service and outcome == "passed"}
        assert passed == ran | {f"flows.{name}" for name in flows[service]}
    unconfigured = ("latency.p95_vs_baseline", "errors.rate_vs_baseline", "alerts.", "database.", "rollout.", "grpc.")
    assert all(check.startswith(unconfigured) for (_, check), outcome in outcomes.items() if outcome != "passed")
    assert verdict["not_judged"] == []
    assert verdict["expected_version"] == "v2.3.1"
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
    assert "| api-gateway | PASS |" in (tmp_path / "summary.md").read_text()


def test_allure_results_carry_each_finding_and_its_target(tmp_path):
    smoke(tmp_path, "local", "orders", "--expected-version", "v0.0.1")

    results = [json.loads(path.read_text()) for path in (tmp_path / "allure-results").glob("*-result.json")]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert len(results) == len(verdict["services"]["orders"]["findings"])  # one result a check
    failed = next(result for result in results if result["status"] == "failed")
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert {("parentSuite", "local"), ("suite", "orders"), ("subSuite", "version")} <= labels
    attachment = next(a for a in failed["attachments"] if a["name"] == "finding (JSON) (failed)")
    finding = json.loads((tmp_path / "allure-results" / attachment["source"]).read_text())
    assert (finding["observed"], finding["limit"], finding["outcome"]) == ("v2.3.1", "v0.0.1", "failed")
    # Its steps: the evidence gathered (the request behind it), then the rule, failed with the finding's message.
    [gathered, judged] = failed["steps"]
    assert gathered["name"].startswith("evidence: GET http://127.0.0.1:") and "/version in " in gathered["name"]
    assert (gathered["status"], judged["status"]) == ("passed", "failed")
    assert judged["name"] == f"failed: {finding['message']}"


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["local", "orders", "--expected-version", "v9.9.9"], 1),  # wrong version: roll back
        (["local", "orders", "--", "-k", "no_such_check"], 6),  # nothing deciding ran: hold
        (["nowhere"], 4),  # unknown environment: usage error
        ([], 4),
    ],
    ids=["fail", "inconclusive", "usage-error", "no-arguments"],
)
def test_exit_status_tells_the_pipeline_what_to_do(tmp_path, args, status):
    result = smoke(tmp_path, *args)
    assert result.returncode == status, result.stdout + result.stderr


def test_help_describes_the_usage(tmp_path):
    result = smoke(tmp_path, "--help")
    assert result.returncode == 0
    assert "./run_smoke_tests.sh ENV [SERVICE...] [OPTIONS...] [-- PYTEST_ARGS...]" in result.stdout


def test_the_real_allure_tool_reads_the_results(tmp_path):
    allure = ALLURE
    if allure is None:
        unavailable("Allure command line not installed: run scripts/install_allure.sh", "DEPLOYCHECK_REQUIRE_ALLURE")
    smoke(tmp_path, "local", "orders", "--expected-version", "v0.0.1")
    report = tmp_path / "allure-report"
    generated = subprocess.run(
        [allure, "generate", str(tmp_path / "allure-results"), "-o", str(report), "--clean"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr

    statistic = json.loads((report / "widgets" / "summary.json").read_text())["statistic"]
    counts = json.loads((tmp_path / "verdict.json").read_text())["counts"]
    assert (statistic["total"], statistic["passed"], statistic["failed"], statistic["skipped"]) == (
        sum(counts.values()),
        counts["passed"],
        counts["failed"],
        counts["skipped"],
    )
    assert counts["failed"] == 1  # the version
    cases = [json.loads(path.read_text()) for path in (report / "data" / "test-cases").glob("*.json")]
    failed = next(case for case in cases if case["status"] == "failed")
    assert "serves version v2.3.1, expected v0.0.1" in failed["statusMessage"]
