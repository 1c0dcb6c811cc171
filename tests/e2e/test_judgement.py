"""Judgement with confidence, end to end (docs/judgement.md): the suite scrapes counters whose values the test
sets, or replays a real Prometheus's backfilled history, and the verdict follows what the counts can show."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import write_environment
from tests.prometheus_server import traffic_history

pytest_plugins = ["tests.prometheus_server"]

BOUNDS = (0.05, 0.1, 0.2, 0.5, 1.0)


def exposition(requests: int = 0, errors: int = 0, slower: dict[float, int] | None = None) -> str:
    """A service's /metrics after `requests` requests, `errors` of them 500s, `slower[le]` of them slower than
    `le` (an edge not given: as many as the next edge given above it, or none)."""
    slower = slower or {}

    def slow_at(edge: float) -> int:
        return next((slower[given] for given in sorted(slower) if given >= edge), 0)

    lines = [
        "# TYPE http_requests_total counter",
        f'http_requests_total{{status="200"}} {requests - errors}',
        f'http_requests_total{{status="500"}} {errors}',
        "# TYPE http_request_duration_seconds histogram",
        *(f'http_request_duration_seconds_bucket{{le="{edge}"}} {requests - slow_at(edge)}' for edge in BOUNDS),
        f'http_request_duration_seconds_bucket{{le="+Inf"}} {requests}',
        f"http_request_duration_seconds_sum {requests * 0.01}",
        f"http_request_duration_seconds_count {requests}",
    ]
    return "\n".join(lines) + "\n"


class CountersServer:
    """Serves /<service>/metrics: zero counters on the first scrape, the service's counts on every later one."""

    def __init__(self, counts: dict[str, str]) -> None:
        self.counts = counts
        self.scraped: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/").split("/")[0]
                if name not in server.counts:
                    self.send_error(404)
                    return
                body = server.counts[name] if name in server.scraped else exposition()
                server.scraped.add(name)
                payload = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counters() -> Iterator[type[CountersServer]]:
    started: list[CountersServer] = []

    def start(counts: dict[str, str]) -> CountersServer:
        server = CountersServer(counts)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()


def scraped_environment(tmp_path, server: CountersServer, **top):
    services = {
        name: {
            "url": server.url,
            "metrics": {"source": "scrape", "path": f"/{name}/metrics", "scrape_interval": "0.2s"},
        }
        for name in server.counts
    }
    return write_environment(tmp_path / "environments", "staging", services, **top)


def findings_of(run, check: str) -> dict[str, dict]:
    return {
        service: next(f for f in body["findings"] if f["check"] == check)
        for service, body in run.verdict["services"].items()
    }


def test_the_verdict_follows_what_the_counts_can_show(counters, run_suite, tmp_path):
    server = counters(
        {
            "clean-120": exposition(120),
            "clean-400": exposition(400),
            "three-in-100": exposition(100, errors=3),
            "one-in-20": exposition(20, errors=1),
        }
    )
    run = run_suite(scraped_environment(tmp_path, server), "--env", "staging", "-k", "test_errors and test_rate")

    assert run.ret == 1, run.stdout
    found = findings_of(run, "errors.rate")
    assert {service: finding["outcome"] for service, finding in found.items()} == {
        "clean-120": "inconclusive",
        "clean-400": "passed",
        "three-in-100": "failed",
        "one-in-20": "inconclusive",
    }
    assert "0 errors in 120 requests over" in found["clean-120"]["message"]
    assert found["clean-120"]["message"].endswith("cannot show ≤ 1 % yet (needs ≈ 300)")
    assert found["clean-120"]["statistics"]["needed"] == 299
    assert found["three-in-100"]["statistics"]["rule"] == "lower bound over the limit"
    statistics = found["clean-400"]["statistics"]
    assert (statistics["bad"], statistics["requests"], statistics["confidence"]) == (0, 400, 0.95)
    assert statistics["interval"][1] < 0.01
    assert "needs ≈ 300" in run.stdout  # the terminal says it in one line too


def test_a_p95_decided_by_the_count_of_slow_requests(counters, run_suite, tmp_path):
    server = counters(
        {
            # 8 % slower than 200 ms, shown at 95 %: a breach whatever the interpolated P95 says
            "slow-tail": exposition(2000, slower={0.2: 160, 0.5: 0}),
            # 3 % slower than 200 ms in 2,000 requests: shown under 5 %
            "fast": exposition(2000, slower={0.2: 60, 0.5: 0}),
            # 6 % slower in 100: over 5 % as seen, but not shown either way
            "thin": exposition(100, slower={0.2: 6, 0.5: 0}),
        }
    )
    run = run_suite(scraped_environment(tmp_path, server), "--env", "staging", "-k", "test_latency and test_p95")

    found = findings_of(run, "latency.p95")
    assert {service: finding["outcome"] for service, finding in found.items()} == {
        "slow-tail": "failed",
        "fast": "passed",
        "thin": "inconclusive",
    }, run.stdout
    assert "160 of 2,000 requests slower than 200 ms" in found["slow-tail"]["message"]
    assert found["fast"]["statistics"]["counted"] == "bucket edge"


