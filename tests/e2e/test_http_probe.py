"""The HTTP probe against real demo services: many requests at once, each with its own timeout and wait."""

from __future__ import annotations

from deploycheck.probes.http import FetchJob, HttpRequest, fetch, fetch_all


def test_results_come_back_in_order_with_their_evidence(start_demo):
    running = start_demo("a", "b", faults={"b": ["unhealthy"]})
    jobs = [FetchJob(HttpRequest("GET", running.urls[name] + "/health", 5.0)) for name in ("a", "b", "a")]
    results = fetch_all(jobs)

    assert [result.status for result in results] == [200, 503, 200]
    assert results[1].json["status"] == "unhealthy"
    assert all(result.elapsed_ms > 0 and result.attempts == 1 for result in results)


def test_a_slow_answer_times_out_with_a_clear_error(start_demo):
    running = start_demo("a", latency_ms=1000)
    result = fetch(HttpRequest("GET", running.urls["a"] + "/health", 0.2))
    assert result.status is None
    assert result.error == "no answer within 0.2s (ReadTimeout)"


def test_refused_and_invalid_targets_are_results_not_exceptions(start_demo):
    running = start_demo("a", faults={"a": ["down"]})
    refused, invalid = fetch_all(
        [FetchJob(HttpRequest("GET", running.urls["a"] + "/health", 2.0)), FetchJob(HttpRequest("GET", "http://", 2.0))]
    )
    assert refused.status is None and refused.error.startswith("ConnectError")
    assert invalid.status is None and invalid.error


def test_waiting_retries_until_the_condition_and_gives_up_when_the_wait_is_over(start_demo):
    running = start_demo("a", faults={"a": ["not_ready"]})
    request = HttpRequest("GET", running.urls["a"] + "/ready", 2.0)
    result = fetch_all([FetchJob(request, until=lambda r: r.status == 200, wait_s=2.5)])[0]
    assert result.status == 503
    assert 2 <= result.attempts <= 3  # retried once a second, and no retry would start after the wait
