"""What the reports say, from a verdict document: Allure's run files, the evidence attachments, the summary, the
webhook bodies and the Prometheus text file (parsed by the Prometheus client's own parser)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploycheck.findings import Finding, Outcome
from deploycheck.reports import allure_files, evidence, notifications, summary, textfile
from deploycheck.verdict import RunReport, schema

HTTP = {"kind": "http", "method": "GET", "url": "http://orders:8080/version", "timeout_s": 5.0, "headers": ["X-Key"]}
PROM = {
    "kind": "prometheus",
    "queries": {"p95": {"kind": "prometheus", "url": "http://prom:9090", "query": "histogram_quantile(0.95, x)"}},
}


def document() -> dict:
    findings = {
        "orders": [
            Finding(Outcome.FAILED, "serves v9, expected v2.3.1", "v9", "v2.3.1", source=HTTP, check="version.x"),
            Finding(Outcome.INCONCLUSIVE, "no series | none", unit="ms", limit=200, source=PROM, check="latency.p95"),
            Finding(Outcome.PASSED, "ok", check="health.liveness", severity="warning"),
        ],
        "api": [Finding(Outcome.PASSED, "ok", check="health.liveness")],
    }
    for service, found in findings.items():
        findings[service] = [finding.but(service=service) for finding in found]
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    return RunReport("production", "v2.3.1", start, start.replace(minute=1), findings).to_json()


def test_the_environment_panel_opens_on_the_verdict_and_escapes_properties():
    facts = {"Services": "orders, api", "Git revision": "abc123", "Deploy time": None}
    properties = allure_files.environment_properties(document(), facts).splitlines()

    assert properties[0] == "Verdict=FAIL -> rollback"
    assert properties[1] == "Reasons=orders: version.x failed: serves v9, expected v2.3.1"  # what decided
    assert "Git\\ revision=abc123" in properties and "Deploy\\ time=not known" in properties
    assert allure_files.environment_properties({**document(), "reasons": ["a → b"]}, {}).count("\\u2192") == 1


@pytest.mark.parametrize(
    ("variables", "name", "build_url"),
    [
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "77", "GITHUB_SHA": "f00"},
            "GitHub Actions",
            "https://github.com/acme/shop/actions/runs/77",
        ),
        (
            {"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab/acme/-/jobs/5"},
            "GitLab CI",
            "https://gitlab/acme/-/jobs/5",
        ),
        (
            {"JENKINS_URL": "https://ci/", "BUILD_URL": "https://ci/job/deploy/9/"},
            "Jenkins",
            "https://ci/job/deploy/9/",
        ),
        ({}, "deploycheck (local run)", None),
    ],
)
def test_the_executor_comes_from_the_ci_variables(variables, name, build_url):
    executor = allure_files.executor(document(), variables)

    assert (executor["name"], executor.get("buildUrl")) == (name, build_url)
    assert executor["reportName"] == "deploycheck production: FAIL -> rollback"


def test_categories_tell_product_failures_from_missing_evidence():
    def category(check: str, outcome: str, status: str) -> list[str]:
        trace = allure_files.trace_header(check, outcome) + "\nobserved: ..."
        return [
            c["name"]
            for c in allure_files.CATEGORIES
            if status in c["matchedStatuses"] and re.fullmatch(c.get("traceRegex", "(?s).*"), trace)
        ]

    assert category("latency.p95", "failed", "failed")[0] == "Product failure: SLO broken"
    assert category("version.matches_expected", "failed", "failed")[0] == "Product failure: wrong version"
    assert category("flows.login", "failed", "failed")[0] == "Product failure: flow broken"
    assert category("latency.p95", "inconclusive", "broken")[0] == "Evidence could not be gathered (inconclusive)"


def test_history_is_carried_from_a_folder_or_a_single_file_report(tmp_path):
    folder = tmp_path / "folder-report" / "history"
    folder.mkdir(parents=True)
    (folder / "history.json").write_text('{"a": 1}')
    assert allure_files.carry_history(tmp_path / "folder-report", tmp_path / "r1") == ["history.json"]
    assert (tmp_path / "r1" / "history" / "history.json").read_text() == '{"a": 1}'

    single = tmp_path / "single-report"
    single.mkdir()
    data = base64.b64encode(b'{"b": 2}').decode()
    (single / "index.html").write_text(f"<script>d('history/history-trend.json','{data}')</script>")
    assert allure_files.carry_history(single, tmp_path / "r2") == ["history-trend.json"]
    assert json.loads((tmp_path / "r2" / "history" / "history-trend.json").read_text()) == {"b": 2}
    assert allure_files.carry_history(tmp_path / "none", tmp_path / "r3") == []


def test_each_evidence_kind_has_its_page_and_an_unknown_kind_its_json():
    http = evidence.attachments({"check": "version.x", "outcome": "failed", "observed": "v9", "source": HTTP})
    assert [a.name for a in http] == ["judgement", "HTTP exchange", "finding (JSON)"]
    assert http[1].body.splitlines()[:2] == ["GET http://orders:8080/version", "X-Key: ***"]
    prom = evidence.attachments({"check": "latency.p95", "observed": 182, "unit": "ms", "source": PROM})
    assert "histogram_quantile(0.95, x)" in prom[1].body and "result: 182 ms" in prom[1].body
    other = evidence.attachments({"check": "rollout.ready", "source": {"kind": "kubernetes", "object": "d/orders"}})
    assert (other[1].name, json.loads(other[1].body)["object"]) == ("kubernetes evidence", "d/orders")


def test_the_summary_lists_what_did_not_pass_with_observed_limit_and_source():
    text = summary.render(document())

    assert (
        "| orders | version.x | failed | v9 | v2.3.1 | GET http://orders:8080/version | serves v9, expected v2.3.1 |"
        in (text)
    )
    assert "| orders | latency.p95 | inconclusive | (none) | 200 ms | PromQL: histogram_quantile(0.95, x) |" in text
    assert "no series \\| none" in text  # a pipe in a message does not break the table
    assert "health.liveness" not in text.split("### Failed")[1]


def test_webhook_bodies_carry_the_verdict_the_findings_and_the_link():
    doc = document()
    body = notifications.json_body(doc, "https://ci/report")
    assert (body["verdict"], body["report_url"]) == ("FAIL", "https://ci/report")
    assert [(f["service"], f["check"]) for f in body["findings"]] == [
        ("orders", "version.x"),
        ("orders", "latency.p95"),
    ]
    text = notifications.slack_body(doc, None)["text"].splitlines()
    assert text[0] == ":x: deploycheck production: *FAIL* -> rollback" and len(text) == 3
    assert notifications.wanted(("FAIL", "INCONCLUSIVE"), doc) and not notifications.wanted(("PASS",), doc)


def test_the_text_file_parses_as_prometheus_metrics():
    doc = document()
    families = {family.name: family for family in text_string_to_metric_families(textfile.render(doc))}

    verdicts = {sample.labels["verdict"]: sample.value for sample in families["deploycheck_verdict"].samples}
    assert verdicts == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 0}
    (stamp,) = families["deploycheck_verdict_timestamp_seconds"].samples
    assert stamp.value == datetime(2026, 11, 27, 12, 1, tzinfo=UTC).timestamp()
    outcomes = {
        (s.labels["service"], s.labels["check"], s.labels["outcome"]): s.value
        for s in families["deploycheck_check_outcome"].samples
    }
    assert (
        outcomes[("orders", "latency.p95", "inconclusive")] == 1 and outcomes[("orders", "latency.p95", "passed")] == 0
    )
    assert sum(outcomes.values()) == 4  # one outcome per check


def test_notifications_in_the_verdict_file_match_the_schema():
    doc = {**document(), "notifications": [{"webhook": "webhooks[0]", "format": "slack", "sent": False, "error": "x"}]}
    jsonschema.validate(doc, schema())