def test_a_thin_baseline_never_passes(counters, run_suite, tmp_path):
    # Kayenta's thin-data case: 7 of 10 requests 100x slower than the baseline's 10.
    before = counters({"api": exposition(10, slower={0.05: 0})})
    environments = scraped_environment(tmp_path, before, defaults={"timeout": "3s", "baseline": {}})
    recorded = tmp_path / "baseline.json"
    record = run_suite(environments, "--env", "staging", "-k", "test_rate and not baseline", "--record-baseline",
                       "--baseline", str(recorded))  # fmt: skip
    assert recorded.exists(), record.stdout

    after = counters({"api": exposition(10, slower={0.5: 7, 1.0: 0})})
    environments = scraped_environment(tmp_path, after, defaults={"timeout": "3s", "baseline": {}})
    run = run_suite(environments, "--env", "staging", "--baseline", str(recorded), "-k", "vs_baseline")

    assert run.ret == 6, run.stdout
    assert run.not_passed() == {
        ("api", "latency.p95_vs_baseline"): "inconclusive",
        ("api", "errors.rate_vs_baseline"): "inconclusive",
    }
    assert "baseline: only 10 requests" in findings_of(run, "latency.p95_vs_baseline")["api"]["message"]


def test_shadow_judges_and_records_but_never_changes_the_exit_status(counters, run_suite, tmp_path):
    server = counters({"api": exposition(100, errors=3), "web": exposition(400)})
    environments = scraped_environment(tmp_path, server)
    run = run_suite(environments, "--env", "staging", "-k", "test_rate and not baseline", "--shadow")

    assert run.ret == 0, run.stdout
    shadow = run.verdict["shadow"]
    assert (shadow["verdict"], shadow["action"], shadow["exit_status"]) == ("FAIL", "rollback", 1)
    assert {(c["service"], c["would_have"]) for c in shadow["checks"]} == {("api", "failed"), ("web", "passed")}
    assert run.verdict["exit_status"] == 0
    assert "SHADOW: the checks on trial would have made it FAIL -> rollback" in run.stdout


def test_one_check_on_trial_leaves_the_others_deciding(counters, run_suite, tmp_path):
    server = counters({"api": exposition(100, errors=3, slower={0.5: 20, 1.0: 0})})
    services = {
        "api": {
            "url": server.url,
            "metrics": {"path": "/api/metrics", "scrape_interval": "0.2s"},
            "severity": {"errors.rate": "shadow"},
        }
    }
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-k", "test_rate or test_p95")

    assert run.ret == 1, run.stdout  # latency.p95 still decides: 20 % slower than 200 ms
    assert run.verdict["reasons"] == [r for r in run.verdict["reasons"] if "latency.p95" in r]
    [trial] = run.verdict["shadow"]["checks"]
    assert (trial["service"], trial["check"], trial["would_have"]) == ("api", "errors.rate", "failed")
    assert trial["message"].startswith("error rate 3 %: 3 errors in 100 requests")


def test_at_replays_the_verdict_of_a_past_fault_window(backfilled_prometheus, run_suite, tmp_path):
    now = time.time()
    fault_began, fault_ended = now - 50 * 60, now - 30 * 60
    # 40 requests every 15 s, 10 of them failing during the fault; the history stops when the fault ended.
    history = traffic_history(
        "orders", fault_began, now - 70 * 60, fault_ended, errors_per_step=(0, 10), requests_per_step=40
    )
    prometheus = backfilled_prometheus(history)
    services = {"orders": {"url": "http://127.0.0.1:9", "metrics": {"window": "10m"}}}
    environments = write_environment(
        tmp_path / "environments", "staging", services, prometheus={"url": prometheus.url, "timeout": "5s"}
    )
    during = run_suite(environments, "--env", "staging", "--at", str(int(fault_ended - 120)))

    assert during.ret == 1, during.stdout
    assert during.not_passed()[("orders", "errors.rate")] == "failed"
    health = next(f for f in during.verdict["services"]["orders"]["findings"] if f["check"] == "health.liveness")
    assert health["outcome"] == "skipped" and "--at judges the metric checks only" in health["message"]
    errors = findings_of(during, "errors.rate")["orders"]
    assert errors["statistics"]["requests"] > 1000

    before = run_suite(environments, "--env", "staging", "--at", str(int(fault_began - 120)), "-k", "test_rate")
    assert before.ret == 0, before.stdout  # the same rules, before the fault: a pass


def test_probe_traffic_gathers_what_thin_traffic_lacks_unless_forbidden(start_demo, run_suite, tmp_path):
    running = start_demo("orders")  # no traffic of its own
    metrics = {"scrape_interval": "1s", "sample_path": "/v1/items"}
    services = {"orders": {"url": running.urls["orders"], "metrics": metrics}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-k", "test_rate or test_p95", "--probe-traffic", "320")

    assert run.ret == 0, run.stdout
    finding = findings_of(run, "errors.rate")["orders"]
    assert finding["source"]["synthetic"]["sent"] >= 299 and "sent by the suite" in finding["message"]

    forbidden = write_environment(tmp_path / "forbidden", "staging", services, allow_probe_traffic=False)
    refused = run_suite(forbidden, "--env", "staging", "-k", "test_rate", "--probe-traffic", "320")
    assert refused.ret == 4, refused.stdout
    assert "forbids requests of the suite's own" in refused.stdout

    configured = {"orders": {"url": running.urls["orders"], "metrics": {**metrics, "probe_traffic": 320}}}
    forbidden = write_environment(tmp_path / "configured", "staging", configured, allow_probe_traffic=False)
    held = run_suite(forbidden, "--env", "staging", "-k", "test_rate")
    assert held.ret == 6, held.stdout  # no traffic of its own and none added: nothing to show
    assert held.verdict["warnings"] == [
        "orders: probe traffic was not sent: the environment forbids it (allow_probe_traffic: false)"
    ]
