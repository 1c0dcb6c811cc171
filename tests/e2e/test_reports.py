"""Reports people read, end to end: the Allure results a reviewer opens, rendered by the real Allure command line in
a real headless Chromium; JUnit and the Markdown summary for CI; webhooks received by a real local HTTP server; the
verdict as a Prometheus text file. Each against the demo services with one of them serving the wrong version."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, write_environment
from tests.processes import ALLURE, unavailable

pytest_plugins = ["tests.webhook_receiver"]

CHECKS = "health or version"  # the HTTP checks: enough for every report, and fast


def wrong_version_environment(start_demo, directory: Path, **top: Any) -> Path:
    """api-gateway and orders; orders serves the wrong version and its health checks are advisory (warning)."""
    running = start_demo("api-gateway", "orders", faults={"orders": ["wrong_version"]})
    services: dict[str, dict[str, Any]] = {name: {"url": url} for name, url in running.urls.items()}
    services["orders"]["severity"] = {"health": "warning"}
    return write_environment(directory, "staging", services, **top)


# ---------------------------------------------------------------------------------------------------------------
# Allure results, JUnit, summary, text file and webhooks from one failing run


def test_every_report_says_what_failed_and_why(start_demo, run_suite, receiver, tmp_path, workers, monkeypatch):
    reports = tmp_path / "reports"
    hooks = [
        {"url": f"{receiver.url}/ok-slack", "format": "slack"},
        {"url": f"{receiver.url}/ok-json", "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}},
        {"url": f"{receiver.url}/hang", "timeout": "1s"},
        {"url": f"{receiver.url}/fail"},
        {"url": f"{receiver.url}/only-on-pass", "verdicts": ["PASS"]},
    ]
    environments = wrong_version_environment(start_demo, tmp_path / "environments", notifications={"webhooks": hooks})
    monkeypatch.setenv("HOOK_TOKEN", "hook-token-1234")
    monkeypatch.setenv("DEPLOYCHECK_REPORT_URL", "https://ci.example/report/42")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    started = time.monotonic()
    run = run_suite(
        environments,
        "--env", "staging", "--expected-version", "v2.3.1", "-k", CHECKS,
        "--alluredir", str(reports / "allure-results"), "--junitxml", str(reports / "junit.xml"),
        "--summary-file", str(reports / "summary.md"), "--metrics-file", str(reports / "deploycheck.prom"),
        workers=workers,
    )  # fmt: skip
    elapsed = time.monotonic() - started

    assert run.ret == 1, run.stdout
    verdict = run.verdict
    assert verdict is not None and verdict["verdict"] == "FAIL"
    finding = next(f for f in verdict["services"]["orders"]["findings"] if f["check"] == "version.matches_expected")
    message = finding["message"]
    assert finding["outcome"] == "failed" and "expected v2.3.1" in message

    # Allure: a readable title, the finding's message as the status message, severity from the deciding severity,
    # labels for reading, parameters, and the evidence attached.
    results_dir = reports / "allure-results"
    results = [json.loads(path.read_text()) for path in results_dir.glob("*-result.json")]
    failed = [result for result in results if result["status"] == "failed"]
    assert len(failed) == 1
    orders = failed[0]
    assert orders["name"].startswith("orders: version.matches_expected: ") and message[:60] in orders["name"]
    assert orders["statusDetails"]["message"] == message
    assert orders["statusDetails"]["trace"].startswith("deploycheck check version.matches_expected failed")
    labels = {(label["name"], label["value"]) for label in orders["labels"]}
    assert {
        ("parentSuite", "staging"),
        ("suite", "orders"),
        ("subSuite", "version"),
        ("severity", "critical"),
    } <= labels
    assert {"service": "'orders'", "environment": "'staging'"}.items() <= {
        p["name"]: p["value"] for p in orders["parameters"]
    }.items()
    exchange = next(a for a in orders["attachments"] if a["name"] == "HTTP exchange (failed)")
    assert (results_dir / exchange["source"]).read_text().startswith(f"GET {finding['source']['url']}")
    advisory = next(r for r in results if r["name"].startswith("orders: health.liveness"))
    assert ("severity", "minor") in {(label["name"], label["value"]) for label in advisory["labels"]}
    assert not any("CheckFailed" in path.read_text() for path in results_dir.glob("*-result.json"))
    properties = (results_dir / "environment.properties").read_text(encoding="iso-8859-1").splitlines()
    assert properties[0] == "Verdict=FAIL -> rollback"
    assert properties[1].startswith("Reasons=orders: version.matches_expected failed: ")
    assert "Services=api-gateway, orders" in properties
    executor = json.loads((results_dir / "executor.json").read_text())
    assert executor["reportName"] == "deploycheck staging: FAIL -> rollback"
    categories = [category["name"] for category in json.loads((results_dir / "categories.json").read_text())]
    assert "Product failure: wrong version" in categories
    assert "Evidence could not be gathered (inconclusive)" in categories

    # JUnit, parsed: the failure is the finding's message.
    cases = {case.get("name"): case for case in ET.parse(reports / "junit.xml").getroot().iter("testcase")}
    failure = cases["test_matches_expected[staging/orders]"].find("failure")
    assert failure is not None
    assert failure.get("message") == message
    assert "CheckFailed" not in (reports / "junit.xml").read_text()

    # The Markdown summary, also appended to the GitHub job summary.
    summary = (reports / "summary.md").read_text()
    assert "## deploycheck: FAIL -> rollback (staging)" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| orders | version.matches_expected |"))
    observed = finding["observed"]
    assert row.startswith(f"| orders | version.matches_expected | failed | {observed} | v2.3.1 | GET ")
    assert (tmp_path / "step-summary.md").read_text() == summary

    # The Prometheus text file, parsed by the Prometheus client's own parser.
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families((reports / "deploycheck.prom").read_text())
        for sample in family.samples
    }
    assert samples[("deploycheck_verdict", (("environment", "staging"), ("verdict", "FAIL")))] == 1
    assert samples[("deploycheck_verdict", (("environment", "staging"), ("verdict", "PASS")))] == 0
    decided = datetime.fromisoformat(verdict["finished_at"]).timestamp()
    assert samples[("deploycheck_verdict_timestamp_seconds", (("environment", "staging"),))] == decided
    outcome = (
        ("check", "version.matches_expected"), ("environment", "staging"), ("outcome", "failed"),
        ("service", "orders"), ("severity", "critical"),
    )  # fmt: skip
    assert samples[("deploycheck_check_outcome", outcome)] == 1

    # Webhooks: sent on FAIL, each format as asked; one that hangs or fails is reported and changes nothing.
    sent = {record["webhook"]: record for record in verdict["notifications"]}
    assert set(sent) == {"webhooks[0]", "webhooks[1]", "webhooks[2]", "webhooks[3]"}  # not the PASS-only one
    assert sent["webhooks[0]"]["sent"] and sent["webhooks[1]"]["sent"] and sent["webhooks[0]"]["status"] == 200
    assert not sent["webhooks[2]"]["sent"] and sent["webhooks[2]"]["error"].startswith("no answer within 1s")
    assert not sent["webhooks[3]"]["sent"] and sent["webhooks[3]"]["error"].startswith("answered HTTP 500")
    assert "notification NOT sent: webhooks[2] (json): no answer within 1s" in run.stdout
    assert elapsed < 60, "a webhook that hangs is bounded by its timeout"
    (slack,) = receiver.bodies("/ok-slack")
    assert slack["text"].splitlines()[0] == ":x: deploycheck staging: *FAIL* -> rollback"
    assert f"• orders version.matches_expected failed: {message}" in slack["text"]
    assert "report: https://ci.example/report/42" in slack["text"]
    (generic,) = receiver.bodies("/ok-json")
    assert (generic["verdict"], generic["action"], generic["actions"]) == ("FAIL", "rollback", [])
    assert [(f["service"], f["check"], f["message"]) for f in generic["findings"]] == [
        ("orders", "version.matches_expected", message)
    ]
    assert generic["report_url"] == "https://ci.example/report/42"
    authorization = next(item for item in receiver.received if item["path"] == "/ok-json")["headers"]
    assert authorization["Authorization"] == "Bearer hook-token-1234"
    assert "hook-token-1234" not in json.dumps(verdict) + run.stdout


def test_a_pass_is_sent_only_where_asked(start_demo, run_suite, receiver, tmp_path):
    running = start_demo("orders")
    hooks = [{"url": f"{receiver.url}/default"}, {"url": f"{receiver.url}/pass", "verdicts": ["PASS", "FAIL"]}]
    services = {"orders": {"url": running.urls["orders"]}}
    environments = write_environment(tmp_path / "environments", "staging", services, notifications={"webhooks": hooks})
    run = run_suite(environments, "--env", "staging", "-k", CHECKS)

    assert run.ret == 0, run.stdout
    assert [item["path"] for item in receiver.received] == ["/pass"]
    assert receiver.bodies("/pass")[0]["verdict"] == "PASS" and receiver.bodies("/pass")[0]["findings"] == []
    assert run.verdict is not None and run.verdict["notifications"][0]["sent"] is True


# ---------------------------------------------------------------------------------------------------------------
# The HTML report: the real Allure command line, shown in a real browser


def chromium_command() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("no chromium on the PATH (Debian: apt-get install chromium)", "DEPLOYCHECK_REQUIRE_BROWSER")
    return found


def rendered_text(browser: str, url: str) -> str:
    """The page as the browser shows it once its scripts ran, as text; nothing outside loopback is reachable."""
    done = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=10000",
            "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", done.stdout, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", text).replace("&gt;", ">").replace("&lt;", "<").split())


def embedded(report: Path, prefix: str) -> dict[str, Any]:
    """The data files a single-file Allure report embeds (base64), by name."""
    pairs = re.findall(r"d\('([\w/.-]+)','([A-Za-z0-9+/=]*)'\)", (report / "index.html").read_text())
    return {name: json.loads(base64.b64decode(data)) for name, data in pairs if name.startswith(prefix)}


def smoke(reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEPLOYCHECK_NO_VENV": "1", "PYTHON": sys.executable, "DEPLOYCHECK_REPORTS_DIR": str(reports)}
    env.pop("EXPECTED_VERSION", None)
    return subprocess.run(
        [str(REPO / "run_smoke_tests.sh"), *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_the_html_report_shows_the_verdict_and_the_evidence_in_a_browser(start_demo, tmp_path):
    browser = chromium_command()
    if ALLURE is None:
        unavailable("no Allure command line (scripts/install_allure.sh installs it)", "DEPLOYCHECK_REQUIRE_ALLURE")
    environments = wrong_version_environment(start_demo, tmp_path / "environments")
    reports = tmp_path / "reports"
    args = ("staging", "--environments-dir", str(environments), "--expected-version", "v2.3.1", "-k", CHECKS)
    first = smoke(reports, *args, "-n", "2", "--html")
    second = smoke(reports, *args, "-n", "2", "--html")  # carries the first report's history

    report = reports / "allure-report"
    for result in (first, second):
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"html report    {report}/index.html" in result.stdout
        assert f"file://{report}/index.html" in result.stdout
    assert [path.name for path in report.iterdir()] == ["index.html"]  # one file, opens from file://
    assert "googletagmanager" not in (report / "index.html").read_text()  # analytics off by default
    history = json.loads((reports / "allure-results" / "history" / "history.json").read_text())
    assert any(entry["statistic"]["failed"] == 1 for entry in history.values())

    overview = rendered_text(browser, f"file://{report}/index.html")
    assert "deploycheck staging: FAIL -> rollback" in overview
    assert "Verdict FAIL -> rollback" in overview  # the environment panel
    assert "Product failure: wrong version" in overview

    cases = embedded(report, "data/test-cases/")
    case = next(case for case in cases.values() if case["status"] == "failed")
    page = rendered_text(browser, f"file://{report}/index.html#testresult/{case['uid']}")
    verdict = json.loads((reports / "verdict.json").read_text())
    finding = next(f for f in verdict["services"]["orders"]["findings"] if f["check"] == "version.matches_expected")
    assert finding["message"] in page
    assert f"observed: {finding['observed']} limit: v2.3.1" in page
    assert "HTTP exchange (failed)" in page and "Severity: critical" in page
