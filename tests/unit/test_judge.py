from __future__ import annotations

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Outcome
from deploycheck.kinds.http import rules as judge
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint
from deploycheck.kinds.http.session import HttpRequest, HttpResponse

SOURCE = HttpRequest("GET", "http://svc/health", 5.0).describe()
HEALTHY = Endpoint("/health", 200, {"status": "healthy"})


def answer(status, body, text=None, truncated=False):
    text = text if text is not None else str(body)
    response = HttpResponse(status, text, body, {}, truncated=truncated, size=len(text))
    return Evidence(SOURCE, response, elapsed_ms=3.0)


def test_healthy_answer_passes_with_its_evidence():
    finding = judge.endpoint(answer(200, {"status": "healthy", "uptime": 5}), HEALTHY)
    assert finding.outcome is Outcome.PASSED
    assert finding.observed == {"status": 200, "body": {"status": "healthy"}}
    assert finding.limit == {"status": 200, "body": {"status": "healthy"}}
    assert finding.source["url"] == "http://svc/health" and finding.duration_ms == 3.0


def test_wrong_status_wrong_body_and_no_answer_fail():
    assert judge.endpoint(answer(503, {"status": "unhealthy"}), HEALTHY).outcome is Outcome.FAILED
    wrong_body = judge.endpoint(answer(200, {"status": "degraded"}), HEALTHY)
    assert wrong_body.outcome is Outcome.FAILED and "status='degraded' (expected 'healthy')" in wrong_body.message
    not_json = judge.endpoint(answer(200, None, text="<html>ok</html>"), HEALTHY)
    assert not_json.outcome is Outcome.FAILED and "not with a JSON object" in not_json.message
    unreachable = judge.endpoint(Evidence(SOURCE, error="connection refused"), HEALTHY)
    assert unreachable.outcome is Outcome.FAILED and "no answer: connection refused" in unreachable.message


def test_status_only_endpoint_ignores_the_body():
    assert judge.endpoint(answer(200, None, text="OK"), Endpoint("/ready")).outcome is Outcome.PASSED


def test_version_matches_with_or_without_a_leading_v():
    spec = VersionEndpoint("/version", "build.version")
    served = answer(200, {"build": {"version": "2.3.1"}})
    assert judge.version(served, spec, "v2.3.1").outcome is Outcome.PASSED
    wrong = judge.version(answer(200, {"build": {"version": "2.3.0"}}), spec, "v2.3.1")
    assert (wrong.outcome, wrong.observed, wrong.limit) == (Outcome.FAILED, "2.3.0", "v2.3.1")
    missing = judge.version(answer(200, {"version": "2.3.1"}), spec, "v2.3.1")
    assert missing.outcome is Outcome.FAILED and "no field 'build.version'" in missing.message


def test_a_capped_body_is_judged_as_what_it_is():
    huge = answer(200, None, text="x" * 100, truncated=True)
    for finding in (judge.endpoint(huge, Endpoint("/ready")), judge.version(huge, VersionEndpoint("/v"), "v1")):
        assert finding.outcome is Outcome.FAILED and "over the 1.0 MiB a probe reads" in finding.message


def test_a_huge_version_string_is_cut_in_the_message_and_the_observed_value():
    served = "9" * 100_000
    finding = judge.version(answer(200, {"version": served}), VersionEndpoint("/version"), "v2.3.1")
    assert finding.outcome is Outcome.FAILED
    assert len(finding.message) < 300 and "100,000 characters in all" in finding.message
    assert len(finding.observed) <= judge.OBSERVED_CHARS


def test_an_html_error_page_becomes_its_title_in_the_message():
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "<p>x</p>" * 5000 + "</body></html>"
    finding = judge.endpoint(answer(502, None, text=page), HEALTHY)
    assert finding.message.endswith("answered 502, expected 200; body: 502 Bad Gateway")


def test_a_timeout_says_no_answer_once():
    finding = judge.endpoint(Evidence(SOURCE, error="no answer within 3s (waiting for the response headers)"), HEALTHY)
    assert finding.message == "GET http://svc/health: no answer within 3s (waiting for the response headers)"
