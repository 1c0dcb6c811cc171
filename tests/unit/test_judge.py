from __future__ import annotations

from deploycheck import judge
from deploycheck.config import Endpoint, VersionEndpoint
from deploycheck.findings import Outcome
from deploycheck.probes.http import HttpRequest, HttpResult

REQUEST = HttpRequest("GET", "http://svc/health", 5.0)
HEALTHY = Endpoint("/health", 200, {"status": "healthy"})


def answer(status, body, text=None):
    return HttpResult(REQUEST, status, body=text if text is not None else str(body), json=body, elapsed_ms=3.0)


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
    unreachable = judge.endpoint(HttpResult(REQUEST, None, error="ConnectError: refused"), HEALTHY)
    assert unreachable.outcome is Outcome.FAILED and "no answer: ConnectError: refused" in unreachable.message


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
